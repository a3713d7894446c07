#!/usr/bin/env python3
"""Shared prompt rows for preference pairs are exact (docs/runtime.md
"Shared prompt rows"): a record's chosen and rejected rows (KTO: its row
and its mismatched row) begin with the same prompt, and the fused forward
of a train step, hone.logprob over several batches and the reference table
put them side by side (runtime/ops/ReadGroupRows.h, chooseGroupOrder) so
that the prompt runs once. Each preference example's job runs with the
default and with HONE_SHARE_PREFIX=0 (every row alone, member order, the
code before pairing): both must log the same metrics to float32 rounding
(step 1 to 1e-5 relative, later steps to 2e-3: GEMMs over fewer rows, other
roundings, which AdamW carries on) and end with the same weights to within
max(1e-4, 4x) the drift of the unshared job's rounding twins (the same job
on other, equally valid kernels: HONE_CPU_ATTENTION=blas,
HONE_CPU_SGEMM=onednn), as hone-pack-sequences' exactness test allows
(Zen 2, 2026-12-07: reward-model's 12 steps drift 5.3e-5 shared, its twins
5.9e-5 and 7.5e-5; the others 1e-7 to 4e-7). One
exception: DPO's step-1 rewards/accuracies where the margin is rounding
noise (policy = reference; with the reference precomputed its table ran
over other batches, so each pair's margin is a few ulps of either sign, as
in TRL): skipped where both runs' |rewards/margins| < 1e-5. The layout must
have run: the training stage's measured GFLOP per step (report.html,
"Model work") is lower with sharing. A pairing mistake (a chosen row's
log-probs read as another record's or as the rejected row's) moves step 1's
loss by far more than 1e-5. Cases: dpo (reference precomputed, the table's
forwards paired), dpo with --no-precompute-reference (the per-step
reference hone.logprob over both batches), dpo with label_smoothing 0.2,
ipo, orpo, simpo, kto and reward-model (reward reads). Never asserts timings.
Usage: share_prefix_pairs.py HONEC EXAMPLES WORK"""
import array, json, math, os, re, shutil, struct, subprocess, sys

honec, examples, work = map(os.path.abspath, sys.argv[1:4])
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)

CASES = [("dpo", []), ("dpo", ["--no-precompute-reference"]),
         ("dpo", ["stages[0].preference.label_smoothing=0.2"]), ("ipo", []),
         ("orpo", []), ("simpo", []), ("kto", []), ("reward-model", [])]
NOISE = re.compile(r"per_sec|time|seconds|_ms$|^elapsed")


def weights(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    return {name: array.array("f", data[t["data_offsets"][0]:
                                        t["data_offsets"][1]])
            for name, t in header.items() if name != "__metadata__"}


def saved(top):
    ws = {}
    for root, _, files in os.walk(top):
        for f in files:
            if f.endswith(".safetensors") and f != "optimizer.safetensors":
                for k, v in weights(os.path.join(root, f)).items():
                    ws[os.path.relpath(os.path.join(root, f), top) + "/" + k] = v
    return ws


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


TWINS = [{"HONE_CPU_ATTENTION": "blas"}, {"HONE_CPU_SGEMM": "onednn"}]


def run(d, out, share, twin=None):
    env = dict(os.environ, **(twin or {}))
    env.pop("HONE_SHARE_PREFIX", None)
    if not share:
        env["HONE_SHARE_PREFIX"] = "0"
    subprocess.run(["./job", "--device", "cpu", "--out", out, "--progress",
                    "off"], cwd=d, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, env=env)
    rows = [json.loads(l) for l in open(os.path.join(d, out, "metrics.jsonl"))]
    return ([r for r in rows if "stage" in r], gflop(os.path.join(d, out)),
            saved(os.path.join(d, out, "final")))


def relative(w, ref):
    d2 = sum((x - y) ** 2 for n in w for x, y in zip(w[n], ref[n]))
    n2 = sum(y * y for n in ref for y in ref[n])
    return math.sqrt(d2 / n2)


failed = False
for example, flags in CASES:
    name = " ".join([example, *flags])
    d = os.path.join(work, re.sub(r"[^a-z0-9]+", "-", name))
    shutil.copytree(os.path.join(examples, example), d)
    subprocess.run([honec, "spec.textproto", *flags, "--compile-to=exe", "-o",
                    "job"], cwd=d, check=True, stderr=subprocess.DEVNULL)
    (m_on, g_on, w_on), (m_off, g_off, w_off) = (run(d, "on", True),
                                                 run(d, "off", False))
    if len(m_on) != len(m_off) or not m_on:
        sys.exit(f"FAIL: {name}: {len(m_on)} metric rows shared, "
                 f"{len(m_off)} not")
    if sorted(w_on) != sorted(w_off) or not w_on:
        sys.exit(f"FAIL: {name}: the saved tensors differ in names")
    fewer = [k for k in g_on if k in g_off and g_on[k] < g_off[k] * 0.99]
    if not fewer:
        print(f"FAIL: {name}: no stage's measured GFLOP fell with sharing: "
              f"{g_on} vs {g_off}")
        failed = True
    compared = same = 0
    worst = 0.0
    for step, (a, b) in enumerate(zip(m_on, m_off)):
        for k in sorted(k for k in a if not NOISE.search(k)):
            x, y = a[k], b.get(k)
            if (step == 0 and k == "rewards/accuracies" and
                    max(abs(a.get("rewards/margins", 1)),
                        abs(b.get("rewards/margins", 1))) < 1e-5):
                continue
            compared += 1
            if x == y:
                same += 1
                continue
            numeric = isinstance(x, (int, float)) and isinstance(y, (int, float))
            rel, abs_ = (1e-5, 1e-6) if step == 0 else (2e-3, 2e-5)
            allowed = abs_ + rel * max(abs(x), abs(y)) if numeric else 0
            if not numeric or abs(x - y) > allowed:
                print(f"FAIL: {name}: step {step + 1} {k}: shared {x!r}, "
                      f"not {y!r} (allowed {allowed:.3g})")
                failed = True
            else:
                worst = max(worst, abs(x - y) / allowed)
    drift = [relative(run(d, f"twin{i}", False, t)[2], w_off)
             for i, t in enumerate(TWINS)]
    bound = max([1e-4] + [4 * x for x in drift])
    rel = relative(w_on, w_off)
    if not math.isfinite(rel) or rel > bound:
        print(f"FAIL: {name}: final weights differ by {rel:g} (relative "
              f"norm), over {bound:g} (rounding twins "
              f"{', '.join(f'{x:.3g}' for x in drift)})")
        failed = True
    print(f"{name}: {len(m_on)} steps, {same} of {compared} metrics "
          f"bit-identical, the rest within {worst:.2f} of their bound; final "
          f"weights {rel:.3g} apart (bound {bound:.3g}, rounding twins "
          f"{', '.join(f'{x:.3g}' for x in drift)}); GFLOP per step shared "
          f"vs not: "
          + ", ".join(f"{k[0]}/{k[1]} {g_on[k]:.4g} vs {g_off[k]:.4g}"
                      for k in fewer))
if failed:
    sys.exit(1)
shutil.rmtree(work, ignore_errors=True)
