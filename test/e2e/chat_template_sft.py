#!/usr/bin/env python3
"""SFT through a model's own chat template: a tokenizer directory
(tokenizer.json + tokenizer_config.json whose `chat_template` is the Qwen3
training template with {% generation %} blocks, test/chat_templates) is
used by a spec that names no template (the model's is the default), the job
compiles and trains a few steps. The assistant mask of the same
conversations is checked: the masked tokens are the assistant turns (from
the generation blocks), and, where transformers is installed, ids and mask
equal apply_chat_template(return_assistant_tokens_mask=True). Bad
templates are compile errors located in the template.
Usage: chat_template_sft.py HONEC HONE_INSPECT TEMPLATES WORK"""
import json, os, re, shutil, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from oracle_python import use_oracle_python  # noqa: E402

use_oracle_python("transformers")
honec, inspect, tdir, work = map(os.path.abspath, sys.argv[1:5])
shutil.rmtree(work, ignore_errors=True)
tok = os.path.join(work, "model")
os.makedirs(tok)

chars = ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
         " .,;:!?+-*/=<>|_()[]{}'\"\n#")
specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
vocab = {t: i for i, t in enumerate(specials)}
vocab.update({c: i + len(specials) for i, c in enumerate(chars)})
added = [{"id": i, "content": t, "special": True, "single_word": False,
          "lstrip": False, "rstrip": False, "normalized": False}
         for i, t in enumerate(specials)]
with open(os.path.join(tok, "tokenizer.json"), "w") as f:
    json.dump({"version": "1.0", "truncation": None, "padding": None,
               "added_tokens": added, "normalizer": None,
               "pre_tokenizer": None, "post_processor": None, "decoder": None,
               "model": {"type": "BPE", "vocab": vocab, "merges": [],
                         "dropout": None, "unk_token": None,
                         "continuing_subword_prefix": None,
                         "end_of_word_suffix": None, "fuse_unk": False}}, f)
template = open(os.path.join(tdir, "qwen3-training.jinja")).read()
config = {"chat_template": template, "eos_token": "<|im_end|>",
          "pad_token": "<|endoftext|>", "bos_token": None,
          "tokenizer_class": "PreTrainedTokenizerFast",
          "model_max_length": 512}
with open(os.path.join(tok, "tokenizer_config.json"), "w") as f:
    json.dump(config, f)

convs = [
    [{"role": "system", "content": "You add numbers."},
     {"role": "user", "content": "2+2?"},
     {"role": "assistant", "content": "4"},
     {"role": "user", "content": "and 3+5?"},
     {"role": "assistant", "content": "8"}],
    [{"role": "user", "content": "Say hi."},
     {"role": "assistant", "content": "<think>\nshort\n</think>\n\nHi!"}],
    [{"role": "user", "content": "1+1?"}, {"role": "assistant", "content": "2"}],
    [{"role": "user", "content": "Capital of France?"},
     {"role": "assistant", "content": "Paris."}],
]
with open(os.path.join(work, "chats.jsonl"), "w") as f:
    for c in convs:
        f.write(json.dumps({"messages": c}) + "\n")

spec = """name: "sft-model-template"
tokenizer { file: "model/tokenizer.json" }
models {
  name: "policy"
  init { family: gpt2 d_model: 32 layers: 1 heads: 2 max_seq_len: 128 }
}
datasets { name: "chats" path: "chats.jsonl" }
optimizer { lr: 1e-3 }
stages {
  dataset: "chats"
  sft { assistant_only_loss: true loop { steps: 3 batch_size: 2 } }
}
"""
with open(os.path.join(work, "spec.textproto"), "w") as f:
    f.write(spec)


def run(cmd, **kw):
    return subprocess.run(cmd, cwd=work, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=300, **kw)


# The IR names the model's template (the default for this directory).
p = run([honec, "spec.textproto", "--compile-to=stage"])
if p.returncode != 0:
    sys.exit(f"FAIL: honec --compile-to=stage exited {p.returncode}:\n{p.stdout}")
if "chat_template = from_model" not in p.stdout:
    sys.exit("FAIL: the IR does not use the model's template:\n" + p.stdout[:2000])
p = run([honec, "spec.textproto", "-o", "job"])
if p.returncode != 0:
    sys.exit(f"FAIL: honec exited {p.returncode}:\n{p.stdout}")
