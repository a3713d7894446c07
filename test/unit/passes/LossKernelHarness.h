//===- LossKernelHarness.h - what the loss kernel tests share -------------===//
//
// The generated loss kernels against references (hone-loss-tests): the
// JIT harness and input generator (LossKernelHarness.cpp), the reference
// formulas' helpers and the method tables by loss family
// (LossMethodsOffline.cpp: SFT, reward model, preference;
// LossMethodsRl.cpp: RL algorithms and hybrids; LossMethodsPolicy.cpp:
// the policy losses), and the tests (LossKernelTest.cpp).
//
//===----------------------------------------------------------------------===//
#pragma once

#include "dialect/HoneDialect.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "llvm/Support/TargetSelect.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace losstest {

using namespace mlir;

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

/// The #hone.arch every test pipeline declares.
std::string arch();
/// Compiles the first (or `index`-th) train step of a pipeline body.
Kernel compile(MLIRContext &ctx, const std::string &body, bool f64,
               unsigned index = 0);
/// Runs a kernel; returns the loss and fills the gradients (one per
/// differentiable argument).
template <typename T>
double run(Kernel &k, Arrays &in, std::vector<std::vector<double>> *grads);

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
double awayFromKinks(Gen &g, double lo, double hi);
/// Inputs for every argument of `k`, by name.
Arrays makeInputs(Gen &g, const Kernel &k);
/// Both values of every 0/1 input present (LossKernelHarness.cpp).
void bothBranches(Gen &g, Arrays &in);

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

inline double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
inline double logSigmoid(double x) {
  return std::min(x, 0.0) - std::log1p(std::exp(-std::fabs(x)));
}
inline double clipPg(double l, double lOld, double a, double lo, double hi) {
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

// Hand-written stages (LossKernelHarness.cpp). `overrides` replaces
// `key = value` pairs ("vf_coef = 0.5") in the typed settings.
std::string withOverrides(std::string attr,
                          const std::vector<std::string> &overrides);
std::string offlineSettings();
std::string rlSettings(const std::string &alg,
                       const std::vector<std::string> &overrides);
std::string sftStage(const std::string &variant, bool ref);
std::string prefStage(const std::string &loss, bool ref,
                      const std::string &layout = "preference",
                      const std::vector<std::string> &overrides = {});
std::string rlStage(const std::string &alg, double kl,
                    const std::string &hybrid = "",
                    const std::vector<std::string> &overrides = {},
                    const std::string &policyLoss = "");
std::string policyLossAttr(const std::string &kind, double dual = 0.0,
                           double tis = 0.0);

// The method tables, by loss family.
std::vector<Method> offlineMethods();      // LossMethodsOffline.cpp
std::vector<Method> rlMethods();           // LossMethodsRl.cpp
std::vector<Method> policyLossMethods();   // LossMethodsPolicy.cpp

class LossKernels : public ::testing::TestWithParam<Method> {
protected:
  static void SetUpTestSuite() {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  }
  void SetUp() override {
    DialectRegistry registry;
    registry.insert<mlir::hone::HoneDialect, arith::ArithDialect,
                    scf::SCFDialect, func::FuncDialect>();
    registerBuiltinDialectTranslation(registry);
    registerLLVMDialectTranslation(registry);
    ctx = std::make_unique<MLIRContext>(registry);
    ctx->loadAllAvailableDialects();
  }
  std::unique_ptr<MLIRContext> ctx;
};

double relErr(const std::vector<double> &x, const std::vector<double> &y);

} // namespace losstest
