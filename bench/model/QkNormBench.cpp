// What Qwen3's per-head q/k RMSNorm costs in a CPU training step: the same
// Llama-family model with and without qk_norm, forward + backward,
// interleaved, the first round of each discarded.
//   hone_bench_qknorm [rounds]
#include "kernels/cpu/CpuKernels.h"
#include "runtime/model/Transformer.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

using namespace hone;

int main(int argc, char **argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 6;
  ModelConfig c;
  c.family = ModelFamily::Llama;
  c.vocabSize = 4096;
  c.dModel = 256;
  c.nLayers = 4;
  c.nHeads = 8;
  c.nKvHeads = 4;
  c.dFf = 704;
  c.maxSeqLen = 256;
  ModelConfig q = c;
  q.qkNorm = true;
  auto k = makeCpuKernels<float>();
  auto plain = Transformer<float>::create(c, k.get());
  auto qwen3 = Transformer<float>::create(q, k.get());
  if (!plain || !qwen3)
    return 1;
  (*plain)->initRandom(1);
  (*qwen3)->initRandom(1);
  const int64_t B = 4, T = 256;
  std::vector<int32_t> tok(size_t(B * T)), len(static_cast<size_t>(B), T);
  for (size_t i = 0; i < tok.size(); ++i)
    tok[i] = int32_t(i * 7919 % 4096);
  TokenBatch batch{B, T, tok.data(), len.data()};
  std::vector<float> d(size_t(B * T), 1.0f);
  OutputGrads<float> g;
  g.dlogprob = d.data();
  double t[2] = {0, 0};
  for (int r = 0; r < rounds; ++r)
    for (int w = 0; w < 2; ++w) {
      Transformer<float> &m = w ? **qwen3 : **plain;
      auto s = std::chrono::steady_clock::now();
      if (!m.forward(batch) || !m.backward(g))
        return 1;
      if (r)
        t[w] += std::chrono::duration<double>(
                    std::chrono::steady_clock::now() - s)
                    .count();
    }
  std::printf("train step %lldx%lld, d_model 256, 4 layers, 8 heads: "
              "llama %.1f ms, with qk_norm %.1f ms, ratio %.3f\n",
              (long long)B, (long long)T, t[0] / (rounds - 1) * 1e3,
              t[1] / (rounds - 1) * 1e3, t[1] / t[0]);
}
