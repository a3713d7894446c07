#!/usr/bin/env python3
"""Rollout/learn overlap (hone-pipeline-rollouts): GRPO with staleness 0, 1
and 2 compiled from one spec, run interleaved with --lanes on --trace.

  bench/overlap/run.py [--honec build/bin/honec] [--runs 3]
                       [--stalenesses 0,1,2]
                       [--scenario compute|latency|both|readme|stream|all]
                       [--threads N] [--no-stream] [--boost] [override ...]

On a shared machine (other sessions' builds on the same 2 cores) a job
gets a varying share of the cores and its wall time says more about the
load than about the job. --boost (root) runs each job in a session of its
own (a scheduler autogroup of its own, as every login shell has) at
autogroup nice -20 and nice -20, so that the job and the reward process it
starts get the cores as on an unshared machine while the other sessions
wait; without it the runs measure the machine's load. Each job's threads'
time runnable but waiting for a core (Linux schedstat, polled) is printed
as a share of their time on and waiting for a core ("threads waiting for a
core"): it includes the job's own threads waiting for each other's cores.
Rounds run the stalenesses back to back, in alternating order; ratios are
also given per round (staleness 0's stage over staleness k's in the same
round), median, range and interquartile range.

compute  the grpo example sized up so that generation dominates (d_model
         128, 4 layers, 16 completions of 24 new tokens, 12 steps): both
         phases compute on the same cores.
latency  the same with an external reward process (bench/overlap/slow_reward.py)
         that answers each completion after a delay, chosen so that scoring a
         batch takes about as long as a learning step at staleness 0 (a
         verifier service or a code sandbox): the rollout lane waits, the
         cores are free for learning. The learning step is this spec's own,
         measured first (3 runs) with the process answering at once.

stream   the compute and latency scenarios, and the compute one scored by a
         reward model (a scalar-head copy of the initial policy) plus the
         regex reward, with streaming scores (hone-stream-scores) on and off
         at each staleness, lanes on, and streamed with lanes off,
         interleaved: the speed-up, and the first finished row's wait for
         its score as a share of the batch's generation time (target under
         10 %).
--no-stream compiles every other scenario with --no-stream-scores.

readme   the README example (examples/arith: SFT then GRPO, 600 steps of 256
         completions) as written, staleness 0 and 1 of its GRPO stage, one
         run each: the reward curve (means over tenths of the stage) side by
         side, and whether the last quarter's mean reward of staleness 1 is
         within noise of staleness 0's (twice the standard error of the
         difference, from the steps' rewards), with the held-out accuracy.

For each scenario and staleness it prints the median time of the RL stage
(first to last op of its loop in RUN/trace.json: the evaluations and the
model's save after the loop left out), the ratio of
iterations per second against staleness 0, and, from the traces, each
lane's busy share of the stage and the time both rollout and learn lanes were
busy at once. From staleness 0's trace it prints the phases' mean times per
step (rollout = data, generate, score; learn = everything else) and two
bounds: 'ideal on these cores' = (rollout + learn) / max(rollout', learn'),
with rollout' and learn' the phases' times measured in the staleness-1 runs
(each lane's op times while the other lane competes for the cores), and
'separate devices' = (rollout + learn) / max(rollout, learn), the
steady-state speed-up if each phase had a device of its own; and the same
projected step by step from each staleness-0 trace at staleness 0, 1 and 2
(bench/overlap/project.py: each step's own op times, the weights sent to
the rollout device and the rollouts to the learner over a link of 25 GB/s,
PCIe 4.0 x16, and of 1.25 GB/s, 10 Gbit Ethernet). It checks that the staleness-1 runs
log the same metrics every time (determinism with lanes on).
"""
import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import project  # bench/overlap/project.py

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIZE = [
    "models[0].init.d_model=128", "models[0].init.layers=4",
    "models[0].init.max_seq_len=48", "stages[0].rl.steps=12",
    "stages[0].rl.batch_size=16", "generation.max_new_tokens=24",
]
ROLLOUT_OPS = {"data.next", "generate", "score", "group_filter"}


