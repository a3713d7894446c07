//===- LossKernelHarness.cpp - the loss kernel tests' JIT harness --------===//
//
// Compiles a pipeline body through hone-step-pipeline and hone-loss-to-llvm
// into a JIT kernel, runs it, draws inputs by argument name, and writes the
// hand-written stages the method tables use (LossKernelHarness.h).
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

std::string arch() {
  // Every #hone.arch parameter is required (no ODS defaults).
  std::string arch = "#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, "
                     "heads = 2, kv_heads = 2, ffn = 64, max_seq = " +
                     std::to_string(kT) +
                     ", norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, "
                     "qkv_bias = false, head_dim = 0, qk_norm = false, "
                     "rope_scaling = none, rope_factor = 1.0, "
                     "rope_low_freq = 1.0, rope_high_freq = 4.0, "
                     "rope_original_max = 8192>";
  return "!m = !hone.model<" + arch + ">\n!s = !hone.model<" + arch +
         ", scalar>\n";
}

/// Compiles the first (or `index`-th) train step of a pipeline body.
Kernel compile(MLIRContext &ctx, const std::string &body, bool f64,
               unsigned index) {
  std::string src = arch() + "hone.pipeline @t {\n" + body + "\n}\n";
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(src, &ctx);
  if (!module) {
    ADD_FAILURE() << "parse failed:\n" << src;
    return {};
  }
  PassManager pm(&ctx);
  mlir::hone::StepPipelineOptions options;
  options.useF64 = f64;
  mlir::hone::buildStepPipeline(pm, options);
  if (failed(pm.run(*module))) {
    ADD_FAILURE() << "step pipeline failed";
    return {};
  }
  Kernel k;
  unsigned seen = 0;
  module->walk([&](mlir::hone::TrainStepOp step) {
    if (seen++ != index)
      return;
    k.name = step.getKernel()->str();
    ArrayAttr names = step.getArgNamesAttr();
    for (Attribute a : names)
      k.argNames.push_back(cast<StringAttr>(a).str());
    for (BlockArgument arg : step.getObjective().getArguments()) {
      auto t = cast<RankedTensorType>(arg.getType());
      k.argSizes.push_back(t.getNumElements());
      k.argShapes.push_back(std::vector<int64_t>(t.getShape().begin(),
                                                 t.getShape().end()));
    }
    k.numDiff = step.getNumDiffArgs();
    k.numMetrics = step.getMetrics().size();
  });
  PassManager lower(&ctx);
  mlir::hone::buildLossToLLVMPipeline(lower);
  if (failed(lower.run(*module))) {
    ADD_FAILURE() << "loss-to-llvm failed";
    return {};
  }
  auto engine = ExecutionEngine::create(*module);
  if (!engine) {
    ADD_FAILURE() << "JIT failed: " << llvm::toString(engine.takeError());
    return {};
  }
  k.engine = std::move(*engine);
  return k;
}

/// Runs a kernel; returns the loss and fills the gradients (one per
/// differentiable argument).
template <typename T>
double run(Kernel &k, Arrays &in, std::vector<std::vector<double>> *grads) {
  std::vector<std::vector<T>> bufs;
  for (size_t i = 0; i < k.argNames.size(); ++i)
    bufs.emplace_back(in[k.argNames[i]].begin(), in[k.argNames[i]].end());
  bufs.emplace_back(1); // loss
  for (unsigned i = 0; i < k.numMetrics; ++i)
    bufs.emplace_back(1);
  for (unsigned i = 0; i < k.numDiff; ++i)
    bufs.emplace_back(k.argSizes[i]);
  std::vector<void *> ptrs;
  for (auto &b : bufs)
    ptrs.push_back(b.data());
  std::vector<void *> args;
  for (auto &p : ptrs)
    args.push_back(&p);
  llvm::Error err = k.engine->invokePacked(k.name, args);
  EXPECT_FALSE(bool(err)) << llvm::toString(std::move(err));
  size_t base = k.argNames.size();
  if (grads) {
    grads->clear();
    for (unsigned i = 0; i < k.numDiff; ++i) {
      auto &g = bufs[base + 1 + k.numMetrics + i];
      grads->emplace_back(g.begin(), g.end());
    }
  }
  return double(bufs[base][0]);
}
template double run<double>(Kernel &, Arrays &, std::vector<std::vector<double>> *);
template double run<float>(Kernel &, Arrays &, std::vector<std::vector<double>> *);

