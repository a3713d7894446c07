#!/usr/bin/env python3
"""Separate rollout and learner devices, projected from a job's trace.

  bench/overlap/project.py RUN/trace.json [--stalenesses 0,1,2]
                           [--link-gbs 25] [--rollout-speed 1]
                           [--learn-speed 1]
  bench/overlap/project.py --check

Reads the RL stage's steps from `./job --trace`'s trace.json (the steps
with a generate) and replays them, step by step with each step's own
measured op times, as a schedule on two devices: a rollout device runs each
step's data, generate, score and group_filter ops, a learner device the
rest (advantages, reference and value reads, the train step), and a link
between them carries the policy's weights to the rollout device after each
learning step (sync_weights' bytes in the trace: the policy's parameters,
or its LoRA adapters) and each step's rollouts to the learner (the rollout
ops' result bytes). At staleness k the rollouts of step i are generated
from the weights after learning step i-1-k, as hone-pipeline-rollouts
schedules them:

  rollout i starts at max(rollout i-1 ends, learn i-1-k ends + weights / link)
  learn i   starts at max(learn i-1 ends,   rollout i ends + rollouts / link)

and the stage takes until the last learning step ends. The speed-up is the
trace's serial time (the sum of the steps' rollout and learn ops, as one
device ran them) over that. Each phase runs at the speed it ran in the
trace (all the machine's cores, where the trace is staleness 0's), divided
by --rollout-speed / --learn-speed for devices faster or slower than it;
transfers over the link take bytes / --link-gbs (GB/s) and do not overlap
each other. Use a staleness-0 trace: in a pipelined one the phases' times
are those measured while the lanes shared the cores.

--check runs the schedule on small synthetic traces against values worked
out by hand (exit 1 on a mismatch).
"""
import argparse
import json
import sys

ROLLOUT_OPS = {"data.next", "generate", "score", "group_filter"}
# Not a step's work: evaluations, checkpoint and model saves, the weights'
# copy (the link's), host bookkeeping (exec.*) and the stream lane's spans
# (rows scored while their batch decodes; the score op itself is counted).
SKIP = {"eval_step", "save", "sync_weights"}


def steps_of(events):
    """[(rollout_s, learn_s, rollout_bytes)] per RL step, and the weights'
    bytes (the largest sync_weights), from a trace's events."""
    ev = sorted((e for e in events
                 if e.get("ph") == "X" and e["args"].get("lane") != "stream"
                 and not e["name"].startswith("exec.")),
                key=lambda e: e["ts"])
    syncs = [e for e in ev if e["name"] == "sync_weights"]
    wbytes = max((e["args"].get("bytes", 0) for e in syncs), default=0)
    gens = [e for e in ev if e["name"] == "generate"]
    if not gens:
        raise ValueError("the trace has no generate op (no RL stage, or "
                         "the job ran without --trace)")
    n = len(gens)
    roll = [0.0] * n
    rbytes = [0] * n
    learn = [0.0] * n
    # Rollout ops by the rollout side's order: the last data.next before a
    # generate belongs to it (earlier ones are another stage's: an SFT
    # stage before), score and group_filter to the generate before them.
    pending = None
    i = -1
    for e in ev:
        if e["name"] == "data.next":
            pending = e
            continue
        if e["name"] == "generate":
            i += 1
            if pending is not None:
                roll[i] += pending["dur"] / 1e6
                rbytes[i] += pending["args"].get("bytes", 0)
            pending = None
        elif e["name"] not in ROLLOUT_OPS or i < 0:
            continue
        roll[i] += e["dur"] / 1e6
        rbytes[i] += e["args"].get("bytes", 0)
    # Learn ops by the step whose sync_weights follows them (every RL step
    # but a pipelined stage's last ends with one, after its train step):
    # an op belongs to the step of the first sync_weights starting at or
    # after its end, one after the last to the last step.
    if len(syncs) not in (n, n - 1):
        raise ValueError(f"{n} generate ops but {len(syncs)} sync_weights: "
                         "not one RL stage's steps")
    ends = [s["ts"] for s in syncs]
    first = gens[0]["ts"]
    for e in ev:
        if e["name"] in ROLLOUT_OPS or e["name"] in SKIP:
            continue
        if e["ts"] < first:
            continue  # before the RL stage (another stage's steps)
        i = sum(1 for t in ends if t < e["ts"] + e["dur"] - 1)
        if i < n:
            learn[i] += e["dur"] / 1e6
    return list(zip(roll, learn, rbytes)), wbytes


