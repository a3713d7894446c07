// What LoRA changes in a CPU training step: the same Llama-family model
// trained in full (weights, gradients, AdamW) and with rank-16 adapters on
// every projection (frozen base, adapter gradients and moments only),
// forward + backward + optimiser step, interleaved, the first round of each
// discarded. Also prints the bytes of model state each holds (weights,
// gradients, both moments) from the buffers' sizes.
//   hone_bench_lora [rounds]
#include "kernels/cpu/CpuKernels.h"
#include "runtime/model/Optimizer.h"
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
  auto k = makeCpuKernels<float>();
  auto full = Transformer<float>::create(c, k.get());
  auto lora = Transformer<float>::create(c, k.get());
  if (!full || !lora)
    return 1;
  (*full)->initRandom(1);
  (*lora)->initRandom(1);
  LoraConfig lc;
  lc.rank = 16;
  lc.alpha = 32;
  lc.targets = loraTargetsOf(c);
  if (!(*lora)->addLora(lc, 1))
    return 1;
  AdamW<float> optFull(**full, AdamWConfig{});
  AdamW<float> optLora(**lora, AdamWConfig{});
  const int64_t B = 4, T = 256;
  std::vector<int32_t> tok(size_t(B * T)), len(static_cast<size_t>(B), T);
  for (size_t i = 0; i < tok.size(); ++i)
    tok[i] = int32_t(i * 7919 % 4096);
  TokenBatch batch{B, T, tok.data(), len.data()};
  std::vector<float> d(size_t(B * T), -1e-3f);
  OutputGrads<float> g;
  g.dlogprob = d.data();
  double t[2] = {0, 0};
  for (int r = 0; r < rounds; ++r)
    for (int w = 0; w < 2; ++w) {
      Transformer<float> &m = w ? **lora : **full;
      AdamW<float> &opt = w ? optLora : optFull;
      auto s = std::chrono::steady_clock::now();
      m.zeroGrad();
      if (!m.forward(batch) || !m.backward(g) || !opt.step())
        return 1;
      if (r)
        t[w] += std::chrono::duration<double>(
                    std::chrono::steady_clock::now() - s)
                    .count();
    }
  const double n = double((*full)->numParams()), a = double((*lora)->numTrainable());
  const double fullBytes = 16 * n, loraBytes = 4 * n + 16 * a;
  std::printf("train step %lldx%lld, d_model 256, 4 layers: full %.1f ms, "
              "LoRA r16 all projections %.1f ms, ratio %.3f\n",
              (long long)B, (long long)T, t[0] / (rounds - 1) * 1e3,
              t[1] / (rounds - 1) * 1e3, t[1] / t[0]);
  std::printf("model state: full %.1f MiB (%.0f params x 16 B), LoRA %.1f MiB "
              "(base x 4 B + %.0f adapter params x 16 B), ratio %.3f\n",
              fullBytes / 1048576, n, loraBytes / 1048576, a,
              loraBytes / fullBytes);
}
