#!/usr/bin/env python3
"""The compiler's model work per stage iteration (`honec --report`, a bound
for rollouts: generated rows at max_new_tokens, padded) beside what the job
measured (report.html, "Model work per stage iteration": forwards,
backwards, rows run, generated tokens, GFLOP per step of the stage), for
every example.

  bench/fusion/measured.py [--honec build/bin/honec] [--examples a,b,...]

Each example is compiled and run as it is on the CPU; printed: one
markdown row per stage and model.
"""
import argparse
import html
import os
import re
import shutil
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--honec", default=os.path.join(ROOT, "build/bin/honec"))
    ap.add_argument("--examples", default="")
    a = ap.parse_args()
    names = a.examples.split(",") if a.examples else sorted(
        e for e in os.listdir(os.path.join(ROOT, "examples"))
        if os.path.exists(os.path.join(ROOT, "examples", e, "spec.textproto")))
    work = tempfile.mkdtemp(prefix="hone-bench-measured-")
    print("| example | stage | model | forwards (compiled) | measured | "
          "backwards (compiled) | measured | generated tokens (bound) | "
          "measured | rows run (measured) | GFLOP (compiled) | measured |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    try:
        for ex in names:
            d = os.path.join(work, ex)
            shutil.copytree(os.path.join(ROOT, "examples", ex), d)
            r = subprocess.run([a.honec, "spec.textproto", "--compile-to=exe",
                                "-o", "job"], cwd=d, capture_output=True,
                               text=True)
            if r.returncode:
                print(f"| {ex} | (does not compile here: "
                      f"{r.stderr.strip().splitlines()[-1][:80]}) |")
                continue
            r = subprocess.run(["./job", "--device", "cpu", "--out", "run",
                                "--progress", "off"], cwd=d, capture_output=True,
                               text=True)
            if r.returncode:
                print(f"| {ex} | (job failed: "
                      f"{r.stderr.strip().splitlines()[-1][:80]}) |")
                continue
            h = open(os.path.join(d, "run", "report.html")).read()
            i = h.find("Model work per stage iteration")
            t = h[i:h.find("</table>", i)]
            for row in re.findall(r"<tr>(.*?)</tr>", t)[1:]:
                c = [html.unescape(x).replace("\u2192", "->")
                     for x in re.findall(r"<td>(.*?)</td>", row)]
                if len(c) < 11:
                    continue
                stage, model, fw, bw, gen, gf, mfw, mbw, rows, mgen, mgf = c[:11]
                print(f"| {ex} | {stage} | {model} | {fw} | {mfw} | {bw} | "
                      f"{mbw} | {gen} | {mgen} | {rows} | {gf} | {mgf} |",
                      flush=True)
            shutil.rmtree(d, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
