#!/usr/bin/env python3
"""What offloading AdamW moments (hone-plan-memory's decision 5) buys and
costs on one example.

  bench/memory/offload.py [--honec build/bin/honec] [--example sft-grpo]
                          [--runs 3] [--work DIR] [--all-decisions]

Finds, by bisection over hardware.memory_budget (to 4 KiB), the smallest
budget the plan meets without offload (--no-offload) and with it; by
default decisions 3 and 4 are off (--no-micro-batch --no-generation-batch:
the decisions left keep results bit-identical), --all-decisions keeps them.
Then builds both jobs at their smallest budgets and runs them interleaved
(--runs times each), printing per job the planned and measured peak
(memory/planned_peak_bytes, memory/measured_peak_bytes of metrics.jsonl)
and the wall and CPU time (user + system of the job process) of the whole
job, medians; the offload job's summary line (bytes moved, I/O mode)."""
import argparse, json, os, re, resource, shutil, statistics, subprocess
import sys, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument("--honec", default="build/bin/honec")
ap.add_argument("--example", default="sft-grpo")
ap.add_argument("--runs", type=int, default=3)
ap.add_argument("--work")
ap.add_argument("--all-decisions", action="store_true")
args = ap.parse_args()
honec = os.path.abspath(args.honec)
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
work = args.work or tempfile.mkdtemp(prefix="hone-offload-bench-")
d = os.path.join(work, args.example)
shutil.rmtree(d, ignore_errors=True)
shutil.copytree(os.path.join(root, "examples", args.example), d)
strict = [] if args.all_decisions else ["--no-micro-batch",
                                         "--no-generation-batch"]


def fits(budget, flags):
    return subprocess.run([honec, "spec.textproto",
                           f"hardware.memory_budget={budget}", *strict, *flags,
                           "--compile-to=scheduled", "-o", "/dev/null"],
                          cwd=d, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


def peak():
    ir = subprocess.run([honec, "spec.textproto", "--compile-to=scheduled",
                         "-o", "-"], cwd=d, check=True, capture_output=True,
                        text=True).stdout
    return int(re.search(r"\bpeak_bytes = (\d+)", ir).group(1))


def smallest(flags, hi):
    lo = hi // 4  # assumed not to fit
    while hi - lo > 4096:
        mid = (lo + hi) // 2
        if fits(mid, flags):
            hi = mid
        else:
            lo = mid
    return hi


p0 = peak()
without = smallest(["--no-offload"], p0)
with_ = smallest([], without)
print(f"{args.example}: unconstrained plan {p0} bytes; smallest budget "
      f"without offload {without}, with offload {with_} "
      f"({100 * (1 - with_ / without):.1f} % lower)")
jobs = {"without": (without, ["--no-offload"]), "with": (with_, [])}
for name, (budget, flags) in jobs.items():
    subprocess.run([honec, "spec.textproto", f"hardware.memory_budget={budget}",
                    *strict, *flags, "-o", name + "-job"], cwd=d, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
times = {n: [] for n in jobs}
mem = {}
for r in range(args.runs):
    for name in jobs:
        out = f"run-{name}-{r}"
        t0 = time.time()
        p = subprocess.Popen([f"./{name}-job", "--device", "cpu", "--progress",
                              "off", "--out", out], cwd=d,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
        text = p.stdout.read()
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        wall = time.time() - t0
        if p.returncode != 0:
            sys.exit(f"{name}: exit {p.returncode}: {text[-800:]}")
        times[name].append((wall, ru.ru_utime + ru.ru_stime))
        for line in open(os.path.join(d, out, "metrics.jsonl")):
            m = json.loads(line)
            if "memory/measured_peak_bytes" in m:
                mem[name] = (m["memory/planned_peak_bytes"],
                             m["memory/measured_peak_bytes"])
        s = re.search(r"optimiser moments offloaded[^\n]*", text)
        if s and r == 0:
            print(f"  {name}: {s.group(0).strip()}")
for name in jobs:
    wall = statistics.median(t[0] for t in times[name])
    cpu = statistics.median(t[1] for t in times[name])
    print(f"  {name:8s} budget {jobs[name][0]:>9d}  planned {mem[name][0]:>9.0f}"
          f"  measured {mem[name][1]:>9.0f}  wall {wall:6.2f} s  cpu {cpu:6.2f} s"
          f"  (median of {args.runs})")
w = statistics.median(t[0] for t in times["with"]) / statistics.median(
    t[0] for t in times["without"])
c = statistics.median(t[1] for t in times["with"]) / statistics.median(
    t[1] for t in times["without"])
print(f"  offload / no offload: wall {w:.3f}x, cpu {c:.3f}x")
if not args.work:
    shutil.rmtree(work, ignore_errors=True)
