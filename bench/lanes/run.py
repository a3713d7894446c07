#!/usr/bin/env python3
"""Lanes on/off: wall time of one compiled job with its steps on lane threads
(events between them, hone-assign-lanes) against every step inline.

  bench/lanes/run.py [--honec build/bin/honec] [--example ppo] [--runs 3]
                     [--threads N] [override ...]

Compiles examples/EXAMPLE/spec.textproto with the overrides, then runs the
job alternately with --lanes on and --lanes off (same arguments otherwise),
and prints the median wall time of each and the ratio off/on (> 1: lanes are
faster). It also checks that both runs logged the same metrics. The default
overrides size PPO up (d_model 256, 4 layers, 16 sequences of 16 new tokens,
10 steps) so that the steps are not dominated by per-call overhead.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_OVERRIDES = [
    "models[0].init.d_model=256", "models[0].init.layers=4",
    "stages[0].rl.steps=10", "stages[0].rl.batch_size=16",
    "generation.max_new_tokens=16",
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--honec", default=os.path.join(ROOT, "build/bin/honec"))
    ap.add_argument("--example", default="ppo")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("overrides", nargs="*")
    a = ap.parse_args()
    overrides = a.overrides or (DEFAULT_OVERRIDES if a.example == "ppo" else [])
    work = tempfile.mkdtemp(prefix="hone-bench-lanes-")
    job = os.path.join(work, "job")
    spec = os.path.join(ROOT, "examples", a.example, "spec.textproto")
    subprocess.run([a.honec, spec, *overrides, "--compile-to=exe", "-o", job],
                   check=True)
    times = {"on": [], "off": []}
    metrics = {}
    for r in range(a.runs):
        for mode in ("on", "off"):
            out = os.path.join(work, f"run-{mode}")
            shutil.rmtree(out, ignore_errors=True)
            cmd = [job, "--device", "cpu", "--out", out, "--lanes", mode,
                   "--progress", "off"]
            if a.threads:
                cmd += ["--threads", str(a.threads)]
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, cwd=work, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            times[mode].append(time.perf_counter() - t0)
            with open(os.path.join(out, "metrics.jsonl")) as f:
                metrics[mode] = re.sub(r'"tokens_per_sec":[^,}]*,?', "", f.read())
    same = metrics["on"] == metrics["off"]
    on, off = statistics.median(times["on"]), statistics.median(times["off"])
    print(f"example {a.example} ({' '.join(overrides) or 'as written'}), "
          f"{os.cpu_count()} hardware threads, {a.runs} runs each")
    print(f"lanes on : {on:.2f} s (median; {', '.join(f'{t:.2f}' for t in times['on'])})")
    print(f"lanes off: {off:.2f} s (median; {', '.join(f'{t:.2f}' for t in times['off'])})")
    print(f"ratio off/on: {off / on:.3f}  (> 1: lanes faster)")
    print(f"metrics identical: {'yes' if same else 'NO'}")
    shutil.rmtree(work, ignore_errors=True)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
