//===- LossMethodsRl.cpp - reference formulas: RL and hybrids -------------===//
//
// GRPO, Dr. GRPO, DAPO, RLOO, ReMax (and their stale variants),
// REINFORCE++, PPO, the SFT+RL hybrids (CHORD, LUFFY, SRFT, ReLIFT, HPT,
// UFT) and, appended, the policy losses (docs/methods.md,
// LossKernelHarness.h).
//
//===----------------------------------------------------------------------===//

#include "LossKernelHarness.h"

#include "dialect/HoneDialect.h"
#include "dialect/HoneOps.h"
#include "passes/Pipelines.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "llvm/Support/TargetSelect.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <cmath>
#include <functional>
#include <map>
#include <random>

#include <unistd.h>

using namespace mlir;

namespace losstest {

std::vector<Method> rlMethods() {
  std::vector<Method> ms;
  // GRPO: (1/B) Σ_i (1/|y_i|) Σ_t m [−min(ρA, clip(ρ)A) + β k3]
  auto grpo = [](double beta, bool dr) {
    return [=](Arrays &a) {
      R r{a};
      double total = 0;
      for (int64_t i = 0; i < kB; ++i) {
        double s = 0;
        for (int64_t t = 0; t < kT; ++t) {
          double l = r.at("l", i, t);
          double x = clipPg(l, r.at("l_old", i, t), a["adv"][i], 0.2, 0.2);
          if (beta > 0) {
            double d = r.at("l_ref", i, t) - l;
            x += beta * (std::exp(d) - d - 1);
          }
          s += r.at("mask", i, t) * x;
        }
        total += dr ? s : s / std::max(r.len("mask", i), 1.0);
      }
      // Dr. GRPO: over batch x max_new_tokens (kT - kT / 2).
      return dr ? total / double(kB * (kT - kT / 2)) : total / kB;
    };
  };
  ms.push_back({"grpo", rlStage("grpo", 0.04), grpo(0.04, false)});
  ms.push_back({"dr_grpo", rlStage("dr_grpo", 0.0), grpo(0.0, true)});
  ms.push_back({"dapo", rlStage("dapo", 0.0), [](Arrays &a) {
                  R r{a};
                  for (int64_t i = 0; i < kB; ++i)
                    for (int64_t t = 0; t < kT; ++t)
                      a["mask"][i * kT + t] *= a["valid"][i];
                  double v = r.tokenMean("mask", [&](int64_t i, int64_t t) {
                    return clipPg(r.at("l", i, t), r.at("l_old", i, t),
                                  a["adv"][i], 0.2, 0.28);
                  });
                  return v;
                }});
  auto reinforce = [](Arrays &a) {
    R r{a};
    double s = 0;
    for (int64_t i = 0; i < kB; ++i)
      s -= a["adv"][i] * r.seqSum("l", "mask", i);
    return s / kB;
  };
  ms.push_back({"rloo", rlStage("rloo", 0.05), reinforce});
  ms.push_back({"remax", rlStage("remax", 0.0), reinforce});
  // Rollouts generated ahead (staleness > 0, hone-pipeline-rollouts):
  // REINFORCE weighted by ρ = exp(l − l_old) against the generating weights.
  auto reinforceIs = [](Arrays &a) {
    R r{a};
    double s = 0;
    for (int64_t i = 0; i < kB; ++i)
      for (int64_t t = 0; t < kT; ++t)
        s -= a["adv"][i] * r.at("mask", i, t) *
             std::exp(r.at("l", i, t) - r.at("l_old", i, t));
    return s / kB;
  };
  ms.push_back(
      {"rloo_stale", rlStage("rloo", 0.05, "", {"staleness = 1"}), reinforceIs});
  ms.push_back({"remax_stale", rlStage("remax", 0.0, "", {"staleness = 1"}),
                reinforceIs});
  ms.push_back({"reinforce_pp", rlStage("reinforce_pp", 0.05), [](Arrays &a) {
                  R r{a};
                  return r.tokenMean("mask", [&](int64_t i, int64_t t) {
                    return clipPg(r.at("l", i, t), r.at("l_old", i, t),
                                  a["adv"][i * kT + t], 0.2, 0.2);
                  });
                }});
  ms.push_back({"ppo", rlStage("ppo", 0.05), [](Arrays &a) {
                  R r{a};
                  double pg = r.tokenMean("mask", [&](int64_t i, int64_t t) {
                    return clipPg(r.at("l", i, t), r.at("l_old", i, t),
                                  r.at("adv", i, t), 0.2, 0.2);
                  });
                  double vl = r.tokenMean("mask", [&](int64_t i, int64_t t) {
                    double v = r.at("v", i, t), vo = r.at("v_old", i, t),
                           R_ = r.at("returns", i, t);
                    double vc = vo + std::clamp(v - vo, -0.2, 0.2);
                    return std::max((v - R_) * (v - R_), (vc - R_) * (vc - R_));
                  });
                  return pg + 0.5 * 0.5 * vl;
                }});
  ms.push_back({"ppo_kl_in_loss",
                rlStage("ppo", 0.05, "", {"kl_placement = in_loss", "kl_estimator = k3", "entropy_coef = 0.01"}),
                nullptr});
  ms.push_back({"chord", rlStage("grpo", 0.0, "chord"), [=](Arrays &a) {
                  R r{a};
                  double rl = grpo(0.0, false)(a);
                  double sft = r.tokenMean("mask_demo", [&](int64_t i, int64_t t) {
                    return i < kB / kG ? -r.at("l_demo", i, t) : 0.0;
                  });
                  // demos have P = B/G rows
                  double num = 0, den = 0;
                  for (int64_t i = 0; i < kB / kG; ++i)
                    for (int64_t t = 0; t < kT; ++t) {
                      num += r.at("mask_demo", i, t) * -r.at("l_demo", i, t);
                      den += r.at("mask_demo", i, t);
                    }
                  sft = num / std::max(den, 1.0);
                  double mu = a["mu"][0];
                  return (1 - mu) * rl + mu * sft;
                }});
  ms.push_back({"chord_phi", rlStage("grpo", 0.0, "chord", {"token_weighting = true"}), nullptr, 0,
                [=](Arrays &x, Arrays &base) {
                  R r{x};
                  double rl = grpo(0.0, false)(x);
                  double num = 0, den = 0;
                  for (int64_t i = 0; i < kB / kG; ++i)
                    for (int64_t t = 0; t < kT; ++t) {
                      double p = std::exp(base["l_demo"][i * kT + t]);
                      num += r.at("mask_demo", i, t) * p * (1 - p) *
                             -r.at("l_demo", i, t);
                      den += r.at("mask_demo", i, t);
                    }
                  double mu = x["mu"][0];
                  return (1 - mu) * rl + mu * num / std::max(den, 1.0);
                }});
  ms.push_back({"luffy", rlStage("grpo", 0.0, "luffy"), [](Arrays &a) {
                  R r{a};
                  return r.tokenMean("mask", [&](int64_t i, int64_t t) {
                    double l = r.at("l", i, t), A = a["adv"][i];
                    if (a["off_policy"][i] != 0) {
                      double p = std::exp(l);
                      return -p / (p + 0.1) * A;
                    }
                    return clipPg(l, r.at("l_old", i, t), A, 0.2, 0.2);
                  });
                }});
  ms.push_back({"srft", rlStage("grpo", 0.0, "srft"), nullptr, 0,
                [](Arrays &x, Arrays &base) {
                  R r{x}, rb{base};
                  int64_t P = kB / kG;
                  // sg'd mean entropies of demonstrations and samples
                  double hn = 0, hd = 0, sn = 0, sd = 0;
                  for (int64_t i = 0; i < kB; ++i)
                    for (int64_t t = 0; t < kT; ++t) {
                      if (i < P) {
                        hn += rb.at("mask_demo", i, t) * rb.at("entropy_demo", i, t);
                        hd += rb.at("mask_demo", i, t);
                      }
                      sn += rb.at("mask", i, t) * rb.at("entropy", i, t);
                      sd += rb.at("mask", i, t);
                    }
                  double wd = 0.5 * std::exp(-hn / std::max(hd, 1.0));
                  double wp = 0.1 * std::exp(sn / std::max(sd, 1.0));
                  double dn = 0, dd = 0;
                  for (int64_t i = 0; i < P; ++i)
                    for (int64_t t = 0; t < kT; ++t) {
                      double ld = r.at("l_demo", i, t);
                      dn += r.at("mask_demo", i, t) * (-wd * ld - std::exp(ld));
                      dd += r.at("mask_demo", i, t);
                    }
                  double self = r.tokenMean("mask", [&](int64_t i, int64_t t) {
                    double l = r.at("l", i, t);
                    return x["correct"][i] != 0 ? -wp * l
                                                : std::exp(l - r.at("l_old", i, t));
                  });
                  return dn / std::max(dd, 1.0) + self;
                }});
  ms.push_back({"relift_rl", rlStage("grpo", 0.0, "relift"), grpo(0.0, false)});
  for (Method &m : policyLossMethods())
    ms.push_back(std::move(m));
  ms.push_back({"relift_sft", rlStage("grpo", 0.0, "relift"), nullptr, 1});
  ms.push_back({"hpt", rlStage("grpo", 0.0, "hpt"), nullptr});
  ms.push_back({"uft", rlStage("grpo", 0.0, "uft"), nullptr});
  return ms;
}

} // namespace losstest
