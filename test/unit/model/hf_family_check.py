"""Builds a small random model with Hugging Face transformers from a config
(offline), and checks models Hone saved against it.

    PY hf_family_check.py build CONFIG_JSON MODEL_DIR TOKENS_FILE OUT_FILE
        Builds the model from CONFIG_JSON (a config.json dict), perturbs every
        parameter (norm gains too) so each path matters, saves it (safetensors)
        to MODEL_DIR and writes its token-aligned log-probs to OUT_FILE.
    PY hf_family_check.py same MODEL_DIR OTHER_DIR [any]
        Exits 0 when both directories hold bit-identical tensors, and OTHER_DIR
        loads in transformers as the same config class (any: another one).

TOKENS_FILE: one line per sequence, token ids separated by spaces.
OUT_FILE: one line per sequence, log p(tok[t] | tok[<t]) for t >= 1.
Exit code 3: this transformers lacks the model type (the caller skips).
"""
import json
import sys

import torch
import transformers
from safetensors.torch import load_file


def log_probs(model, tokens_file):
    lines = []
    with torch.no_grad():
        for line in open(tokens_file):
            ids = torch.tensor([[int(x) for x in line.split()]])
            logits = model(ids).logits[0].double()
            logp = torch.log_softmax(logits, dim=-1)
            per = [logp[t - 1, ids[0, t]].item() for t in range(1, ids.shape[1])]
            lines.append(" ".join("%.9g" % x for x in per))
    return "\n".join(lines) + "\n"


def build(config_json, model_dir, tokens_file, out_file):
    cfg = json.loads(config_json)
    try:
        config = transformers.AutoConfig.for_model(**cfg)
    except (KeyError, ValueError):
        sys.exit(3)
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(config)
    model = model.float().eval()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen) * 0.3
            p.copy_(1 + 0.2 * noise if "norm" in name else noise)
    model.save_pretrained(model_dir, safe_serialization=True)
    open(out_file, "w").write(log_probs(model, tokens_file))


def tensors(d):
    import glob
    out = {}
    for f in sorted(glob.glob(d + "/*.safetensors")):
        out.update(load_file(f))
    return out


def same(a, b, any_class=""):
    ta, tb = tensors(a), tensors(b)
    if sorted(ta) != sorted(tb):
        print("tensor names differ:", sorted(set(ta) ^ set(tb)))
        sys.exit(1)
    for k in ta:
        if ta[k].dtype != tb[k].dtype or not torch.equal(ta[k], tb[k]):
            print("tensor differs:", k)
            sys.exit(1)
    ca = transformers.AutoConfig.from_pretrained(a)
    cb = transformers.AutoConfig.from_pretrained(b)
    if not any_class and type(ca) is not type(cb):
        print("config class differs:", type(ca).__name__, type(cb).__name__)
        sys.exit(1)
    transformers.AutoModelForCausalLM.from_pretrained(b)


if __name__ == "__main__":
    if sys.argv[1] == "build":
        build(*sys.argv[2:6])
    elif sys.argv[1] == "same":
        same(*sys.argv[2:5])
    else:
        sys.exit("usage: see the docstring")
