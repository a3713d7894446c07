#!/usr/bin/env python3
"""The memory plan checked at run time (hone-plan-memory + the job's memory
check, docs/runtime.md "Memory check"):
  - the job prints planned and measured peak, logs both in metrics.jsonl
    (the planned one equal to the compiled plan's peak_bytes at one
    thread) with no unplanned allocation, places its models' work buffers
    in the plan's arena, and draws the plan stacked by kind in report.html;
  - at 4 threads the planned peak grows by memsize::runtimeBytes' share
    of the 3 more threads (the row `runtime.threads`), and what the job
    measures grows by no more than 1.10 x that and at least half of it;
  - a job holding memory outside the plan (HONE_INJECT_UNPLANNED_BYTES)
    fails with exit code 1 naming the buffer, after writing its metrics;
  - a spec budget under the plan's peak is a located compile error that
    names the peak's stage and op and what would make it fit.
Usage: memory_check.py HONEC SPEC WORK"""
import json, os, re, shutil, subprocess, sys

honec, spec, work = sys.argv[1:4]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)


def fail(msg):
    sys.exit("FAIL: " + msg)


# The compiled plan.
ir = os.path.join(work, "scheduled.mlir")
subprocess.run([honec, spec, "--compile-to=scheduled", "-o", ir], check=True)
m = re.search(r"hone\.memory_plan = \{.*?\bpeak_bytes = (\d+)", open(ir).read())
if not m:
    fail("no hone.memory_plan in the scheduled IR")
planned = int(m.group(1))
# PPO's ops name lanes: the plan (for steps run inline) says how many.
if not re.search(r"hone\.memory_plan = \{[^\n]*\blanes = [1-9]", open(ir).read()):
    fail("the plan of a program with lanes does not count them")

job = os.path.join(work, "job")
subprocess.run([honec, spec, "stages[0].rl.steps=2", "-o", job], check=True)


def run(name, env=None, lanes="off"):
    out = os.path.join(work, name)
    p = subprocess.run([job, "--device", "cpu", "--progress", "off", "--out",
                        out, "--lanes", lanes],
                       env=dict(os.environ, **(env or {})),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=240)
    print(p.stdout)
    rows = [json.loads(l) for l in open(os.path.join(out, "metrics.jsonl"))]
    mem = [r for r in rows if "memory/planned_peak_bytes" in r]
    return p, mem, out


# One OpenMP thread: the plan's `runtime` row is sized for the spec's
# hardware.threads, 1 when unset (memsize::runtimeBytes).
p, mem, out = run("ok", {"OMP_NUM_THREADS": "1"})
if p.returncode != 0:
    fail(f"exit code {p.returncode}")
m = re.search(r"memory: measured peak .*, planned peak .*, (\d+) buffer\(s\) "
              r"placed in its arena, 0 unplanned", p.stdout)
if not m:
    fail("no planned vs measured line")
# The models' activations, KV caches and decode workspaces went to the
# plan's offsets in the job's arena (a miss fails the job at its end).
if int(m.group(1)) < 1:
    fail("no work buffer was placed at the plan's offsets")
if len(mem) != 1:
    fail(f"expected one memory line in metrics.jsonl, got {len(mem)}")
if mem[0]["memory/planned_peak_bytes"] != planned:
    fail(f"metrics planned peak {mem[0]['memory/planned_peak_bytes']} != "
         f"compiled {planned}")
if not mem[0]["memory/measured_peak_bytes"] > 0:
    fail("measured peak is not positive")
if mem[0]["memory/unplanned_allocations"] != 0:
    fail("unplanned allocations in a planned run")
if "chart memstack" not in open(os.path.join(out, "report.html")).read():
    fail("report.html draws no stacked memory timeline")

# Four threads: the job adds the row `runtime.threads`, 3 x 96 KiB
# (memsize::runtimeBytes: 96 KiB a thread), and the bytes the 3 more
# threads take fit it (measured 268-276 KiB on Zen 2; with a row that
# ignored the thread count the plan did not grow and PPO measured 1.16 x
# its plan at 16 threads).
measured1 = mem[0]["memory/measured_peak_bytes"]
p, mem4, out = run("threads4", {"OMP_NUM_THREADS": "4"})
if p.returncode != 0 or len(mem4) != 1:
    fail(f"4 threads: exit code {p.returncode}")
