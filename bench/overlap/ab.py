#!/usr/bin/env python3
"""A/B measurements beside bench/overlap/run.py, with its sizes and its
--boost (each job in a session of its own at nice -20: root), interleaved
in rounds of alternating order, ratios per round (median, range, IQR).

  bench/overlap/ab.py lanes [--rounds 7] [--steps 36] [--delay 0.0021]
  bench/overlap/ab.py cores [--rounds 9] [--steps 36] [--delay 0.0021]
  bench/overlap/ab.py rm-rows [--rounds 5] [--rows 1,2,4,8]
  bench/overlap/ab.py logprobs [--rounds 5] [--steps 12] [--staleness 0]
                               [--scenario compute|latency]
                               [--honec-b OTHER/bin/honec]

lanes    staleness 0 and 1, each with --lanes on and off, for the compute
         scenario (the grpo example sized up) and the latency one (an
         external reward process waiting DELAY s per completion): staleness
         1 on lanes against staleness 0 either way (the 1.4x target), and
         lanes on against off at staleness 1 (what --lanes auto decides).
cores    staleness 1 on lanes with the cores split between computing lanes
         (the default) against HONE_LANE_CORES=shared (every lane task all
         threads), both scenarios.
rm-rows  the grpo example scored by a reward model plus its regex reward,
         streamed and not, at several HONE_RM_SCORE_ROWS (rows a forward):
         stage time and the first finished row's wait for its score over
         its generation.
logprobs the grpo example with a KL term (stages[0].rl.beta=0.04, a
         frozen reference's log-probs of each batch) compiled with and
         without honec --stream-logprobs (reference reads streamed in groups
         of 8 rows as the rows finish, or read after generation in the same
         groups), and the unstreamed read of one whole-batch forward
         (honec's default), for the compute scenario or the latency one
         (--scenario latency: the external reward waiting DELAY s a
         completion); with --honec-b, each of them built by a second
         honec too (another build: A/B of the runtimes). Stage time, the
         reference read's op time per step and the generate's, per round.
"""
import argparse
import importlib.util
import os
import shutil
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
_spec = importlib.util.spec_from_file_location("overlap_run",
                                               os.path.join(HERE, "run.py"))
ov = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ov)

SCENARIOS = (("compute", os.path.join(ROOT, "examples/grpo/spec.textproto")),
             ("latency", os.path.join(HERE, "latency.textproto")))


def series(xs):
    return f"{statistics.median(xs):.3f} s ({', '.join('%.2f' % x for x in xs)})"


def lanes(a, work):
    for scen, sp in SCENARIOS:
        jobs, res = {}, {}
        for k in (0, 1):
            jobs[k] = os.path.join(work, scen, f"s{k}", "job")
            os.makedirs(os.path.dirname(jobs[k]), exist_ok=True)
            ov.compile_job(a.honec, sp, ov.SIZE + [
                f"stages[0].rl.steps={a.steps}",
                f"stages[0].rl.staleness={k}"], jobs[k])
        keys = [(k, l) for k in (0, 1) for l in ("on", "off")]
        for r in range(a.rounds):
            for key in (keys if r % 2 == 0 else keys[::-1]):
                out = os.path.join(work, scen, f"run-{key[0]}-{key[1]}")
                st = ov.run_job(jobs[key[0]], out, 0, key[1])
                res.setdefault(key, []).append(st["stage_s"])
        for key in keys:
            print(f"{scen} staleness {key[0]} lanes {key[1]}: "
                  f"{series(res[key])}")
        for base in ((0, "on"), (0, "off")):
            print(f"{scen}: staleness 1 lanes on over staleness 0 lanes "
                  f"{base[1]}, per round "
                  f"{ov.spread([x / y for x, y in zip(res[base], res[1, 'on'])])}")
        print(f"{scen}: staleness 0, lanes off over on (the lanes' own "
              f"cost where nothing overlaps), per round "
              f"{ov.spread([x / y for x, y in zip(res[0, 'off'], res[0, 'on'])])}")
        print(f"{scen}: staleness 1, lanes on over off, per round "
              f"{ov.spread([x / y for x, y in zip(res[1, 'off'], res[1, 'on'])])}")


def cores(a, work):
    for scen, sp in SCENARIOS:
        job = os.path.join(work, scen, "job")
        os.makedirs(os.path.dirname(job), exist_ok=True)
        ov.compile_job(a.honec, sp, ov.SIZE + [
            f"stages[0].rl.steps={a.steps}", "stages[0].rl.staleness=1"], job)
        res = {}
        for r in range(a.rounds):
            for mode in (("split", "shared") if r % 2 == 0
                         else ("shared", "split")):
                os.environ["HONE_LANE_CORES"] = mode
                st = ov.run_job(job, os.path.join(work, scen, f"run-{mode}"), 0)
                res.setdefault(mode, []).append(st["stage_s"])
        os.environ.pop("HONE_LANE_CORES", None)
        print(f"{scen}, staleness 1: split {series(res['split'])}; shared "
              f"{series(res['shared'])}; shared over split per round "
              f"{ov.spread([y / x for x, y in zip(res['split'], res['shared'])])}")


