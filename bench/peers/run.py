#!/usr/bin/env python3
"""Hone side by side with TRL, PyTorch and transformers on the same CPU.

  bench/peers/run.py [--build build] [--python PY] [--install] [--rounds R]
                     [--only peak,grpo-small,grpo-512,sft,gen]
                     [--threads 2] [--sft-steps 600] [--keep DIR]
                     [--share-prefix-ab] [--lm-keep-ab]

Every comparison runs the same model architecture with the same starting
weights (Hone writes them as a Hugging Face directory; both sides load it),
the same settings and the same number of threads (Hone: --threads; Python:
torch.set_num_threads plus OMP/MKL environment), as separate processes in
INTERLEAVED rounds (Hone, peer, Hone, peer, ...), so load from other jobs on
a shared machine hits both sides alike. Hone's side is what users run: specs
compiled by honec into jobs; its step times come from `./job --trace` (the
start of one step's generate op to the next one's; SFT: from one train_step
to the next). Peers' step times come from a TrainerCallback (TRL) or the
loop itself. Reported: the median over steady-state steps of all rounds,
process CPU seconds per step, and ratios peer / Hone against issue 15's
targets.

Workloads:
  peak       hone_bench_gemm --rounds 0: CPU model, OpenBLAS/BLIS/oneDNN
             kernels, fp32 FMA and bf16 dot peaks (thread CPU time); torch's
             build config, CPU capability and what MKL/oneDNN chose.
  grpo-small the README example's model (examples/arith after its SFT stage,
             107 k parameters), 32 prompts x 8 samples, 5 new tokens: Hone's
             GRPO step vs TRL's GRPOTrainer (use_cpu, fp32, no vLLM).
  grpo-512   GPT-2 d_model 512 x 8 layers, same task, 8 prompts x 8 samples,
             32 new tokens.
  sft        GPT-2 d_model 512 x 8 layers, vocabulary 8192, batch 4 x 256:
             Hone's SFT step (fp32 and hardware.precision bf16) vs a plain
             PyTorch loop (AdamW, clipping); Hone's step as a fraction of
             the fp32 peak measured in the same run.
  gen        Hone's generation (hone_bench_generate: generate() on a GPT-2
             d_model 512 x 8, 64 prompts, 32 new tokens, in its own
             process) vs transformers' generate on the same model and
             prompts, batch 64, interleaved, wall and CPU seconds per call.

The peer side needs torch, transformers, trl and datasets: the script uses
--python, else BUILD/pyvenv/bin/python, else the running interpreter; where
none has them it prints one line and exits 0 (--install creates
BUILD/pyvenv with pip from PyPI first). Nothing is left behind unless
--keep DIR is given.
"""
import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz +-*=?:,.()[]>"
SPECIALS = ["<pad>", "<bos>", "<eos>"]
PEER_PACKAGES = ["torch", "transformers", "trl", "datasets", "accelerate"]

# Issue 15's targets: peer time / Hone time (or a fraction).
TARGETS = {
    "grpo-small": 5.0,
    "grpo-512": 2.0,
    "sft": 1.5,
    "gen": 3.0,
    "peak": 0.70,
    "bf16": 1.6,
}


# --------------------------------------------------------------------------
# The peer side (runs in the venv's interpreter as a worker process)
# --------------------------------------------------------------------------

def peer_env(threads):
    env = dict(os.environ)
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[k] = str(threads)
    env.setdefault("OMP_WAIT_POLICY", "passive")
    env["TOKENIZERS_PARALLELISM"] = "false"
    env["HF_HUB_OFFLINE"] = "1"
    env["HF_DATASETS_OFFLINE"] = "1"
    env["TRANSFORMERS_NO_ADVISORY_WARNINGS"] = "1"
    env["WANDB_DISABLED"] = "true"
    env["TQDM_DISABLE"] = "1"
    return env


