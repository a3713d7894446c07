#!/usr/bin/env python3
"""Compiled jobs with one environment setting against another, interleaved.

  bench/gemm/jobs_ab.py [--build build] [--rounds R] [--threads 2]
                        [--only grpo-small,sft-512,sft-512-bf16]
                        [--env NAME=A,B]
                        [--builds DIR_A,DIR_B]

Runs the same compiled job (same binary, same spec) alternately with the
environment variable NAME set to A and to B (default: HONE_CPU_SGEMM=
openblas,auto: every fp32 GEMM on OpenBLAS against the per-shape choice of
kernels/cpu/Gemm.cpp; "auto" leaves it unset), R rounds of A, B, A, B, ...
so load from other work on a shared machine hits both alike. With
--builds, the two settings are two build directories instead (the same
spec compiled by each one's honec, so each job links that build's
kernels: before/after a kernel change), run alternately the same way. Per-step wall
times come from `./job --trace` (one step's first op to the next one's;
the first step of each run is dropped); CPU seconds per steady-state step
as bench/peers does it: (process CPU of the job - CPU of the same job
compiled with one step) / (steps - 1), all threads. The first step's loss
of each setting is printed: another GEMM library rounds differently, so
they agree to float rounding, not bit for bit.

Workloads (bench/peers/run.py's, without the peers):
  grpo-small  the README example's model shape (d_model 64 x 2 layers, 4
              heads, ffn 256), GRPO 32 prompts x 8 samples, 5 new tokens,
              10 steps from the initial weights.
  sft-512     GPT-2 d_model 512 x 8 layers, vocabulary 8192, SFT 4 x 256
              tokens, 4 steps, every row computed (HONE_SHARE_PREFIX=0, as
              bench/peers runs it: the repeated row would otherwise run once
              per batch).
  sft-512-bf16  the same with hardware.precision bf16.
Nothing is left behind.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench", "peers"))
import run as peers  # noqa: E402  (bench/peers/run.py: specs, traces, timing)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default="grpo-small,sft-512")
    ap.add_argument("--env", default="HONE_CPU_SGEMM=openblas,auto")
    ap.add_argument("--builds", default="",
                    help="DIR_A,DIR_B: compare two builds instead of --env")
    a = ap.parse_args()
    name, vals = a.env.split("=", 1)
    settings = vals.split(",")
    builds = {}
    if a.builds:
        dirs = [os.path.abspath(d) for d in a.builds.split(",")]
        if len(dirs) != 2:
            print("bench/gemm/jobs_ab: --builds takes two build directories")
            return 1
        name, settings = "", ["A", "B"]
        builds = dict(zip(settings, dirs))
    for d in builds.values() or [a.build]:
        if not os.path.exists(os.path.join(d, "bin", "honec")):
            print(f"bench/gemm/jobs_ab: no {d}/bin/honec (build first)")
            return 0
    work = tempfile.mkdtemp(prefix="hone-jobs-ab-")
    try:
        return drive(a, name, settings, work, builds)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def drive(a, name, settings, work, builds):
    b = peers.Bench(a, None, work)
    data = os.path.join(ROOT, "examples", "arith")
    what = (f"builds A={builds['A']} B={builds['B']}" if builds
            else f"{name} in {settings}")
    print(f"bench/gemm/jobs_ab {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
          f"{what}, {a.rounds} interleaved rounds, {a.threads} threads")
    print(f"machine: {peers.machine()}; load average at start: {peers.load()}")
    jobs = {}
    only = a.only.split(",")
    def compiled(spec, s):
        if not builds:
            return b.compile(spec)
        job = spec[:-len(".textproto")] + "-" + s + ".job"
        subprocess.run([os.path.join(builds[s], "bin", "honec"), spec, "-o", job],
                       check=True)
        return job

    def both(w, make, op, steps):
        full, one = make(w, steps), make(w + "-1", 1)
        jobs[w] = ({s: compiled(full, s) for s in settings},
                   {s: compiled(one, s) for s in settings}, op, steps)

    if "grpo-small" in only:
        g = peers.GRPO
        both("grpo-small", lambda nm, steps: b.spec(nm, f"""
