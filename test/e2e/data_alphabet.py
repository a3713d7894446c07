#!/usr/bin/env python3
"""A character outside the tokenizer's alphabet. honec reads every record
and refuses the spec at the dataset's path with FILE:LINE (it used to be
found mid-run). A file the job reads unchecked (compiled with
--no-file-checks: a file changed after a checked compile is refused whole,
test/e2e/changed_data.py) is refused by the job at the record, with
FILE:LINE (it used to name only the op), as one line, exit 1.
Usage: data_alphabet.py HONEC SPEC WORK"""
import json, os, shutil, subprocess, sys

honec, spec, work = sys.argv[1:4]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
data = os.path.join(work, "train.jsonl")
good = [{"prompt": "1+2=", "completion": "3"}] * 20


def write(rows):
    with open(data, "w") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def compile(job, *extra):
    return subprocess.run([honec, spec, f"datasets[0].path={data}",
                           "stages[0].sft.loop.steps=4", "--compile-to=exe",
                           *extra, "-o", job], capture_output=True, text=True)


# Record 19 (past the 16 records the layout check reads) has an 'é', record
# 20 a newline.
write(good[:18] + [{"prompt": "1+2=", "completion": "é"},
                   {"prompt": "1+2=", "completion": "3\n"}])
job = os.path.join(work, "job")
r = compile(job)
err = [l for l in r.stderr.splitlines() if "error:" in l]
assert r.returncode == 1 and len(err) == 1, r
want = (f"train.jsonl:19: 'completion': character 'é' (U+00E9) at byte 0 is "
        f"not in the character vocabulary (2 records have such text)")
assert want in err[0], err[0]
print(err[0])

write(good[:4]) # one batch: every record
r = compile(job, "--no-file-checks")
assert r.returncode == 0, r
write(good[:2] + [{"prompt": "1+2=", "completion": "3\n"}] + good[3:4])
p = subprocess.run([job, "--device", "cpu", "--progress", "off", "--out",
                    os.path.join(work, "run")], capture_output=True,
                   text=True, timeout=120)
lines = p.stderr.strip().splitlines()
assert p.returncode == 1 and len(lines) == 1, p
assert (f"{data}:3: character U+000A at byte 1 is not in the character "
        f"vocabulary") in lines[0], lines[0]
print(lines[0])
shutil.rmtree(work)
print("OK: located at compile time and at run time")
