// Tiny models and batches shared by the model tests (and the kernels'
// tests, test/unit/kernels/cpu), and the bf16 GEMM switch's scope.
#pragma once

#include "kernels/cpu/CpuKernels.h"
#include "runtime/base/Philox.h"
#include "runtime/model/Transformer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace hone {
namespace test {

inline ModelConfig tinyGpt2(HeadKind head = HeadKind::LM) {
  ModelConfig c;
  c.family = ModelFamily::GPT2;
  c.vocabSize = 13;
  c.dModel = 8;
  c.nLayers = 2;
  c.nHeads = 2;
  c.nKvHeads = 2;
  c.dFf = 12;
  c.maxSeqLen = 8;
  c.head = head;
  return c;
}

/// Qwen2-like: GQA, qkv bias, untied embeddings.
inline ModelConfig tinyQwen2(HeadKind head = HeadKind::LM) {
  ModelConfig c;
  c.family = ModelFamily::Llama;
  c.vocabSize = 11;
  c.dModel = 16;
  c.nLayers = 2;
  c.nHeads = 4;
  c.nKvHeads = 2;
  c.dFf = 12;
  c.maxSeqLen = 8;
  c.qkvBias = true;
  c.tieEmbeddings = false;
  c.ropeTheta = 100.0;
  c.head = head;
  return c;
}

/// Llama-like: multi-query (one KV head), no bias, tied embeddings.
inline ModelConfig tinyLlama(HeadKind head = HeadKind::LM) {
  ModelConfig c = tinyQwen2(head);
  c.dModel = 8;
  c.nHeads = 2;
  c.nKvHeads = 1;
  c.qkvBias = false;
  c.tieEmbeddings = true;
  c.ropeTheta = 10000.0;
  return c;
}

/// Qwen3-like: per-head q/k RMSNorm, no bias, a head dimension (6) other
/// than dModel / nHeads (4), GQA, untied.
inline ModelConfig tinyQwen3(HeadKind head = HeadKind::LM) {
  ModelConfig c = tinyQwen2(head);
  c.qkvBias = false;
  c.qkNorm = true;
  c.headDimension = 6;
  c.normEps = 1e-6;
  return c;
}

/// Llama-3.1-like: llama3 RoPE scaling whose thresholds put the four
/// frequencies of an 8-wide head in all three bands (kept, blended, divided).
inline ModelConfig tinyLlama3(HeadKind head = HeadKind::LM) {
  ModelConfig c = tinyQwen2(head);
  c.qkvBias = false;
  c.dModel = 16;
  c.nHeads = 2;
  c.nKvHeads = 1;
  c.ropeTheta = 10000.0;
  c.ropeScaling = ModelConfig::RopeScaling::Llama3;
  c.ropeFactor = 8.0;
  c.ropeLowFreqFactor = 1.0;
  c.ropeHighFreqFactor = 4.0;
  c.ropeOriginalMaxPos = 64;
  return c;
}

/// Fills every parameter with N(0, scale) (norm gains 1 + N(0, 0.2)) so that
/// every gradient path carries a non-trivial signal.
template <typename T>
void randomizeParams(Transformer<T> &m, uint64_t seed, double scale = 0.4) {
  std::vector<T> host(size_t(m.numParams()), T(0));
  uint32_t idx = 0;
  for (const ParamInfo &p : m.params()) {
    bool gain = p.shape.size() == 1 && p.name.find("bias") == std::string::npos;
    PhiloxStream rng(seed, 1, 0, idx++);
    for (int64_t j = 0; j < p.numel; ++j) {
      auto b = rng.block(uint32_t(j));
      double u1 = uniformDouble(b[0], b[1]), u2 = uniformDouble(b[2], b[3]);
      double z = std::sqrt(-2 * std::log(1 - u1)) * std::cos(2 * M_PI * u2);
      host[size_t(p.offset + j)] = gain ? T(1 + 0.2 * z) : T(scale * z);
    }
  }
  m.kernels().copyToDevice(m.paramData(), host.data(), host.size() * sizeof(T));
}

struct Batch {
  int64_t B, T;
  std::vector<int32_t> tokens, lengths;
  TokenBatch view() const { return {B, T, tokens.data(), lengths.data()}; }
};

inline Batch randomBatch(int64_t vocab, std::vector<int32_t> lengths, int64_t T,
                         uint64_t seed) {
  Batch b{int64_t(lengths.size()), T, {}, lengths};
  b.tokens.assign(size_t(b.B * T), -1); // pads are invalid ids on purpose
  for (int64_t i = 0; i < b.B; ++i)
    for (int64_t t = 0; t < lengths[size_t(i)]; ++t)
      b.tokens[size_t(i * T + t)] = int32_t(
          PhiloxStream(seed, 2, 0, uint32_t(i)).block(uint32_t(t))[0] % vocab);
  return b;
}

template <typename T>
std::vector<T> randomVector(size_t n, uint64_t seed, uint32_t stream) {
  std::vector<T> v(n);
  PhiloxStream rng(seed, 3, 0, stream);
  for (size_t i = 0; i < n; ++i)
    v[i] = T(rng.uniform(uint32_t(i)) * 2 - 1);
  return v;
}

/// Restores fp32 GEMMs and the thread count however a test ends.
struct Bf16Scope {
  int threads = cpuThreads();
  Bf16Scope() { setCpuBf16Gemm(true); }
  ~Bf16Scope() {
    setCpuBf16Gemm(false);
    setCpuThreads(threads);
  }
};

#define SKIP_WITHOUT_BF16()                                                    \
  if (std::string why = cpuBf16Unsupported(); !why.empty())                    \
  GTEST_SKIP() << why

} // namespace test
} // namespace hone
