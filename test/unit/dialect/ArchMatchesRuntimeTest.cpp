//===- ArchMatchesRuntimeTest.cpp - compile-time sizes = runtime sizes ----===//
//
// The static memory plan counts parameters from #hone.arch; the runtime
// allocates them from ModelConfig. Both must agree for every family and
// option, or the compile-time "it fits" would be a guess.
//
//===----------------------------------------------------------------------===//

#include "dialect/HoneAttrs.h"
#include "dialect/HoneDialect.h"
#include "kernels/cpu/CpuKernels.h"
#include "runtime/model/Transformer.h"
#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>



namespace {

struct Case {
  ::hone::ModelFamily family;
  int64_t vocab, d, layers, heads, kvHeads, ffn, maxSeq;
  bool tied, qkvBias;
  int64_t headDim = 0; // Qwen3-style head_dim (0: d / heads)
  bool qkNorm = false;
};

class ArchMatchesRuntime : public ::testing::TestWithParam<Case> {};

TEST_P(ArchMatchesRuntime, ParameterCounts) {
  const Case &c = GetParam();
  mlir::MLIRContext context;
  context.loadDialect<mlir::hone::HoneDialect>();
  auto arch = mlir::hone::ArchAttr::get(
      &context, c.family, c.vocab, c.d, c.layers, c.heads, c.kvHeads, c.ffn,
      c.maxSeq, llvm::APFloat(1e-5), llvm::APFloat(1e4), c.tied, c.qkvBias,
      c.headDim, c.qkNorm, ::hone::RopeScaling::None, llvm::APFloat(1.0),
      llvm::APFloat(1.0), llvm::APFloat(4.0), 8192);

  ::hone::ModelConfig cfg;
  cfg.family = c.family;
  cfg.vocabSize = c.vocab;
  cfg.dModel = c.d;
  cfg.nLayers = c.layers;
  cfg.nHeads = c.heads;
  cfg.nKvHeads = c.kvHeads;
  cfg.dFf = c.ffn;
  cfg.maxSeqLen = c.maxSeq;
  cfg.tieEmbeddings = c.tied;
  cfg.qkvBias = c.qkvBias;
  cfg.headDimension = c.headDim;
  cfg.qkNorm = c.qkNorm;
  auto kernels = ::hone::makeCpuKernels<float>();
  auto model = ::hone::Transformer<float>::create(cfg, kernels.get());
  ASSERT_TRUE(model.isOk()) << model.status().toString();
  EXPECT_EQ(arch.getNumParameters(), (*model)->numParams());
}

INSTANTIATE_TEST_SUITE_P(
    Families, ArchMatchesRuntime,
    ::testing::Values(
        Case{::hone::ModelFamily::GPT2, 16, 32, 2, 2, 2, 64, 32, true, false},
        Case{::hone::ModelFamily::GPT2, 50, 48, 3, 4, 4, 96, 20, false, false},
        Case{::hone::ModelFamily::Llama, 32, 64, 2, 4, 2, 128, 64, true, false},
        Case{::hone::ModelFamily::Llama, 32, 64, 2, 4, 1, 96, 16, false, true},
        Case{::hone::ModelFamily::Llama, 40, 48, 1, 6, 3, 80, 8, true, true},
        // Qwen3: q/k norms, heads * head_dim (4 * 32) != d_model (64).
        Case{::hone::ModelFamily::Llama, 32, 64, 2, 4, 2, 128, 64, false,
             false, 32, true},
        Case{::hone::ModelFamily::Llama, 32, 64, 1, 4, 4, 96, 16, true, false,
             0, true}));

} // namespace
