// Unit tests of runtime/job/Steps: frozen reads (log-probs, values) whole,
// micro-batched and packed, generation's log-probs against scoring.
#include "test/unit/job/JobTestUtil.h"

using namespace hone;
using namespace hone::job;
using namespace hone::test;
using namespace hone::toydata;

namespace {
struct TinySetup {
  Tokenizer tok = toyTok();
  std::unique_ptr<Kernels<float>> k = makeCpuKernels<float>();
  std::unique_ptr<Transformer<float>> model;
  SeqBatch batch;
  TinySetup() {
    auto m = Transformer<float>::create(tinyConfig(tok.vocabSize()), k.get());
    EXPECT_TRUE(m.isOk());
    model = m.take();
    model->initRandom(3);
    std::string s;
    for (uint64_t i = 0; i < 8; ++i)
      s += json::serialize(toyRecord(toyExample({}, i), true)) + "\n";
    auto dl = DataLoader::fromJsonl("t.jsonl", s, 0, false);
    TextFormat fmt;
    fmt.tokenizer = &tok;
    fmt.eosToken = 1;
    batch = makeSftBatch(fmt, *dl, {0, 1, 2, 3, 4, 5, 6, 7}).take();
  }
};
} // namespace

/// `got` equals `want` bit for bit when `exact`, else within `rel`
/// (relative to max(1, |want|)); the worst difference otherwise.
::testing::AssertionResult sameFloats(const std::vector<float> &got,
                                      const std::vector<float> &want,
                                      bool exact, double rel) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure() << "sizes differ";
  if (exact)
    return std::memcmp(got.data(), want.data(), got.size() * sizeof(float))
               ? ::testing::AssertionFailure() << "bits differ"
               : ::testing::AssertionSuccess();
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i)
    worst = std::max(worst, std::abs(double(got[i]) - double(want[i])) /
                                std::max(1.0, std::abs(double(want[i]))));
  if (worst <= rel)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "worst relative difference "
                                       << worst;
}

// hone.logprob and hone.value with a micro_batch (hone-plan-memory's
// decision under a budget) run the forward in chunks of rows: every row's
// result must be the one-forward result, whatever the chunk: bit for bit
// where the CPU's GEMMs give a row the same bits whatever the row count
// (test/unit/GemmRows.h), to a few ulp otherwise (Zen 2: measured < 1e-6).
TEST(Steps, MicroBatchedReadsAreBitIdentical) {
  TinySetup a;
  const bool exact = hone::test::gemmRowsInvariant(*a.k);
  std::vector<float> entFull;
  auto full = computeLogprobs(*a.model, a.batch.view(), 0, 0.7, &entFull);
  ASSERT_TRUE(full.isOk());
  for (int64_t mb : {1, 2, 3, 5, 8, 64}) {
    std::vector<float> ent;
    auto lp = computeLogprobs(*a.model, a.batch.view(), mb, 0.7, &ent);
    ASSERT_TRUE(lp.isOk());
    ASSERT_EQ(lp->size(), full->size());
    ASSERT_EQ(ent.size(), entFull.size());
    EXPECT_TRUE(sameFloats(*lp, *full, exact, 1e-5)) << "micro-batch " << mb;
    EXPECT_TRUE(sameFloats(ent, entFull, exact, 1e-5)) << "micro-batch " << mb;
  }
  // hone.value: a scalar-head model.
  ModelConfig vc = tinyConfig(a.tok.vocabSize());
  vc.head = HeadKind::Scalar;
  auto critic = Transformer<float>::create(vc, a.k.get());
  ASSERT_TRUE(critic.isOk());
  auto c = critic.take();
  c->initRandom(5);
  auto vFull = computeValues(*c, a.batch.view(), 0);
  ASSERT_TRUE(vFull.isOk());
  for (int64_t mb : {1, 3, 8}) {
    auto v = computeValues(*c, a.batch.view(), mb);
    ASSERT_TRUE(v.isOk());
    ASSERT_EQ(v->size(), vFull->size());
    EXPECT_TRUE(sameFloats(*v, *vFull, exact, 1e-5)) << "micro-batch " << mb;
  }
}

