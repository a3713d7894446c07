"""The PyTorch oracle for Hone's generated loss kernels.

Every objective is written again from docs/methods.md (and the defaults and
aggregation choices docs/methods.md documents) with torch.autograd doing the
differentiation; stop-gradient is .detach(). Reads the cases the C++ test
wrote (per case: the method, an id, inputs and shapes by argument name,
which arguments are differentiated) and writes, per case, "loss ID VALUE"
and "grad ID ARG V0 V1 ..." lines.

    PYTHON torch_oracle.py cases.json results.txt   (any Python with torch)
"""
import json
import sys

import torch

torch.set_default_dtype(torch.float64)

# Hyper-parameters of the test pipelines (LossKernelTest.cpp) and the
# documented defaults (docs/methods.md).
BETA_PREF = 0.3     # DPO/IPO/KTO beta, ORPO lambda, SimPO beta
SIMPO_GAMMA = 0.5
CLIP = 0.2          # PPO-style clip epsilon
DAPO_HIGH = 0.28    # DAPO clip-higher
GRPO_KL = 0.04      # kl_coef of the GRPO test pipeline
PPO_KL = 0.05       # kl_coef of the PPO test pipeline
VALUE_CLIP = 0.2
VF_COEF = 0.5
ENT_COEF_KL_CASE = 0.01
LUFFY_GAMMA = 0.1
SRFT_SFT, SRFT_POS = 0.5, 0.1
UFT_COEF = 1.0
CISPO_HIGH = 0.28   # the cispo test's epsilon_high
SAPO_TAU_POS, SAPO_TAU_NEG = 1.0, 1.05
DUAL_CLIP = 1.5     # the dual-clip tests' c
TIS_CAP = 2.0       # the TIS tests' cap
ENT_COEF_GRPO = 0.01
MAX_NEW_TOKENS = None  # from the cases file


def token_mean(x, m):
    """Σ m·x / max(Σ m, 1) over the whole batch."""
    return (m * x).sum() / torch.clamp(m.sum(), min=1.0)


def seq_mean_token_mean(x, m):
    """Mean over sequences of each sequence's masked token mean."""
    per = (m * x).sum(1) / torch.clamp(m.sum(1), min=1.0)
    return per.mean()


def seq_sum(x, m):
    return (m * x).sum(1)


def seq_len(m):
    return torch.clamp(m.sum(1), min=1.0)


def clipped_pg(l, l_old, a, lo=CLIP, hi=CLIP):
    """−min(ρA, clip(ρ, 1−lo, 1+hi)A) per token."""
    rho = torch.exp(l - l_old)
    return -torch.minimum(rho * a, torch.clamp(rho, 1 - lo, 1 + hi) * a)


def k3(l, l_ref):
    d = l_ref - l
    return torch.exp(d) - d - 1


def logsig(x):
    return torch.nn.functional.logsigmoid(x)


def grpo(a, kl=0.0, mask=None):
    m = a["mask"] if mask is None else mask
    x = clipped_pg(a["l"], a["l_old"], a["adv"][:, None])
    if kl > 0:
        x = x + kl * k3(a["l"], a["l_ref"])
    return seq_mean_token_mean(x, m)


def delta(a):
    w = seq_sum(a["l_chosen"] - a["l_ref_chosen"], a["mask_chosen"])
    l = seq_sum(a["l_rejected"] - a["l_ref_rejected"], a["mask_rejected"])
    return w - l


def mean_logprob(l, m):
    return seq_sum(l, m) / seq_len(m)


def sft_demo(a, weight=None):
    x = -a["l_demo"] if weight is None else -weight * a["l_demo"]
    return token_mean(x, a["mask_demo"])


