#!/usr/bin/env python3
"""A/B measurements beside bench/overlap/run.py, with its sizes and its
--boost (each job in a session of its own at nice -20: root), interleaved
in rounds of alternating order, ratios per round (median, range, IQR).

  bench/overlap/ab.py lanes [--rounds 7] [--steps 36] [--delay 0.0021]
  bench/overlap/ab.py cores [--rounds 9] [--steps 36] [--delay 0.0021]
  bench/overlap/ab.py rm-rows [--rounds 5] [--rows 1,2,4,8]

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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["lanes", "cores", "rm-rows"])
    ap.add_argument("--honec", default=os.path.join(ROOT, "build/bin/honec"))
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--steps", type=int, default=36)
    ap.add_argument("--delay", type=float, default=0.0021,
                    help="the external reward's seconds per completion")
    ap.add_argument("--rows", default="1,2,4,8")
    ap.add_argument("--no-boost", action="store_true")
    a = ap.parse_args()
    ov.BOOST = not a.no_boost
    os.environ["HONE_BENCH_REWARD_DELAY"] = str(a.delay)
    work = tempfile.mkdtemp(prefix="hone-bench-overlap-ab-")
    print(f"{'boosted' if ov.BOOST else 'not boosted'}; {a.rounds} rounds; "
          f"{' '.join(ov.SIZE)} stages[0].rl.steps={a.steps}")
    try:
        {"lanes": lanes, "cores": cores, "rm-rows": rm_rows}[a.what](a, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