def rm_rows(a, work):
    sp = ov.rm_spec(work, SCENARIOS[0][1])
    jobs = {}
    for mode, flags in (("on", []), ("off", ["--no-stream-scores"])):
        jobs[mode] = os.path.join(work, mode, "job")
        os.makedirs(os.path.dirname(jobs[mode]), exist_ok=True)
        ov.compile_job(a.honec, sp, ov.SIZE + [
            f"stages[0].rl.steps={a.steps}"], jobs[mode], flags)
    res = {}
    rows = a.rows.split(",")
    for r in range(a.rounds):
        for g in rows:
            os.environ["HONE_RM_SCORE_ROWS"] = g
            for mode in ("on", "off"):
                st = ov.run_job(jobs[mode], os.path.join(work, mode, "run"), 0)
                res.setdefault((g, mode), []).append(st)
    os.environ.pop("HONE_RM_SCORE_ROWS", None)
    for g in rows:
        on = [x["stage_s"] for x in res[g, "on"]]
        off = [x["stage_s"] for x in res[g, "off"]]
        fr = [x["first_row"] for x in res[g, "on"]
              if x["first_row"] is not None]
        print(f"{g} rows a forward: streamed {series(on)}, unstreamed "
              f"{series(off)}, unstreamed over streamed per round "
              f"{ov.spread([b / x for x, b in zip(on, off)])}, first row's "
              f"wait / generation {statistics.median(fr):.1%}")


def logprobs(a, work):
    sp = dict(SCENARIOS)[a.scenario]
    builds = [("", a.honec)] + ([("b ", a.honec_b)] if a.honec_b else [])
    modes = (("streamed", ["--stream-logprobs"]),
             ("grouped", ["--stream-logprobs", "--no-stream-scores"]),
             ("one forward", []))
    jobs = {}
    for tag, honec in builds:
        for mode, flags in modes:
            key = tag + mode
            jobs[key] = os.path.join(work, key.replace(" ", "-"), "job")
            os.makedirs(os.path.dirname(jobs[key]), exist_ok=True)
            ov.compile_job(honec, sp, ov.SIZE + [
                f"stages[0].rl.steps={a.steps}", "stages[0].rl.beta=0.04",
                f"stages[0].rl.staleness={a.staleness}"], jobs[key], flags)
    res, ops = {}, {}
    keys = list(jobs)
    for r in range(a.rounds):
        for key in (keys if r % 2 == 0 else keys[::-1]):
            out = os.path.join(os.path.dirname(jobs[key]), "run")
            st = ov.run_job(jobs[key], out, 0)
            res.setdefault(key, []).append(st["stage_s"])
            with open(os.path.join(out, "trace.json")) as f:
                ev = [e for e in ov.json.load(f)["traceEvents"]
                      if e.get("ph") == "X"]
            per = {}
            for e in ev:
                if e["name"] in ("logprob", "generate") and \
                        e["args"]["lane"] != "stream":
                    per.setdefault(e["name"], []).append(e["dur"] / 1000)
            for name, v in per.items():
                ops.setdefault((key, name), []).append(statistics.median(v))
    for key in keys:
        lp = ops.get((key, "logprob"), [float("nan")])
        gen = ops.get((key, "generate"), [float("nan")])
        print(f"{key}: stage {series(res[key])}; reference read op "
              f"{statistics.median(lp):.2f} ms a step (runs' medians "
              f"{min(lp):.2f}-{max(lp):.2f}); generate "
              f"{statistics.median(gen):.2f} ms")
    for tag, _ in builds:
        base = res[tag + "one forward"]
        for mode, _ in modes[:2]:
            print(f"{tag}one forward over {tag}{mode}, per round "
                  f"{ov.spread([x / y for x, y in zip(base, res[tag + mode])])}")
    if a.honec_b:
        for mode, _ in modes:
            print(f"b {mode} over {mode}, per round "
                  f"{ov.spread([x / y for x, y in zip(res['b ' + mode], res[mode])])}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["lanes", "cores", "rm-rows", "logprobs"])
    ap.add_argument("--honec", default=os.path.join(ROOT, "build/bin/honec"))
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--steps", type=int, default=36)
    ap.add_argument("--delay", type=float, default=0.0021,
                    help="the external reward's seconds per completion")
    ap.add_argument("--rows", default="1,2,4,8")
    ap.add_argument("--staleness", type=int, default=0)
    ap.add_argument("--scenario", choices=[n for n, _ in SCENARIOS],
                    default="compute", help="logprobs: the spec")
    ap.add_argument("--honec-b", default="",
                    help="logprobs: a second build's honec (A/B)")
    ap.add_argument("--no-boost", action="store_true")
    a = ap.parse_args()
    ov.BOOST = not a.no_boost
    os.environ["HONE_BENCH_REWARD_DELAY"] = str(a.delay)
    work = tempfile.mkdtemp(prefix="hone-bench-overlap-ab-")
    print(f"{'boosted' if ov.BOOST else 'not boosted'}; {a.rounds} rounds; "
          f"{' '.join(ov.SIZE)} stages[0].rl.steps={a.steps}")
    try:
        {"lanes": lanes, "cores": cores, "rm-rows": rm_rows,
         "logprobs": logprobs}[a.what](a, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
