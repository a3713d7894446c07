// AdamW against an independent per-element formula, schedules, clipping and
// micro-batch gradient accumulation.
#include "runtime/model/Optimizer.h"
#include <cstring>
#include <memory>
#include "ModelTestUtil.h"
#include "runtime/model/Train.h"

using namespace hone;
using namespace hone::test;

TEST(AdamW, MatchesClosedFormSteps) {
  auto k = makeCpuKernels<double>();
  auto mOr = Transformer<double>::create(tinyGpt2(), k.get());
  ASSERT_TRUE(mOr);
  auto &m = **mOr;
  randomizeParams(m, 1);
  m.zeroGrad(); // gradients come with the first zeroGrad()
  AdamWConfig cfg;
  cfg.lr = 0.01;
  cfg.beta1 = 0.8;
  cfg.beta2 = 0.95;
  cfg.eps = 1e-6;
  cfg.weightDecay = 0.1;
  cfg.maxGradNorm = 0.5;
  AdamW<double> opt(m, cfg);
  const int64_t n = m.numParams();
  std::vector<double> p(m.paramData(), m.paramData() + n), mm(size_t(n), 0),
      vv(size_t(n), 0);
  // The flat buffer pads tensors to 64 bytes; padding is not a parameter.
  std::vector<char> decay(size_t(n), 0), used(size_t(n), 0);
  for (const ParamInfo &pi : m.params())
    for (int64_t j = 0; j < pi.numel; ++j) {
      decay[size_t(pi.offset + j)] = pi.decay;
      used[size_t(pi.offset + j)] = 1;
    }
  for (int t = 1; t <= 3; ++t) {
    auto g = randomVector<double>(size_t(n), 4, uint32_t(t));
    for (int64_t i = 0; i < n; ++i)
      g[size_t(i)] *= used[size_t(i)];
    std::copy(g.begin(), g.end(), m.gradData());
    double norm = 0;
    for (double x : g)
      norm += x * x;
    norm = std::sqrt(norm);
    double clip = norm > 0.5 ? 0.5 / (norm + 1e-6) : 1.0;
    auto st = opt.step();
    ASSERT_TRUE(st);
    EXPECT_NEAR(st->gradNorm, norm, 1e-12 * norm);
    EXPECT_EQ(st->step, t);
    for (int64_t i = 0; i < n; ++i) {
      if (!used[size_t(i)])
        continue;
      double gi = g[size_t(i)] * clip;
      mm[size_t(i)] = 0.8 * mm[size_t(i)] + 0.2 * gi;
      vv[size_t(i)] = 0.95 * vv[size_t(i)] + 0.05 * gi * gi;
      double mh = mm[size_t(i)] / (1 - std::pow(0.8, t));
      double vh = vv[size_t(i)] / (1 - std::pow(0.95, t));
      double wd = decay[size_t(i)] ? 0.1 : 0.0;
      p[size_t(i)] = p[size_t(i)] - 0.01 * wd * p[size_t(i)] -
                     0.01 * mh / (std::sqrt(vh) + 1e-6);
    }
    double worst = 0;
    for (int64_t i = 0; i < n; ++i)
      worst = std::max(worst, std::abs(p[size_t(i)] - m.paramData()[i]));
    EXPECT_LT(worst, 1e-12) << "step " << t;
  }
  // Non-finite gradients: an error, and the parameters stay as they were.
  std::vector<double> before(m.paramData(), m.paramData() + n);
  m.gradData()[3] = NAN;
  EXPECT_FALSE(opt.step());
  EXPECT_EQ(std::vector<double>(m.paramData(), m.paramData() + n), before);
  EXPECT_EQ(opt.stepCount(), 3);
  // step(true) updates exactly like step() and clears the gradients.
  m.gradData()[3] = 0.5;
  auto st = opt.step(/*zeroGrads=*/true);
  ASSERT_TRUE(st);
  for (int64_t i = 0; i < n; ++i)
    ASSERT_EQ(m.gradData()[i], 0.0) << i;
}

