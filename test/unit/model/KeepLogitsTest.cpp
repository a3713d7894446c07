// The LM head's logits kept from a training forward for its backward
// (Transformer::setKeepLogits): over optimiser steps, outputs, gradients
// and weights are bit-identical to the recomputing path (float and
// float64; GPT-2, Qwen3, LoRA on a bf16-free base, packed, shared-prefix
// and recomputed layers); the backward really reads the kept logits
// (counted), a second backward of one forward recomputes them, forwards
// that are not training ones keep nothing, and the bytes held are
// memsize::activationBytes with keepLogits (what hone-plan-memory plans).
#include "ModelTestUtil.h"
#include "runtime/model/MemorySizes.h"
#include "runtime/model/Optimizer.h"

#include <cstring>

using namespace hone;
using namespace hone::test;

namespace {

template <typename T> struct Trace {
  std::vector<std::vector<T>> outputs, grads;
  std::vector<T> weights;
  uint64_t keptUsed = 0;
  int64_t heldBytes = 0;
};

template <typename T>
bool sameBits(const std::vector<T> &a, const std::vector<T> &b) {
  return a.size() == b.size() &&
         std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

struct Mode {
  bool pack = false, share = false;
  int64_t recompute = 0;
  bool lora = false;
};

template <typename T>
Trace<T> run(const ModelConfig &cfg, bool keep, const Mode &md,
             int steps = 3) {
  Trace<T> tr;
  auto k = makeCpuKernels<T>();
  auto mOr = Transformer<T>::create(cfg, k.get());
  EXPECT_TRUE(mOr) << mOr.status().toString();
  if (!mOr)
    return tr;
  Transformer<T> &m = **mOr;
  randomizeParams(m, 11, 0.3);
  if (md.lora) {
    LoraConfig lc;
    lc.rank = 2;
    lc.alpha = 3;
    lc.dropout = 0.25;
    lc.targets = {"q_proj", "v_proj", "down_proj"};
    Status s = m.addLora(lc, 3);
    EXPECT_TRUE(s) << s.toString();
  }
  m.setRecomputeLayers(md.recompute);
  m.setKeepLogits(keep);
  AdamWConfig oc;
  oc.lr = 1e-2;
  AdamW<T> opt(m, oc);
  const int64_t Tn = std::min<int64_t>(9, cfg.maxSeqLen);
  for (int s = 0; s < steps; ++s) {
    Batch b = randomBatch(cfg.vocabSize, {int32_t(Tn), 8, 6, int32_t(Tn - 1)},
                          Tn, uint64_t(20 + s));
    if (md.share) // rows 0-2 begin alike: one shared prefix of 5 tokens
      for (int64_t i = 1; i < 3; ++i)
        for (int64_t t = 0; t < 6; ++t)
          b.tokens[size_t(i * Tn + t)] = b.tokens[size_t(t)];
    // A read first (no backward follows): keeps nothing.
    ForwardOptions ro;
    ro.pack = md.pack;
    Status st = m.forward(b.view(), ro);
    EXPECT_TRUE(st) << st.toString();
    ForwardOptions fo = ro;
    fo.train = true;
    fo.sharePrefix = md.share;
    fo.temperature = 0.8;
    fo.dropoutSeed = 99;
    fo.dropoutStep = uint32_t(s);
    st = m.forward(b.view(), fo);
    EXPECT_TRUE(st) << st.toString();
    const size_t n = size_t(b.B * b.T);
    auto c = randomVector<T>(n, uint64_t(30 + s), 0);
    auto e = randomVector<T>(n, uint64_t(30 + s), 1);
    tr.outputs.push_back(m.toHost(m.logprobs(), int64_t(n)));
    tr.outputs.push_back(m.toHost(m.entropy(), int64_t(n)));
    OutputGrads<T> g;
    g.dlogprob = c.data();
    g.dentropy = e.data();
    tr.heldBytes = std::max(tr.heldBytes, m.activationBytesHeld());
    m.zeroGrad();
    st = m.backward(g);
    EXPECT_TRUE(st) << st.toString();
    if (s == 0) { // a second backward of the same forward: recomputed
      st = m.backward(g);
      EXPECT_TRUE(st) << st.toString();
    }
    tr.grads.push_back(m.toHost(m.trainableGrad(), m.numTrainable()));
    auto stats = opt.step(true);
    EXPECT_TRUE(stats) << stats.status().toString();
  }
  tr.weights = m.toHost(m.trainableData(), m.numTrainable());
  tr.keptUsed = m.keptLogitsUsed();
  return tr;
}

template <typename T> void expectIdentical(const ModelConfig &cfg, const Mode &md) {
  Trace<T> off = run<T>(cfg, false, md), on = run<T>(cfg, true, md);
  EXPECT_EQ(off.keptUsed, 0u);
  EXPECT_EQ(on.keptUsed, 3u); // one per step; the second backward recomputes
  ASSERT_EQ(on.outputs.size(), off.outputs.size());
  ASSERT_FALSE(on.grads.empty());
  for (size_t i = 0; i < on.outputs.size(); ++i)
    EXPECT_TRUE(sameBits(on.outputs[i], off.outputs[i])) << "output " << i;
  for (size_t i = 0; i < on.grads.size(); ++i)
    EXPECT_TRUE(sameBits(on.grads[i], off.grads[i])) << "step " << i;
  EXPECT_TRUE(sameBits(on.weights, off.weights));
  EXPECT_GT(on.heldBytes, off.heldBytes);
  if (!md.pack && !md.lora) {
    const int64_t Tn = std::min<int64_t>(9, cfg.maxSeqLen);
    EXPECT_EQ(on.heldBytes,
              memsize::activationBytes(cfg, 4, Tn, sizeof(T), nullptr, nullptr,
                                       md.recompute, true));
    EXPECT_EQ(off.heldBytes,
              memsize::activationBytes(cfg, 4, Tn, sizeof(T), nullptr, nullptr,
                                       md.recompute, false));
  }
}

} // namespace

TEST(KeepLogits, Gpt2BitIdenticalToRecomputing) {
  expectIdentical<float>(tinyGpt2(), {});
  expectIdentical<double>(tinyGpt2(), {});
}
TEST(KeepLogits, Qwen3PackedSharedAndRecomputedLayers) {
  ModelConfig c = tinyQwen3();
  c.nLayers = 3;
  expectIdentical<float>(c, {true, false, 0, false});
  expectIdentical<double>(c, {true, true, 0, false});
  expectIdentical<double>(c, {false, false, 3, false});
}
TEST(KeepLogits, LoraWithDropout) {
  expectIdentical<float>(tinyLlama(), {false, false, 0, true});
  expectIdentical<double>(tinyLlama(), {true, false, 2, true});
}

TEST(KeepLogits, SizesMatchTheRuntime) {
  // workspaceBytes with keepLogits against memsize, padded and packed; the
  // difference is keptLogitsBytes of the stream's rows; a scalar head
  // keeps nothing.
  for (ModelConfig cfg : {tinyGpt2(), tinyQwen3(), tinyQwen2(HeadKind::Scalar)}) {
    auto k = makeCpuKernels<float>();
    auto m = Transformer<float>::create(cfg, k.get());
    ASSERT_TRUE(m);
    const bool lm = cfg.head == HeadKind::LM;
    EXPECT_EQ((*m)->workspaceBytes(3, 8, nullptr, true),
              memsize::activationBytes(cfg, 3, 8, 4, nullptr, nullptr, 0, true));
    const int32_t lens[3] = {8, 5, 2};
    memsize::PackedRows pr = memsize::packedRows(lens, 3);
    EXPECT_EQ((*m)->workspaceBytes(3, 8, lens, true),
              memsize::activationBytes(cfg, 3, 8, 4, nullptr, &pr, 0, true));
    const int64_t more = memsize::activationBytes(cfg, 3, 8, 4, nullptr, &pr, 0,
                                                  true) -
                         memsize::activationBytes(cfg, 3, 8, 4, nullptr, &pr, 0);
    EXPECT_NEAR(double(more),
                double(memsize::keptLogitsBytes(cfg, pr.tokens, 4)), 64.0);
    EXPECT_EQ(more > 0, lm);
  }
}
