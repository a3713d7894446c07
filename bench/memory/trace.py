#!/usr/bin/env python3
"""Where a job's memory outside the plan's arena lives: runs a compiled job,
samples /proc/PID/smaps every few milliseconds and prints, for the sample
with the most anonymous resident bytes, the anonymous resident bytes per
kind of mapping against the first sample after start-up (the job writes
RUN/program.mlir right after its memory baseline).

  bench/memory/trace.py JOB [job args ...]

Kinds: the job's arena (the largest anonymous mapping), [heap] (glibc's main
arena), thread arenas (glibc's per-thread heaps: 64 MiB-aligned
reservations), thread stacks (8 MiB mappings with a guard page), JIT code
(anonymous executable pages: oneDNN's generated kernels), other anonymous
mappings (large malloc blocks, library buffers). A diagnostic, not a test:
sampling misses short peaks.
"""
import os
import re
import subprocess
import sys
import time

HDR = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$")


def read_smaps(pid):
    maps = []
    cur = None
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                m = HDR.match(line)
                if m:
                    cur = {"lo": int(m.group(1), 16), "hi": int(m.group(2), 16),
                           "perms": m.group(3), "name": m.group(4).strip(),
                           "anon": 0, "rss": 0}
                    maps.append(cur)
                elif line.startswith("Anonymous:"):
                    cur["anon"] = int(line.split()[1]) * 1024
                elif line.startswith("Rss:"):
                    cur["rss"] = int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return maps


def classify(maps, arena_bytes):
    """Anonymous bytes per kind."""
    kinds = {}
    big = None
    if arena_bytes:  # the arena: the mapping closest in size to the plan
        big = min((m for m in maps if not m["name"]),
                  key=lambda m: abs(m["hi"] - m["lo"] - arena_bytes),
                  default=None)
    for i, m in enumerate(maps):
        if m["anon"] == 0:
            continue
        size = m["hi"] - m["lo"]
        nxt = maps[i + 1] if i + 1 < len(maps) else None
        prev = maps[i - 1] if i > 0 else None
        if m is big:
            k = "arena (the plan's peak)"
        elif m["name"] == "[heap]":
            k = "[heap] main malloc arena"
        elif m["name"] == "[stack]":
            k = "[stack] main thread"
        elif m["name"]:
            k = "file-backed (data/bss, COW)"
        elif "x" in m["perms"]:
            k = "anonymous executable (JIT)"
        elif (prev and prev["perms"] == "---p" and not prev["name"]
              and prev["hi"] == m["lo"] and size in (8 << 20, (8 << 20) - 4096,
                                                     (8 << 20) + 4096)):
            k = "thread stacks"
        elif (m["lo"] % (64 << 20) == 0 and nxt and nxt["perms"] == "---p"
              and nxt["lo"] == m["hi"]):
            k = "glibc thread arenas"
        elif m["lo"] % (64 << 20) == 0 and size == (64 << 20):
            k = "glibc thread arenas"
        else:
            k = "other anonymous (mmap'd blocks)"
        kinds[k] = kinds.get(k, 0) + m["anon"]
    return kinds


def main():
    argv = sys.argv[1:]
    out = None
    for i, a in enumerate(argv):
        if a == "--out" and i + 1 < len(argv):
            out = argv[i + 1]
    if not out:
        sys.exit("trace.py: give the job an --out RUN directory")
    marker = os.path.join(out, "program.mlir")
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    base = peak = None
    peak_total = -1
    while p.poll() is None:
        maps = read_smaps(p.pid)
        if maps:
            total = sum(m["anon"] for m in maps)
            if base is None and os.path.exists(marker):
                base = maps
            if base is not None and total > peak_total:
                peak_total, peak = total, maps
        time.sleep(0.005)
    if base is None or peak is None:
        sys.exit(f"trace.py: no samples (rc {p.returncode})")
    arena = 0
    for line in open(os.path.join(out, "metrics.jsonl")):
        m = re.search(r'"memory/planned_peak_bytes":(\d+)', line)
        if m:
            arena = int(m.group(1))
    print("largest anonymous mappings at the peak (KiB):")
    for m in sorted(peak, key=lambda m: -m["anon"])[:8]:
        print(f"  {m['lo']:x} {(m['hi'] - m['lo']) >> 10:9} {m['perms']} "
              f"{m['anon'] >> 10:9} {m['name']}")
    base, peak = classify(base, arena), classify(peak, arena)
    keys = sorted(set(base) | set(peak), key=lambda k: -peak.get(k, 0))
    print(f"{'kind':34} {'start':>9} {'peak':>9} {'added':>9}  (KiB)")
    for k in keys:
        b, q = base.get(k, 0), peak.get(k, 0)
        print(f"{k:34} {b >> 10:9} {q >> 10:9} {(q - b) >> 10:9}")
    tb, tq = sum(base.values()), sum(peak.values())
    print(f"{'total':34} {tb >> 10:9} {tq >> 10:9} {(tq - tb) >> 10:9}")
    return p.returncode


if __name__ == "__main__":
    sys.exit(main())
