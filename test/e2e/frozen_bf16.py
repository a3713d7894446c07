#!/usr/bin/env python3
"""A frozen reference stored in bf16 in a compiled job (docs/runtime.md,
"Frozen models in bf16"): DPO against the frozen starting policy.
  - the scheduled IR marks the reference snapshot storage = "bf16" under
    hardware.precision bf16 (not under fp32), and the plan's peak drops;
  - both jobs run to the end and pass their memory checks with no unplanned
    allocation (the halving itself is measured on the resident set by
    test/unit/model/Bf16FrozenTest.cpp and bench/model/FrozenBench.cpp: at
    this example's size the model is a few hundred KiB);
  - with HONE_CPU_BF16=off (the policy trains in fp32, the bf16 reference is
    widened in each product) the loss curve stays within 1e-3 of the fp32
    job's (the reference's weights are the policy's rounded to bf16), and
    the job says why it trains in fp32;
  - where the CPU has AVX-512 BF16, the bf16 job's losses stay within 5 %
    (+0.02) of the fp32 job's (docs/job.md's training tolerance);
  - checkpoints hold the bf16 reference as BF16 tensors, and a run resumed
    from its first checkpoint ends bit-identical to the straight run.
Usage: frozen_bf16.py HONEC SPEC WORK"""
import json, os, re, shutil, subprocess, sys

honec, spec, work = sys.argv[1:4]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
# The reference read in every step (hone-precompute-reference would read it
# once before the stage, from the fp32 policy, and keep no snapshot).
BIG = ["stages[0].preference.loop.epochs=1", "--no-precompute-reference"]


def fail(msg):
    sys.exit("FAIL: " + msg)


def compile_(precision):
    ir = os.path.join(work, f"scheduled-{precision}.mlir")
    subprocess.run([honec, spec, *BIG, f"hardware.precision={precision}",
                    "--compile-to=scheduled", "-o", ir], check=True)
    text = open(ir).read()
    m = re.search(r"hone\.memory_plan = \{.*?\bpeak_bytes = (\d+)", text)
    if not m:
        fail("no hone.memory_plan in the scheduled IR")
    snaps = re.findall(r"hone\.exec\.snapshot [^\n]*", text)
    job = os.path.join(work, f"job-{precision}")
    subprocess.run([honec, spec, *BIG, f"hardware.precision={precision}",
                    "-o", job], check=True)
    return job, int(m.group(1)), snaps


def run(job, tag, env=None):
    out = os.path.join(work, tag)
    p = subprocess.run([job, "--device", "cpu", "--progress", "off",
                        "--threads", "2", "--out", out],
                       env=dict(os.environ, **(env or {})),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=600)
    print(p.stdout)
    if p.returncode != 0:
        fail(f"{tag}: exit code {p.returncode}")
    rows = [json.loads(l) for l in open(os.path.join(out, "metrics.jsonl"))]
    losses = [r["loss"] for r in rows if "stage" in r and "loss" in r]
    mem = [r for r in rows if "memory/measured_peak_bytes" in r]
    if len(mem) != 1 or mem[0]["memory/unplanned_allocations"] != 0:
        fail(f"{tag}: memory line {mem}")
    return p.stdout, losses, mem[0]["memory/measured_peak_bytes"]


job32, plan32, snaps32 = compile_("fp32")
job16, plan16, snaps16 = compile_("bf16")
if len(snaps32) != 1 or "storage" in snaps32[0]:
    fail(f"fp32: snapshots {snaps32}")
if len(snaps16) != 1 or 'storage = "bf16"' not in snaps16[0]:
    fail(f"bf16: snapshots {snaps16}")
saved = plan32 - plan16
print(f"planned peak: fp32 {plan32}, bf16 {plan16}, saved {saved}")
if saved <= 0:
    fail(f"the plan saves only {saved} bytes")

_, l32, meas32 = run(job32, "fp32")
out, l16, meas16 = run(job16, "bf16-widen", {"HONE_CPU_BF16": "off"})
if "HONE_CPU_BF16=off" not in out or "frozen models stay stored in bf16" \
        not in out:
    fail("no note saying why the job trains in fp32")
if not l32 or len(l16) != len(l32):
    fail(f"losses {l32} / {l16}")
for a, b in zip(l32, l16):
    if abs(a - b) > 1e-3:
        fail(f"bf16-reference losses {l16} far from fp32 {l32}")
print(f"fp32 losses {l32}\nbf16-reference losses {l16}")
out, lb, _ = run(job16, "bf16")
if "note: hardware.precision bf16:" not in out:
    if len(lb) != len(l32):
        fail(f"bf16 losses {lb}")
    for a, b in zip(l32, lb):
        if abs(a - b) > 0.05 * abs(a) + 0.02:
            fail(f"bf16 losses {lb} far from fp32 {l32}")
    print(f"bf16 losses {lb}")

# Resume: the frozen bf16 model goes through the checkpoint.
jobc = os.path.join(work, "job-ckpt")
subprocess.run([honec, spec, *BIG, "hardware.precision=bf16",
                "checkpointing.every_steps=1", "-o", jobc], check=True)
ref = os.path.join(work, "straight")
subprocess.run([jobc, "--device", "cpu", "--progress", "off", "--out", ref],
               check=True, stdout=subprocess.DEVNULL)
ckpts = sorted((d for d in os.listdir(ref) if d.startswith("checkpoint-")),
               key=lambda d: int(d.split("-")[1]))
if len(ckpts) < 2:
    fail(f"checkpoints {ckpts}")
extra = [f for f in os.listdir(os.path.join(ref, ckpts[0]))
         if f.endswith(".safetensors") and f not in ("model.safetensors",
                                                     "optimizer.safetensors")]
if not extra or b'"BF16"' not in open(os.path.join(ref, ckpts[0], extra[0]),
                                       "rb").read(4096):
    fail(f"no BF16 tensors in the reference's checkpoint file {extra}")
res = os.path.join(work, "resumed")
shutil.copytree(ref, res)
for d in ckpts[1:] + ["final"]:
    shutil.rmtree(os.path.join(res, d))
if os.path.exists(os.path.join(res, "job.lock")):
    os.remove(os.path.join(res, "job.lock"))
subprocess.run([jobc, "--device", "cpu", "--progress", "off", "--out", res,
                "--resume"], check=True, stdout=subprocess.DEVNULL)
for f in ["final/model.safetensors", ckpts[-1] + "/" + extra[0]]:
    if open(os.path.join(ref, f), "rb").read() != \
            open(os.path.join(res, f), "rb").read():
        fail(f"resumed {f} differs from the straight run's")
shutil.rmtree(work)
