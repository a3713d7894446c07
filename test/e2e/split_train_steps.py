#!/usr/bin/env python3
"""A train step run model by model is exact: examples/ppo compiled as is
(hone-plan-memory runs its train step critic first, then policy: the
objective separates, `phases` on the step) and with --no-split-train-steps
(every forward, the kernel, every backward) logs bit-identical metrics
(every row of metrics.jsonl but timings and memory) and saves bit-identical
weights (the export, and the stage-end checkpoint's: both models' weights and
the AdamW moments); the split plan's peak is lower by the critic's activations.

Usage: split_train_steps.py HONEC SPEC WORK [STEPS]"""
import json, os, re, shutil, subprocess, sys

honec, spec, work = sys.argv[1:4]
steps = sys.argv[4] if len(sys.argv) > 4 else "80"
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
VOLATILE = ("time", "sec", "memory/", "elapsed", "wall")


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def run(name, flags):
    d = os.path.join(work, name)
    os.makedirs(d)
    args = [honec, spec, f"stages[0].rl.steps={steps}", *flags]
    ir = subprocess.run(args + ["--compile-to=scheduled", "-o", "-"],
                        check=True, capture_output=True, text=True).stdout
    peak = int(re.search(r"\bpeak_bytes = (\d+)", ir).group(1))
    split = re.search(r"hone\.train_step[^\n]*\bphases = array<i64: ([-0-9, ]+)>",
                      ir)
    subprocess.run(args + ["-o", os.path.join(d, "job")], check=True)
    p = subprocess.run(["./job", "--device", "cpu", "--out", "run",
                        "--progress", "off"], cwd=d, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=600)
    if p.returncode != 0:
        fail(f"{name}: the job exited {p.returncode}: {p.stdout[-600:]}")
    rows, mem = [], None
    for line in open(os.path.join(d, "run", "metrics.jsonl")):
        r = json.loads(line)
        if "memory/measured_peak_bytes" in r:
            mem = r
        rows.append({k: v for k, v in r.items()
                     if not any(s in k for s in VOLATILE)})
    # The exported policy and every checkpoint's files: every model's
    # weights (the critic's too) and the AdamW moments.
    weights = {}
    for sub in ["final"] + sorted(x for x in os.listdir(os.path.join(d, "run"))
                                  if x.startswith("checkpoint-")):
        where = os.path.join(d, "run", sub)
        for f in sorted(os.listdir(where)):
            if f.endswith(".safetensors"):
                weights[sub + "/" + f] = open(os.path.join(where, f), "rb").read()
    return peak, split, rows, weights, mem


peak_on, split_on, rows_on, w_on, mem_on = run("split", [])
peak_off, split_off, rows_off, w_off, mem_off = run("whole",
                                                    ["--no-split-train-steps"])
# The two programs differ: otherwise this compares nothing.
if not split_on or split_on.group(1) != "1, 0":
    fail("the PPO train step is not split critic first (phases = [1, 0])")
if split_off:
    fail("--no-split-train-steps left `phases` on the train step")
if not peak_on < peak_off:
    fail(f"the split plan's peak {peak_on} is not below the whole step's "
         f"{peak_off}")
if len(rows_on) != len(rows_off) or len(rows_on) < int(steps):
    fail(f"{len(rows_on)} rows split, {len(rows_off)} whole")
for i, (a, b) in enumerate(zip(rows_on, rows_off)):
    if a != b:
        keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        fail(f"row {i}: {[(k, a.get(k), b.get(k)) for k in keys]}")
if (not any(f.startswith("checkpoint-") for f in w_on)
        or "final/model.safetensors" not in w_on or sorted(w_on) != sorted(w_off)):
    fail(f"saved files differ: {sorted(w_on)} vs {sorted(w_off)}")
for f in w_on:
    if w_on[f] != w_off[f]:
        fail(f"{f} differs")
for name, mem in (("split", mem_on), ("whole", mem_off)):
    if not mem or mem.get("memory/unplanned_allocations", 1) != 0:
        fail(f"{name}: unplanned allocations: {mem}")
print(f"ppo, {steps} steps: {len(rows_on)} metrics rows and "
      f"{len(w_on)} safetensors files (export, checkpoint: both models, "
      f"optimiser moments) bit-identical; planned peak "
      f"{peak_on} B split, {peak_off} B whole ({peak_on / peak_off:.3f}); "
      f"measured {mem_on['memory/measured_peak_bytes']} B split, "
      f"{mem_off['memory/measured_peak_bytes']} B whole")
shutil.rmtree(work, ignore_errors=True)
print("PASS")