/// Keeps exp(d) away from the clip bounds' kinks (finite differences span
/// ±2h around each point).
double awayFromKinks(Gen &g, double lo, double hi) {
  for (;;) {
    double d = g.uni(lo, hi);
    double r = std::exp(d);
    bool nearKink = false;
    for (double k : {0.8, 1.2, 1.28, 1.5})
      nearKink |= std::fabs(r - k) < 0.01;
    if (!nearKink)
      return d;
  }
}

Arrays makeInputs(Gen &g, const Kernel &k) {
  Arrays in;
  for (size_t i = 0; i < k.argNames.size(); ++i) {
    const std::string &n = k.argNames[i];
    int64_t size = k.argSizes[i];
    auto &shape = k.argShapes[i];
    std::vector<double> v(size);
    if (n.rfind("mask", 0) == 0) {
      v = g.mask(shape[0], shape.size() > 1 ? shape[1] : 1);
    } else if (n == "label" || n == "correct" || n == "off_policy" ||
               n == "use_rl" || n == "use_sft" || n == "valid") {
      for (auto &x : v)
        x = double(g.rng() % 2);
    } else if (n == "mu") {
      v[0] = g.uni(0.05, 0.95);
    } else if (n.rfind("entropy", 0) == 0) {
      for (auto &x : v)
        x = g.uni(0.1, 2.0);
    } else if (n.rfind("l", 0) == 0 && n.find("ref") == std::string::npos &&
               n != "l_old") {
      for (auto &x : v)
        x = g.uni(-3.0, -0.3);
    } else {
      for (auto &x : v)
        x = g.normal();
    }
    in[n] = v;
  }
  // Old/reference log-probs near the policy's, ratios off the kinks.
  for (auto &[n, v] : in) {
    std::string base;
    if (n == "l_old" || n == "l_ref")
      base = "l";
    else if (n.rfind("l_ref_", 0) == 0)
      base = "l_" + n.substr(6);
    if (!base.empty() && in.count(base))
      for (size_t j = 0; j < v.size(); ++j)
        v[j] = in[base][j] - awayFromKinks(g, -0.5, 0.5);
  }
  if (in.count("v_old") && in.count("v"))
    for (size_t j = 0; j < in["v"].size(); ++j) {
      double d;
      do
        d = g.uni(-0.5, 0.5);
      while (std::fabs(std::fabs(d) - 0.2) < 0.01);
      in["v_old"][j] = in["v"][j] - d;
    }
  // PPO's value loss max((V − R)², (V_clip − R)²) has a kink where
  // V + V_clip = 2R (V clipped): keep R off it.
  if (in.count("v_old") && in.count("v") && in.count("returns"))
    for (size_t j = 0; j < in["v"].size(); ++j) {
      double v = in["v"][j], vo = in["v_old"][j];
      double vc = vo + std::clamp(v - vo, -0.2, 0.2);
      if (std::fabs(v + vc - 2 * in["returns"][j]) < 0.02)
        in["returns"][j] += 0.1;
    }
  return in;
}

/// 0/1 inputs with both values present, so that every branch of an
/// objective (KTO labels, DAPO's kept groups, LUFFY's off-policy rows,
/// SRFT's correct samples, HPT's switches) is compared; HPT's switches
/// consistent per prompt (use_rl = acc > γ per sample, use_sft = acc ≤ γ per
/// prompt).
void bothBranches(Gen &g, Arrays &in) {
  for (const char *n :
       {"label", "correct", "off_policy", "use_rl", "use_sft", "valid"}) {
    auto it = in.find(n);
    if (it == in.end() || it->second.size() < 2)
      continue;
    std::vector<double> &v = it->second;
    size_t one = g.rng() % v.size();
    size_t zero = (one + 1 + g.rng() % (v.size() - 1)) % v.size();
    v[one] = 1.0;
    v[zero] = 0.0;
  }
  if (in.count("use_rl") && in.count("use_sft"))
    for (size_t i = 0; i < in["use_rl"].size(); ++i)
      in["use_rl"][i] = 1.0 - in["use_sft"][i / kG];
}

