#!/usr/bin/env python3
"""Runs the small SFT -> GRPO arithmetic job and asserts the learning
signal: SFT loss falls, and GRPO raises held-out (greedy) accuracy over SFT.
CPU runs are bit-reproducible, so the comparison is deterministic."""
import json, os, re, shutil, subprocess, sys

exe, work = sys.argv[1], sys.argv[2]
shutil.rmtree(work, ignore_errors=True)
out = subprocess.run([exe, "--preset", "small", "--out", work, "--progress", "lines"],
                     capture_output=True, text=True)
print(out.stdout)
if out.returncode != 0:
    print(out.stderr)
    sys.exit("FAIL: job failed")
rows = [json.loads(l) for l in open(os.path.join(work, "metrics.jsonl"))]
sft = [r["loss"] for r in rows if r.get("stage") == 0]
rl = [r["reward"] for r in rows if r.get("stage") == 1]
k = max(1, len(sft) // 5)
first, last = sum(sft[:k]) / k, sum(sft[-k:]) / k
print(f"sft loss: first {first:.3f} -> last {last:.3f}")
if not last < 0.8 * first:
    sys.exit("FAIL: SFT loss did not fall")
if not rl:
    sys.exit("FAIL: no GRPO steps logged")
acc = dict(re.findall(r"after (sft|grpo): held-out accuracy ([0-9.]+)", out.stdout))
if set(acc) != {"sft", "grpo"}:
    sys.exit("FAIL: accuracies not printed")
print(f"held-out accuracy: after sft {acc['sft']} -> after grpo {acc['grpo']}")
if not float(acc["grpo"]) > float(acc["sft"]):
    sys.exit("FAIL: GRPO did not raise held-out accuracy")
print("OK")