p = run([os.path.join(work, "job"), "--device", "cpu", "--progress", "off",
         "--out", os.path.join(work, "run")])
print(p.stdout[-2000:])
if p.returncode != 0:
    sys.exit(f"FAIL: the job exited {p.returncode}")
rows = [json.loads(l) for l in open(os.path.join(work, "run", "metrics.jsonl"))]
if not any(r.get("step") == 3 and "loss" in r for r in rows):
    sys.exit("FAIL: no loss row for step 3 in metrics.jsonl")

# The mask: masked tokens are exactly the assistant turns.
id_to_tok = {i: t for t, i in vocab.items()}
for c in convs:
    p = run([inspect, "--tokenizer", os.path.join(tok, "tokenizer.json"),
             "--chat", tok, "--messages", json.dumps(c)])
    if p.returncode != 0:
        sys.exit(f"FAIL: hone-inspect --chat: {p.stdout}")
    ids, mask = [], []
    for line in p.stdout.splitlines()[1:]:
        m = re.match(r"^([ *]) +(\d+)  ", line)
        if m:
            ids.append(int(m.group(2)))
            mask.append(1 if m.group(1) == "*" else 0)
    masked = "".join(id_to_tok[i] for i, k in zip(ids, mask) if k)
    want = "".join(m["content"] + "<|im_end|>" for m in c if m["role"] == "assistant")
    if masked != want:
        sys.exit(f"FAIL: masked tokens {masked!r}, expected {want!r}")
    try:
        from transformers import AutoTokenizer
    except Exception:
        continue
    hf = AutoTokenizer.from_pretrained(tok)
    out = hf.apply_chat_template(c, tokenize=True, return_dict=True,
                                 return_assistant_tokens_mask=True)
    if list(out["input_ids"]) != ids or list(out["assistant_masks"]) != mask:
        sys.exit(f"FAIL: transformers ids/mask differ:\n{out['input_ids']}\n{ids}\n"
                 f"{out['assistant_masks']}\n{mask}")
    print("mask equal to transformers' for", json.dumps(c)[:60])


# Bad templates are compile errors pointing into the template.
def compile_error(cfg_template, jinja_file=None):
    for name in ("chat_template.jinja",):
        path = os.path.join(tok, name)
        if os.path.exists(path):
            os.remove(path)
    cfg = dict(config)
    cfg["chat_template"] = cfg_template
    if cfg_template is None:
        del cfg["chat_template"]
    with open(os.path.join(tok, "tokenizer_config.json"), "w") as f:
        json.dump(cfg, f)
    if jinja_file is not None:
        with open(os.path.join(tok, "chat_template.jinja"), "w") as f:
            f.write(jinja_file)
    return run([honec, "spec.textproto", "-o", "bad"])


p = compile_error("{% for m in messages %}{{ m.content }")
if p.returncode != 1 or "tokenizer_config.json (chat_template):1:24: error" not in p.stdout:
    sys.exit(f"FAIL: a broken template is not a located compile error:\n{p.stdout}")
p = compile_error("ok", jinja_file="{{ messages|length }}")
if p.returncode != 1 or "cannot be located" not in p.stdout:
    sys.exit(f"FAIL: chat_template.jinja (which wins) without turns:\n{p.stdout}")
p = compile_error("{{ raise_exception('system messages are not supported') }}")
if p.returncode != 1 or "system messages are not supported" not in p.stdout:
    sys.exit(f"FAIL: a raising template is not a compile error:\n{p.stdout}")
p = compile_error(None)
if p.returncode != 1 or "needs a chat template" not in p.stdout and "no chat template" not in p.stdout:
    sys.exit(f"FAIL: conversations without any template compiled:\n{p.stdout}")
with open(os.path.join(work, "spec2.textproto"), "w") as f:
    f.write(spec.replace('file: "model/tokenizer.json"',
                         'file: "model/tokenizer.json" chat_template: from_model'))
p = run([honec, "spec2.textproto", "-o", "bad"])
if p.returncode != 1 or "has no chat template" not in p.stdout:
    sys.exit(f"FAIL: from_model without a template compiled:\n{p.stdout}")
shutil.rmtree(work)
print("PASS")