// hone.logprob and hone.value packed by hone-pack-sequences run padding-free
// over each row's first lengths[b] tokens: there they equal the padded
// forward's results to float rounding, after them they are 0, whatever the
// micro-batch.
TEST(Steps, PackedReadsMatchPadded) {
  TinySetup a;
  const TokenBatch full = a.batch.view();
  const int64_t B = full.batch, T = full.seqLen;
  // Rows cut short of their padding, as a loss mask's last token does.
  std::vector<int32_t> len(full.lengths, full.lengths + B);
  for (int64_t b = 0; b < B; ++b)
    len[size_t(b)] = std::max<int32_t>(1, len[size_t(b)] - int32_t(b % 3));
  TokenBatch cut{B, T, full.tokens, len.data()};
  ASSERT_LT(std::accumulate(len.begin(), len.end(), int64_t(0)), B * T);
  auto expectPacked = [&](const std::vector<float> &padded,
                          const std::vector<float> &packed, double tol,
                          const std::string &what) {
    ASSERT_EQ(padded.size(), packed.size()) << what;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t) {
        size_t i = size_t(b * T + t);
        if (t < len[size_t(b)])
          EXPECT_NEAR(packed[i], padded[i], tol)
              << what << " row " << b << " position " << t;
        else
          EXPECT_EQ(packed[i], 0.f) << what << " row " << b << " position " << t;
      }
  };
  std::vector<float> entPadded;
  auto padded = computeLogprobs(*a.model, full, 0, 0.7, &entPadded);
  ASSERT_TRUE(padded.isOk());
  for (int64_t mb : {0, 3}) {
    std::vector<float> ent;
    auto lp = computeLogprobs(*a.model, cut, mb, 0.7, &ent, /*pack=*/true);
    ASSERT_TRUE(lp.isOk()) << lp.status().toString();
    expectPacked(*padded, *lp, 2e-5, "log-probs, micro-batch " + std::to_string(mb));
    expectPacked(entPadded, ent, 2e-5, "entropy, micro-batch " + std::to_string(mb));
  }
  ModelConfig vc = tinyConfig(a.tok.vocabSize());
  vc.head = HeadKind::Scalar;
  auto critic = Transformer<float>::create(vc, a.k.get());
  ASSERT_TRUE(critic.isOk());
  auto c = critic.take();
  c->initRandom(5);
  auto vPadded = computeValues(*c, full, 0);
  ASSERT_TRUE(vPadded.isOk());
  for (int64_t mb : {0, 5}) {
    auto v = computeValues(*c, cut, mb, /*pack=*/true);
    ASSERT_TRUE(v.isOk()) << v.status().toString();
    expectPacked(*vPadded, *v, 2e-5, "values, micro-batch " + std::to_string(mb));
  }
}

TEST(Steps, GenerateLogprobsMatchScoring) {
  TinySetup a;
  SamplingConfig sc;
  sc.maxNewTokens = 5;
  sc.seed = 9;
  sc.stopTokens = {1};
  std::vector<std::vector<int32_t>> prompts = {{5, 6, 7}, {5, 6, 7}, {8, 9}};
  auto ro = generateRollout(*a.model, a.tok, prompts, sc);
  ASSERT_TRUE(ro.isOk()) << ro.status().toString();
  std::vector<float> ent;
  auto lp = computeLogprobs(*a.model, ro->view(), 2, 1.0, &ent);
  ASSERT_TRUE(lp.isOk());
  for (size_t i = 0; i < lp->size(); ++i) {
    if (ro->mask[i] != 0) {
      EXPECT_NEAR((*lp)[i], ro->gen.logprobs[i], 1e-4);
    }
  }
  EXPECT_EQ(ro->completions.size(), 3u);
  EXPECT_FALSE(computeValues(*a.model, ro->view()).isOk()); // LM head
}
