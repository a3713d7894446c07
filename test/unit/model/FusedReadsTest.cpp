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

// --- paired rows: a DPO step with shared prompt rows --------------------
//
// A preference batch's chosen and rejected rows of one record begin with
// the same prompt. chooseGroupOrder (ReadGroupRows.h) puts row b of both
// reads side by side when that lets the shared-prefix forward
// (ForwardOptions::sharePrefix) save more rows than member order, so each
// record's prompt runs once. A float64 DPO step on that layout (loss from
// the split-back log-probs, upstream gradients gathered, one backward)
// must equal the step without sharing, each read's rows alone (no group
// code): loss, log-probs and parameter gradient to 1e-12 relative (why not
// 0: as SharedPrefixTest, GEMMs on fewer rows and a prefix row's gradient
// summed over the pair outside the GEMM). Rows whose pairing is wrong
// change the results at order 1: planted, chosen and rejected swapped in
// scatterGroupRows' paired order fails every case (log-probs 0.72-0.92,
// gradients 0.86-1 relative apart); each chosen row paired with the next
// record's rejected row in groupRowOrder (consistent, so still exact)
// fails the order and shared-rows checks (18 rows saved of 24).

namespace paired {

constexpr int64_t kT = 14, kPrompt = 7;
constexpr double kBeta = 0.7;

/// One read of a preference batch: `rows` records, record r's row being
/// its prompt (kPrompt tokens, drawn from `prompts`' row r) and a
/// completion drawn from `seed`; the loss mask covers the completion.
struct Side {
  Batch batch;
  std::vector<double> mask;
};

Side side(int64_t vocab, const Batch &prompts, std::vector<int32_t> lengths,
          uint64_t seed) {
  Side s{randomBatch(vocab, lengths, kT, seed), {}};
  s.mask.assign(size_t(s.batch.B * kT), 0.0);
  for (int64_t b = 0; b < s.batch.B; ++b) {
    for (int64_t t = 0; t < kPrompt; ++t)
      s.batch.tokens[size_t(b * kT + t)] = prompts.tokens[size_t(b * kT + t)];
    for (int64_t t = kPrompt; t < lengths[size_t(b)]; ++t)
      s.mask[size_t(b * kT + t)] = 1.0;
  }
  for (auto &t : s.batch.tokens)
    if (t < 0)
      t = 1;
  return s;
}

struct Step {
  double loss = 0;
  std::vector<std::vector<double>> lp; // per side [B, kT]
  std::vector<double> grad;
  std::vector<ops::GroupRow> order;
  double sharedRows = 0;
};

/// DPO on rows [b0, b0 + n) of both sides (a micro-batch): reference sums
/// `ref` ([B][2]), loss mean_b -log sigmoid(beta (dw - dl)). `grouped`:
/// one forward and one backward of both sides' rows (ReadGroupRows.h, the
/// order chooseGroupOrder picks with sharing); otherwise each side alone
/// without sharing (a forward per side for the loss, then a forward and a
/// backward per side, the gradients accumulating), independent of the
/// group code.
Step step(const ModelConfig &cfg, std::vector<Side> &sides,
          const std::vector<double> &ref, int64_t b0, int64_t n,
          bool grouped) {
  auto k = makeCpuKernels<double>();
  auto m = std::move(*Transformer<double>::create(cfg, k.get()));
  randomizeParams(*m, 29);
  m->zeroGrad();
  std::vector<GroupMember> rows;
  for (Side &s : sides)
    rows.push_back({s.batch.tokens.data(), s.batch.lengths.data(), kT, b0, n,
                    b0, kT});
  std::vector<int32_t> tokens, lengths;
  Step r;
  const int64_t B = sides[0].batch.B;
  r.lp.assign(2, std::vector<double>(size_t(B * kT), 0.0));
  ForwardOptions o;
  o.pack = true;
  o.sharePrefix = grouped;
  auto alone = [&](int q) {
    TokenBatch tb{n, kT, sides[size_t(q)].batch.tokens.data() + b0 * kT,
                  sides[size_t(q)].batch.lengths.data() + b0};
    ForwardOptions plain;
    plain.pack = true;
    Status s = m->forward(tb, plain);
    EXPECT_TRUE(s) << s.toString();
  };
  TokenBatch tb{n * 2, kT, nullptr, nullptr};
  if (grouped) {
    r.order = ops::chooseGroupOrder(rows, kT, true, sharedPrefixRows, tokens,
                                    lengths);
    tb = {int64_t(lengths.size()), kT, tokens.data(), lengths.data()};
    Status s = m->forward(tb, o);
    EXPECT_TRUE(s) << s.toString();
    r.sharedRows = m->workDone().sharedRows;
    std::vector<double> v = m->toHost(m->logprobs(), tb.batch * kT);
    ops::scatterGroupRows(
        v.data(), kT, rows, r.order,
        std::vector<double *>{r.lp[0].data(), r.lp[1].data()});
  } else {
    for (int q = 0; q < 2; ++q) {
      alone(q);
      std::vector<double> v = m->toHost(m->logprobs(), n * kT);
      std::copy(v.begin(), v.end(), r.lp[size_t(q)].begin() + b0 * kT);
    }
  }
  // The loss and its upstream gradients on the split-back rows.
  std::vector<std::vector<double>> up(2, std::vector<double>(size_t(B * kT)));
  for (int64_t b = b0; b < b0 + n; ++b) {
    double d[2];
    for (int q = 0; q < 2; ++q) {
      d[q] = -ref[size_t(2 * b + q)];
      for (int64_t t = 0; t < kT; ++t)
        d[q] += sides[size_t(q)].mask[size_t(b * kT + t)] *
                r.lp[size_t(q)][size_t(b * kT + t)];
    }
    const double z = kBeta * (d[0] - d[1]);
    r.loss += std::log1p(std::exp(-z)) / double(n);
    const double g = -kBeta / (1 + std::exp(z)) / double(n); // dloss/d dw
    for (int q = 0; q < 2; ++q)
      for (int64_t t = 0; t < kT; ++t)
        up[size_t(q)][size_t(b * kT + t)] =
            (q ? -g : g) * sides[size_t(q)].mask[size_t(b * kT + t)];
  }
  if (grouped) {
    std::vector<double> d0(size_t(tb.batch * kT));
    ops::gatherGroupRows(
        d0.data(), kT, rows, r.order,
        std::vector<const double *>{up[0].data(), up[1].data()});
    OutputGrads<double> g;
    g.dlogprob = d0.data();
    Status s = m->backward(g);
    EXPECT_TRUE(s) << s.toString();
  } else {
    for (int q = 0; q < 2; ++q) {
      alone(q);
      OutputGrads<double> g;
      g.dlogprob = up[size_t(q)].data() + b0 * kT;
      Status s = m->backward(g);
      EXPECT_TRUE(s) << s.toString();
    }
  }
  r.grad = m->toHost(m->gradData(), m->numParams());
  return r;
}

bool isPaired(const std::vector<ops::GroupRow> &order) {
  for (size_t i = 0; i < order.size(); ++i)
    if (order[i].q != i % 2 || order[i].b != int64_t(i / 2))
      return false;
  return !order.empty();
}

} // namespace paired

