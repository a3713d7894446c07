//===- LossKernelTest.cpp - generated loss kernels vs references ----------===//
//
// For every method: stage IR → hone-step-pipeline → hone-loss-to-llvm →
// JIT (MLIR ExecutionEngine), on random inputs drawn fresh each run (seed
// printed). The generated loss must equal a hand-written formula of the
// method, and the generated gradient the central finite differences
// (5-point stencil) of that formula: relative error < 1e-9 in float64;
// the float32 kernel must match the float64 one within 1e-4.
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

/// Every method of the tables, in one order (the test names are theirs).
std::vector<Method> methods() {
  std::vector<Method> ms = offlineMethods();
  for (Method &m : rlMethods())
    ms.push_back(std::move(m));
  return ms;
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


} // namespace losstest
