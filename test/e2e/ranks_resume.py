#!/usr/bin/env python3
"""Ranks whose newest checkpoints differ (a kill between two ranks' saves):
`--resume` continues from the newest step every rank has, says so in one
line, and ends with the weights and metrics of an uninterrupted run, bit for
bit. It used to stop with "the ranks would resume from different
checkpoints".

  ranks_resume.py HONEC SPEC WORKDIR

Rank 0 keeps checkpoints 2, 6 and 8, rank 1 keeps 2 and 4: the ranks agree
on step 2 (rank 0 has no 4, rank 1 no 6 or 8). Then rank 1's checkpoints
are all damaged: both ranks stop, naming it. Skipped (77) without mpirun
or MPI in the runtime.
"""
import os
import re
import shutil
import subprocess
import sys

import mpi_job

honec, spec, work = sys.argv[1:4]
env = mpi_job.setup(honec, work)
job = os.path.join(work, "job")
subprocess.run([honec, spec, "hardware.ranks=2", "stages[0].sft.loop.steps=8",
                "checkpointing.every_steps=2", "checkpointing.keep_last=10",
                "--compile-to=exe", "-o", job], check=True)


def run(out, *extra):
    return subprocess.run(["mpirun", "-np", "2", job, "--out", out,
                           "--threads", "1", "--progress", "off", *extra],
                          env=env, capture_output=True, text=True,
                          timeout=300)


def rows(d):
    with open(os.path.join(d, "metrics.jsonl")) as f:
        return [re.sub(r'"tokens_per_sec":[^,}]*,?', "", l) for l in f
                if '"stage"' in l]


def weights(d):
    return open(os.path.join(d, "final", "model.safetensors"), "rb").read()


whole, cut = os.path.join(work, "whole"), os.path.join(work, "cut")
for d in (whole, cut):
    r = run(d)
    assert r.returncode == 0, r
for d, gone in ((cut, (4,)), (os.path.join(cut, "rank-1"), (6, 8))):
    for s in gone:
        shutil.rmtree(os.path.join(d, f"checkpoint-{s}"))
    shutil.rmtree(os.path.join(d, "final"))

r = run(cut, "--resume")
assert r.returncode == 0, r
said = [l for l in r.stderr.splitlines() if "ranks have" in l]
assert len(said) == 2 and all(
    "(step 2), the newest step all 2 ranks have (each rank's newest: 8, 4)"
    in l for l in said), r.stderr
for a, b in ((whole, cut), (os.path.join(whole, "rank-1"),
                            os.path.join(cut, "rank-1"))):
    assert weights(a) == weights(b), f"{b}: final weights differ"
    assert rows(a) == rows(b), f"{b}: metrics differ"
print(said[0])

# Rank 1's checkpoints all damaged: every rank stops, naming rank 1 (they
# used to agree on no step and start fresh over the run's metrics).
damaged = [d for d in os.listdir(os.path.join(cut, "rank-1"))
           if d.startswith("checkpoint-")]
assert len(damaged) >= 2, damaged
for d in damaged:
    with open(os.path.join(cut, "rank-1", d, "model.safetensors"),
              "r+b") as f:
        f.truncate(64)
before = rows(cut)
r = run(cut, "--resume")
refused = [l for l in r.stderr.splitlines()
           if "rank 1: none of its checkpoints can be resumed" in l]
assert r.returncode != 0 and len(refused) == 2, r
assert rows(cut) == before, "metrics changed"
print(refused[0])
print("resumed from the shared step 2: weights and metrics bit-identical")
shutil.rmtree(work)
