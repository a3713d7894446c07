// The sizing functions the compiler's memory plan links
// (runtime/model/MemorySizes.h) against what the runtime really allocates:
// parameters, kept activations, the KV cache and the incremental-forward
// workspace of generate(), for every model family and both heads.
#include "runtime/model/MemorySizes.h"
#include "ModelTestUtil.h"
#include "runtime/model/Generate.h"

using namespace hone;
using namespace hone::test;

namespace {

std::vector<ModelConfig> families() {
  std::vector<ModelConfig> cs = {tinyGpt2(),
                                 tinyQwen2(),
                                 tinyLlama(),
                                 tinyQwen3(),
                                 tinyLlama3(),
                                 tinyGpt2(HeadKind::Scalar),
                                 tinyLlama(HeadKind::Scalar)};
  ModelConfig untied = tinyLlama();
  untied.tieEmbeddings = false;
  cs.push_back(untied);
  return cs;
}

TEST(MemorySizes, ParametersMatchTheRuntime) {
  for (const ModelConfig &cfg : families()) {
    auto k = makeCpuKernels<float>();
    auto m = Transformer<float>::create(cfg, k.get());
    ASSERT_TRUE(m) << m.status().toString();
    EXPECT_EQ(memsize::parameters(cfg, 4), (*m)->numParams());
    auto kd = makeCpuKernels<double>();
    auto md = Transformer<double>::create(cfg, kd.get());
    ASSERT_TRUE(md);
    EXPECT_EQ(memsize::parameters(cfg, 8), (*md)->numParams());
  }
}

TEST(MemorySizes, ActivationsMatchTheRuntime) {
  for (const ModelConfig &cfg : families())
    for (auto [B, T0] : {std::pair<int64_t, int64_t>{1, 4}, {3, 7}, {2, 16}}) {
      const int64_t T = std::min(T0, cfg.maxSeqLen);
      auto k = makeCpuKernels<float>();
      auto m = Transformer<float>::create(cfg, k.get());
      ASSERT_TRUE(m);
      EXPECT_EQ(memsize::activationBytes(cfg, B, T, 4),
                (*m)->workspaceBytes(B, T));
      std::vector<int32_t> lengths(static_cast<size_t>(B),
                                   static_cast<int32_t>(T));
      Batch b = randomBatch(cfg.vocabSize, lengths, T, 5);
      Status st = (*m)->forward(b.view());
      ASSERT_TRUE(st) << st.toString();
      EXPECT_EQ(memsize::activationBytes(cfg, B, T, 4),
                (*m)->activationBytesHeld())
          << "B=" << B << " T=" << T;
      (*m)->releaseWorkspaces();
      EXPECT_EQ((*m)->activationBytesHeld(), 0);
    }
}

// A packed batch (ForwardOptions::pack) holds activations for its tokens
// and its rows' len x len attention probabilities, not for batch x T: the
// runtime allocates what memsize says, less than the padded batch, and a
// padded forward after it grows the block to the padded size.
TEST(MemorySizes, PackedActivationsMatchTheRuntime) {
  for (const ModelConfig &cfg : families()) {
    const int64_t T = std::min<int64_t>(16, cfg.maxSeqLen);
    std::vector<int32_t> lengths = {int32_t(T), 3, int32_t(T / 2), 1};
    const int64_t B = int64_t(lengths.size());
    memsize::PackedRows rows = memsize::packedRows(lengths.data(), B);
    ASSERT_EQ(rows.tokens, T + 3 + T / 2 + 1);
    ASSERT_EQ(rows.squares, T * T + 9 + (T / 2) * (T / 2) + 1);
    auto k = makeCpuKernels<float>();
    auto m = Transformer<float>::create(cfg, k.get());
    ASSERT_TRUE(m);
    const int64_t packed =
        memsize::activationBytes(cfg, B, T, 4, nullptr, &rows);
    EXPECT_EQ(packed, (*m)->workspaceBytes(B, T, lengths.data()));
    EXPECT_LT(packed, memsize::activationBytes(cfg, B, T, 4));
    Batch b = randomBatch(cfg.vocabSize, lengths, T, 5);
    ForwardOptions o;
    o.pack = true;
    Status st = (*m)->forward(b.view(), o);
    ASSERT_TRUE(st) << st.toString();
    EXPECT_EQ(packed, (*m)->activationBytesHeld()) << "T=" << T;
    st = (*m)->forward(b.view());
    ASSERT_TRUE(st) << st.toString();
    EXPECT_EQ(memsize::activationBytes(cfg, B, T, 4),
              (*m)->activationBytesHeld());
    (*m)->releaseWorkspaces();
  }
}

/// generate()'s transient bytes: the last hidden rows, the logits and,
/// where this CPU's kernels read decode weights packed, the packed copies
/// (Transformer::decodePackElems). The plan counts the copies on every CPU
/// (fp32 GPT-2, matrices of 2^18 or more elements, at most 128 rows).
TEST(MemorySizes, GenerateTransientCountsThePackedWeights) {
  ModelConfig cfg = families()[0];
  ASSERT_EQ(cfg.family, ModelFamily::GPT2);
  cfg.dModel = 256;
  cfg.dFf = 1024;
  cfg.nHeads = cfg.nKvHeads = 4;
  cfg.nLayers = 3;
  cfg.maxSeqLen = 16;
  auto k = makeCpuKernels<float>();
  auto m = Transformer<float>::create(cfg, k.get());
  ASSERT_TRUE(m);
  const int64_t V = cfg.vocabSize, D = cfg.dModel;
  auto base = [&](int64_t rows) {
    return (rows * D * 4 + 63) / 64 * 64 + (rows * V * 4 + 63) / 64 * 64;
  };
  // fc [256, 1024] and proj [1024, 256] per layer; qkv and out are smaller
  // than 2^18 elements.
  const int64_t pack = 3 * 2 * 256 * 1024 * 4;
  EXPECT_EQ(memsize::generateTransientBytes(cfg, 64, 4), base(64) + pack);
  EXPECT_EQ(memsize::generateTransientBytes(cfg, 129, 4), base(129));
  const int64_t held = (*m)->decodePackElems(64) * 4;
  EXPECT_TRUE(held == 0 || held == pack) << held;
  EXPECT_EQ((*m)->decodePackElems(129), 0);
  ModelConfig small = families()[0]; // nothing to pack
  EXPECT_EQ(memsize::generateTransientBytes(small, 8, 4),
            (8 * small.dModel * 4 + 63) / 64 * 64 +
                (8 * small.vocabSize * 4 + 63) / 64 * 64);
}

TEST(MemorySizes, GenerationMatchesTheRuntime) {
  for (const ModelConfig &cfg : families()) {
    if (cfg.head != HeadKind::LM)
      continue;
    for (int64_t samples : {1, 3}) {
      auto k = makeCpuKernels<float>();
      auto m = Transformer<float>::create(cfg, k.get());
      ASSERT_TRUE(m);
      randomizeParams(**m, 3, 0.4);
      std::vector<std::vector<int32_t>> prompts = {{1, 2, 3}, {4, 5}};
      SamplingConfig sc;
      sc.samplesPerPrompt = samples;
      sc.maxNewTokens = 4;
      sc.seed = 7;
      auto r = generate(**m, prompts, sc);
      ASSERT_TRUE(r) << r.status().toString();
      int64_t rows = 2 * samples;
      int64_t cacheLen = std::min<int64_t>(cfg.maxSeqLen, 3 + 4);
      EXPECT_EQ(memsize::kvCacheBytes(cfg, rows, cacheLen, 4),
                (*m)->kvCacheBytesHeld());
      EXPECT_EQ(memsize::decodeWorkspaceBytes(cfg, 2, 3, rows, 4),
                (*m)->decodeWorkspaceBytesHeld())
          << "samples=" << samples;
    }
  }
}

TEST(MemorySizes, LoraMatchesTheRuntime) {
  // Adapters (weights, gradients, scratch), their moments, and the
  // activations and decode workspace of a LoRA model, for several target
  // sets: what hone-plan-memory plans for hone.model.lora.
  const std::vector<std::vector<std::string>> targetSets = {
      {"q_proj", "v_proj"},
      {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
       "down_proj"},
      {"down_proj"},
      {"o_proj", "up_proj"}};
  for (const ModelConfig &cfg : {tinyLlama(), tinyQwen3(), tinyQwen2()})
    for (const std::vector<std::string> &targets : targetSets)
      for (auto [rank, dropout] : {std::pair<int64_t, double>{1, 0.0},
                                   {4, 0.0},
                                   {4, 0.25}}) {
        LoraConfig lc;
        lc.rank = rank;
        lc.alpha = 8;
        lc.dropout = dropout;
        lc.targets = targets;
        memsize::LoraShape shape{rank, targets, dropout > 0};
        auto k = makeCpuKernels<float>();
        auto m = Transformer<float>::create(cfg, k.get());
        ASSERT_TRUE(m);
        ASSERT_TRUE((*m)->addLora(lc, 3));
        EXPECT_EQ(memsize::loraParameters(cfg, shape, 4), (*m)->numTrainable());
        EXPECT_EQ(memsize::loraBytes(cfg, shape, 4), (*m)->loraBytesHeld());
        EXPECT_EQ(memsize::loraOptimizerBytes(cfg, shape, 4),
                  2 * memsize::allocation((*m)->numTrainable() * 4));
        EXPECT_EQ((*m)->gradientBytesHeld(), 0); // the base is frozen
        const int64_t B = 3, T = std::min<int64_t>(7, cfg.maxSeqLen);
        EXPECT_EQ(memsize::activationBytes(cfg, B, T, 4, &shape),
                  (*m)->workspaceBytes(B, T));
        std::vector<int32_t> lengths(static_cast<size_t>(B),
                                     static_cast<int32_t>(T));
        Batch b = randomBatch(cfg.vocabSize, lengths, T, 5);
        ASSERT_TRUE((*m)->forward(b.view()));
        EXPECT_EQ(memsize::activationBytes(cfg, B, T, 4, &shape),
                  (*m)->activationBytesHeld());
        std::vector<std::vector<int32_t>> prompts = {{1, 2, 3}, {4, 5}};
        SamplingConfig sc;
        sc.samplesPerPrompt = 2;
        sc.maxNewTokens = 3;
        sc.seed = 7;
        ASSERT_TRUE(generate(**m, prompts, sc));
        EXPECT_EQ(memsize::decodeWorkspaceBytes(cfg, 2, 3, 4, 4, &shape),
                  (*m)->decodeWorkspaceBytesHeld());
      }
}

TEST(MemorySizes, GradientsComeWithTheFirstBackwardAndGoWhenReleased) {
  // hone-plan-memory plans a model's gradients only in the stages that
  // train it: the runtime allocates them at the first backward and the job
  // frees them at each stage end (Transformer::releaseGradients).
  const ModelConfig cfg = tinyLlama();
  auto k = makeCpuKernels<float>();
  auto m = Transformer<float>::create(cfg, k.get());
  ASSERT_TRUE(m);
  EXPECT_EQ((*m)->gradientBytesHeld(), 0);
  (*m)->zeroGrad();
  EXPECT_EQ((*m)->gradientBytesHeld(), memsize::parameterBytes(cfg, 4));
  (*m)->releaseGradients();
  EXPECT_EQ((*m)->gradientBytesHeld(), 0);
  EXPECT_EQ((*m)->gradData(), nullptr);
}

TEST(MemorySizes, LmHeadScratchIsChunked) {
  // Vocabulary chunks of at most 4096 columns and row blocks of 1024: the
  // scratch never holds [rows, vocab] logits whole.
  EXPECT_EQ(memsize::lmHeadScratchBytes(8, 16, 4), 8 * 16 * 4);
  EXPECT_EQ(memsize::lmHeadScratchBytes(4096, 151936, 4), 1024 * 2048 * 4);
  EXPECT_LT(memsize::lmHeadScratchBytes(100000, 151936, 4),
            int64_t(100000) * 151936 * 4 / 100);
}

} // namespace
