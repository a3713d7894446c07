#!/usr/bin/env python3
"""The learning-rate schedule spans an RL stage's steps whatever its
optimiser updates per step.

  lr_schedule.py HONEC SPEC WORKDIR

Compiles the PPO example (ppo_epochs 4) for 12 steps with 2 mini-batches,
2 warm-up steps and a linear decay to 0.1 of lr, runs it, and checks each
step's logged learning_rate against the closed form at that stage step
(runtime/model/Optimizer.h): warm-up s / 2, then 1 - 0.9 (s - 2) / 10. Each
step makes 8 optimiser updates; counting updates instead (the bug this
guards against) ends the decay after a quarter of the stage's steps and
logs the minimum from step 4 on.
"""
import json
import os
import shutil
import subprocess
import sys

honec, spec, work = sys.argv[1:4]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
STEPS, WARM, MIN, LR = 12, 2, 0.1, 3e-3
try:
    job = os.path.join(work, "job")
    subprocess.run([honec, spec, f"stages[0].rl.steps={STEPS}",
                    "stages[0].rl.mini_batches=2",
                    f"optimizer.warmup_steps={WARM}",
                    f"optimizer.min_lr_ratio={MIN}", f"optimizer.lr={LR}",
                    "--compile-to=exe", "-o", job], check=True)
    run = os.path.join(work, "run")
    subprocess.run([job, "--out", run, "--progress", "off"], check=True,
                   stdout=subprocess.DEVNULL)
    with open(os.path.join(run, "metrics.jsonl")) as f:
        rows = [json.loads(l) for l in f]
    lrs = [r["learning_rate"] for r in rows if "learning_rate" in r]
    bad = []
    if len(lrs) != STEPS:
        bad.append(f"{len(lrs)} learning_rate rows for {STEPS} steps")
    for s, got in enumerate(lrs, 1):
        m = s / WARM if s <= WARM else 1 - (1 - MIN) * (s - WARM) / (STEPS - WARM)
        if abs(got - LR * m) > 1e-9 * LR:
            bad.append(f"step {s}: learning_rate {got}, expected {LR * m}")
    for b in bad:
        print("FAIL:", b)
    if not bad:
        print(f"PASS: {STEPS} steps follow the schedule ({lrs[0]:.3g} -> "
              f"{lrs[-1]:.3g})")
    sys.exit(1 if bad else 0)
finally:
    shutil.rmtree(work, ignore_errors=True)
