// Activation recomputation per layer (Transformer::setRecomputeLayers) vs
// keeping every layer: training-step time (forward, backward, AdamW) with
// the two modes alternating in one loop on one model (interleaved: the
// shared machine's load falls on both alike), best wall and CPU time of
// each, their ratio, the activation bytes each holds and whether the
// gradients' bits agree.
//
// Usage: hone_bench_recompute [--family gpt2|llama] [--layers L]
//          [--d-model D] [--batch B] [--seq T] [--iters K] [--threads n]
//          [--recompute R]  (layers the second model recomputes; default L)
#include "bench/model/BenchUtil.h"
#include "kernels/cpu/CpuKernels.h"
#include "runtime/model/Optimizer.h"
#include "runtime/model/Transformer.h"

#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

using namespace hone;
using bench::cpuNow;
using bench::now;

int main(int argc, char **argv) {
  bench::passiveOmpThreads(argv);
  std::string family = "llama";
  int64_t layers = 8, dModel = 256, batch = 8, seq = 128, recompute = -1;
  int iters = 5, threads = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--family")
      family = v;
    else if (k == "--layers")
      layers = std::stoll(v);
    else if (k == "--d-model")
      dModel = std::stoll(v);
    else if (k == "--batch")
      batch = std::stoll(v);
    else if (k == "--seq")
      seq = std::stoll(v);
    else if (k == "--iters")
      iters = std::stoi(v);
    else if (k == "--threads")
      threads = std::stoi(v);
    else if (k == "--recompute")
      recompute = std::stoll(v);
    else {
      std::fprintf(stderr, "hone_bench_recompute: unknown option %s\n",
                   k.c_str());
      return 1;
    }
  }
  if (threads > 0)
    setCpuThreads(threads);
  ModelConfig c;
  c.family = family == "gpt2" ? ModelFamily::GPT2 : ModelFamily::Llama;
  c.vocabSize = 4096;
  c.dModel = dModel;
  c.nLayers = layers;
  c.nHeads = dModel / 64 > 0 ? dModel / 64 : 1;
  c.nKvHeads = c.nHeads;
  c.dFf = c.family == ModelFamily::GPT2 ? 4 * dModel : 8 * dModel / 3 / 64 * 64;
  c.maxSeqLen = seq;
  c.tieEmbeddings = true;

  // Two models with the same weights, each on its own kernels object (the
  // kernels' scratch is theirs): one keeps, one recomputes.
  std::unique_ptr<Kernels<float>> k[2] = {makeCpuKernels<float>(),
                                          makeCpuKernels<float>()};
  std::unique_ptr<Transformer<float>> m[2];
  for (int i = 0; i < 2; ++i) {
    auto mOr = Transformer<float>::create(c, k[i].get());
    if (!mOr) {
      std::fprintf(stderr, "%s\n", mOr.status().toString().c_str());
      return 1;
    }
    m[i] = mOr.take();
    m[i]->initRandom(1, 0.02);
    m[i]->setRecomputeLayers(i ? (recompute >= 0 ? recompute : layers) : 0);
  }
  const int64_t rows = batch * seq;
  std::vector<int32_t> tokens(static_cast<size_t>(rows)),
      lengths(static_cast<size_t>(batch), static_cast<int32_t>(seq));
  for (int64_t i = 0; i < rows; ++i)
    tokens[size_t(i)] = int32_t((i * 7919) % c.vocabSize);
  TokenBatch tb{batch, seq, tokens.data(), lengths.data()};
  std::vector<float> dlp(size_t(rows), -1.0f / float(rows));
  AdamWConfig oc;
  oc.lr = 1e-4;
  std::unique_ptr<AdamW<float>> opt[2] = {
      std::make_unique<AdamW<float>>(*m[0], oc),
      std::make_unique<AdamW<float>>(*m[1], oc)};
  std::vector<float> grads[2];
  auto step = [&](int i) {
    m[i]->zeroGrad();
    Status s = m[i]->forward(tb);
    OutputGrads<float> g;
    g.dlogprob = dlp.data();
    if (s)
      s = m[i]->backward(g);
    if (!s) {
      std::fprintf(stderr, "%s\n", s.toString().c_str());
      std::exit(1);
    }
    grads[i] = m[i]->toHost(m[i]->gradData(), m[i]->numParams());
    (void)opt[i]->step(true);
  };
  step(0), step(1); // warm-up: activations allocated, pages touched
  bool same = grads[0].size() == grads[1].size() &&
              std::memcmp(grads[0].data(), grads[1].data(),
                          grads[0].size() * sizeof(float)) == 0;
  double wall[2] = {1e30, 1e30}, cpu[2] = {1e30, 1e30};
  for (int it = 0; it < iters; ++it)
    for (int i = 0; i < 2; ++i) {
      double t0 = now(), c0 = cpuNow();
      step(i);
      wall[i] = std::min(wall[i], now() - t0);
      cpu[i] = std::min(cpu[i], cpuNow() - c0);
      if (i == 1) // both models' step number `it`
        same = same && std::memcmp(grads[0].data(), grads[1].data(),
                                   grads[0].size() * sizeof(float)) == 0;
    }
  std::printf("%s d_model %lld x %lld layers, batch %lld x %lld tokens, %d "
              "threads, best of %d interleaved\n",
              family.c_str(), (long long)dModel, (long long)layers,
              (long long)batch, (long long)seq,
              threads > 0 ? threads : omp_get_max_threads(), iters);
  std::printf("keep:      %.1f ms wall, %.1f ms CPU, activations %.1f MiB\n",
              wall[0] * 1e3, cpu[0] * 1e3,
              double(m[0]->activationBytesHeld()) / (1 << 20));
  std::printf("recompute: %.1f ms wall, %.1f ms CPU, activations %.1f MiB "
              "(%lld of %lld layers)\n",
              wall[1] * 1e3, cpu[1] * 1e3,
              double(m[1]->activationBytesHeld()) / (1 << 20),
              (long long)m[1]->recomputeLayers(), (long long)layers);
  std::printf("recompute / keep: %.2fx wall, %.2fx CPU; activations %.2fx; "
              "gradients bit-identical: %s\n",
              wall[1] / wall[0], cpu[1] / cpu[0],
              double(m[1]->activationBytesHeld()) /
                  double(m[0]->activationBytesHeld()),
              same ? "yes" : "NO");
  return same ? 0 : 1;
}