def char_tokenizer():
    """Hone's `tokenizer { chars { alphabet } }` as a transformers fast
    tokenizer: the specials first, then one token per character."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    vocab = {t: i for i, t in enumerate(SPECIALS + list(ALPHABET))}
    tk = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
    tk.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tk.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>",
                                   bos_token="<bos>", eos_token="<eos>")


def worker(kind, cfg_path):
    with open(cfg_path) as f:
        cfg = json.load(f)
    import torch
    torch.set_num_threads(cfg["threads"])
    torch.manual_seed(cfg.get("seed", 7))
    out = {"steps": []}
    if kind == "info":
        out = peer_info()
    elif kind == "trl-grpo":
        out = trl_grpo(cfg)
    elif kind == "torch-sft":
        out = torch_sft(cfg)
    elif kind == "hf-generate":
        out = hf_generate(cfg)
    with open(cfg["result"], "w") as f:
        json.dump(out, f)


def peer_info():
    import torch
    import transformers
    import trl
    cfg = torch.__config__.show()
    keep = [l.strip() for l in cfg.splitlines()
            if re.search(r"MKL|oneDNN|MKLDNN|BLAS|OpenMP|CPU capability|"
                         r"LAPACK", l)]
    info = {"torch": torch.__version__, "transformers": transformers.__version__,
            "trl": trl.__version__,
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "mkldnn": torch.backends.mkldnn.is_available(),
            "mkl": torch.backends.mkl.is_available(),
            "config": keep}
    return info


def kernel_probe(py, threads):
    """What MKL and oneDNN chose: one sgemm and one linear layer with their
    verbose modes on (first lines only)."""
    code = ("import torch; torch.set_num_threads(%d);"
            "a=torch.randn(256,512); b=torch.randn(512,512);"
            "torch.mm(a,b); torch.nn.functional.linear(a,b);"
            "torch.nn.functional.linear(a.bfloat16(),b.bfloat16())" % threads)
    env = peer_env(threads)
    env["MKL_VERBOSE"] = "1"
    env["ONEDNN_VERBOSE"] = "1"
    r = subprocess.run([py, "-c", code], env=env, capture_output=True,
                       text=True, timeout=300)
    lines = []
    for l in (r.stdout + r.stderr).splitlines():
        if l.startswith("MKL_VERBOSE") or l.startswith("onednn_verbose"):
            if "info,cpu,isa" in l or "info,cpu,runtime" in l or \
                    l.startswith("MKL_VERBOSE oneMKL") or \
                    l.startswith("MKL_VERBOSE Intel") or \
                    ",exec," in l or "SGEMM" in l:
                lines.append(l[:200])
    seen, out = set(), []
    for l in lines:
        key = re.sub(r"[0-9.]+(ms|us)", "", l)[:90]
        if key not in seen:
            seen.add(key)
            out.append(l)
    return out[:12]


class StepTimer:
    """TrainerCallback: wall and process-CPU seconds per optimiser step."""

    def __init__(self):
        self.steps = []
        self._t = None

    def callback(self):
        from transformers import TrainerCallback
        outer = self

        class C(TrainerCallback):
            def on_step_begin(self, args, state, control, **kw):
                outer._t = (time.perf_counter(), time.process_time())

            def on_step_end(self, args, state, control, **kw):
                w, c = outer._t
                outer.steps.append([time.perf_counter() - w,
                                    time.process_time() - c])
        return C()


def trl_grpo(cfg):
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import GRPOConfig, GRPOTrainer
    tok = char_tokenizer()
    model = AutoModelForCausalLM.from_pretrained(cfg["model"],
                                                 dtype=torch.float32)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.bos_token_id = tok.bos_token_id
    rows = []
    with open(cfg["prompts"]) as f:
        for line in f:
            r = json.loads(line)
            # Hone's char tokenizer adds no <bos> (runtime/tokenizer).
            rows.append({"prompt": r["prompt"], "answer": r["answer"]})
    ds = Dataset.from_list(rows)
    lengths = []

    def correct(prompts, completions, answer, **kw):
        out = []
        for c, a in zip(completions, answer):
            lengths.append(len(c))
            out.append(1.0 if c.strip() == a else 0.0)
        return out

    args = GRPOConfig(
        output_dir=cfg["workdir"], use_cpu=True, bf16=False, fp16=False,
        per_device_train_batch_size=cfg["prompts_per_step"] * cfg["samples"],
        num_generations=cfg["samples"], max_completion_length=cfg["new_tokens"],
        learning_rate=cfg["lr"], lr_scheduler_type="constant", warmup_steps=0,
        weight_decay=cfg["weight_decay"], adam_beta1=cfg["adam_beta1"],
        adam_beta2=cfg["adam_beta2"], adam_epsilon=cfg["adam_eps"],
        max_grad_norm=cfg["max_grad_norm"], beta=cfg["beta"],
        epsilon=cfg["epsilon"], loss_type=cfg["loss_type"],
        scale_rewards="group", temperature=cfg["temperature"], top_p=1.0,
        top_k=0, num_iterations=1, max_steps=cfg["steps"], logging_steps=1,
        save_strategy="no", report_to=[], seed=cfg["seed"],
        dataloader_num_workers=0, disable_tqdm=True, use_vllm=False,
        gradient_checkpointing=False, log_completions=False)
    timer = StepTimer()
    trainer = GRPOTrainer(model=model, reward_funcs=[correct], args=args,
                          train_dataset=ds, processing_class=tok,
                          callbacks=[timer.callback()])
    trainer.train()
    return {"steps": timer.steps,
            "mean_completion_chars": statistics.mean(lengths) if lengths else 0}


def torch_sft(cfg):
    import torch
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(cfg["model"],
                                                 dtype=torch.float32)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"],
                            betas=(cfg["adam_beta1"], cfg["adam_beta2"]),
                            eps=cfg["adam_eps"],
                            weight_decay=cfg["weight_decay"])
    with open(cfg["ids"]) as f:
        ids = torch.tensor(json.load(f), dtype=torch.long)
    B = cfg["batch"]
    steps, losses = [], []
    for s in range(cfg["steps"]):
        x = ids[(s * B) % len(ids):(s * B) % len(ids) + B]
        w, c = time.perf_counter(), time.process_time()
        logits = model(input_ids=x).logits
        # Hone's completion-only SFT loss: the rows are a one-token prompt,
        # the completion and <eos> (no <bos>); the targets are the
        # completion and <eos>, the token mean over them.
        loss = torch.nn.functional.cross_entropy(
            logits[:, :-1].reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["max_grad_norm"])
        opt.step()
        opt.zero_grad(set_to_none=True)
        steps.append([time.perf_counter() - w, time.process_time() - c])
        losses.append(float(loss.detach()))
    return {"steps": steps, "losses": losses}


def hf_generate(cfg):
    import torch
    from transformers import AutoModelForCausalLM
    tok = char_tokenizer()
    model = AutoModelForCausalLM.from_pretrained(cfg["model"],
                                                 dtype=torch.float32)
    model.eval()
    prompts = []
    with open(cfg["prompts"]) as f:
        for line in f:
            prompts.append(json.loads(line)["prompt"])
    B, steps = cfg["batch"], []
    with torch.inference_mode():
        for s in range(cfg["steps"]):
            batch = [prompts[(s * B + i) % len(prompts)] for i in range(B)]
            enc = tok(batch, return_tensors="pt", padding=True,
                      padding_side="left", add_special_tokens=False)
            w, c = time.perf_counter(), time.process_time()
            out = model.generate(**enc, do_sample=True,
                                 temperature=cfg["temperature"], top_k=0,
                                 top_p=1.0, max_new_tokens=cfg["new_tokens"],
                                 min_new_tokens=cfg["new_tokens"],
                                 pad_token_id=tok.pad_token_id,
                                 eos_token_id=tok.eos_token_id)
            steps.append([time.perf_counter() - w, time.process_time() - c])
            assert out.shape[1] - enc["input_ids"].shape[1] == cfg["new_tokens"]
    return {"steps": steps}


# --------------------------------------------------------------------------
# The driver
# --------------------------------------------------------------------------

def has_peer_packages(py):
    code = "import " + ", ".join(PEER_PACKAGES)
    try:
        return subprocess.run([py, "-c", code], capture_output=True,
                              timeout=300).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def install_venv(path):
    print(f"bench/peers: creating {path} (pip, from PyPI: {' '.join(PEER_PACKAGES)})",
          flush=True)
    subprocess.run([sys.executable, "-m", "venv", path], check=True)
    py = os.path.join(path, "bin", "python")
    subprocess.run([py, "-m", "pip", "install", "--quiet", *PEER_PACKAGES],
                   check=True)
    return py


def find_python(a):
    cands = [a.python] if a.python else [
        os.path.join(a.build, "pyvenv", "bin", "python"), sys.executable]
    for py in cands:
        if py and os.path.exists(py) and has_peer_packages(py):
            return py
    if a.install and not a.python:
        return install_venv(os.path.join(a.build, "pyvenv"))
    return None


MEMORY_CHECK = "job: error: memory: the job's resident peak"
memory_check_failures = []


def run_timed(cmd, env=None, cwd=None):
    """Runs a process; returns (wall seconds, CPU seconds of it and its
    threads, stdout+stderr). A Hone job that finished ("done:") and failed
    only its end-of-job memory check (measured peak over the plan: the plan
    does not count checkpoint and export copies of the weights yet) is
    counted as run, and the failure is reported at the end."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    out = p.stdout + p.stderr
    if p.returncode == 1 and "\ndone: " in "\n" + out and MEMORY_CHECK in out:
        line = [l for l in out.splitlines() if MEMORY_CHECK in l][0]
        memory_check_failures.append(os.path.basename(cmd[0]) + ": " + line)
        return wall, cpu, out
    if p.returncode != 0:
        sys.stderr.write(p.stdout[-4000:] + p.stderr[-4000:])
        raise RuntimeError(f"{' '.join(cmd[:3])} ... failed with exit "
                           f"code {p.returncode}")
    return wall, cpu, p.stdout + p.stderr


