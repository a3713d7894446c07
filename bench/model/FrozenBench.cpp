// A frozen reference in bf16 against fp32 (docs/runtime.md, "Frozen models
// in bf16"): resident bytes of each (weights, plus the gradient buffer a
// frozen fp32 model carries), and the time of the reference's work, its
// log-prob forward over a training batch and a decode step of 64 rows,
// interleaved over four variants:
//   fp32        fp32 weights, fp32 GEMMs (hardware.precision fp32)
//   fp32+bf16   fp32 weights, bf16 GEMMs packing the weights every call
//               (the trained policy under hardware.precision bf16)
//   bf16        frozen bf16 weights, bf16 GEMMs reading them in place
//   bf16-widen  frozen bf16 weights widened to fp32 panel by panel (a CPU
//               without AVX-512 BF16, or HONE_CPU_BF16=off)
// Times are the best of the rounds by wall clock and by process CPU time
// (the machine is shared: CPU time measures the kernels while they run).
//   hone_bench_frozen [rounds] [threads]
#include "kernels/cpu/CpuKernels.h"
#include "runtime/model/MemorySizes.h"
#include "runtime/model/Transformer.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <unistd.h>
#include <vector>

using namespace hone;

namespace {
int64_t residentBytes() {
  std::ifstream f("/proc/self/statm");
  int64_t pages = 0, rss = 0;
  f >> pages >> rss;
  return rss * int64_t(sysconf(_SC_PAGESIZE));
}
double cpuSeconds() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}
} // namespace

int main(int argc, char **argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 5;
  const int threads = argc > 2 ? std::atoi(argv[2]) : 2;
  setCpuThreads(threads);
  ModelConfig c;
  c.family = ModelFamily::Llama;
  c.vocabSize = 8192;
  c.dModel = 512;
  c.nLayers = 8;
  c.nHeads = 8;
  c.nKvHeads = 8;
  c.dFf = 1536;
  c.maxSeqLen = 512;
  c.tieEmbeddings = false;
  auto k = makeCpuKernels<float>();
  int64_t r0 = residentBytes();
  auto f32 = Transformer<float>::create(c, k.get());
  if (!f32)
    return 1;
  int64_t rssF32 = residentBytes() - r0;
  (*f32)->initRandom(1);
  int64_t r1 = residentBytes();
  auto b16 = Transformer<float>::createFrozenBf16(c, k.get());
  if (!b16)
    return 1;
  int64_t rssB16 = residentBytes() - r1;
  (*b16)->initRandom(1);
  const std::string why = cpuBf16Unsupported();
  std::printf("model: llama d_model %lld, %lld layers, ffn %lld, vocab %lld: "
              "%.1f M parameters; %d threads; bf16 dot products: %s\n",
              (long long)c.dModel, (long long)c.nLayers, (long long)c.dFf,
              (long long)c.vocabSize, double((*f32)->numParams()) / 1e6,
              threads, why.empty() ? "yes" : why.c_str());
  std::printf("resident: frozen fp32 (weights + gradients) %.1f MiB, frozen "
              "bf16 %.1f MiB: %.3f (planned %.1f / %.1f MiB; weights alone "
              "%.3f)\n",
              double(rssF32) / 1048576, double(rssB16) / 1048576,
              double(rssB16) / double(rssF32),
              2.0 * double(memsize::parameterBytes(c, 4)) / 1048576,
              double(memsize::frozenBf16Bytes(c)) / 1048576,
              double(memsize::frozenBf16Bytes(c)) /
                  double(memsize::parameterBytes(c, 4)));

  const int64_t B = 4, T = 256, rows = 64, cacheLen = 128;
  std::vector<int32_t> tok(static_cast<size_t>(B * T)),
      len(static_cast<size_t>(B), int32_t(T));
  for (size_t i = 0; i < tok.size(); ++i)
    tok[i] = int32_t(i * 7919 % c.vocabSize);
  TokenBatch batch{B, T, tok.data(), len.data()};
  std::vector<int32_t> dtok(static_cast<size_t>(rows)),
      start(static_cast<size_t>(rows), 100);
  for (size_t i = 0; i < dtok.size(); ++i)
    dtok[i] = int32_t(i * 31 % c.vocabSize);
  auto cache32 = (*f32)->makeKvCache(rows, cacheLen);
  auto cache16 = (*b16)->makeKvCache(rows, cacheLen);
  std::vector<float> logits(static_cast<size_t>(rows * c.vocabSize));
  if (!cache32 || !cache16)
    return 1;

  const char *names[4] = {"fp32", "fp32+bf16", "bf16", "bf16-widen"};
  const bool canDot = why.empty();
  double bestFwd[4], bestDec[4], cpuFwd[4], cpuDec[4];
  for (int v = 0; v < 4; ++v)
    bestFwd[v] = bestDec[v] = cpuFwd[v] = cpuDec[v] = 1e30;
  for (int r = 0; r <= rounds; ++r)
    for (int v = 0; v < 4; ++v) {
      if (!canDot && (v == 1 || v == 2))
        continue;
      setCpuBf16Gemm(v == 1 || v == 2);
      Transformer<float> &m = v < 2 ? **f32 : **b16;
      KvCache<float> &cache = v < 2 ? *cache32 : *cache16;
      auto w0 = std::chrono::steady_clock::now();
      double c0 = cpuSeconds();
      if (!m.forward(batch))
        return 1;
      auto w1 = std::chrono::steady_clock::now();
      double c1 = cpuSeconds();
      auto h = m.forwardCached(cache, dtok.data(), start.data(), rows, 1);
      if (!h || !m.logits(*h, rows, 1.0, logits.data()))
        return 1;
      auto w2 = std::chrono::steady_clock::now();
      double c2 = cpuSeconds();
      if (r == 0)
        continue; // warm-up
      bestFwd[v] =
          std::min(bestFwd[v], std::chrono::duration<double>(w1 - w0).count());
      bestDec[v] =
          std::min(bestDec[v], std::chrono::duration<double>(w2 - w1).count());
      cpuFwd[v] = std::min(cpuFwd[v], c1 - c0);
      cpuDec[v] = std::min(cpuDec[v], c2 - c1);
    }
  setCpuBf16Gemm(false);
  std::printf("%-11s %14s %14s %14s %14s\n", "variant", "logprob wall",
              "logprob cpu", "decode wall", "decode cpu");
  for (int v = 0; v < 4; ++v) {
    if (bestFwd[v] >= 1e30)
      continue;
    std::printf("%-11s %11.1f ms %11.1f ms %11.2f ms %11.2f ms   "
                "(vs fp32: %.2fx / %.2fx, decode %.2fx / %.2fx)\n",
                names[v], bestFwd[v] * 1e3, cpuFwd[v] * 1e3, bestDec[v] * 1e3,
                cpuDec[v] * 1e3, bestFwd[0] / bestFwd[v], cpuFwd[0] / cpuFwd[v],
                bestDec[0] / bestDec[v], cpuDec[0] / cpuDec[v]);
  }
  return 0;
}
