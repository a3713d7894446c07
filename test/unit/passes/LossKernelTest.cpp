//===- LossKernelTest.cpp - generated loss kernels vs references ----------===//
//
// Over 800 lines: one parameterised test over a table with one reference
// formula per method (most of the file), its JIT harness and its input
// generator; not yet split into harness, method tables and tests.
//
// For every method: stage IR → hone-step-pipeline → hone-loss-to-llvm →
// JIT (MLIR ExecutionEngine), on random inputs drawn fresh each run (seed
// printed). The generated loss must equal a hand-written formula of the
// method, and the generated gradient the central finite differences
// (5-point stencil) of that formula: relative error < 1e-9 in float64;
// the float32 kernel must match the float64 one within 1e-4.
//
//===----------------------------------------------------------------------===//

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

namespace {

constexpr int64_t kB = 4, kT = 8, kG = 2;

using Arrays = std::map<std::string, std::vector<double>>;
using Formula = std::function<double(Arrays &)>;
/// A formula with stop-gradient: `x` is differentiated, `base` (the
/// unperturbed inputs) gives the values under sg.
using SgFormula = std::function<double(Arrays &x, Arrays &base)>;

/// One compiled train-step kernel and what its arguments are.
struct Kernel {
  std::unique_ptr<ExecutionEngine> engine;
  std::string name;
  std::vector<std::string> argNames;
  std::vector<int64_t> argSizes;
  std::vector<std::vector<int64_t>> argShapes;
  unsigned numDiff = 0, numMetrics = 0;
};

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
               unsigned index = 0) {
  std::string src = arch() + "hone.pipeline @t {\n" + body + "\n}\n";
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(src, &ctx);
  if (!module) {
    ADD_FAILURE() << "parse failed:\n" << src;
    return {};
  }
  PassManager pm(&ctx);
  hone::StepPipelineOptions options;
  options.useF64 = f64;
  hone::buildStepPipeline(pm, options);
  if (failed(pm.run(*module))) {
    ADD_FAILURE() << "step pipeline failed";
    return {};
  }
  Kernel k;
  unsigned seen = 0;
  module->walk([&](hone::TrainStepOp step) {
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
  hone::buildLossToLLVMPipeline(lower);
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

//===----------------------------------------------------------------------===//
// Random inputs by argument name
//===----------------------------------------------------------------------===//

struct Gen {
  std::mt19937_64 rng;
  double uni(double a, double b) {
    return std::uniform_real_distribution<double>(a, b)(rng);
  }
  double normal() { return std::normal_distribution<double>(0, 1)(rng); }
  /// A response mask: per row a run of ones [s, s + len) of random length.
  std::vector<double> mask(int64_t rows, int64_t cols) {
    std::vector<double> m(rows * cols, 0.0);
    for (int64_t i = 0; i < rows; ++i) {
      int64_t s = rng() % (cols / 4 + 1);
      int64_t len = 1 + rng() % (cols - s);
      for (int64_t t = s; t < s + len; ++t)
        m[i * cols + t] = 1.0;
    }
    return m;
  }
};

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

//===----------------------------------------------------------------------===//
// Reference formulas (docs/methods.md), written independently of the IR
//===----------------------------------------------------------------------===//

struct R {
  Arrays &a;
  double at(const std::string &n, int64_t i, int64_t t) {
    return a[n][i * kT + t];
  }
  /// Σ_t m·x per row.
  double seqSum(const std::string &x, const std::string &m, int64_t i,
                std::function<double(double)> f = [](double v) { return v; }) {
    double s = 0;
    for (int64_t t = 0; t < kT; ++t)
      s += at(m, i, t) * f(at(x, i, t));
    return s;
  }
  double len(const std::string &m, int64_t i) {
    double s = 0;
    for (int64_t t = 0; t < kT; ++t)
      s += at(m, i, t);
    return s;
  }
  /// Σ_i Σ_t m·f(i,t) / max(Σ m, 1)
  double tokenMean(const std::string &m, std::function<double(int64_t, int64_t)> f) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < kB; ++i)
      for (int64_t t = 0; t < kT; ++t) {
        num += at(m, i, t) * f(i, t);
        den += at(m, i, t);
      }
    return num / std::max(den, 1.0);
  }
};

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double logSigmoid(double x) {
  return std::min(x, 0.0) - std::log1p(std::exp(-std::fabs(x)));
}
double clipPg(double l, double lOld, double a, double lo, double hi) {
  double rho = std::exp(l - lOld);
  return -std::min(rho * a, std::clamp(rho, 1 - lo, 1 + hi) * a);
}

//===----------------------------------------------------------------------===//
// The methods
//===----------------------------------------------------------------------===//

struct Method {
  std::string name;
  std::string body; // pipeline body
  Formula formula;  // empty: finite differences of the kernel only
  unsigned index = 0;
  SgFormula sgFormula = nullptr;
  /// Moves inputs off the kinks of this method's formula (finite
  /// differences only).
  std::function<void(Arrays &)> adjust = nullptr;
};

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
                      const std::string &layout = "preference",
                      const std::vector<std::string> &overrides = {}) {
  return "%0 = hone.model.init \"policy\" {seed = 0 : i64} : !m\n"
         "%d = hone.dataset \"d.jsonl\" : !hone.dataset<" + layout + ">\n"
         "%1 = hone.preference " + loss + " %0, %d" + (ref ? " ref %0" : "") +
         " {batch_size = " + std::to_string(kB) +
         " : i64, steps = 2 : i64" + offlineSettings() + ", settings = " +
         withOverrides("#hone.preference_settings<beta = 0.3, "
                       "label_smoothing = 0.0, desirable_weight = 1.0, "
                       "undesirable_weight = 1.0, simpo_gamma = 0.5>",
                       overrides) +
         "} : (!m, !hone.dataset<" + layout + ">" + (ref ? ", !m" : "") +
         ") -> !m";
}

