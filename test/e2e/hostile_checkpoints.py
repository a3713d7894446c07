#!/usr/bin/env python3
"""Checkpoints edited by hand, with their manifest made to match (so they
verify): a state.json that does not fit its directory or the pipeline is
refused on --resume with one located line and exit 1. A checkpoint of a
stage the pipeline does not have used to skip every stage and export and
end with "done", exit 0, nothing written; one of another stage's name
resumed into the wrong stage. An edit that leaves the manifest stale is
skipped with a message, and the job resumes from the checkpoint before;
when every checkpoint is damaged --resume stops (it used to start fresh over
the old run's metrics and exports).
Usage: hostile_checkpoints.py HONEC SPEC WORK"""
import hashlib, json, os, shutil, subprocess, sys

honec, spec, work = sys.argv[1:4]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
job = os.path.join(work, "job")
subprocess.run([honec, spec, "stages[0].sft.loop.steps=4",
                "checkpointing.every_steps=2", "checkpointing.keep_last=4",
                "-o", job], check=True)
clean = os.path.join(work, "clean")
subprocess.run([job, "--out", clean, "--progress", "off"], check=True,
               capture_output=True, timeout=120)


def edit(run, change, fix_manifest=True):
    d = os.path.join(run, "checkpoint-4")
    st = json.load(open(os.path.join(d, "state.json")))
    change(st)
    b = json.dumps(st).encode()
    open(os.path.join(d, "state.json"), "wb").write(b)
    if fix_manifest:
        m = json.load(open(os.path.join(d, "manifest.json")))
        for f in m["files"]:
            if f["name"] == "state.json":
                f["size"], f["sha256"] = len(b), hashlib.sha256(b).hexdigest()
        open(os.path.join(d, "manifest.json"), "w").write(json.dumps(m))


cases = [
    ("stage past the pipeline", lambda s: s.update(stage=999), True, 1,
     "state.json: error: the checkpoint is of stage 999, and the pipeline "
     "has 1 stage(s)"),
    ("other stage's name", lambda s: s.update(stage_name="dpo"), True, 1,
     "state.json: error: the checkpoint is of stage 'dpo', this stage is "
     "'sft'"),
    ("global step", lambda s: s.update(global_step=7), True, 1,
     "does not fit a checkpoint of step 4"),
    ("negative stage step", lambda s: s.update(stage_step=-3), True, 1,
     "stage_step -3"),
    ("past the stage's steps", lambda s: s.update(stage_step=40), True, 1,
     "the checkpoint is at step 40 of stage 'sft', which has 4 steps"),
    ("stale manifest", lambda s: s.update(stage=999), False, 0,
     "resuming from"),
]
for name, change, fix, code, want in cases:
    run = os.path.join(work, "run")
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(clean, run)
    shutil.rmtree(os.path.join(run, "final"))
    edit(run, change, fix)
    p = subprocess.run([job, "--out", run, "--resume", "--progress", "off"],
                       capture_output=True, text=True, timeout=120)
    errors = [l for l in p.stderr.splitlines() if "error:" in l]
    assert p.returncode == code, (name, p.returncode, p.stderr)
    if code:
        assert len(errors) == 1 and want in errors[0], (name, p.stderr)
        assert not os.path.exists(os.path.join(run, "final")), name
    else:
        assert "skipping" in p.stderr and "checkpoint-2 (step 2)" in \
            p.stderr, (name, p.stderr)
        assert os.path.exists(os.path.join(run, "final")), name
    print(f"{name}: exit {p.returncode}: "
          f"{(errors or p.stderr.splitlines())[0][-150:]}")

# Resumed from the last checkpoint of a finished run (as after a kill during
# the final evaluation or export): the rows of that step written after the
# checkpoint (the memory summary) were kept and written again, twice in
# metrics.jsonl; the checkpoint's metrics_bytes bounds what is kept.
run = os.path.join(work, "run")
shutil.rmtree(run, ignore_errors=True)
shutil.copytree(clean, run)
shutil.rmtree(os.path.join(run, "final"))
p = subprocess.run([job, "--out", run, "--resume", "--progress", "off"],
                   capture_output=True, text=True, timeout=120)
assert p.returncode == 0 and "resuming from" in p.stderr, p.stderr


def keys(path):
    return [sorted(json.loads(l)) + [json.loads(l)["step"]]
            for l in open(path)]


want, got = keys(os.path.join(clean, "metrics.jsonl")), \
    keys(os.path.join(run, "metrics.jsonl"))
assert got == want, f"resumed rows {got} != {want}"
assert json.load(open(os.path.join(run, "checkpoint-4", "state.json")))[
    "metrics_bytes"] > 0
print(f"resumed at the last checkpoint: {len(got)} rows, as the run wrote")

# Every checkpoint damaged: --resume used to start fresh, exit 0, and
# overwrite the run's metrics and exports; now one located line, exit 1,
# nothing touched. A directory holding only an interrupted save's
# temporary directory still starts fresh.
run = os.path.join(work, "run")
shutil.rmtree(run, ignore_errors=True)
shutil.copytree(clean, run)
for d in ("checkpoint-2", "checkpoint-4"):
    with open(os.path.join(run, d, "model.safetensors"), "r+b") as f:
        f.truncate(100)
metrics = open(os.path.join(run, "metrics.jsonl")).read()
p = subprocess.run([job, "--out", run, "--resume", "--progress", "off"],
                   capture_output=True, text=True, timeout=120)
errors = [l for l in p.stderr.splitlines() if "error:" in l]
assert p.returncode == 1, ("all damaged", p.returncode, p.stderr)
assert len(errors) == 1 and "none of its 2 checkpoint(s) can be resumed" \
    in errors[0] and "hint: remove the damaged" in p.stderr, p.stderr
assert p.stderr.count("skipping ") == 2, p.stderr
assert open(os.path.join(run, "metrics.jsonl")).read() == metrics
print(f"all damaged: exit 1: {errors[0][-150:]}")
fresh = os.path.join(work, "fresh")
os.makedirs(os.path.join(fresh, ".checkpoint-2.tmp-123"))
p = subprocess.run([job, "--out", fresh, "--resume", "--progress", "off"],
                   capture_output=True, text=True, timeout=120)
assert p.returncode == 0 and "starting fresh" in p.stderr, p.stderr
assert os.path.exists(os.path.join(fresh, "final")), p.stderr
print("only an interrupted save: starts fresh")
shutil.rmtree(work)
print("OK: hand-edited checkpoints refused or skipped")