class Bench:
    def __init__(self, a, py, work):
        self.a, self.py, self.work = a, py, work
        self.honec = os.path.join(a.build, "bin", "honec")
        self.results = {}

    # --- Hone side ---------------------------------------------------------
    def spec(self, name, body):
        path = os.path.join(self.work, name + ".textproto")
        with open(path, "w") as f:
            f.write(f'name: "{name}"\nseed: 7\n'
                    f'tokenizer {{ chars {{ alphabet: "{ALPHABET}" }} }}\n')
            f.write(body)
        return path

    def compile(self, spec, *overrides):
        job = spec[:-len(".textproto")] + ".job"
        subprocess.run([self.honec, spec, *overrides, "-o", job], check=True)
        return job

    def run_job(self, job, tag, trace=True, env=None):
        out = os.path.join(self.work, "run-" + tag)
        shutil.rmtree(out, ignore_errors=True)
        cmd = [job, "--device", "cpu", "--out", out, "--progress", "off",
               "--threads", str(self.a.threads)]
        if trace:
            cmd.append("--trace")
        wall, cpu, _ = run_timed(cmd, env=env, cwd=self.work)
        return out, wall, cpu

    @staticmethod
    def trace_ops(out):
        with open(os.path.join(out, "trace.json")) as f:
            ev = json.load(f)["traceEvents"]
        return [e for e in ev if e.get("ph") == "X"]

    def hone_steps(self, out, first_op, steps_total, cpu_total):
        """Per-step wall seconds from the trace: start of `first_op` to its
        next start (the last step: to the last op's end)."""
        ops = self.trace_ops(out)
        starts = sorted(e["ts"] for e in ops if e["name"] == first_op)
        end = max(e["ts"] + e["dur"] for e in ops)
        bounds = starts + [end]
        walls = [(bounds[i + 1] - bounds[i]) * 1e-6 for i in range(len(starts))]
        return walls

    def hone_op_times(self, out, op):
        return [e["dur"] * 1e-6 for e in self.trace_ops(out) if e["name"] == op]

    # --- peers -------------------------------------------------------------
    def peer(self, kind, cfg):
        cfg = dict(cfg, threads=self.a.threads,
                   result=os.path.join(self.work, f"{kind}.result.json"),
                   workdir=os.path.join(self.work, f"{kind}.out"))
        path = os.path.join(self.work, f"{kind}.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        wall, cpu, log = run_timed(
            [self.py, os.path.abspath(__file__), "--worker", kind, path],
            env=peer_env(self.a.threads), cwd=self.work)
        with open(cfg["result"]) as f:
            r = json.load(f)
        shutil.rmtree(cfg["workdir"], ignore_errors=True)
        r["process_wall"], r["process_cpu"] = wall, cpu
        return r


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def machine():
    model, flags = "unknown", set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") and model == "unknown":
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    fam = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
           if l.startswith("cpu family") or l.startswith("model\t")][:2]
    want = ["avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_vnni"]
    have = " ".join(f"{w}={'yes' if w in flags else 'no'}" for w in want)
    return f"{model} (family/model {'/'.join(fam)}), {os.cpu_count()} cpus, {have}"


