// The fused LM head's chunk of logits in a block the job hands the CPU
// kernels (setCpuLmHeadScratch: the memory plan's lm_head_scratch slot in
// the job's arena): the forward and backward give the same bits as kernels
// with their own scratch, the block is where the logits went, a block too
// small for a chunk is left alone (the kernels use their own vector), and
// kernels of another backend refuse the block.
#include "kernels/cpu/CpuKernels.h"
#include "kernels/cpu/LmHeadScratch.h"
#include "test/unit/model/ModelTestUtil.h" // randomVector

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

using namespace hone;
using hone::test::randomVector;

namespace {

struct HeadOut {
  std::vector<float> logprob, entropy, lse, dhidden, dW;
};

HeadOut lmHead(Kernels<float> &k, const LmHeadShape &s) {
  auto hidden = randomVector<float>(size_t(s.rows * s.dModel), 1, 0);
  auto W = randomVector<float>(size_t(s.vocab * s.dModel), 2, 0);
  auto dlp = randomVector<float>(size_t(s.rows), 3, 0);
  auto dent = randomVector<float>(size_t(s.rows), 4, 0);
  std::vector<int32_t> targets(size_t(s.rows));
  for (int64_t r = 0; r < s.rows; ++r)
    targets[size_t(r)] = r % 7 == 3 ? -1 : int32_t((r * 37) % s.vocab);
  HeadOut o;
  o.logprob.resize(size_t(s.rows));
  o.entropy.resize(size_t(s.rows));
  o.lse.resize(size_t(s.rows));
  o.dhidden.assign(size_t(s.rows * s.dModel), 0.f);
  o.dW.assign(size_t(s.vocab * s.dModel), 0.f);
  k.lmHeadFwd(hidden.data(), W.data(), targets.data(), s, o.logprob.data(),
              o.entropy.data(), o.lse.data());
  k.lmHeadBwd(hidden.data(), W.data(), targets.data(), s, o.lse.data(),
              o.entropy.data(), dlp.data(), dent.data(), o.dhidden.data(),
              o.dW.data());
  return o;
}

bool sameBits(const std::vector<float> &a, const std::vector<float> &b) {
  return a.size() == b.size() &&
         std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

void expectSame(const HeadOut &a, const HeadOut &b) {
  EXPECT_TRUE(sameBits(a.logprob, b.logprob));
  EXPECT_TRUE(sameBits(a.entropy, b.entropy));
  EXPECT_TRUE(sameBits(a.lse, b.lse));
  EXPECT_TRUE(sameBits(a.dhidden, b.dhidden));
  EXPECT_TRUE(sameBits(a.dW, b.dW));
}

std::shared_ptr<void> nanBlock(int64_t elems) {
  std::shared_ptr<float> p(new float[size_t(elems)],
                           std::default_delete<float[]>());
  for (int64_t i = 0; i < elems; ++i)
    p.get()[i] = NAN;
  return p;
}

int64_t written(const void *block, int64_t elems) {
  const float *f = static_cast<const float *>(block);
  int64_t n = 0;
  for (int64_t i = 0; i < elems; ++i)
    n += !std::isnan(f[i]);
  return n;
}

// 40 rows x 1000 tokens: chunks of 1000 columns (vocabChunk caps at the
// vocabulary), 40,000 floats.
const LmHeadShape kShape{40, 24, 1000, 1.0};
constexpr int64_t kChunk = 40 * 1000;

TEST(LmHeadScratch, PlannedBlockHoldsTheLogitsWithTheSameResults) {
  auto own = makeCpuKernels<float>();
  auto given = makeCpuKernels<float>();
  auto block = nanBlock(kChunk);
  ASSERT_TRUE(setCpuLmHeadScratch(given.get(), block, kChunk));
  HeadOut a = lmHead(*own, kShape), b = lmHead(*given, kShape);
  expectSame(a, b);
  // The logits (then their gradients) of the chunk went to the block.
  EXPECT_EQ(written(block.get(), kChunk), kChunk);
}

TEST(LmHeadScratch, BlockTooSmallIsLeftAlone) {
  auto own = makeCpuKernels<float>();
  auto given = makeCpuKernels<float>();
  auto block = nanBlock(kChunk - 1);
  ASSERT_TRUE(setCpuLmHeadScratch(given.get(), block, kChunk - 1));
  HeadOut a = lmHead(*own, kShape), b = lmHead(*given, kShape);
  expectSame(a, b);
  EXPECT_EQ(written(block.get(), kChunk - 1), 0);
  // Taken back (null): the kernels' own vector again.
  ASSERT_TRUE(setCpuLmHeadScratch(given.get(), nullptr, 0));
  expectSame(a, lmHead(*given, kShape));
}

TEST(LmHeadScratch, OnlyCpuKernelsTakeABlock) {
  EXPECT_FALSE(setCpuLmHeadScratch(nullptr, nanBlock(4), 4));
}

} // namespace
