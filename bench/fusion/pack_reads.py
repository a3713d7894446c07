#!/usr/bin/env python3
"""hone-pack-sequences on frozen reads: the DPO reference's log-probs
(one hone.logprob over chosen and rejected) packed to the pairs' loss masks
against padded, measured per op from the job's trace.

  bench/fusion/pack_reads.py [--honec build/bin/honec] [--runs 3]
                             [--steps 6] [--seq 128] [--batch 16]
                             [--d-model 256] [--layers 4] [override ...]

The dataset (written to a temporary folder) has 256 preference pairs whose
prompt + answer token counts (one character one token, EOS included) are
uniform between a quarter of and the full sequence length SEQ, so the
stage's length from the data is SEQ. The model is the DPO example's
Llama-family model sized up (d_model, layers, 4 heads, 2 KV heads,
max_seq_len SEQ); the reference is the frozen starting policy. The spec is
compiled twice: with the pass (the default: the reference read carries
`packed(...)` masks, the train step `packed`) and with --no-pack-sequences
(both padded). The two jobs run alternately (interleaved), RUNS times each,
with --trace; printed: the median duration of the reference's
hone.logprob op (steps 2 and later, from trace.json) and of a whole step,
the jobs' wall and CPU time per step (the CPU time is the steadier figure
on a loaded machine; it covers the train step's packing too), their ratios
padded/packed, and the largest relative difference between the two
programs' loss curves (float rounding).
"""
import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SPEC = """name: "dpo-pack-reads-bench"
seed: 1
tokenizer {{ chars {{ alphabet: "0123456789+= " }} }}
models {{
  name: "policy"
  init {{ family: llama d_model: {d} layers: {layers} heads: 4 kv_heads: 2
         max_seq_len: {seq} }}
}}
datasets {{ name: "pairs" path: "pairs.jsonl" layout: preference }}
optimizer {{ lr: 5e-4 schedule: constant_lr }}
stages {{
  dataset: "pairs"
  preference {{ loss: dpo beta: 0.1 loop {{ steps: {steps} batch_size: {batch} }} }}
}}
"""


def write_data(path, seq, n, seed=7):
    rng = random.Random(seed)
    with open(path, "w") as f:
        for i in range(n):
            a, b = rng.randint(10, 99), rng.randint(10, 99)
            prompt = f"{a}+{b}="
            row = {"prompt": prompt}
            for key, digits in (("chosen", str(a + b)), ("rejected", str(a + b + 1))):
                # prompt + answer + EOS uniform in [seq/4, seq]; the first
                # record is the longest.
                total = seq if i == 0 else rng.randint(seq // 4, seq)
                body = total - len(prompt) - 1
                row[key] = (digits * (body // len(digits) + 1))[:body]
            f.write(json.dumps(row) + "\n")


def run_job(job, out, cwd):
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run([job, "--device", "cpu", "--out", out, "--progress",
                        "off", "--trace"], cwd=cwd, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    if p.returncode != 0:
        sys.exit(f"error: {job} failed ({p.returncode}):\n{p.stderr}")
    rows = [json.loads(l) for l in open(os.path.join(out, "metrics.jsonl"))]
    trace = json.load(open(os.path.join(out, "trace.json")))["traceEvents"]
    reads = [e["dur"] for e in trace if e.get("ph") == "X" and e["name"] == "logprob"]
    steps = [e["dur"] for e in trace if e.get("ph") == "X" and e["name"] == "train_step"]
    return dt, cpu, [r for r in rows if "stage" in r], reads, steps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--honec", default=os.path.join(ROOT, "build/bin/honec"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--d-model", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("overrides", nargs="*")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="hone-bench-pack-reads-")
    try:
        write_data(os.path.join(work, "pairs.jsonl"), a.seq, 256)
        spec = os.path.join(work, "spec.textproto")
        with open(spec, "w") as f:
            f.write(SPEC.format(d=a.d_model, layers=a.layers, seq=a.seq,
                                steps=a.steps, batch=a.batch))
        jobs = {}
        for mode, flags in (("packed", []), ("padded", ["--no-pack-sequences"])):
            ir = subprocess.run([a.honec, spec, *a.overrides, *flags,
                                 "--compile-to=step"], check=True, cwd=work,
                                capture_output=True, text=True).stdout
            marked = " packed(" in ir
            if marked != (mode == "packed"):
                sys.exit(f"error: the {mode} step IR {'lacks' if not marked else 'has'}"
                         " a packed hone.logprob")
            jobs[mode] = os.path.join(work, f"job-{mode}")
            subprocess.run([a.honec, spec, *a.overrides, *flags,
                            "--compile-to=exe", "-o", jobs[mode]], check=True,
                           cwd=work, stderr=subprocess.DEVNULL)
        reads = {"packed": [], "padded": []}
        steps = {"packed": [], "padded": []}
        walls = {"packed": [], "padded": []}
        cpus = {"packed": [], "padded": []}
        losses = {}
        for _ in range(a.runs):
            for mode in ("packed", "padded"):
                dt, cpu, train, r, s = run_job(jobs[mode],
                                          os.path.join(work, "run-" + mode), work)
                if len(r) != len(train) or len(s) != len(train):
                    sys.exit(f"error: {mode}: {len(r)} reference reads and "
                             f"{len(s)} train steps traced for {len(train)} steps")
                reads[mode] += r[1:]
                steps[mode] += s[1:]
                walls[mode].append(dt / len(train))
                cpus[mode].append(cpu / len(train))
                losses[mode] = [x.get("loss") for x in train]
        med = {k: {m: statistics.median(v[m]) for m in v}
               for k, v in (("read", reads), ("step", steps), ("wall", walls),
                            ("cpu", cpus))}
        worst = max(abs(x - y) / max(abs(y), 1e-12)
                    for x, y in zip(losses["packed"], losses["padded"]))
        print(f"DPO reference read, pair lengths uniform in [{a.seq // 4}, {a.seq}], "
              f"batch {a.batch} pairs, llama d_model {a.d_model} x {a.layers} layers, "
              f"{a.steps} steps, {a.runs} runs each, interleaved")
        for k, what in (("read", "reference hone.logprob (chosen + rejected), wall"),
                        ("step", "train step, wall"),
                        ("wall", "job wall per step (start-up included)"),
                        ("cpu", "job CPU time per step (start-up included)")):
            scale = 1e-3 if k in ("read", "step") else 1e3
            pk, pd = med[k]["packed"] * scale, med[k]["padded"] * scale
            print(f"  {what}: packed {pk:.1f} ms, padded {pd:.1f} ms; "
                  f"ratio {pd / pk:.2f}x")
        print(f"  loss curves ({len(losses['packed'])} steps): largest relative "
              f"difference {worst:.2e}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
