#!/usr/bin/env python3
"""Rows that train nothing in a compiled SFT job: prompts longer than
max_seq_len (32 here) leave no trainable token after truncation. Some such
rows: the job runs and reports them with counts at the stage's end. Only
such rows: the job ends with exit 1 at the first batch (it used to train on
nothing, loss 0, and exit 0). Empty completions train the EOS token.
Usage: untrained_rows.py HONEC SPEC WORK"""
import json, os, re, shutil, subprocess, sys

honec, spec, work = sys.argv[1:4]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
long_prompt = "1+" * 20 + "1="  # 42 characters: fills the 32 positions


def run(name, rows, steps=4):
    d = os.path.join(work, name)
    os.makedirs(d)
    data = os.path.join(d, "train.jsonl")
    with open(data, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    job = os.path.join(d, "job")
    subprocess.run([honec, spec, f"datasets[0].path={data}",
                    f"stages[0].sft.loop.steps={steps}", "--compile-to=exe",
                    "-o", job], check=True)
    p = subprocess.run([job, "--device", "cpu", "--progress", "off",
                        "--out", os.path.join(d, "run")],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=120)
    print(f"--- {name}: exit {p.returncode}\n{p.stdout}")
    return p, d


ok = [{"prompt": "1+2=", "completion": "3"}]
# 1 in 4 rows untrainable, 4 steps of 4 rows: 4 of 16.
p, _ = run("some", ok * 3 + [{"prompt": long_prompt, "completion": "21"}])
if p.returncode != 0:
    sys.exit("FAIL: some: the job failed")
if "warning: 4 of 16 rows of" not in p.stdout or \
        "had no trainable token after truncation (first: line 4)" not in p.stdout:
    sys.exit("FAIL: some: no warning with counts")

p, _ = run("all", [{"prompt": long_prompt, "completion": "21"}] * 4)
if p.returncode != 1:
    sys.exit(f"FAIL: all: exit code {p.returncode}, expected 1")
if not re.search(r"train\.jsonl:[1-4]: no row of the first batch \(4\) has "
                 r"a trainable token within 32 tokens", p.stdout):
    sys.exit("FAIL: all: no located error")

p, d = run("empty-completions", [{"prompt": "1+2=", "completion": ""}] * 4)
if p.returncode != 0:
    sys.exit("FAIL: empty completions: the job failed")
rows = [json.loads(l) for l in open(os.path.join(d, "run", "metrics.jsonl"))]
losses = [r["loss"] for r in rows if "loss" in r]
if not losses or min(losses) <= 0:
    sys.exit(f"FAIL: empty completions: losses {losses} (EOS not trained)")
shutil.rmtree(work)
print("OK: untrainable rows counted, refused when all are; EOS trained")
