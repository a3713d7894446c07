#!/usr/bin/env python3
"""./job --trace: the measured schedule. A compiled GRPO job run with
--trace writes RUN/trace.json in the Chrome trace-event format (loads in
Perfetto / chrome://tracing): every event is complete ("X") or metadata
("M"), times are non-negative numbers, every thread is named after a lane,
and the ops include generate and train_step; each sync_weights event's
bytes are the policy's parameters' (what a rollout device would be sent);
bench/overlap/project.py reads its steps; report.html draws it as a
Gantt chart. With --lanes on the steps run on the rollout and learn lanes,
with --lanes off on the host; a job stopped by SIGTERM writes the trace
of the steps it ran; without --trace nothing is written and the report
says so. Never asserts timings.
Usage: trace_schedule.py HONEC SPEC WORK"""
import json, math, os, shutil, signal, struct, subprocess, sys, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "bench", "overlap"))
import project  # noqa: E402  (bench/overlap/project.py)

honec, spec, work = sys.argv[1:4]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
# "stream": rows scored while their batch decodes (hone-stream-scores).
KNOWN_LANES = {"host", "rollout", "learn", "copy", "comm", "stream"}


def fail(msg):
    sys.exit("FAIL: " + msg)


try:
    job = os.path.join(work, "job")
    subprocess.run([honec, spec, "stages[0].rl.steps=2", "--compile-to=exe",
                    "-o", job], check=True)

    def run(name, *extra):
        out = os.path.join(work, name)
        p = subprocess.run([job, "--device", "cpu", "--progress", "off",
                            "--out", out, *extra], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=240)
        print(f"--- {name}: exit {p.returncode}\n{p.stdout[-2000:]}")
        if p.returncode != 0:
            fail(f"{name}: exit code {p.returncode}")
        return out

    def check_trace(out, want_lanes):
        path = os.path.join(out, "trace.json")
        if not os.path.exists(path):
            fail(f"{path} was not written")
        with open(path) as f:
            doc = json.load(f)  # strict JSON, or this raises
        events = doc.get("traceEvents")
        if not isinstance(events, list) or not events:
            fail(f"{path}: no traceEvents array")
        threads, used_tids, ops = {}, set(), set()
        for e in events:
            for key in ("name", "ph", "pid", "tid"):
                if key not in e:
                    fail(f"{path}: event without '{key}': {e}")
            if e["ph"] == "M":
                if e["name"] == "thread_name":
                    threads[e["tid"]] = e["args"]["name"]
                continue
            if e["ph"] != "X":
                fail(f"{path}: event with ph {e['ph']!r}: {e}")
            for key in ("ts", "dur"):
                v = e.get(key)
                if isinstance(v, bool) or not isinstance(v, (int, float)) \
                        or v < 0:
                    fail(f"{path}: bad {key} in {e}")
            if not isinstance(e.get("args", {}).get("bytes", 0), int):
                fail(f"{path}: bad bytes in {e}")
            used_tids.add(e["tid"])
            ops.add(e["name"])
            lane = e["args"]["lane"]
            if lane not in KNOWN_LANES:
                fail(f"{path}: unknown lane {lane!r}")
        for e in events:
            if e["ph"] == "X" and threads.get(e["tid"]) != e["args"]["lane"]:
                fail(f"{path}: tid {e['tid']} is named "
                     f"{threads.get(e['tid'])!r}, the event's lane is "
                     f"{e['args']['lane']!r}")
        lanes = {threads[t] for t in used_tids}
        if not want_lanes <= lanes:
            fail(f"{path}: lanes {sorted(lanes)}, expected {sorted(want_lanes)}")
        for op in ("generate", "train_step"):
            if op not in ops:
                fail(f"{path}: no {op} event (ops: {sorted(ops)})")
        # sync_weights' bytes: the policy's weights a rollout copy would
        # receive, here every parameter, as the checkpoint counts them.
        ck = sorted(d for d in os.listdir(out) if d.startswith("checkpoint-"))
        with open(os.path.join(out, ck[-1], "model.safetensors"), "rb") as f:
            head = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
        head.pop("__metadata__", None)
        want = sum(4 * math.prod(t["shape"]) for t in head.values())
        syncs = [e["args"]["bytes"] for e in events
                 if e["ph"] == "X" and e["name"] == "sync_weights"]
        if not syncs or any(b != want for b in syncs):
            fail(f"{path}: sync_weights bytes {syncs}, expected {want} "
                 f"(the checkpoint's parameters in fp32)")
        # bench/overlap/project.py reads the RL stage's steps from it: one
        # per step run, and its two-device schedule at staleness 0 with a
        # free link is the serial time exactly (rollout i waits for learn
        # i-1, learn i for rollout i); at staleness 1 between 1x and 2x.
        steps, wb = project.steps_of(events)
        if len(steps) != 2 or wb != want or any(r <= 0 or l <= 0
                                                for r, l, _ in steps):
            fail(f"{path}: project.py read {steps} (weights {wb})")
        serial = sum(r + l for r, l, _ in steps)
        s0 = project.schedule(steps, wb, 0)[0]
        s1 = project.schedule(steps, wb, 1)[0]
        if abs(s0 - serial) > 1e-9 * serial or not serial / 2 <= s1 <= serial:
            fail(f"{path}: projected {s0} and {s1} s, serial {serial} s")
        with open(os.path.join(out, "report.html")) as f:
            html = f.read()
        if 'class="chart gantt"' not in html:
            fail(f"{out}/report.html has no Gantt chart")
        if "No schedule trace was recorded" in html:
            fail(f"{out}/report.html says no trace was recorded")
        for lane in want_lanes:
            if f'class="tk">{lane}</text>' not in html:
                fail(f"{out}/report.html: no Gantt row for lane {lane}")
        print(f"{name}: {sum(e['ph'] == 'X' for e in events)} events, "
              f"lanes {sorted(lanes)}, ops {sorted(ops)}")

    name = "lanes-on"
    check_trace(run(name, "--trace", "--lanes", "on"), {"rollout", "learn"})
    name = "lanes-off"
    check_trace(run(name, "--trace", "--lanes", "off"), {"host"})

    # A signal stop (checkpoint, exit 0, no report) still writes trace.json.
    long_job = os.path.join(work, "job-long")
    subprocess.run([honec, spec, "stages[0].rl.steps=2000",
                    "--compile-to=exe", "-o", long_job], check=True)
    out = os.path.join(work, "stopped")
    p = subprocess.Popen([long_job, "--device", "cpu", "--progress", "off",
                          "--out", out, "--trace"], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    metrics = os.path.join(out, "metrics.jsonl")
    deadline = time.time() + 120
    while not (os.path.exists(metrics) and
               sum(1 for l in open(metrics) if '"stage"' in l) >= 2):
        if p.poll() is not None or time.time() > deadline:
            fail("the long job ended or stalled before its second step")
        time.sleep(0.02)
    p.send_signal(signal.SIGTERM)
    text, _ = p.communicate(timeout=120)
    print(f"--- stopped: exit {p.returncode}\n{text[-1000:]}")
    if p.returncode != 0 or "stopped by a signal" not in text:
        fail(f"SIGTERM: exit {p.returncode}, expected a stop and exit 0")
    with open(os.path.join(out, "trace.json")) as f:
        stopped = json.load(f)
    names = {e["name"] for e in stopped["traceEvents"] if e["ph"] == "X"}
    if "train_step" not in names:
        fail(f"stopped job's trace has no train_step (ops: {sorted(names)})")

    out = run("no-trace", "--lanes", "on")
    if os.path.exists(os.path.join(out, "trace.json")):
        fail("trace.json written without --trace")
    with open(os.path.join(out, "report.html")) as f:
        html = f.read()
    if "No schedule trace was recorded" not in html or "gantt" in html:
        fail("without --trace the report should say no trace was recorded")
    print("PASS")
finally:
    shutil.rmtree(work, ignore_errors=True)
