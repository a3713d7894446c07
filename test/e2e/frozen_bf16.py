#!/usr/bin/env python3
"""A frozen reference stored in bf16 in a compiled job (docs/runtime.md,
"Frozen models in bf16"): DPO against the frozen starting policy, the policy
widened to d_model 512 x 8 layers (~27 M parameters) so its reference
dominates the memory.
  - the scheduled IR marks the reference snapshot storage = "bf16" under
    hardware.precision bf16 (not under fp32), and the plan's peak drops by
    the reference's fp32 weights + gradients minus its bf16 bytes;
  - both jobs pass their memory checks (planned vs measured) and the
    measured peak drops by at least 60 % of what the plan says it saves;
  - with HONE_CPU_BF16=off (the policy trains in fp32, the bf16 reference is
    widened in each product) the loss curve stays within 1e-3 of the fp32
    job's (the reference's weights are the policy's rounded to bf16);
  - the job says why it trains in fp32 there.
Usage: frozen_bf16.py HONEC SPEC WORK"""
import json, os, re, shutil, subprocess, sys

honec, spec, work = sys.argv[1:4]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
BIG = ["models[0].init.d_model=512", "models[0].init.layers=8",
       "models[0].init.heads=8", "models[0].init.kv_heads=8",
       "stages[0].preference.loop.epochs=1"]


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
if saved <= 100 << 20:
    fail(f"the plan saves only {saved} bytes")

_, l32, meas32 = run(job32, "fp32")
out, l16, meas16 = run(job16, "bf16-widen", {"HONE_CPU_BF16": "off"})
if "HONE_CPU_BF16=off" not in out or "frozen models stay stored in bf16" \
        not in out:
    fail("no note saying why the job trains in fp32")
print(f"measured peak: fp32 {meas32}, bf16 reference {meas16}")
if meas32 - meas16 < 0.6 * saved:
    fail(f"measured saving {meas32 - meas16} is under 60 % of the planned "
         f"{saved}")
if not l32 or len(l16) != len(l32):
    fail(f"losses {l32} / {l16}")
for a, b in zip(l32, l16):
    if abs(a - b) > 1e-3:
        fail(f"bf16-reference losses {l16} far from fp32 {l32}")
print(f"fp32 losses {l32}\nbf16-reference losses {l16}")
shutil.rmtree(work)
