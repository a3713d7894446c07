#!/usr/bin/env python3
"""Runs the small SFT -> GRPO arithmetic job and asserts the learning
signal: SFT loss falls, GRPO mean reward rises over the steps."""
import json, os, shutil, subprocess, sys

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
h = len(rl) // 2
r0, r1 = sum(rl[:h]) / h, sum(rl[h:]) / (len(rl) - h)
print(f"grpo reward: first half {r0:.3f} -> second half {r1:.3f}")
if not r1 > r0:
    sys.exit("FAIL: GRPO reward did not rise")
print("OK")