def objective(name, a, B, T, G):
    if name in ("sft", "relift_sft"):
        return token_mean(-a["l"], a["mask"])
    if name == "dft":
        return token_mean(-torch.exp(a["l"]).detach() * a["l"], a["mask"])
    if name == "iw_sft":
        w = torch.clamp(torch.exp(mean_logprob(a["l"] - a["l_ref"], a["mask"])),
                        0.0, 16.0).detach()
        return token_mean(-w[:, None] * a["l"], a["mask"])
    if name == "bradley_terry":
        return -logsig(a["r_chosen"] - a["r_rejected"]).mean()
    if name == "dpo":
        return -logsig(BETA_PREF * delta(a)).mean()
    if name == "ipo":
        return ((delta(a) - 1.0 / (2 * BETA_PREF)) ** 2).mean()
    if name == "kto":
        r = seq_sum(a["l"] - a["l_ref"], a["mask"])
        z0 = torch.clamp(seq_sum(a["l_mis"] - a["l_ref_mis"], a["mask_mis"]).mean(),
                         min=0.0).detach()
        y = a["label"]
        loss = y * (1 - torch.sigmoid(BETA_PREF * (r - z0))) + \
            (1 - y) * (1 - torch.sigmoid(BETA_PREF * (z0 - r)))
        return loss.mean()
    if name == "orpo":
        nll = token_mean(-a["l_chosen"], a["mask_chosen"])

        def log_odds(l, m):
            x = mean_logprob(l, m)  # log P, P = exp(mean_t l)
            return x - torch.log1p(-torch.exp(x))
        ratio = logsig(log_odds(a["l_chosen"], a["mask_chosen"]) -
                       log_odds(a["l_rejected"], a["mask_rejected"]))
        return nll - BETA_PREF * ratio.mean()
    if name == "simpo":
        xw = mean_logprob(a["l_chosen"], a["mask_chosen"])
        xl = mean_logprob(a["l_rejected"], a["mask_rejected"])
        return -logsig(BETA_PREF * (xw - xl) - SIMPO_GAMMA).mean()
    if name == "grpo":
        return grpo(a, GRPO_KL)
    if name in ("gspo", "gspo_token"):
        # sequence ratio s = exp(mean_t(l - l_old)); GSPO-token:
        # sg(s) * exp(l - sg(l)) per token, the same value
        m, adv = a["mask"], a["adv"][:, None]
        log_s = seq_sum(a["l"] - a["l_old"], m) / seq_len(m)
        s = torch.exp(log_s)[:, None]
        if name == "gspo_token":
            s = s.detach() * torch.exp(a["l"] - a["l"].detach())
        x = -torch.minimum(s * adv, torch.clamp(s, 1 - CLIP, 1 + CLIP) * adv)
        return seq_mean_token_mean(x.expand_as(m), m)
    if name == "cispo":
        rho = torch.exp(a["l"] - a["l_old"])
        w = torch.clamp(rho, max=1 + CISPO_HIGH).detach()
        return token_mean(-w * a["adv"][:, None] * a["l"], a["mask"])
    if name == "sapo":
        rho = torch.exp(a["l"] - a["l_old"])
        adv = a["adv"][:, None]
        tau = torch.where(adv > 0, torch.full_like(adv, SAPO_TAU_POS),
                          torch.full_like(adv, SAPO_TAU_NEG))
        gate = 4.0 / tau * torch.sigmoid(tau * (rho - 1))
        return seq_mean_token_mean(-gate * adv, a["mask"])
    if name == "dual_clip":
        adv = a["adv"][:, None]
        x = clipped_pg(a["l"], a["l_old"], adv)
        x = torch.where(adv < 0, torch.minimum(x, -DUAL_CLIP * adv), x)
        return seq_mean_token_mean(x, a["mask"])
    if name == "tis":
        w = torch.clamp(torch.exp(a["l_old"] - a["l_rollout"]), max=TIS_CAP)
        x = w.detach() * clipped_pg(a["l"], a["l_old"], a["adv"][:, None]) \
            + GRPO_KL * k3(a["l"], a["l_ref"])
        return seq_mean_token_mean(x, a["mask"])
    if name == "bnpo":
        return token_mean(clipped_pg(a["l"], a["l_old"], a["adv"][:, None]),
                          a["mask"])
    if name == "grpo_entropy":
        return grpo(a, GRPO_KL) - ENT_COEF_GRPO * token_mean(a["entropy"],
                                                             a["mask"])
    if name == "ppo_dual_clip_tis":
        m, adv = a["mask"], a["adv"]
        x = clipped_pg(a["l"], a["l_old"], adv)
        x = torch.where(adv < 0, torch.minimum(x, -DUAL_CLIP * adv), x)
        w = torch.clamp(torch.exp(a["l_old"] - a["l_rollout"]), max=TIS_CAP)
        pg = token_mean(x * w.detach(), m)
        v, v_old, ret = a["v"], a["v_old"], a["returns"]
        v_clip = v_old + torch.clamp(v - v_old, -VALUE_CLIP, VALUE_CLIP)
        vl = token_mean(torch.maximum((v - ret) ** 2, (v_clip - ret) ** 2), m)
        return pg + VF_COEF * 0.5 * vl
    if name == "relift_rl":
        return grpo(a)
    if name == "dr_grpo":  # no length normalisation: constant B·max_new_tokens
        x = clipped_pg(a["l"], a["l_old"], a["adv"][:, None])
        return (a["mask"] * x).sum() / (B * MAX_NEW_TOKENS)
    if name == "dapo":  # token mean over the kept groups, clip-higher
        m = a["mask"] * a["valid"][:, None]
        return token_mean(clipped_pg(a["l"], a["l_old"], a["adv"][:, None],
                                     CLIP, DAPO_HIGH), m)
    if name in ("rloo", "remax"):  # REINFORCE, sequence log-prob sums
        return (-a["adv"] * seq_sum(a["l"], a["mask"])).mean()
    if name in ("rloo_stale", "remax_stale"):  # importance-weighted REINFORCE
        rho = torch.exp(a["l"] - a["l_old"])
        return (-a["adv"] * seq_sum(rho, a["mask"])).mean()
    if name == "reinforce_pp":
        return token_mean(clipped_pg(a["l"], a["l_old"], a["adv"]), a["mask"])
    if name in ("ppo", "ppo_kl_in_loss"):
        m = a["mask"]
        pg = token_mean(clipped_pg(a["l"], a["l_old"], a["adv"]), m)
        v, v_old, ret = a["v"], a["v_old"], a["returns"]
        v_clip = v_old + torch.clamp(v - v_old, -VALUE_CLIP, VALUE_CLIP)
        vl = token_mean(torch.maximum((v - ret) ** 2, (v_clip - ret) ** 2), m)
        loss = pg + VF_COEF * 0.5 * vl
        if name == "ppo_kl_in_loss":
            loss = loss + PPO_KL * token_mean(k3(a["l"], a["l_ref"]), m) \
                - ENT_COEF_KL_CASE * token_mean(a["entropy"], m)
        return loss
    if name in ("chord", "chord_phi"):
        mu = a["mu"].reshape(())  # a scalar
        weight = None
        if name == "chord_phi":
            p = torch.exp(a["l_demo"]).detach()
            weight = p * (1 - p)
        return (1 - mu) * grpo(a) + mu * sft_demo(a, weight)
    if name == "luffy":
        p = torch.exp(a["l"])
        adv = a["adv"][:, None]
        off = a["off_policy"][:, None]
        x = off * (-p / (p + LUFFY_GAMMA) * adv) + \
            (1 - off) * clipped_pg(a["l"], a["l_old"], adv)
        return token_mean(x, a["mask"])
    if name == "srft":
        h_demo = token_mean(a["entropy_demo"], a["mask_demo"]).detach()
        h_self = token_mean(a["entropy"], a["mask"]).detach()
        demo = token_mean(-SRFT_SFT * torch.exp(-h_demo) * a["l_demo"]
                          - torch.exp(a["l_demo"]), a["mask_demo"])
        c = a["correct"][:, None]
        rho = torch.exp(a["l"] - a["l_old"])
        self_ = token_mean(c * (-SRFT_POS * torch.exp(h_self) * a["l"])
                           + (1 - c) * rho, a["mask"])
        return demo + self_
    if name == "hpt":
        rl = grpo(a, mask=a["mask"] * a["use_rl"][:, None])
        sft = token_mean(-a["l_demo"], a["mask_demo"] * a["use_sft"][:, None])
        return rl + sft
    if name == "uft":
        return grpo(a) + UFT_COEF * token_mean(-a["l"], a["mask_hint"])
    return None


def main():
    data = json.load(open(sys.argv[1]))
    B, T, G = data["B"], data["T"], data["G"]
    # Dr. GRPO's constant is B · generation.max_new_tokens (docs/methods.md).
    global MAX_NEW_TOKENS
    MAX_NEW_TOKENS = data["max_new_tokens"]
    out = []
    for case in data["cases"]:
        name, cid = case["method"], case["id"]
        a = {k: torch.tensor(v).reshape(case["shapes"][k])
             for k, v in case["inputs"].items()}
        for k in case["diff"]:
            a[k].requires_grad_(True)
        loss = objective(name, a, B, T, G)
        if loss is None:
            continue
        grads = torch.autograd.grad(loss, [a[k] for k in case["diff"]],
                                    allow_unused=True)
        out.append("loss %s %.17g" % (cid, loss.item()))
        for k, g in zip(case["diff"], grads):
            g = torch.zeros_like(a[k]) if g is None else g
            out.append("grad %s %s %s" % (cid, k, " ".join(
                "%.17g" % x for x in g.reshape(-1).tolist())))
    with open(sys.argv[2], "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
