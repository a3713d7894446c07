#!/usr/bin/env python3
"""Stopping a compiled job with a signal (what Slurm and Kubernetes send
before killing). SIGTERM: the job finishes the current step, writes a
checkpoint, says so and exits 0; --resume continues from it (the run's
metrics then hold every step once). SIGINT behaves the same. A second
signal ends the job at once. (Both used to end the job within
milliseconds without saving.)
Usage: stop_signal.py HONEC SPEC WORK"""
import json, os, shutil, signal, subprocess, sys, time

honec, spec, work = sys.argv[1:4]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
STEPS = 300
job = os.path.join(work, "job")
subprocess.run([honec, spec, f"stages[0].sft.loop.steps={STEPS}",
                "--compile-to=exe", "-o", job], check=True)


def rows(run):
    path = os.path.join(run, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    return [json.loads(l) for l in open(path) if l.endswith("\n")]


def start(run, *extra):
    return subprocess.Popen([job, "--device", "cpu", "--progress", "off",
                             "--out", run, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def wait_rows(p, run, n):
    deadline = time.time() + 60
    while len(rows(run)) < n:
        if p.poll() is not None or time.time() > deadline:
            sys.exit(f"FAIL: the job ended or stalled before step {n}")
        time.sleep(0.02)


for sig in (signal.SIGTERM, signal.SIGINT):
    name = signal.Signals(sig).name
    run = os.path.join(work, name)
    p = start(run)
    wait_rows(p, run, 3)
    t0 = time.time()
    p.send_signal(sig)
    out, _ = p.communicate(timeout=60)
    print(f"--- {name}: exit {p.returncode} after {time.time() - t0:.2f} s\n{out}")
    if p.returncode != 0:
        sys.exit(f"FAIL: {name}: exit code {p.returncode}, expected 0")
    last = rows(run)[-1]["step"]
    if last >= STEPS:
        sys.exit(f"FAIL: {name}: the job ran to the end before the signal")
    if f"stopped by a signal after step {last}: checkpoint written" not in out:
        sys.exit(f"FAIL: {name}: no stop message for step {last}")
    if not os.path.isdir(os.path.join(run, f"checkpoint-{last}")):
        sys.exit(f"FAIL: {name}: no checkpoint-{last}")

# A signal at a step that is due for a checkpoint anyway (every step here)
# writes it too (it used to write none there, yet say it had).
due_job = os.path.join(work, "job-every-step")
subprocess.run([honec, spec, f"stages[0].sft.loop.steps={STEPS}",
                "checkpointing.every_steps=1", "--compile-to=exe", "-o",
                due_job], check=True)
run = os.path.join(work, "due")
p = subprocess.Popen([due_job, "--device", "cpu", "--progress", "off",
                      "--out", run], stdout=subprocess.PIPE,
                     stderr=subprocess.STDOUT, text=True)
wait_rows(p, run, 3)
p.send_signal(signal.SIGTERM)
out, _ = p.communicate(timeout=60)
last = rows(run)[-1]["step"]
if p.returncode != 0 or \
        f"stopped by a signal after step {last}: checkpoint written" not in out:
    sys.exit(f"FAIL: due: exit {p.returncode}, no stop message\n{out}")
if not os.path.isdir(os.path.join(run, f"checkpoint-{last}")):
    sys.exit(f"FAIL: due: no checkpoint-{last} (a signal at a due step)")

# --resume continues from the signal's checkpoint to the end.
run = os.path.join(work, "SIGTERM")
p = start(run, "--resume")
out, _ = p.communicate(timeout=300)
if p.returncode != 0:
    sys.exit(f"FAIL: resume: exit code {p.returncode}\n{out}")
steps = [r["step"] for r in rows(run) if "stage" in r]
if steps != list(range(1, STEPS + 1)):
    sys.exit(f"FAIL: resume: logged steps are not 1..{STEPS} once each")

# A second signal stops the job at once (the default action).
run = os.path.join(work, "twice")
p = start(run)
wait_rows(p, run, 3)
p.send_signal(signal.SIGTERM)
# Once the first is handled (two pending signals would merge into one),
# while the step and its checkpoint are still being finished.
first = p.stdout.readline()
while first and "signal received" not in first:
    first = p.stdout.readline()
p.send_signal(signal.SIGTERM)
out, _ = p.communicate(timeout=60)
if p.returncode != -signal.SIGTERM:
    sys.exit(f"FAIL: twice: exit code {p.returncode}, expected -15\n{out}")
shutil.rmtree(work)
print("OK: SIGTERM/SIGINT checkpoint and exit 0; resume completes; twice stops")
