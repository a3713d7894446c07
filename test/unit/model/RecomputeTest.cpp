// Activation recomputation per layer (Transformer::setRecomputeLayers): a
// model that recomputes some or all of its layers in backward() gives
// outputs, gradients and, over optimiser steps, weights bit-identical to the
// keeping path, for GPT-2, Llama, Qwen3 (qk-norm), a scalar head, LoRA with
// dropout and packed batches; it holds the bytes memsize::activationBytes
// gives for the mode (what hone-plan-memory plans); and it really re-runs
// the layers (counted). Float64 finite differences in recompute mode are in
// GradCheckTest.cpp and LoraTest.cpp.
#include "ModelTestUtil.h"
#include "runtime/model/MemorySizes.h"
#include "runtime/model/Optimizer.h"

#include <cstring>

using namespace hone;
using namespace hone::test;

namespace {

ModelConfig threeLayers(ModelConfig c) {
  c.nLayers = 3;
  return c;
}

LoraConfig allTargets(double dropout) {
  LoraConfig lc;
  lc.rank = 2;
  lc.alpha = 3;
  lc.dropout = dropout;
  lc.targets = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                "gate_proj", "up_proj", "down_proj"};
  return lc;
}

/// What one run of `steps` training steps leaves: every step's outputs and
/// gradients, and the final trainable weights, as raw bytes.
struct Trace {
  std::vector<std::vector<float>> outputs, grads;
  std::vector<float> weights;
  uint64_t recomputed = 0;
  int64_t heldBytes = 0;
};

bool sameBits(const std::vector<float> &a, const std::vector<float> &b) {
  return a.size() == b.size() &&
         std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

Trace run(const ModelConfig &cfg, int64_t recompute, bool pack,
          const LoraConfig *lora = nullptr, int steps = 3) {
  Trace tr;
  auto k = makeCpuKernels<float>();
  auto mOr = Transformer<float>::create(cfg, k.get());
  EXPECT_TRUE(mOr) << mOr.status().toString();
  if (!mOr)
    return tr;
  Transformer<float> &m = **mOr;
  randomizeParams(m, 11, 0.3);
  if (lora) {
    Status s = m.addLora(*lora, 3);
    EXPECT_TRUE(s) << s.toString();
  }
  m.setRecomputeLayers(recompute);
  AdamWConfig oc;
  oc.lr = 1e-2;
  oc.weightDecay = 0.01;
  AdamW<float> opt(m, oc);
  const int64_t T = std::min<int64_t>(7, cfg.maxSeqLen);
  for (int s = 0; s < steps; ++s) {
    Batch b = randomBatch(cfg.vocabSize, {int32_t(T), 4, 2, int32_t(T - 1)}, T,
                          uint64_t(20 + s));
    ForwardOptions fo;
    fo.pack = pack;
    fo.train = true;
    fo.dropoutSeed = 99;
    fo.dropoutStep = uint32_t(s);
    Status st = m.forward(b.view(), fo);
    EXPECT_TRUE(st) << st.toString();
    const size_t n = size_t(b.B * b.T);
    auto c = randomVector<float>(n, uint64_t(30 + s), 0);
    auto e = randomVector<float>(n, uint64_t(30 + s), 1);
    auto r = randomVector<float>(size_t(b.B), uint64_t(30 + s), 2);
    OutputGrads<float> g;
    if (cfg.head == HeadKind::LM) {
      tr.outputs.push_back(m.toHost(m.logprobs(), int64_t(n)));
      tr.outputs.push_back(m.toHost(m.entropy(), int64_t(n)));
      g.dlogprob = c.data();
      g.dentropy = e.data();
    } else {
      tr.outputs.push_back(m.toHost(m.values(), int64_t(n)));
      g.dvalue = c.data();
      g.dreward = r.data();
    }
    tr.heldBytes = m.activationBytesHeld();
    m.zeroGrad();
    st = m.backward(g);
    EXPECT_TRUE(st) << st.toString();
    if (s == 0) {
      // A second backward of the same forward accumulates the same
      // gradients again (the working set then holds layer 0, not the last
      // recomputed layer the forward left).
      st = m.backward(g);
      EXPECT_TRUE(st) << st.toString();
    }
    tr.grads.push_back(m.toHost(m.trainableGrad(), m.numTrainable()));
    auto stats = opt.step(true);
    EXPECT_TRUE(stats) << stats.status().toString();
  }
  tr.weights = m.toHost(m.trainableData(), m.numTrainable());
  tr.recomputed = m.recomputedLayers();
  return tr;
}

void expectIdentical(const ModelConfig &cfg, const char *tag,
                     const LoraConfig *lora = nullptr) {
  for (bool pack : {false, true}) {
    Trace keep = run(cfg, 0, pack, lora);
    EXPECT_EQ(keep.recomputed, 0u);
    ASSERT_FALSE(keep.grads.empty());
    for (int64_t R = 1; R <= cfg.nLayers; ++R) {
      SCOPED_TRACE(std::string(tag) + (pack ? " packed" : " padded") +
                   " recompute " + std::to_string(R));
      Trace re = run(cfg, R, pack, lora);
      ASSERT_EQ(re.outputs.size(), keep.outputs.size());
      for (size_t i = 0; i < keep.outputs.size(); ++i)
        EXPECT_TRUE(sameBits(re.outputs[i], keep.outputs[i])) << "output " << i;
      for (size_t i = 0; i < keep.grads.size(); ++i)
        EXPECT_TRUE(sameBits(re.grads[i], keep.grads[i])) << "step " << i;
      EXPECT_TRUE(sameBits(re.weights, keep.weights));
      // Layers 0..R-2 re-run per backward (R-1's buffers are the forward's):
      // 3 steps and one extra backward, which re-runs R-1 as well.
      const uint64_t perBackward = uint64_t(R - 1);
      EXPECT_EQ(re.recomputed, 4 * perBackward + (R >= 2 ? 1 : 0));
      // The bytes held are the planned ones, fewer for R >= 2.
      const int64_t T = std::min<int64_t>(7, cfg.maxSeqLen);
      memsize::LoraShape shape;
      if (lora)
        shape = {lora->rank, lora->targets, lora->dropout > 0};
      if (!pack) { // packed: the rows of the largest batch run so far
        EXPECT_EQ(re.heldBytes,
                  memsize::activationBytes(cfg, 4, T, 4, &shape, nullptr, R));
      }
      if (R >= 2) {
        EXPECT_LT(re.heldBytes, keep.heldBytes);
      } else {
        EXPECT_EQ(re.heldBytes, keep.heldBytes);
      }
    }
  }
}

} // namespace

