// A training step with bf16 GEMMs on the CPU (hardware.precision bf16):
// weights and gradients fp32 in memory, GEMM inputs rounded to bf16. Skipped
// where this CPU has neither AVX-512 BF16 nor AMX (or no oneDNN). The GEMM
// itself is checked in test/unit/kernels/cpu/Bf16GemmTest.cpp.
//
// Tolerances (docs/job.md, "CPU precision"): a training step's gradients
// stay within a relative distance of 5e-2 (cosine >= 0.998) of the fp32
// step's, its log-probs within 5e-2 absolute.
#include "ModelTestUtil.h"

#include <cstring>

using namespace hone;
using namespace hone::test;

/// A training step (forward, backward) with bf16 GEMMs against the fp32
/// step, on a model large enough that its GEMMs are sliced over two
/// threads; the bf16 gradients are bit-identical across thread counts.
/// Sequences of `T` positions: up to 128 the attention (head dim 32) takes
/// the direct fp32 loops, beyond it the row-blocked products, which run in
/// bf16 under bf16 compute (kernels/cpu/Gemm.h, attnGemm).
static void checkTrainingStepCloseToFp32(int64_t T,
                                         std::vector<int32_t> lengths) {
  ModelConfig cfg = tinyGpt2();
  cfg.vocabSize = 2000;
  cfg.dModel = 128;
  cfg.nHeads = 4;
  cfg.nKvHeads = 4;
  cfg.dFf = 512;
  cfg.maxSeqLen = T;
  auto k = makeCpuKernels<float>();
  auto m = Transformer<float>::create(cfg, k.get());
  ASSERT_TRUE(m);
  (*m)->initRandom(5, 0.05);
  Batch b = randomBatch(cfg.vocabSize, lengths, T, 4);
  auto c = randomVector<float>(size_t(b.B * b.T), 6, 0);
  std::vector<float> lp;
  auto run = [&](bool bf16, int threads) {
    setCpuBf16Gemm(bf16);
    setCpuThreads(threads);
    (*m)->zeroGrad();
    EXPECT_TRUE((*m)->forward(b.view()));
    lp.assign((*m)->logprobs(), (*m)->logprobs() + b.B * b.T);
    OutputGrads<float> g;
    g.dlogprob = c.data();
    EXPECT_TRUE((*m)->backward(g));
    return std::vector<float>((*m)->gradData(),
                              (*m)->gradData() + (*m)->numParams());
  };
  Bf16Scope scope;
  auto g32 = run(false, 2);
  auto lp32 = lp;
  auto g16a = run(true, 1);
  auto lp16 = lp;
  auto g16b = run(true, 2);
  EXPECT_EQ(std::memcmp(g16a.data(), g16b.data(), g16a.size() * 4), 0);
  double dot = 0, n32 = 0, n16 = 0, diff = 0;
  for (size_t i = 0; i < g32.size(); ++i) {
    dot += double(g32[i]) * g16a[i];
    n32 += double(g32[i]) * g32[i];
    n16 += double(g16a[i]) * g16a[i];
    diff += (double(g32[i]) - g16a[i]) * (double(g32[i]) - g16a[i]);
  }
  EXPECT_GE(dot / std::sqrt(n32 * n16), 0.998);
  EXPECT_LE(std::sqrt(diff / n32), 5e-2);
  EXPECT_GT(diff, 0.0); // bf16 really ran
  double worstLp = 0;
  for (int64_t r = 0; r < b.B; ++r)
    for (int64_t t = 1; t < b.lengths[size_t(r)]; ++t) {
      size_t i = size_t(r * b.T + t);
      worstLp = std::max(worstLp, std::fabs(double(lp32[i]) - lp16[i]));
    }
  EXPECT_LE(worstLp, 5e-2);
}

TEST(Bf16, TrainingStepCloseToFp32) {
  SKIP_WITHOUT_BF16();
  checkTrainingStepCloseToFp32(64, {64, 40, 64, 64});
}

TEST(Bf16, TrainingStepWithBlockedAttentionCloseToFp32) {
  SKIP_WITHOUT_BF16();
  checkTrainingStepCloseToFp32(200, {200, 150, 200, 90});
}