models {{ name: "policy" init {{ family: gpt2 d_model: 64 layers: 2 heads: 4 ffn: 256 max_seq_len: 64 }} }}
datasets {{ name: "prompts" path: "{data}/prompts.jsonl" }}
rewards {{ name: "correct" exact_match {{ }} }}
generation {{ max_new_tokens: 5 }}
checkpointing {{ every_steps: 0 }}
hardware {{ threads: {a.threads} }}
stages {{
  name: "grpo" model: "policy" dataset: "prompts"
  optimizer {{ lr: {g['lr']} schedule: constant_lr }}
  rl {{
    algorithm: grpo steps: {steps} batch_size: {32 * g['samples']}
    beta: {g['beta']} rewards: "correct"
    generation {{ samples_per_prompt: {g['samples']} temperature: {g['temperature']} }}
    max_prompt_length: {g['max_prompt_length']}
  }}
}}
"""), "generate", 10)
    sft = [w for w in ("sft-512", "sft-512-bf16") if w in only]
    if sft:
        comp = "".join(peers.ALPHABET[(i * 7) % len(peers.ALPHABET)] for i in range(254))
        with open(os.path.join(work, "sft.jsonl"), "w") as f:
            for _ in range(64):
                f.write(json.dumps({"prompt": "a", "completion": comp}) + "\n")
    for w in sft:
        prec = "bf16" if w.endswith("bf16") else "fp32"
        both(w, lambda nm, steps, prec=prec: b.spec(nm, f"""
models {{ name: "policy" init {{ family: gpt2 d_model: 512 layers: 8 heads: 8 ffn: 2048 max_seq_len: 256 vocab: 8192 }} }}
datasets {{ name: "train" path: "{work}/sft.jsonl" }}
checkpointing {{ every_steps: 0 }}
hardware {{ threads: {a.threads} precision: {prec} }}
stages {{
  name: "sft" dataset: "train"
  optimizer {{ lr: 1e-4 schedule: constant_lr }}
  sft {{ loop {{ steps: {steps} batch_size: 4 max_length: 256 }} }}
}}
"""), "train_step", 4)

    res = {(w, s): {"step": [], "cpu": [], "cpu1": [], "loss": None}
           for w in jobs for s in settings}

    def run(job, w, s):
        env = dict(os.environ)
        if w.startswith("sft-512"):
            env["HONE_SHARE_PREFIX"] = "0"
        if name:
            env.pop(name, None)
            if s != "auto":
                env[name] = s
        out = os.path.join(work, f"run-{w}-{s}")
        shutil.rmtree(out, ignore_errors=True)
        cmd = [job, "--device", "cpu", "--out", out, "--progress", "off",
               "--threads", str(a.threads), "--trace"]
        wall, cpu, _ = peers.run_timed(cmd, env=env, cwd=work)
        return out, cpu

    for r in range(a.rounds):
        for w, (job, job1, op, nsteps) in jobs.items():
            for s in settings:
                out, cpu = run(job[s], w, s)
                x = res[(w, s)]
                x["step"] += peers.steady(b.hone_steps(out, op, 0, cpu), 1)
                x["cpu"].append(cpu)
                if r == 0:
                    x["cpu1"].append(run(job1[s], w, s)[1])
                with open(os.path.join(out, "metrics.jsonl")) as f:
                    x["loss"] = json.loads(f.readline()).get("loss")
        print(f"  round {r + 1} done (load {peers.load()})", flush=True)

    print(f"\n{'workload':12s} {'setting':10s} {'s/step':>8s} {'CPU s/step':>10s} "
          f"{'first loss':>12s}")
    for w in jobs:
        base = None
        nsteps = jobs[w][3]
        for s in settings:
            x = res[(w, s)]
            st = statistics.median(x["step"])
            cp = (statistics.median(x["cpu"]) - x["cpu1"][0]) / (nsteps - 1)
            print(f"{w:12s} {s:10s} {st:8.3f} {cp:10.3f} {x['loss']:12.6f}")
            if base is None:
                base = (st, cp)
            else:
                print(f"{'':12s} {settings[0]} / {s}: {base[0] / st:.2f}x wall per step, "
                      f"{base[1] / cp:.2f}x CPU per step")
    print(f"load average at end: {peers.load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
