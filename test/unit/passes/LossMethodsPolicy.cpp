//===- LossMethodsPolicy.cpp - reference formulas: the policy losses ------===//
//
// GSPO, CISPO, SAPO, dual-clip PPO, truncated importance sampling, BNPO and
// entropy-regularised GRPO, each against its paper's formula
// (LossKernelHarness.h).
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

//===----------------------------------------------------------------------===//
// The 2025 policy losses (docs/methods.md): each against its paper's
// formula, written here per token and per sequence
//===----------------------------------------------------------------------===//


/// The sequence log-ratio (1/|y_i|) Σ_t m (l − l_old).
double seqLogRatio(R &r, int64_t i) {
  double s = 0;
  for (int64_t t = 0; t < kT; ++t)
    s += r.at("mask", i, t) * (r.at("l", i, t) - r.at("l_old", i, t));
  return s / std::max(r.len("mask", i), 1.0);
}

/// GSPO with ε = ε_high = 0.2: (1/B) Σ_i −min(s_i A_i, clip(s_i) A_i) over
/// sequences with a response (a sequence without one adds 0).
double gspoFormula(Arrays &a) {
  R r{a};
  double total = 0;
  for (int64_t i = 0; i < kB; ++i) {
    if (r.len("mask", i) == 0)
      continue;
    double s = std::exp(seqLogRatio(r, i)), A = a["adv"][i];
    total += -std::min(s * A, std::clamp(s, 0.8, 1.2) * A);
  }
  return total / kB;
}

/// Keeps every sequence ratio 0.02 away from the clip's kinks.
void gspoAwayFromKinks(Arrays &a) {
  R r{a};
  for (int64_t i = 0; i < kB; ++i)
    for (;;) {
      double s = std::exp(seqLogRatio(r, i));
      if (std::fabs(s - 0.8) > 0.02 && std::fabs(s - 1.2) > 0.02)
        break;
      for (int64_t t = 0; t < kT; ++t)
        a["l_old"][i * kT + t] -= 0.05;
    }
}

double sapoGate(double rho, double A) {
  double tau = A > 0 ? 1.0 : 1.05;
  return 4.0 / tau * sigmoid(tau * (rho - 1.0));
}

