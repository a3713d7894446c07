#!/usr/bin/env python3
"""Weight sync across ranks (issue 21): a pipelined GRPO stage
(staleness 1: generation reads a rollout snapshot of the policy, refreshed
by hone.sync_weights) with hardware.ranks = 2 under `mpirun -np 2`.

  ranks_sync.py HONEC SPEC WORKDIR

Checks: both ranks end with bit-identical weights and log the same step
metrics; the refreshed snapshot is rank 0's on every rank (a broadcast):
with HONE_INJECT_SNAPSHOT_RANK=1, which perturbs rank 1's copy of the
snapshot at every sync before the broadcast, the run's metrics and final
weights are those of the run without it (without the broadcast rank 1
would generate, and compute its behaviour log-probs, from other weights,
and the averaged gradients, hence the weights, would differ). With the
perturbation on rank 0 (HONE_INJECT_SNAPSHOT_RANK=0) they differ: the
check can fail. Skipped (exit 77) without mpirun or an MPI-enabled runtime.
"""
import os
import re
import shutil
import subprocess
import sys

import mpi_job

honec, spec, work = sys.argv[1:4]
env = mpi_job.setup(honec, work)
env.pop("HONE_INJECT_SNAPSHOT_RANK", None)


def fail(msg):
    sys.exit("FAIL: " + msg)


job = os.path.join(work, "job")
spec_dir = os.path.dirname(os.path.abspath(spec))
subprocess.run([honec, spec, "hardware.ranks=2", "stages[0].rl.staleness=1",
                "stages[0].rl.steps=8", "--compile-to=exe", "-o", job],
               check=True, cwd=spec_dir)


def run(name, inject=None):
    out = os.path.join(work, name)
    e = dict(env)
    if inject is not None:
        e["HONE_INJECT_SNAPSHOT_RANK"] = str(inject)
    p = subprocess.run(["mpirun", "-np", "2", job, "--out", out, "--threads",
                        "1", "--progress", "off"], env=e, cwd=spec_dir,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=500)
    if p.returncode != 0:
        fail(f"{name}: exit {p.returncode}\n{p.stdout[-3000:]}")
    weights = [open(os.path.join(out, *d, "final", "model.safetensors"),
                    "rb").read() for d in ((), ("rank-1",))]
    rows = []
    for d in ((), ("rank-1",)):
        with open(os.path.join(out, *d, "metrics.jsonl")) as f:
            rows.append([re.sub(r'"(tokens_per_sec|memory/[a-z_]+)":[^,}]*,?',
                                "", l) for l in f if '"stage"' in l])
    if not weights[0] or weights[0] != weights[1]:
        fail(f"{name}: the ranks' final weights differ")
    if rows[0] != rows[1]:
        fail(f"{name}: the ranks logged different step metrics")
    return weights[0], rows[0]


try:
    base = run("plain")
    if len(base[1]) != 8:
        fail(f"{len(base[1])} step rows, expected 8")
    on1 = run("inject-rank1", 1)
    if on1 != base:
        fail("rank 1's perturbed snapshot changed the run: the rollout "
             "weights were not rank 0's on every rank")
    on0 = run("inject-rank0", 0)
    if on0[0] == base[0]:
        fail("perturbing rank 0's snapshot changed nothing: the check "
             "cannot see a snapshot that differs")
    print("8 pipelined steps on 2 ranks: ranks identical; rank 1's "
          "perturbed snapshot overwritten by rank 0's (same weights and "
          "metrics as unperturbed); rank 0's perturbation shows")
finally:
    if not os.environ.get("HONE_KEEP_TEST_FILES"):
        shutil.rmtree(work, ignore_errors=True)
print("PASS")
