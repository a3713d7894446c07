#!/usr/bin/env python3
"""Work buffers freed at each step's end (hone-plan-memory's
release_at_step_end, the default where it lowers the peak) against kept
across steps (honec --no-release-at-step-end): planned and measured peak,
and the job's CPU time, from interleaved runs.

  bench/memory/release.py [--honec build/bin/honec] [--rounds 3]
                          [example ...]   (default: sft-grpo arith)

Compiles examples/EXAMPLE/spec.textproto both ways, then runs the two jobs
alternately ROUNDS times each (on, off, on, off, ...). Prints per run the
CPU time (user + system of the job, from wait4) and wall time, the planned
and measured peak (metrics.jsonl: memory/planned_peak_bytes,
memory/measured_peak_bytes) and the last held-out accuracy; then per
example the median CPU-time ratio on/off. CPU time, not wall time, because
the development machine is shared and loaded.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def build(honec, example, work, release):
    spec = os.path.join(ROOT, "examples", example, "spec.textproto")
    job = os.path.join(work, "%s-%s" % (example, "on" if release else "off"))
    cmd = [honec, spec, "-o", job]
    if not release:
        cmd.append("--no-release-at-step-end")
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return job


def run(job, work, tag):
    out = os.path.join(work, tag)
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.monotonic()
    p = subprocess.Popen([job, "--device", "cpu", "--out", out, "--progress",
                          "off"], cwd=work, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    err = p.stderr.read().decode()
    if status != 0:
        sys.exit("FAIL: %s exited %d: %s" % (job, status, err[-2000:]))
    planned = measured = acc = None
    with open(os.path.join(out, "metrics.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            planned = r.get("memory/planned_peak_bytes", planned)
            measured = r.get("memory/measured_peak_bytes", measured)
            for k, v in r.items():
                if k.endswith("heldout/accuracy"):
                    acc = v
    shutil.rmtree(out, ignore_errors=True)
    return usage.ru_utime + usage.ru_stime, wall, planned, measured, acc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--honec", default=os.path.join(ROOT, "build", "bin", "honec"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("examples", nargs="*", default=["sft-grpo", "arith"])
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="hone-release-bench-")
    try:
        for ex in a.examples:
            jobs = {True: build(a.honec, ex, work, True),
                    False: build(a.honec, ex, work, False)}
            cpu = {True: [], False: []}
            for r in range(a.rounds):
                for on in (True, False):
                    c, w, pl, me, acc = run(jobs[on], work, "run")
                    cpu[on].append(c)
                    mib = lambda x: "%.2f" % (x / 2**20) if x else "-"
                    print("%s release %-3s round %d: cpu %.2f s, wall %.2f s, "
                          "planned %s MiB, measured %s MiB, accuracy %s"
                          % (ex, "on" if on else "off", r, c, w, mib(pl),
                             mib(me), acc), flush=True)
            print("%s: CPU time on/off (median of %d) %.3f" %
                  (ex, a.rounds, statistics.median(cpu[True]) /
                   statistics.median(cpu[False])), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
