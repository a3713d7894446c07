// The LM head's logits kept from the forward for the backward (lmHeadFwd's
// `keep`, lmHeadBwd's `kept`: Transformer::setKeepLogits): log-probs,
// entropies, dhidden and dW are bit-identical to the recomputing backward,
// in float and float64, over more rows than the kernel's row block (1024,
// so the row blocks loop) and a vocabulary that is not a multiple of the
// chunk, with ignored targets (-1), entropy and dentropy, a temperature,
// and a bf16 head; the kept block is filled whole, each element the logit
// the kernel's layout names (checked against a float64 product), and a
// backward reading another chunk's logits (a planted fault) would differ.
#include "kernels/cpu/CpuKernels.h"
#include "test/unit/model/ModelTestUtil.h" // randomVector

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

using namespace hone;
using hone::test::randomVector;

namespace {

// 1100 rows: row blocks of 1024 and 76; vocabulary 4100: chunks of 2048
// (2048, 2048, 4) for the first block and 4096 (4096, 4) for the second.
const LmHeadShape kShape{1100, 12, 4100, 1.0 / 0.7};

template <typename T> struct Head {
  std::vector<T> hidden, W, dlp, dent;
  std::vector<int32_t> targets;
  explicit Head(const LmHeadShape &s) {
    hidden = randomVector<T>(size_t(s.rows * s.dModel), 1, 0);
    W = randomVector<T>(size_t(s.vocab * s.dModel), 2, 0);
    dlp = randomVector<T>(size_t(s.rows), 3, 0);
    dent = randomVector<T>(size_t(s.rows), 4, 0);
    targets.resize(size_t(s.rows));
    for (int64_t r = 0; r < s.rows; ++r)
      targets[size_t(r)] = r % 7 == 3 ? -1 : int32_t((r * 379) % s.vocab);
  }
};

template <typename T> struct Out {
  std::vector<T> logprob, entropy, lse, dhidden, dW, kept;
};

template <typename T> bool sameBits(const std::vector<T> &a, const std::vector<T> &b) {
  return a.size() == b.size() &&
         std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

/// One forward and backward; `keep`: through a kept block (NaN-filled
/// before the forward; what it holds after the forward is returned).
template <typename T>
Out<T> run(Kernels<T> &k, const Head<T> &h, const LmHeadShape &s, bool keep) {
  Out<T> o;
  o.logprob.resize(size_t(s.rows));
  o.entropy.resize(size_t(s.rows));
  o.lse.resize(size_t(s.rows));
  o.dhidden.assign(size_t(s.rows * s.dModel), T(0));
  o.dW.assign(size_t(s.vocab * s.dModel), T(0));
  std::vector<T> block;
  if (keep)
    block.assign(size_t(s.rows * s.vocab),
                 std::numeric_limits<T>::quiet_NaN());
  T *z = keep ? block.data() : nullptr;
  k.lmHeadFwd(h.hidden.data(), h.W.data(), h.targets.data(), s,
              o.logprob.data(), o.entropy.data(), o.lse.data(), z);
  o.kept = block;
  k.lmHeadBwd(h.hidden.data(), h.W.data(), h.targets.data(), s, o.lse.data(),
              o.entropy.data(), h.dlp.data(), h.dent.data(), o.dhidden.data(),
              o.dW.data(), z);
  return o;
}

template <typename T> void expectKeptEqualsRecomputed() {
  auto k = makeCpuKernels<T>();
  ASSERT_TRUE(k->keepsLmLogits());
  const LmHeadShape &s = kShape;
  Head<T> h(s);
  Out<T> re = run(*k, h, s, false), kp = run(*k, h, s, true);
  EXPECT_TRUE(sameBits(re.logprob, kp.logprob));
  EXPECT_TRUE(sameBits(re.entropy, kp.entropy));
  EXPECT_TRUE(sameBits(re.lse, kp.lse));
  EXPECT_TRUE(sameBits(re.dhidden, kp.dhidden));
  EXPECT_TRUE(sameBits(re.dW, kp.dW));
  // Not vacuous: gradients flowed, and ignored rows have none.
  double norm = 0;
  for (T v : kp.dW)
    norm += double(v) * double(v);
  EXPECT_GT(norm, 0.0);
  for (int64_t d = 0; d < s.dModel; ++d)
    EXPECT_EQ(kp.dhidden[size_t(3 * s.dModel + d)], T(0));

  // The kept block: every element written, each the logit the layout
  // names (row block r0 of R rows, chunk v0 of c columns: R x c at
  // r0 * V + R * v0), against a float64 product.
  const int64_t V = s.vocab, D = s.dModel;
  int64_t checked = 0;
  for (T v : kp.kept)
    ASSERT_FALSE(std::isnan(double(v)));
  for (int64_t r0 = 0; r0 < s.rows; r0 += 1024) {
    const int64_t R = std::min<int64_t>(1024, s.rows - r0);
    const int64_t C = R == 1024 ? 2048 : 4096;
    for (int64_t v0 = 0; v0 < V; v0 += C) {
      const int64_t c = std::min(C, V - v0);
      const T *blk = kp.kept.data() + r0 * V + R * v0;
      for (int64_t r : {int64_t(0), R / 2, R - 1})
        for (int64_t j : {int64_t(0), c / 3, c - 1}) {
          double want = 0;
          for (int64_t d = 0; d < D; ++d)
            want += double(h.hidden[size_t((r0 + r) * D + d)]) *
                    double(h.W[size_t((v0 + j) * D + d)]);
          want *= s.invTemperature;
          EXPECT_NEAR(double(blk[r * c + j]), want,
                      (sizeof(T) == 4 ? 1e-4 : 1e-12) * (1 + std::fabs(want)))
              << "row " << r0 + r << " column " << v0 + j;
          ++checked;
        }
    }
  }
  EXPECT_EQ(checked, (3 + 2) * 9); // 3 + 2 chunks, 9 points each
}

TEST(LmHeadKeep, KeptEqualsRecomputedFloat) { expectKeptEqualsRecomputed<float>(); }
TEST(LmHeadKeep, KeptEqualsRecomputedDouble) {
  expectKeptEqualsRecomputed<double>();
}

// A bf16 head (a LoRA model's frozen base): dhidden only, the same bits.
TEST(LmHeadKeep, Bf16HeadKeptEqualsRecomputed) {
  auto k = makeCpuKernels<float>();
  const LmHeadShape &s = kShape;
  Head<float> h(s);
  std::vector<uint16_t> Wb(h.W.size());
  for (size_t i = 0; i < Wb.size(); ++i) {
    uint32_t u;
    std::memcpy(&u, &h.W[i], 4);
    Wb[i] = uint16_t(u >> 16);
  }
  std::vector<float> outs[2][4];
  for (int keep = 0; keep < 2; ++keep) {
    auto &o = outs[keep];
    o[0].resize(size_t(s.rows));
    o[1].resize(size_t(s.rows));
    o[2].resize(size_t(s.rows));
    o[3].assign(size_t(s.rows * s.dModel), 0.f);
    std::vector<float> block(keep ? size_t(s.rows * s.vocab) : 0);
    float *z = keep ? block.data() : nullptr;
    k->lmHeadFwdBf16(h.hidden.data(), Wb.data(), h.targets.data(), s,
                     o[0].data(), o[1].data(), o[2].data(), z);
    k->lmHeadBwdBf16(h.hidden.data(), Wb.data(), h.targets.data(), s,
                     o[2].data(), o[1].data(), h.dlp.data(), h.dent.data(),
                     o[3].data(), z);
  }
  for (int i = 0; i < 4; ++i)
    EXPECT_TRUE(sameBits(outs[0][i], outs[1][i])) << "output " << i;
}

// The test above would see a backward that read the wrong chunk: the
// gradients of a kept block with two chunks swapped differ.
TEST(LmHeadKeep, SwappedChunksChangeTheGradients) {
  auto k = makeCpuKernels<double>();
  const LmHeadShape &s = kShape;
  Head<double> h(s);
  Out<double> re = run(*k, h, s, false);
  std::vector<double> lp(size_t(s.rows)), ent(lp), lse(lp);
  std::vector<double> block(size_t(s.rows * s.vocab));
  k->lmHeadFwd(h.hidden.data(), h.W.data(), h.targets.data(), s, lp.data(),
               ent.data(), lse.data(), block.data());
  // Row block 0's first two chunks (1024 x 2048 each) swapped.
  const size_t n = size_t(1024 * 2048);
  std::swap_ranges(block.begin(), block.begin() + long(n),
                   block.begin() + long(n));
  std::vector<double> dh(size_t(s.rows * s.dModel), 0.0),
      dW(size_t(s.vocab * s.dModel), 0.0);
  k->lmHeadBwd(h.hidden.data(), h.W.data(), h.targets.data(), s, lse.data(),
               ent.data(), h.dlp.data(), h.dent.data(), dh.data(), dW.data(),
               block.data());
  EXPECT_FALSE(sameBits(re.dhidden, dh));
  EXPECT_FALSE(sameBits(re.dW, dW));
}

} // namespace
