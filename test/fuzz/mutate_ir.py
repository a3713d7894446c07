#!/usr/bin/env python3
"""Mutation fuzzing of hone-opt on IR: the .mlir files under test/ are
seeds; each run applies a few random mutations (delete, duplicate or swap
spans, extreme integers, stray brackets, truncation) drawn from a fixed seed
and runs hone-opt on the result, parsing and verifying it, then through
each stage of the pipeline. A crash (signal, LLVM ERROR, stack dump) fails
the test and leaves the input in WORK; bad IR must give a diagnostic.
Usage: mutate_ir.py HONE_OPT TEST_DIR WORK [RUNS] [SEED]"""
import os, random, re, shutil, subprocess, sys, time

hone_opt, test_dir, work = sys.argv[1:4]
runs = int(sys.argv[4]) if len(sys.argv) > 4 else 300
seed = int(sys.argv[5]) if len(sys.argv) > 5 else 1
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
rng = random.Random(seed)
seeds = []
for root, _, files in os.walk(test_dir):
    for f in sorted(files):
        if f.endswith(".mlir"):
            text = open(os.path.join(root, f)).read()
            # the RUN lines' pass pipelines, to run the mutant through
            pipes = re.findall(r"--pass-pipeline='([^']+)'", text)
            pipes += ["--" + p for p in re.findall(r"hone-opt[^|\n]*?--(hone-[a-z-]+)", text)]
            seeds.append((f, text, pipes))
seeds.sort()
EXTREME = ["0", "-1", "9223372036854775807", "-9223372036854775808",
           "4294967296", "2147483648", "1e308", "nan", "99999999999999999999"]


def mutate(text):
    for _ in range(rng.randint(1, 4)):
        if not text:
            break
        k = rng.randrange(7)
        a = rng.randrange(len(text))
        b = min(len(text), a + rng.randint(1, 40))
        if k == 0:
            text = text[:a] + text[b:]
        elif k == 1:
            text = text[:a] + text[a:b] * 2 + text[b:]
        elif k == 2:
            nums = list(re.finditer(r"-?\d+", text))
            if nums:
                m = rng.choice(nums)
                text = text[:m.start()] + rng.choice(EXTREME) + text[m.end():]
        elif k == 3:
            text = text[:a] + rng.choice("{}()[]<>\"%@#:,=!^") + text[a:]
        elif k == 4:
            lines = text.split("\n")
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
        elif k == 5:
            text = text[:a]
        else:
            words = re.findall(r"[A-Za-z_][\w.]*", text)
            if words:
                w = rng.choice(words)
                text = text.replace(w, rng.choice(words), 1)
    return text


crashes = 0
t0 = time.time()
for n in range(runs):
    name, text, pipes = seeds[rng.randrange(len(seeds))]
    mutant = mutate(text)
    path = os.path.join(work, f"m{n}.mlir")
    with open(path, "w") as f:
        f.write(mutant)
    args = [hone_opt, "--allow-unregistered-dialect", "-split-input-file",
            path, "-o", os.devnull]
    if pipes and rng.random() < 0.7:
        p = rng.choice(pipes)
        args.insert(1, p if p.startswith("--hone") else f"--pass-pipeline={p}")
    try:
        r = subprocess.run(args, capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        print(f"HANG: {path} (from {name}): {' '.join(args)}")
        crashes += 1
        continue
    bad = r.returncode < 0 or "Stack dump" in r.stderr or \
        "LLVM ERROR" in r.stderr or "Assertion" in r.stderr
    if bad:
        crashes += 1
        print(f"CRASH: {path} (from {name}): {' '.join(args)}\n"
              f"{r.stderr[-1500:]}")
    else:
        os.remove(path)
print(f"{runs} mutants of {len(seeds)} seeds in {time.time() - t0:.0f} s: "
      f"{crashes} crash(es)")
if crashes:
    sys.exit(1)
shutil.rmtree(work)