grew_plan = mem4[0]["memory/planned_peak_bytes"] - planned
if grew_plan != 3 * 96 * 1024:
    fail(f"4 threads: the planned peak grew by {grew_plan} bytes over one "
         f"thread's, expected 3 x 96 KiB (runtime.threads)")
grew = mem4[0]["memory/measured_peak_bytes"] - measured1
if not 0.5 * grew_plan <= grew <= 1.10 * grew_plan:
    fail(f"4 threads: the measured peak grew by {grew} bytes over one "
         f"thread's; the runtime row planned {grew_plan}")

# Steps on lanes: the job adds its lane threads' row (runtime.lanes,
# memsize::laneRuntimeBytes at its thread count) to the plan, and their
# memory fits it (measured within issue 13's 10 %; without the row PPO
# measured 1.07 of its plan, sft-grpo 1.16).
p, mem, out = run("lanes", lanes="on")
if p.returncode != 0 or len(mem) != 1:
    fail(f"--lanes on: exit code {p.returncode}")
lp = mem[0]["memory/planned_peak_bytes"]
if lp <= planned:
    fail(f"--lanes on: planned peak {lp} has no lane row over {planned}")
if mem[0]["memory/measured_peak_bytes"] > 1.10 * lp:
    fail(f"--lanes on: measured {mem[0]['memory/measured_peak_bytes']} over "
         f"1.10 x planned {lp}")

# 512 MiB outside the plan: over 10 % + 64 MiB of any example's plan.
p, mem, out = run("leak", {"HONE_INJECT_UNPLANNED_BYTES": str(512 << 20)})
if p.returncode != 1:
    fail(f"over the plan: exit code {p.returncode}, expected 1")
if not re.search(r"job: error: memory: the job's anonymous resident peak .* exceeds the "
                 r"compiled plan's .*unplanned: injected workspace", p.stdout):
    fail("the error does not name the unplanned buffer")
if len(mem) != 1 or mem[0]["memory/unplanned_allocations"] < 1:
    fail("metrics.jsonl does not count the unplanned allocation")

# A budget over the model state (hone-estimate-memory passes) but under the
# whole plan even after the micro-batch and generation-batch decisions (4 MiB
# fits since the generation batch: PPO's generate 8 -> 4 -> 2 rows): a
# compile error at the peak's op, after the decisions' remarks.
p = subprocess.run([honec, spec, "hardware.memory_budget=3.5MiB",
                    "--compile-to=scheduled", "-o", os.devnull],
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
print(p.stdout)
if p.returncode != 1:
    fail(f"over budget: honec exit code {p.returncode}, expected 1")
if not re.search(r"spec\.textproto:\d+:\d+: error: hone-plan-memory: the job "
                 r"needs .* at its peak, over the memory budget of 3\.5 MiB "
                 r"\(spec\); the peak is in stage '[^']+' at hone\.\w+",
                 p.stdout):
    fail("the over-budget error is not located or does not name the peak")
if "raise hardware.memory_budget to at least" not in p.stdout:
    fail("no hint")
if not re.search(r"remark: hone-plan-memory: micro-batch 8 -> 4 rows", p.stdout):
    fail("no micro-batch decision before the refusal")
if not re.search(r"remark: hone-plan-memory: generation batch 8 -> 4 rows "
                 r"for hone\.generate \(micro_batch 4", p.stdout):
    fail("no generation-batch decision before the refusal")

# A train step whose reads hone-fuse-forwards fused (DPO: chosen and
# rejected in one forward) keeps activations for both reads' rows: the plan
# counts them, so nothing is unplanned (it used to count one read's rows).
dpo_job = os.path.join(work, "dpo-job")
subprocess.run([honec, os.path.join(os.path.dirname(os.path.dirname(spec)),
                                    "dpo", "spec.textproto"), "-o", dpo_job],
               check=True)
out = os.path.join(work, "dpo")
p = subprocess.run([dpo_job, "--device", "cpu", "--progress", "off", "--out",
                    out], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                   text=True, timeout=240)
print(p.stdout)
if p.returncode != 0 or not re.search(r"planned peak .*, 0 unplanned", p.stdout):
    fail("dpo: the fused train step's activations are not in the plan")

shutil.rmtree(work)
print("PASS")
