#!/usr/bin/env python3
"""hone-stream-scores is exact and streams: the grpo example with its
exact-match verifier replaced by an external reward process (plus the
example's regex reward, summed with it), compiled with the pass (the
generate marked stream_rows, the score stream) and with --no-stream-scores,
run with --lanes on (streamed on the lanes) and --lanes off (streamed
inline: the host holds the generate until its score attached), logs the
same metrics and saves bit-identical weights; staleness 1 as well.
With such a process, `--lanes auto` runs on lanes (and streams) whatever
the core count: the job's configuration says "lanes_pay" (as for any
pipelined stage, staleness 1; not for the grpo example as written). The grpo example
as written (verifiers, scored in place as rows finish), and with a reward
model (a forward per row as each row finishes, as unstreamed): the same
metrics and weights streamed (lanes on and off) and not.
Both streamed runs' traces show rows handed to scoring while the batch
still decoded (a step whose first finished row was published before its
generate ended: rows of this example end at different lengths), and the
external process, which logs the order it was asked in, was asked in the
order rows finished, not in the batch's row order. Reference log-probs
(the example with a KL term) stream by fixed row groups: the same metrics
and weights streamed (lanes on and off) and not. Never asserts timings.
Usage: stream_scores.py HONEC EXAMPLES WORK"""
import json, os, re, shutil, subprocess, sys

honec, examples, work = sys.argv[1:4]
honec, examples, work = map(os.path.abspath, (honec, examples, work))
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)


def fail(msg):
    sys.exit("FAIL: " + msg)


REWARD = r'''#!/usr/bin/env python3
import json, os, sys
log = open(os.environ["STREAM_TEST_LOG"], "a")
for line in sys.stdin:
    r = json.loads(line)
    log.write(json.dumps([r["prompt"], r["completion"]]) + "\n")
    log.flush()
    ok = r.get("completion", "").strip() == str(r.get("answer", "")).strip()
    sys.stdout.write(json.dumps({"reward": 1.0 if ok else 0.0}) + "\n")
    sys.stdout.flush()
'''


def spec_text():
    grpo = os.path.join(examples, "grpo")
    s = open(os.path.join(grpo, "spec.textproto")).read()
    s = s.replace('path: "prompts.jsonl"',
                  f'path: "{os.path.join(grpo, "prompts.jsonl")}"')
    s = s.replace('path: "test.jsonl"',
                  f'path: "{os.path.join(grpo, "test.jsonl")}"')
    ext = (f'external {{ command: ["python3", "{os.path.join(work, "reward.py")}"]'
           ' timeout_s: 60 }')
    if "exact_match { }" not in s:
        fail("examples/grpo no longer has 'exact_match { }'")
    return s.replace("exact_match { }", ext)


def metrics(run):
    rows = []
    for line in open(os.path.join(run, "metrics.jsonl")):
        r = json.loads(line)
        # Speed, the measured resident set (thread stacks) and the time
        # populating the arena vary by run; the planned peak holds the
        # lane threads' row (runtime.lanes) only when steps run on lanes.
        for k in ("tokens_per_sec", "memory/measured_peak_bytes",
                  "memory/resident_peak_bytes",
                  "memory/runtime_startup_bytes",
                  "memory/arena_populate_seconds",
                  "memory/planned_peak_bytes"):
            r.pop(k, None)
        rows.append(r)
    return rows


