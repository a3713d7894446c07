#!/usr/bin/env python3
"""Absurd command lines to a compiled job: each is one error line (a hint
may follow) and exit 1, before anything runs. --steps-override used to be
ignored by compiled jobs; an --out that is a file (or below one) used to
fail on the lock file with "Not a directory".
Usage: job_cli.py HONEC SPEC WORK"""
import os, shutil, subprocess, sys

honec, spec, work = sys.argv[1:4]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
job = os.path.join(work, "job")
subprocess.run([honec, spec, "stages[0].sft.loop.steps=2", "-o", job],
               check=True)
afile = os.path.join(work, "a-file")
open(afile, "w").close()
cases = [
    (["--steps-override", "5"], "error: --steps-override: a compiled job's "
     "loop bounds are compiled in"),
    (["--threads", "99999999999999999999"], "is not a non-negative integer"),
    (["--threads", "-1"], "is not a non-negative integer"),
    (["--threads", "100000"], "is more than 1024"),
    (["--out="], "empty directory name"),
    (["--device"], "--device needs a value"),
    (["--device", "gpu"], "unknown device 'gpu'"),
    (["--progress", "x" * 100000], "unknown mode 'xxxx"),
    (["--resume=yes"], "unknown option '--resume=yes'"),
    (["--out", afile], f"{afile}: error: {afile} exists and is not a "
     "directory"),
    (["--out", afile + "/run"], f"{afile}/run: error: {afile} exists and is "
     "not a directory"),
]
for args, want in cases:
    p = subprocess.run([job, *args], capture_output=True, text=True,
                       timeout=60, cwd=work)
    lines = p.stderr.splitlines()
    errors = [l for l in lines if "error:" in l]
    assert p.returncode == 1, (args[:2], p.returncode, p.stderr[:500])
    assert len(errors) == 1 and want in errors[0], (args[:2], p.stderr[:500])
    assert all(len(l) < 1000 for l in lines), (args[:2], "a long line")
    assert not p.stdout, (args[:2], p.stdout[:200])
    print(f"{' '.join(a[:40] for a in args)}: {errors[0][:160]}")
assert not os.path.exists(os.path.join(work, "runs")), "a run started"

# The run's record that cannot be written (program.mlir is a directory)
# is said; it used to be missing silently.
run = os.path.join(work, "run")
os.makedirs(os.path.join(run, "program.mlir"))
p = subprocess.run([job, "--out", run, "--progress", "off"],
                   capture_output=True, text=True, timeout=120)
assert p.returncode == 0, p.stderr
assert f"warning: cannot write {run}/program.mlir: Is a directory" in \
    p.stderr, p.stderr
print("program.mlir a directory: warned, the job ran")
shutil.rmtree(work)
print("OK: every absurd command line is one error line, exit 1")
