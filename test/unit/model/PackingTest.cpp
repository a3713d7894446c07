// Packed (padding-free) forwards (ForwardOptions::pack, docs/runtime.md):
// the rows run as one stream with per-sequence positions and
// block-diagonal causal attention. For every family (GPT-2's learned
// positions, the rope families with Llama 3.1 scaling, Qwen3's q/k norms),
// LM and scalar heads:
// - per-token log-probs, entropies, values and rewards equal the padded
//   forward's (float64 to 1e-12, float32 to 1e-5), with 0 at padding;
// - parameter gradients equal the padded backward's, and ignore upstream
//   gradients at padding positions;
// - the packed gradient matches float64 central finite differences.
#include "ModelTestUtil.h"

#include <cmath>

using namespace hone;
using namespace hone::test;

namespace {

const std::vector<int32_t> kLengths = {5, 3, 8, 1, 4};
constexpr int64_t kT = 8;

struct Outputs {
  std::vector<std::vector<double>> perToken; // [output][b * T + t], all t
  std::vector<double> rewards;
  std::vector<double> grad;
  int64_t rows = 0;
};

/// Upstream gradient at (b, t): nonzero on real tokens; `padGarbage` puts
/// values at the padding positions too (a packed backward must ignore them).
template <typename T> std::vector<T> upstream(bool padGarbage) {
  std::vector<T> up(size_t(kLengths.size()) * kT, T(0));
  for (size_t b = 0; b < kLengths.size(); ++b)
    for (int64_t t = 0; t < kT; ++t)
      if (t < kLengths[b] || padGarbage)
        up[b * kT + size_t(t)] =
            T(t < kLengths[b] ? 0.1 * double(1 + b) - 0.03 * double(t) : 7.0);
  return up;
}

template <typename T>
Outputs run(const ModelConfig &cfg, bool pack, bool padGarbage = false) {
  auto k = makeCpuKernels<T>();
  auto mOr = Transformer<T>::create(cfg, k.get());
  EXPECT_TRUE(mOr) << mOr.status().toString();
  auto &m = **mOr;
  randomizeParams(m, 23);
  Batch b = randomBatch(cfg.vocabSize, kLengths, kT, 7);
  for (auto &t : b.tokens) // padding holds valid ids: it must not matter
    if (t < 0)
      t = 1;
  ForwardOptions o;
  o.pack = pack;
  Status s = m.forward(b.view(), o);
  EXPECT_TRUE(s) << s.toString();
  const int64_t n = b.B * b.T;
  Outputs out;
  out.rows = m.rowsRun();
  auto host = [&](const T *p) {
    std::vector<T> h = m.toHost(p, n);
    return std::vector<double>(h.begin(), h.end());
  };
  std::vector<T> up = upstream<T>(padGarbage);
  std::vector<T> dr(size_t(b.B));
  for (size_t i = 0; i < dr.size(); ++i)
    dr[i] = T(0.5 - 0.2 * double(i));
  OutputGrads<T> g;
  if (cfg.head == HeadKind::LM) {
    out.perToken = {host(m.logprobs()), host(m.entropy())};
    g.dlogprob = up.data();
    g.dentropy = up.data();
  } else {
    out.perToken = {host(m.values())};
    std::vector<T> r = m.toHost(m.rewards(), b.B);
    out.rewards.assign(r.begin(), r.end());
    g.dvalue = up.data();
    g.dreward = dr.data();
  }
  m.zeroGrad();
  s = m.backward(g);
  EXPECT_TRUE(s) << s.toString();
  std::vector<T> gr = m.toHost(m.gradData(), m.numParams());
  out.grad.assign(gr.begin(), gr.end());
  return out;
}

template <typename T> void checkPacking(const ModelConfig &cfg, double tol) {
  Outputs padded = run<T>(cfg, false), packed = run<T>(cfg, true);
  int64_t real = 0;
  for (int32_t l : kLengths)
    real += l;
  EXPECT_EQ(padded.rows, int64_t(kLengths.size()) * kT);
  EXPECT_EQ(packed.rows, real);
  ASSERT_EQ(padded.perToken.size(), packed.perToken.size());
  for (size_t o = 0; o < padded.perToken.size(); ++o)
    for (size_t b = 0; b < kLengths.size(); ++b)
      for (int64_t t = 0; t < kT; ++t) {
        size_t i = b * kT + size_t(t);
        if (t < kLengths[b])
          EXPECT_NEAR(packed.perToken[o][i], padded.perToken[o][i],
                      tol * (1 + std::abs(padded.perToken[o][i])))
              << "output " << o << " row " << b << " position " << t;
        else
          EXPECT_EQ(packed.perToken[o][i], 0.0)
              << "padding, output " << o << " row " << b << " position " << t;
      }
  ASSERT_EQ(padded.rewards.size(), packed.rewards.size());
  for (size_t i = 0; i < padded.rewards.size(); ++i)
    EXPECT_NEAR(packed.rewards[i], padded.rewards[i],
                tol * (1 + std::abs(padded.rewards[i])));
  ASSERT_EQ(padded.grad.size(), packed.grad.size());
  double worst = 0, scale = 0;
  for (size_t i = 0; i < padded.grad.size(); ++i) {
    worst = std::max(worst, std::abs(packed.grad[i] - padded.grad[i]));
    scale = std::max(scale, std::abs(padded.grad[i]));
  }
  EXPECT_GT(scale, 0.0);
  EXPECT_LE(worst, tol * scale);
  // Upstream gradients at padding positions do not reach a packed model.
  Outputs garbage = run<T>(cfg, true, true);
  EXPECT_EQ(garbage.grad, packed.grad);
}

struct Family {
  const char *name;
  ModelConfig (*make)(HeadKind);
};

const Family kFamilies[] = {{"gpt2", tinyGpt2},
                            {"qwen2", tinyQwen2},
                            {"llama", tinyLlama},
                            {"qwen3", tinyQwen3},
                            {"llama3", tinyLlama3}};

TEST(PackedSequences, SameTokensAndGradientsAsPaddedFloat64) {
  for (const Family &f : kFamilies)
    for (HeadKind h : {HeadKind::LM, HeadKind::Scalar}) {
      SCOPED_TRACE(std::string(f.name) +
                   (h == HeadKind::LM ? " lm" : " scalar"));
      checkPacking<double>(f.make(h), 1e-12);
    }
}

TEST(PackedSequences, SameTokensAndGradientsAsPaddedFloat32) {
  for (const Family &f : kFamilies)
    for (HeadKind h : {HeadKind::LM, HeadKind::Scalar}) {
      SCOPED_TRACE(std::string(f.name) +
                   (h == HeadKind::LM ? " lm" : " scalar"));
      checkPacking<float>(f.make(h), 2e-5);
    }
}

/// The packed backward against float64 central finite differences of
/// L = sum c*logprob + sum e*entropy (or values and rewards), a few entries
/// of every parameter tensor.
TEST(PackedSequences, GradientMatchesFiniteDifferences) {
  for (const Family &f : kFamilies)
    for (HeadKind h : {HeadKind::LM, HeadKind::Scalar}) {
      SCOPED_TRACE(std::string(f.name) +
                   (h == HeadKind::LM ? " lm" : " scalar"));
      ModelConfig cfg = f.make(h);
      auto k = makeCpuKernels<double>();
      auto mOr = Transformer<double>::create(cfg, k.get());
      ASSERT_TRUE(mOr);
      auto &m = **mOr;
      randomizeParams(m, 5);
      Batch b = randomBatch(cfg.vocabSize, kLengths, kT, 3);
      for (auto &t : b.tokens)
        if (t < 0)
          t = 2;
      ForwardOptions o;
      o.pack = true;
      std::vector<double> c = upstream<double>(false);
      std::vector<double> r = {0.3, -0.2, 0.5, 0.1, -0.4};
      auto loss = [&]() {
        EXPECT_TRUE(m.forward(b.view(), o));
        double L = 0;
        for (size_t i = 0; i < c.size(); ++i)
          L += h == HeadKind::LM ? c[i] * (m.logprobs()[i] + m.entropy()[i])
                                 : c[i] * m.values()[i];
        if (h == HeadKind::Scalar)
          for (size_t i = 0; i < r.size(); ++i)
            L += r[i] * m.rewards()[i];
        return L;
      };
      m.zeroGrad();
      loss();
      OutputGrads<double> g;
      if (h == HeadKind::LM) {
        g.dlogprob = c.data();
        g.dentropy = c.data();
      } else {
        g.dvalue = c.data();
        g.dreward = r.data();
      }
      ASSERT_TRUE(m.backward(g));
      for (const ParamInfo &p : m.params())
        for (int64_t j = 0; j < p.numel;
             j += std::max<int64_t>(1, p.numel / 5)) {
          double *w = m.param(p) + j, w0 = *w, eps = 1e-5;
          *w = w0 + eps;
          double lp = loss();
          *w = w0 - eps;
          double lm = loss();
          *w = w0;
          double fd = (lp - lm) / (2 * eps), an = m.grad(p)[j];
          EXPECT_NEAR(an, fd, 1e-7 * (1 + std::abs(fd)))
              << p.name << "[" << j << "]";
        }
    }
}

/// The work counts the job's report reads (Transformer::WorkDone): a
/// packed forward runs sum(len) rows and sum(len^2) attention pairs, a
/// padded one B*T and B*T^2; a backward counts its forward's; an
/// incremental forward its new rows and the positions they attend; FLOPs
/// by the compiler's estimate (2 per parameter and row, 4 x layers x
/// heads x headDim per pair, a backward twice its forward).
TEST(PackedSequences, WorkCounts) {
  ModelConfig cfg = kFamilies[1].make(HeadKind::LM);
  auto k = makeCpuKernels<float>();
  auto mOr = Transformer<float>::create(cfg, k.get());
  ASSERT_TRUE(mOr);
  auto &m = **mOr;
  randomizeParams(m, 4);
  Batch b = randomBatch(cfg.vocabSize, kLengths, kT, 9);
  for (auto &t : b.tokens)
    if (t < 0)
      t = 1;
  ForwardOptions o;
  o.pack = true;
  ASSERT_TRUE(m.forward(b.view(), o));
  double sum = 0, sq = 0;
  for (int32_t l : kLengths)
    sum += l, sq += double(l) * l;
  Transformer<float>::WorkDone w = m.workDone();
  EXPECT_EQ(w.forwards, 1u);
  EXPECT_EQ(w.backwards, 0u);
  EXPECT_EQ(w.rows, sum);
  EXPECT_EQ(w.squares, sq);
  m.zeroGrad();
  std::vector<float> up = upstream<float>(false);
  OutputGrads<float> g;
  g.dlogprob = up.data();
  ASSERT_TRUE(m.backward(g));
  ASSERT_TRUE(m.forward(b.view())); // padded
  const double B = double(kLengths.size());
  w = m.workDone();
  EXPECT_EQ(w.forwards, 2u);
  EXPECT_EQ(w.backwards, 1u);
  EXPECT_EQ(w.rows, sum + B * kT);
  EXPECT_EQ(w.squares, sq + B * kT * kT);
  EXPECT_EQ(w.backwardRows, sum);
  EXPECT_EQ(w.backwardSquares, sq);
  auto cache = m.makeKvCache(2, kT);
  ASSERT_TRUE(cache);
  std::vector<int32_t> tok = {1, 2, 3, 4, 5, 6}, start = {0, 2};
  ASSERT_TRUE(m.forwardCached(*cache, tok.data(), start.data(), 2, 3));
  w = m.workDone();
  EXPECT_EQ(w.cachedRows, 6);
  EXPECT_EQ(w.cachedAttended, (1 + 2 + 3) + (3 + 4 + 5));
  const double perPair = 4.0 * double(cfg.nLayers) * double(cfg.nHeads) *
                         double(cfg.headDim());
  const double rows = sum + B * kT + 2 * sum + 6;
  const double pairs = sq + B * kT * kT + 2 * sq + 18;
  EXPECT_DOUBLE_EQ(m.flopsOf(w), 2.0 * double(m.numParams()) * rows +
                                     perPair * pairs);
}

} // namespace
