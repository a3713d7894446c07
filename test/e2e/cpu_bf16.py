#!/usr/bin/env python3
"""hardware.precision bf16 in a compiled job on the CPU. Where the CPU has
AVX-512 BF16 or AMX: the SFT losses stay within 5 % (+0.02) of the fp32
job's, the weights differ from the fp32 job's (bf16 really ran), and the
bf16 job is bit-identical on 1 and 2 threads. Elsewhere (also forced here with
oneDNN's ONEDNN_MAX_CPU_ISA=AVX512_CORE): the job says why in one note and
its weights are the fp32 job's, bit for bit.
Usage: cpu_bf16.py HONEC SPEC WORK"""
import json, os, shutil, subprocess, sys

honec, spec, work = sys.argv[1:4]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)


def build(precision):
    job = os.path.join(work, f"job-{precision}")
    subprocess.run([honec, spec, "stages[0].sft.loop.steps=8",
                    f"hardware.precision={precision}", "--compile-to=exe",
                    "-o", job], check=True)
    return job


def run(job, threads, env=None, tag=""):
    out = os.path.join(work, f"{os.path.basename(job)}-t{threads}{tag}")
    p = subprocess.run([job, "--device", "cpu", "--progress", "off",
                        "--threads", str(threads), "--out", out],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, env=dict(os.environ, **(env or {})))
    print(p.stdout)
    if p.returncode != 0:
        sys.exit(f"FAIL: {job} --threads {threads}: exit {p.returncode}")
    rows = [json.loads(l) for l in open(os.path.join(out, "metrics.jsonl"))]
    losses = [r["loss"] for r in rows if "stage" in r and "loss" in r]
    with open(os.path.join(out, "final", "model.safetensors"), "rb") as f:
        weights = f.read()
    return p.stdout, losses, weights


def check_fallback(out, w):
    if "note: hardware.precision bf16:" not in out or \
            "training in fp32" not in out:
        sys.exit("FAIL: no note saying the job trains in fp32")
    if w != w32:
        sys.exit("FAIL: bf16 unsupported, yet the weights differ from fp32")


fp32, bf16 = build("fp32"), build("bf16")
_, l32, w32 = run(fp32, 2)
# A CPU without AVX-512 BF16, as oneDNN sees it.
out, _, w = run(bf16, 2, {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE",
                          "DNNL_MAX_CPU_ISA": "AVX512_CORE"}, "-noisa")
check_fallback(out, w)
out, l16, w16 = run(bf16, 2)
if "note: hardware.precision bf16:" in out:
    check_fallback(out, w16)
    print("bf16 unsupported here: fp32 fallback checked")
    shutil.rmtree(work)
    sys.exit(0)
if len(l16) != 8 or len(l32) != 8:
    sys.exit(f"FAIL: logged losses {l32} / {l16}")
for a, b in zip(l32, l16):
    if abs(a - b) > 0.05 * abs(a) + 0.02:
        sys.exit(f"FAIL: bf16 losses {l16} far from fp32 {l32}")
if w16 == w32:
    sys.exit("FAIL: bf16 weights equal the fp32 weights (bf16 not used?)")
_, l16b, w16b = run(bf16, 1)
if w16b != w16:
    sys.exit("FAIL: bf16 weights differ between 1 and 2 threads")
print(f"fp32 losses {l32}\nbf16 losses {l16}")
shutil.rmtree(work)
