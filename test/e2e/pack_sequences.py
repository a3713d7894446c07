#!/usr/bin/env python3
"""hone-pack-sequences is exact (docs/compiler.md "Packed sequences"): an
example compiled with the pass (the default) and with --no-pack-sequences
trains on the same batches, the packed program's train-step forwards over
the rows' real tokens only. Both must log the same metrics and end with the
same weights to float32 rounding (GEMMs over fewer rows: step 1's loss to
1e-5, later steps within what AdamW carries of it). The packed step IR
must carry `packed` on every train step (`honec --report` listing every
read packed), the padded one none. Covers SFT (sft), a preference loss (dpo), the reward
model (reward-model: reward reads), RL with a critic (ppo) and UFT (its
policy read reduced under two masks, the response's and the hint's, packed
to the last nonzero of either: packed_also). RL compounds
rounding through AdamW and the critic: ppo's and uft's metrics are compared over their
first 12 steps, or fewer where the rollouts part sooner (below), step 1
to 1e-5, later steps to 2e-3 of their value or 4x the largest difference
a rounding twin (below) shows on the same metric at that step: a PPO loss
near 0 moves by more than 2e-3 of itself from rounding alone (main's
bd001ca, whose LR no longer reaches 0 at step 21: step 12's loss
0.0016679 packed, 0.0016395 padded). Their weights are
compared where float rounding alone separates the runs: a sampled token that
flips (a Philox draw landing within rounding of a boundary between two
tokens' cumulative probabilities) gives the runs different training data
from then on, and their weights part by far more than rounding, by luck
(Zen 2, 2026-12-07: ppo's packed run flipped one at step 28, weights
1.74e-3 apart, while its rounding twin drifted 7.8e-5). So every RL job
here checkpoints every CKPT_EVERY steps, the first step at which any of the
runs' rollouts differ from the padded run's is found from the metric
completions/digest (a hash of the step's rollout tokens), and the weights
are compared at the last checkpoint before it (the final weights when the
rollouts never part). The bound there is measured, not guessed: the padded
job run again with other, equally valid float roundings (rounding twins:
HONE_CPU_ATTENTION=blas, the attention kernels' BLAS path instead of the
direct loops; HONE_CPU_SGEMM=onednn, the other GEMM library; both) drifts
from the padded run by D_i at that checkpoint. Such drift is chaotic (PPO's
clip switches a token's gradient on or off as its ratio crosses 1 +- eps):
each twin is one draw of it, and packing rounds in more places than any one
twin (other GEMM row counts, block-diagonal attention). Zen 2, 2026-12-07,
ppo's checkpoints 4-16 before its rollouts part at step 18: packed vs padded
1.5e-6, 2.4e-6, 5.1e-6, 9.3e-5 with the AVX2 softmax rows (2.8e-5 at 16
without), the largest twin 1.6e-6, 2.0e-6, 3.1e-6, 5.2e-5: 0.5-1.8x. So
packed vs padded must stay within max(1e-4, 4 max D_i), i.e. within a few
times what float rounding alone does over the same steps of the same data;
a packing mistake moves step 1's metrics, which are compared to 1e-5.
Each job's report.html must also show the model work it measured agreeing
with honec --report's (measured()).
Usage: pack_sequences.py HONEC EXAMPLES WORK"""
import array, json, math, os, re, shutil, struct, subprocess, sys

honec, examples, work = sys.argv[1:4]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)

CASES = ["sft", "dpo", "reward-model", "ppo", "uft"]
STEPS = {"ppo": 12, "uft": 12}  # steps whose metrics are compared (default all)
# Relative weight difference allowed: 1e-4, or for these examples twice the
# drift of the padded job's rounding twins (the same job, other kernels).
ROLLOUTS = {"ppo", "uft"}  # reads of generated rows: compiled GFLOP a bound
TWIN_ENVS = [{"HONE_CPU_ATTENTION": "blas"}, {"HONE_CPU_SGEMM": "onednn"},
             {"HONE_CPU_ATTENTION": "blas", "HONE_CPU_SGEMM": "onednn"}]
TWINS = {"ppo": TWIN_ENVS, "uft": TWIN_ENVS}
CKPT_EVERY = 4  # RL jobs' checkpoint interval (weights compared at one)