def trace_stats(run):
    with open(os.path.join(run, "trace.json")) as f:
        # The stage's loop: the evaluations after it (eval_step, which may
        # ask the external reward process too) and the model's save at its
        # end are left out; they take the same time at every staleness and
        # are not iterations.
        allev = [e for e in json.load(f)["traceEvents"]
                 if e.get("ph") == "X" and e["name"] != "eval_step"]
    loop_end = max(e["ts"] + e["dur"] for e in allev if e["name"] != "save")
    allev = [e for e in allev if e["name"] != "save" or e["ts"] < loop_end]
    # The "stream" lane: spans of rows scored while their batch decoded
    # (hone-stream-scores), not ops of a lane.
    ev = [e for e in allev if e["args"]["lane"] != "stream"]
    gens = [(e["ts"], e["ts"] + e["dur"]) for e in ev if e["name"] == "generate"]
    first_row = []  # first finished row's wait for its score / generate time
    for e in allev:
        if e["name"] != "score.first_row":
            continue
        for g0, g1 in gens:
            if g0 <= e["ts"] <= g1 and g1 > g0:
                first_row.append(e["dur"] / (g1 - g0))
                break
    t0 = min(e["ts"] for e in ev)
    t1 = max(e["ts"] + e["dur"] for e in ev)
    busy = {}
    spans = {}
    for e in ev:
        lane = e["args"]["lane"]
        busy[lane] = busy.get(lane, 0) + e["dur"]
        spans.setdefault(lane, []).append((e["ts"], e["ts"] + e["dur"]))
    both = 0.0
    for a0, a1 in spans.get("rollout", []):
        for b0, b1 in spans.get("learn", []):
            both += max(0.0, min(a1, b1) - max(a0, b0))
    phase = {"rollout": 0.0, "learn": 0.0}
    for e in ev:
        phase["rollout" if e["name"] in ROLLOUT_OPS else "learn"] += e["dur"]
    # Per step of a pipelined run (steps end at the host's
    # exec.rollouts_in_flight): the longer of the rollout and the learning
    # ops' times. Their sum, plus what ran before the first step end and
    # after the last, is the stage time if the lanes cost nothing beyond
    # their ops (lane overhead = stage time / this - 1).
    ends = sorted(e["ts"] for e in ev if e["name"] == "exec.rollouts_in_flight")
    sum_max = None
    if ends:
        cuts = [t0] + ends + [t1 + 1]
        sum_max = 0.0
        for a0, a1 in zip(cuts, cuts[1:]):
            r = sum(e["dur"] for e in ev if a0 <= e["ts"] < a1 and
                    e["name"] in ROLLOUT_OPS)
            l = sum(e["dur"] for e in ev if a0 <= e["ts"] < a1 and
                    e["name"] not in ROLLOUT_OPS)
            sum_max += max(r, l)
        sum_max /= 1e6
    return {"stage_s": (t1 - t0) / 1e6, "busy": busy, "both_s": both / 1e6,
            "phase_s": {k: v / 1e6 for k, v in phase.items()},
            "sum_max_s": sum_max,
            "first_row": statistics.median(first_row) if first_row else None}


