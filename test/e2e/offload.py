#!/usr/bin/env python3
"""hone-plan-memory's offload (decision 5) end to end: examples/sft-grpo
compiled under a memory budget that only offloading the policy's AdamW
moments meets (decisions 3 and 4, which change float rounding, off:
--no-micro-batch --no-generation-batch; the same budget without offload is
a compile error). The job runs and is bit-identical to the unconstrained
job: every metrics.jsonl row (timings and memory aside), the exported
weights and every checkpoint (weights and AdamW moments: the moments
round-trip exactly through the offload file). Its measured peak is within
the plan (the job's own check, exit 0), and the offload folder is gone
after the job. A resume from a mid-stage checkpoint finishes bit-identical
too. Hostile: the offload file removed or truncated mid-job is a one-line
located error, exit 1.

Usage: offload.py HONEC EXAMPLE_DIR WORK"""
import json, os, re, shutil, subprocess, sys, threading, time

honec, example, work = sys.argv[1:4]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
VOLATILE = ("time", "sec", "memory/", "elapsed", "wall")
BUDGET = os.environ.get("OFFLOAD_BUDGET", "3500000")
COMMON = ["stages[0].sft.loop.epochs=2", "stages[1].rl.steps=6",
          "checkpointing.every_steps=2", "checkpointing.keep_last=0"]
STRICT = ["--no-micro-batch", "--no-generation-batch"]


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


d = os.path.join(work, "ex")
shutil.copytree(example, d)


