// hone-fuse-forwards' rewrite, checked in float64 (docs/runtime.md "Fused
// reads"): a train step's reads of one model run as one forward over their
// rows concatenated and one backward (runtime/ops/TrainStep.cpp, with the
// row bookkeeping of runtime/ops/ReadGroupRows.h, the code under test), in
// place of a forward and a backward per read. Two token batches of other
// lengths (CHORD's rollouts 3 x 5 and demonstrations 2 x 8: concatenated on
// the longer length, each row padded past its own) and of one length
// (DPO's chosen and rejected), padded and packed, for an LM head
// (log-probs and entropies) and a scalar head (values, and a reward a row:
// the reward model's reads), on a float64
// model: the per-token outputs split back to each read equal the read's
// own forward's, and the parameter gradient of the one backward equals the
// sum of the separate backwards', both to 1e-12 relative.
//
// Why not 0: the forward rows are independent in exact arithmetic, but the
// CPU GEMMs block their loops by the row count (a different micro-kernel
// tail for 13 rows than for 2 or 3), and the weight gradient sums rows in
// another order (one GEMM over all rows instead of one per read, then
// added). Those reorder float64 sums of a few dozen terms: relative
// differences of about 1e-16 in the gradient, outputs bit-identical on Zen 2
// (this test prints the worst); 1e-12 leaves room
// for the transcendental functions and still fails on any misplaced row,
// which changes results at order 1 (a planted wrong offset in
// ReadGroupRows.h fails it).
#include "ModelTestUtil.h"
#include "runtime/ops/ReadGroupRows.h"

#include <cmath>
#include <cstdio>

using namespace hone;
using namespace hone::test;
using hone::ops::GroupMember;

