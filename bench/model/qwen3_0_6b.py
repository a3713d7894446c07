#!/usr/bin/env python3
"""Tokens/s of examples/qwen3-0.5b-lora (Qwen3-0.6B's shape, 0.6 B
parameters, random weights built offline by make_model.py) on the CPU:
SFT with LoRA (training tokens/s: the rows' tokens, forward + backward +
AdamW on the adapters, over the step's time) and generation (new tokens/s:
completions x their mean length over the `generate` op's time in
trace.json), at the example's GRPO batch (2 completions) and at larger
ones (`--gen-rows`, overriding stages[1].rl.batch_size). Absolute figures
of one run each on a shared machine: record the load average with them
(bench/RESULTS.md). Prints the measured and planned memory peaks too.
Usage: qwen3_0_6b.py HONEC [--layers N] [--gen-rows 2,16] [--work DIR]"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument("honec")
ap.add_argument("--layers", type=int, default=28)
ap.add_argument("--gen-rows", default="2,16")
ap.add_argument("--work", default=None)
a = ap.parse_args()
honec = os.path.abspath(a.honec)
example = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                       "examples", "qwen3-0.5b-lora")
work = a.work or tempfile.mkdtemp(prefix="hone-qwen3-bench-")
os.makedirs(work, exist_ok=True)
try:
    for f in ("spec.textproto", "qwen3-chats.jsonl", "qwen3-prompts.jsonl"):
        shutil.copy(os.path.join(example, f), work)
    subprocess.run([sys.executable, os.path.join(example, "make_model.py"),
                    os.path.join(work, "model"), "--layers", str(a.layers)], check=True)
    print(os.popen("uptime").read().strip())
    for rows in [int(x) for x in a.gen_rows.split(",")]:
        samples = 2 if rows <= 2 else 4
        over = [f"stages[1].rl.batch_size={rows}",
                f"stages[1].rl.generation.samples_per_prompt={samples}"]
        p = subprocess.run([honec, "spec.textproto", "-o", f"job{rows}"] + over,
                           cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if p.returncode != 0:
            sys.exit(f"honec failed:\n{p.stdout}")
        out = os.path.join(work, f"run{rows}")
        t0 = time.time()
        p = subprocess.run([os.path.join(work, f"job{rows}"), "--device", "cpu", "--progress", "off",
                            "--trace", "--out", out], cwd=work,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        wall = time.time() - t0
        if p.returncode != 0:
            sys.exit(f"job failed:\n{p.stdout[-3000:]}")
        rowsj = [json.loads(l) for l in open(os.path.join(out, "metrics.jsonl"))]
        sft = [r["tokens_per_sec"] for r in rowsj if r.get("stage") == 0 and "tokens_per_sec" in r]
        grpo = [r for r in rowsj if r.get("stage") == 1 and "completions/mean_length" in r]
        mem = [r for r in rowsj if "memory/measured_peak_bytes" in r]
        trace = json.load(open(os.path.join(out, "trace.json")))
        events = trace["traceEvents"] if isinstance(trace, dict) else trace
        gen = sum(e.get("dur", 0) / 1e6 for e in events
                  if e.get("ph") == "X" and e.get("name") == "generate")
        new = rows * grpo[0]["completions/mean_length"] if grpo else 0
        print(f"layers {a.layers}, GRPO completions {rows}: SFT training "
              f"{sum(sft) / len(sft):.2f} tokens/s ({', '.join(f'{x:.2f}' for x in sft)}); "
              f"generation {new:.0f} new tokens in {gen:.2f} s = {new / gen:.2f} tokens/s; "
              f"GRPO step {grpo[0].get('tokens_per_sec', 0):.2f} tokens/s; job {wall:.0f} s")
        if mem:
            print(f"  memory: measured peak {mem[-1]['memory/measured_peak_bytes'] / 2**30:.2f} GiB, "
                  f"planned {mem[-1]['memory/planned_peak_bytes'] / 2**30:.2f} GiB")
        print(os.popen("uptime").read().strip())
finally:
    if a.work is None:
        shutil.rmtree(work, ignore_errors=True)