def load():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def steady(xs, skip):
    return xs[skip:] if len(xs) > skip else xs


# GRPO settings shared by both sides (examples/arith's GRPO stage).
GRPO = {"lr": 1e-4, "beta": 0.02, "temperature": 0.7, "samples": 8,
        "max_prompt_length": 24, "seed": 7}


def drive(a, py, work):
    only = set(a.only.split(","))
    b = Bench(a, py, work)
    print(f"bench/peers {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
          f"{a.threads} threads each side, {a.rounds} interleaved rounds")
    print(f"machine: {machine()}")
    print(f"load average at start: {load()}")
    print(f"peer python: {py}")
    loads = [load()]

    # Optimiser defaults of the resolved spec, for the peers.
    res = os.path.join(work, "resolved.textproto")
    subprocess.run([b.honec, os.path.join(ROOT, "examples/arith/spec.textproto"),
                    "--emit-resolved-spec=" + res, "--check-only"], check=True,
                   capture_output=True)
    text = open(res).read()

    def field(name, default):
        m = re.search(r"\b" + name + r":\s*([-0-9.e+]+)", text)
        return float(m.group(1)) if m else default
    opt = {"weight_decay": field("weight_decay", 0.0),
           "adam_beta1": field("beta1", 0.9), "adam_beta2": field("beta2", 0.999),
           "adam_eps": field("eps", 1e-8), "max_grad_norm": field("max_grad_norm", 1.0),
           "epsilon": field("epsilon", 0.2)}
    agg = re.search(r"aggregation:\s*(\w+)", text)
    # Hone's aggregation (frontend/pipeline.proto) as TRL's loss_type.
    opt["loss_type"] = {"token_mean": "dapo", "sequence_mean": "grpo",
                        "constant": "dr_grpo"}.get(agg.group(1) if agg else "", "grpo")
    print("shared settings: " + ", ".join(f"{k} {v}" for k, v in opt.items()))

    # --- peak and kernels ----------------------------------------------------
    peak1 = peakN = bpeakN = float("nan")
    gemm = os.path.join(a.build, "bin", "hone_bench_gemm")
    if ("peak" in only or "sft" in only) and not os.path.exists(gemm):
        print(f"bench/peers: no {gemm} (build hone_bench_gemm): no peak measured")
    elif "peak" in only or "sft" in only:
        r = subprocess.run([gemm, "--rounds", "0", "--threads", str(a.threads)],
                           capture_output=True, text=True, check=True)
        for l in r.stdout.splitlines():
            if l.startswith(("cpu:", "openblas core", "peak")):
                print("hone: " + l)
            m = re.match(r"peak fp32 FMA: ([0-9.]+) GFLOP/s on 1 thread, ([0-9.]+)", l)
            if m:
                peak1, peakN = float(m.group(1)), float(m.group(2))
            m = re.match(r"peak bf16 dot.*: ([0-9.]+) GFLOP/s on 1 thread, ([0-9.]+)", l)
            if m:
                bpeakN = float(m.group(2))
        info = b.peer("info", {})
        print(f"torch {info['torch']}, transformers {info['transformers']}, "
              f"trl {info['trl']}; CPU capability {info['cpu_capability']}, "
              f"mkl {info['mkl']}, mkldnn {info['mkldnn']}")
        for l in info["config"]:
            print("torch config: " + l)
        for l in kernel_probe(py, a.threads):
            print("torch kernels: " + l)

    rows = []  # (workload, hone, peer, ratio, target, note)
    share_ab = []  # --share-prefix-ab: GRPO on vs off
    lm_keep_ab = None  # --lm-keep-ab: SFT logits kept vs recomputed
    data = os.path.join(ROOT, "examples", "arith")

    def grpo_spec(name, model_dir, prompts, new_tokens, steps):
        return b.spec(name, f"""
models {{ name: "policy" load: "{model_dir}" }}
datasets {{ name: "prompts" path: "{data}/prompts.jsonl" }}
rewards {{ name: "correct" exact_match {{ }} }}
generation {{ max_new_tokens: {new_tokens} }}
checkpointing {{ every_steps: 0 }}
hardware {{ threads: {a.threads} }}
stages {{
  name: "grpo" model: "policy" dataset: "prompts"
  optimizer {{ lr: {GRPO['lr']} schedule: constant_lr }}
  rl {{
    algorithm: grpo steps: {steps} batch_size: {prompts * GRPO['samples']}
    beta: {GRPO['beta']} rewards: "correct"
    generation {{ samples_per_prompt: {GRPO['samples']} temperature: {GRPO['temperature']} }}
    max_prompt_length: {GRPO['max_prompt_length']}
  }}
}}
""")

    def init_model(name, arch, sft_steps, export):
        """Hone initialises (and for the small model SFT-trains) the model
        and writes it as a Hugging Face directory both sides load."""
        spec = b.spec(name, f"""
models {{ name: "policy" init {{ {arch} }} }}
datasets {{ name: "train" path: "{data}/train.jsonl" }}
hardware {{ threads: {a.threads} }}
stages {{
  name: "sft" dataset: "train" output: "policy_sft"
  optimizer {{ lr: 1e-3 schedule: constant_lr }}
  sft {{ loop {{ steps: {sft_steps} batch_size: {32 if sft_steps > 1 else 1} }} }}
}}
exports {{ model: "{export}" path: "model" }}
""")
        job = b.compile(spec)
        out, wall, _ = b.run_job(job, name, trace=False)
        print(f"{name}: {wall:.1f} s ({sft_steps} SFT steps), exported {export}")
        return os.path.join(out, "model")

    def grpo(name, arch, sft_steps, prompts, new_tokens, steps, skip):
        model = init_model(name + "-init", arch, sft_steps,
                           "policy_sft" if sft_steps > 1 else "policy")
        job = b.compile(grpo_spec(name, model, prompts, new_tokens, steps))
        # The same job with one step: CPU(steps) - CPU(1) over steps - 1 is
        # the CPU of a steady-state step (start-up and step 1 cancel). Both
        # run in every round, one after the other: the start-up's CPU
        # (populating the arena, 2 MiB pages where the kernel has them)
        # varied by 2 s between runs of the d_model 512 job on a shared
        # machine, 0.7 s a step over its 3 steady steps, so a step is
        # counted from a pair run close in time, never from round 1's
        # one-step run alone.
        job1 = b.compile(grpo_spec(name + "-1", model, prompts, new_tokens, 1))
        per_step = []
        cfg = dict(GRPO, **opt, model=model, prompts_per_step=prompts,
                   new_tokens=new_tokens, steps=steps,
                   prompts=os.path.join(data, "prompts.jsonl"))
        hw, hc, pw, pc, gen = [], [], [], [], []
        off_w, off_c = [], []
        off_env = dict(os.environ, HONE_SHARE_PREFIX="0")
        for r in range(a.rounds):
            out, wall, cpu = b.run_job(job, name)
            walls = b.hone_steps(out, "generate", steps, cpu)
            hw += steady(walls, skip)
            gen += steady(b.hone_op_times(out, "generate"), skip)
            hc.append(cpu)
            cpu1 = b.run_job(job1, name + "-1", trace=False)[2]
            per_step.append((cpu - cpu1) / (steps - 1))
            if a.share_prefix_ab:
                # The same jobs with the prompts' rows run once per sample
                # (HONE_SHARE_PREFIX=0), interleaved with the default.
                out, wall, cpu = b.run_job(job, name + "-off", env=off_env)
                off_w += steady(b.hone_steps(out, "generate", steps, cpu), skip)
                cpu1 = b.run_job(job1, name + "-1-off", trace=False,
                                 env=off_env)[2]
                off_c.append((cpu - cpu1) / (steps - 1))
                print(f"  {name} round {r + 1}: prefix sharing off "
                      f"{median(steady(b.hone_steps(out, 'generate', steps, cpu), skip)):.3f} s/step "
                      f"({off_c[-1]:.3f} CPU-s)", flush=True)
            t = b.peer("trl-grpo", cfg)
            pw += [s[0] for s in steady(t["steps"], skip)]
            pc += [s[1] for s in steady(t["steps"], skip)]
            loads.append(load())
            print(f"  {name} round {r + 1}: hone {median(steady(walls, skip)):.3f} s/step "
                  f"({per_step[-1]:.3f} CPU-s), "
                  f"trl {median([s[0] for s in steady(t['steps'], skip)]):.3f} s/step "
                  f"({median([s[1] for s in steady(t['steps'], skip)]):.3f} CPU-s) "
                  f"(load {load()})", flush=True)
        if off_c:
            share_ab.append((name, median(hw), median(per_step),
                             median(off_w), median(off_c), median(pw),
                             median(pc)))
        return hw, per_step, pw, pc, gen

    if "grpo-small" in only:
        arch = "family: gpt2 d_model: 64 layers: 2 heads: 4 ffn: 256 max_seq_len: 64"
        hw, hc, pw, pc, _ = grpo("grpo-small", arch, a.sft_steps, 32, 5, 12, 2)
        rows.append(("GRPO step, README model (107 k), 32 x 8, 5 new",
                     median(hw), median(pw), median(hc), median(pc),
                     TARGETS["grpo-small"]))

    arch512 = "family: gpt2 d_model: 512 layers: 8 heads: 8 ffn: 2048 max_seq_len: 64"
    if "grpo-512" in only:
        hw, hc, pw, pc, gen = grpo("grpo-512", arch512, 1, 8, 32, 4, 1)
        rows.append(("GRPO step, GPT-2 d512 x 8, 8 x 8, 32 new",
                     median(hw), median(pw), median(hc), median(pc),
                     TARGETS["grpo-512"]))
    if "gen" in only:
        # Both sides in their own processes, interleaved (Hone, peer, ...),
        # each call timed in wall and process CPU seconds around the
        # generate call: Hone's hone_bench_generate (bench/model/
        # GenerateBench.cpp) runs runtime/model/Generate's generate() on
        # the same 64 prompts per batch as the peer's model.generate, one
        # sample each, exactly 32 new tokens, temperature 0.7.
        model = init_model("gen-init", arch512, 1, "policy")
        prompts = os.path.join(data, "prompts.jsonl")
        ids = []
        with open(prompts) as f:
            for line in f:
                # The char tokenizer: specials first, no <bos>.
                ids.append([len(SPECIALS) + ALPHABET.index(c)
                            for c in json.loads(line)["prompt"]])
        ids_path = os.path.join(work, "gen.ids.json")
        with open(ids_path, "w") as f:
            json.dump(ids, f)
        cfg = {"model": model, "batch": 64, "new_tokens": 32,
               "temperature": GRPO["temperature"], "steps": 4,
               "prompts": prompts}
        gen_tool = os.path.join(a.build, "bin", "hone_bench_generate")
        hw, hc, gw, gc = [], [], [], []
        for r in range(a.rounds):
            res = os.path.join(work, "gen.hone.json")
            run_timed([gen_tool, model, ids_path, "--batch", "64",
                       "--new-tokens", "32", "--temperature",
                       str(GRPO["temperature"]), "--steps", "4",
                       "--threads", str(a.threads), "--out", res])
            with open(res) as f:
                h = json.load(f)["steps"]
            hw += [s[0] for s in steady(h, 1)]
            hc += [s[1] for s in steady(h, 1)]
            t = b.peer("hf-generate", cfg)
            gw += [s[0] for s in steady(t["steps"], 1)]
            gc += [s[1] for s in steady(t["steps"], 1)]
            loads.append(load())
            print(f"  gen round {r + 1}: hone {median([s[0] for s in steady(h, 1)]):.3f} s, "
                  f"transformers {median([s[0] for s in steady(t['steps'], 1)]):.3f} s "
                  f"(load {load()})", flush=True)
        rows.append(("generation, d512 x 8, batch 64, 32 new",
                     median(hw), median(gw), median(hc), median(gc),
                     TARGETS["gen"]))

    sft_frac = None
    if "sft" in only:
        arch = ("family: gpt2 d_model: 512 layers: 8 heads: 8 ffn: 2048 "
                "max_seq_len: 256 vocab: 8192")
        model = init_model("sft-init", arch, 1, "policy")
        # One row repeated: the batch is the same whatever the shuffle, so
        # the first step's loss must match PyTorch's (a check of the setup).
        comp = "".join(ALPHABET[(i * 7) % len(ALPHABET)] for i in range(254))
        with open(os.path.join(work, "sft.jsonl"), "w") as f:
            for _ in range(64):
                f.write(json.dumps({"prompt": "a", "completion": comp}) + "\n")
        # 256 tokens: prompt, completion, <eos> (ids: specials first).
        ids = [3 + ALPHABET.index("a")] + [3 + ALPHABET.index(c) for c in comp] + [2]
        assert len(ids) == 256
        with open(os.path.join(work, "sft.ids.json"), "w") as f:
            json.dump([ids] * 64, f)
        steps, skip = 4, 1
        jobs, jobs1, cpu1 = {}, {}, {}
        # Without AVX-512 BF16 or AMX (no bf16 peak measured) a bf16 job
        # trains in fp32 (its note says so): timing it would only time fp32
        # again.
        precs = ("fp32", "bf16") if bpeakN == bpeakN else ("fp32",)
        for prec, n in [(p, n) for p in precs for n in (steps, 1)]:
            spec = b.spec(f"sft-{prec}-{n}", f"""
models {{ name: "policy" load: "{model}" }}
datasets {{ name: "train" path: "{work}/sft.jsonl" }}
checkpointing {{ every_steps: 0 }}
hardware {{ threads: {a.threads} precision: {prec} }}
stages {{
  name: "sft" dataset: "train"
  optimizer {{ lr: 1e-4 schedule: constant_lr }}
  sft {{ loop {{ steps: {n} batch_size: 4 max_length: 256 }} }}
}}
""")
            (jobs if n == steps else jobs1)[prec] = b.compile(spec)
        cfg = dict(opt, model=model, ids=os.path.join(work, "sft.ids.json"),
                   batch=4, steps=steps, lr=1e-4)
        hw = {"fp32": [], "bf16": []}
        hc = {"fp32": [], "bf16": []}
        pw, pc, losses = [], [], {}
        # The repeated row would run once per batch with prompt rows shared
        # (docs/runtime.md, "Shared prompt rows": 255 of its 256 rows are a
        # prefix of the others), which no real dataset allows: the SFT step
        # is measured doing every row's work, as the peer does.
        every_row = dict(os.environ, HONE_SHARE_PREFIX="0")
        # --lm-keep-ab: the fp32 job again with HONE_LM_KEEP=0 (the LM head's
        # logits recomputed in backward instead of kept), interleaved.
        recompute_lm = dict(every_row, HONE_LM_KEEP="0")
        kw, kc, kcpu1 = [], [], None
        for r in range(a.rounds):
            for prec in precs:
                out, wall, cpu = b.run_job(jobs[prec], "sft-" + prec,
                                           env=every_row)
                walls = b.hone_steps(out, "train_step", steps, cpu)
                hw[prec] += steady(walls, skip)
                hc[prec].append(cpu)
                if r == 0:
                    cpu1[prec] = b.run_job(jobs1[prec], "sft1", trace=False,
                                           env=every_row)[2]
                with open(os.path.join(out, "metrics.jsonl")) as f:
                    first = json.loads(f.readline())
                losses["hone-" + prec] = first.get("loss")
                if prec == "fp32" and a.lm_keep_ab:
                    out, wall, cpu = b.run_job(jobs[prec], "sft-lmkeep0",
                                               env=recompute_lm)
                    kw += steady(b.hone_steps(out, "train_step", steps, cpu),
                                 skip)
                    kc.append(cpu)
                    if r == 0:
                        kcpu1 = b.run_job(jobs1[prec], "sft1-lmkeep0",
                                          trace=False, env=recompute_lm)[2]
                if prec == "fp32":
                    t = b.peer("torch-sft", cfg)
                    pw += [s[0] for s in steady(t["steps"], skip)]
                    pc += [s[1] for s in steady(t["steps"], skip)]
                    losses["torch"] = t["losses"][0]
            loads.append(load())
            print(f"  sft round {r + 1}: hone fp32 {median(steady(hw['fp32'], 0)):.3f} s/step, "
                  f"bf16 {median(hw['bf16']):.3f}, torch {median(pw):.3f} (load {load()})",
                  flush=True)
        for prec in precs:
            hc[prec] = [(median(hc[prec]) - cpu1[prec]) / (steps - 1)]
        if a.lm_keep_ab:
            lm_keep_ab = (median(hw["fp32"]), median(hc["fp32"]), median(kw),
                          (median(kc) - kcpu1) / (steps - 1), median(pw),
                          median(pc))
        print("first-step SFT loss: " + ", ".join(f"{k} {v:.6f}" for k, v in losses.items()))
        rows.append(("SFT step, GPT-2 d512 x 8, 4 x 256, vocab 8192",
                     median(hw["fp32"]), median(pw), median(hc["fp32"]), median(pc),
                     TARGETS["sft"]))
        D, L, F, V, T, N = 512, 8, 2048, 8192, 256, 4 * 256
        flops = 6 * (L * (4 * D * D + 2 * D * F) + V * D) * N + 12 * L * T * D * N
        sft_frac = (flops, median(hw["fp32"]), median(hw["bf16"]),
                    median(hc["fp32"]), median(hc["bf16"]) if hc["bf16"] else
                    float("nan"))

    # --- the table ---------------------------------------------------------------
    print(f"\nload average during the run: {', '.join(loads)}")
    print(f"\n{'workload':48s} {'Hone s':>8s} {'peer s':>8s} {'peer/Hone':>9s} "
          f"{'target':>7s} {'Hone cpu':>9s} {'peer cpu':>9s}")
    for name, h, p, hcpu, pcpu, target in rows:
        ratio = p / h
        ok = "met" if ratio >= target else "MISSED"
        print(f"{name:48s} {h:8.3f} {p:8.3f} {ratio:8.2f}x {target:6.1f}x "
              f"{hcpu:9.3f} {pcpu:9.3f}  {ok}")
    print("(medians over steady-state steps of all rounds, wall seconds; "
          "cpu: process CPU seconds per steady-state step, all threads; Hone's "
          "is (CPU of the job - CPU of the same job with 1 step) / (steps - 1), "
          "the GRPO jobs' median over rounds of each round's pair; "
          "gen: both sides' CPU seconds around each generate call)")
    if sft_frac:
        flops, f32, b16, c32, c16 = sft_frac
        print(f"\nHone SFT step {flops * 1e-9:.1f} GFLOP (matmul, PaLM accounting): "
              f"fp32 {f32:.3f} s = {flops / f32 * 1e-9:.1f} GFLOP/s = "
              f"{flops / f32 * 1e-9 / peakN:.2f} of the {a.threads}-thread fp32 "
              f"peak ({peakN:.0f} GFLOP/s; target >= {TARGETS['peak']:.2f})")
        print(f"by CPU time: fp32 {c32:.3f} CPU-s/step = {flops / c32 * 1e-9:.1f} GFLOP "
              f"per CPU-second = {flops / c32 * 1e-9 / peak1:.2f} of one core's fp32 "
              f"peak ({peak1:.0f} GFLOP/s); the contention-free view on a shared machine")
        if b16 == b16:
            print(f"bf16 GEMMs: {b16:.3f} s/step, fp32 / bf16 = {f32 / b16:.2f}x "
                  f"(target >= {TARGETS['bf16']:.1f}x; bf16 peak {bpeakN:.0f} GFLOP/s); "
                  f"by CPU time {c32 / c16:.2f}x")
        else:
            print("bf16 GEMMs: not run (this CPU has neither AVX-512 BF16 nor AMX: "
                  "a bf16 job trains in fp32 here)")
    if share_ab:
        print("\nprompt rows shared (default) vs HONE_SHARE_PREFIX=0, same rounds:")
        for name, w, c, ow, oc, pw, pc in share_ab:
            print(f"  {name}: on {w:.3f} s ({c:.3f} CPU-s), off {ow:.3f} s "
                  f"({oc:.3f} CPU-s): off/on {ow / w:.2f}x wall, {oc / c:.2f}x CPU; "
                  f"peer/Hone CPU on {pc / c:.2f}x, off {pc / oc:.2f}x")
    if lm_keep_ab:
        w, c, ow, oc, pw_, pc_ = lm_keep_ab
        print(f"\nSFT LM-head logits kept (default) vs HONE_LM_KEEP=0, same rounds: "
              f"kept {w:.3f} s ({c:.3f} CPU-s), recomputed {ow:.3f} s ({oc:.3f} CPU-s): "
              f"recomputed/kept {ow / w:.3f}x wall, {oc / c:.3f}x CPU; torch/Hone "
              f"wall kept {pw_ / w:.2f}x, recomputed {pw_ / ow:.2f}x; CPU kept "
              f"{pc_ / c:.2f}x, recomputed {pc_ / oc:.2f}x")
    for l in sorted(set(memory_check_failures)):
        print("hone memory check failed (job otherwise complete): " + l)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.environ.get("BUILD", os.path.join(ROOT, "build")))
    ap.add_argument("--python", default=None)
    ap.add_argument("--install", action="store_true")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default="peak,grpo-small,grpo-512,sft,gen")
    ap.add_argument("--sft-steps", type=int, default=600,
                    help="SFT steps that make the README example's model")
    ap.add_argument("--keep", default=None)
    ap.add_argument("--lm-keep-ab", action="store_true",
                    help="SFT: also run Hone's fp32 job with HONE_LM_KEEP=0 "
                         "(the LM head's logits recomputed in backward), "
                         "interleaved, and print kept vs recomputed")
    ap.add_argument("--share-prefix-ab", action="store_true",
                    help="GRPO: also run Hone's jobs with HONE_SHARE_PREFIX=0 "
                         "(prompt rows once per sample) in every round")
    ap.add_argument("--worker", nargs=2, metavar=("KIND", "CONFIG"),
                    help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        worker(*a.worker)
        return 0
    a.build = os.path.abspath(a.build)
    if not os.path.exists(os.path.join(a.build, "bin", "honec")):
        print(f"bench/peers: no {a.build}/bin/honec (build first: scripts/build)")
        return 1
    py = find_python(a)
    if py is None:
        print(f"bench/peers: skipped: no Python with {', '.join(PEER_PACKAGES)} "
              f"({a.build}/pyvenv absent or incomplete; --install creates it "
              "from PyPI, --python picks another)")
        return 0
    work = tempfile.mkdtemp(prefix="hone-bench-peers-")
    # torch creates /tmp/torchinductor_$USER (even an optimizer step does)
    # unless told otherwise: the peers keep it in the work directory.
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR",
                          os.path.join(work, "torch-cache"))
    try:
        return drive(a, py, work)
    finally:
        if a.keep:
            shutil.rmtree(a.keep, ignore_errors=True)
            shutil.copytree(work, a.keep, symlinks=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
