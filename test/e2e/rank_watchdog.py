#!/usr/bin/env python3
"""The collective watchdog: under `mpirun -np 2`, rank 1 is frozen with
SIGSTOP mid-run. Rank 0 waits hardware.collective_timeout_s (2 s here) in
its reduction, then the job ends non-zero with a message naming rank 1 (it
used to wait forever). Skipped (77) without mpirun or MPI in the runtime.
Usage: rank_watchdog.py HONEC SPEC WORK"""
import json, os, shutil, signal, subprocess, sys, time

import mpi_job

honec, spec, work = sys.argv[1:4]
env = mpi_job.setup(honec, work)
job = os.path.join(work, "job")
subprocess.run([honec, spec, "hardware.ranks=2",
                "hardware.collective_timeout_s=2",
                "stages[0].sft.loop.steps=100000", "--compile-to=exe", "-o",
                job], check=True)
run = os.path.join(work, "run")
p = subprocess.Popen(["mpirun", "-np", "2", job, "--out", run, "--threads",
                      "1", "--progress", "off"], env=env,
                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                     text=True)


def rank_pid(rank):
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{pid}/exe") != os.path.realpath(job):
                continue
            envs = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
        except OSError:
            continue
        if f"OMPI_COMM_WORLD_RANK={rank}".encode() in envs:
            return int(pid)
    return None


frozen = None
try:
    deadline = time.time() + 120
    metrics = os.path.join(run, "metrics.jsonl")
    while not (os.path.exists(metrics) and
               len(open(metrics).readlines()) >= 3):
        if p.poll() is not None or time.time() > deadline:
            sys.exit("FAIL: the job ended or stalled before step 3")
        time.sleep(0.05)
    frozen = rank_pid(1)
    if not frozen:
        sys.exit("FAIL: rank 1 not found")
    os.kill(frozen, signal.SIGSTOP)
    t0 = time.time()
    try:
        out, _ = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        sys.exit("FAIL: the job still runs 60 s after rank 1 froze")
    took = time.time() - t0
    print(out)
    print(f"ended {took:.1f} s after the freeze, exit code {p.returncode}")
    if p.returncode == 0:
        sys.exit("FAIL: exit code 0")
    if "error: rank 0: no answer from rank 1 in a reduction for 2 s" not in out:
        sys.exit("FAIL: no message naming rank 1")
finally:
    if frozen:
        try:
            os.kill(frozen, signal.SIGKILL)
        except OSError:
            pass
    if p.poll() is None:
        p.kill()

# A rank killed with SIGKILL: the other ends within seconds, non-zero (the
# collective timeout is far longer, so this is MPI's abort, not the
# watchdog).
run = os.path.join(work, "run-kill")
subprocess.run([honec, spec, "hardware.ranks=2",
                "stages[0].sft.loop.steps=100000", "--compile-to=exe", "-o",
                job], check=True)
p = subprocess.Popen(["mpirun", "-np", "2", job, "--out", run, "--threads",
                      "1", "--progress", "off"], env=env,
                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                     text=True)
try:
    deadline = time.time() + 120
    metrics = os.path.join(run, "metrics.jsonl")
    while not (os.path.exists(metrics) and
               len(open(metrics).readlines()) >= 3):
        if p.poll() is not None or time.time() > deadline:
            sys.exit("FAIL: the job ended or stalled before step 3")
        time.sleep(0.05)
    victim = rank_pid(1)
    if not victim:
        sys.exit("FAIL: rank 1 not found")
    os.kill(victim, signal.SIGKILL)
    t0 = time.time()
    try:
        p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        sys.exit("FAIL: the job still runs 30 s after rank 1 was killed")
    print(f"killed rank 1: the job ended {time.time() - t0:.1f} s later, "
          f"exit code {p.returncode}")
    if p.returncode == 0:
        sys.exit("FAIL: exit code 0 after a rank was killed")
finally:
    if p.poll() is None:
        p.kill()
        p.wait()
shutil.rmtree(work)
print("OK: a frozen rank ends the job with a message naming it; a killed "
      "one ends it at once")
