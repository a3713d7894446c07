#!/usr/bin/env python3
"""hone-precompute-reference on/off: one spec compiled with the pass (the
default: the reference's log-prob sums computed once per record before the
stage) and with --no-precompute-reference (the reference forward in every
step, its weights resident for the stage).

  bench/fusion/precompute.py [--honec build/bin/honec] [--runs 3]
                             [--example dpo] [--epochs 2] [override ...]

Default case: the DPO example (12 pairs) scaled to d_model 512 x 8 layers,
max_seq_len 128, batch 4, `epochs` epochs. The two jobs run alternately
(interleaved), RUNS times each. Printed per program: the compiled model
work of the whole stage (honec --report: per-iteration GFLOP x steps, plus
the table's GFLOP once), the median CPU time of the job (user + system from
wait4, start-up included: the figure to compare on a loaded machine), the
median wall time, the median peak resident set (ru_maxrss), the job's own
memory line (measured peak, plan's peak); and the largest difference of
the logged losses (float rounding only: the reference's forwards run over
other batches).
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

from shapes import run_job  # noqa: E402 (this directory)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def work_gflop(report, steps):
    """The stage's compiled model work: per iteration x steps + tables."""
    per = sum(float(m) for m in re.findall(r"GFLOP [0-9.e+-]+ -> ([0-9.e+-]+)",
                                          report))
    tables = sum(float(m) for m in re.findall(
        r"reference_table .*?, ([0-9.e+-]+) GFLOP", report))
    return per * steps + tables, per, tables


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--honec", default=os.path.join(ROOT, "build/bin/honec"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--example", default="dpo")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("overrides", nargs="*")
    a = ap.parse_args()
    spec = os.path.join(ROOT, "examples", a.example, "spec.textproto")
    ovr = a.overrides or [
        "models[0].init.d_model=512", "models[0].init.layers=8",
        "models[0].init.max_seq_len=128",
        "stages[0].preference.loop.batch_size=4",
        f"stages[0].preference.loop.epochs={a.epochs}"]
    work = tempfile.mkdtemp(prefix="hone-bench-precompute-")
    try:
        jobs, flops = {}, {}
        for mode, extra in (("on", []), ("off", ["--no-precompute-reference"])):
            jobs[mode] = os.path.join(work, f"job-{mode}")
            r = subprocess.run([a.honec, spec, *ovr, *extra, "--compile-to=exe",
                                "-o", jobs[mode], "--report"], check=True,
                               capture_output=True, text=True)
            flops[mode] = r.stderr
        cpu = {"on": [], "off": []}
        wall = {"on": [], "off": []}
        rss = {"on": [], "off": []}
        plan, losses = {}, {}
        for _ in range(a.runs):
            for mode in ("on", "off"):
                dt, peak, train, c, plan[mode] = run_job(
                    jobs[mode], os.path.join(work, "run-" + mode), work)
                wall[mode].append(dt)
                cpu[mode].append(c)
                rss[mode].append(peak)
                losses[mode] = [r.get("loss") for r in train]
        steps = len(losses["on"])
        print(f"{a.example} ({' '.join(ovr)}): {steps} steps, {a.runs} runs "
              "each, interleaved")
        for mode in ("on", "off"):
            total, per, tables = work_gflop(flops[mode], steps)
            print(f"  {mode:3}: compiled {total:.3f} GFLOP ({per:.4g} a step x "
                  f"{steps} + table {tables:.4g}); CPU "
                  f"{statistics.median(cpu[mode]):.2f} s, wall "
                  f"{statistics.median(wall[mode]):.2f} s, peak RSS "
                  f"{statistics.median(rss[mode]) / 2**20:.1f} MiB; job's "
                  f"memory line (measured, plan) {plan[mode]}")
        t_on, t_off = (work_gflop(flops[m], steps)[0] for m in ("on", "off"))
        c_on, c_off = (statistics.median(cpu[m]) for m in ("on", "off"))
        m_on, m_off = (statistics.median(rss[m]) for m in ("on", "off"))
        print(f"  off/on: GFLOP {t_off / t_on:.2f}x, CPU {c_off / c_on:.2f}x, "
              f"peak RSS {m_off / m_on:.2f}x")
        worst = max(abs(x - y) for x, y in zip(losses["on"], losses["off"]))
        print(f"  largest loss difference {worst:.3g} over {steps} steps")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