TEST(FusedReads, PairedRowsShareTheirPromptDpoStepFloat64) {
  using namespace paired;
  struct Family {
    const char *name;
    ModelConfig (*make)(HeadKind);
  };
  for (Family f : {Family{"llama", tinyLlama}, Family{"gpt2", tinyGpt2},
                   Family{"qwen3", tinyQwen3}}) {
    ModelConfig cfg = f.make(HeadKind::LM);
    cfg.maxSeqLen = 16;
    // Four records: prompts drawn apart, completions of 2-7 tokens.
    Batch prompts = randomBatch(cfg.vocabSize, {kT, kT, kT, kT}, kT, 41);
    std::vector<Side> sides;
    sides.push_back(side(cfg.vocabSize, prompts, {12, 14, 9, 13}, 43));
    sides.push_back(side(cfg.vocabSize, prompts, {10, 11, 14, 13}, 47));
    std::vector<double> ref = randomVector<double>(8, 53, 0);
    for (double &x : ref)
      x *= 4;
    // The whole batch, then a second micro-batch (rows 1..3).
    for (auto [b0, n] : {std::pair<int64_t, int64_t>{0, 4}, {1, 3}}) {
      SCOPED_TRACE(std::string(f.name) + " rows " + std::to_string(b0) +
                   ".." + std::to_string(b0 + n - 1));
      Step off = step(cfg, sides, ref, b0, n, false);
      Step on = step(cfg, sides, ref, b0, n, true);
      EXPECT_TRUE(isPaired(on.order));
      // Each record's prompt ran once: kPrompt - 1 rows saved a pair at
      // least (more where the completions begin alike).
      EXPECT_GE(on.sharedRows, double(n * (kPrompt - 1)));
      EXPECT_EQ(off.sharedRows, 0.0);
      double worst = std::abs(on.loss - off.loss) / std::abs(off.loss);
      for (int q = 0; q < 2; ++q)
        worst = std::max(worst, relative(on.lp[size_t(q)], off.lp[size_t(q)]));
      double grad = relative(on.grad, off.grad);
      std::printf("  %s paired rows %lld..%lld: loss %.6f, loss and "
                  "log-probs %.2g, gradient %.2g (relative)\n",
                  f.name, (long long)b0, (long long)(b0 + n - 1), off.loss,
                  worst, grad);
      EXPECT_LE(worst, 1e-12);
      EXPECT_LE(grad, 1e-12);
    }
  }
}

