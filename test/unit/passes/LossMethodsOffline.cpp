//===- LossMethodsOffline.cpp - reference formulas: SFT and preference ----===//
//
// SFT (plain, DFT, importance-weighted), the reward model's Bradley-Terry
// loss and the preference losses (DPO, IPO, KTO, ORPO, SimPO), written
// independently of the IR (docs/methods.md, LossKernelHarness.h).
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

std::vector<Method> offlineMethods() {
  std::vector<Method> ms;
  ms.push_back({"sft", sftStage("plain", false), [](Arrays &a) {
                  R r{a};
                  return r.tokenMean("mask", [&](int64_t i, int64_t t) {
                    return -r.at("l", i, t);
                  });
                }});
  ms.push_back({"dft", sftStage("dft", false), nullptr, 0,
                [](Arrays &x, Arrays &base) {
                  R r{x};
                  return r.tokenMean("mask", [&](int64_t i, int64_t t) {
                    return -std::exp(base["l"][i * kT + t]) * r.at("l", i, t);
                  });
                }});
  ms.push_back({"iw_sft", sftStage("iw", true), nullptr, 0,
                [](Arrays &x, Arrays &base) {
                  R r{x}, rb{base};
                  std::vector<double> w(kB);
                  for (int64_t i = 0; i < kB; ++i) {
                    double d = 0;
                    for (int64_t t = 0; t < kT; ++t)
                      d += rb.at("mask", i, t) *
                           (rb.at("l", i, t) - rb.at("l_ref", i, t));
                    w[i] = std::clamp(
                        std::exp(d / std::max(rb.len("mask", i), 1.0)), 0.0,
                        16.0);
                  }
                  return r.tokenMean("mask", [&](int64_t i, int64_t t) {
                    return -w[i] * r.at("l", i, t);
                  });
                }});
  ms.push_back({"bradley_terry",
                "%0 = hone.model.init \"policy\" {seed = 0 : i64} : !m\n"
                "%d = hone.dataset \"d.jsonl\" : !hone.dataset<preference>\n"
                "%1 = hone.reward_model %0, %d {batch_size = 4 : i64, steps = 2 : i64" +
                    offlineSettings() +
                    ", settings = #hone.reward_model_settings<center_rewards = 0.0>} : (!m, !hone.dataset<preference>) -> !s",
                [](Arrays &a) {
                  double s = 0;
                  for (int64_t i = 0; i < kB; ++i)
                    s -= logSigmoid(a["r_chosen"][i] - a["r_rejected"][i]);
                  return s / kB;
                }});
  auto delta = [](R &r, int64_t i) {
    double w = 0, l = 0;
    for (int64_t t = 0; t < kT; ++t) {
      w += r.at("mask_chosen", i, t) *
           (r.at("l_chosen", i, t) - r.at("l_ref_chosen", i, t));
      l += r.at("mask_rejected", i, t) *
           (r.at("l_rejected", i, t) - r.at("l_ref_rejected", i, t));
    }
    return w - l;
  };
  ms.push_back({"dpo", prefStage("dpo", true), [=](Arrays &a) {
                  R r{a};
                  double s = 0;
                  for (int64_t i = 0; i < kB; ++i)
                    s -= logSigmoid(0.3 * delta(r, i));
                  return s / kB;
                }});
  ms.push_back({"ipo", prefStage("ipo", true), [=](Arrays &a) {
                  R r{a};
                  double s = 0;
                  for (int64_t i = 0; i < kB; ++i) {
                    double d = delta(r, i) - 1.0 / (2 * 0.3);
                    s += d * d;
                  }
                  return s / kB;
                }});
  // KTO: z0 = sg(max(0, mean KL over mismatched pairs)) is frozen.
  ms.push_back({"kto", prefStage("kto", true, "unpaired_preference"), nullptr, 0,
                [](Arrays &a, Arrays &base) {
                  R r{a}, rb{base};
                  double kl = 0;
                  for (int64_t i = 0; i < kB; ++i)
                    for (int64_t t = 0; t < kT; ++t)
                      kl += rb.at("mask_mis", i, t) *
                            (rb.at("l_mis", i, t) - rb.at("l_ref_mis", i, t));
                  double z0 = std::max(kl / kB, 0.0), s = 0;
                  for (int64_t i = 0; i < kB; ++i) {
                    double rw = 0;
                    for (int64_t t = 0; t < kT; ++t)
                      rw += r.at("mask", i, t) * (r.at("l", i, t) - r.at("l_ref", i, t));
                    double y = a["label"][i];
                    s += y * (1 - sigmoid(0.3 * (rw - z0))) +
                         (1 - y) * (1 - sigmoid(0.3 * (z0 - rw)));
                  }
                  return s / kB;
                }});
  ms.push_back({"orpo", prefStage("orpo", false), [](Arrays &a) {
                  R r{a};
                  double nll = r.tokenMean("mask_chosen", [&](int64_t i, int64_t t) {
                    return -r.at("l_chosen", i, t);
                  });
                  double s = 0;
                  for (int64_t i = 0; i < kB; ++i) {
                    double xw = r.seqSum("l_chosen", "mask_chosen", i) /
                                std::max(r.len("mask_chosen", i), 1.0);
                    double xl = r.seqSum("l_rejected", "mask_rejected", i) /
                                std::max(r.len("mask_rejected", i), 1.0);
                    auto lo = [](double x) { return x - std::log1p(-std::exp(x)); };
                    s += logSigmoid(lo(xw) - lo(xl));
                  }
                  return nll - 0.3 * s / kB;
                }});
  ms.push_back({"simpo", prefStage("simpo", false, "preference",
                                   {"simpo_gamma = 0.5"}),
                [](Arrays &a) {
                  R r{a};
                  double s = 0;
                  for (int64_t i = 0; i < kB; ++i) {
                    double xw = r.seqSum("l_chosen", "mask_chosen", i) /
                                std::max(r.len("mask_chosen", i), 1.0);
                    double xl = r.seqSum("l_rejected", "mask_rejected", i) /
                                std::max(r.len("mask_rejected", i), 1.0);
                    s -= logSigmoid(0.3 * (xw - xl) - 0.5);
                  }
                  return s / kB;
                }});
  return ms;
}

} // namespace losstest
