#!/usr/bin/env python3
"""OpenBLAS's kernels in a compiled job (docs/job.md, "OpenBLAS's kernels").
The job re-executes itself with OPENBLAS_CORETYPE where OpenBLAS loaded
older kernels than the CPU runs (AVX-512), or as HONE_OPENBLAS_CORE names,
and checks the kernels it then has against a float64 reference:
- HONE_OPENBLAS_CORE=Haswell (AVX2 kernels, which every CPU of this kind
  runs): the job says it runs them, and trains;
- HONE_OPENBLAS_CORE=SkylakeX: the same where the CPU has AVX-512; elsewhere
  OpenBLAS loads other kernels, and the job says so and runs OpenBLAS's own
  choice;
- a core OpenBLAS does not know: one note, then OpenBLAS's own choice, and
  the weights of the default run bit for bit (where the default run kept
  OpenBLAS's choice);
- OPENBLAS_CORETYPE set by the user, or HONE_OPENBLAS_CORE=keep: kept, no
  note.
Usage: openblas_core.py HONEC SPEC WORK"""
import os, shutil, subprocess, sys

honec, spec, work = sys.argv[1:4]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
job = os.path.join(work, "job")
subprocess.run([honec, spec, "stages[0].sft.loop.steps=4", "-o", job],
               check=True)
flags = set()
with open("/proc/cpuinfo") as f:
    for line in f:
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
avx512 = {"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"} <= flags


def run(tag, **env):
    out = os.path.join(work, tag)
    e = {k: v for k, v in os.environ.items()
         if k not in ("OPENBLAS_CORETYPE", "HONE_OPENBLAS_CORE",
                      "HONE_OPENBLAS_DETECTED")}
    e.update(env)
    p = subprocess.run([job, "--progress", "off", "--out", out],
                       capture_output=True, text=True, timeout=300, env=e)
    notes = [l for l in p.stderr.splitlines() if "OpenBLAS" in l]
    print(f"{tag}: exit {p.returncode}; " + (" | ".join(notes) or "no note"))
    assert p.returncode == 0, (tag, p.stderr[-2000:])
    with open(os.path.join(out, "final", "model.safetensors"), "rb") as f:
        return notes, f.read()


notes0, w0 = run("default")
upgraded = bool(notes0)
if upgraded:  # a CPU newer than this OpenBLAS (Zen 5 and 0.3.21)
    assert avx512 and len(notes0) == 1, notes0
    assert notes0[0].startswith("note: OpenBLAS runs its Cooperlake kernels") \
        or notes0[0].startswith("note: OpenBLAS runs its SkylakeX kernels"), \
        notes0

notes, _ = run("haswell", HONE_OPENBLAS_CORE="Haswell")
assert len(notes) <= 1, notes
assert not notes or notes[0].startswith(
    "note: OpenBLAS runs its Haswell kernels (it chose "), notes

notes, _ = run("skylakex", HONE_OPENBLAS_CORE="SkylakeX")
if avx512:
    assert len(notes) <= 1, notes
    assert not notes or notes[0].startswith(
        "note: OpenBLAS runs its SkylakeX kernels (it chose "), notes
else:
    mine = [n for n in notes if n.startswith("note: OpenBLAS's SkylakeX "
                                             "kernels are not usable here")]
    assert len(mine) == 1, notes

notes, w = run("bogus", HONE_OPENBLAS_CORE="NoSuchCore")
mine = [n for n in notes if n.startswith(
    "note: OpenBLAS's NoSuchCore kernels are not usable here (OpenBLAS "
    "loaded ")]
assert len(mine) == 1 and "running its own choice, " in mine[0], notes
if not upgraded:
    assert w == w0, "OpenBLAS's own choice gave other weights than the default"

for tag, env in (("user", {"OPENBLAS_CORETYPE": "Haswell"}),
                 ("keep", {"HONE_OPENBLAS_CORE": "keep"})):
    notes, w = run(tag, **env)
    assert not any(n.startswith("note:") for n in notes), (tag, notes)
    if tag == "keep" and not upgraded:
        assert w == w0, "keep gave other weights than the default"
shutil.rmtree(work)
print("OK: OpenBLAS's kernels forced, checked, and kept as asked")