TEST(FusedReads, PairsOnlyWhereThatSharesMore) {
  // Two reads of rollouts (each prompt's 3 samples together in either
  // read, row b of one read and row b of the other of different prompts):
  // member order shares more, so it stays; as it does for two reads with
  // nothing in common, or of unequal row counts.
  ModelConfig cfg = tinyLlama(HeadKind::LM);
  Batch a = randomBatch(cfg.vocabSize, std::vector<int32_t>(6, 12), 12, 61);
  Batch b = randomBatch(cfg.vocabSize, std::vector<int32_t>(6, 12), 12, 67);
  for (Batch *x : {&a, &b})
    for (int64_t r = 0; r < 6; ++r)
      for (int64_t t = 0; t < 8; ++t) // rows 0-2 and 3-5: one prompt each
        x->tokens[size_t(r * 12 + t)] = x->tokens[size_t((r / 3) * 3 * 12 + t)];
  auto order = [&](const Batch &x, const Batch &y, int64_t ny,
                   bool share = true) {
    std::vector<GroupMember> m = {
        {x.tokens.data(), x.lengths.data(), 12, 0, 6, 0, 12},
        {y.tokens.data(), y.lengths.data(), 12, 0, ny, 0, 12}};
    std::vector<int32_t> t, l;
    auto o = ops::chooseGroupOrder(m, 12, share, sharedPrefixRows, t, l);
    EXPECT_EQ(int64_t(l.size()), 6 + ny);
    return paired::isPaired(o);
  };
  EXPECT_FALSE(order(a, b, 6)); // rollouts: their groups kept
  Batch c = randomBatch(cfg.vocabSize, std::vector<int32_t>(6, 12), 12, 71);
  Batch d = randomBatch(cfg.vocabSize, std::vector<int32_t>(6, 12), 12, 73);
  EXPECT_FALSE(order(c, d, 6)); // nothing shared either way
  // c's row r begins like d's row r: pairs.
  for (int64_t r = 0; r < 6; ++r)
    for (int64_t t = 0; t < 7; ++t)
      d.tokens[size_t(r * 12 + t)] = c.tokens[size_t(r * 12 + t)];
  EXPECT_TRUE(order(c, d, 6));
  EXPECT_FALSE(order(c, d, 6, false)); // no sharing (HONE_SHARE_PREFIX=0)
  EXPECT_FALSE(order(c, d, 5)); // unequal row counts: member order
}