std::string rlStage(const std::string &alg, double kl, const std::string &hybrid = "",
                    const std::vector<std::string> &overrides = {},
                    const std::string &policyLoss = "") {
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

//===----------------------------------------------------------------------===//
// The 2025 policy losses (docs/methods.md): each against its paper's
// formula, written here per token and per sequence
//===----------------------------------------------------------------------===//

std::string policyLossAttr(const std::string &kind, double dual = 0.0,
                           double tis = 0.0) {
  char buf[160];
  std::snprintf(buf, sizeof buf,
                "#hone.policy_loss<kind = %s, dual_clip = %.6f, tis_cap = "
                "%.6f, tau_pos = 1.0, tau_neg = 1.05>",
                kind.c_str(), dual, tis);
  return buf;
}

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

std::vector<Method> methods() {
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

class LossKernels : public ::testing::TestWithParam<Method> {
protected:
  static void SetUpTestSuite() {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  }
  void SetUp() override {
    DialectRegistry registry;
    registry.insert<hone::HoneDialect, arith::ArithDialect, scf::SCFDialect,
                    func::FuncDialect>();
    registerBuiltinDialectTranslation(registry);
    registerLLVMDialectTranslation(registry);
    ctx = std::make_unique<MLIRContext>(registry);
    ctx->loadAllAvailableDialects();
  }
  std::unique_ptr<MLIRContext> ctx;
};

double relErr(const std::vector<double> &x, const std::vector<double> &y) {
  double num = 0, den = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    num = std::max(num, std::fabs(x[i] - y[i]));
    den = std::max(den, std::fabs(y[i]));
  }
  return den == 0 ? num : num / den;
}

TEST_P(LossKernels, MatchesFormulaAndFiniteDifferences) {
  const Method &m = GetParam();
  Kernel k64 = compile(*ctx, m.body, /*f64=*/true, m.index);
  ASSERT_TRUE(k64.engine);
  Kernel k32 = compile(*ctx, m.body, /*f64=*/false, m.index);
  ASSERT_TRUE(k32.engine);

  uint64_t seed = std::chrono::steady_clock::now().time_since_epoch().count();
  Gen g{std::mt19937_64(seed)};
  double worstLoss = 0, worstGrad = 0, worst32 = 0;
  for (int trial = 0; trial < 3; ++trial) {
    Arrays in = makeInputs(g, k64);
    if (m.adjust)
      m.adjust(in);
    std::vector<std::vector<double>> grads, grads32;
    double loss = run<double>(k64, in, &grads);
    double loss32 = run<float>(k32, in, &grads32);
    ASSERT_TRUE(std::isfinite(loss)) << m.name;

    // The reference: the paper's formula, or the kernel itself.
    auto eval = [&](Arrays &x) {
      if (m.sgFormula) {
        Arrays copy = x, base = in;
        return m.sgFormula(copy, base);
      }
      if (m.formula) {
        Arrays copy = x;
        return m.formula(copy);
      }
      return run<double>(k64, x, nullptr);
    };
    if (m.formula || m.sgFormula) {
      double ref = eval(in);
      worstLoss = std::max(worstLoss, std::fabs(loss - ref) /
                                          std::max(std::fabs(ref), 1e-300));
    }
    // Central differences, 5-point stencil, over every differentiable
    // argument's elements.
    const double h = 1e-3;
    for (unsigned a = 0; a < k64.numDiff; ++a) {
      const std::string &name = k64.argNames[a];
      std::vector<double> fd(grads[a].size());
      for (size_t j = 0; j < fd.size(); ++j) {
        Arrays x = in;
        double x0 = x[name][j];
        auto at = [&](double d) {
          x[name][j] = x0 + d;
          return eval(x);
        };
        fd[j] = (8 * (at(h) - at(-h)) - (at(2 * h) - at(-2 * h))) / (12 * h);
      }
      worstGrad = std::max(worstGrad, relErr(grads[a], fd));
      worst32 = std::max(worst32, relErr(grads32[a], grads[a]));
    }
    // Relative to the loss's scale, at least 1: with group-centred
    // advantages a loss can cancel to near 0 (Dr. GRPO's sum over tokens),
    // where float32 rounding of O(1) terms is large relative to the result.
    worst32 = std::max(worst32, std::fabs(loss32 - loss) /
                                    std::max(std::fabs(loss), 1.0));
  }
  std::printf("[ %-16s] seed %llu  loss vs formula %.2e  grad vs FD %.2e  "
              "f32 vs f64 %.2e%s\n",
              m.name.c_str(), (unsigned long long)seed, worstLoss, worstGrad,
              worst32, m.formula || m.sgFormula ? "" : "  (FD of the kernel)");
  EXPECT_LT(worstLoss, 1e-9) << m.name << " seed " << seed;
  EXPECT_LT(worstGrad, 1e-9) << m.name << " seed " << seed;
  EXPECT_LT(worst32, 1e-4) << m.name << " seed " << seed;
}

INSTANTIATE_TEST_SUITE_P(Methods, LossKernels, ::testing::ValuesIn(methods()),
                         [](const auto &info) { return info.param.name; });

//===----------------------------------------------------------------------===//
// Objectives users write (dialect/ObjectiveExpr.h): GRPO, DAPO and GSPO as
// expressions give the built-ins' loss and gradients bit for bit
//===----------------------------------------------------------------------===//

/// The stage of `alg` with a user-written objective in place of its loss.
std::string withObjective(std::string stage, const std::string &expr) {
  size_t at = stage.rfind("} : (");
  return stage.insert(at, ", objective = \"" + expr + "\"");
}

void bothBranches(Gen &g, Arrays &in);

TEST_F(LossKernels, ObjectiveExpressionsMatchBuiltIns) {
  const std::string clipped =
      "-min(rho * advantage, clip(rho, 1 - epsilon, 1 + epsilon_high) * "
      "advantage)";
  struct Case {
    std::string name, builtIn, expr;
  } cases[] = {
      {"grpo", rlStage("grpo", 0.04),
       "rho = exp(logprob - old_logprob); d = ref_logprob - logprob; "
       "mean(seq_mean(" + clipped + " + (exp(d) - d - 1) * beta))"},
      {"dapo", rlStage("dapo", 0.0),
       "rho = exp(logprob - old_logprob); token_mean(" + clipped + ")"},
      {"gspo", rlStage("grpo", 0.0, "", {}, policyLossAttr("gspo")),
       "rho = exp(seq_mean(logprob - old_logprob)); "
       "mean(seq_mean(per_token(" + clipped + ")))"},
  };
  uint64_t seed = std::chrono::steady_clock::now().time_since_epoch().count();
  Gen g{std::mt19937_64(seed)};
  for (const Case &c : cases) {
    std::string user = c.builtIn;
    // The expression's stage: the same settings, no policy_loss.
    size_t pl = user.find(", policy_loss = ");
    if (pl != std::string::npos)
      user.erase(pl, user.find('>', pl) + 1 - pl);
    user = withObjective(user, c.expr);
    for (bool f64 : {true, false}) {
      Kernel built = compile(*ctx, c.builtIn, f64);
      Kernel mine = compile(*ctx, user, f64);
      ASSERT_TRUE(built.engine && mine.engine) << c.name;
      ASSERT_EQ(built.numDiff, mine.numDiff) << c.name;
      for (int draw = 0; draw < 3; ++draw) {
        Arrays in = makeInputs(g, built);
        bothBranches(g, in);
        std::vector<std::vector<double>> gb, gm;
        double lb = f64 ? run<double>(built, in, &gb) : run<float>(built, in, &gb);
        double lm = f64 ? run<double>(mine, in, &gm) : run<float>(mine, in, &gm);
        EXPECT_EQ(std::memcmp(&lb, &lm, sizeof lb), 0)
            << c.name << (f64 ? " f64" : " f32") << " loss " << lb << " vs "
            << lm << " seed " << seed;
        for (unsigned a = 0; a < built.numDiff; ++a)
          for (size_t j = 0; j < gb[a].size(); ++j)
            ASSERT_EQ(std::memcmp(&gb[a][j], &gm[a][j], sizeof(double)), 0)
                << c.name << (f64 ? " f64" : " f32") << " d/d"
                << built.argNames[a] << "[" << j << "] " << gb[a][j] << " vs "
                << gm[a][j] << " seed " << seed;
      }
    }
    std::printf("[ objective %-6s] bit-identical to the built-in (f64, f32; "
                "3 draws each)\n",
                c.name.c_str());
  }
}

/// Other built-ins as the docs write them: the same loss and gradients to
/// rounding (their ops differ: a min in place of a clamp, the sign moved).
TEST_F(LossKernels, ObjectiveExpressionsOfOtherVariants) {
  struct Case {
    std::string name, builtIn, expr;
  } cases[] = {
      // Dr. GRPO: the sum over tokens / (B · max_new_tokens) = 4 · 4.
      {"dr_grpo", rlStage("dr_grpo", 0.0),
       "rho = exp(logprob - old_logprob); token_sum(-min(rho * advantage, "
       "clip(rho, 1 - epsilon, 1 + epsilon_high) * advantage)) / 16"},
      {"cispo",
       rlStage("grpo", 0.0, "",
               {"epsilon_high = 0.28", "aggregation = token_mean"},
               policyLossAttr("cispo")),
       "rho = exp(logprob - old_logprob); "
       "token_mean(-sg(min(rho, 1 + epsilon_high)) * advantage * logprob)"},
  };
  uint64_t seed = std::chrono::steady_clock::now().time_since_epoch().count();
  Gen g{std::mt19937_64(seed)};
  for (const Case &c : cases) {
    std::string user = c.builtIn;
    size_t pl = user.find(", policy_loss = ");
    if (pl != std::string::npos)
      user.erase(pl, user.find('>', pl) + 1 - pl);
    user = withObjective(user, c.expr);
    Kernel built = compile(*ctx, c.builtIn, true);
    Kernel mine = compile(*ctx, user, true);
    ASSERT_TRUE(built.engine && mine.engine) << c.name;
    double worst = 0;
    for (int draw = 0; draw < 3; ++draw) {
      Arrays in = makeInputs(g, built);
      std::vector<std::vector<double>> gb, gm;
      double lb = run<double>(built, in, &gb), lm = run<double>(mine, in, &gm);
      worst = std::max(worst, std::fabs(lb - lm) / std::max(std::fabs(lb), 1e-300));
      for (unsigned a = 0; a < built.numDiff; ++a)
        worst = std::max(worst, relErr(gm[a], gb[a]));
    }
    std::printf("[ objective %-8s] max relative difference %.2e\n",
                c.name.c_str(), worst);
    EXPECT_LT(worst, 1e-12) << c.name << " seed " << seed;
  }
}

//===----------------------------------------------------------------------===//
// PyTorch: every objective written again with torch.autograd
// (test/unit/passes/torch_oracle.py), run once for all methods.
//===----------------------------------------------------------------------===//

void writeArray(std::ostream &os, const std::vector<double> &v) {
  os << '[';
  char buf[32];
  for (size_t i = 0; i < v.size(); ++i) {
    std::snprintf(buf, sizeof(buf), "%.17g", v[i]);
    os << (i ? "," : "") << buf;
  }
  os << ']';
}

/// The oracle's answer, one line each: "loss ID VALUE" and
/// "grad ID ARG V0 V1 ..." (ID = method#draw).
struct TorchResults {
  std::map<std::string, double> loss;
  std::map<std::string, std::map<std::string, std::vector<double>>> grads;
};

TorchResults readResults(std::istream &in) {
  TorchResults r;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string kind, name;
    ls >> kind >> name;
    if (kind == "loss") {
      ls >> r.loss[name];
    } else if (kind == "grad") {
      std::string arg;
      ls >> arg;
      std::vector<double> &v = r.grads[name][arg];
      double x;
      while (ls >> x)
        v.push_back(x);
    }
  }
  return r;
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

/// The first Python that imports torch: $HONE_ORACLE_PYTHON, the optional
/// venv build/pyvenv (HONE_SETUP_EXTRAS=1 scripts/setup-deps), Debian's
/// /usr/bin/python3 with python3-torch; empty if none.
std::string torchPython() {
  std::vector<std::string> cands;
  if (const char *env = std::getenv("HONE_ORACLE_PYTHON"))
    cands.push_back(env);
  cands.push_back(HONE_BINARY_DIR "/pyvenv/bin/python");
  cands.push_back("/usr/bin/python3");
  for (const std::string &c : cands)
    if (std::system(
            ("'" + c + "' -c 'import torch' >/dev/null 2>&1").c_str()) == 0)
      return c;
  return {};
}

TEST_F(LossKernels, MatchPyTorchAutograd) {
  const std::string python = torchPython();
  if (python.empty())
    GTEST_SKIP() << "no Python with torch ($HONE_ORACLE_PYTHON, "
                    "build/pyvenv or Debian's python3-torch)";

  uint64_t seed = std::chrono::steady_clock::now().time_since_epoch().count();
  Gen g{std::mt19937_64(seed)};
  constexpr int kDraws = 3; // random inputs per method
  struct Case {
    std::string method, id;
    Kernel *k;
    double loss;
    std::vector<std::vector<double>> grads;
  };
  std::vector<std::pair<std::string, Kernel>> kernels;
  std::vector<Case> cases;
  // Unique per run: other build trees may run this test at the same time.
  std::string stem = ::testing::TempDir() + "hone-torch-" +
                     std::to_string(getpid()) + "-" + std::to_string(seed);
  std::string inPath = stem + "-cases.json", outPath = stem + "-results.txt";
  // Removed however the test ends (a failed assertion returns early); set
  // HONE_KEEP_TEST_FILES to keep them for debugging.
  struct RemoveAtEnd {
    std::string a, b;
    ~RemoveAtEnd() {
      if (!std::getenv("HONE_KEEP_TEST_FILES")) {
        std::remove(a.c_str());
        std::remove(b.c_str());
      }
    }
  } removeAtEnd{inPath, outPath};
  {
    std::ofstream os(inPath);
    // max_new_tokens as rlSettings() writes it (Dr. GRPO's constant).
    os << "{\"B\":" << kB << ",\"T\":" << kT << ",\"G\":" << kG
       << ",\"max_new_tokens\":" << (kT - kT / 2) << ",\"cases\":[";
    std::vector<Method> ms = methods();
    kernels.reserve(ms.size());
    for (const Method &m : ms) {
      kernels.emplace_back(m.name, compile(*ctx, m.body, /*f64=*/true, m.index));
      Kernel &k = kernels.back().second;
      ASSERT_TRUE(k.engine) << m.name;
      for (int d = 0; d < kDraws; ++d) {
        Case c{m.name, m.name + "#" + std::to_string(d), &k, 0, {}};
        Arrays in = makeInputs(g, k);
        bothBranches(g, in);
        c.loss = run<double>(k, in, &c.grads);
        os << (cases.empty() ? "" : ",") << "{\"method\":\"" << m.name
           << "\",\"id\":\"" << c.id << "\",\"diff\":[";
        for (unsigned a = 0; a < k.numDiff; ++a)
          os << (a ? "," : "") << '"' << k.argNames[a] << '"';
        os << "],\"shapes\":{";
        for (size_t a = 0; a < k.argNames.size(); ++a) {
          os << (a ? "," : "") << '"' << k.argNames[a] << "\":[";
          for (size_t j = 0; j < k.argShapes[a].size(); ++j)
            os << (j ? "," : "") << k.argShapes[a][j];
          os << ']';
        }
        os << "},\"inputs\":{";
        for (size_t a = 0; a < k.argNames.size(); ++a) {
          os << (a ? "," : "") << '"' << k.argNames[a] << "\":";
          writeArray(os, in[k.argNames[a]]);
        }
        os << "}}";
        cases.push_back(std::move(c));
      }
    }
    os << "]}";
  }
  std::string cmd =
      "'" + python + "' " HONE_TORCH_ORACLE " " + inPath + " " + outPath;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd << " (HONE_KEEP_TEST_FILES=1 keeps its inputs)";
  std::ifstream in(outPath);
  TorchResults results = readResults(in);

  // Worst over the draws, per method.
  std::map<std::string, std::pair<double, double>> worst;
  std::vector<std::string> order;
  for (Case &c : cases) {
    ASSERT_TRUE(results.loss.count(c.id))
        << "the oracle has no result for " << c.id;
    double ref = results.loss[c.id];
    double lossErr = std::fabs(c.loss - ref) / std::max(std::fabs(ref), 1e-300);
    double gradErr = 0;
    for (unsigned a = 0; a < c.k->numDiff; ++a) {
      const std::string &arg = c.k->argNames[a];
      ASSERT_TRUE(results.grads[c.id].count(arg))
          << c.id << ": no gradient for " << arg;
      const std::vector<double> &tg = results.grads[c.id][arg];
      ASSERT_EQ(tg.size(), c.grads[a].size()) << c.id << ": gradient of " << arg;
      gradErr = std::max(gradErr, relErr(c.grads[a], tg));
    }
    EXPECT_LT(lossErr, 1e-9) << c.id << " seed " << seed << " inputs " << inPath;
    EXPECT_LT(gradErr, 1e-9) << c.id << " seed " << seed << " inputs " << inPath;
    if (!worst.count(c.method))
      order.push_back(c.method);
    auto &w = worst[c.method];
    w.first = std::max(w.first, lossErr);
    w.second = std::max(w.second, gradErr);
  }
  for (const std::string &m : order)
    std::printf("[ torch %-16s] %d draws  loss %.2e  grads %.2e\n", m.c_str(),
                kDraws, worst[m].first, worst[m].second);
}

} // namespace
