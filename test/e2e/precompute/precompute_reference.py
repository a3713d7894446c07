#!/usr/bin/env python3
"""hone-precompute-reference end to end (SFT then DPO, sft_dpo.textproto).

  precompute_reference.py HONEC SPEC WORKDIR

- The program with the pass (default) has a hone.reference_table before the
  DPO stage and neither a reference hone.logprob nor a snapshot of the
  policy; honec's remark and --report line say so; without it
  (--no-precompute-reference) the reference runs in every step.
- Both jobs log the same SFT rows bit for bit and the same DPO rows (loss,
  rewards/margins, rewards/accuracies, grad_norm) within float32 tolerance:
  the reference's log-probs were summed from forwards over other batches.
  A table read at the wrong record (an off-by-one id) moves the margins by
  far more than the tolerance.
- The planned peak falls (the snapshot's weights are gone).
- Resume: a run resumed from a mid-DPO checkpoint (the table read back from
  it, not recomputed from a policy that the skipped SFT stage never
  trained) ends with the uninterrupted run's weights and metrics, bit for
  bit.
- With 2 data-parallel ranks (mpirun, where available), each rank computes
  every other record and both hold the whole table: the DPO rows follow
  the program without the pass within the same tolerance.
"""
import json
import os
import shutil
import subprocess
import sys

honec, spec, work = sys.argv[1:4]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
base = ["--device", "cpu", "--progress", "off", "--threads", "1"]


def compile(out, *args):
    r = subprocess.run([honec, spec, *args, "--compile-to=exe", "-o", out,
                        "--report"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stderr


def ir(*args):
    r = subprocess.run([honec, spec, *args, "--compile-to=scheduled"],
                       capture_output=True, text=True, check=True)
    return r.stdout


def rows(run):
    out = []
    with open(os.path.join(run, "metrics.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            if "stage_name" in r:
                r.pop("tokens_per_sec", None)
                out.append(r)
    return out


def last(run, key):
    with open(os.path.join(run, "metrics.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            if key in r:
                v = r[key]
    return v


def close(a, b, what):
    assert len(a) == len(b), f"{what}: {len(a)} rows against {len(b)}"
    worst = 0.0
    for x, y in zip(a, b):
        assert x["stage_name"] == y["stage_name"] and x["step"] == y["step"]
        if x["stage_name"] != "dpo":
            assert x == y, f"{what}: SFT rows differ: {x} {y}"
            continue
        for k in ("loss", "rewards/margins", "rewards/accuracies",
                  "grad_norm"):
            # The accuracy counts Σ(l_c − l_ref_c) > Σ(l_r − l_ref_r): at
            # DPO's first step (policy = reference) both sides are 0 in the
            # program without the pass and float noise in the one with it.
            if k == "rewards/accuracies" and abs(y["rewards/margins"]) < 1e-5:
                continue
            d = abs(x[k] - y[k])
            worst = max(worst, d)
            assert d <= 2e-5 + 1e-4 * abs(y[k]), \
                f"{what}: step {x['step']} {k}: {x[k]} against {y[k]}"
    print(f"{what}: {len(a)} rows agree (largest DPO difference {worst:.3g})")


# The IR and the compiler's word on it.
on_ir, off_ir = ir(), ir("--no-precompute-reference")
assert "hone.reference_table" in on_ir and "hone.reference_rows" in on_ir
assert "hone.logprob" not in on_ir and "hone.exec.snapshot" not in on_ir
assert "hone.reference_table" not in off_ir
assert "hone.logprob" in off_ir and "hone.exec.snapshot" in off_ir
on, off = os.path.join(work, "on"), os.path.join(work, "off")
said = compile(on)
compile(off, "--no-precompute-reference")
assert "remark: hone-precompute-reference: the reference's log-prob sums " \
    "of 12 pairs computed once" in said, said
assert "reference_table at sft_dpo.textproto" in said and \
    "12 pairs (24 rows) once before the stage" in said, said

# Same training, within float32 tolerance.
run_on, run_off = os.path.join(work, "r_on"), os.path.join(work, "r_off")
subprocess.run([on, *base, "--out", run_on], check=True,
               stdout=subprocess.DEVNULL)
subprocess.run([off, *base, "--out", run_off], check=True,
               stdout=subprocess.DEVNULL)
a, b = rows(run_on), rows(run_off)
close(a, b, "with the pass against without")
assert any(r["stage_name"] == "dpo" and abs(r["rewards/margins"]) > 1e-3
           for r in a), "DPO learned nothing: the comparison would be empty"
peak_on = last(run_on, "memory/planned_peak_bytes")
peak_off = last(run_off, "memory/planned_peak_bytes")
assert peak_on < peak_off, (peak_on, peak_off)
print(f"planned peak {peak_on} B with the pass, {peak_off} B without")

# Resume from a mid-DPO checkpoint: bit-identical.
ck = os.path.join(work, "ck")
compile(ck, "checkpointing.every_steps=5", "checkpointing.keep_last=0")
full, cut = os.path.join(work, "r_full"), os.path.join(work, "r_cut")
subprocess.run([ck, *base, "--out", full], check=True,
               stdout=subprocess.DEVNULL)
shutil.copytree(full, cut)
steps = sorted(int(d.split("-")[1]) for d in os.listdir(cut)
               if d.startswith("checkpoint-"))
mid = [s for s in steps if 6 < s < steps[-1]]  # SFT has 6 steps
assert mid, steps
for s in steps:
    if s > mid[0]:
        shutil.rmtree(os.path.join(cut, f"checkpoint-{s}"))
shutil.rmtree(os.path.join(cut, "final"))
state = json.load(open(os.path.join(cut, f"checkpoint-{mid[0]}", "state.json")))
assert "reference_tables" in json.dumps(state), \
    "the DPO checkpoint holds no reference table"
subprocess.run([ck, *base, "--out", cut, "--resume"], check=True,
               stdout=subprocess.DEVNULL)
w = os.path.join("final", "model.safetensors")
assert open(os.path.join(full, w), "rb").read() == \
    open(os.path.join(cut, w), "rb").read(), \
    "resumed weights differ from the uninterrupted run"
assert rows(full) == rows(cut), "resumed metrics differ"
print(f"resumed at step {mid[0]}: weights and metrics bit-identical")

# Data-parallel ranks.
link = os.path.join(os.path.dirname(honec), "..", "lib", "hone-link.txt")
if shutil.which("mpirun") and os.path.exists(link) and \
        "mpi" in open(link).read():
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
    import mpi_job
    env = mpi_job.setup(honec, os.path.join(work, "mpi"))
    got = {}
    for name, args in (("on", []), ("off", ["--no-precompute-reference"])):
        exe = os.path.join(work, "mpi", "job_" + name)
        compile(exe, "hardware.ranks=2", *args)
        run = os.path.join(work, "mpi", "r_" + name)
        subprocess.run(["mpirun", "-np", "2", exe, *base, "--out", run],
                       env=env, check=True, stdout=subprocess.DEVNULL,
                       timeout=600)
        got[name] = rows(run)
    close(got["on"], got["off"], "2 ranks, with the pass against without")
else:
    print("ranks: skipped (no mpirun or no MPI in the runtime)")
shutil.rmtree(work, ignore_errors=True)
print("OK")
