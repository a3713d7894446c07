#!/usr/bin/env python3
"""A spec whose tokenizer is a Hugging Face tokenizer.json given relative to
the spec's directory: the compiled job finds it when started from another
directory (the path used to reach the job as written in the spec, opened
relative to wherever the job ran), and tokenizes the data with it.
Usage: tokenizer_file.py HONEC SPEC WORK"""
import json, os, re, shutil, subprocess, sys

honec, spec, work = sys.argv[1:4]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(os.path.join(work, "elsewhere"))
chars = "0123456789+= "
vocab = {"<pad>": 0, "<bos>": 1, "<eos>": 2}
vocab.update({c: i + 3 for i, c in enumerate(chars)})
added = [{"id": i, "content": t, "special": True, "single_word": False,
          "lstrip": False, "rstrip": False, "normalized": False}
         for t, i in [("<pad>", 0), ("<bos>", 1), ("<eos>", 2)]]
with open(os.path.join(work, "tok.json"), "w") as f:
    json.dump({"model": {"type": "BPE", "vocab": vocab, "merges": []},
               "added_tokens": added}, f)
text = open(spec).read()
text = text.replace('chars { alphabet: "0123456789+= " }', 'file: "tok.json"')
if 'file: "tok.json"' not in text:
    sys.exit("FAIL: the example's tokenizer changed; update this test")
base = os.path.dirname(os.path.abspath(spec))
text = re.sub(r'path: "([^"/][^"]*)"',
              lambda m: f'path: "{os.path.join(base, m.group(1))}"', text)
with open(os.path.join(work, "spec.textproto"), "w") as f:
    f.write(text)
subprocess.run([honec, "spec.textproto", "stages[0].sft.loop.steps=2",
                "-o", "job"], cwd=work, check=True)
p = subprocess.run([os.path.join(work, "job"), "--device", "cpu",
                    "--progress", "off", "--out", os.path.join(work, "run")],
                   cwd=os.path.join(work, "elsewhere"), stdout=subprocess.PIPE,
                   stderr=subprocess.STDOUT, text=True, timeout=120)
print(p.stdout)
if p.returncode != 0:
    sys.exit(f"FAIL: the job exited {p.returncode}")
rows = [json.loads(l) for l in open(os.path.join(work, "run", "metrics.jsonl"))]
if not any(r.get("step") == 2 and "loss" in r for r in rows):
    sys.exit("FAIL: no loss row for step 2 in metrics.jsonl")
shutil.rmtree(work)
print("PASS")