def metrics_text(run):
    rows = []
    with open(os.path.join(run, "metrics.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            r.pop("tokens_per_sec", None)
            # The measured resident set varies by run (thread stacks).
            r.pop("memory/measured_peak_bytes", None)
            r.pop("memory/resident_peak_bytes", None)
            r.pop("memory/runtime_startup_bytes", None)
            # Measured times (the arena's page population) vary too.
            for key in [k for k in r if k.endswith("_seconds")]:
                r.pop(key)
            rows.append(json.dumps(r, sort_keys=True))
    return "\n".join(rows)


def rewards(run):
    out = []
    with open(os.path.join(run, "metrics.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            if "stage" in r and r.get("reward") is not None:
                out.append(r["reward"])
    return out


def compile_job(honec, spec, overrides, out, flags=()):
    subprocess.run([honec, spec, *overrides, *flags, "--compile-to=exe", "-o",
                    out], check=True, stdout=subprocess.DEVNULL)


BOOST = False  # --boost: each job in its own session at nice -20


def _boost():
    """preexec_fn of a job under --boost: a session of its own (so a
    scheduler autogroup of its own, as every agent's shell has) with
    autogroup nice -20 and process nice -20, so that the job (and the
    reward process it starts) gets the cores as on an unshared machine while
    other sessions' builds wait. Needs root (CAP_SYS_NICE)."""
    os.setsid()
    try:
        with open("/proc/self/autogroup", "w") as f:
            f.write("-20")
    except OSError:
        pass
    os.nice(-20)


def _schedstat(pid, seen):
    """Adds /proc/PID/task/*/schedstat (ns on a CPU, ns runnable waiting
    for one) to seen[tid] (the counters only grow: the latest wins)."""
    base = f"/proc/{pid}/task"
    try:
        tids = os.listdir(base)
    except OSError:
        return
    for t in tids:
        try:
            with open(f"{base}/{t}/schedstat") as f:
                run, wait, _ = f.read().split()
            seen[t] = (int(run), int(wait))
        except (OSError, ValueError):
            pass


def run_job(job, out, threads, lanes="on"):
    shutil.rmtree(out, ignore_errors=True)
    cmd = [job, "--device", "cpu", "--out", out, "--lanes", lanes, "--trace",
           "--progress", "off"]
    if threads:
        cmd += ["--threads", str(threads)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.Popen(cmd, cwd=os.path.dirname(job),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         preexec_fn=_boost if BOOST else None)
    # The job's threads' time on a CPU and time runnable but waiting for
    # one (Linux schedstat, polled while the job runs): waiting / (on CPU +
    # waiting) says how far the machine's load stretched this run.
    seen = {}
    while p.poll() is None:
        _schedstat(p.pid, seen)
        time.sleep(0.02)
    if p.returncode != 0:
        raise subprocess.CalledProcessError(p.returncode, cmd)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    st = trace_stats(out)
    # CPU seconds of the whole job (and the reward process it reaped):
    # unlike wall time, hardly affected by other processes' load, so the
    # lanes' own cost shows as CPU over the inline run's.
    st["cpu_s"] = (after.ru_utime - before.ru_utime +
                   after.ru_stime - before.ru_stime)
    on_cpu = sum(v[0] for v in seen.values())
    waiting = sum(v[1] for v in seen.values())
    st["core_wait"] = waiting / (on_cpu + waiting) if on_cpu + waiting else 0.0
    return st


def spread(xs):
    """'median (min-max, IQR lo-hi)' of a list."""
    xs = sorted(xs)
    if len(xs) < 4:
        return f"{statistics.median(xs):.3f} ({xs[0]:.3f}-{xs[-1]:.3f})"
    q = statistics.quantiles(xs, n=4)
    return (f"{statistics.median(xs):.3f} (range {xs[0]:.3f}-{xs[-1]:.3f}, "
            f"IQR {q[0]:.3f}-{q[2]:.3f})")


def scenario(a, work, name, spec, stalenesses, steps, runs=None):
    runs = runs or a.runs
    jobs = {}
    for k in stalenesses:
        jobs[k] = os.path.join(work, f"{name}-s{k}", "job")
        os.makedirs(os.path.dirname(jobs[k]), exist_ok=True)
        compile_job(a.honec, spec,
                    SIZE + [f"stages[0].rl.staleness={k}"] +
                    a.overrides, jobs[k],
                    ["--no-stream-scores"] if a.no_stream else [])
    results = {k: [] for k in stalenesses}
    texts = {k: set() for k in stalenesses}
    for r in range(runs):
        # Rounds alternate the order, so that neither staleness always
        # runs first after a change of the machine's load.
        for k in (stalenesses if r % 2 == 0 else stalenesses[::-1]):
            out = os.path.join(work, f"{name}-s{k}", f"run{r}")
            results[k].append(run_job(jobs[k], out, a.threads))
            texts[k].add(metrics_text(out))
    k0 = stalenesses[0]
    base = statistics.median(s["stage_s"] for s in results[k0])
    print(f"\n== {name}: {steps} steps, {runs} rounds, interleaved "
          f"{'(boosted: nice -20, own autogroup)' if BOOST else ''}==")
    print("staleness | RL stage (median s) | it/s ratio vs 0 (medians) | "
          "rollout busy | learn busy | both busy | runs identical | job CPU | "
          "threads waiting for a core")
    for k in stalenesses:
        st = results[k]
        med = statistics.median(s["stage_s"] for s in st)
        rb = statistics.median(s["busy"].get("rollout", 0) / 1e6 / s["stage_s"]
                               for s in st)
        lb = statistics.median(s["busy"].get("learn", 0) / 1e6 / s["stage_s"]
                               for s in st)
        both = statistics.median(s["both_s"] / s["stage_s"] for s in st)
        each = ", ".join("%.2f" % s["stage_s"] for s in st)
        cpu = statistics.median(s["cpu_s"] for s in st)
        wait = statistics.median(s["core_wait"] for s in st)
        print(f"{k} | {med:.2f} ({each}) "
              f"| {base / med:.3f} | {rb:.0%} | {lb:.0%} | {both:.0%} | "
              f"{'yes' if len(texts[k]) == 1 else 'NO'} | {cpu:.2f} s | "
              f"{wait:.0%}")
    # Paired by round: staleness 0's stage over staleness k's, run next to
    # each other (the load changes less within a round than across).
    for k in stalenesses[1:]:
        ratios = [x["stage_s"] / y["stage_s"]
                  for x, y in zip(results[k0], results[k])]
        print(f"staleness {k} / {k0}, per round: {spread(ratios)} "
              f"[{', '.join('%.2f' % r for r in ratios)}]")
        # A round where either run's threads waited for a core much longer
        # than usual measured a burst of the machine's load (other
        # sessions), not the job: such rounds are named, and the rounds
        # without are summed up apart (all rounds are in the line above).
        waits = [s["core_wait"] for s in results[k0] + results[k]]
        lim = statistics.median(waits) + 0.10
        calm = [r for r, x, y in zip(ratios, results[k0], results[k])
                if x["core_wait"] <= lim and y["core_wait"] <= lim]
        print(f"  threads waiting for a core, per round (staleness {k0} / "
              f"{k}): " + ", ".join(
                  f"{x['core_wait']:.0%}/{y['core_wait']:.0%}"
                  for x, y in zip(results[k0], results[k])))
        if calm and len(calm) < len(ratios):
            print(f"  rounds where no run waited more than the median + 10 "
                  f"points ({lim:.0%}): {len(calm)} of {len(ratios)}, "
                  f"{spread(calm)}")
    p0 = {ph: statistics.median(s["phase_s"][ph] for s in results[k0]) / steps
          for ph in ("rollout", "learn")}
    print(f"phases at staleness 0, per step: rollout {p0['rollout']:.3f} s, "
          f"learn {p0['learn']:.3f} s")
    if 1 in results:
        p1 = {ph: statistics.median(s["phase_s"][ph] for s in results[1]) / steps
              for ph in ("rollout", "learn")}
        print(f"phases at staleness 1, per step (lanes competing): rollout "
              f"{p1['rollout']:.3f} s, learn {p1['learn']:.3f} s")

        # Staleness 1 over N steps: the prologue's rollout, N - 1 steady
        # steps of the longer phase, the epilogue's learning step; each
        # phase at the speed measured while the lanes compete.
        def piped(ph):
            return (ph['rollout'] + (steps - 1) * max(ph['rollout'],
                                                       ph['learn']) +
                    ph['learn'])
        serial = (p0['rollout'] + p0['learn']) * steps
        ideal = serial / piped(p1)
        med1 = statistics.median(s["stage_s"] for s in results[1])
        got = base / med1
        sm = statistics.median(s["stage_s"] / s["sum_max_s"]
                               for s in results[1] if s["sum_max_s"])
        print(f"staleness 1: stage time / sum over steps of the longer "
              f"phase = {sm:.3f} (the lanes' own cost: host drains at step "
              f"ends, thread wake-ups)")
        print(f"ideal on these cores (phases as measured at staleness 1, "
              f"prologue and epilogue included): {ideal:.3f}x; measured "
              f"{got:.3f}x = {got / ideal:.0%} of ideal (target >= 85 %)")
        # The same per round, each run against its own phases: staleness
        # 0's serial time (its phases' sum) over staleness 1's pipelined
        # time from its own phases, against the measured ratio.
        per = []
        for x, y in zip(results[k0], results[1]):
            ph1 = {q: y["phase_s"][q] / steps for q in ("rollout", "learn")}
            ideal_r = sum(x["phase_s"].values()) / piped(ph1)
            per.append((x["stage_s"] / y["stage_s"]) / ideal_r)
        print(f"measured / ideal per round (each round's own phases): "
              f"{spread(per)}")
    # Separate devices: each phase on a device of its own, from staleness
    # 0's traces (bench/overlap/project.py: every step replayed with its own
    # op times, weights and rollouts over a link), and the steady-state
    # bound from the mean phases.
    for link in (25.0, 1.25):
        proj = {}
        for r in range(runs):
            res, _, _, _ = project.project(
                os.path.join(work, f"{name}-s{k0}", f"run{r}", "trace.json"),
                [0, 1, 2], link)
            for k, v in res.items():
                proj.setdefault(k, []).append(v[0])
        print(f"separate devices, projected from staleness {k0}'s traces "
              f"(link {link:g} GB/s; median of {runs}, range): " + "; ".join(
                  f"staleness {k} {statistics.median(v):.3f}x "
                  f"({min(v):.3f}-{max(v):.3f})" for k, v in proj.items()))
    print(f"separate devices, steady-state bound from the mean phases "
          f"(rollout + learn) / max: "
          f"{(p0['rollout'] + p0['learn']) / max(p0.values()):.3f}x")
    for k in stalenesses:
        rw = rewards(os.path.join(work, f"{name}-s{k}", "run0"))
        q = max(1, len(rw) // 4)
        print(f"reward, staleness {k}: first quarter {statistics.mean(rw[:q]):.3f}, "
              f"last quarter {statistics.mean(rw[-q:]):.3f}")
    ok = all(len(texts[k]) == 1 for k in stalenesses)
    return ok, p0


def stream(a, work, spec, stalenesses, steps, name):
    """Streaming scores (hone-stream-scores) on and off, interleaved, at
    each staleness: RL stage time, the ratio off / on, the first finished
    row's wait for its score as a share of its batch's generation, and
    whether on and off logged the same metrics."""
    jobs = {}
    for k in stalenesses:
        for mode in ("on", "off"):
            job = os.path.join(work, f"stream-{name}-{mode}-s{k}", "job")
            os.makedirs(os.path.dirname(job), exist_ok=True)
            compile_job(a.honec, spec, SIZE + [f"stages[0].rl.staleness={k}"]
                        + a.overrides, job,
                        [] if mode == "on" else ["--no-stream-scores"])
            jobs[k, mode] = job
    # Lanes off as well, streamed (inline: the host holds the generate
    # until its score attached) and not.
    for k in stalenesses:
        jobs[k, "inline"] = jobs[k, "on"]
        jobs[k, "inline-off"] = jobs[k, "off"]
    res = {key: [] for key in jobs}
    texts = {k: set() for k in stalenesses}
    for r in range(a.runs):
        for key, job in jobs.items():
            out = os.path.join(os.path.dirname(job), f"run{r}-{key[1]}")
            res[key].append(run_job(job, out, a.threads,
                                    "off" if key[1].startswith("inline")
                                    else "on"))
            texts[key[0]].add(metrics_text(out))
    print(f"\n== streaming scores, {name}: {steps} steps, {a.runs} runs "
          "each, interleaved ==")
    print("staleness | streamed (median s) | unstreamed (median s) | "
          "it/s on / off | first row's wait / generation | "
          "on = off = inline metrics")
    ok = True
    for k in stalenesses:
        on = [x["stage_s"] for x in res[k, "on"]]
        off = [x["stage_s"] for x in res[k, "off"]]
        fr = [x["first_row"] for x in res[k, "on"] if x["first_row"] is not None]
        same = len(texts[k]) == 1
        ok &= same
        print(f"{k} | {statistics.median(on):.2f} "
              f"({', '.join('%.2f' % x for x in on)}) | "
              f"{statistics.median(off):.2f} "
              f"({', '.join('%.2f' % x for x in off)}) | "
              f"{statistics.median(off) / statistics.median(on):.3f} | "
              f"{statistics.median(fr):.1%} | {'yes' if same else 'NO'}"
              if fr else f"{k}: no score.first_row events (nothing streamed)")
    for k in stalenesses:
        cpu = {m: statistics.median(x["cpu_s"] for x in res[k, m])
               for m in ("on", "off", "inline")}
        print(f"staleness {k}, job CPU seconds (median): streamed "
              f"{cpu['on']:.2f}, unstreamed {cpu['off']:.2f}, lanes off "
              f"{cpu['inline']:.2f}; lanes on / off = "
              f"{cpu['off'] / cpu['inline']:.3f} (unstreamed)")
    for k in stalenesses:
        inl = [x["stage_s"] for x in res[k, "inline"]]
        inl_off = [x["stage_s"] for x in res[k, "inline-off"]]
        on = statistics.median(x["stage_s"] for x in res[k, "on"])
        fr = [x["first_row"] for x in res[k, "inline"]
              if x["first_row"] is not None]
        print(f"staleness {k}, lanes off: streamed inline "
              f"{statistics.median(inl):.2f} s "
              f"({', '.join('%.2f' % x for x in inl)}), first row's wait / "
              f"generation {statistics.median(fr) if fr else float('nan'):.1%}; "
              f"unstreamed {statistics.median(inl_off):.2f} s "
              f"({', '.join('%.2f' % x for x in inl_off)}); streamed / "
              f"unstreamed it/s {statistics.median(inl_off) / statistics.median(inl):.3f}x "
              f"(per round {spread([b['stage_s'] / a_['stage_s'] for a_, b in zip(res[k, 'inline'], res[k, 'inline-off'])])}); "
              f"lanes on and streamed / lanes off streamed = "
              f"{statistics.median(inl) / on:.3f}x")
    if len(stalenesses) > 1 and 0 in stalenesses:
        for k in stalenesses[1:]:
            for mode in ("on", "off"):
                r0 = statistics.median(x["stage_s"] for x in res[0, mode])
                rk = statistics.median(x["stage_s"] for x in res[k, mode])
                print(f"streaming {mode}: staleness {k} / 0 = {r0 / rk:.3f}x")
    return ok


def rm_spec(work, grpo):
    """The grpo example scored by a reward model (a scalar-head copy of the
    initial policy, sized with it) plus its regex reward."""
    d = os.path.dirname(grpo)
    g = open(grpo).read()
    g = g.replace('path: "prompts.jsonl"',
                  f'path: "{os.path.join(d, "prompts.jsonl")}"')
    g = g.replace('path: "test.jsonl"', f'path: "{os.path.join(d, "test.jsonl")}"')
    g = g.replace('rewards: ["correct", "digits"]',
                  'rewards: ["rm_score", "digits"]')
    g = g.replace('datasets {', 'models { name: "rm" from: "policy" '
                  'head: scalar }\nrewards { name: "rm_score" model: "rm" }'
                  '\ndatasets {', 1)
    path = os.path.join(work, "rm.textproto")
    with open(path, "w") as f:
        f.write(g)
    return path


def readme(a, work):
    """The README example at staleness 0 and 1: reward curves, noise."""
    spec = os.path.join(ROOT, "examples", "arith", "spec.textproto")
    curves, acc = {}, {}
    for k in (0, 1):
        job = os.path.join(work, f"readme-s{k}", "job")
        os.makedirs(os.path.dirname(job), exist_ok=True)
        compile_job(a.honec, spec, [f"stages[1].rl.staleness={k}"], job)
        out = os.path.join(work, f"readme-s{k}", "run")
        t0 = time.time()
        cmd = [job, "--device", "cpu", "--out", out, "--lanes", "on",
               "--progress", "off"]
        subprocess.run(cmd, check=True, cwd=os.path.dirname(job),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.time() - t0
        rw = []
        with open(os.path.join(out, "metrics.jsonl")) as f:
            for line in f:
                r = json.loads(line)
                if r.get("stage_name") == "grpo" and r.get("reward") is not None:
                    rw.append(r["reward"])
                for key, v in r.items():
                    if key.endswith("heldout/accuracy") and "grpo" in key:
                        acc[k] = v
        curves[k] = rw
        print(f"readme, staleness {k}: {len(rw)} GRPO steps, whole run "
              f"{wall:.1f} s, held-out accuracy after GRPO "
              f"{acc.get(k, float('nan')):.3f}")
    n = min(len(curves[0]), len(curves[1]))
    print("\n== README example (examples/arith), GRPO reward by tenth of "
          "the stage ==")
    print("tenth | staleness 0 | staleness 1 | difference")
    for t in range(10):
        lo, hi = t * n // 10, (t + 1) * n // 10
        m0 = statistics.mean(curves[0][lo:hi])
        m1 = statistics.mean(curves[1][lo:hi])
        print(f"{t + 1} | {m0:.3f} | {m1:.3f} | {m1 - m0:+.3f}")
    q = n - n // 4
    last = {k: curves[k][q:n] for k in (0, 1)}
    d = statistics.mean(last[1]) - statistics.mean(last[0])
    # Standard error of the difference of two means of per-step rewards.
    se = (statistics.variance(last[0]) / len(last[0]) +
          statistics.variance(last[1]) / len(last[1])) ** 0.5
    within = abs(d) <= 2 * se
    print(f"last quarter: staleness 0 {statistics.mean(last[0]):.3f}, "
          f"staleness 1 {statistics.mean(last[1]):.3f}, difference "
          f"{d:+.3f}, 2 x standard error {2 * se:.3f}: "
          f"{'within noise' if within else 'NOT within noise'}")
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--honec", default=os.path.join(ROOT, "build/bin/honec"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--stalenesses", default="0,1,2")
    ap.add_argument("--scenario", default="both",
                    choices=["compute", "latency", "both", "readme", "stream",
                             "all"])
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--boost", action="store_true",
                    help="run each job in a session of its own at nice -20 "
                    "(root): the job gets the cores of a shared machine")
    ap.add_argument("--no-stream", action="store_true",
                    help="compile with --no-stream-scores")
    ap.add_argument("overrides", nargs="*")
    a = ap.parse_args()
    ks = [int(x) for x in a.stalenesses.split(",")]
    global BOOST
    BOOST = a.boost
    steps = 12
    for o in a.overrides:
        if o.startswith("stages[0].rl.steps="):
            steps = int(o.split("=", 1)[1])
    work = tempfile.mkdtemp(prefix="hone-bench-overlap-")
    print(f"{os.cpu_count()} hardware threads; lanes on; "
          f"{' '.join(SIZE + a.overrides)}")
    ok = True
    try:
        p0 = None
        grpo = os.path.join(ROOT, "examples", "grpo", "spec.textproto")
        if a.scenario == "readme":
            return 0 if readme(a, work) else 1
        if a.scenario in ("compute", "both", "all"):
            good, p0 = scenario(a, work, "compute", grpo, ks, steps)
            ok &= good
        if a.scenario in ("latency", "both", "stream", "all"):
            lat = os.path.join(ROOT, "bench", "overlap", "latency.textproto")
            # The learning step of the latency spec itself, its reward
            # process answering at once (an exact-match reward on this
            # untrained model is mostly 0, which changes the learning
            # step's time: 26 against the compute scenario's 35 ms).
            os.environ["HONE_BENCH_REWARD_DELAY"] = "0"
            _, p0 = scenario(a, work, "calibrate", lat, [0], steps,
                             runs=min(a.runs, 3))
            # One request per completion (16 a step): spread a learning
            # step's time over them.
            delay = p0["learn"] / 16
            os.environ["HONE_BENCH_REWARD_DELAY"] = f"{delay:.6f}"
            print(f"\nexternal reward: {delay * 1000:.1f} ms per completion "
                  f"({p0['learn']:.3f} s per batch of 16)")
            if a.scenario == "stream":
                ok &= stream(a, work, grpo, ks, steps,
                             "verifiers (scored in place)")
                ok &= stream(a, work, lat, ks, steps,
                             f"external reward, {delay * 1000:.1f} ms per "
                             "completion (worker thread)")
                ok &= stream(a, work, rm_spec(work, grpo), ks, steps,
                             "reward model + regex (a forward per row, "
                             "worker thread)")
            else:
                good, _ = scenario(a, work, "latency", lat, ks, steps)
                ok &= good
        if a.scenario == "all":
            ok &= readme(a, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