def weights(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        out[name] = array.array("f", data[a:b])
    return out


def run(example, packed):
    d = os.path.join(work, example + ("-packed" if packed else "-padded"))
    shutil.copytree(os.path.join(examples, example), d)
    flags = [] if packed else ["--no-pack-sequences"]
    # DPO's reference read in the loop, packed or padded like the policy's
    # (hone-precompute-reference would read it once, packed, before the
    # stage: at DPO's first step, policy = reference, the accuracy then
    # compares two sums of rounding noise, packed or padded alike).
    flags.append("--no-precompute-reference")
    if example in ROLLOUTS:  # keep every CKPT_EVERY-th step's weights
        flags += [f"checkpointing.every_steps={CKPT_EVERY}",
                  "checkpointing.keep_last=0"]
    p = subprocess.run([honec, "spec.textproto", *flags, "--compile-to=step",
                        "--report"],
                       cwd=d, check=True, capture_output=True, text=True)
    steps = len(re.findall(r"hone\.train_step", p.stdout))
    marked = len(re.findall(r"packed = array<i64: [-0-9, ]*[0-9]", p.stdout))
    # honec --report: one line per train step, every read packed.
    said = [l for l in p.stderr.splitlines() if l.startswith("train step")]
    allPacked = [l for l in said if "padded" not in l and "packed" in l]
    if packed and (steps == 0 or marked != steps or len(allPacked) != steps):
        sys.exit(f"error: {example}: {marked} of {steps} train steps packed, "
                 f"report:\n{p.stderr}")
    if not packed and (len(said) != steps or len(allPacked) != 0):
        sys.exit(f"error: {example}: the padded report says:\n{p.stderr}")
    if not packed and "packed = array" in p.stdout:
        sys.exit(f"error: {example}: --no-pack-sequences still packs")
    subprocess.run([honec, "spec.textproto", *flags, "--compile-to=exe", "-o",
                    "job"], cwd=d, check=True, stderr=subprocess.DEVNULL)
    out = job(d, "run")
    measured(example, d, packed)
    return d, out


def measured(example, d, packed):
    """report.html's model work: the job's measured forwards and backwards
    per step equal the compiler's as compiled where every step runs the
    same reads (not ReLIFT's buffer), its GFLOP equal the compiler's where
    the reads are dataset rows (the compiler counts their mean lengths;
    padded, the shapes), and stay within the compiler's bound where rows
    are generated (counted at max_new_tokens)."""
    h = open(os.path.join(d, "run", "report.html")).read()
    t = h[h.find("Model work per stage iteration"):]
    t = t[:t.find("</table>")]
    rows = [re.findall(r"<td>(.*?)</td>", r) for r in
            re.findall(r"<tr>(.*?)</tr>", t)[1:]]
    if not rows or any(len(c) != 11 or not c[6] for c in rows):
        sys.exit(f"error: {example}: report.html's model work has no measured "
                 f"columns:\n{t}")
    last = lambda cell: float(cell.split("&rarr;")[-1].split("(")[0])
    for c in rows:
        fw, bw, gf, mfw, mbw, mgf = (last(c[2]), last(c[3]), last(c[5]),
                                     float(c[6]), float(c[7]), float(c[10]))
        if (mfw, mbw) != (fw, bw):
            print(f"error: {example}: {c[1]} measured {mfw:g} forwards, "
                  f"{mbw:g} backwards per step; compiled {fw:g}, {bw:g}")
            sys.exit(1)
        rl = example in ROLLOUTS
        ok = mgf <= gf * (1 + 1e-3) if rl else abs(mgf - gf) <= 1e-3 * gf
        if not ok:
            print(f"error: {example}: {c[1]} measured {mgf:g} GFLOP per step; "
                  f"compiled {gf:g}" + (" (a bound)" if rl else ""))
            sys.exit(1)


def job(d, out, env=None):
    # Dataset rows, every row's work: with shared prompt rows
    # (docs/runtime.md, "Shared prompt rows": DPO's and the reward model's
    # pairs side by side) the measured GFLOP fall below the compiler's
    # count, which measured() checks to 1e-3 (share_prefix_pairs.py checks
    # sharing against this layout); rollouts (a bound) keep it.
    share = {} if os.path.basename(d).rsplit("-", 1)[0] in ROLLOUTS else {
        "HONE_SHARE_PREFIX": "0"}
    subprocess.run(["./job", "--device", "cpu", "--out", out, "--progress",
                    "off"], cwd=d, check=True, stdout=subprocess.DEVNULL,
                   env=dict(os.environ, **share, **(env or {})))
    rows = [json.loads(l) for l in open(os.path.join(d, out, "metrics.jsonl"))]
    rows = [r for r in rows if "stage" in r]
    return rows, saved(os.path.join(d, out, "final"))


def saved(top):
    """The models' weights under a final/ or checkpoint-N/ directory (a
    checkpoint's optimizer state left out)."""
    ws = {}
    for root, _, files in os.walk(top):
        for f in files:
            if f.endswith(".safetensors") and f != "optimizer.safetensors":
                for k, v in weights(os.path.join(root, f)).items():
                    ws[os.path.relpath(os.path.join(root, f), top) + "/" + k] = v
    return ws


def parting(rows, ref):
    """The first step (1-based) whose rollouts differ between two runs'
    metrics (completions/digest), or None."""
    for step, (a, b) in enumerate(zip(rows, ref)):
        if a.get("completions/digest") != b.get("completions/digest"):
            return step + 1
    return None


def relative(w, ref):
    """Relative norm of the difference of two runs' weights."""
    d2 = sum((x - y) ** 2 for n in w for x, y in zip(w[n], ref[n]))
    n2 = sum(y * y for n in ref for y in ref[n])
    return math.sqrt(d2 / n2)


NOISE = re.compile(r"per_sec|time|seconds|_ms$|^elapsed")
failed = False
for example in CASES:
    (d_pk, (m_pk, w_pk)), (d_pd, (m_pd, w_pd)) = run(example, True), run(example, False)
    if len(m_pk) != len(m_pd) or not m_pk:
        sys.exit(f"error: {example}: {len(m_pk)} steps packed, {len(m_pd)} padded")
    if sorted(w_pk) != sorted(w_pd) or not w_pk:
        sys.exit(f"error: {example}: the saved tensors differ in names")
    twins = [job(d_pd, f"twin{i}", env)
             for i, env in enumerate(TWINS.get(example, []))]
    # Where rollouts are sampled, the last checkpoint before any run's
    # rollouts part from the padded run's (the final weights if none do).
    where, parted = "final", None
    if example in ROLLOUTS:
        if not all("completions/digest" in r for r in m_pd):
            sys.exit(f"error: {example}: metrics without completions/digest")
        each = [parting(m_pk, m_pd)] + [parting(t[0], m_pd) for t in twins]
        parts = [p for p in each if p is not None]
        if parts:
            parted = min(parts)
            partedAt = ", ".join(f"{n} {p or 'never'}" for n, p in zip(
                ["packed"] + [f"twin {i}" for i in range(len(twins))], each))
            ck = (parted - 1) // CKPT_EVERY * CKPT_EVERY
            if ck == 0:  # nothing trained on the same data to compare
                print(f"error: {example}: rollouts part at step {parted}, "
                      f"before the first checkpoint")
                failed = True
                continue
            where = f"checkpoint-{ck}"
            w_pk = saved(os.path.join(d_pk, "run", where))
            w_pd = saved(os.path.join(d_pd, "run", where))
            twins = [(t[0], saved(os.path.join(d_pd, f"twin{i}", where)))
                     for i, t in enumerate(twins)]
            if not w_pk or sorted(w_pk) != sorted(w_pd):
                sys.exit(f"error: {example}: {where} missing or different")
    # Metrics: step 1 to 1e-5; later steps to 2e-3 (relative) or, for the
    # RL jobs, 4x the largest difference a rounding twin shows on the same
    # metric at the same step (a PPO loss near 0 differs by more than 2e-3
    # of itself from rounding alone), and only while every run trains on
    # the padded run's rollouts (before `parted`).
    last = STEPS.get(example, len(m_pk))
    if parted:
        last = min(last, parted - 1)
    compared = same = 0
    worst = 0.0  # largest |packed - padded| / allowed among those compared
    for step, (a, b) in enumerate(zip(m_pk, m_pd)):
        if step >= last:
            break
        keys = {k for k in a if not NOISE.search(k)}
        for k in sorted(keys):
            x, y = a[k], b.get(k)
            compared += 1
            if x == y:
                same += 1
                continue
            numeric = isinstance(x, (int, float)) and isinstance(y, (int, float))
            rel, abs_ = (1e-5, 1e-6) if step == 0 else (2e-3, 2e-5)
            allowed = abs_ + rel * max(abs(x), abs(y)) if numeric else 0
            if numeric and step > 0:
                for t in twins:
                    z = t[0][step].get(k) if step < len(t[0]) else None
                    if isinstance(z, (int, float)):
                        allowed = max(allowed, 4 * abs(z - y))
            if not numeric or abs(x - y) > allowed:
                print(f"error: {example}: step {step + 1} {k}: packed {x!r}, "
                      f"padded {y!r} (allowed difference {allowed:.3g})")
                failed = True
            else:
                worst = max(worst, abs(x - y) / allowed)
    rel = relative(w_pk, w_pd)
    drift = [relative(t[1], w_pd) for t in twins]
    bound = max([1e-4] + [4 * x for x in drift])
    if not math.isfinite(rel) or rel > bound:
        print(f"error: {example}: weights ({where}) differ by {rel:g} "
              f"(relative norm), over {bound:g} (rounding twins drift "
              f"{', '.join(f'{x:.3g}' for x in drift) or 'not run'})")
        failed = True
    print(f"{example}: {len(m_pk)} steps, {same} of {compared} metrics "
          f"(steps 1-{min(last, len(m_pk))}) bit-identical, the rest within "
          f"{worst:.2f} of their bound; "
          + (f"rollouts part at step {parted} ({partedAt}), " if parted else
             ("rollouts never part, " if example in ROLLOUTS else ""))
          + f"weights ({where}) differ by "
          f"{rel:.3g} (relative norm; bound {bound:.3g}"
          + (f", rounding twins {', '.join(f'{x:.3g}' for x in drift)}"
             if drift else "") + ")")
if failed:
    sys.exit(1)
shutil.rmtree(work, ignore_errors=True)