// The runtime's train step hands AdamW the gradients' sum of squares it
// computed for its finite check: the update must be the one step() makes
// reading the gradients itself, bit for bit (float, the CPU kernels), and a
// different sum must change it (the value is used, not ignored).
TEST(AdamW, GivenSumOfSquaresUpdatesBitIdentically) {
  auto k = makeCpuKernels<float>();
  auto aOr = Transformer<float>::create(tinyGpt2(), k.get());
  auto bOr = Transformer<float>::create(tinyGpt2(), k.get());
  auto cOr = Transformer<float>::create(tinyGpt2(), k.get());
  ASSERT_TRUE(aOr && bOr && cOr);
  Transformer<float> *ms[3] = {aOr->get(), bOr->get(), cOr->get()};
  AdamWConfig cfg;
  cfg.lr = 0.01;
  cfg.weightDecay = 0.1;
  cfg.maxGradNorm = 0.5; // clipping: the norm scales the update
  std::vector<std::unique_ptr<AdamW<float>>> opts;
  for (Transformer<float> *m : ms) {
    randomizeParams(*m, 5);
    m->zeroGrad();
    opts.push_back(std::make_unique<AdamW<float>>(*m, cfg));
  }
  const int64_t n = ms[0]->numTrainable();
  for (int t = 1; t <= 3; ++t) {
    auto g = randomVector<float>(size_t(n), 4, uint32_t(10 + t));
    for (Transformer<float> *m : ms)
      std::copy(g.begin(), g.end(), m->trainableGrad());
    const double sq = k->sumSquares(ms[1]->trainableGrad(), n);
    auto sa = opts[0]->step();
    auto sb = opts[1]->step(false, 0, sq);
    auto sc = opts[2]->step(false, 0, sq * 4);
    ASSERT_TRUE(sa && sb && sc);
    EXPECT_EQ(sa->gradNorm, sb->gradNorm);
    EXPECT_EQ(sc->gradNorm, 2 * sb->gradNorm);
    EXPECT_EQ(0, std::memcmp(ms[0]->trainableData(), ms[1]->trainableData(),
                             size_t(n) * sizeof(float)))
        << "step " << t;
    EXPECT_NE(0, std::memcmp(ms[0]->trainableData(), ms[2]->trainableData(),
                             size_t(n) * sizeof(float)))
        << "step " << t;
  }
}

TEST(AdamW, Schedules) {
  LrSchedule s;
  s.warmupSteps = 10;
  s.totalSteps = 110;
  EXPECT_DOUBLE_EQ(s.multiplier(1), 0.1);
  EXPECT_DOUBLE_EQ(s.multiplier(10), 1.0);
  EXPECT_DOUBLE_EQ(s.multiplier(50), 1.0);
  s.kind = LrSchedule::Kind::Linear;
  EXPECT_DOUBLE_EQ(s.multiplier(5), 0.5);
  EXPECT_DOUBLE_EQ(s.multiplier(60), 0.5);
  EXPECT_DOUBLE_EQ(s.multiplier(110), 0.0);
  EXPECT_DOUBLE_EQ(s.multiplier(500), 0.0);
  s.kind = LrSchedule::Kind::Cosine;
  s.minLrRatio = 0.1;
  EXPECT_DOUBLE_EQ(s.multiplier(10), 1.0);
  EXPECT_NEAR(s.multiplier(60), 0.55, 1e-12);
  EXPECT_NEAR(s.multiplier(35), 0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI / 4)),
              1e-12);
  EXPECT_DOUBLE_EQ(s.multiplier(110), 0.1);
}

TEST(Train, MicroBatchesAccumulateToTheFullBatchGradient) {
  auto k = makeCpuKernels<double>();
  auto mOr = Transformer<double>::create(tinyQwen2(), k.get());
  ASSERT_TRUE(mOr);
  auto &m = **mOr;
  randomizeParams(m, 2);
  Batch b = randomBatch(11, {6, 3, 5, 2}, 6, 8);
  auto c = randomVector<double>(size_t(b.B * b.T), 3, 0);
  LossGradFn<double> fn = [&](const MicroBatchOutputs<double> &o,
                              OutputGrads<double> &g) {
    g.dlogprob = c.data() + o.first * o.seqLen;
    return Status::ok();
  };
  m.zeroGrad();
  ASSERT_TRUE(accumulateGradients(m, b.view(), 4, fn));
  std::vector<double> full(m.gradData(), m.gradData() + m.numParams());
  m.zeroGrad();
  ASSERT_TRUE(accumulateGradients(m, b.view(), 3, fn));
  double worst = 0, scale = 0;
  for (int64_t i = 0; i < m.numParams(); ++i) {
    worst = std::max(worst, std::abs(full[size_t(i)] - m.gradData()[i]));
    scale = std::max(scale, std::abs(full[size_t(i)]));
  }
  EXPECT_GT(scale, 1e-6);
  EXPECT_LT(worst, 1e-12 * std::max(1.0, scale));
  EXPECT_FALSE(accumulateGradients(m, b.view(), 0, fn));
}

TEST(Train, SftLossDecreases) {
  auto k = makeCpuKernels<float>();
  auto mOr = Transformer<float>::create(tinyGpt2(), k.get());
  ASSERT_TRUE(mOr);
  auto &m = **mOr;
  m.initRandom(3, 0.1);
  Batch b = randomBatch(13, {8, 8}, 8, 4);
  AdamWConfig cfg;
  cfg.lr = 3e-2;
  cfg.maxGradNorm = 1.0;
  AdamW<float> opt(m, cfg);
  std::vector<float> dlp(16, -1.0f / 14); // mean NLL over 14 targets
  auto nll = [&] {
    double s = 0;
    for (int i = 0; i < 16; ++i)
      s -= m.logprobs()[i];
    return s / 14;
  };
  double first = 0, last = 0;
  for (int it = 0; it < 60; ++it) {
    m.zeroGrad();
    ASSERT_TRUE(m.forward(b.view()));
    if (it == 0)
      first = nll();
    last = nll();
    OutputGrads<float> g;
    g.dlogprob = dlp.data();
    ASSERT_TRUE(m.backward(g));
    ASSERT_TRUE(opt.step());
  }
  EXPECT_LT(last, 0.25 * first) << first << " -> " << last;
}
