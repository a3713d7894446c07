#!/usr/bin/env python3
"""The LM head's logits kept from the train step's forward for its backward
(docs/runtime.md "Kept logits"; hone-plan-memory's keep_logits): the
compiled plan keeps them for every train step of the SFT and SFT -> GRPO
examples (honec --report says so, the train steps carry keep_logits), and
the jobs log bit-identical metrics (every value that is not a timing or a
memory measurement) and save bit-identical final weights with the default
and with HONE_LM_KEEP=0 (recomputed); both runs stay within their plan (the
job's memory check: exit 0, no unplanned allocation). Under a budget that
the kept logits would break, the plan recomputes them (a decision) and the
job runs as well. Never asserts timings.
Usage: keep_logits.py HONEC EXAMPLES WORK"""
import hashlib, json, os, re, shutil, subprocess, sys

honec, examples, work = map(os.path.abspath, sys.argv[1:4])
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)

NOISE = re.compile(r"per_sec|time|seconds|_ms$|^elapsed|^memory/")
failed = False


def fail(msg):
    global failed
    print("FAIL: " + msg)
    failed = True


def run(d, out, keep):
    env = dict(os.environ)
    env.pop("HONE_LM_KEEP", None)
    if not keep:
        env["HONE_LM_KEEP"] = "0"
    p = subprocess.run(["./job", "--device", "cpu", "--out", out,
                        "--progress", "off"], cwd=d, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=300)
    if p.returncode != 0:
        fail(f"{d}: job ({'kept' if keep else 'HONE_LM_KEEP=0'}) exit code "
             f"{p.returncode}:\n{p.stdout[-2000:]}")
        return [], {}
    if not re.search(r"memory: measured peak .*, 0 unplanned", p.stdout):
        fail(f"{d}: no memory line with 0 unplanned allocations")
    rows = [json.loads(l) for l in open(os.path.join(d, out, "metrics.jsonl"))]
    digests = {}
    for root, _, files in os.walk(os.path.join(d, out)):
        for f in files:
            if f.endswith(".safetensors"):
                path = os.path.join(root, f)
                digests[os.path.relpath(path, os.path.join(d, out))] = \
                    hashlib.sha256(open(path, "rb").read()).hexdigest()
    return [r for r in rows if "stage" in r], digests


def compare(name, d):
    (m_on, w_on), (m_off, w_off) = run(d, "on", True), run(d, "off", False)
    if not m_on or len(m_on) != len(m_off):
        fail(f"{name}: {len(m_on)} metric rows kept, {len(m_off)} not")
        return
    compared = 0
    for step, (a, b) in enumerate(zip(m_on, m_off)):
        for k in sorted(k for k in a if not NOISE.search(k)):
            compared += 1
            if a[k] != b.get(k):
                fail(f"{name}: row {step + 1} {k}: kept {a[k]!r}, "
                     f"recomputed {b.get(k)!r}")
    if not w_on or w_on != w_off:
        fail(f"{name}: saved weights differ or none: {sorted(w_on)} vs "
             f"{sorted(w_off)}")
    print(f"{name}: {len(m_on)} metric rows, {compared} values bit-identical "
          f"kept vs recomputed; {len(w_on)} weight files identical")


def build(name, *overrides):
    d = os.path.join(work, name)
    src = os.path.join(examples, name.split("@")[0])
    shutil.copytree(src, d)
    rep = subprocess.run([honec, "spec.textproto", *overrides, "--report",
                          "--compile-to=exe", "-o", "job"], cwd=d, check=True,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True).stdout
    return d, rep


for example in ["sft", "sft-grpo"]:
    d, rep = build(example)
    kept = re.findall(r"logits: stage '([^']+)' hone\.train_step: policy "
                      r"keeps its LM head's logits", rep)
    if not kept:
        fail(f"{example}: the plan keeps no logits:\n{rep}")
    print(f"{example}: logits kept in stage(s) {', '.join(kept)}")
    compare(example, d)

# SFT with a budget just under the kept plan's peak (1 KiB less; the kept
# logits are 2.5 KiB): the plan recomputes the logits (a decision, before
# any that costs more compute) and fits.
d, rep = build("sft@budget")
subprocess.run([honec, "spec.textproto", "--compile-to=scheduled", "-o",
                "plan.mlir"], cwd=d, check=True, stderr=subprocess.DEVNULL)
peak = re.search(r"peak_bytes = (\d+)", open(os.path.join(d, "plan.mlir")).read())
if not peak:
    fail("sft: no peak_bytes in the scheduled IR")
else:
    budget = str(int(peak.group(1)) - 1024)
    shutil.rmtree(d)
    d, rep = build("sft@budget", f"hardware.memory_budget={budget}")
    decisions = re.findall(r"decision: (.*)", rep)
    if not re.search(r"recomputes its LM head's logits in backward "
                     r"\([0-9.]+ KiB not kept: over the memory budget\)", rep) \
            or len(decisions) != 1 or not decisions[0].startswith(
                "policy.activations: the LM head's logits recomputed in "
                "backward instead of kept"):
        fail(f"sft under {budget} bytes: not the logits decision alone:\n{rep}")
    else:
        print(f"sft under {budget} bytes: logits recomputed by the plan")
    compare("sft@budget", d)

if failed:
    sys.exit(1)
shutil.rmtree(work, ignore_errors=True)