def compile(name, flags, expect_ok=True):
    p = subprocess.run([honec, "spec.textproto", *COMMON, *flags,
                        "--compile-to=scheduled", "-o", name + ".mlir"],
                       cwd=d, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    if expect_ok and p.returncode != 0:
        fail(f"{name}: honec exit code {p.returncode}: {p.stdout[-1500:]}")
    if not expect_ok and p.returncode == 0:
        fail(f"{name}: compiled, but the budget should need offload")
    if expect_ok:
        subprocess.run([honec, "spec.textproto", *COMMON, *flags, "-o",
                        name + "-job"], cwd=d, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return p.stdout


def run(name, out, extra=(), env=None):
    p = subprocess.run([f"./{name}-job", "--device", "cpu", "--progress",
                        "off", "--out", out, *extra], cwd=d,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, env=env, timeout=600)
    return p


def results(out):
    rows, mem = [], None
    for line in open(os.path.join(d, out, "metrics.jsonl")):
        r = json.loads(line)
        if "memory/measured_peak_bytes" in r:
            mem = r
        rows.append({k: v for k, v in r.items()
                     if not any(s in k for s in VOLATILE)})
    files = {}
    for sub in sorted(os.listdir(os.path.join(d, out))):
        where = os.path.join(d, out, sub)
        if os.path.isdir(where) and (sub.startswith("checkpoint-")
                                     or sub in ("final", "sft")):
            for f in sorted(os.listdir(where)):
                if f.endswith(".safetensors"):
                    files[sub + "/" + f] = open(os.path.join(where, f),
                                                "rb").read()
    return rows, files, mem


def same(a, b, what):
    ra, fa, _ = a
    rb, fb, _ = b
    if len(ra) != len(rb):
        fail(f"{what}: {len(ra)} metrics rows vs {len(rb)}")
    for i, (x, y) in enumerate(zip(ra, rb)):
        if x != y:
            keys = sorted(k for k in set(x) | set(y) if x.get(k) != y.get(k))
            fail(f"{what}: row {i}: {[(k, x.get(k), y.get(k)) for k in keys]}")
    if sorted(fa) != sorted(fb) or not any("optimizer" in f for f in fa):
        fail(f"{what}: saved files differ or hold no moments: {sorted(fa)} "
             f"vs {sorted(fb)}")
    for f in fa:
        if fa[f] != fb[f]:
            fail(f"{what}: {f} differs")


# The budget needs offload: without it the plan is over; with it, the
# decision is in the plan, the stage begin lists the policy, the moments'
# live range is split (no per-stage policy.optimizer in the GRPO stage).
compile("nooff", [f"hardware.memory_budget={BUDGET}", *STRICT, "--no-offload"],
        expect_ok=False)
out = compile("off", [f"hardware.memory_budget={BUDGET}", *STRICT])
if not re.search(r"remark: hone-plan-memory: stage 'grpo': policy's AdamW "
                 r"moments \([0-9.]+ KiB\) offloaded", out):
    fail("no offload remark:\n" + out[-2000:])
ir = open(os.path.join(d, "off.mlir")).read()
if not re.search(r'hone\.exec\.stage_begin "grpo" [^\n]*offload_moments = '
                 r'array<i64: 0>', ir):
    fail("the GRPO stage begin has no offload_moments")
if not re.search(r'name = "policy\.optimizer@\d+"', ir):
    fail("no per-train-step moments in the plan")
if re.search(r"micro_batch|mini_batches = [2-9]", ir):
    fail("a rounding-changing decision was taken")
compile("whole", [])

whole = results("run") if run("whole", "run").returncode == 0 else None
if whole is None:
    fail("the unconstrained job failed")
p = run("off", "run-off")
print(p.stdout[-1500:])
if p.returncode != 0:
    fail(f"offload job: exit code {p.returncode}")
def summary(out):
    h = open(os.path.join(d, out, "report.html")).read()
    m = re.search(r"optimiser moments offloaded.*?</td><td>([^<]*)", h)
    return m.group(1) if m else ""


said = summary("run-off")
print("report:", said)
if not re.search(r"MiB read back, .* written, (O_DIRECT|write\+fdatasync"
                 r"\+fadvise)$", said):
    fail("the job's report names no offload transfers")
off = results("run-off")
same(whole, off, "offload vs unconstrained")
if off[2] is None or off[2].get("memory/unplanned_allocations", 1) != 0:
    fail(f"memory: {off[2]}")
if os.path.exists(os.path.join(d, "run-off", "offload")):
    fail("the offload folder is left in the run directory: "
         f"{os.listdir(os.path.join(d, 'run-off', 'offload'))}")

# Buffered I/O (a file system without O_DIRECT) gives the same bits.
env = dict(os.environ, HONE_OFFLOAD_DIRECT="off")
p = run("off", "run-buffered", env=env)
if p.returncode != 0 or not summary("run-buffered").endswith(
        "write+fdatasync+fadvise"):
    fail(f"buffered offload: exit {p.returncode}: {p.stdout[-800:]}")
same(whole, results("run-buffered"), "buffered offload vs unconstrained")

# Resume from a mid-stage checkpoint of the GRPO stage (its moments were
# offloaded when written): the newest checkpoints removed, --resume.
res = os.path.join(d, "run-resume")
shutil.copytree(os.path.join(d, "run-off"), res)
ckpts = sorted((x for x in os.listdir(res) if x.startswith("checkpoint-")),
               key=lambda x: int(x.split("-")[1]))
mid = [c for c in ckpts
       if json.load(open(os.path.join(res, c, "state.json"))).get(
           "stage_name") == "grpo"]
if len(mid) < 2:
    fail(f"no mid-stage GRPO checkpoint: {ckpts}")
for c in ckpts[ckpts.index(mid[0]) + 1:]:
    shutil.rmtree(os.path.join(res, c))
shutil.rmtree(os.path.join(res, "final"), ignore_errors=True)
p = run("off", "run-resume", ["--resume"])
if p.returncode != 0:
    fail(f"resume: exit code {p.returncode}: {p.stdout[-800:]}")
_, fr, _ = results("run-resume")
_, fo, _ = off
for f in fo:
    if f.startswith(("final/", ckpts[-1] + "/")) and fr.get(f) != fo[f]:
        fail(f"resumed {f} differs from the uninterrupted run's")
if os.path.exists(os.path.join(res, "offload")):
    fail("resume left the offload folder")

# Hostile: the offload file removed, or truncated, while the job runs. The
# job runs a GRPO stage of 60 steps, so that the file is read many times
# after the watcher below first sees it, however late a loaded machine
# schedules the watcher (with 6 steps it could act after the last read).
compile("off-long", [f"hardware.memory_budget={BUDGET}", *STRICT,
                     "stages[1].rl.steps=60"])
for how in ("removed", "truncated"):
    out = f"run-{how}"
    proc = subprocess.Popen([f"./off-long-job", "--device", "cpu", "--progress",
                             "off", "--out", out], cwd=d,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    folder = os.path.join(d, out, "offload")
    done = False
    deadline = time.time() + 300
    # Until the job exits: one removal or truncation could fall inside one of
    # the job's own writes of the file, which would restore it.
    while time.time() < deadline and proc.poll() is None:
        if os.path.isdir(folder):
            for f in os.listdir(folder):
                path = os.path.join(folder, f)
                try:
                    if how == "removed":
                        os.unlink(path)
                    else:
                        os.truncate(path, 100)
                    done = True
                except OSError:
                    pass
        time.sleep(0.002)
    text = proc.communicate(timeout=300)[0]
    if not done:
        fail(f"{how}: never saw the offload file")
    if proc.returncode != 1:
        fail(f"{how}: exit code {proc.returncode}, not 1: {text[-800:]}")
    errs = [l for l in text.splitlines() if "error:" in l]
    if not errs or f"was {how}" not in errs[0] or ".moments" not in errs[0]:
        fail(f"{how}: no located error naming the file: {text[-800:]}")
    print(f"{how}: {errs[0]}")
    if os.path.exists(folder) and os.listdir(folder):
        fail(f"{how}: the failed job left {os.listdir(folder)}")

shutil.rmtree(work, ignore_errors=True)
print(f"OK: offload at {BUDGET} bytes bit-identical to the unconstrained job "
      f"(direct and buffered), resume exact, removed/truncated file located")
