#!/usr/bin/env python3
"""hone-pack-sequences on/off: SFT tokens per second of one spec compiled
with the pass (the default) and with --no-pack-sequences (padded forwards).

  bench/fusion/pack.py [--honec build/bin/honec] [--runs 3] [--steps 8]
                       [--seq 128] [--batch 16] [--d-model 256]
                       [--layers 4] [override ...]

The dataset (written to a temporary folder) has 512 prompt/completion
records whose token counts (prompt, completion, EOS: one character one
token) are uniform between a quarter of and the full sequence length SEQ,
so the stage's length from the data is SEQ. The model is the SFT example's
Llama-family model sized up (d_model, layers, 4 heads, 2 KV heads,
max_seq_len SEQ), completion-only loss. Both programs are compiled from the
same spec and overrides; their step IR shapes are the same, the packed one
carries `packed` on its train step. The two jobs run alternately
(interleaved), RUNS times each; printed: the median rate of training steps
from the job's own `tokens_per_sec` (steps 2 and later: the job counts the
same tokens in both programs, so the ratio of its rates is that of the step
times), the jobs' wall time per step (start-up included) and the real
(unpadded) tokens per second it makes, the same per CPU-second (user +
system from wait4: the figure on a loaded machine), the ratios packed/padded, and the
largest relative difference between the two loss curves (float rounding:
GEMMs over fewer rows).
"""
import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SPEC = """name: "sft-pack-bench"
seed: 1
tokenizer {{ chars {{ alphabet: "0123456789+= " }} }}
models {{
  name: "policy"
  init {{ family: llama d_model: {d} layers: {layers} heads: 4 kv_heads: 2
         max_seq_len: {seq} }}
}}
datasets {{ name: "rows" path: "train.jsonl" layout: prompt_completion }}
optimizer {{ lr: 1e-3 schedule: constant_lr }}
stages {{
  name: "sft"
  model: "policy"
  dataset: "rows"
  sft {{ loop {{ steps: {steps} batch_size: {batch} }} }}
}}
"""


def write_data(path, seq, n, seed=7):
    rng = random.Random(seed)
    with open(path, "w") as f:
        for i in range(n):
            # Total tokens (prompt + completion + EOS) uniform in
            # [seq/4, seq]; the first record is the longest.
            total = seq if i == 0 else rng.randint(seq // 4, seq)
            a, b = rng.randint(10, 99), rng.randint(10, 99)
            prompt = f"{a}+{b}="
            body = total - len(prompt) - 1
            digits = str(a + b)
            completion = (digits * (body // len(digits) + 1))[:body]
            f.write(json.dumps({"prompt": prompt, "completion": completion}) + "\n")


def run_job(job, out, cwd):
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    p = subprocess.Popen([job, "--device", "cpu", "--out", out, "--progress",
                          "off"], cwd=cwd, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    dt = time.perf_counter() - t0
    if status != 0:
        sys.exit(f"error: {job} failed ({status}):\n{err}")
    rows = [json.loads(l) for l in open(os.path.join(out, "metrics.jsonl"))]
    return dt, [r for r in rows if "stage" in r], ru.ru_utime + ru.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--honec", default=os.path.join(ROOT, "build/bin/honec"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--d-model", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("overrides", nargs="*")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="hone-bench-pack-")
    try:
        write_data(os.path.join(work, "train.jsonl"), a.seq, 512)
        spec = os.path.join(work, "spec.textproto")
        with open(spec, "w") as f:
            f.write(SPEC.format(d=a.d_model, layers=a.layers, seq=a.seq,
                                steps=a.steps, batch=a.batch))
        jobs = {}
        for mode, flags in (("packed", []), ("padded", ["--no-pack-sequences"])):
            ir = subprocess.run([a.honec, spec, *a.overrides, *flags,
                                 "--compile-to=step"], check=True, cwd=work,
                                capture_output=True, text=True)
            marked = "packed = array" in ir.stdout
            if marked != (mode == "packed"):
                sys.exit(f"error: the {mode} step IR {'lacks' if not marked else 'has'} `packed`")
            jobs[mode] = os.path.join(work, f"job-{mode}")
            subprocess.run([a.honec, spec, *a.overrides, *flags,
                            "--compile-to=exe", "-o", jobs[mode]], check=True,
                           cwd=work, stderr=subprocess.DEVNULL)
        # Real tokens per step: the batches are the same in both programs.
        with open(os.path.join(work, "train.jsonl")) as f:
            lens = [len(r["prompt"]) + len(r["completion"]) + 1
                    for r in map(json.loads, f)]
        mean_len = statistics.mean(lens)
        times = {"packed": [], "padded": []}
        cpu = {"packed": [], "padded": []}
        rates = {"packed": [], "padded": []}
        losses = {}
        for _ in range(a.runs):
            for mode in ("packed", "padded"):
                dt, train, c = run_job(jobs[mode],
                                       os.path.join(work, "run-" + mode), work)
                times[mode].append(dt / len(train))
                cpu[mode].append(c / len(train))
                rates[mode] += [r["tokens_per_sec"] for r in train[1:]]
                losses[mode] = [r.get("loss") for r in train]
        tk, tp = statistics.median(times["packed"]), statistics.median(times["padded"])
        rk, rp = statistics.median(rates["packed"]), statistics.median(rates["padded"])
        tok = a.batch * mean_len
        worst = max(abs(x - y) / max(abs(y), 1e-12)
                    for x, y in zip(losses["packed"], losses["padded"]))
        print(f"SFT, lengths uniform in [{a.seq // 4}, {a.seq}] (mean {mean_len:.1f}), "
              f"batch {a.batch}, llama d_model {a.d_model} x {a.layers} layers, "
              f"{a.steps} steps, {a.runs} runs each, interleaved")
        print(f"  job's tokens_per_sec (steps 2+, median): packed {rk:.0f}, "
              f"padded {rp:.0f}; ratio {rk / rp:.2f}x")
        print(f"  wall (start-up included): packed {tk * 1e3:.1f} ms/step "
              f"({tok / tk:.0f} real tokens/s), padded {tp * 1e3:.1f} ms/step "
              f"({tok / tp:.0f} real tokens/s); ratio {tp / tk:.2f}x")
        ck, cp = statistics.median(cpu["packed"]), statistics.median(cpu["padded"])
        print(f"  CPU (start-up included; the figure for a loaded machine): "
              f"packed {ck * 1e3:.1f} ms/step ({tok / ck:.0f} real tokens per "
              f"CPU-second), padded {cp * 1e3:.1f} ms/step ({tok / cp:.0f}); "
              f"ratio {cp / ck:.2f}x")
        print(f"  loss curves ({len(losses['packed'])} steps): largest relative "
              f"difference {worst:.2e}")
        print(f"  packed {['%.6f' % x for x in losses['packed']]}")
        print(f"  padded {['%.6f' % x for x in losses['padded']]}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
