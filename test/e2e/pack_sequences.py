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
first 12 steps (step 1 exact; later grad norms drift by up to a few
percent by step 80 while the rewards stay equal). Its weights' bound is
measured, not guessed: the padded job run again with another, equally
valid float rounding (a rounding twin: HONE_CPU_ATTENTION=blas, the
attention kernels' BLAS path instead of the direct loops, the same
products summed in another order) drifts from the padded run by D over the
80 steps (Zen 2, 2026-12-07: D = 1.7e-3, while packed vs padded was 7.4e-5
that day and 1.69e-3 once before; HONE_CPU_SGEMM=onednn, the other GEMM
library, gave 1.9e-5 but holds buffers outside the memory plan); packed vs
padded must stay within max(1e-4, 2 D), i.e. no further from the padded
program than float rounding alone takes it.
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
TWINS = {"ppo": [{"HONE_CPU_ATTENTION": "blas"}],
         "uft": [{"HONE_CPU_ATTENTION": "blas"}]}


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
    subprocess.run(["./job", "--device", "cpu", "--out", out, "--progress",
                    "off"], cwd=d, check=True, stdout=subprocess.DEVNULL,
                   env=dict(os.environ, **(env or {})))
    rows = [json.loads(l) for l in open(os.path.join(d, out, "metrics.jsonl"))]
    rows = [r for r in rows if "stage" in r]
    final = os.path.join(d, out, "final")
    ws = {}
    for root, _, files in os.walk(final):
        for f in files:
            if f.endswith(".safetensors"):
                for k, v in weights(os.path.join(root, f)).items():
                    ws[os.path.relpath(root, final) + "/" + k] = v
    return rows, ws


def relative(w, ref):
    """Relative norm of the difference of two runs' weights."""
    d2 = sum((x - y) ** 2 for n in w for x, y in zip(w[n], ref[n]))
    n2 = sum(y * y for n in ref for y in ref[n])
    return math.sqrt(d2 / n2)


NOISE = re.compile(r"per_sec|time|seconds|_ms$|^elapsed")
failed = False
for example in CASES:
    (_, (m_pk, w_pk)), (d_pd, (m_pd, w_pd)) = run(example, True), run(example, False)
    if len(m_pk) != len(m_pd) or not m_pk:
        sys.exit(f"error: {example}: {len(m_pk)} steps packed, {len(m_pd)} padded")
    compared = same = 0
    for step, (a, b) in enumerate(zip(m_pk, m_pd)):
        if step >= STEPS.get(example, len(m_pk)):
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
            if not numeric or abs(x - y) > abs_ + rel * max(abs(x), abs(y)):
                print(f"error: {example}: step {step + 1} {k}: packed {x!r}, "
                      f"padded {y!r}")
                failed = True
    if sorted(w_pk) != sorted(w_pd) or not w_pk:
        sys.exit(f"error: {example}: the saved tensors differ in names")
    rel = relative(w_pk, w_pd)
    drift = [relative(job(d_pd, f"twin{i}", env)[1], w_pd)
             for i, env in enumerate(TWINS.get(example, []))]
    bound = max([1e-4] + [2 * x for x in drift])
    if not math.isfinite(rel) or rel > bound:
        print(f"error: {example}: weights differ by {rel:g} (relative norm), "
              f"over {bound:g} (rounding twins drift "
              f"{', '.join(f'{x:.3g}' for x in drift) or 'not run'})")
        failed = True
    print(f"{example}: {len(m_pk)} steps, {same} of {compared} metrics "
          f"bit-identical, the rest within float32 rounding; weights differ by "
          f"{rel:.3g} (relative norm; bound {bound:.3g}"
          + (f", rounding twins {', '.join(f'{x:.3g}' for x in drift)}"
             if drift else "") + ")")
if failed:
    sys.exit(1)
shutil.rmtree(work, ignore_errors=True)