std::vector<Method> policyLossMethods() {
  std::vector<Method> ms;
  // GSPO (Zheng et al., 2025): the clip on the length-normalised sequence
  // ratio, sequence mean.
  Method gspo{"gspo", rlStage("grpo", 0.0, "", {}, policyLossAttr("gspo")),
              gspoFormula};
  gspo.adjust = gspoAwayFromKinks;
  ms.push_back(gspo);
  // GSPO-token: the same value; with one advantage per sequence its
  // gradient is GSPO's too, so the same formula's differences check it.
  Method gspoToken{"gspo_token",
                   rlStage("grpo", 0.0, "", {}, policyLossAttr("gspo_token")),
                   gspoFormula};
  gspoToken.adjust = gspoAwayFromKinks;
  ms.push_back(gspoToken);
  // CISPO (MiniMax-M1): −Σ sg(min(ρ, 1 + ε_high)) A l / Σ m.
  ms.push_back({"cispo",
                rlStage("grpo", 0.0, "",
                        {"epsilon_high = 0.28", "aggregation = token_mean"},
                        policyLossAttr("cispo")),
                nullptr, 0, [](Arrays &x, Arrays &base) {
                  R r{x}, rb{base};
                  return r.tokenMean("mask", [&](int64_t i, int64_t t) {
                    double rho =
                        std::exp(rb.at("l", i, t) - rb.at("l_old", i, t));
                    return -std::min(rho, 1.28) * x["adv"][i] * r.at("l", i, t);
                  });
                }});
  // SAPO: −(4/τ) σ(τ(ρ − 1)) A, τ 1 (A > 0) or 1.05; sequence mean.
  ms.push_back({"sapo",
                rlStage("grpo", 0.0, "", {}, policyLossAttr("sapo")),
                [](Arrays &a) {
                  R r{a};
                  double total = 0;
                  for (int64_t i = 0; i < kB; ++i) {
                    double s = 0, A = a["adv"][i];
                    for (int64_t t = 0; t < kT; ++t)
                      s += r.at("mask", i, t) *
                           -sapoGate(std::exp(r.at("l", i, t) -
                                              r.at("l_old", i, t)),
                                     A) *
                           A;
                    total += s / std::max(r.len("mask", i), 1.0);
                  }
                  return total / kB;
                }});
  // Dual-clip PPO (Ye et al., 2020) on GRPO: where A < 0 the token loss is
  // at most −c A (c = 1.5 here, so that the bound is reached).
  ms.push_back({"dual_clip",
                rlStage("grpo", 0.0, "", {}, policyLossAttr("clip", 1.5)),
                [](Arrays &a) {
                  R r{a};
                  double total = 0;
                  for (int64_t i = 0; i < kB; ++i) {
                    double s = 0, A = a["adv"][i];
                    for (int64_t t = 0; t < kT; ++t) {
                      double x = clipPg(r.at("l", i, t), r.at("l_old", i, t),
                                        A, 0.2, 0.2);
                      if (A < 0)
                        x = std::min(x, -1.5 * A);
                      s += r.at("mask", i, t) * x;
                    }
                    total += s / std::max(r.len("mask", i), 1.0);
                  }
                  return total / kB;
                }});
  // Truncated importance sampling on GRPO with a KL term: the policy term
  // of each token × min(exp(l_old − l_rollout), 2); the KL term unweighted.
  ms.push_back({"tis",
                rlStage("grpo", 0.04, "", {}, policyLossAttr("clip", 0.0, 2.0)),
                [](Arrays &a) {
                  R r{a};
                  double total = 0;
                  for (int64_t i = 0; i < kB; ++i) {
                    double s = 0;
                    for (int64_t t = 0; t < kT; ++t) {
                      double l = r.at("l", i, t);
                      double w = std::min(
                          std::exp(r.at("l_old", i, t) - r.at("l_rollout", i, t)),
                          2.0);
                      double d = r.at("l_ref", i, t) - l;
                      double x = w * clipPg(l, r.at("l_old", i, t), a["adv"][i],
                                            0.2, 0.2) +
                                 0.04 * (std::exp(d) - d - 1);
                      s += r.at("mask", i, t) * x;
                    }
                    total += s / std::max(r.len("mask", i), 1.0);
                  }
                  return total / kB;
                }});
  // BNPO (TRL's loss_type "bnpo"): token losses over the batch's tokens.
  ms.push_back({"bnpo", rlStage("grpo", 0.0, "", {"aggregation = token_mean"}),
                [](Arrays &a) {
                  R r{a};
                  return r.tokenMean("mask", [&](int64_t i, int64_t t) {
                    return clipPg(r.at("l", i, t), r.at("l_old", i, t),
                                  a["adv"][i], 0.2, 0.2);
                  });
                }});
  // Entropy-regularised GRPO: − c·token_mean(H), c = 0.01.
  ms.push_back({"grpo_entropy",
                rlStage("grpo", 0.04, "", {"entropy_coef = 0.01"}),
                [](Arrays &a) {
                  R r{a};
                  double total = 0;
                  for (int64_t i = 0; i < kB; ++i) {
                    double s = 0;
                    for (int64_t t = 0; t < kT; ++t) {
                      double l = r.at("l", i, t), d = r.at("l_ref", i, t) - l;
                      s += r.at("mask", i, t) *
                           (clipPg(l, r.at("l_old", i, t), a["adv"][i], 0.2,
                                   0.2) +
                            0.04 * (std::exp(d) - d - 1));
                    }
                    total += s / std::max(r.len("mask", i), 1.0);
                  }
                  double h = r.tokenMean("mask", [&](int64_t i, int64_t t) {
                    return r.at("entropy", i, t);
                  });
                  return total / kB - 0.01 * h;
                }});
  // PPO with dual clip (c = 1.5) and TIS (cap 2) on its per-token
  // advantages.
  ms.push_back({"ppo_dual_clip_tis",
                rlStage("ppo", 0.05, "", {}, policyLossAttr("clip", 1.5, 2.0)),
                [](Arrays &a) {
                  R r{a};
                  double pg = r.tokenMean("mask", [&](int64_t i, int64_t t) {
                    double A = r.at("adv", i, t);
                    double x = clipPg(r.at("l", i, t), r.at("l_old", i, t), A,
                                      0.2, 0.2);
                    if (A < 0)
                      x = std::min(x, -1.5 * A);
                    return x * std::min(std::exp(r.at("l_old", i, t) -
                                                 r.at("l_rollout", i, t)),
                                        2.0);
                  });
                  double vl = r.tokenMean("mask", [&](int64_t i, int64_t t) {
                    double v = r.at("v", i, t), vo = r.at("v_old", i, t),
                           R_ = r.at("returns", i, t);
                    double vc = vo + std::clamp(v - vo, -0.2, 0.2);
                    return std::max((v - R_) * (v - R_), (vc - R_) * (vc - R_));
                  });
                  return pg + 0.5 * 0.5 * vl;
                }});
  return ms;
}

} // namespace losstest
