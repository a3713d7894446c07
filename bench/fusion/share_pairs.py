#!/usr/bin/env python3
"""Preference pairs sharing their prompt rows, on/off (docs/runtime.md
"Shared prompt rows"): one DPO job run with the default (a record's chosen
and rejected rows side by side in the policy's forward and backward and in
the reference table's forwards, the prompt run once) and with
HONE_SHARE_PREFIX=0 (every row alone).

  bench/fusion/share_pairs.py [--honec build/bin/honec] [--runs 3]
      [--records 32] [--batch 8] [--prompt 48] [--completion 48]
      [--loss dpo] [--no-precompute] [override ...]

The data: RECORDS synthetic pairs in the DPO example's alphabet, each a
prompt of PROMPT characters (sums, "12+34=46 ...", ending "a+b=") and a
chosen and a rejected completion of COMPLETION characters that differ from
their first character on, so the prompt is PROMPT / (PROMPT + COMPLETION)
of a row's tokens (about half by default, as in UltraFeedback-like data).
The model: the DPO example's spec at d_model 512 x 8 layers, max_seq_len
128, batch BATCH, one epoch (RECORDS / BATCH steps), reference precomputed
(the default; --no-precompute: a reference forward per step). The two
settings run alternately (interleaved), RUNS times each. Printed per
setting: median CPU time of the job (user + system from wait4, start-up and
the reference table included: the figure to compare on a loaded machine),
median wall time, median peak RSS (ru_maxrss), the job's memory line
(measured peak, plan's peak), the policy's measured GFLOP per step
(report.html, "Model work"), and the largest logged-loss difference; and
the CPU time of the training steps alone: the same job with 2 epochs,
run right after, minus the 1-epoch job (start-up and the reference table
cancel; median over runs); and
the steps' wall-time ratio (the median of every step's tokens_per_sec,
on over off: both count the same tokens, so it is off's step time over
on's; wall time, noisy on a loaded machine).
"""
import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

import shapes  # noqa: E402 (this directory)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_job(job, out, cwd, share):
    """shapes.run_job with sharing on or off, plus the policy's measured
    GFLOP (report.html, "Model work")."""
    env = dict(os.environ)
    env.pop("HONE_SHARE_PREFIX", None)
    if not share:
        env["HONE_SHARE_PREFIX"] = "0"
    res = shapes.run_job(job, out, cwd, env)
    h = open(os.path.join(out, "report.html")).read()
    t = h[h.find("Model work per stage iteration"):]
    t = t[:t.find("</table>")]
    gf = [float(c[10]) for c in (re.findall(r"<td>(.*?)</td>", r) for r in
                                 re.findall(r"<tr>(.*?)</tr>", t)[1:])
          if len(c) == 11 and c[10]]
    return res + (sum(gf),)


def text(rng, n):
    """n characters of sums ("12+34=46 56+7=63 ..."), ending "a+b=" ."""
    s = ""
    while len(s) < n:
        a, b = rng.randrange(100), rng.randrange(100)
        s += f"{a}+{b}={a + b} "
    a, b = rng.randrange(10), rng.randrange(10)
    tail = f"{a}+{b}="
    return s[:n - len(tail)] + tail


