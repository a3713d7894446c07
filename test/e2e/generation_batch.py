#!/usr/bin/env python3
"""hone-plan-memory's generation batch end to end (decision 4, docs/passes.md):
PPO compiled with hardware.memory_budget=4MiB fits only once its rollout's
hone.generate generates 2 rows at a time (micro_batch = 2, a remark and a
line of the plan's decisions). The job runs and generates what the
unconstrained job generates: the rollouts' completions/digest and
completions/mean_length are equal at its first 3 steps (each row draws the
Philox sample of its row in the whole batch; on this CPU the chunks'
prefill GEMMs may round log-probs differently, test/unit/model/GenerateTest.cpp
ChunkedEqualsWhole, but the tokens drawn here are the same), and its
measured peak stays within the budget.
Usage: generation_batch.py HONEC SPEC WORK"""
import json, os, re, shutil, subprocess, sys

honec, spec, work = sys.argv[1:4]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)


def fail(msg):
    sys.exit("FAIL: " + msg)


budget = ["hardware.memory_budget=4MiB"]
ir = os.path.join(work, "scheduled.mlir")
p = subprocess.run([honec, spec, *budget, "--compile-to=scheduled", "-o", ir],
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
print(p.stdout)
if p.returncode != 0:
    fail(f"PPO at 4 MiB: honec exit code {p.returncode}")
if not re.search(r"remark: hone-plan-memory: generation batch 4 -> 2 rows for "
                 r"hone\.generate \(micro_batch 2", p.stdout):
    fail("no generation-batch remark")
text = open(ir).read()
if not re.search(r"hone\.generate [^\n]*micro_batch = 2 : i64", text):
    fail("the generate has no micro_batch = 2")
if not re.search(r"decisions = \[[^\]]*generation batch 8 -> 4 rows", text):
    fail("the plan's decisions do not list the generation batch")


def run(name, extra):
    job = os.path.join(work, name + "-job")
    subprocess.run([honec, spec, *extra, "stages[0].rl.steps=3", "-o", job],
                   check=True)
    out = os.path.join(work, name)
    p = subprocess.run([job, "--device", "cpu", "--progress", "off", "--out",
                        out], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    print(p.stdout[-2000:])
    if p.returncode != 0:
        fail(f"{name}: job exit code {p.returncode}")
    rows = [json.loads(l) for l in open(os.path.join(out, "metrics.jsonl"))]
    gen = {(r.get("step"), k): r[k] for r in rows
           for k in ("completions/digest", "completions/mean_length") if k in r}
    mem = [r for r in rows if "memory/measured_peak_bytes" in r]
    return gen, mem


whole, _ = run("whole", [])
chunked, mem = run("chunked", budget)
if not whole or sorted(whole) != sorted(chunked):
    fail(f"rollout metrics differ in kind: {sorted(whole)} vs {sorted(chunked)}")
for key in sorted(whole):
    if whole[key] != chunked[key]:
        fail(f"{key}: chunked {chunked[key]}, whole {whole[key]}")
if len(mem) != 1 or mem[0]["memory/measured_peak_bytes"] > 4 * 1024 * 1024:
    fail(f"measured peak over the 4 MiB budget: {mem}")
shutil.rmtree(work, ignore_errors=True)
print(f"OK: {len(whole)} rollout metrics equal, measured peak "
      f"{mem[0]['memory/measured_peak_bytes']} bytes")
