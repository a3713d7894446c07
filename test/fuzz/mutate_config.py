#!/usr/bin/env python3
"""Mutation fuzzing of the compiled-job configuration: the pipeline config
JSON that honec embeds in every job (extracted from the examples' LLVM IR)
is mutated from a fixed seed (extreme or negative numbers, wrong types,
deleted and unknown keys, deep nesting, long strings) and handed to the
runtime's hone_rt_begin by hone-config-probe. Each run must exit 0, or 1
with an error message; a signal (crash) or a hang fails the test and keeps
the input in WORK.
Usage: mutate_config.py HONEC PROBE EXAMPLES WORK [RUNS] [SEED]"""
import copy, json, os, random, re, shutil, subprocess, sys, time

honec, probe, examples, work = map(os.path.abspath, sys.argv[1:5])
runs = int(sys.argv[5]) if len(sys.argv) > 5 else 200
seed = int(sys.argv[6]) if len(sys.argv) > 6 else 1
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
rng = random.Random(seed)


def config_of(spec):
    ll = subprocess.run([honec, spec, "--compile-to=llvm"], capture_output=True,
                        text=True, check=True).stdout
    for m in re.finditer(r'c"(\{\\22[^"]*)\\00"', ll):
        text = re.sub(r"\\([0-9A-Fa-f]{2})",
                      lambda h: chr(int(h.group(1), 16)), m.group(1))
        try:
            v = json.loads(text)
        except ValueError:
            continue
        if isinstance(v, dict) and "output_dir" in v:
            return v
    return None


seeds = []
for name in sorted(os.listdir(examples)):
    spec = os.path.join(examples, name, "spec.textproto")
    if os.path.exists(spec) and name in ("sft", "grpo", "dpo", "sft-sharegpt",
                                         "reward-model"):
        c = config_of(spec)
        if c:
            seeds.append(c)
if not seeds:
    sys.exit("FAIL: no configuration found in the examples' LLVM IR")

WILD = [0, -1, 1, 2**31, 2**63 - 1, -2**63, 1e308, -1e308, 0.5, "", "x" * 5000,
        None, True, [], {}, [[[[[[]]]]]], "auto", "cuda", "rollback", "abort"]


def paths(v, prefix=()):
    yield prefix
    if isinstance(v, dict):
        for k, x in v.items():
            yield from paths(x, prefix + (k,))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            yield from paths(x, prefix + (i,))


def mutate(c):
    c = copy.deepcopy(c)
    for _ in range(rng.randint(1, 4)):
        ps = [p for p in paths(c) if p]
        if not ps:
            break
        p = rng.choice(ps)
        parent = c
        for k in p[:-1]:
            parent = parent[k]
        k = rng.randrange(4)
        if k == 0 and isinstance(parent, dict):
            del parent[p[-1]]
        elif k == 1 and isinstance(parent, dict):
            parent["zz_" + str(rng.randrange(100))] = rng.choice(WILD)
        else:
            parent[p[-1]] = rng.choice(WILD)
    return c


crashes = 0
t0 = time.time()
for n in range(runs):
    c = mutate(rng.choice(seeds))
    # the run directory below WORK whatever the mutant says
    c["output_dir"] = os.path.join(work, f"run{n}")
    path = os.path.join(work, f"c{n}.json")
    with open(path, "w") as f:
        json.dump(c, f)
    try:
        r = subprocess.run([probe, path, os.path.join(work, f"run{n}")],
                           capture_output=True, text=True, timeout=30,
                           cwd=work)
    except subprocess.TimeoutExpired:
        print(f"HANG: {path}")
        crashes += 1
        continue
    if r.returncode not in (0, 1):
        crashes += 1
        print(f"CRASH ({r.returncode}): {path}\n{r.stderr[-1500:]}")
        continue
    if r.returncode == 1 and "error" not in r.stderr:
        crashes += 1
        print(f"SILENT FAILURE: {path}")
        continue
    os.remove(path)
    shutil.rmtree(os.path.join(work, f"run{n}"), ignore_errors=True)
print(f"{runs} mutants of {len(seeds)} configurations in "
      f"{time.time() - t0:.0f} s: {crashes} crash(es)")
if crashes:
    sys.exit(1)
shutil.rmtree(work)
