#!/usr/bin/env python3
"""Shapes from the data on/off: step time and peak memory of one spec
compiled with its sequence length from the data (the default) and with the
padded length the model allows (`max_length` = max_seq_len set in the spec)
and, with --unpacked-baseline, without hone-pack-sequences and
hone-precompute-reference too (the padded program the issue started from:
padded to max_seq_len, no packing, the reference run in every step).

  bench/fusion/shapes.py [--honec build/bin/honec] [--runs 3]
                         [--example dpo] [--steps 6] [override ...]

Default case (issue 22): the DPO example scaled to d_model 512 x 8 layers,
max_seq_len 128, batch 32. Both programs are compiled from the same spec and
overrides; the padded one adds stages[0].<method>.loop.max_length=128. The
two jobs run alternately (interleaved), RUNS times each; printed: the static
token shape of each step IR, the median wall time per training step (job
wall time / steps, start-up included), the median peak resident set of the
job process (ru_maxrss from wait4), and the ratios padded/from-data; also
the CPU time per step (user + system from wait4: the figure to compare on
a loaded machine) and the job's own memory line (its measured peak and the
plan's peak, from stderr). Both jobs must log the same losses (the shapes
are exact: docs/compiler.md; packing changes float rounding only).
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
METHOD = {"dpo": "preference", "reward-model": "reward_model", "sft": "sft",
          "ipo": "preference", "orpo": "preference", "simpo": "preference"}


def run_job(job, out, cwd, env=None):
    """One run of a compiled job: (wall s, peak RSS bytes, its training
    metrics rows, CPU s from wait4, (measured, planned) peak). Also used by
    bench/fusion/precompute.py and share_pairs.py."""
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    p = subprocess.Popen([job, "--device", "cpu", "--out", out, "--progress",
                          "off"], cwd=cwd, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(p.pid, 0)
    dt = time.perf_counter() - t0
    err = p.stderr.read().decode()
    p.stderr.close()
    if status != 0:
        sys.exit(f"error: {job} failed ({status}):\n{err}")
    rows = [json.loads(l) for l in open(os.path.join(out, "metrics.jsonl"))]
    train = [r for r in rows if "stage" in r]
    mem = re.search(r"memory: measured peak ([0-9.]+ [KMG]iB).*planned peak "
                    r"([0-9.]+ [KMG]iB)", err)
    return (dt, usage.ru_maxrss * 1024, train, usage.ru_utime + usage.ru_stime,
            mem.groups() if mem else ("?", "?"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--honec", default=os.path.join(ROOT, "build/bin/honec"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--example", default="dpo")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--max-seq-len", type=int, default=128)
    ap.add_argument("--unpacked-baseline", action="store_true")
    ap.add_argument("overrides", nargs="*")
    a = ap.parse_args()
    method = METHOD[a.example]
    spec = os.path.join(ROOT, "examples", a.example, "spec.textproto")
    ovr = a.overrides or [
        "models[0].init.d_model=512", "models[0].init.layers=8",
        f"models[0].init.max_seq_len={a.max_seq_len}",
        f"stages[0].{method}.loop.batch_size=32",
        f"stages[0].{method}.loop.steps={a.steps}"]
    padded = [f"stages[0].{method}.loop.max_length={a.max_seq_len}"]
    work = tempfile.mkdtemp(prefix="hone-bench-shapes-")
    try:
        jobs, shapes = {}, {}
        if a.unpacked_baseline:
            # The starting program: padded, unpacked, and the
            # reference read in every step (resident for the stage).
            padded = padded + ["--no-pack-sequences",
                               "--no-precompute-reference"]
        for mode, extra in (("data", []), ("padded", padded)):
            ir = subprocess.run([a.honec, spec, *ovr, *extra,
                                 "--compile-to=step"], check=True,
                                capture_output=True, text=True).stdout
            shapes[mode] = sorted(set(re.findall(r"tensor<\d+x\d+xi32>", ir)))
            jobs[mode] = os.path.join(work, f"job-{mode}")
            subprocess.run([a.honec, spec, *ovr, *extra, "--compile-to=exe",
                            "-o", jobs[mode]], check=True)
        times = {"data": [], "padded": []}
        rss = {"data": [], "padded": []}
        cpu = {"data": [], "padded": []}
        plan = {}
        losses = {}
        for _ in range(a.runs):
            for mode in ("data", "padded"):
                dt, peak, train, c, plan[mode] = run_job(
                    jobs[mode], os.path.join(work, "run-" + mode), work)
                times[mode].append(dt / len(train))
                cpu[mode].append(c / len(train))
                rss[mode].append(peak)
                losses[mode] = [r.get("loss") for r in train]
        same = losses["data"] == losses["padded"]
        close = all(abs(x - y) <= 1e-5 * max(abs(x), abs(y), 1e-30)
                    for x, y in zip(losses["data"], losses["padded"]))
        cd, cp = statistics.median(cpu["data"]), statistics.median(cpu["padded"])
        td, tp = statistics.median(times["data"]), statistics.median(times["padded"])
        md, mp = statistics.median(rss["data"]), statistics.median(rss["padded"])
        print(f"{a.example} ({' '.join(ovr)}), {a.runs} runs each, interleaved")
        print(f"  token shapes: from data {shapes['data']}, padded {shapes['padded']}")
        print(f"  from data: {td * 1e3:.1f} ms/step, peak RSS {md / 2**20:.1f} MiB")
        print(f"  padded:    {tp * 1e3:.1f} ms/step, peak RSS {mp / 2**20:.1f} MiB")
        print(f"  ratio padded/from-data: time {tp / td:.2f}x, memory {mp / md:.2f}x")
        print(f"  CPU per step: from data {cd * 1e3:.1f} ms, padded "
              f"{cp * 1e3:.1f} ms, ratio {cp / cd:.2f}x")
        print(f"  job's memory line (measured peak, plan): from data "
              f"{plan['data']}, padded {plan['padded']}")
        print(f"  losses identical: {same}, within 1e-5 relative: {close} "
              f"({len(losses['data'])} steps)")
        if not same:
            print(f"  from data {losses['data']}\n  padded    {losses['padded']}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
