#!/usr/bin/env python3
"""Data the compiled job no longer matches, and preference pairs that train
nothing.

- A dataset file changed after honec compiled the job (its steps, sequence
  lengths and memory plan came from the old contents): the job used to run
  on it, cutting rows at a length taken from the old data (a DPO job then
  trained on empty completions, loss log 2, gradient 0, exit 0). Now one
  located line, exit 1. Compiled with --no-file-checks (honec read no data)
  the job runs on what it finds.
- A dataset replaced by a FIFO or a device (/dev/zero) after compiling:
  the job waited for a writer, or hashed forever; now one located line,
  exit 1.
- Preference pairs whose chosen or rejected side has no trainable token
  after truncation were not counted (only SFT rows were): a first batch of
  only such pairs ends the job with exit 1; some are counted in the stage's
  warning.
Usage: changed_data.py HONEC SPEC WORK"""
import json, os, re, shutil, subprocess, sys

honec, spec, work = sys.argv[1:4]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
ok = [{"prompt": "1+2=", "chosen": "3", "rejected": "4"},
      {"prompt": "12+30=", "chosen": "42", "rejected": "43"}]
long_prompt = "1+" * 20 + "1="  # 42 characters: fills the 32 positions
bad = {"prompt": long_prompt, "chosen": "21", "rejected": "22"}


def write(path, rows):
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def compile_job(name, rows, *extra):
    d = os.path.join(work, name)
    os.makedirs(d)
    data = os.path.join(d, "pairs.jsonl")
    write(data, rows)
    job = os.path.join(d, "job")
    subprocess.run([honec, spec, f"datasets[0].path={data}",
                    "stages[0].preference.loop.steps=3", *extra, "-o", job],
                   check=True)
    return d, data, job


def run(d, job):
    return subprocess.run([job, "--progress", "off", "--out",
                           os.path.join(d, "run")], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=120)


# Changed after compiling: refused, naming the file.
d, data, job = compile_job("changed", ok * 4)
write(data, ok * 4 + [bad])
p = run(d, job)
print(f"--- changed: exit {p.returncode}\n{p.stdout}")
errors = [l for l in p.stdout.splitlines() if "error:" in l]
if p.returncode != 1 or len(errors) != 1 or not re.search(
        re.escape(data) + r": the dataset changed since honec compiled this "
        r"job \(SHA-256 [0-9a-f]{12}\.\.\. then, [0-9a-f]{12}\.\.\. now\)",
        errors[0]) or "hint: compile the spec again" not in errors[0]:
    sys.exit("FAIL: changed: no located refusal")
metrics = os.path.join(d, "run", "metrics.jsonl")
if os.path.exists(metrics) and open(metrics).read().strip():
    sys.exit("FAIL: changed: the job trained")
# Restored: runs.
write(data, ok * 4)
p = run(d, job)
if p.returncode != 0:
    sys.exit(f"FAIL: restored file refused:\n{p.stdout}")

# Replaced by a FIFO or a device after compiling: the job used to wait for a
# writer forever (FIFO) or hash /dev/zero forever; now a located refusal.
for kind in ("FIFO", "device"):
    d, data, job = compile_job("special-" + kind, ok * 4)
    os.unlink(data)
    if kind == "FIFO":
        os.mkfifo(data)
    else:
        os.symlink("/dev/zero", data)
    try:
        p = run(d, job)
    except subprocess.TimeoutExpired:
        sys.exit(f"FAIL: {kind}: the job hung")
    print(f"--- {kind}: exit {p.returncode}\n{p.stdout}")
    if p.returncode != 1 or not re.search(
            re.escape(data) + f": error: is a {kind}, not a regular file "
            r"\(hint: copy the data to a file", p.stdout):
        sys.exit(f"FAIL: {kind}: no located refusal")

# Compiled without reading the data: no contents to compare, runs.
d, data, job = compile_job("unchecked", ok * 4, "--no-file-checks")
write(data, ok * 3)
p = run(d, job)
if p.returncode != 0:
    sys.exit(f"FAIL: --no-file-checks job refused changed data:\n{p.stdout}")

# Pairs that train nothing: all of them refused at the first batch.
d, data, job = compile_job("all-bad", [bad] * 4)
p = run(d, job)
print(f"--- all-bad: exit {p.returncode}\n{p.stdout}")
if p.returncode != 1 or not re.search(
        r"pairs\.jsonl:[1-4]: no pair of the first batch \(4\) has a "
        r"trainable token within 32 tokens", p.stdout):
    sys.exit("FAIL: all-bad: no located error")
# Some: counted at the stage's end (batch 4, 3 steps: 3 of 12).
d, data, job = compile_job("some-bad", ok + [ok[0], bad])
p = run(d, job)
print(f"--- some-bad: exit {p.returncode}\n{p.stdout}")
if p.returncode != 0 or not re.search(
        r"warning: \d+ of 12 rows of .*pairs\.jsonl read in stage "
        r"'preference_0' had no trainable token after truncation \(first: line "
        r"4; a pair counts when either side has none\)", p.stdout):
    sys.exit("FAIL: some-bad: no warning with counts")
shutil.rmtree(work)
print("OK: changed data refused; untrainable pairs counted, refused when "
      "all are")