def data(path, records, prompt, completion, seed=7):
    rng = random.Random(seed)
    with open(path, "w") as f:
        for _ in range(records):
            p = text(rng, prompt)
            c = "".join(rng.choice("0123456789 ") for _ in range(completion))
            r = "".join(rng.choice("0123456789 ") for _ in range(completion))
            r = ("1" if c[0] != "1" else "2") + r[1:]
            f.write(json.dumps({"prompt": p, "chosen": c, "rejected": r}) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--honec", default=os.path.join(ROOT, "build/bin/honec"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--records", type=int, default=32)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--prompt", type=int, default=48)
    ap.add_argument("--completion", type=int, default=48)
    ap.add_argument("--loss", default="dpo")
    ap.add_argument("--no-precompute", action="store_true")
    ap.add_argument("overrides", nargs="*")
    a = ap.parse_args()
    ovr = ["models[0].init.d_model=512", "models[0].init.layers=8",
           "models[0].init.heads=8", "models[0].init.kv_heads=8",
           "models[0].init.max_seq_len=128",
           f"stages[0].preference.loss={a.loss}",
           f"stages[0].preference.loop.batch_size={a.batch}",
           "stages[0].preference.loop.epochs=1", *a.overrides]
    work = tempfile.mkdtemp(prefix="hone-bench-share-pairs-")
    try:
        shutil.copy(os.path.join(ROOT, "examples", "dpo", "spec.textproto"),
                    work)
        data(os.path.join(work, "pairs.jsonl"), a.records, a.prompt,
             a.completion)
        job = os.path.join(work, "job")
        job2 = os.path.join(work, "job2")  # two epochs
        extra = ["--no-precompute-reference"] if a.no_precompute else []
        for j, e in ((job, []), (job2, ["stages[0].preference.loop.epochs=2"])):
            subprocess.run([a.honec, "spec.textproto", *ovr, *e, *extra,
                            "--compile-to=exe", "-o", j], check=True,
                           capture_output=True, text=True, cwd=work)
        res = {m: {"cpu": [], "wall": [], "rss": []} for m in ("on", "off")}
        epoch = {"on": [], "off": []}  # CPU of the second epoch's steps
        plan, losses, gflop = {}, {}, {}
        tps = {"on": [], "off": []}  # the steps' tokens_per_sec, all runs
        for _ in range(a.runs):
            for mode in ("on", "off"):
                dt, peak, train, c, plan[mode], gflop[mode] = run_job(
                    job, os.path.join(work, "run-" + mode), work, mode == "on")
                res[mode]["wall"].append(dt)
                res[mode]["cpu"].append(c)
                res[mode]["rss"].append(peak)
                losses[mode] = [r.get("loss") for r in train]
                tps[mode] += [r["tokens_per_sec"] for r in train
                              if "tokens_per_sec" in r]
                epoch[mode].append(run_job(
                    job2, os.path.join(work, "run2-" + mode), work,
                    mode == "on")[3] - c)
        steps = len(losses["on"])
        frac = a.prompt / (a.prompt + a.completion)
        print(f"{a.loss}{' (reference per step)' if a.no_precompute else ''}: "
              f"{a.records} records, prompt {a.prompt} + completion "
              f"{a.completion} characters (prompt {frac:.0%} of a row), "
              f"batch {a.batch}, {steps} steps, {a.runs} runs each, "
              f"interleaved ({' '.join(ovr)})")
        med = {m: {k: statistics.median(v) for k, v in res[m].items()}
               for m in res}
        for mode in ("on", "off"):
            print(f"  sharing {mode:3}: CPU {med[mode]['cpu']:.2f} s "
                  f"(runs {', '.join(f'{x:.2f}' for x in res[mode]['cpu'])}), "
                  f"wall {med[mode]['wall']:.2f} s, peak RSS "
                  f"{med[mode]['rss'] / 2**20:.1f} MiB; job's memory line "
                  f"(measured, plan) {plan[mode]}; policy measured "
                  f"{gflop[mode]:.4g} GFLOP a step")
        rate = statistics.median(tps["on"]) / statistics.median(tps["off"])
        ep = {m: statistics.median(epoch[m]) for m in epoch}
        print(f"  CPU of one epoch's {steps} steps (2-epoch job minus "
              f"1-epoch job, same run): on {ep['on']:.2f} s, off "
              f"{ep['off']:.2f} s: {ep['off'] / ep['on']:.2f}x")
        print(f"  off/on: CPU {med['off']['cpu'] / med['on']['cpu']:.2f}x, "
              f"step wall time (median tokens_per_sec on/off) {rate:.2f}x, "
              f"wall {med['off']['wall'] / med['on']['wall']:.2f}x, GFLOP a "
              f"step {gflop['off'] / gflop['on']:.2f}x, peak RSS "
              f"{med['off']['rss'] / med['on']['rss']:.2f}x")
        worst = max(abs(x - y) for x, y in zip(losses["on"], losses["off"]))
        print(f"  largest loss difference {worst:.3g} over {steps} steps")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
