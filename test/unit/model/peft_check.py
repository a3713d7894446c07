"""Loads a Hugging Face base model and a LoRA adapter that Hone saved with
PEFT (PeftModel.from_pretrained) and writes its token-aligned log-probs, so
the test can compare them with Hone's; also checks that merge_and_unload()
gives the same log-probs (PEFT's own merge of Hone's adapter).

    PY peft_check.py BASE_DIR ADAPTER_DIR TOKENS_FILE OUT_FILE

TOKENS_FILE: one line per sequence, token ids separated by spaces.
OUT_FILE: one line per sequence, log p(tok[t] | tok[<t]) for t >= 1.
"""
import sys

import torch
import transformers
from peft import PeftModel


def log_probs(model, tokens_file):
    rows = []
    with torch.no_grad():
        for line in open(tokens_file):
            ids = torch.tensor([[int(x) for x in line.split()]])
            logp = torch.log_softmax(model(ids).logits[0].double(), dim=-1)
            rows.append([logp[t - 1, ids[0, t]].item()
                         for t in range(1, ids.shape[1])])
    return rows


def main(base_dir, adapter_dir, tokens_file, out_file):
    base = transformers.AutoModelForCausalLM.from_pretrained(
        base_dir, torch_dtype=torch.float32)
    model = PeftModel.from_pretrained(base, adapter_dir)
    model.eval()
    adapted = log_probs(model, tokens_file)
    merged = log_probs(model.merge_and_unload(), tokens_file)
    for a, m in zip(adapted, merged):
        for x, y in zip(a, m):
            if abs(x - y) > 1e-4:
                sys.exit("merge_and_unload changed a log-prob: %g vs %g" % (x, y))
    with open(out_file, "w") as f:
        for row in adapted:
            f.write(" ".join("%.9g" % x for x in row) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:5])
