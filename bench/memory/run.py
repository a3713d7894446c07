#!/usr/bin/env python3
"""Memory plan per example: the planned peak (greedy-by-size offsets) against
the liveness lower bound, first-fit packing and no reuse, then the job's
measured peak (anonymous resident memory above its start, docs/runtime.md
"Memory check") against the plan.

  bench/memory/run.py [--honec build/bin/honec] [--no-run]
                      [--no-release-at-step-end] [--lanes on|off|auto]
                      [example ...]

Compiles examples/EXAMPLE/spec.textproto (all examples by default) to
scheduled IR and reads its hone.memory_plan; unless --no-run, compiles the
job, runs it as compiled (a compiled job's step counts are compiled in) and reads
memory/planned_peak_bytes and memory/measured_peak_bytes from its
metrics.jsonl. Prints one row per example and the ratios.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


FLAGS = []  # extra honec flags (--no-release-at-step-end)
JOB_FLAGS = []  # extra job flags (--lanes on)


def plan_of(honec, spec, work):
    out = os.path.join(work, "scheduled.mlir")
    subprocess.run([honec, spec, *FLAGS, "--compile-to=scheduled", "-o", out],
                   check=True, stdout=subprocess.DEVNULL)
    text = open(out).read()
    m = re.search(r"hone\.memory_plan = \{(.*?)\bbuffers = ", text)
    if not m:
        m = re.search(r"hone\.memory_plan = \{(.*)", text)
    fields = {}
    for key in ("peak_bytes", "lower_bound_bytes", "first_fit_bytes",
                "no_reuse_bytes"):
        k = re.search(r"\b" + key + r" = (\d+)", text[m.start():])
        fields[key] = int(k.group(1))
    return fields


def measure(honec, spec, work):
    job = os.path.join(work, "job")
    subprocess.run([honec, spec, *FLAGS, "-o", job], check=True,
                   stdout=subprocess.DEVNULL)
    out = os.path.join(work, "run")
    r = subprocess.run([job, "--device", "cpu", "--out", out, "--progress",
                        "off", *JOB_FLAGS], cwd=work,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       text=True)
    planned = measured = None
    path = os.path.join(out, "metrics.jsonl")
    if os.path.exists(path):
        for line in open(path):
            d = json.loads(line)
            planned = d.get("memory/planned_peak_bytes", planned)
            measured = d.get("memory/measured_peak_bytes", measured)
    return planned, measured, r.returncode, r.stderr.strip().splitlines()[-1:] 


def mib(n):
    return f"{n / 2**20:8.2f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--honec", default=os.path.join(ROOT, "build/bin/honec"))
    ap.add_argument("--no-run", action="store_true")
    ap.add_argument("--no-release-at-step-end", action="store_true",
                    help="compile with honec --no-release-at-step-end")
    ap.add_argument("--lanes", choices=["on", "off", "auto"],
                    help="run the jobs with --lanes (default: the job's auto)")
    ap.add_argument("examples", nargs="*")
    a = ap.parse_args()
    if a.lanes:
        JOB_FLAGS[:] = ["--lanes", a.lanes]
    examples = a.examples or sorted(
        e for e in os.listdir(os.path.join(ROOT, "examples"))
        if os.path.exists(os.path.join(ROOT, "examples", e, "spec.textproto")))
    print(f"{'example':14} {'planned':>8} {'lower':>8} {'1st-fit':>8} "
          f"{'no-reuse':>8}  plan/lb  plan/noreuse" +
          ("" if a.no_run else f" {'measured':>9} meas/plan rc") + "   (MiB)")
    for ex in examples:
        spec = os.path.join(ROOT, "examples", ex, "spec.textproto")
        work = tempfile.mkdtemp(prefix="hone-bench-memory-")
        try:
            if a.no_release_at_step_end:
                FLAGS[:] = ["--no-release-at-step-end"]
            p = plan_of(a.honec, spec, work)
            row = (f"{ex:14} {mib(p['peak_bytes'])} {mib(p['lower_bound_bytes'])} "
                   f"{mib(p['first_fit_bytes'])} {mib(p['no_reuse_bytes'])}  "
                   f"{p['peak_bytes'] / p['lower_bound_bytes']:7.3f}  "
                   f"{p['peak_bytes'] / p['no_reuse_bytes']:12.3f}")
            if not a.no_run:
                planned, measured, rc, err = measure(a.honec, spec, work)
                if measured is None:
                    row += f"  (no measurement, rc {rc}: {' '.join(err)})"
                else:
                    row += (f" {mib(measured)}  {measured / planned:8.2f} {rc}")
            print(row, flush=True)
        except subprocess.CalledProcessError as e:
            print(f"{ex:14} failed: {e}", flush=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
