//===- DialectTest.cpp - the hone dialect's C++ API -----------------------===//
//
// What frontends and passes rely on: building stage IR with the generated
// builders, the verifiers' diagnostics, and the architecture's sizes.
//
//===----------------------------------------------------------------------===//

#include "dialect/HoneForwards.h"
#include "dialect/HoneOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"

#include <gtest/gtest.h>

#include <functional>

using namespace mlir;
using namespace mlir::hone;

namespace {

class HoneDialectTest : public ::testing::Test {
protected:
  HoneDialectTest() : builder(&context) {
    context.loadDialect<HoneDialect>();
    context.printOpOnDiagnostic(false);
    loc = FileLineColLoc::get(&context, "spec.textproto", 7, 3);
  }

  ArchAttr arch(::hone::ModelFamily family, int64_t vocab, int64_t d,
                int64_t layers, int64_t heads, int64_t kvHeads, int64_t ffn,
                int64_t maxSeq, bool tied = true, bool qkvBias = false,
                int64_t headDim = 0, bool qkNorm = false) {
    return ArchAttr::get(&context, family, vocab, d, layers, heads, kvHeads,
                         ffn, maxSeq, llvm::APFloat(1e-5), llvm::APFloat(1e4),
                         tied, qkvBias, headDim, qkNorm,
                         ::hone::RopeScaling::None, llvm::APFloat(1.0),
                         llvm::APFloat(1.0), llvm::APFloat(4.0), 8192);
  }

  MLIRContext context;
  OpBuilder builder;
  Location loc = UnknownLoc::get(&context);
};

/// Parameter counts follow the Hugging Face layouts, counted tensor by tensor.
TEST_F(HoneDialectTest, GPT2ParameterCountMatchesTensorShapes) {
  // GPT-2 small: 124,439,808 parameters in Hugging Face's model card.
  ArchAttr gpt2 =
      arch(::hone::ModelFamily::GPT2, 50257, 768, 12, 12, 12, 3072, 1024);
  EXPECT_EQ(gpt2.getNumParameters(), 124439808);
}

TEST_F(HoneDialectTest, LlamaParameterCountMatchesTensorShapes) {
  // Qwen2-0.5B: vocab 151936, d 896, 24 layers, 14 heads, 2 kv heads,
  // ffn 4864, tied, qkv bias: 494,032,768 parameters.
  ArchAttr qwen = arch(::hone::ModelFamily::Llama, 151936, 896, 24, 14, 2, 4864,
                       32768, /*tied=*/true, /*qkvBias=*/true);
  EXPECT_EQ(qwen.getNumParameters(), 494032768);
  // Untying adds exactly one vocab × d matrix.
  ArchAttr untied = arch(::hone::ModelFamily::Llama, 151936, 896, 24, 14, 2,
                         4864, 32768, /*tied=*/false, /*qkvBias=*/true);
  EXPECT_EQ(untied.getNumParameters() - qwen.getNumParameters(),
            151936 * 896);
}

TEST_F(HoneDialectTest, Qwen3ParameterCountMatchesTensorShapes) {
  // Qwen3-0.6B: vocab 151936, d 1024, 28 layers, 16 heads of 128 (q is
  // 2048 wide), 8 kv heads, ffn 3072, tied, q/k norms: 596,049,920
  // parameters, 440,466,432 outside the embedding (the model card's
  // "0.6B, 0.44B non-embedding").
  ArchAttr qwen3 = arch(::hone::ModelFamily::Llama, 151936, 1024, 28, 16, 8,
                        3072, 40960, /*tied=*/true, /*qkvBias=*/false,
                        /*headDim=*/128, /*qkNorm=*/true);
  EXPECT_EQ(qwen3.getNumParameters(), 596049920);
  EXPECT_EQ(qwen3.getNumParameters() - 151936 * 1024 - 1024, 440466432);
  EXPECT_EQ(qwen3.getHeadDimension(), 128);
}

TEST_F(HoneDialectTest, ArchVerifierRejectsContradictions) {
  std::string message;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
    message = diag.str();
    return success();
  });
  auto bad = ArchAttr::getChecked(
      [&] { return emitError(loc); }, &context, ::hone::ModelFamily::Llama,
      int64_t(16), int64_t(30), int64_t(1), int64_t(4), int64_t(4), int64_t(64),
      int64_t(32), llvm::APFloat(1e-5), llvm::APFloat(1e4), true, false,
      int64_t(0), false, ::hone::RopeScaling::None, llvm::APFloat(1.0),
      llvm::APFloat(1.0), llvm::APFloat(4.0), int64_t(8192));
  EXPECT_FALSE(bad);
  EXPECT_EQ(message, "heads (4) must divide d_model (30)");
  // With a head_dim, d_model need not be a multiple of heads (Qwen3).
  auto wide = ArchAttr::getChecked(
      [&] { return emitError(loc); }, &context, ::hone::ModelFamily::Llama,
      int64_t(16), int64_t(30), int64_t(1), int64_t(4), int64_t(4), int64_t(64),
      int64_t(32), llvm::APFloat(1e-5), llvm::APFloat(1e4), true, false,
      int64_t(8), true, ::hone::RopeScaling::None, llvm::APFloat(1.0),
      llvm::APFloat(1.0), llvm::APFloat(4.0), int64_t(8192));
  EXPECT_TRUE(wide);
  auto scaled = ArchAttr::getChecked(
      [&] { return emitError(loc); }, &context, ::hone::ModelFamily::Llama,
      int64_t(16), int64_t(32), int64_t(1), int64_t(4), int64_t(4), int64_t(64),
      int64_t(32), llvm::APFloat(1e-5), llvm::APFloat(1e4), true, false,
      int64_t(0), false, ::hone::RopeScaling::Llama3, llvm::APFloat(8.0),
      llvm::APFloat(4.0), llvm::APFloat(1.0), int64_t(8192));
  EXPECT_FALSE(scaled);
  EXPECT_EQ(message, "llama3 rope scaling needs 0 < rope_low_freq < "
                     "rope_high_freq and a positive rope_original_max");
}