def schedule(steps, wbytes, staleness, link_bps=None, rollout_speed=1.0,
             learn_speed=1.0):
    """The two-device schedule's length (s) and each device's busy time."""
    n = len(steps)
    r_end = [0.0] * n
    l_end = [0.0] * n
    link_free = 0.0

    def send(ready, nbytes):
        nonlocal link_free
        if not link_bps or not nbytes:
            return ready
        start = max(ready, link_free)
        link_free = start + nbytes / link_bps
        return link_free

    # Weights for step i arrive after learning step i-1-staleness; the
    # first ones are on both devices from the start.
    w_at = {}
    for i, (r, l, rb) in enumerate(steps):
        src = i - 1 - staleness
        if src >= 0 and src not in w_at:
            w_at[src] = send(l_end[src], wbytes)
        ready = w_at[src] if src >= 0 else 0.0
        r_end[i] = max(r_end[i - 1] if i else 0.0, ready) + r / rollout_speed
        data_at = send(r_end[i], rb)
        l_end[i] = max(l_end[i - 1] if i else 0.0, data_at) + l / learn_speed
    total = l_end[-1]
    busy_r = sum(s[0] for s in steps) / rollout_speed
    busy_l = sum(s[1] for s in steps) / learn_speed
    return total, busy_r, busy_l


def project(trace_path, stalenesses, link_gbs, rollout_speed=1.0,
            learn_speed=1.0):
    """{staleness: (speed-up, total s, speed-up with a free link)} and the
    serial time, from one trace."""
    with open(trace_path) as f:
        doc = json.load(f)
    dropped = doc.get("otherData", {}).get("dropped_events", 0)
    if dropped:
        print(f"{trace_path}: {dropped} events past the trace's cap were "
              "not recorded: the projection covers the steps before them",
              file=sys.stderr)
    steps, wbytes = steps_of(doc["traceEvents"])
    serial = sum(r + l for r, l, _ in steps)
    out = {}
    for k in stalenesses:
        t, _, _ = schedule(steps, wbytes, k, link_gbs * 1e9 if link_gbs
                           else None, rollout_speed, learn_speed)
        t0, _, _ = schedule(steps, wbytes, k, None, rollout_speed,
                            learn_speed)
        out[k] = (serial / t, t, serial / t0)
    return out, serial, steps, wbytes


