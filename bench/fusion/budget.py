#!/usr/bin/env python3
"""hone-fuse-forwards' group under a memory budget (docs/passes.md, fusion's
decision before hone-plan-memory's recomputation): CPU time of CHORD at
max_seq_len 64 compiled under budgets that make the plan keep the policy's
rollouts and demonstrations apart or fused with recomputed layers, beside
the unconstrained fused job and the unfused one.

  bench/fusion/budget.py [--honec build/bin/honec] [--old-honec PATH]
                         [--runs 3] [--steps 12] [--only d256x2]

Two sizes, d_model 256 with 2 layers (fused 37.6 MiB planned, fused
recomputing both layers 33.0, apart 31.6: under 32 MiB only apart fits) and
with 4 layers (fused 69.6 MiB, apart 59.5, fused recomputing all 4 layers
55.8: under 60 MiB fused recomputing 4 layers is chosen over apart, 7.17
against 7.65 GFLOP per train step). --old-honec (a honec without this
decision, e.g. main's before it) adds its program under 32 MiB: the fused
step with both layers recomputed and 2 micro-batches (whose forward is then
re-run before each backward).

Each variant is compiled with S and 2S steps; the jobs run interleaved,
RUNS times each; printed: median CPU time (user + system, wait4) of the
whole S-step job and of a steady step (the 2S job's CPU less the S job's,
over S), and the ratio to the unconstrained fused job.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPEC = os.path.join(ROOT, "examples", "chord", "spec.textproto")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--honec", default=os.path.join(ROOT, "build/bin/honec"))
    ap.add_argument("--old-honec", default="")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--only", default="", help="variants whose label "
                    "contains this (e.g. d256x2)")
    a = ap.parse_args()
    seq = ["models[0].init.max_seq_len=64", "models[0].init.d_model=256"]
    two = seq + ["models[0].init.layers=2"]
    four = seq + ["models[0].init.layers=4"]
    variants = [
        ("d256x2 unconstrained (fused)", a.honec, two),
        ("d256x2 --no-fuse-forwards", a.honec, two + ["--no-fuse-forwards"]),
        ("d256x2 32MiB: kept apart", a.honec,
         two + ["hardware.memory_budget=32MiB"]),
        ("d256x4 unconstrained (fused)", a.honec, four),
        ("d256x4 --no-fuse-forwards", a.honec, four + ["--no-fuse-forwards"]),
        ("d256x4 60MiB: fused, 4 of 4 layers recomputed", a.honec,
         four + ["hardware.memory_budget=60MiB"]),
    ]
    if a.old_honec:
        variants.insert(3, ("d256x2 32MiB, old honec: fused, 2 of 2 layers "
                            "recomputed, 2 micro-batches", a.old_honec,
                            two + ["hardware.memory_budget=32MiB"]))
    variants = [v for v in variants if a.only in v[0]]
    work = tempfile.mkdtemp(prefix="hone-bench-fuse-budget-")
    try:
        jobs = {}
        for i, (label, honec, flags) in enumerate(variants):
            for n in (a.steps, 2 * a.steps):
                path = os.path.join(work, f"v{i}-{n}")
                subprocess.run([honec, SPEC, *flags, f"stages[0].rl.steps={n}",
                                "--compile-to=exe", "-o", path], check=True,
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
                jobs[(i, n)] = path
        cpu = {k: [] for k in jobs}
        for _ in range(a.runs):
            for k, path in jobs.items():
                out = os.path.join(work, "run")
                shutil.rmtree(out, ignore_errors=True)
                p = subprocess.Popen([path, "--device", "cpu", "--out", out,
                                      "--progress", "off"], cwd=work,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
                _, status, ru = os.wait4(p.pid, 0)
                if os.waitstatus_to_exitcode(status):
                    sys.exit(f"error: {variants[k[0]][0]}: job failed")
                cpu[k].append(ru.ru_utime + ru.ru_stime)
        print(f"| variant | CPU s, {a.steps}-step job | ratio | steady step "
              "CPU ms | ratio |")
        print("|---|---|---|---|---|")
        base = {}
        for i, (label, _, _) in enumerate(variants):
            whole = statistics.median(cpu[(i, a.steps)])
            steady = statistics.median(
                (y - x) / a.steps for x, y in zip(cpu[(i, a.steps)],
                                                  cpu[(i, 2 * a.steps)]))
            size = label.split()[0]
            if "unconstrained" in label:
                base[size] = (whole, steady)
            bw, bs = base.get(size, (whole, steady))
            print(f"| {label} | {whole:.2f} | {whole / bw:.2f} | "
                  f"{steady * 1e3:.1f} | {steady / bs:.2f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
