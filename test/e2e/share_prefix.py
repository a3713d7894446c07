#!/usr/bin/env python3
"""Shared prompt rows are exact (docs/runtime.md "Shared prompt rows"): the
GRPO examples' jobs run with the default (the samples of a prompt run its
rows once in the train step's forward and backward and in the reference's
log-probs) and with HONE_SHARE_PREFIX=0 (every sample's rows) log the same
metrics to float32 rounding: step 1 to 1e-5 relative (the forwards' GEMMs
run on fewer rows: other roundings, nothing else), later steps to 2e-3
while both runs train on the same rollouts (the metric completions/digest,
a hash of the step's rollout tokens, equal; a sampled token that flips by
rounding gives the runs other data from then on). The layout must have
run: each RL stage's measured GFLOP per step (report.html, "Model work")
is lower with sharing than without (the SFT stage's rows, which
share no prompt, the same). grpo (no KL: the train step alone),
sft-grpo (beta 0.04: the reference's log-probs too, after an SFT stage)
and rloo. Never asserts timings.
Usage: share_prefix.py HONEC EXAMPLES WORK"""
import json, os, re, shutil, subprocess, sys

honec, examples, work = map(os.path.abspath, sys.argv[1:4])
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)

CASES = ["grpo", "sft-grpo", "rloo"]
NOISE = re.compile(r"per_sec|time|seconds|_ms$|^elapsed")


def run(d, out, share):
    env = dict(os.environ)
    env.pop("HONE_SHARE_PREFIX", None)
    if not share:
        env["HONE_SHARE_PREFIX"] = "0"
    subprocess.run(["./job", "--device", "cpu", "--out", out, "--progress",
                    "off"], cwd=d, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, env=env)
    rows = [json.loads(l) for l in open(os.path.join(d, out, "metrics.jsonl"))]
    return [r for r in rows if "stage" in r], gflop(os.path.join(d, out))


def gflop(out):
    """Measured GFLOP per step of each (stage, model) in report.html."""
    h = open(os.path.join(out, "report.html")).read()
    t = h[h.find("Model work per stage iteration"):]
    t = t[:t.find("</table>")]
    res = {}
    for r in re.findall(r"<tr>(.*?)</tr>", t)[1:]:
        c = re.findall(r"<td>(.*?)</td>", r)
        if len(c) == 11 and c[10]:
            res[(c[0], c[1])] = float(c[10])
    return res


failed = False
for example in CASES:
    d = os.path.join(work, example)
    shutil.copytree(os.path.join(examples, example), d)
    subprocess.run([honec, "spec.textproto", "--compile-to=exe", "-o", "job"],
                   cwd=d, check=True, stderr=subprocess.DEVNULL)
    (m_on, g_on), (m_off, g_off) = run(d, "on", True), run(d, "off", False)
    if len(m_on) != len(m_off) or not m_on:
        sys.exit(f"FAIL: {example}: {len(m_on)} metric rows shared, "
                 f"{len(m_off)} not")
    # The RL stage's rows: fewer FLOPs where prompts were shared.
    fewer = [k for k in g_on if k in g_off and g_on[k] < g_off[k] * 0.99]
    if not fewer:
        print(f"FAIL: {example}: no stage's measured GFLOP fell with "
              f"sharing: {g_on} vs {g_off}")
        failed = True
    compared = same = 0
    parted = None
    for step, (a, b) in enumerate(zip(m_on, m_off)):
        if a.get("completions/digest") != b.get("completions/digest"):
            parted = step + 1
            break
        for k in sorted(k for k in a if not NOISE.search(k)):
            x, y = a[k], b.get(k)
            compared += 1
            if x == y:
                same += 1
                continue
            numeric = isinstance(x, (int, float)) and isinstance(y, (int, float))
            rel, abs_ = (1e-5, 1e-6) if step == 0 else (2e-3, 2e-5)
            allowed = abs_ + rel * max(abs(x), abs(y)) if numeric else 0
            if not numeric or abs(x - y) > allowed:
                print(f"FAIL: {example}: step {step + 1} {k}: shared {x!r}, "
                      f"not {y!r} (allowed {allowed:.3g})")
                failed = True
    if compared == 0:
        print(f"FAIL: {example}: rollouts part at step 1")
        failed = True
    print(f"{example}: {len(m_on)} metric rows, {same} of {compared} compared "
          f"bit-identical, the rest within bounds; rollouts "
          + (f"part at row {parted}" if parted else "never part")
          + "; GFLOP per step shared vs not: "
          + ", ".join(f"{k[0]}/{k[1]} {g_on[k]:.4g} vs {g_off[k]:.4g}"
                      for k in fewer))
if failed:
    sys.exit(1)
shutil.rmtree(work, ignore_errors=True)