//===----------------------------------------------------------------------===//
// Hand-written stages
//===----------------------------------------------------------------------===//


/// Typed settings (dialect/HoneSettings.td) for hand-written stages: what
/// the objectives below are written for. `overrides` replaces `key = value`
/// pairs ("vf_coef = 0.5").
std::string withOverrides(std::string attr,
                          const std::vector<std::string> &overrides) {
  for (const std::string &o : overrides) {
    std::string key = o.substr(0, o.find(" = ") + 3);
    size_t at = attr.find(key);
    if (at == std::string::npos)
      continue;
    size_t end = attr.find_first_of(",>", at);
    attr.replace(at, end - at, o);
  }
  return attr;
}
const char *kOptimizer =
    "optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 0.9, beta2 = 0.999, "
    "eps = 1.0e-08, weight_decay = 0.0, schedule = constant_lr, "
    "warmup_steps = 0, min_lr_ratio = 0.0, max_grad_norm = 1.0>";
std::string offlineSettings() {
  return std::string(", loop = #hone.loop<grad_accum = 1, max_length = ") +
         std::to_string(kT) + ">, " + kOptimizer;
}
std::string rlSettings(const std::string &alg,
                       const std::vector<std::string> &overrides) {
  bool family = alg == "grpo" || alg == "dr_grpo" || alg == "dapo";
  std::string agg = alg == "dapo" || alg == "reinforce_pp" ? "token_mean"
                    : alg == "dr_grpo"                     ? "constant"
                                                           : "sequence_mean";
  return ", " + std::string(kOptimizer) +
         ", generation = #hone.generation<max_new_tokens = " +
         std::to_string(kT - kT / 2) +
         ", temperature = 1.0, top_k = 0, top_p = 1.0, stop = []>" +
         withOverrides(
             ", settings = #hone.rl_settings<grad_accum = 1, "
             "max_prompt_length = " + std::to_string(kT / 2) +
                 ", kl_estimator = " + (family ? "k3" : "k1") +
                 ", kl_placement = " + (family ? "in_loss" : "in_reward") +
                 ", epsilon = 0.2, epsilon_high = " +
                 (alg == "dapo" ? "0.28" : "0.2") +
                 ", ppo_epochs = " + (alg == "ppo" ? "4" : "1") +
                 ", mini_batches = 1, aggregation = " + agg +
                 ", scale_rewards = " + (alg == "dr_grpo" ? "false" : "true") +
                 ", dynamic_sampling = " + (alg == "dapo" ? "true" : "false") +
                 ", max_resample_rounds = 1, mask_truncated = false, "
                 "gamma = 1.0, lam = 0.95, value_clip = 0.2, vf_coef = 0.5, "
                 "entropy_coef = 0.0, staleness = 0>",
             overrides);
}
std::string guidance(const std::string &hybrid,
                     const std::vector<std::string> &overrides) {
  std::string g =
      hybrid == "chord"
          ? "#hone.chord<mu = <shape = warmup_cosine, start = 0.5, end = "
            "0.05, steps = 2, warmup_steps = 0>, token_weighting = false, "
            "sft_batch_size = " + std::to_string(kB / kG) + ">"
      : hybrid == "srft" ? "#hone.srft<sft_coef = 0.5, positive_coef = 0.1>"
      : hybrid == "luffy"
          ? "#hone.luffy<off_policy_per_group = 1, shaping_gamma = 0.1>"
      : hybrid == "relift" ? "#hone.relift<buffer_size = " +
                                 std::to_string(kB) + ", sft_steps = 1>"
      : hybrid == "hpt" ? "#hone.hpt<threshold = 0.0>"
                        : "#hone.uft<hint_fraction = <shape = cosine, start = "
                          "1.0, end = 0.0, steps = 2, warmup_steps = 0>, "
                          "sft_coef = 1.0>";
  return ", guidance = " + withOverrides(g, overrides);
}

