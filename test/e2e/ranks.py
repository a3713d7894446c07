#!/usr/bin/env python3
"""Data-parallel ranks: a spec with hardware.ranks = 2 compiled by honec and
run under `mpirun -np 2`.

  ranks.py HONEC SPEC WORKDIR

Checks: started without mpirun, the job stops with a one-line error (exit 1);
under mpirun both ranks end with bit-identical weights (gradients averaged
before every step) and log the same step metrics (averaged), rank 0 logs the steps of a one-rank run with twice the
batch (epochs count both ranks' rows), and its losses follow that run's
within 15 % (each rank averages its own tokens, the one-rank run all of
them) and fall. Skipped (exit 77) without mpirun or an MPI-enabled runtime.
"""
import json
import os
import subprocess
import sys

import mpi_job

honec, spec, work = sys.argv[1:4]
env = mpi_job.setup(honec, work)
# Every row's work: with prompt rows shared (docs/runtime.md, "Shared prompt
# rows") the rows run depend on which rows meet in one forward (a record
# drawn twice into one rank's batch runs once), and this test checks that
# the ranks' counts add up to the one-rank run's.
env["HONE_SHARE_PREFIX"] = "0"


def compile(out, *overrides):
    subprocess.run([honec, spec, *overrides, "--compile-to=exe", "-o", out],
                   check=True)


def losses(run):
    with open(os.path.join(run, "metrics.jsonl")) as f:
        return [json.loads(l)["loss"] for l in f if '"stage"' in l]


two, one = os.path.join(work, "job2"), os.path.join(work, "job1")
compile(two, "hardware.ranks=2")
compile(one, "stages[0].sft.loop.batch_size=8")

r = subprocess.run([two, "--out", os.path.join(work, "alone")], env=env,
                   capture_output=True, text=True)
err = r.stderr.strip().splitlines()
assert r.returncode == 1 and len(err) == 1 and "mpirun -np 2" in err[0], r

run2 = os.path.join(work, "r2")
subprocess.run(["mpirun", "-np", "2", two, "--out", run2, "--threads", "1",
                "--progress", "off"], env=env, check=True,
               stdout=subprocess.DEVNULL, timeout=600)
run1 = os.path.join(work, "r1")
subprocess.run([one, "--out", run1, "--threads", "1", "--progress", "off"],
               env=env, check=True, stdout=subprocess.DEVNULL,
               stderr=subprocess.DEVNULL, timeout=600)

w0 = open(os.path.join(run2, "final", "model.safetensors"), "rb").read()
w1 = open(os.path.join(run2, "rank-1", "final", "model.safetensors"), "rb").read()
assert w0 and w0 == w1, "the ranks' final weights differ"
import re
def rows(run):
    with open(os.path.join(run, "metrics.jsonl")) as f:
        return [re.sub(r'"tokens_per_sec":[^,}]*,?', "", l) for l in f
                if '"stage"' in l]
assert rows(run2) == rows(os.path.join(run2, "rank-1")), \
    "the ranks logged different step metrics"
a, b = losses(run1), losses(run2)
assert len(a) == len(b) > 8, (len(a), len(b))
worst = max(abs(x - y) / abs(x) for x, y in zip(a, b))
q = len(b) // 4
print(f"steps {len(b)}; first-quarter loss {sum(b[:q]) / q:.4f}, last "
      f"{sum(b[-q:]) / q:.4f}; largest deviation from one rank x 2 batch "
      f"{worst:.3f}; rank weights identical")
assert worst < 0.15, worst
assert sum(b[-q:]) < sum(b[:q]), "loss does not fall"


# The report's model work counts all ranks: the measured rows (real tokens,
# packed) of the two ranks together are those of the one-rank run with
# twice the batch (the same records), their forwards twice its (one per
# rank), and the compiler's one-rank counts are doubled likewise.
def work_row(run, model="policy"):
    html = open(os.path.join(run, "report.html")).read()
    m = re.search(r"<tr><td>[^<]*</td><td>" + model + r"</td>((?:<td>[^<]*</td>)+)</tr>",
                  html)
    assert m, f"{run}: no model work row for {model}"
    cells = re.findall(r"<td>([^<]*)</td>", m.group(1))
    return cells, html


(c2, html2), (c1, html1) = work_row(run2), work_row(run1)
assert "All 2 data-parallel ranks together" in html2, "report: no ranks note"
assert "data-parallel ranks" not in html1
# cells: forwards, backwards, generated, GFLOP, measured forwards,
# backwards, rows run, generated, GFLOP
fw2, fw1 = float(c2[4]), float(c1[4])
rows2, rows1 = float(c2[6]), float(c1[6])
assert fw2 == 2 * fw1, (fw2, fw1)
assert abs(rows2 - rows1) <= 1e-3 * rows1, (rows2, rows1)
assert c2[0].split()[-1] == str(2 * int(c1[0].split()[-1])), (c2[0], c1[0])
print(f"report: 2 ranks ran {rows2:g} rows and {fw2:g} forwards per step in all"
      f" (one rank, twice the batch: {rows1:g}, {fw1:g})")