def check():
    bad = []

    def want(name, got, exp):
        if abs(got - exp) > 1e-9:
            bad.append(f"{name}: {got} != {exp}")

    # Rollout 3, learn 2 each step, 4 steps, no link cost.
    st = [(3.0, 2.0, 0)] * 4
    # Staleness 0: serial, 4 x 5.
    want("s0", schedule(st, 0, 0)[0], 20.0)
    # Staleness 1: rollouts back to back (the longer phase), the last
    # learning step after the last rollout: 4 x 3 + 2.
    want("s1", schedule(st, 0, 1)[0], 14.0)
    # Learning longer (rollout 2, learn 3): staleness 1 gives
    # 2 + 4 x 3 = 14, staleness 2 the same (bound by learning).
    st2 = [(2.0, 3.0, 0)] * 4
    want("s1 learn-bound", schedule(st2, 0, 1)[0], 14.0)
    want("s2 learn-bound", schedule(st2, 0, 2)[0], 14.0)
    # Staleness 1, learn-bound: rollout 2 waits for learn 0 (ends at 5)
    # and then starts the rollout of step 2 at 5: r_end 2,4,7,10, l_end
    # 5,8,11,14. With weights taking 1 s over the link: rollout 2 starts
    # at 6 (ends 8), rollout 3 at learn 1's end 8 + 1 = 9 (ends 11); learn
    # 2 at max(8, 8) = 8 -> 11, learn 3 at max(11, 11) -> 14.
    want("s1 link", schedule(st2, 1e9, 1, link_bps=1e9)[0], 14.0)
    # Staleness 0 with weights costing 1 s: every rollout after the first
    # waits for them: 5 + 3 x (1 + 5) = 23.
    want("s0 link", schedule(st, 1e9, 0, link_bps=1e9)[0], 23.0)
    # Rollouts costing 0.5 s over the link each, staleness 1, rollout-bound
    # (3, 2): learning i starts 0.5 s after rollout i: last ends 12 + 0.5
    # + 2.
    want("s1 data", schedule([(3.0, 2.0, 5e8)] * 4, 0, 1,
                             link_bps=1e9)[0], 14.5)
    # Uneven steps: the step is the longer of each pair, not of the means:
    # (4, 1), (1, 4), staleness 1: r_end 4, 5; l_end 5, 9 (mean-based
    # bound: 2 x 2.5 + 2.5 = 7.5).
    want("uneven", schedule([(4.0, 1.0, 0), (1.0, 4.0, 0)], 0, 1)[0], 9.0)
    # A faster rollout device halves the rollout times: (3, 2) x 4 at
    # staleness 1 -> rollouts 1.5, learn-bound: 1.5 + 4 x 2 = 9.5.
    want("speed", schedule(st, 0, 1, rollout_speed=2.0)[0], 9.5)
    # steps_of on a synthetic serial trace (staleness 0, an SFT step before,
    # stream spans and host ops left out).
    ev = [
        {"name": "data.next", "ph": "X", "ts": 0, "dur": 10,
         "args": {"lane": "host", "bytes": 8}},
        {"name": "train_step", "ph": "X", "ts": 10, "dur": 100,
         "args": {"lane": "host", "bytes": 4}},
    ]
    t = 200
    for i in range(3):
        for name, lane, dur, b in (("data.next", "rollout", 5, 16),
                                   ("generate", "rollout", 300, 1000),
                                   ("score.rows", "stream", 250, 0),
                                   ("score", "rollout", 20, 64),
                                   ("exec.rollouts_in_flight", "host", 7, 0),
                                   ("advantage", "learn", 3, 64),
                                   ("train_step", "learn", 200, 4),
                                   ("sync_weights", "copy", 2, 4096)):
            ev.append({"name": name, "ph": "X", "ts": t, "dur": dur,
                       "args": {"lane": lane, "bytes": b}})
            t += dur + 1
    ev.append({"name": "eval_step", "ph": "X", "ts": t, "dur": 50,
               "args": {"lane": "host", "bytes": 0}})
    steps, wb = steps_of(ev)
    if wb != 4096 or len(steps) != 3:
        bad.append(f"steps_of: {len(steps)} steps, weights {wb}")
    for r, l, rb in steps:
        want("steps_of rollout", r, 325e-6)
        want("steps_of learn", l, 203e-6)
        want("steps_of bytes", rb, 1080)
    if bad:
        print("FAIL\n" + "\n".join(bad))
        return 1
    print("PASS")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("trace", nargs="?")
    ap.add_argument("--stalenesses", default="0,1,2")
    ap.add_argument("--link-gbs", type=float, default=25.0,
                    help="link bandwidth in GB/s (default 25: PCIe 4.0 x16)")
    ap.add_argument("--rollout-speed", type=float, default=1.0)
    ap.add_argument("--learn-speed", type=float, default=1.0)
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    if a.check:
        return check()
    if not a.trace:
        ap.error("a trace.json (or --check)")
    try:
        res, serial, steps, wbytes = project(
            a.trace, [int(x) for x in a.stalenesses.split(",")], a.link_gbs,
            a.rollout_speed, a.learn_speed)
    except (OSError, ValueError, KeyError) as e:
        print(f"{a.trace}: {e}", file=sys.stderr)
        return 1
    n = len(steps)
    r = sum(s[0] for s in steps) / n
    l = sum(s[1] for s in steps) / n
    print(f"{n} RL steps; per step rollout {r * 1e3:.1f} ms, learn "
          f"{l * 1e3:.1f} ms (means); serial {serial:.3f} s; weights "
          f"{wbytes / 1e6:.1f} MB a sync, link {a.link_gbs:g} GB/s")
    print("staleness | two devices (s) | speed-up over one device | "
          "with a free link")
    for k, (sp, t, sp0) in res.items():
        print(f"{k} | {t:.3f} | {sp:.3f}x | {sp0:.3f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
