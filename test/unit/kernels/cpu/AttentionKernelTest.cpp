// The CPU attention kernels (training forward and backward) against a plain
// float64 reference written out here: padded and packed batches, MHA and
// GQA, the head dims of the direct small-head loops (16, 32, 64) and one
// the BLAS path takes (8), sequence lengths that are not a multiple of the
// four-row blocks, and past the BLAS path's 128-row triangle blocks; one
// and two threads bit-identical.
#include "kernels/cpu/CpuKernels.h"
#include "test/unit/model/ModelTestUtil.h" // randomVector

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

using namespace hone;
using hone::test::randomVector;

namespace {

struct Case {
  int64_t batch, seqLen, nHeads, nKvHeads, hd;
  std::vector<int32_t> lengths; // packed when not empty
};

/// Reference forward and backward of one case in float64: probabilities
/// (padded layout [batch, heads, T, T]; packed, each sequence's heads'
/// len x len blocks one after another), output and dqkv for the upstream
/// gradient dout.
struct Reference {
  std::vector<double> probs, out, dqkv;
};

Reference reference(const Case &c, const AttentionShape &s,
                    const std::vector<double> &qkv,
                    const std::vector<double> &dout) {
  const int64_t ld = s.qkvStride(), ldo = c.nHeads * c.hd, hd = c.hd;
  const int64_t group = c.nHeads / c.nKvHeads, Tn = c.seqLen;
  const double scale = 1 / std::sqrt(double(hd));
  Reference r;
  const int64_t rows = s.firstRow(c.batch - 1) + s.lenOf(c.batch - 1);
  const bool packed = !c.lengths.empty();
  int64_t probs = c.batch * c.nHeads * Tn * Tn;
  if (packed) {
    probs = 0;
    for (int32_t l : c.lengths)
      probs += c.nHeads * int64_t(l) * l;
  }
  r.probs.assign(size_t(probs), 0);
  r.out.assign(size_t(rows * ldo), 0);
  r.dqkv.assign(size_t(rows * ld), 0);
  int64_t pNext = 0; // the next sequence's first probability
  for (int64_t b = 0; b < c.batch; ++b) {
    const int64_t r0 = s.firstRow(b), n = s.lenOf(b);
    const int64_t Tp = packed ? n : Tn; // row stride of its probabilities
    const int64_t p0 = pNext;
    pNext += c.nHeads * Tp * Tp;
    for (int64_t h = 0; h < c.nHeads; ++h) {
      const int64_t kvh = h / group;
      auto Q = [&](int64_t i, int64_t d) {
        return qkv[size_t((r0 + i) * ld + h * hd + d)];
      };
      auto K = [&](int64_t i, int64_t d) {
        return qkv[size_t((r0 + i) * ld + (c.nHeads + kvh) * hd + d)];
      };
      auto V = [&](int64_t i, int64_t d) {
        return qkv[size_t((r0 + i) * ld + (c.nHeads + c.nKvHeads + kvh) * hd +
                          d)];
      };
      double *P = r.probs.data() + p0 + h * Tp * Tp;
      for (int64_t i = 0; i < n; ++i) {
        double m = -1e300;
        for (int64_t j = 0; j <= i; ++j) {
          double v = 0;
          for (int64_t d = 0; d < hd; ++d)
            v += Q(i, d) * K(j, d);
          P[i * Tp + j] = v * scale;
          m = std::max(m, v * scale);
        }
        double sum = 0;
        for (int64_t j = 0; j <= i; ++j)
          sum += P[i * Tp + j] = std::exp(P[i * Tp + j] - m);
        for (int64_t j = 0; j <= i; ++j)
          P[i * Tp + j] /= sum;
        for (int64_t d = 0; d < hd; ++d) {
          double o = 0;
          for (int64_t j = 0; j <= i; ++j)
            o += P[i * Tp + j] * V(j, d);
          r.out[size_t((r0 + i) * ldo + h * hd + d)] = o;
        }
      }
      auto dO = [&](int64_t i, int64_t d) {
        return dout[size_t((r0 + i) * ldo + h * hd + d)];
      };
      auto dq = [&](int64_t i, int64_t col) -> double & {
        return r.dqkv[size_t((r0 + i) * ld + col)];
      };
      for (int64_t i = 0; i < n; ++i) {
        std::vector<double> dS(size_t(i + 1));
        double dot = 0;
        for (int64_t j = 0; j <= i; ++j) {
          double dp = 0;
          for (int64_t d = 0; d < hd; ++d)
            dp += dO(i, d) * V(j, d);
          dS[size_t(j)] = dp;
          dot += P[i * Tp + j] * dp;
        }
        for (int64_t j = 0; j <= i; ++j) {
          const double p = P[i * Tp + j], ds = p * (dS[size_t(j)] - dot);
          for (int64_t d = 0; d < hd; ++d) {
            dq(j, (c.nHeads + c.nKvHeads + kvh) * hd + d) += p * dO(i, d);
            dq(i, h * hd + d) += scale * ds * K(j, d);
            dq(j, (c.nHeads + kvh) * hd + d) += scale * ds * Q(i, d);
          }
        }
      }
    }
  }
  return r;
}

template <typename T> void checkCase(const Case &c, double tol) {
  auto k = makeCpuKernels<T>();
  AttentionShape s;
  s.batch = c.batch;
  s.seqLen = c.seqLen;
  s.nHeads = c.nHeads;
  s.nKvHeads = c.nKvHeads;
  s.headDim = c.hd;
  std::vector<int32_t> offsets;
  if (!c.lengths.empty()) {
    offsets.push_back(0);
    for (int32_t l : c.lengths)
      offsets.push_back(offsets.back() + l);
    s.offsets = offsets.data();
  }
  const int64_t ld = s.qkvStride(), ldo = c.nHeads * c.hd;
  const int64_t rows = s.firstRow(c.batch - 1) + s.lenOf(c.batch - 1);
  auto qkv = randomVector<double>(size_t(rows * ld), 51, 0);
  auto dout = randomVector<double>(size_t(rows * ldo), 52, 0);
  for (auto &v : qkv)
    v *= 2; // scores of a few units: a softmax that is not flat
  std::vector<T> q(qkv.begin(), qkv.end()), g(dout.begin(), dout.end());
  std::vector<double> qd(q.begin(), q.end()), gd(g.begin(), g.end());
  const Reference ref = reference(c, s, qd, gd);

  const int before = cpuThreads();
  std::vector<T> probs[2], out[2], dqkv[2];
  for (int t = 0; t < 2; ++t) {
    setCpuThreads(t + 1);
    probs[t].assign(ref.probs.size(), T(0));
    out[t].assign(ref.out.size(), T(0));
    dqkv[t].assign(ref.dqkv.size(), T(7)); // overwritten
    k->attentionFwd(q.data(), s, probs[t].data(), out[t].data());
    k->attentionBwd(q.data(), probs[t].data(), g.data(), s, dqkv[t].data());
  }
  setCpuThreads(before);
  const std::string what = "hd " + std::to_string(c.hd) + " T " +
                           std::to_string(c.seqLen) + " heads " +
                           std::to_string(c.nHeads) + "/" +
                           std::to_string(c.nKvHeads) +
                           (c.lengths.empty() ? "" : " packed");
  for (auto *v : {&probs, &out, &dqkv})
    EXPECT_EQ(std::memcmp((*v)[0].data(), (*v)[1].data(),
                          (*v)[0].size() * sizeof(T)),
              0)
        << what << ": one and two threads differ";
  auto worst = [](const std::vector<T> &a, const std::vector<double> &b) {
    double w = 0;
    for (size_t i = 0; i < b.size(); ++i)
      w = std::max(w, std::fabs(double(a[i]) - b[i]) / (1 + std::fabs(b[i])));
    return w;
  };
  // Packed batches keep exactly nHeads * sum len^2 probabilities.
  EXPECT_EQ(int64_t(ref.probs.size()),
            c.lengths.empty() ? c.batch * c.nHeads * c.seqLen * c.seqLen
                              : s.probsElems())
      << what;
  EXPECT_LT(worst(probs[0], ref.probs), tol) << what << ": probabilities";
  EXPECT_LT(worst(out[0], ref.out), tol) << what << ": output";
  EXPECT_LT(worst(dqkv[0], ref.dqkv), tol) << what << ": dqkv";
}

const std::vector<Case> &cases() {
  static const std::vector<Case> c = {
      {3, 29, 4, 4, 16, {}},         // the README model's rollouts
      {3, 29, 4, 4, 16, {5, 29, 1}}, // packed, lengths 1 and 5
      {2, 22, 4, 2, 32, {}},         // GQA
      {2, 37, 2, 1, 64, {}},         // MQA, head dim 64
      {2, 19, 2, 2, 8, {}},          // head dim 8: the BLAS path
      {1, 150, 2, 2, 16, {}},        // longer than the direct loops take
      // The BLAS path's 128-row triangle blocks, GQA heads accumulating
      // dK/dV block by block, packed lengths past one block.
      {2, 140, 4, 2, 8, {131, 140}},
  };
  return c;
}

TEST(AttentionKernels, MatchFloat64ReferenceFloat64) {
  for (const Case &c : cases())
    checkCase<double>(c, 1e-12);
}

TEST(AttentionKernels, MatchFloat64ReferenceFloat32) {
  for (const Case &c : cases())
    checkCase<float>(c, 2e-5);
}

} // namespace
