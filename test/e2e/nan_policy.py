#!/usr/bin/env python3
"""on_nan in a compiled job: a NaN loss (injected with HONE_INJECT_NAN_STEPS)
is detected in the step it appears. With on_nan: skip the step is skipped;
with on_nan: rollback the job restarts from the last complete checkpoint and
skips the step. Either way the run finishes (exit 0) with finite weights.
Skips are reported under --progress off too and logged in metrics.jsonl
("skipped": 1). Past checkpointing.max_skipped_fraction of a stage's steps,
or max_skipped_in_a_row, the job ends with exit 1 and exports nothing (it
used to skip 199 of 200 steps and export); on_nan: abort ends it at the
first non-finite step.
Usage: nan_policy.py HONEC SPEC WORK"""
import array, json, math, os, shutil, struct, subprocess, sys

honec, spec, work = sys.argv[1:4]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)


def finite_weights(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    for name, t in header.items():
        if name == "__metadata__" or t["dtype"] != "F32":
            continue
        a, b = t["data_offsets"]
        xs = array.array("f", data[a:b])
        if not all(math.isfinite(x) for x in xs):
            return False
    return True


def compile_job(d, policy, *overrides):
    job = os.path.join(d, "job")
    os.makedirs(d)
    subprocess.run([honec, spec, "stages[0].sft.loop.steps=12",
                    "checkpointing.every_steps=4",
                    f"checkpointing.on_nan={policy}", *overrides,
                    "--compile-to=exe", "-o", job], check=True)
    return job


def start(job, d, inject, progress="lines"):
    env = dict(os.environ, HONE_INJECT_NAN_STEPS=inject)
    p = subprocess.run([job, "--device", "cpu", "--progress", progress,
                        "--out", os.path.join(d, "run")], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=240)
    print(p.stdout)
    return p


def run(policy, inject):
    d = os.path.join(work, policy)
    # 2 of 12 steps skipped with rollback: over the default 10 %.
    job = compile_job(d, policy, "checkpointing.max_skipped_fraction=0.25")
    p = start(job, d, inject)
    if p.returncode != 0:
        sys.exit(f"FAIL: on_nan={policy}: exit code {p.returncode}")
    rows = [json.loads(l) for l in open(os.path.join(d, "run", "metrics.jsonl"))]
    steps = [r["step"] for r in rows if "stage" in r]
    if steps != list(range(1, 13)):
        sys.exit(f"FAIL: on_nan={policy}: logged steps {steps}")
    skipped = [r["step"] for r in rows if r.get("skipped") == 1]
    if skipped != [int(s) for s in inject.split(",")]:
        sys.exit(f"FAIL: on_nan={policy}: metrics mark {skipped} skipped")
    if not finite_weights(os.path.join(d, "run", "final", "model.safetensors")):
        sys.exit(f"FAIL: on_nan={policy}: non-finite final weights")
    return p.stdout, d


def refused(name, policy, inject, want, *overrides):
    d = os.path.join(work, name)
    job = compile_job(d, policy, *overrides)
    p = start(job, d, inject, progress="off")
    if p.returncode != 1:
        sys.exit(f"FAIL: {name}: exit code {p.returncode}, expected 1")
    if want not in p.stdout:
        sys.exit(f"FAIL: {name}: no message '{want}'")
    if os.path.exists(os.path.join(d, "run", "final")):
        sys.exit(f"FAIL: {name}: exported after failing")
    return p.stdout


out, _ = run("skip", "6")
if "step 6 skipped: non-finite loss" not in out:
    sys.exit("FAIL: on_nan=skip: no skip message for step 6")
out, d = run("rollback", "6,10")
for s in (6, 10):
    if f"step {s}: non-finite loss; rolling back" not in out:
        sys.exit(f"FAIL: on_nan=rollback: no rollback at step {s}")
    if f"step {s} skipped: non-finite loss (again, after the rollback)" not in out:
        sys.exit(f"FAIL: on_nan=rollback: step {s} not skipped after the rollback")
if json.load(open(os.path.join(d, "run", "nan_steps.json"))) != [6, 10]:
    sys.exit("FAIL: nan_steps.json")

# 2 of 12 steps over the default 10 %; every skip reported with progress off.
out = refused("skip-fraction", "skip", "3,5", "step 5: non-finite loss: 2 of "
              "the stage's 12 steps skipped, more than "
              "checkpointing.max_skipped_fraction (0.1)")
if "step 3 skipped: non-finite loss" not in out:
    sys.exit("FAIL: skip-fraction: skip not reported under --progress off")
refused("skip-in-a-row", "skip", "3,4,5", "3 steps in a row skipped, more "
        "than checkpointing.max_skipped_in_a_row (2)",
        "checkpointing.max_skipped_fraction=1",
        "checkpointing.max_skipped_in_a_row=2")
refused("abort", "abort", "5", "non-finite loss at step 5 (on_nan = abort)")
shutil.rmtree(work)
print("OK: skip and rollback end finite; limits and abort end with exit 1")
