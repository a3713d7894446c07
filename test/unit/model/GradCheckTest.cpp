// Every parameter tensor's gradient (through the fused log-prob/entropy head
// or the scalar head) against central finite differences, in float64.
#include "ModelTestUtil.h"

using namespace hone;
using namespace hone::test;

namespace {

struct Case {
  const char *name;
  ModelConfig cfg;
  double temperature;
  /// Transformer::setRecomputeLayers: backward() re-runs these layers.
  int64_t recompute = 0;
};

/// L = sum c*logprob + sum e*entropy (LM) or sum c*value + sum r*reward.
double lossOf(Transformer<double> &m, const Batch &b, const ForwardOptions &o,
              const std::vector<double> &c, const std::vector<double> &e,
              const std::vector<double> &r) {
  Status s = m.forward(b.view(), o);
  EXPECT_TRUE(s) << s.toString();
  const int64_t n = b.B * b.T;
  double L = 0;
  if (m.config().head == HeadKind::LM) {
    for (int64_t i = 0; i < n; ++i)
      L += c[size_t(i)] * m.logprobs()[i] + e[size_t(i)] * m.entropy()[i];
  } else {
    for (int64_t i = 0; i < n; ++i)
      L += c[size_t(i)] * m.values()[i];
    for (int64_t i = 0; i < b.B; ++i)
      L += r[size_t(i)] * m.rewards()[i];
  }
  return L;
}

void gradCheck(const Case &tc) {
  auto k = makeCpuKernels<double>();
  auto mOr = Transformer<double>::create(tc.cfg, k.get());
  ASSERT_TRUE(mOr) << mOr.status().toString();
  auto &m = **mOr;
  randomizeParams(m, 17);
  m.setRecomputeLayers(tc.recompute);
  Batch b = randomBatch(tc.cfg.vocabSize, {6, 4, 2}, 6, 5);
  ForwardOptions o;
  o.temperature = tc.temperature;
  const size_t n = size_t(b.B * b.T);
  auto c = randomVector<double>(n, 9, 0);
  auto e = randomVector<double>(n, 9, 1);
  auto r = randomVector<double>(size_t(b.B), 9, 2);

  m.zeroGrad();
  lossOf(m, b, o, c, e, r);
  OutputGrads<double> g;
  if (tc.cfg.head == HeadKind::LM) {
    g.dlogprob = c.data();
    g.dentropy = e.data();
  } else {
    g.dvalue = c.data();
    g.dreward = r.data();
  }
  Status s = m.backward(g);
  ASSERT_TRUE(s) << s.toString();
  // Recompute mode really re-ran layers 0..R-2 (R-1's are the forward's).
  EXPECT_EQ(m.recomputedLayers(), uint64_t(std::max<int64_t>(tc.recompute - 1, 0)));

  const double h = 1e-5;
  double worst = 0;
  std::string worstName;
  for (const ParamInfo &p : m.params()) {
    double num = 0, den2a = 0, den2f = 0;
    for (int64_t j = 0; j < p.numel; ++j) {
      double *w = m.param(p) + j;
      double w0 = *w;
      *w = w0 + h;
      double lp = lossOf(m, b, o, c, e, r);
      *w = w0 - h;
      double lm = lossOf(m, b, o, c, e, r);
      *w = w0;
      double fd = (lp - lm) / (2 * h);
      double an = m.grad(p)[j];
      num += (an - fd) * (an - fd);
      den2a += an * an;
      den2f += fd * fd;
    }
    double rel =
        std::sqrt(num) / std::max({std::sqrt(den2a), std::sqrt(den2f), 1e-12});
    if (rel > worst) {
      worst = rel;
      worstName = p.name;
    }
    EXPECT_LT(rel, 1e-6) << tc.name << ": " << p.name
                         << " |g|=" << std::sqrt(den2a)
                         << " |fd|=" << std::sqrt(den2f);
    // A gradient check that can pass with zero gradients proves nothing.
    EXPECT_GT(std::sqrt(den2a), 1e-8) << tc.name << ": " << p.name;
  }
  std::printf("%s: %zu tensors, worst relative error %.2e (%s)\n", tc.name,
              m.params().size(), worst, worstName.c_str());
}

} // namespace

TEST(GradCheck, Gpt2LmHead) { gradCheck({"gpt2", tinyGpt2(), 1.0}); }
TEST(GradCheck, Gpt2LmHeadTemperature) {
  gradCheck({"gpt2-t0.7", tinyGpt2(), 0.7});
}
TEST(GradCheck, Qwen2GqaBiasUntied) { gradCheck({"qwen2", tinyQwen2(), 1.0}); }
TEST(GradCheck, LlamaMqaTied) { gradCheck({"llama", tinyLlama(), 1.3}); }
TEST(GradCheck, Qwen3QkNormHeadDim) { gradCheck({"qwen3", tinyQwen3(), 1.0}); }
TEST(GradCheck, Llama3RopeScaling) {
  gradCheck({"llama3", tinyLlama3(), 1.0});
}
TEST(GradCheck, Qwen3ScalarHead) {
  gradCheck({"qwen3-value", tinyQwen3(HeadKind::Scalar), 1.0});
}
TEST(GradCheck, Gpt2ScalarHead) {
  gradCheck({"gpt2-value", tinyGpt2(HeadKind::Scalar), 1.0});
}
TEST(GradCheck, LlamaScalarHead) {
  gradCheck({"qwen2-value", tinyQwen2(HeadKind::Scalar), 1.0});
}

