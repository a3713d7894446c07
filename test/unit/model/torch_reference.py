#!/usr/bin/env python3
"""Independent PyTorch (float64) implementation of Hone's two transformer
families, used by TorchCompareTest.cpp: reads a manifest + raw float64
parameters written by the test, computes logits, token-aligned log-probs and
entropy, and the gradients of L = sum(c * logprob) + sum(e * entropy) w.r.t.
every parameter, and writes them back the same way.

Usage: torch_reference.py IN_DIR OUT_DIR
"""
import math
import os
import sys

import torch


def read_tensors(d):
    out = {}
    with open(os.path.join(d, "manifest.txt")) as f:
        lines = [l.split() for l in f if l.strip()]
    raw = open(os.path.join(d, "data.bin"), "rb").read()
    for parts in lines:
        name, kind, offset = parts[0], parts[1], int(parts[2])
        shape = [int(x) for x in parts[3:]]
        n = 1
        for s in shape:
            n *= s
        dtype = torch.float64 if kind == "f64" else torch.int64
        t = torch.frombuffer(bytearray(raw[offset:offset + 8 * n]), dtype=dtype)
        out[name] = t.reshape(shape).clone()
    return out


def write_tensors(d, tensors):
    os.makedirs(d, exist_ok=True)
    offset = 0
    with open(os.path.join(d, "data.bin"), "wb") as data, \
            open(os.path.join(d, "manifest.txt"), "w") as man:
        for name, t in tensors.items():
            t = t.detach().to(torch.float64).contiguous()
            data.write(t.numpy().tobytes())
            man.write("%s f64 %d %s\n" % (name, offset,
                                          " ".join(str(s) for s in t.shape)))
            offset += 8 * t.numel()


def causal_attention(q, k, v):
    # q [B, H, T, hd], k/v [B, H, T, hd]
    T = q.shape[2]
    s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    s = s.masked_fill(~mask, float("-inf"))
    return torch.softmax(s, dim=-1) @ v


def gpt2_forward(p, cfg, tok):
    B, T = tok.shape
    D, H, L = cfg["d"], cfg["heads"], cfg["layers"]
    hd = D // H
    eps = cfg["eps"]
    x = p["wte.weight"][tok] + p["wpe.weight"][torch.arange(T)][None]
    for l in range(L):
        pre = "h.%d." % l
        a = torch.nn.functional.layer_norm(x, (D,), p[pre + "ln_1.weight"],
                                           p[pre + "ln_1.bias"], eps)
        qkv = a @ p[pre + "attn.c_attn.weight"] + p[pre + "attn.c_attn.bias"]
        q, k, v = qkv.split(D, dim=-1)
        heads = lambda t: t.view(B, T, H, hd).transpose(1, 2)
        o = causal_attention(heads(q), heads(k), heads(v))
        o = o.transpose(1, 2).reshape(B, T, D)
        x = x + o @ p[pre + "attn.c_proj.weight"] + p[pre + "attn.c_proj.bias"]
        m = torch.nn.functional.layer_norm(x, (D,), p[pre + "ln_2.weight"],
                                           p[pre + "ln_2.bias"], eps)
        f = m @ p[pre + "mlp.c_fc.weight"] + p[pre + "mlp.c_fc.bias"]
        f = torch.nn.functional.gelu(f, approximate="tanh")
        x = x + f @ p[pre + "mlp.c_proj.weight"] + p[pre + "mlp.c_proj.bias"]
    x = torch.nn.functional.layer_norm(x, (D,), p["ln_f.weight"],
                                       p["ln_f.bias"], eps)
    w = p["lm_head.weight"] if "lm_head.weight" in p else p["wte.weight"]
    return x @ w.T


def rms(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def llama_forward(p, cfg, tok):
    B, T = tok.shape
    D, H, KV, L = cfg["d"], cfg["heads"], cfg["kv"], cfg["layers"]
    hd = D // H
    eps = cfg["eps"]
    inv = 1.0 / (cfg["theta"] ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None]
    emb = torch.cat((ang, ang), dim=-1)
    cos, sin = emb.cos()[None, None], emb.sin()[None, None]
    x = p["model.embed_tokens.weight"][tok]
    for l in range(L):
        pre = "model.layers.%d." % l
        a = rms(x, p[pre + "input_layernorm.weight"], eps)

        def proj(name, t):
            y = t @ p[pre + name + ".weight"].T
            if pre + name + ".bias" in p:
                y = y + p[pre + name + ".bias"]
            return y
        q = proj("self_attn.q_proj", a).view(B, T, H, hd).transpose(1, 2)
        k = proj("self_attn.k_proj", a).view(B, T, KV, hd).transpose(1, 2)
        v = proj("self_attn.v_proj", a).view(B, T, KV, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // KV, dim=1)
        v = v.repeat_interleave(H // KV, dim=1)
        o = causal_attention(q, k, v).transpose(1, 2).reshape(B, T, D)
        x = x + o @ p[pre + "self_attn.o_proj.weight"].T
        m = rms(x, p[pre + "post_attention_layernorm.weight"], eps)
        g = m @ p[pre + "mlp.gate_proj.weight"].T
        u = m @ p[pre + "mlp.up_proj.weight"].T
        x = x + (torch.nn.functional.silu(g) * u) @ p[pre + "mlp.down_proj.weight"].T
    x = rms(x, p["model.norm.weight"], eps)
    w = p["lm_head.weight"] if "lm_head.weight" in p else p["model.embed_tokens.weight"]
    return x @ w.T


def main():
    inp, outdir = sys.argv[1], sys.argv[2]
    t = read_tensors(inp)
    meta = t.pop("__config__").tolist()
    cfg = dict(family=int(meta[0]), d=int(meta[1]), heads=int(meta[2]),
               kv=int(meta[3]), layers=int(meta[4]), eps=meta[5],
               theta=meta[6], temperature=meta[7])
    tok = t.pop("__tokens__").long()
    lengths = t.pop("__lengths__").long()
    c = t.pop("__dlogprob__")
    e = t.pop("__dentropy__")
    params = {k: v.clone().requires_grad_(True) for k, v in t.items()}
    B, T = tok.shape
    valid = torch.arange(T)[None] < lengths[:, None]
    tok_safe = torch.where(valid, tok, torch.zeros_like(tok))
    fwd = gpt2_forward if cfg["family"] == 0 else llama_forward
    logits = fwd(params, cfg, tok_safe)
    logp = torch.log_softmax(logits / cfg["temperature"], dim=-1)
    # Token-aligned: position t scores token t from the prediction at t-1.
    lp = torch.zeros(B, T, dtype=torch.float64)
    ent = torch.zeros(B, T, dtype=torch.float64)
    tgt_lp = logp[:, :-1].gather(-1, tok_safe[:, 1:, None])[..., 0]
    h = -(logp.exp() * logp).sum(-1)[:, :-1]
    has = (torch.arange(1, T)[None] < lengths[:, None])
    lp = torch.cat((torch.zeros(B, 1, dtype=torch.float64),
                    torch.where(has, tgt_lp, torch.zeros_like(tgt_lp))), dim=1)
    ent = torch.cat((torch.zeros(B, 1, dtype=torch.float64),
                     torch.where(has, h, torch.zeros_like(h))), dim=1)
    loss = (c * lp).sum() + (e * ent).sum()
    loss.backward()
    out = {"__logits__": logits, "__logprob__": lp, "__entropy__": ent}
    for k, v in params.items():
        out[k] = v.grad if v.grad is not None else torch.zeros_like(v)
    write_tensors(outdir, out)


if __name__ == "__main__":
    main()
