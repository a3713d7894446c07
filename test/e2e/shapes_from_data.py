#!/usr/bin/env python3
"""Shapes from the data (docs/compiler.md) are exact: an example compiled
with its sequence length from the data (the default: the longest row
rounded up to 8) and with the old padded length set in the spec (the
model's max_seq_len; RL prompts: 16 as the example has it) trains on the
same rows with a smaller static shape. Step 1's loss and the metrics of its
forward are bit-identical (per-token outputs do not depend on the padded
length: test/unit/model/PaddingTest.cpp); the weight gradient sums over
all positions, padding rows (exact zeros) included, in blocks that BLAS may
choose by the row count, so the gradient norm and later steps agree to
float32 rounding carried by AdamW (often bit for bit: the count is
printed), far below what a cut row or a shifted position changes. The step
IRs must differ (otherwise nothing is compared).
Covers SFT (sft), a preference loss and its frozen reference (dpo), the
reward model (reward-model), and RL prompts (grpo, whose spec loses its
max_prompt_length so that the data sets it).
Usage: shapes_from_data.py HONEC EXAMPLES WORK"""
import array, json, math, os, re, shutil, struct, subprocess, sys

honec, examples, work = sys.argv[1:4]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)

# example -> (stage field, padded override, shape from data, padded shape)
CASES = {
    "sft": ("stages[0].sft.loop.max_length=32", "4x16xi32", "4x32xi32"),
    "dpo": ("stages[0].preference.loop.max_length=32", "4x16xi32", "4x32xi32"),
    "reward-model": ("stages[0].reward_model.loop.max_length=32", "4x16xi32",
                     "4x32xi32"),
    "grpo": ("stages[0].rl.max_prompt_length=16", "2x8xi32", "2x16xi32"),
}


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


def run(example, padded):
    src = os.path.join(examples, example)
    d = os.path.join(work, example + ("-padded" if padded else "-data"))
    shutil.copytree(src, d)
    spec = os.path.join(d, "spec.textproto")
    if example == "grpo":  # let the data set the prompt length
        text = open(spec).read()
        text2 = re.sub(r"\n\s*max_prompt_length: 16\n", "\n", text)
        assert text2 != text, "grpo: max_prompt_length not found"
        open(spec, "w").write(text2)
    override, data_shape, padded_shape = CASES[example]
    args = [override] if padded else []
    ir = subprocess.run([honec, spec, *args, "--compile-to=step"],
                        check=True, capture_output=True, text=True).stdout
    want = padded_shape if padded else data_shape
    if f"tensor<{want}>" not in ir:
        sys.exit(f"error: {example}: no tensor<{want}> in the "
                 f"{'padded' if padded else 'from-data'} step IR")
    if not padded and f"tensor<{padded_shape}>" in ir:
        sys.exit(f"error: {example}: the from-data step IR still has "
                 f"tensor<{padded_shape}>")
    subprocess.run([honec, spec, *args, "--compile-to=exe", "-o",
                    os.path.join(d, "job")], check=True)
    subprocess.run(["./job", "--device", "cpu", "--out", "run",
                    "--progress", "off"], cwd=d, check=True,
                   stdout=subprocess.DEVNULL)
    rows = [json.loads(l) for l in open(os.path.join(d, "run", "metrics.jsonl"))]
    rows = [r for r in rows if "stage" in r]
    return rows, weights(os.path.join(d, "run", "final", "model.safetensors"))


# Timings and throughput differ from run to run.
NOISE = re.compile(r"per_sec|time|seconds|_ms$|^elapsed")

failed = False
for example in CASES:
    (m_data, w_data), (m_pad, w_pad) = run(example, False), run(example, True)
    if len(m_data) != len(m_pad) or not m_data:
        sys.exit(f"error: {example}: {len(m_data)} steps from data, "
                 f"{len(m_pad)} padded")
    compared = same = 0
    for step, (a, b) in enumerate(zip(m_data, m_pad)):
        keys = {k for k in a if not NOISE.search(k)}
        if keys != {k for k in b if not NOISE.search(k)}:
            sys.exit(f"error: {example}: step {step + 1} logs {sorted(keys)}"
                     f" from data, {sorted(b)} padded")
        for k in sorted(keys):
            compared += 1
            if a[k] == b[k]:
                same += 1
                continue
            x, y = a[k], b[k]
            numeric = isinstance(x, (int, float)) and isinstance(y, (int, float))
            # Step 1 before the backward: exact. Then float32 rounding.
            rel, abs_ = ((1e-5, 0.0) if step == 0 and k == "grad_norm" else
                         (2e-3, 2e-5) if step > 0 else (0.0, 0.0))
            if not numeric or abs(x - y) > abs_ + rel * max(abs(x), abs(y)):
                print(f"error: {example}: step {step + 1} {k}: from data "
                      f"{x!r}, padded {y!r}")
                failed = True
    if sorted(w_data) != sorted(w_pad):
        sys.exit(f"error: {example}: the saved tensors differ in names")
    d2 = sum((x - y) ** 2 for n in w_data for x, y in zip(w_data[n], w_pad[n]))
    n2 = sum(y * y for n in w_pad for y in w_pad[n])
    rel = math.sqrt(d2 / n2)
    if not math.isfinite(rel) or rel > 1e-4:
        print(f"error: {example}: weights differ by {rel:g} (relative norm)")
        failed = True
    print(f"{example}: {len(m_data)} steps, {same} of {compared} metrics"
          f" bit-identical, the rest within float32 rounding; weights differ"
          f" by {rel:.3g} (relative norm)")
if failed:
    sys.exit(1)
shutil.rmtree(work, ignore_errors=True)