/// Complete settings, as the frontend's defaults table writes them.
OptimizerAttr optimizer(MLIRContext &ctx) {
  using F = llvm::APFloat;
  return OptimizerAttr::get(&ctx, F(1e-6), F(0.9), F(0.999), F(1e-8), F(0.0),
                            LrSchedule::linear_decay, int64_t(0), F(0.0), F(1.0));
}
GenerationAttr generation(MLIRContext &ctx) {
  return GenerationAttr::get(&ctx, int64_t(32), llvm::APFloat(1.0), int64_t(0),
                             llvm::APFloat(1.0), ArrayAttr::get(&ctx, {}));
}
RlSettingsAttr rlSettings(MLIRContext &ctx) {
  using F = llvm::APFloat;
  return RlSettingsAttr::get(&ctx, int64_t(1), int64_t(64), KlEstimator::k3, KlPlacement::in_loss,
                             F(0.2), F(0.2), int64_t(1), int64_t(1), Aggregation::sequence_mean,
                             true, false, int64_t(1), false, F(1.0), F(0.95), F(0.2),
                             F(0.1), F(0.0), int64_t(0));
}

/// Typed settings check their ranges when built with getChecked.
TEST_F(HoneDialectTest, SettingsVerifierRejectsRanges) {
  std::string message;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
    message = diag.str();
    return success();
  });
  using F = llvm::APFloat;
  auto bad = OptimizerAttr::getChecked(
      [&] { return emitError(loc); }, &context, F(-1.0), F(0.9), F(0.999),
      F(1e-8), F(0.0), LrSchedule::constant_lr, int64_t(0), F(0.0), F(1.0));
  EXPECT_FALSE(bad);
  EXPECT_EQ(message, "#hone.optimizer: lr = -1 must be positive (a learning "
                     "rate such as 1e-3 (tiny models) or 1e-5 (pretrained "
                     "ones))");
  auto badTopP = GenerationAttr::getChecked(
      [&] { return emitError(loc); }, &context, int64_t(8), F(1.0), int64_t(0), F(1.5),
      ArrayAttr::get(&context, {}));
  EXPECT_FALSE(badTopP);
  EXPECT_EQ(message, "#hone.generation: top_p = 1.5 must be in (0, 1] (use 1 "
                     "to disable nucleus sampling)");
  EXPECT_TRUE(bool(optimizer(context)));
}

