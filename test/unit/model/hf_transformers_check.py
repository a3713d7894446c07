"""Loads a model directory Hone wrote with Hugging Face transformers, prints
its token-aligned log-probs for the given tokens, and saves it again with
transformers (safetensors) for Hone to load back.

    /usr/bin/python3 hf_transformers_check.py MODEL_DIR TOKENS_FILE OUT_FILE RESAVE_DIR

TOKENS_FILE: one line per sequence, token ids separated by spaces.
OUT_FILE: one line per sequence, log p(tok[t] | tok[<t]) for t >= 1.
"""
import sys

import torch
from transformers import AutoModelForCausalLM

model_dir, tokens_file, out_file, resave_dir = sys.argv[1:5]
model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32)
model.eval()
lines = []
with torch.no_grad():
    for line in open(tokens_file):
        ids = torch.tensor([[int(x) for x in line.split()]])
        logits = model(ids).logits[0].double()
        logp = torch.log_softmax(logits, dim=-1)
        per = [logp[t - 1, ids[0, t]].item() for t in range(1, ids.shape[1])]
        lines.append(" ".join("%.9g" % x for x in per))
open(out_file, "w").write("\n".join(lines) + "\n")
model.save_pretrained(resave_dir, safe_serialization=True)
