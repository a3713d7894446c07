#!/usr/bin/env python3
"""A run directory whose file system fills up while the job writes a
checkpoint: one located line naming the cause with a hint (free space,
checkpointing.keep_last, then --resume), exit 1, and no partial checkpoint
left behind. Needs a small file system: a 300 KiB tmpfs mounted for the
test (root with CAP_SYS_ADMIN); skipped, exit 0 with a note, where mounting
is not allowed.
Usage: disk_full.py HONEC SPEC WORK"""
import os, re, shutil, subprocess, sys

honec, spec, work = sys.argv[1:4]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
job = os.path.join(work, "job")
subprocess.run([honec, spec, "-o", job], check=True,
               cwd=os.path.dirname(spec))
mnt = os.path.join(work, "small")
os.makedirs(mnt)
m = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", mnt],
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
if m.returncode != 0:
    shutil.rmtree(work)
    print("SKIP: cannot mount a small tmpfs here: " + m.stdout.strip())
    sys.exit(0)
try:
    out = os.path.join(mnt, "run")
    p = subprocess.run([job, "--progress", "off", "--out", out],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=300, cwd=os.path.dirname(spec))
    print(f"exit {p.returncode}\n{p.stdout[-2000:]}")
    errors = [l for l in p.stdout.splitlines() if "error:" in l]
    if p.returncode != 1 or len(errors) != 1:
        sys.exit("FAIL: not one error line and exit 1")
    if not re.search(r"No space left on device \(hint: free space on the run "
                     r"directory's file system, or keep fewer checkpoints: "
                     r"checkpointing\.keep_last; then --resume\)", errors[0]):
        sys.exit("FAIL: the error names no cause or hint")
    left = [f for f in os.listdir(out) if f.startswith(".checkpoint-")]
    if left:
        sys.exit(f"FAIL: a partial checkpoint is left: {left}")
finally:
    subprocess.run(["umount", mnt])
shutil.rmtree(work)
print("OK: a full file system during a checkpoint is one located error")