/// A frontend builds a pipeline with the generated builders; the verifier
/// reports a missing reward at the spec location the op carries.
TEST_F(HoneDialectTest, BuildPipelineAndVerify) {
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  builder.setInsertionPointToEnd(module->getBody());
  auto pipeline = PipelineOp::create(builder, loc, "toy");
  builder.setInsertionPointToEnd(&pipeline.getBody().front());

  auto modelType = ModelType::get(
      &context, arch(::hone::ModelFamily::GPT2, 16, 32, 1, 2, 2, 64, 32),
      ::hone::HeadKind::LM);
  Value model =
      ModelInitOp::create(builder, loc, modelType, "policy", uint64_t(1));
  Value prompts =
      DatasetOp::create(builder, loc,
                        DatasetType::get(&context, ColumnLayout::prompt_answer),
                        "prompts.jsonl", nullptr, nullptr);
  auto rl = RlOp::create(builder, loc, modelType, /*new_critic=*/Type(),
                         RlAlgorithm::grpo, model, prompts, /*reward=*/Value(),
                         /*ref=*/Value(), /*critic=*/Value(), /*demos=*/Value(),
                         /*hybrid=*/nullptr, /*steps=*/uint64_t(10),
                         /*batch_size=*/uint64_t(8), /*group_size=*/uint64_t(4),
                         /*kl_coef=*/llvm::APFloat(0.0), optimizer(context),
                         generation(context), rlSettings(context), /*guidance=*/nullptr,
                         /*policy_loss=*/nullptr, /*objective=*/nullptr);

  std::vector<std::string> messages;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
    std::string text;
    llvm::raw_string_ostream os(text);
    auto fileLoc = cast<FileLineColLoc>(diag.getLocation());
    os << fileLoc.getFilename().getValue() << ":" << fileLoc.getLine() << ":"
       << fileLoc.getColumn() << ": " << diag.str();
    messages.push_back(text);
    for (Diagnostic &note : diag.getNotes())
      messages.push_back(note.str());
    return success();
  });
  EXPECT_TRUE(failed(verify(*module)));
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[0], "spec.textproto:7:3: 'hone.rl' op the grpo stage has "
                         "no reward");
  EXPECT_EQ(messages[1], "hint: add 'reward %r' with a verifier, reward "
                         "model or external reward");

  // With a reward, the same pipeline verifies.
  builder.setInsertionPoint(rl);
  Value reward = RewardVerifierOp::create(
      builder, loc, RewardType::get(&context), VerifierKind::exact_match,
      nullptr, nullptr, nullptr, nullptr, nullptr);
  rl.getRewardMutable().assign(reward);
  messages.clear();
  EXPECT_TRUE(succeeded(verify(*module)));
  EXPECT_TRUE(messages.empty());
}

/// The memory plan's bound on a packed batch (hone::RowLengths::mostTokens)
/// against every way of taking m rows from the counts, each row at most
/// `repeats` times: the bound is the largest sum of tokens and of squared
/// lengths any of them has.
TEST(RowLengths, MostTokensIsTheLargestOfEveryChoice) {
  struct Case {
    std::vector<std::pair<int64_t, int64_t>> counts;
  };
  const std::vector<Case> cases = {
      {{{9, 7}, {10, 17}}},         // the DPO example's pairs
      {{{3, 1}, {17, 2}, {5, 4}}},  // unsorted, a long tail
      {{{1, 3}}},                   // one length
      {{{4, 1}, {8, 1}, {2, 5}}}};
  for (const Case &c : cases)
    for (int64_t repeats : {1, 2, 3}) {
      int64_t total = 0;
      for (auto [len, n] : c.counts)
        total += n * repeats;
      for (int64_t m = 1; m <= total; ++m) {
        // Every (x_0, x_1, ...) with x_i <= n_i * repeats and sum m.
        int64_t bestT = 0, bestS = 0;
        std::vector<int64_t> x(c.counts.size(), 0);
        std::function<void(size_t, int64_t, int64_t, int64_t)> go =
            [&](size_t i, int64_t left, int64_t t, int64_t sq) {
              if (i == c.counts.size()) {
                if (left == 0)
                  bestT = std::max(bestT, t), bestS = std::max(bestS, sq);
                return;
              }
              auto [len, n] = c.counts[i];
              for (int64_t k = 0; k <= std::min(left, n * repeats); ++k)
                go(i + 1, left - k, t + k * len, sq + k * len * len);
            };
        go(0, m, 0, 0);
        RowLengths r;
        for (auto pr : c.counts)
          r.counts.push_back(pr);
        auto [t, sq] = r.mostTokens(m, repeats);
        EXPECT_EQ(t, bestT) << "m " << m << " repeats " << repeats;
        EXPECT_EQ(sq, bestS) << "m " << m << " repeats " << repeats;
      }
    }
  RowLengths r;
  r.counts = {{9, 7}, {10, 17}};
  EXPECT_EQ(r.rows(), 24);
  EXPECT_DOUBLE_EQ(r.meanLength(), (9.0 * 7 + 10.0 * 17) / 24);
  EXPECT_DOUBLE_EQ(r.meanSquare(), (81.0 * 7 + 100.0 * 17) / 24);
}

} // namespace
