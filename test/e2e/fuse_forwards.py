#!/usr/bin/env python3
"""hone-fuse-forwards is exact: the DPO and reward-model examples compiled
with the pass (one forward and one backward over chosen and rejected
concatenated) and with --no-fuse-forwards (a forward per read, recomputed
before each backward) log the same metrics and save the same weights. The
first step's loss and pairwise metrics come from the forward alone: equal to
float32 rounding of a row-independent forward (rel 1e-6). Later steps and
the weights differ only by the order in which the backward sums rows into
the weight gradient: float32 tolerance, far below what a wrong row mapping
(chosen and rejected swapped, or a missing backward) changes. In DPO the
frozen reference's log-probs of chosen and rejected are one hone.logprob
(one forward over both batches' rows) fused, two unfused: the reference
log-probs enter every step's loss, so a wrong row split shows at step 1.
PPO: the train step's first critic forward is the one hone.value ran for
v_old (kept_forwards): the same activations, so every metric and weight is
bit-identical to the unfused program, and the report counts one critic
forward fewer per iteration and the forwards kept; likewise with both
programs packed (v_old's forward and the critic's read packed to the same
response mask).
CHORD, SRFT and HPT: the policy's rollouts (prompt + max_new_tokens
positions) and demonstrations (longer) run as one forward and one backward,
concatenated on the longer length, padded (each rollout row padded past its
length) and packed (one stream of both batches' real tokens): the first
step's loss and metrics from the forward alone to 1e-6, later steps and the
weights to float32 tolerance, 4 -> 1 policy forwards per iteration.
CHORD again at max_seq_len 64 (demonstrations 2 x 64, rollouts 8 x 24),
packed: concatenated on 64 positions the fused forward would cost more
padded FLOPs than separate ones, but packed it is one stream of the same
real tokens, and hone-fuse-forwards (after hone-pack-sequences) decides on
that: fused, and exact like the others.
Each job's report.html shows the model work per stage iteration (forwards
before -> after fusion, as honec --report).
Usage: fuse_forwards.py HONEC EXAMPLES WORK"""
import array, json, math, os, re, shutil, struct, subprocess, sys

honec, examples, work = sys.argv[1:4]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)


