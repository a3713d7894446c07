#!/usr/bin/env python3
"""on_nan in a compiled job: a NaN loss (injected with HONE_INJECT_NAN_STEPS)
is detected in the step it appears. With on_nan: skip the step is skipped;
with on_nan: rollback the job restarts from the last complete checkpoint and
skips the step. Either way the run finishes (exit 0) with finite weights.
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


def run(policy, inject):
    d = os.path.join(work, policy)
    job = os.path.join(d, "job")
    os.makedirs(d)
    subprocess.run([honec, spec, "stages[0].sft.loop.steps=12",
                    "checkpointing.every_steps=4",
                    f"checkpointing.on_nan={policy}", "--compile-to=exe",
                    "-o", job], check=True)
    env = dict(os.environ, HONE_INJECT_NAN_STEPS=inject)
    p = subprocess.run([job, "--device", "cpu", "--progress", "lines",
                        "--out", os.path.join(d, "run")], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    print(p.stdout)
    if p.returncode != 0:
        sys.exit(f"FAIL: on_nan={policy}: exit code {p.returncode}")
    rows = [json.loads(l) for l in open(os.path.join(d, "run", "metrics.jsonl"))]
    steps = [r["step"] for r in rows if "stage" in r]
    if steps != list(range(1, 13)):
        sys.exit(f"FAIL: on_nan={policy}: logged steps {steps}")
    if not finite_weights(os.path.join(d, "run", "final", "model.safetensors")):
        sys.exit(f"FAIL: on_nan={policy}: non-finite final weights")
    return p.stdout, d


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
print("OK: skip and rollback both end finite")