std::string sftStage(const std::string &variant, bool ref) {
  return "%0 = hone.model.init \"policy\" {seed = 0 : i64} : !m\n"
         "%d = hone.dataset \"d.jsonl\" : !hone.dataset<prompt_completion>\n"
         "%1 = hone.sft " + variant + " %0, %d" + (ref ? " ref %0" : "") +
         " {batch_size = " + std::to_string(kB) +
         " : i64, steps = 2 : i64" + offlineSettings() +
         ", settings = #hone.sft_settings<completion_only_loss = true, "
         "assistant_only_loss = false, iw_clip = 16.0>"
         "} : (!m, !hone.dataset<prompt_completion>" +
         (ref ? ", !m" : "") + ") -> !m";
}

std::string prefStage(const std::string &loss, bool ref,
                      const std::string &layout,
                      const std::vector<std::string> &overrides) {
  return "%0 = hone.model.init \"policy\" {seed = 0 : i64} : !m\n"
         "%d = hone.dataset \"d.jsonl\" : !hone.dataset<" +
         layout +
         ">\n"
         "%1 = hone.preference " +
         loss + " %0, %d" + (ref ? " ref %0" : "") +
         " {batch_size = " + std::to_string(kB) + " : i64, steps = 2 : i64" +
         offlineSettings() + ", settings = " +
         withOverrides("#hone.preference_settings<beta = 0.3, "
                       "label_smoothing = 0.0, desirable_weight = 1.0, "
                       "undesirable_weight = 1.0, simpo_gamma = 0.5, "
                       "precompute_ref_log_probs = true>",
                       overrides) +
         "} : (!m, !hone.dataset<" + layout + ">" + (ref ? ", !m" : "") +
         ") -> !m";
}

std::string rlStage(const std::string &alg, double kl, const std::string &hybrid,
                    const std::vector<std::string> &overrides,
                    const std::string &policyLoss) {
  bool ref = kl > 0;
  bool ppo = alg == "ppo";
  std::string s = "%0 = hone.model.init \"policy\" {seed = 0 : i64} : !m\n"
                  "%p = hone.dataset \"p.jsonl\" : !hone.dataset<prompt_answer>\n"
                  "%demo = hone.dataset \"d.jsonl\" : !hone.dataset<prompt_completion>\n"
                  "%r = hone.reward.verifier exact_match : !hone.reward\n";
  if (ppo)
    s += "%c = hone.model.new_head \"critic\" %0 {seed = 0 : i64} : !m -> !s\n";
  s += std::string(ppo ? "%1:2" : "%1") + " = hone.rl " + alg +
       (hybrid.empty() ? "" : " hybrid(" + hybrid + ")") + " %0, %p reward %r" +
       (ref ? " ref %0" : "") + (ppo ? " critic %c" : "") +
       (hybrid.empty() ? "" : " demos %demo") +
       " {batch_size = " + std::to_string(kB) + " : i64, steps = 2 : i64" +
       ", group_size = " +
       std::to_string(ppo || alg == "remax" ? 1 : kG) + " : i64" +
       ", kl_coef = " + std::to_string(kl) + " : f64" +
       rlSettings(alg, overrides) +
       (hybrid.empty() ? "" : guidance(hybrid, overrides)) +
       (policyLoss.empty() ? "" : ", policy_loss = " + policyLoss) +
       "} : (!m, !hone.dataset<prompt_answer>, !hone.reward" +
       (ref ? ", !m" : "") + (ppo ? ", !s" : "") +
       (hybrid.empty() ? "" : ", !hone.dataset<prompt_completion>") + ") -> " +
       (ppo ? "(!m, !s)" : "!m");
  return s;
}

std::string policyLossAttr(const std::string &kind, double dual,
                           double tis) {
  char buf[160];
  std::snprintf(buf, sizeof buf,
                "#hone.policy_loss<kind = %s, dual_clip = %.6f, tis_cap = "
                "%.6f, tau_pos = 1.0, tau_neg = 1.05>",
                kind.c_str(), dual, tis);
  return buf;
}

double relErr(const std::vector<double> &x, const std::vector<double> &y) {
  double num = 0, den = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    num = std::max(num, std::fabs(x[i] - y[i]));
    den = std::max(den, std::fabs(y[i]));
  }
  return den == 0 ? num : num / den;
}

} // namespace losstest