// Activation recomputation (Transformer::setRecomputeLayers) on three
// layers: two of them re-run in backward.
ModelConfig threeLayers(ModelConfig c) {
  c.nLayers = 3;
  return c;
}
TEST(GradCheck, Gpt2Recompute) {
  gradCheck({"gpt2-recompute", threeLayers(tinyGpt2()), 1.0, 3});
}
TEST(GradCheck, Qwen3QkNormRecompute) {
  gradCheck({"qwen3-recompute", threeLayers(tinyQwen3()), 1.0, 3});
}
TEST(GradCheck, LlamaScalarHeadRecomputeSome) {
  gradCheck({"llama-value-recompute-2",
             threeLayers(tinyLlama(HeadKind::Scalar)), 1.0, 2});
}

TEST(Model, EnumeratesHuggingFaceNames) {
  auto k = makeCpuKernels<float>();
  auto g = Transformer<float>::create(tinyGpt2(), k.get());
  ASSERT_TRUE(g);
  const ParamInfo *p = (*g)->findParam("h.0.attn.c_attn.weight");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->shape, (Shape{8, 24})); // Conv1D [in, out]
  EXPECT_NE((*g)->findParam("wte.weight"), nullptr);
  EXPECT_NE((*g)->findParam("wpe.weight"), nullptr);
  EXPECT_NE((*g)->findParam("h.1.mlp.c_proj.bias"), nullptr);
  EXPECT_NE((*g)->findParam("ln_f.bias"), nullptr);
  EXPECT_EQ((*g)->findParam("lm_head.weight"), nullptr); // tied
  EXPECT_GT((*g)->workspaceBytes(2, 6), 0);
  EXPECT_GT((*g)->workspaceBytes(4, 6), (*g)->workspaceBytes(2, 6));
  auto q = Transformer<float>::create(tinyQwen2(), k.get());
  ASSERT_TRUE(q);
  p = (*q)->findParam("model.layers.1.self_attn.k_proj.weight");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->shape, (Shape{8, 16})); // [out, in], 2 KV heads of 4
  EXPECT_NE((*q)->findParam("model.layers.0.self_attn.q_proj.bias"), nullptr);
  EXPECT_NE((*q)->findParam("lm_head.weight"), nullptr);
  EXPECT_NE((*q)->findParam("model.layers.0.mlp.gate_proj.weight"), nullptr);
  EXPECT_NE((*q)->findParam("model.norm.weight"), nullptr);
  EXPECT_FALSE(
      (*q)->findParam("model.layers.0.self_attn.q_proj.weight")->decay ==
      false);
  // Round trip through a bf16 tensor by name.
  auto t = Tensor::zeros({8, 16}, DType::BF16);
  ASSERT_TRUE(t);
  static_cast<uint16_t *>(t->raw())[3] = floatToBf16(0.75f);
  EXPECT_TRUE((*q)->setParam("model.layers.1.self_attn.k_proj.weight", *t));
  auto back =
      (*q)->getParam("model.layers.1.self_attn.k_proj.weight", DType::F32);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->data<float>()[3], 0.75f);
  auto wrong = Tensor::zeros({16, 8}, DType::F32);
  EXPECT_FALSE(
      (*q)->setParam("model.layers.1.self_attn.k_proj.weight", *wrong));
  EXPECT_FALSE((*q)->setParam("no.such.weight", *wrong));
}

TEST(Model, RejectsBadInput) {
  auto k = makeCpuKernels<float>();
  ModelConfig bad = tinyQwen2();
  bad.nKvHeads = 3;
  EXPECT_FALSE(Transformer<float>::create(bad, k.get()));
  auto m = Transformer<float>::create(tinyGpt2(), k.get());
  ASSERT_TRUE(m);
  Batch b = randomBatch(13, {3, 2}, 4, 1);
  b.tokens[1] = 99; // outside the vocabulary
  EXPECT_FALSE((*m)->forward(b.view()));
  b.tokens[1] = 1;
  b.lengths[0] = 5; // longer than the batch
  EXPECT_FALSE((*m)->forward(b.view()));
  b.lengths[0] = 3;
  EXPECT_TRUE((*m)->forward(b.view()));
  Batch longB = randomBatch(13, {9}, 9, 1); // beyond maxSeqLen
  EXPECT_FALSE((*m)->forward(longB.view()));
  OutputGrads<float> g;
  std::vector<float> dv(8, 1.0f);
  g.dvalue = dv.data();
  EXPECT_FALSE((*m)->backward(g)); // LM head has no values
}
