// Shared prompt rows (ForwardOptions::sharePrefix, docs/runtime.md "Shared
// prompt rows"), checked in float64: consecutive sequences that begin with
// the same tokens (the samples of one prompt) run that prefix once, and
// attention reads it for each of them. Against the per-sequence packed
// forward and backward of the same rows: log-probs, entropies (values and
// rewards for a scalar head) and every parameter (or adapter) gradient to
// 1e-12 relative, for GPT-2, Llama (MQA), Qwen3 (q/k norms, GQA), LoRA on
// Llama and Qwen3, a micro-batch that splits groups, recomputed layers and
// groups of one (nothing shared: bit-identical), and groups chosen as each
// prompt's samples where a shorter prefix (a chat template) is common to all.
//
// Why not 0: the function is the same, but the dense layers' GEMMs run on
// fewer rows (other micro-kernel tails, another order of the weight
// gradient's sums over rows), and a prefix row's gradient is one row's sum
// over the samples where the per-sequence backward sums them inside the
// weight-gradient GEMM. Float64 sums of a few dozen terms reordered: about
// 1e-16 relative (the test prints the worst); any misplaced row, position or
// a prefix attended by the wrong sequence changes results at order 1 (a
// planted wrong group in Transformer::expandRows fails every case: outputs
// 0.05-1.4 apart; later members' prefix K/V gradients dropped in
// compressRows fail them too: gradients 0.08-0.16 apart).
#include "ModelTestUtil.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

using namespace hone;
using namespace hone::test;

namespace {

constexpr int64_t kT = 14;

ModelConfig longer(ModelConfig c) {
  c.maxSeqLen = 16;
  return c;
}

/// Seven sequences: a prompt of 9 tokens with four samples, a prompt of
/// its own, a prompt of 9 tokens with two samples (completions drawn at
/// random; where one starts like another the shared prefix is longer).
/// Prefixes of 4 rows or more are shared (Transformer::planShare).
Batch groupedBatch(int64_t vocab, uint64_t seed) {
  std::vector<int32_t> lengths = {12, 14, 10, 13, 8, 11, 13};
  Batch b = randomBatch(vocab, lengths, kT, seed);
  auto copyPrompt = [&](int64_t from, int64_t to, int64_t n) {
    for (int64_t t = 0; t < n; ++t)
      b.tokens[size_t(to * kT + t)] = b.tokens[size_t(from * kT + t)];
  };
  for (int64_t r : {1, 2, 3})
    copyPrompt(0, r, 9);
  copyPrompt(5, 6, 9);
  for (auto &t : b.tokens)
    if (t < 0)
      t = 1;
  return b;
}

struct Result {
  std::vector<double> out0, out1, grad;
  double sharedRows = 0;
  int64_t rows = 0;
};

struct Case {
  ModelConfig cfg;
  bool lora = false;
  double dropout = 0;
  bool train = false;
  int64_t recompute = 0;
};

/// Rows [b0, b0 + n) of `batch` in one forward and a backward with random
/// upstream gradients at every position of each row (prompt positions
/// included: their sums over samples are part of the check).
Result run(const Case &cs, const Batch &batch, int64_t b0, int64_t n,
           bool share) {
  auto k = makeCpuKernels<double>();
  auto m = std::move(*Transformer<double>::create(cs.cfg, k.get()));
  randomizeParams(*m, 31);
  if (cs.lora) {
    LoraConfig lc;
    lc.rank = 2;
    lc.alpha = 4;
    lc.targets = loraTargetsOf(cs.cfg);
    lc.dropout = cs.dropout;
    Status s = m->addLora(lc, 5);
    EXPECT_TRUE(s) << s.toString();
    // Non-zero B so that the adapters change the forward.
    std::vector<double> la = randomVector<double>(size_t(m->numTrainable()), 7, 0);
    k->copyToDevice(m->loraData(), la.data(), la.size() * sizeof(double));
  }
  m->zeroGrad();
  m->setRecomputeLayers(cs.recompute);
  TokenBatch tb{n, kT, batch.tokens.data() + b0 * kT,
                batch.lengths.data() + b0};
  ForwardOptions o;
  o.pack = true;
  o.sharePrefix = share;
  o.train = cs.train;
  o.dropoutSeed = 3;
  Status s = m->forward(tb, o);
  EXPECT_TRUE(s) << s.toString();
  // The layout's activations stay within the per-sequence packed bound the
  // memory plan sizes (Transformer::workspaceBytes with the lengths).
  EXPECT_LE(m->activationBytesHeld(),
            m->workspaceBytes(n, kT, batch.lengths.data() + b0));
  Result r;
  r.rows = m->rowsRun();
  r.sharedRows = m->workDone().sharedRows;
  std::vector<double> up0 = randomVector<double>(size_t(n * kT), 11, 1);
  std::vector<double> up1 = randomVector<double>(size_t(n * kT), 11, 2);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t t = batch.lengths[size_t(b0 + b)]; t < kT; ++t)
      up0[size_t(b * kT + t)] = up1[size_t(b * kT + t)] = 0;
  OutputGrads<double> g;
  if (cs.cfg.head == HeadKind::LM) {
    r.out0 = m->toHost(m->logprobs(), n * kT);
    r.out1 = m->toHost(m->entropy(), n * kT);
    g.dlogprob = up0.data();
    g.dentropy = up1.data();
  } else {
    r.out0 = m->toHost(m->values(), n * kT);
    r.out1 = m->toHost(m->rewards(), n);
    g.dvalue = up0.data();
    g.dreward = up1.data(); // [n]: one reward a row
  }
  s = m->backward(g);
  EXPECT_TRUE(s) << s.toString();
  r.grad = m->toHost(m->trainableGrad(), m->numTrainable());
  return r;
}