def weights(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32", (name, t["dtype"])
        a, b = t["data_offsets"]
        out[name] = array.array("f", data[a:b])
    return out


def run(example, fused, packed=False, seq=None):
    d = os.path.join(work, example + ("-packed" if packed else "") +
                     (f"-{seq}" if seq else "") +
                     ("-fused" if fused else "-unfused"))
    os.makedirs(d)
    spec = os.path.join(examples, example, "spec.textproto")
    # The hybrids: a few steps (each generates rollouts first).
    over = ["stages[0].rl.steps=4"] if example in HYBRIDS else []
    if seq:
        over.append(f"models[0].init.max_seq_len={seq}")
    # Padded, except PPO once packed: hone-pack-sequences packs v_old's
    # hone.value and the critic's train-step read to the same response
    # mask, so the kept forward is the packed one the step would run.
    # Packing against padding is checked on its own (pack_sequences.py).
    # The reference read in the loop (hone-precompute-reference off), so
    # that its reads are fused or not like the policy's.
    flags = ([] if packed else ["--no-pack-sequences"]) + \
        ([] if fused else ["--no-fuse-forwards"]) + \
        ["--no-precompute-reference"]
    ir = subprocess.run([honec, spec, *over, *flags, "--compile-to=step"],
                        check=True, capture_output=True, text=True).stdout
    if packed and example == "ppo" and \
            not re.search(r"hone\.value %\w+, %[\w#]+ packed\(", ir):
        sys.exit(f"error: {example}: v_old's hone.value is not packed")
    # The hybrids packed: both policy reads of the train step (rollouts to
    # their response mask, demonstrations to theirs), as one stream fused.
    if packed and example in HYBRIDS and \
            not re.search(r"hone\.train_step.*packed = array<i64: \d+, \d+>",
                          ir):
        sys.exit(f"error: {example}: the train step's reads are not packed")
    # The two programs differ: otherwise this test compares nothing.
    marker = "kept_forwards" if example == "ppo" else "fused_reads"
    if (marker in ir) != fused:
        sys.exit(f"error: {example}: {marker} {'missing' if fused else 'present'}"
                 " in the step IR")
    # DPO: the reference reads chosen and rejected in one hone.logprob.
    if example == "dpo" and (re.search(r"hone\.logprob %\w+, %[\w#]+, %", ir)
                             is not None) != fused:
        sys.exit(f"error: {example}: a two-batch hone.logprob"
                 f" {'missing' if fused else 'present'} in the step IR")
    if example in HYBRIDS:
        # Rollouts and demonstrations of different lengths, fused.
        shapes = re.search(r"hone\.train_step.*?tokens\(%[\w#]+, %[\w#]+\).*?"
                           r": \(!\w+, tensor<(\d+)x(\d+)xi32>, "
                           r"tensor<(\d+)x(\d+)xi32>", ir)
        if not shapes or shapes.group(2) == shapes.group(4):
            sys.exit(f"error: {example}: no train step over two token batches"
                     " of different lengths")
        if fused and "fused_reads = array<i64: 0, 0>" not in ir:
            sys.exit(f"error: {example}: rollouts and demonstrations not fused")
    subprocess.run([honec, spec, *over, *flags, "--compile-to=exe", "-o",
                    os.path.join(d, "job")], check=True)
    subprocess.run(["./job", "--device", "cpu", "--out", "run",
                    "--progress", "off"], cwd=d, check=True,
                   stdout=subprocess.DEVNULL)
    rows = [json.loads(l) for l in open(os.path.join(d, "run", "metrics.jsonl"))]
    # Every buffer where the memory plan put it: a fused packed group's
    # activations are planned as the sum of its members' bounds.
    mem = [r for r in rows if "memory/unplanned_allocations" in r]
    if not mem or mem[0]["memory/unplanned_allocations"] != 0:
        sys.exit(f"error: {d}: unplanned allocations {mem[:1]!r}")
    rows = [r for r in rows if "stage" in r]
    # The report's model work: the counts honec --report prints.
    html = open(os.path.join(d, "run", "report.html")).read()
    want = {"dpo": ("policy", "6 &rarr; 2" if fused else "6"),
            "reward-model": ("rm", "4 &rarr; 1" if fused else "4"),
            "ppo": ("critic", "5 &rarr; 4" if fused else "5"),
            **{h: ("policy", "4 &rarr; 1" if fused else "4")
               for h in HYBRIDS}}[example]
    row = f"<td>{want[0]}</td><td>{want[1]}</td>"
    if "Model work per stage iteration" not in html or row not in html:
        sys.exit(f"error: {example}: report.html has no model work row {row!r}")
    kept = "train-step forwards kept from hone.value" in html
    if kept != (fused and example == "ppo"):
        sys.exit(f"error: {example}: report.html {'lacks' if not kept else 'has'}"
                 " the kept-forward count")
    return rows, weights(os.path.join(d, "run", "final", "model.safetensors"))


HYBRIDS = ("chord", "srft", "hpt")


def close(a, b, rel, abs_):
    return abs(a - b) <= abs_ + rel * max(abs(a), abs(b))


failed = False
for example, packed, seq in (("dpo", False, None),
                             ("reward-model", False, None),
                             ("ppo", False, None), ("ppo", True, None),
                             ("chord", False, None), ("chord", True, None),
                             ("chord", True, 64),
                             ("srft", True, None), ("hpt", False, None)):
    (m_on, w_on), (m_off, w_off) = (run(example, True, packed, seq),
                                    run(example, False, packed, seq))
    if len(m_on) != len(m_off) or not m_on:
        sys.exit(f"error: {example}: {len(m_on)} fused steps, {len(m_off)} unfused")
    worst = 0.0
    for step, (a, b) in enumerate(zip(m_on, m_off)):
        keys = set(a) - {"tokens_per_sec"}
        if keys != set(b) - {"tokens_per_sec"}:
            sys.exit(f"error: {example}: step {step + 1} logs {sorted(keys)}"
                     f" fused, {sorted(set(b))} unfused")
        for k in sorted(keys):
            if not isinstance(a[k], (int, float)):
                continue
            # Step 1: the forward alone; later: float32 rounding of the
            # gradient, carried through AdamW.
            # Step 1's grad_norm: the first gradient, before any drift.
            rel, abs_ = ((0.0, 0.0) if example == "ppo" else
                         (1e-6, 1e-7) if step == 0 and k != "grad_norm" else
                         (1e-5, 0.0) if step == 0 else (2e-3, 2e-5))
            if not close(a[k], b[k], rel, abs_):
                print(f"error: {example}: step {step + 1} {k}: fused {a[k]!r}"
                      f" unfused {b[k]!r}")
                failed = True
    if sorted(w_on) != sorted(w_off):
        sys.exit(f"error: {example}: the saved tensors differ in names")
    # All weights: |w_fused - w_unfused| / |w_unfused| (Euclidean norms).
    # Not per tensor: a gradient that is exactly zero unfused (the reward
    # model's final-norm bias and key biases, whose effects cancel) can be
    # rounding noise fused, and AdamW normalises that into steps of up to
    # lr; those weights are small and few.
    d2 = sum((x - y) ** 2 for name in w_on for x, y in zip(w_on[name], w_off[name]))
    n2 = sum(y * y for name in w_off for y in w_off[name])
    worst = math.sqrt(d2 / n2)
    if not math.isfinite(worst) or worst > (0.0 if example == "ppo" else 1e-4):
        print(f"error: {example}: weights differ by {worst:g} (relative norm)")
        failed = True
    print(f"{example}{' (packed)' if packed else ''}"
          f"{f' (max_seq_len {seq})' if seq else ''}: {len(m_on)} steps, "
          f"metrics agree; weights differ"
          f" by {worst:.3g} (relative norm)")
if failed:
    sys.exit(1)
shutil.rmtree(work, ignore_errors=True)