TEST(Recompute, Gpt2BitIdenticalToKeeping) {
  expectIdentical(threeLayers(tinyGpt2()), "gpt2");
}
TEST(Recompute, LlamaBitIdenticalToKeeping) {
  expectIdentical(threeLayers(tinyLlama()), "llama");
}
TEST(Recompute, Qwen3QkNormBitIdenticalToKeeping) {
  expectIdentical(threeLayers(tinyQwen3()), "qwen3");
}
TEST(Recompute, ScalarHeadBitIdenticalToKeeping) {
  expectIdentical(threeLayers(tinyQwen2(HeadKind::Scalar)), "qwen2-value");
}
TEST(Recompute, LoraWithDropoutBitIdenticalToKeeping) {
  LoraConfig lc = allTargets(0.25);
  expectIdentical(threeLayers(tinyQwen3()), "qwen3-lora", &lc);
  LoraConfig sub = allTargets(0);
  sub.targets = {"v_proj", "down_proj"};
  expectIdentical(threeLayers(tinyLlama()), "llama-lora-subset", &sub);
}

TEST(Recompute, SizesMatchTheRuntimeAndShrinkPerLayer) {
  // workspaceBytes (the mode's layout) against memsize for every count,
  // and each recomputed layer past the first saving the same bytes.
  for (ModelConfig cfg : {threeLayers(tinyGpt2()), threeLayers(tinyQwen3())}) {
    cfg.nLayers = 5;
    auto k = makeCpuKernels<float>();
    auto m = Transformer<float>::create(cfg, k.get());
    ASSERT_TRUE(m);
    int64_t prev = 0, step = 0;
    for (int64_t R = 0; R <= cfg.nLayers + 1; ++R) {
      (*m)->setRecomputeLayers(R);
      const int64_t bytes = (*m)->workspaceBytes(3, 8);
      EXPECT_EQ(bytes, memsize::activationBytes(cfg, 3, 8, 4, nullptr, nullptr, R));
      if (R == 1) {
        EXPECT_EQ(bytes, prev);
      } else if (R == 2) {
        step = prev - bytes;
      } else if (R >= 3 && R <= cfg.nLayers) {
        EXPECT_NEAR(double(prev - bytes), double(step), 64.0);
      } else if (R > cfg.nLayers) { // clamped
        EXPECT_EQ(bytes, prev);
      }
      prev = bytes;
    }
    EXPECT_GT(step, 0);
  }
}

TEST(Recompute, ModeChangedBetweenForwardAndBackwardKeepsTheForwardsLayout) {
  const ModelConfig cfg = threeLayers(tinyLlama());
  auto k = makeCpuKernels<float>();
  auto mOr = Transformer<float>::create(cfg, k.get());
  ASSERT_TRUE(mOr);
  Transformer<float> &m = **mOr;
  randomizeParams(m, 11, 0.3);
  Batch b = randomBatch(cfg.vocabSize, {5, 3}, 5, 4);
  auto c = randomVector<float>(size_t(b.B * b.T), 8, 0);
  OutputGrads<float> g;
  g.dlogprob = c.data();
  ASSERT_TRUE(m.forward(b.view()));
  m.zeroGrad();
  ASSERT_TRUE(m.backward(g));
  auto keep = m.toHost(m.gradData(), m.numParams());
  m.setRecomputeLayers(3);
  ASSERT_TRUE(m.forward(b.view()));
  m.setRecomputeLayers(0); // takes effect at the next forward
  m.zeroGrad();
  ASSERT_TRUE(m.backward(g));
  EXPECT_EQ(m.recomputedLayers(), 2u);
  EXPECT_TRUE(sameBits(m.toHost(m.gradData(), m.numParams()), keep));
}