double worstRel(const std::vector<double> &a, const std::vector<double> &b) {
  EXPECT_EQ(a.size(), b.size());
  double scale = 0, worst = 0;
  for (double x : b)
    scale = std::max(scale, std::fabs(x));
  for (size_t i = 0; i < a.size() && i < b.size(); ++i)
    worst = std::max(worst, std::fabs(a[i] - b[i]) / std::max(scale, 1e-300));
  return worst;
}

void expectClose(const Result &got, const Result &want, const char *what) {
  double w0 = worstRel(got.out0, want.out0), w1 = worstRel(got.out1, want.out1);
  double wg = worstRel(got.grad, want.grad);
  std::printf("  %s: outputs %.2e %.2e, gradients %.2e\n", what, w0, w1, wg);
  EXPECT_LT(w0, 1e-12) << what;
  EXPECT_LT(w1, 1e-12) << what;
  EXPECT_LT(wg, 1e-12) << what;
}

void checkCase(const Case &cs, const char *name) {
  Batch batch = groupedBatch(cs.cfg.vocabSize, 17);
  int64_t all = 0;
  for (int32_t l : batch.lengths)
    all += l;
  // The whole batch: both groups share.
  Result want = run(cs, batch, 0, batch.B, false);
  Result got = run(cs, batch, 0, batch.B, true);
  EXPECT_EQ(want.rows, all);
  EXPECT_EQ(want.sharedRows, 0);
  // At least the prompts less their last token: 3 x 8 and 1 x 8.
  EXPECT_GE(got.sharedRows, 32) << name;
  EXPECT_EQ(double(got.rows) + got.sharedRows, double(all)) << name;
  expectClose(got, want, name);
  // A micro-batch of rows 2..5 splits the first group (2 and 3 share) and
  // the second (5 alone).
  want = run(cs, batch, 2, 4, false);
  got = run(cs, batch, 2, 4, true);
  EXPECT_GE(got.sharedRows, 8) << name;
  expectClose(got, want, (std::string(name) + ", split group").c_str());
}

TEST(SharedPrefix, Gpt2) { checkCase({longer(tinyGpt2())}, "gpt2"); }
TEST(SharedPrefix, Llama) { checkCase({longer(tinyLlama())}, "llama"); }
TEST(SharedPrefix, Qwen3) { checkCase({longer(tinyQwen3())}, "qwen3"); }
TEST(SharedPrefix, LlamaLora) {
  checkCase({longer(tinyLlama()), true}, "llama lora");
}
TEST(SharedPrefix, Qwen3LoraTrain) {
  // A training forward without dropout shares as well.
  checkCase({longer(tinyQwen3()), true, 0.0, true}, "qwen3 lora train");
}
TEST(SharedPrefix, ScalarHead) {
  checkCase({longer(tinyQwen2(HeadKind::Scalar))}, "qwen2 scalar head");
}

TEST(SharedPrefix, EachPromptsSamplesNotACommonTemplate) {
  // Eight rows that all begin with the same 5 tokens (a chat template),
  // two prompts of 10 tokens with four samples each: the groups are the
  // prompts' (3 x 9 rows saved each), not one group of all eight over the
  // template (7 x 4).
  Case cs{longer(tinyLlama())};
  Batch batch = randomBatch(cs.cfg.vocabSize, {13, 12, 14, 11, 14, 12, 13, 12},
                            kT, 53);
  for (auto &t : batch.tokens)
    if (t < 0)
      t = 1;
  for (int64_t b = 1; b < batch.B; ++b)
    for (int64_t t = 0; t < 10; ++t)
      if (t < 5 || b % 4)
        batch.tokens[size_t(b * kT + t)] =
            batch.tokens[size_t((t < 5 ? 0 : b - b % 4) * kT + t)];
  Result got = run(cs, batch, 0, batch.B, true);
  EXPECT_GE(got.sharedRows, 2 * 3 * 9);
  expectClose(got, run(cs, batch, 0, batch.B, false), "llama, template");
}

