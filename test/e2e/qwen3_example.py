#!/usr/bin/env python3
"""examples/qwen3-0.5b-lora end to end: build the 0.6 B-parameter Qwen3
model offline (make_model.py, random weights), print the memory plan
(`honec --report`), compile, run SFT with LoRA (2 steps) then GRPO with the
same adapters (1 step) on the CPU, and check the metrics and the PEFT
adapter save. Prints the training and GRPO tokens/s of the run.
Usage: qwen3_example.py HONEC EXAMPLE_DIR WORK [make_model.py options]
                        [hone:KEY=VALUE ...]
hone:KEY=VALUE arguments are honec's spec overrides; with
hone:hardware.frozen_precision=bf16 the scheduled IR must keep the loaded
base in bf16 (storage = "bf16": LoRA on a bf16 base)."""
import json, os, shutil, subprocess, sys, time

honec, example, work = map(os.path.abspath, sys.argv[1:4])
extra = [a for a in sys.argv[4:] if not a.startswith("hone:")]
overrides = [a[len("hone:"):] for a in sys.argv[4:] if a.startswith("hone:")]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
for f in ("spec.textproto", "qwen3-chats.jsonl", "qwen3-prompts.jsonl"):
    shutil.copy(os.path.join(example, f), work)
t0 = time.time()
subprocess.run([sys.executable, os.path.join(example, "make_model.py"),
                os.path.join(work, "model")] + extra, check=True)
print(f"model written in {time.time() - t0:.0f} s")
p = subprocess.run([honec, "spec.textproto", *overrides, "--report", "-o", "job"],
                   cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                   text=True)
print(p.stdout)
if p.returncode != 0:
    sys.exit(f"FAIL: honec exited {p.returncode}")
if "hardware.frozen_precision=bf16" in overrides:
    ir = subprocess.run([honec, "spec.textproto", *overrides,
                         "--compile-to=scheduled"], cwd=work,
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                        text=True)
    load = [l for l in ir.stdout.splitlines() if "hone.model.load" in l]
    if ir.returncode != 0 or not load or 'storage = "bf16"' not in load[0]:
        sys.exit("FAIL: the LoRA base is not kept in bf16: " + "\n".join(load))
    print("scheduled IR: " + load[0].strip())
if "peak" not in p.stdout.lower():
    sys.exit("FAIL: no memory plan in honec --report")
t0 = time.time()
p = subprocess.run([os.path.join(work, "job"), "--device", "cpu", "--progress", "off",
                    "--trace", "--out", os.path.join(work, "run")], cwd=work,
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                   timeout=3000)
print(p.stdout[-4000:])
print(f"job ran in {time.time() - t0:.0f} s")
if p.returncode != 0:
    sys.exit(f"FAIL: the job exited {p.returncode}")
rows = [json.loads(l) for l in open(os.path.join(work, "run", "metrics.jsonl"))]
for r in rows:
    print(json.dumps(r))
# "stage" is the stage's index (0: sft, 1: grpo).
sft = [r for r in rows if r.get("stage") in (0, "sft") and "loss" in r]
grpo = [r for r in rows if r.get("stage") in (1, "grpo") and "step" in r]
if len(sft) < 2 or not grpo:
    sys.exit(f"FAIL: expected 2 SFT steps and a GRPO step in metrics.jsonl")
# Throughput: SFT steps from the metrics (trained tokens / step time); the
# generation op of the GRPO step from the trace (generated tokens / its time).
sft_tps = [r["tokens_per_sec"] for r in sft if "tokens_per_sec" in r]
if sft_tps:
    print(f"SFT training: {sum(sft_tps) / len(sft_tps):.1f} tokens/s "
          f"(steps: {', '.join(f'{x:.1f}' for x in sft_tps)})")
for r in grpo:
    if "tokens_per_sec" in r:
        print(f"GRPO step (generation + training): {r['tokens_per_sec']:.1f} tokens/s")
try:
    trace = json.load(open(os.path.join(work, "run", "trace.json")))
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    by_name = {}
    for e in events:
        if e.get("ph") == "X":
            by_name.setdefault(e.get("name", "?"), []).append(e.get("dur", 0) / 1e6)
    for name, durs in sorted(by_name.items(), key=lambda kv: -sum(kv[1]))[:12]:
        print(f"trace: {name}: {len(durs)} x, {sum(durs):.2f} s")
    gen = sum(sum(d) for n, d in by_name.items() if "generat" in n.lower())
    mean_len = [r["completions/mean_length"] for r in grpo if "completions/mean_length" in r]
    if gen > 0 and mean_len:
        rows = 2  # rl.batch_size: completions per step (spec)
        print(f"generation: {rows * mean_len[0]:.0f} tokens in {gen:.2f} s = "
              f"{rows * mean_len[0] / gen:.2f} tokens/s")
except (OSError, ValueError, KeyError) as e:
    print("no trace:", e)
adapter = None
for root, _, files in os.walk(os.path.join(work, "run")):
    if "adapter_model.safetensors" in files and "adapter_config.json" in files:
        adapter = root
if adapter is None:
    sys.exit("FAIL: no PEFT adapter (adapter_model.safetensors + "
             "adapter_config.json) saved")
cfg = json.load(open(os.path.join(adapter, "adapter_config.json")))
print("adapter:", adapter, cfg.get("r"), cfg.get("lora_alpha"))
shutil.rmtree(work)
print("PASS")
