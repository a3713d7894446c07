#!/usr/bin/env python3
"""Writes a Qwen3-architecture Hugging Face model directory with random
weights, offline (no hub): config.json (Qwen3-0.6B's shape: 28 layers,
hidden 1024, 16 query / 8 key-value heads of 128, MLP 3072, vocabulary
151936, tied embeddings: 0.6 B parameters), model.safetensors (float32,
seeded), tokenizer.json (one token per character plus the ChatML specials;
the rest of the vocabulary is filler tokens the data never produces) and
tokenizer_config.json whose chat_template is Qwen3's (chat_template.jinja
beside this script). Standard library only.
Usage: make_model.py OUT_DIR [--layers N] [--seed S]"""
import argparse, json, os, random, struct

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--layers", type=int, default=28)
ap.add_argument("--hidden", type=int, default=1024)
ap.add_argument("--intermediate", type=int, default=3072)
ap.add_argument("--vocab", type=int, default=151936)
ap.add_argument("--seed", type=int, default=1)
a = ap.parse_args()
os.makedirs(a.out, exist_ok=True)
here = os.path.dirname(os.path.abspath(__file__))

heads, kv_heads, head_dim = 16, 8, 128
config = {
    "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3",
    "vocab_size": a.vocab, "hidden_size": a.hidden,
    "intermediate_size": a.intermediate, "num_hidden_layers": a.layers,
    "num_attention_heads": heads, "num_key_value_heads": kv_heads,
    "head_dim": head_dim, "hidden_act": "silu",
    "max_position_embeddings": 40960, "rms_norm_eps": 1e-6,
    "rope_theta": 1000000.0, "rope_scaling": None, "tie_word_embeddings": True,
    "attention_bias": False, "use_sliding_window": False,
    "torch_dtype": "float32", "bos_token_id": None, "eos_token_id": 2,
}
with open(os.path.join(a.out, "config.json"), "w") as f:
    json.dump(config, f, indent=1)

# Tokenizer: specials, then characters, then filler up to the vocabulary.
specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
chars = ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
         " .,;:!?+-*/=<>|_()[]{}'\"\n#")
vocab = {t: i for i, t in enumerate(specials)}
for c in chars:
    vocab[c] = len(vocab)
while len(vocab) < a.vocab:
    vocab[f"<|filler_{len(vocab)}|>"] = len(vocab)
added = [{"id": i, "content": t, "special": True, "single_word": False,
          "lstrip": False, "rstrip": False, "normalized": False}
         for i, t in enumerate(specials)]
with open(os.path.join(a.out, "tokenizer.json"), "w") as f:
    json.dump({"version": "1.0", "truncation": None, "padding": None,
               "added_tokens": added, "normalizer": None, "pre_tokenizer": None,
               "post_processor": None, "decoder": None,
               "model": {"type": "BPE", "vocab": vocab, "merges": [],
                         "dropout": None, "unk_token": None,
                         "continuing_subword_prefix": None,
                         "end_of_word_suffix": None, "fuse_unk": False}}, f)
with open(os.path.join(here, "chat_template.jinja")) as f:
    template = f.read()
with open(os.path.join(a.out, "tokenizer_config.json"), "w") as f:
    json.dump({"chat_template": template, "eos_token": "<|im_end|>",
               "pad_token": "<|endoftext|>", "bos_token": None,
               "tokenizer_class": "PreTrainedTokenizerFast",
               "model_max_length": 40960}, f, indent=1)

# Weights: float32, magnitudes 2^-7..2^-5 with random signs (the exponent
# byte of random bits is fixed), norms 1. Deterministic for a seed.
rng = random.Random(a.seed)
exp_byte = bytes((0x3C | (b & 0x80)) for b in range(256))


def rand_f32(n):
    raw = bytearray(rng.randbytes(4 * n))
    raw[3::4] = bytes(raw[3::4]).translate(exp_byte)
    return bytes(raw)


tensors = []  # (name, shape, fill) with fill "rand" or "ones"
H, I, Q, KV = a.hidden, a.intermediate, heads * head_dim, kv_heads * head_dim
tensors.append(("model.embed_tokens.weight", [a.vocab, H], "rand"))
for l in range(a.layers):
    p = f"model.layers.{l}."
    tensors += [(p + "input_layernorm.weight", [H], "ones"),
                (p + "self_attn.q_proj.weight", [Q, H], "rand"),
                (p + "self_attn.k_proj.weight", [KV, H], "rand"),
                (p + "self_attn.v_proj.weight", [KV, H], "rand"),
                (p + "self_attn.o_proj.weight", [H, Q], "rand"),
                (p + "self_attn.q_norm.weight", [head_dim], "ones"),
                (p + "self_attn.k_norm.weight", [head_dim], "ones"),
                (p + "post_attention_layernorm.weight", [H], "ones"),
                (p + "mlp.gate_proj.weight", [I, H], "rand"),
                (p + "mlp.up_proj.weight", [I, H], "rand"),
                (p + "mlp.down_proj.weight", [H, I], "rand")]
tensors.append(("model.norm.weight", [H], "ones"))
header, off = {"__metadata__": {"format": "pt"}}, 0
for name, shape, _ in tensors:
    n = 1
    for d in shape:
        n *= d
    header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + 4 * n]}
    off += 4 * n
hj = json.dumps(header).encode()
hj += b" " * (-len(hj) % 8)
params = off // 4
with open(os.path.join(a.out, "model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(hj)))
    f.write(hj)
    one = struct.pack("<f", 1.0)
    for name, shape, fill in tensors:
        n = header[name]["data_offsets"][1] // 4 - header[name]["data_offsets"][0] // 4
        if fill == "ones":
            f.write(one * n)
        else:
            for s in range(0, n, 1 << 22):
                f.write(rand_f32(min(1 << 22, n - s)))
print(f"{a.out}: Qwen3, {a.layers} layers, hidden {H}, vocabulary {a.vocab}: "
      f"{params / 1e9:.3f} B parameters")