TEST(SharedPrefix, RecomputedLayers) {
  // Backward re-runs layer 0 (and its attention through the shared
  // layout): the gradients equal the kept layout's bits.
  Case cs{longer(tinyLlama3())};
  Batch batch = groupedBatch(cs.cfg.vocabSize, 23);
  Result kept = run(cs, batch, 0, batch.B, true);
  cs.recompute = 2;
  Result redo = run(cs, batch, 0, batch.B, true);
  EXPECT_GT(redo.sharedRows, 0);
  EXPECT_EQ(redo.grad, kept.grad);
  EXPECT_EQ(redo.out0, kept.out0);
  cs.recompute = 0;
  expectClose(redo, run(cs, batch, 0, batch.B, false), "llama3 recomputed");
}

TEST(SharedPrefix, GroupsOfOneShareNothing) {
  // Every prompt different: the same forward as without sharing, bit for
  // bit.
  Case cs{longer(tinyQwen2())};
  Batch batch = randomBatch(cs.cfg.vocabSize, {12, 14, 10, 13}, kT, 41);
  for (auto &t : batch.tokens)
    if (t < 0)
      t = 1;
  for (int64_t b = 0; b < batch.B; ++b) // first tokens all different
    batch.tokens[size_t(b * kT)] = int32_t(b);
  Result want = run(cs, batch, 0, batch.B, false);
  Result got = run(cs, batch, 0, batch.B, true);
  EXPECT_EQ(got.sharedRows, 0);
  EXPECT_EQ(got.out0, want.out0);
  EXPECT_EQ(got.grad, want.grad);
}

TEST(SharedPrefix, NotWithLoraDropout) {
  // A training forward with LoRA dropout draws a mask per row: no sharing,
  // the same bits as without.
  Case cs{longer(tinyLlama()), true, 0.25, true};
  Batch batch = groupedBatch(cs.cfg.vocabSize, 17);
  Result want = run(cs, batch, 0, batch.B, false);
  Result got = run(cs, batch, 0, batch.B, true);
  EXPECT_EQ(got.sharedRows, 0);
  EXPECT_EQ(got.grad, want.grad);
}

TEST(SharedPrefix, SameBitsAnyThreads) {
  // float, as the jobs run, on a model big enough for the kernels to
  // thread (d_model 128, heads of 64, 8 x 48 rows): 1 and 2 threads give
  // the same bits (the prefix gradients' sums run in a fixed order).
  const int threads = cpuThreads();
  ModelConfig cfg = tinyQwen2();
  cfg.dModel = 128;
  cfg.nHeads = 2;
  cfg.nKvHeads = 1;
  cfg.dFf = 256;
  cfg.vocabSize = 50;
  cfg.maxSeqLen = 64;
  const int64_t T = 48;
  Batch batch = randomBatch(cfg.vocabSize, {48, 40, 33, 45, 48, 30, 41, 47},
                            T, 13);
  for (int64_t b = 0; b < batch.B; ++b)
    for (int64_t t = 0; t < T; ++t) {
      int32_t &x = batch.tokens[size_t(b * T + t)];
      if (x < 0)
        x = 1;
      if (b % 4 && t < 20) // groups of 4 samples, prompts of 20 tokens
        x = batch.tokens[size_t((b - b % 4) * T + t)];
    }
  std::vector<std::vector<float>> outs, grads;
  for (int th : {1, 2}) {
    setCpuThreads(th);
    auto k = makeCpuKernels<float>();
    auto m = std::move(*Transformer<float>::create(cfg, k.get()));
    randomizeParams(*m, 31);
    m->zeroGrad();
    ForwardOptions o;
    o.pack = o.sharePrefix = true;
    ASSERT_TRUE(m->forward(batch.view(), o));
    EXPECT_GE(m->workDone().sharedRows, 2 * 3 * 19);
    outs.push_back(m->toHost(m->logprobs(), batch.B * T));
    std::vector<float> up = randomVector<float>(size_t(batch.B * T), 3, 1);
    OutputGrads<float> g;
    g.dlogprob = up.data();
    ASSERT_TRUE(m->backward(g));
    grads.push_back(m->toHost(m->gradData(), m->numParams()));
  }
  setCpuThreads(threads);
  EXPECT_EQ(outs[0], outs[1]);
  EXPECT_EQ(grads[0], grads[1]);
}

} // namespace
