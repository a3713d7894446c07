#!/usr/bin/env python3
"""kill -9 a training job at random points (including during checkpoint
writes), --resume it, and check that the final weights and the logged
losses are bit-identical to an uninterrupted run (>= 5 kill cycles)."""
import json, os, random, shutil, signal, subprocess, sys, time

# kill_resume.py JOB WORK --compiled
# JOB is a job that honec compiled from a spec (checkpointing every few
# steps, run long enough, about a second, that kills land mid-run whatever
# the load), whose final weights are WORK/<run>/final/model.safetensors.
exe, work = sys.argv[1], sys.argv[2]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
base = [exe, "--device", "cpu", "--progress", "off", "--threads", "1"]
weights = os.path.join("final", "model.safetensors")

def metrics(d):
    rows = {}
    with open(os.path.join(d, "metrics.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            if "memory/planned_peak_bytes" in r:  # the job's last line
                continue
            rows[r["step"]] = {k: r.get(k) for k in ("loss", "reward", "grad_norm", "kl")}
    return rows

ref = os.path.join(work, "ref")
t0 = time.time()
subprocess.run(base + ["--out", ref], check=True, stdout=subprocess.DEVNULL)
dur = time.time() - t0
print(f"uninterrupted run: {dur:.2f} s")

rng = random.Random(int(os.environ.get("HONE_KILL_SEED", "1")))
run = os.path.join(work, "killed")
kills, launches, done = 0, 0, False
attempts = 0
while not done and attempts < 200:
    attempts += 1
    args = base + ["--out", run] + (["--resume"] if launches else [])
    launches += 1
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if kills < 5:
        # Five kills within ~75 % of the run's work, so that the run is
        # still going at the fifth.
        time.sleep(rng.uniform(0.02, max(0.05, dur * 0.15)))
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            p.wait()
            kills += 1
            continue
        # finished before the kill: start over so that the completed run
        # went through >= 5 kills
        p.wait()
        shutil.rmtree(run, ignore_errors=True)
        kills, launches = 0, 0
        continue
    _, err = p.communicate()
    if p.returncode != 0:
        print(err.decode(), file=sys.stderr)
        sys.exit(f"resumed run failed with exit code {p.returncode}")
    done = True
print(f"{kills} kills, {launches} launches")
if kills < 5 or not done:
    sys.exit("FAIL: fewer than 5 kill cycles or no completed run")
if not os.path.exists(os.path.join(ref, weights)):
    # a LoRA job's final save holds PEFT's adapter files
    weights = os.path.join(os.path.dirname(weights), "adapter_model.safetensors")
a = open(os.path.join(ref, weights), "rb").read()
b = open(os.path.join(run, weights), "rb").read()
if a != b:
    sys.exit("FAIL: final weights differ from the uninterrupted run")
ma, mb = metrics(ref), metrics(run)
if ma != mb:
    for s in sorted(set(ma) | set(mb)):
        if ma.get(s) != mb.get(s):
            print("step", s, ma.get(s), mb.get(s))
    sys.exit("FAIL: logged metrics differ")
print(f"OK: weights and {len(ma)} logged steps bit-identical")
