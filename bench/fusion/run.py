#!/usr/bin/env python3
"""hone-fuse-forwards on/off: step time of one spec compiled with the pass
and with --no-fuse-forwards, and forwards per iteration of every example.

  bench/fusion/run.py [--honec build/bin/honec] [--runs 5]
                      [--examples dpo,reward-model] [--no-table]
                      [--off FLAG] [override ...]

--off names the honec flag of the "off" program (default
--no-fuse-forwards; e.g. --off=--no-pack-sequences compares packing on/off
the same way: "fused" then reads "on", "unfused" "off").

For each example it compiles examples/EXAMPLE/spec.textproto twice (same
overrides; default: the model sized up to d_model 256, 4 layers, 64
positions, batch 8, so that the model's work dominates), then runs the two
jobs alternately, RUNS times each, and prints the median wall time per
training step of each and the ratio unfused/fused (> 1: fusion is faster),
beside the FLOP ratio honec --report states. The step time is the job's
wall time divided by its training steps (start-up is included: a few ms);
its CPU time (user + system, from the job's rusage) per step and that ratio
are printed too, the steadier figure on a loaded machine. Both include the
job's start-up (model initialisation, the arena's pages), the checkpoint
and final save (SHA-256 of every file) and the first step, which fusion
does not change (bench/RESULTS.md: a 1-step DPO job's CPU is ~0.4 s, a
steady step ~0.06 s at the default size); so each job is also compiled with twice the steps (--steps S sets S,
default 12; preference, reward-model, chord, srft and hpt), and the steady step's
CPU time is the difference of the two jobs' CPU times over the S extra
steps (start-up, save and warm-up cancel), median over the runs.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIZE = ["models[0].init.d_model=256", "models[0].init.layers=4",
        "models[0].init.max_seq_len=64"]
BATCH = {ex: "stages[0].preference.loop.batch_size=8"
         for ex in ("dpo", "ipo", "kto", "orpo", "simpo")}
BATCH["reward-model"] = "stages[0].reward_model.loop.batch_size=8"
# The steps setting of each example's stage (the steady-step difference).
STEPS = {ex: b.replace("batch_size=8", "steps={}") for ex, b in BATCH.items()}
# SFT+RL hybrids (CHORD, SRFT, HPT): their rollouts and demonstrations
# fused (hone-fuse-forwards); the example's own batch (8 rollouts of 2
# prompts, 2 demonstrations). A step includes generation, which fusion
# does not change.
STEPS.update({ex: "stages[0].rl.steps={}" for ex in ("chord", "srft", "hpt")})


def report(honec, spec, *args):
    r = subprocess.run([honec, spec, *args, "--compile-to=step", "--report"],
                       check=True, capture_output=True, text=True)
    return r.stderr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--honec", default=os.path.join(ROOT, "build/bin/honec"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--examples", default="dpo,reward-model")
    ap.add_argument("--no-table", action="store_true")
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--off", default="--no-fuse-forwards")
    ap.add_argument("overrides", nargs="*")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="hone-bench-fusion-")
    try:
        # --examples= (none): the forwards table only.
        for ex in filter(None, a.examples.split(",")):
            spec = os.path.join(ROOT, "examples", ex, "spec.textproto")
            ovr = a.overrides or SIZE + ([BATCH[ex]] if ex in BATCH else [])
            steps_at = (lambda n: [STEPS[ex].format(n)]
                        ) if ex in STEPS and a.steps else (lambda n: [])
            flops = re.search(r"\(([0-9.]+)x\)", report(a.honec, spec, *ovr))
            jobs = {}
            modes = ("fused", "unfused")
            if ex in STEPS and a.steps:
                modes += ("fused2", "unfused2")
            for mode in modes:
                flags = [a.off] if "unfused" in mode else []
                n = a.steps * (2 if mode.endswith("2") else 1)
                jobs[mode] = os.path.join(work, f"{ex}-{mode}")
                subprocess.run([a.honec, spec, *ovr, *steps_at(n), *flags,
                                "--compile-to=exe", "-o", jobs[mode]],
                               check=True)
            times = {m: [] for m in modes}
            cpu = {m: [] for m in modes}
            total = {m: [] for m in modes}
            steps = {}
            for _ in range(a.runs):
                for mode in modes:
                    out = os.path.join(work, f"run-{mode}")
                    shutil.rmtree(out, ignore_errors=True)
                    t0 = time.perf_counter()
                    p = subprocess.Popen([jobs[mode], "--device", "cpu", "--out",
                                          out, "--progress", "off"], cwd=work,
                                         stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
                    _, status, ru = os.wait4(p.pid, 0)
                    p.returncode = os.waitstatus_to_exitcode(status)
                    dt = time.perf_counter() - t0
                    if p.returncode:
                        sys.exit(f"error: {ex} {mode}: job exit {p.returncode}")
                    rows = [json.loads(l) for l in
                            open(os.path.join(out, "metrics.jsonl"))]
                    steps[mode] = sum(1 for r in rows if "stage" in r)
                    times[mode].append(dt / steps[mode])
                    total[mode].append(ru.ru_utime + ru.ru_stime)
                    cpu[mode].append(total[mode][-1] / steps[mode])
            if steps["fused"] != steps["unfused"]:
                sys.exit(f"error: {ex}: {steps} steps")
            on = statistics.median(times["fused"])
            off = statistics.median(times["unfused"])
            # Steady step: CPU of 2S steps less CPU of S steps, per step.
            st = {}
            if "fused2" in modes:
                for m in ("fused", "unfused"):
                    st[m] = statistics.median(
                        (b - x) / (steps[m + "2"] - steps[m])
                        for x, b in zip(total[m], total[m + "2"]))
            con = statistics.median(cpu["fused"])
            coff = statistics.median(cpu["unfused"])
            print(f"{ex}: {steps['fused']} steps, {a.runs} runs each: "
                  f"fused {on * 1e3:.1f} ms/step, unfused {off * 1e3:.1f} "
                  f"ms/step, ratio unfused/fused {off / on:.2f}; CPU "
                  f"{con * 1e3:.1f} / {coff * 1e3:.1f} ms/step, ratio "
                  f"{coff / con:.2f}" + (
                      f"; steady step CPU {st['fused'] * 1e3:.1f} / "
                      f"{st['unfused'] * 1e3:.1f} ms, ratio "
                      f"{st['unfused'] / st['fused']:.2f}"
                      if st else "") + " (FLOP ratio "
                  f"{flops.group(1) if flops else '1.00'})", flush=True)
        if a.no_table:
            return
        print("\n| example | stage | model | forwards before -> after | backwards before -> after | GFLOP before -> after |")
        print("|---|---|---|---|---|---|")
        for ex in sorted(os.listdir(os.path.join(ROOT, "examples"))):
            spec = os.path.join(ROOT, "examples", ex, "spec.textproto")
            if not os.path.exists(spec):
                continue
            stage = "?"
            try:
                said = report(a.honec, spec)
            except subprocess.CalledProcessError as e:
                last = (e.stderr or "").strip().splitlines()
                print(f"| {ex} | (not compiled here: "
                      f"{last[-1][:90] if last else 'honec failed'}) |")
                continue
            for line in said.splitlines():
                st = re.match(r"stage (\S+), per iteration:", line)
                if st:
                    stage = st.group(1)
                m = re.match(r"  (\S+): forwards (\d+) -> (\d+), backwards "
                             r"(\d+) -> (\d+).*GFLOP ([0-9.e+-]+) -> ([0-9.e+-]+)",
                             line)
                if m:
                    print(f"| {ex} | {stage} | {m.group(1)} | {m.group(2)} -> "
                          f"{m.group(3)} | {m.group(4)} -> {m.group(5)} | "
                          f"{m.group(6)} -> {m.group(7)} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
