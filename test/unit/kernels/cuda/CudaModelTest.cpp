// The whole transformer on the CUDA backend against the CPU backend: the
// same parameters give the same log-probs, entropies, values, gradients,
// AdamW updates and generated tokens (greedy and seeded sampling). Skipped
// without a CUDA device.
//
// Tolerances: log-probs and entropies 1e-4 absolute (2e-4 for the larger
// model), gradients 2e-4 (1e-3) of the largest gradient, parameters after
// one AdamW step 1e-5 absolute. Generated tokens must be identical: a
// sampled draw could differ only if it landed within ~1e-6 of a boundary of
// the cumulative distribution (probability ~1e-5 per draw at these sizes).
#include "CudaTestUtil.h"

#include "runtime/model/Generate.h"
#include "runtime/model/Optimizer.h"
#include "test/unit/model/ModelTestUtil.h"

using namespace hone;
using namespace hone::test;

namespace {

ModelConfig mediumLlama() {
  ModelConfig c;
  c.family = ModelFamily::Llama;
  c.vocabSize = 1000;
  c.dModel = 256;
  c.nLayers = 3;
  c.nHeads = 4;
  c.nKvHeads = 2;
  c.dFf = 512;
  c.maxSeqLen = 96;
  c.tieEmbeddings = false;
  return c;
}

ModelConfig mediumGpt2() {
  ModelConfig c;
  c.family = ModelFamily::GPT2;
  c.vocabSize = 777;
  c.dModel = 128;
  c.nLayers = 2;
  c.nHeads = 2;
  c.nKvHeads = 2;
  c.dFf = 512;
  c.maxSeqLen = 80;
  return c;
}

/// The same model on both backends.
struct Twins {
  std::unique_ptr<Transformer<float>> cpu, gpu;
};

Twins makeTwins(const ModelConfig &cfg, Kernels<float> &ck,
                Kernels<float> &gk, double scale) {
  Twins t;
  auto c = Transformer<float>::create(cfg, &ck);
  auto g = Transformer<float>::create(cfg, &gk);
  EXPECT_TRUE(c && g);
  if (!c || !g)
    return t;
  t.cpu = c.take();
  t.gpu = g.take();
  randomizeParams(*t.cpu, 5, scale);
  auto w = t.cpu->toHost(t.cpu->paramData(), t.cpu->numParams());
  gk.copyToDevice(t.gpu->paramData(), w.data(), w.size() * sizeof(float));
  return t;
}

std::vector<float> host(const Transformer<float> &m, const float *p,
                        int64_t n) {
  return m.toHost(p, n);
}

struct ModelCase {
  const char *name;
  ModelConfig cfg;
  double scale, lpTol, gradTol;
};

std::vector<ModelCase> cases() {
  return {{"gpt2-tiny", tinyGpt2(), 0.4, 1e-4, 2e-4},
          {"qwen2-tiny", tinyQwen2(), 0.4, 1e-4, 2e-4},
          {"llama-tiny", tinyLlama(), 0.4, 1e-4, 2e-4},
          {"llama-medium", mediumLlama(), 0.05, 2e-4, 1e-3},
          {"gpt2-medium", mediumGpt2(), 0.05, 2e-4, 1e-3}};
}

} // namespace

using CudaModelTest = CudaVsCpu;

TEST_F(CudaModelTest, ForwardBackwardAndAdamWMatchCpu) {
  for (const ModelCase &mc : cases()) {
    SCOPED_TRACE(mc.name);
    Twins m = makeTwins(mc.cfg, cpu(), gpu(), mc.scale);
    ASSERT_TRUE(m.cpu && m.gpu);
    const int64_t T = mc.cfg.maxSeqLen;
    Batch b = randomBatch(mc.cfg.vocabSize,
                          {int32_t(T), int32_t(T - 3), int32_t(T / 2)}, T, 9);
    ForwardOptions fo;
    fo.temperature = 0.8;
    ASSERT_TRUE(m.cpu->forward(b.view(), fo));
    ASSERT_TRUE(m.gpu->forward(b.view(), fo));
    const int64_t n = b.B * T;
    auto lc = host(*m.cpu, m.cpu->logprobs(), n);
    auto lg = host(*m.gpu, m.gpu->logprobs(), n);
    EXPECT_TRUE(allClose(lg, lc, mc.lpTol, 0)) << "log-probs";
    auto ec = host(*m.cpu, m.cpu->entropy(), n);
    auto eg = host(*m.gpu, m.gpu->entropy(), n);
    EXPECT_TRUE(allClose(eg, ec, mc.lpTol, 0)) << "entropy";

    auto dlp = randomVector<float>(size_t(n), 3, 0);
    auto dent = randomVector<float>(size_t(n), 3, 1);
    Dev<float> gdlp(gpu(), dlp), gdent(gpu(), dent);
    OutputGrads<float> oc, og;
    oc.dlogprob = dlp.data();
    oc.dentropy = dent.data();
    og.dlogprob = gdlp.get();
    og.dentropy = gdent.get();
    m.cpu->zeroGrad();
    m.gpu->zeroGrad();
    ASSERT_TRUE(m.cpu->backward(oc));
    ASSERT_TRUE(m.gpu->backward(og));
    const int64_t P = m.cpu->numParams();
    auto gc = host(*m.cpu, m.cpu->gradData(), P);
    auto gg = host(*m.gpu, m.gpu->gradData(), P);
    EXPECT_TRUE(allClose(gg, gc, mc.gradTol * maxAbs(gc), 0)) << "gradients";

    AdamWConfig ac;
    ac.lr = 1e-3;
    ac.weightDecay = 0.1;
    ac.maxGradNorm = 0.5;
    AdamW<float> optC(*m.cpu, ac), optG(*m.gpu, ac);
    auto sc = optC.step(true);
    auto sg = optG.step(true);
    ASSERT_TRUE(sc && sg);
    EXPECT_NEAR(sg->gradNorm, sc->gradNorm, 1e-3 * sc->gradNorm);
    auto pc = host(*m.cpu, m.cpu->paramData(), P);
    auto pg = host(*m.gpu, m.gpu->paramData(), P);
    EXPECT_TRUE(allClose(pg, pc, 1e-5, 0)) << "parameters after AdamW";
    auto zg = host(*m.gpu, m.gpu->gradData(), P);
    EXPECT_EQ(maxAbs(zg), 0.0) << "zeroGrads";
  }
}