namespace {

struct Member {
  Batch batch;
  int64_t b0, n; // the rows this forward runs
  std::vector<double> up0, up1; // upstream gradients [B, own]
};

Member member(const ModelConfig &cfg, std::vector<int32_t> lengths, int64_t T,
              int64_t b0, int64_t n, uint64_t seed) {
  Member m{randomBatch(cfg.vocabSize, lengths, T, seed), b0, n, {}, {}};
  for (auto &t : m.batch.tokens) // padding holds valid ids
    if (t < 0)
      t = 1;
  // Per-token outputs (log-probs and entropies, or values): T a row.
  m.up0 = randomVector<double>(size_t(m.batch.B * T), seed, 1);
  m.up1 = randomVector<double>(size_t(m.batch.B * T), seed, 2);
  // Zero past each row's length: the loss kernels give no gradient there.
  for (int64_t b = 0; b < m.batch.B; ++b)
    for (int64_t t = lengths[size_t(b)]; t < T; ++t)
      m.up0[size_t(b * T + t)] = m.up1[size_t(b * T + t)] = 0;
  return m;
}

struct Result {
  std::vector<std::vector<double>> out0, out1; // per member [B, T]
  std::vector<double> grad;
};

/// Each member alone: a forward over its rows and a backward, the
/// gradients accumulating (as one optimiser step's backwards do).
Result separate(const ModelConfig &cfg, std::vector<Member> &ms, bool pack,
                bool reward) {
  auto k = makeCpuKernels<double>();
  auto m = std::move(*Transformer<double>::create(cfg, k.get()));
  randomizeParams(*m, 29);
  m->zeroGrad();
  Result r;
  for (Member &x : ms) {
    const int64_t T = x.batch.T;
    TokenBatch tb{x.n, T, x.batch.tokens.data() + x.b0 * T,
                  x.batch.lengths.data() + x.b0};
    ForwardOptions o;
    o.pack = pack;
    Status s = m->forward(tb, o);
    EXPECT_TRUE(s) << s.toString();
    std::vector<double> o0(size_t(x.batch.B * T), 0), o1(o0.size(), 0);
    if (reward) {
      // One reward a row (the reward model's reads): at row b0 + b.
      std::vector<double> h = m->toHost(m->rewards(), x.n);
      std::copy(h.begin(), h.end(), o0.begin() + x.b0);
      OutputGrads<double> g;
      g.dreward = x.up0.data() + x.b0;
      s = m->backward(g);
      EXPECT_TRUE(s) << s.toString();
      r.out0.push_back(o0);
      r.out1.push_back(o1);
      continue;
    }
    const double *v = cfg.head == HeadKind::LM ? m->logprobs() : m->values();
    std::vector<double> h = m->toHost(v, x.n * T);
    std::copy(h.begin(), h.end(), o0.begin() + x.b0 * T);
    OutputGrads<double> g;
    if (cfg.head == HeadKind::LM) {
      std::vector<double> e = m->toHost(m->entropy(), x.n * T);
      std::copy(e.begin(), e.end(), o1.begin() + x.b0 * T);
      g.dlogprob = x.up0.data() + x.b0 * T;
      g.dentropy = x.up1.data() + x.b0 * T;
    } else {
      g.dvalue = x.up0.data() + x.b0 * T;
    }
    s = m->backward(g);
    EXPECT_TRUE(s) << s.toString();
    r.out0.push_back(o0);
    r.out1.push_back(o1);
  }
  std::vector<double> gr = m->toHost(m->gradData(), m->numParams());
  r.grad.assign(gr.begin(), gr.end());
  return r;
}

/// The members as one group: concatenated, one forward, outputs split
/// back, upstream gradients gathered, one backward.
Result fused(const ModelConfig &cfg, std::vector<Member> &ms, bool pack,
             bool reward) {
  auto k = makeCpuKernels<double>();
  auto m = std::move(*Transformer<double>::create(cfg, k.get()));
  randomizeParams(*m, 29);
  m->zeroGrad();
  std::vector<GroupMember> rows;
  int64_t width = 0, all = 0;
  for (Member &x : ms) {
    rows.push_back({x.batch.tokens.data(), x.batch.lengths.data(), x.batch.T,
                    x.b0, x.n, x.b0, reward ? 1 : x.batch.T});
    width = std::max(width, x.batch.T);
    all += x.n;
  }
  std::vector<int32_t> tokens, lengths;
  ops::concatGroupRows(rows, width, tokens, lengths);
  EXPECT_EQ(int64_t(lengths.size()), all);
  TokenBatch tb{all, width, tokens.data(), lengths.data()};
  ForwardOptions o;
  o.pack = pack;
  Status s = m->forward(tb, o);
  EXPECT_TRUE(s) << s.toString();
  Result r;
  std::vector<double *> p0, p1;
  std::vector<const double *> u0, u1;
  for (Member &x : ms) {
    r.out0.emplace_back(size_t(x.batch.B * x.batch.T), 0.0);
    r.out1.emplace_back(size_t(x.batch.B * x.batch.T), 0.0);
    u0.push_back(x.up0.data());
    u1.push_back(x.up1.data());
  }
  for (size_t q = 0; q < ms.size(); ++q) {
    p0.push_back(r.out0[q].data());
    p1.push_back(r.out1[q].data());
  }
  if (reward) {
    // One value a forward row (wide 1), split back and gathered.
    std::vector<double> v = m->toHost(m->rewards(), all);
    ops::scatterGroupRows(v.data(), 1, rows, p0);
    std::vector<double> d(static_cast<size_t>(all), 0.0);
    ops::gatherGroupRows(d.data(), 1, rows, u0);
    OutputGrads<double> g;
    g.dreward = d.data();
    s = m->backward(g);
    EXPECT_TRUE(s) << s.toString();
    std::vector<double> gr = m->toHost(m->gradData(), m->numParams());
    r.grad.assign(gr.begin(), gr.end());
    return r;
  }
  const bool lm = cfg.head == HeadKind::LM;
  std::vector<double> v = m->toHost(lm ? m->logprobs() : m->values(),
                                    all * width);
  ops::scatterGroupRows(v.data(), width, rows, p0);
  std::vector<double> d0(size_t(all * width)), d1(d0.size());
  ops::gatherGroupRows(d0.data(), width, rows, u0);
  OutputGrads<double> g;
  if (lm) {
    std::vector<double> e = m->toHost(m->entropy(), all * width);
    ops::scatterGroupRows(e.data(), width, rows, p1);
    ops::gatherGroupRows(d1.data(), width, rows, u1);
    g.dlogprob = d0.data();
    g.dentropy = d1.data();
  } else {
    g.dvalue = d0.data();
  }
  s = m->backward(g);
  EXPECT_TRUE(s) << s.toString();
  std::vector<double> gr = m->toHost(m->gradData(), m->numParams());
  r.grad.assign(gr.begin(), gr.end());
  return r;
}

/// Worst |a - b| over max |b| (0 when both vanish).
double relative(const std::vector<double> &a, const std::vector<double> &b) {
  double worst = 0, scale = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    worst = std::max(worst, std::abs(a[i] - b[i]));
    scale = std::max(scale, std::abs(b[i]));
  }
  return scale > 0 ? worst / scale : worst;
}

