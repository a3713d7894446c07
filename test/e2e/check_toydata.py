#!/usr/bin/env python3
"""hone-toydata: seeded, valid JSONL in both layouts, OOD sizes, errors."""
import json, subprocess, sys

tool = sys.argv[1]
def run(*a):
    return subprocess.run([tool, *a], capture_output=True, text=True)
a = run("--task", "addition", "--n", "50", "--min", "2", "--max", "3", "--seed", "4")
b = run("--task", "addition", "--n", "50", "--min", "2", "--max", "3", "--seed", "4")
assert a.returncode == 0 and a.stdout == b.stdout, a.stderr
vocab = set(run("--vocab").stdout.strip("\n"))
for line in a.stdout.splitlines():
    r = json.loads(line)
    assert set(r) == {"prompt", "answer"}, r
    assert set(r["prompt"]) <= vocab and set(r["answer"]) <= vocab, r
ood = run("--task", "multiplication", "--n", "20", "--min", "5", "--max", "5",
          "--layout", "prompt_completion")
for line in ood.stdout.splitlines():
    r = json.loads(line)
    assert "completion" in r
for t in ("sorting", "parity"):
    assert run("--task", t, "--n", "5").returncode == 0
bad = run("--task", "division")
assert bad.returncode == 1 and "unknown toy task" in bad.stderr, bad.stderr
assert run("--n", "-3").returncode == 1
print("OK")