TEST_F(CudaModelTest, ScalarHeadMatchesCpu) {
  ModelConfig cfg = tinyQwen2(HeadKind::Scalar);
  Twins m = makeTwins(cfg, cpu(), gpu(), 0.4);
  ASSERT_TRUE(m.cpu && m.gpu);
  Batch b = randomBatch(cfg.vocabSize, {8, 5}, 8, 4);
  ASSERT_TRUE(m.cpu->forward(b.view()));
  ASSERT_TRUE(m.gpu->forward(b.view()));
  EXPECT_TRUE(allClose(host(*m.gpu, m.gpu->values(), 16),
                    host(*m.cpu, m.cpu->values(), 16), 1e-5, 1e-5));
  EXPECT_TRUE(allClose(host(*m.gpu, m.gpu->rewards(), 2),
                    host(*m.cpu, m.cpu->rewards(), 2), 1e-5, 1e-5));
  auto dv = randomVector<float>(16, 4, 0), dr = randomVector<float>(2, 4, 1);
  Dev<float> gdv(gpu(), dv), gdr(gpu(), dr);
  OutputGrads<float> oc, og;
  oc.dvalue = dv.data();
  oc.dreward = dr.data();
  og.dvalue = gdv.get();
  og.dreward = gdr.get();
  m.cpu->zeroGrad();
  m.gpu->zeroGrad();
  ASSERT_TRUE(m.cpu->backward(oc));
  ASSERT_TRUE(m.gpu->backward(og));
  auto gc = host(*m.cpu, m.cpu->gradData(), m.cpu->numParams());
  auto gg = host(*m.gpu, m.gpu->gradData(), m.cpu->numParams());
  EXPECT_TRUE(allClose(gg, gc, 2e-4 * maxAbs(gc), 0));
}

TEST_F(CudaModelTest, GenerationGivesTheCpuTokens) {
  struct GenCase {
    const char *name;
    ModelConfig cfg;
    double scale;
    bool sampled; // seeded sampling too (tiny vocabularies)
  };
  for (const GenCase &gc :
       {GenCase{"qwen2-tiny", tinyQwen2(), 0.4, true},
        GenCase{"gpt2-tiny", tinyGpt2(), 0.4, true},
        GenCase{"llama-medium", mediumLlama(), 0.05, false}}) {
    SCOPED_TRACE(gc.name);
    Twins m = makeTwins(gc.cfg, cpu(), gpu(), gc.scale);
    ASSERT_TRUE(m.cpu && m.gpu);
    const int32_t V = int32_t(gc.cfg.vocabSize);
    std::vector<std::vector<int32_t>> prompts = {
        {1 % V, 2 % V, 3 % V}, {4 % V}, {5 % V, 6 % V, 7 % V, 8 % V, 9 % V}};
    std::vector<SamplingConfig> configs;
    SamplingConfig greedy;
    greedy.greedy = true;
    greedy.samplesPerPrompt = 2;
    greedy.maxNewTokens = gc.cfg.maxSeqLen - 6;
    configs.push_back(greedy);
    if (gc.sampled) {
      SamplingConfig s = greedy;
      s.greedy = false;
      s.samplesPerPrompt = 4;
      s.temperature = 0.9;
      s.seed = 42;
      s.stopTokens = {0};
      configs.push_back(s);
      s.topK = 4;
      s.topP = 0.8;
      s.seed = 7;
      configs.push_back(s);
    }
    for (const SamplingConfig &sc : configs) {
      auto rc = generate(*m.cpu, prompts, sc);
      auto rg = generate(*m.gpu, prompts, sc);
      ASSERT_TRUE(rc && rg);
      EXPECT_EQ(rg->tokens, rc->tokens)
          << "greedy=" << sc.greedy << " topK=" << sc.topK;
      EXPECT_EQ(rg->lengths, rc->lengths);
      EXPECT_EQ(rg->mask, rc->mask);
      if (rg->tokens == rc->tokens) {
        EXPECT_TRUE(allClose(rg->logprobs, rc->logprobs, 1e-4, 0));
      }
    }
  }
}