void check(const char *family, const ModelConfig &cfg, bool pack,
           bool sameLength, bool reward = false) {
  // A: three rows of 5 (or 8), of which rows 1..2 run (a second
  // micro-batch: its rows start past the first); B: two rows of 8.
  std::vector<Member> ms;
  ms.push_back(member(cfg, {5, 2, 4}, sameLength ? 8 : 5, 1, 2, 11));
  ms.push_back(member(cfg, {8, 6}, 8, 0, 2, 13));
  Result a = separate(cfg, ms, pack, reward), f = fused(cfg, ms, pack, reward);
  double worst = 0, scale = 0;
  for (size_t q = 0; q < ms.size(); ++q) {
    worst = std::max(worst, relative(f.out0[q], a.out0[q]));
    if (cfg.head == HeadKind::LM)
      worst = std::max(worst, relative(f.out1[q], a.out1[q]));
    // Rows outside the forward's stay 0 in both; past a row's length, 0.
    // Rewards: one a row, at index b.
    const Member &x = ms[q];
    for (int64_t b = 0; b < x.batch.B; ++b)
      for (int64_t t = 0; t < x.batch.T; ++t) {
        int64_t i = b * x.batch.T + t;
        bool ran = reward ? i >= x.b0 && i < x.b0 + x.n
                          : b >= x.b0 && b < x.b0 + x.n &&
                                !(pack && t >= x.batch.lengths[size_t(b)]);
        if (!ran) {
          EXPECT_EQ(f.out0[q][size_t(i)], 0.0)
              << "member " << q << " row " << b << " position " << t;
        }
      }
  }
  for (double x : a.grad)
    scale = std::max(scale, std::abs(x));
  EXPECT_GT(scale, 0.0);
  double grad = relative(f.grad, a.grad);
  std::printf("  %s %s%s%s: outputs %.2g, gradient %.2g (relative)\n",
              family,
              reward ? "reward" : cfg.head == HeadKind::LM ? "lm" : "scalar",
              pack ? " packed" : " padded",
              sameLength ? " one length" : " two lengths", worst, grad);
  EXPECT_LE(worst, 1e-12);
  EXPECT_LE(grad, 1e-12);
}

TEST(FusedReads, OneForwardEqualsSeparateForwardsFloat64) {
  struct Family {
    const char *name;
    ModelConfig (*make)(HeadKind);
  };
  for (Family f : {Family{"llama", tinyLlama}, Family{"gpt2", tinyGpt2},
                   Family{"qwen3", tinyQwen3}})
    for (HeadKind h : {HeadKind::LM, HeadKind::Scalar})
      for (bool pack : {false, true})
        for (bool same : {false, true}) {
          ModelConfig cfg = f.make(h);
          SCOPED_TRACE(std::string(h == HeadKind::LM ? "lm" : "scalar") +
                       (pack ? " packed" : " padded") +
                       (same ? " one length" : " two lengths"));
          check(f.name, cfg, pack, same);
          if (h == HeadKind::Scalar) // the reward model's reads
            check(f.name, cfg, pack, same, /*reward=*/true);
        }
}

} // namespace