try:
    with open(os.path.join(work, "reward.py"), "w") as f:
        f.write(REWARD)
    spec = os.path.join(work, "spec.textproto")
    with open(spec, "w") as f:
        f.write(spec_text())

    def compile_job(name, *flags):
        job = os.path.join(work, name)
        ir = subprocess.run([honec, spec, *flags, "--compile-to=step"],
                            check=True, capture_output=True, text=True).stdout
        marked = any(re.search(r"\bstream\b(?!_)", l) for l in ir.splitlines()
                     if "hone.score" in l)
        subprocess.run([honec, spec, *flags, "--compile-to=exe", "-o", job],
                       check=True)
        return job, ("stream_rows" in ir, marked)

    def run(job, name, lanes, extra_env=None):
        out = os.path.join(work, name)
        log = os.path.join(work, name + ".asked")
        env = dict(os.environ, STREAM_TEST_LOG=log, **(extra_env or {}))
        p = subprocess.run([job, "--device", "cpu", "--progress", "off",
                            "--out", out, "--lanes", lanes, "--trace"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=280, env=env, cwd=work)
        if p.returncode != 0:
            fail(f"{name}: exit {p.returncode}\n{p.stdout[-3000:]}")
        weights = open(os.path.join(out, "final", "model.safetensors"),
                       "rb").read()
        asked = ([json.loads(l) for l in open(log)]
                 if os.path.exists(log) else [])
        return out, metrics(out), weights, asked

    # --lanes auto: the lowering tells the job that lanes pay (a score
    # waits for an external process beside decoding) whatever the core
    # count; the grpo example's verifiers leave the default.
    # A pipelined stage (staleness 1) generates beside learning: lanes
    # pay too.
    grpo_spec = os.path.join(examples, "grpo", "spec.textproto")
    for path, over, want in ((spec, [], True), (grpo_spec, [], False),
                             (grpo_spec, ["stages[0].rl.staleness=1"],
                              True)):
        ll = subprocess.run([honec, path, *over, "--compile-to=llvm"],
                            check=True, capture_output=True, text=True).stdout
        if ('lanes_pay' in ll) != want:
            fail(f"{path} {over}: lanes_pay "
                 f"{'missing from' if want else 'in'} the job's configuration")
    auto_job, _ = compile_job("auto-job", "stages[0].rl.steps=2")
    auto_out = run(auto_job, "auto", "auto")[0]
    with open(os.path.join(auto_out, "trace.json")) as f:
        lanes = {e["args"]["lane"] for e in json.load(f)["traceEvents"]
                 if e["ph"] == "X"}
    if "rollout" not in lanes or "stream" not in lanes:
        fail(f"--lanes auto ran on lanes {sorted(lanes)}: expected the "
             "rollout lane and streamed scores")

    results = {}
    for stale in (0, 1):
        over = [f"stages[0].rl.staleness={stale}", "stages[0].rl.steps=12"]
        on, marks_on = compile_job(f"on-s{stale}", *over)
        off, marks_off = compile_job(f"off-s{stale}", *over,
                                     "--no-stream-scores")
        if marks_on != (True, True):
            fail(f"staleness {stale}: the step IR lacks stream_rows/stream")
        if marks_off != (False, False):
            fail(f"staleness {stale}: --no-stream-scores left marks")
        runs = {"streamed": run(on, f"streamed-s{stale}", "on"),
                "inline": run(on, f"inline-s{stale}", "off"),
                "unstreamed": run(off, f"unstreamed-s{stale}", "on")}
        base = runs["unstreamed"]
        if not base[1] or not any("reward" in r for r in base[1]):
            fail(f"staleness {stale}: no reward metrics")
        for name, r in runs.items():
            if r[1] != base[1]:
                for a, b in zip(r[1], base[1]):
                    if a != b:
                        fail(f"staleness {stale}: {name} logged {a}, "
                             f"unstreamed {b}")
                fail(f"staleness {stale}: {name}: {len(r[1])} metric rows, "
                     f"unstreamed {len(base[1])}")
            if r[2] != base[2]:
                fail(f"staleness {stale}: {name}: final weights differ")
            if sorted(map(tuple, r[3])) != sorted(map(tuple, base[3])):
                fail(f"staleness {stale}: {name}: the external process was "
                     "asked other completions")
        # Streamed, on lanes and inline (--lanes off: the host holds the
        # generate until its score attached): some step scored its first
        # finished row while the batch still decoded, and asked in
        # finishing order, not row order.
        for mode in ("streamed", "inline"):
            with open(os.path.join(runs[mode][0], "trace.json")) as f:
                ev = [e for e in json.load(f)["traceEvents"]
                      if e["ph"] == "X"]
            gens = sorted((e["ts"], e["ts"] + e["dur"]) for e in ev
                          if e["name"] == "generate")
            firsts = [e for e in ev if e["name"] == "score.first_row"]
            if not firsts:
                fail(f"staleness {stale}: {mode}: no score.first_row event "
                     "in the trace")
            # A row handed over before its generate ended (deterministic:
            # rows end early here); how many were also scored by then
            # depends on the machine's load, so it is printed, not asserted.
            early = scored_early = 0
            for e in firsts:
                for g0, g1 in gens:
                    if g0 <= e["ts"] < g1:
                        early += 1
                        scored_early += e["ts"] + e["dur"] < g1
            if early == 0:
                fail(f"staleness {stale}: {mode}: no row was handed to its "
                     "score before its generate ended")
            if runs[mode][3] == base[3]:
                fail(f"staleness {stale}: {mode}: asked in the unstreamed "
                     "order (nothing streamed)")
            print(f"staleness {stale}, {mode}: {early} of {len(firsts)} "
                  f"scores got a row during decoding, {scored_early} had "
                  "scored it before the batch ended")
        print(f"staleness {stale}: {len(base[1])} metric rows identical "
              f"(streamed, inline, unstreamed), weights identical")

    # Verifiers only (the grpo example as written): rows scored in place on
    # the generating thread; the same metrics and weights.
    grpo = os.path.join(examples, "grpo", "spec.textproto")
    jobs = {}
    for mode, flags in (("on", []), ("off", ["--no-stream-scores"])):
        job = os.path.join(work, f"verifiers-{mode}")
        subprocess.run([honec, grpo, "stages[0].rl.steps=12", *flags,
                        "--compile-to=exe", "-o", job], check=True)
        jobs[mode] = run(job, f"verifiers-{mode}-run", "on")
    jobs["inline"] = run(os.path.join(work, "verifiers-on"),
                         "verifiers-inline-run", "off")
    for mode in ("on", "inline"):
        if jobs[mode][1] != jobs["off"][1] or jobs[mode][2] != jobs["off"][2]:
            fail(f"verifiers: streamed ({mode}) and unstreamed metrics or "
                 "weights differ")
        with open(os.path.join(jobs[mode][0], "trace.json")) as f:
            names = {e["name"] for e in json.load(f)["traceEvents"]}
        if "score.first_row" not in names:
            fail(f"verifiers ({mode}): nothing streamed (no score.first_row "
                 "in the trace)")
    print(f"verifiers: {len(jobs['on'][1])} metric rows identical, weights "
          "identical")
    # A reward model (a scalar-head copy of the initial policy) summed with
    # the regex reward: scored by fixed groups of rows (one by default; 3
    # here, so that a group waits for rows of others), each group's forward
    # when its last row finished, streamed or not: the same metrics and
    # weights streamed (lanes on and inline) and unstreamed.
    g = open(grpo).read()
    g = g.replace('path: "prompts.jsonl"',
                  f'path: "{os.path.join(examples, "grpo", "prompts.jsonl")}"')
    g = g.replace('path: "test.jsonl"',
                  f'path: "{os.path.join(examples, "grpo", "test.jsonl")}"')
    if 'rewards: ["correct", "digits"]' not in g:
        fail("examples/grpo no longer scores with [\"correct\", \"digits\"]")
    g = g.replace('rewards: ["correct", "digits"]',
                  'rewards: ["rm_score", "digits"]')
    g = g.replace('datasets {', 'models { name: "rm" from: "policy" '
                  'head: scalar }\nrewards { name: "rm_score" model: "rm" }'
                  '\ndatasets {', 1)
    rm_spec = os.path.join(work, "rm.textproto")
    with open(rm_spec, "w") as f:
        f.write(g)
    # Rows of 25 tokens (16 of prompt, 9 generated): a forward over one
    # row and one over several then end their GEMMs' rows at different
    # places in the kernels' row blocks, so on a CPU whose GEMM tail rows
    # round differently (test/unit/GemmRows.h) other groups would show.
    rm_over = ["stages[0].rl.steps=6", "generation.max_new_tokens=9"]
    jobs = {}
    for mode, flags in (("on", []), ("off", ["--no-stream-scores"])):
        job = os.path.join(work, f"rm-{mode}")
        ir = subprocess.run([honec, rm_spec, *rm_over, *flags,
                             "--compile-to=step"], check=True,
                            capture_output=True, text=True).stdout
        if ("stream_rows" in ir) != (mode == "on"):
            fail(f"reward model ({mode}): stream_rows marks wrong")
        subprocess.run([honec, rm_spec, *rm_over, *flags,
                        "--compile-to=exe", "-o", job], check=True)
        jobs[mode] = job
    for rows in ("1", "3"):
        env = {"HONE_RM_SCORE_ROWS": rows}
        res = {m: run(jobs[m], f"rm-{m}-run-{rows}", "on", env)
               for m in ("on", "off")}
        res["inline"] = run(jobs["on"], f"rm-inline-run-{rows}", "off", env)
        if not any(r.get("reward") for r in res["off"][1]):
            fail("reward model: no nonzero reward logged")
        for mode in ("on", "inline"):
            if res[mode][1] != res["off"][1] or res[mode][2] != res["off"][2]:
                for a, b in zip(res[mode][1], res["off"][1]):
                    if a != b:
                        fail(f"reward model, {rows} rows a forward ({mode}): "
                             f"logged {a}, unstreamed {b}")
                fail(f"reward model, {rows} rows a forward: streamed "
                     f"({mode}) and unstreamed weights differ")
            with open(os.path.join(res[mode][0], "trace.json")) as f:
                names = {e["name"] for e in json.load(f)["traceEvents"]}
            if "score.first_row" not in names:
                fail(f"reward model ({mode}): nothing streamed (no "
                     "score.first_row in the trace)")
        print(f"reward model, {rows} rows a forward: {len(res['on'][1])} "
              "metric rows identical, weights identical (lanes on, inline, "
              "unstreamed)")
    # Reference log-probs (the grpo example with a KL term: the initial
    # model as frozen reference): hone-stream-scores gives the reference's
    # hone.logprob row groups (8 rows a forward, streamed or not) and, with
    # streaming, `stream`; the streamed read computes each group's forward
    # as its rows finish. The same metrics and weights streamed (lanes on,
    # inline) and unstreamed; on a CPU whose GEMMs round a row differently
    # by the call's row count (test/unit/GemmRows.h: Zen 2), an unstreamed
    # read over the whole batch would differ.
    ref_over = ["stages[0].rl.steps=6", "stages[0].rl.beta=0.04",
                "stages[0].rl.batch_size=32",
                "generation.max_new_tokens=9"]
    jobs = {}
    plain = subprocess.run([honec, grpo, *ref_over, "--compile-to=step"],
                           check=True, capture_output=True,
                           text=True).stdout
    if "row_group" in plain:
        fail("reference log-probs grouped without --stream-logprobs")
    for mode, flags in (("on", ["--stream-logprobs"]),
                        ("off", ["--stream-logprobs", "--no-stream-scores"])):
        job = os.path.join(work, f"ref-{mode}")
        ir = subprocess.run([honec, grpo, *ref_over, *flags,
                             "--compile-to=step"], check=True,
                            capture_output=True, text=True).stdout
        reads = [l for l in ir.splitlines() if "hone.logprob" in l]
        if not reads or not all("row_group = 8" in l for l in reads):
            fail(f"reference log-probs ({mode}): no row_group = 8 on the "
                 f"reference read: {reads}")
        if any(re.search(r"\bstream\b(?!_)", l) for l in reads) != \
                (mode == "on"):
            fail(f"reference log-probs ({mode}): stream mark wrong")
        subprocess.run([honec, grpo, *ref_over, *flags, "--compile-to=exe",
                        "-o", job], check=True)
        jobs[mode] = job
    # Streamed (honec --stream-logprobs) the read computes each group as its
    # rows finish; unstreamed (--no-stream-scores as well) the same groups
    # after decoding.
    res = {"on": run(jobs["on"], "ref-on-run", "on"),
           "off": run(jobs["off"], "ref-off-run", "on")}
    res["inline"] = run(jobs["on"], "ref-inline-run", "off")
    with open(os.path.join(res["on"][0], "trace.json")) as f:
        if not any(e.get("name") == "logprob.first_group"
                   for e in json.load(f)["traceEvents"]):
            fail("reference log-probs: the --stream-logprobs job did not "
                 "stream its reference read")
    if not any(r.get("kl") for r in res["off"][1]):
        fail("reference log-probs: no nonzero kl logged")
    for mode in ("on", "inline"):
        if res[mode][1] != res["off"][1] or res[mode][2] != res["off"][2]:
            for a, b in zip(res[mode][1], res["off"][1]):
                if a != b:
                    fail(f"reference log-probs ({mode}): logged {a}, "
                         f"unstreamed {b}")
            fail(f"reference log-probs: streamed ({mode}) and unstreamed "
                 "weights differ")
        with open(os.path.join(res[mode][0], "trace.json")) as f:
            ev = [e for e in json.load(f)["traceEvents"] if e["ph"] == "X"]
        firsts = [e for e in ev if e["name"] == "logprob.first_group"]
        if len(firsts) != 6:
            fail(f"reference log-probs ({mode}): {len(firsts)} streamed "
                 "reads in the trace, expected one a step (6)")
        gens = [(e["ts"], e["ts"] + e["dur"]) for e in ev
                if e["name"] == "generate"]
        early = sum(1 for e in firsts for g0, g1 in gens
                    if g0 <= e["ts"] < g1 and e["ts"] + e["dur"] < g1)
        print(f"reference log-probs ({mode}): {early} of {len(firsts)} "
              "steps read a group before their batch finished decoding")
    print(f"reference log-probs: {len(res['on'][1])} metric rows identical, "
          "weights identical (lanes on, inline, unstreamed)")
finally:
    if not os.environ.get("HONE_KEEP_TEST_FILES"):
        shutil.rmtree(work, ignore_errors=True)
print("PASS")
