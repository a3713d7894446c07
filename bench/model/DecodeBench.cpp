// Decode-step throughput of the CPU transformer at a few rows (issue 19:
// generation at 2-16 rows ran at ~6 GFLOP/s against training's ~30): one
// step is forwardCached (1 new token per row), logits and sample, as
// runtime/model/Generate.cpp runs it; each part is timed separately, in
// wall and process CPU seconds, and reported as GFLOP/s of its matmuls:
//   forwardCached: 2 * P_linear + 4 * L * c * H * hd  per row (context c),
//   logits:        2 * V * D                          per row.
// The default shape is Qwen3-0.6B's (d 1024, 16/8 heads of 128, ff 3072,
// vocab 151936, q/k norms) with fewer layers (--layers; 28 is the real
// model). Row counts are interleaved within each repetition, so a change
// of load hits them alike.
//
// Usage: hone_bench_decode [--rows 2,4,16] [--layers 8] [--steps 16]
//          [--context 64] [--reps 3] [--threads n] [--storage fp32|bf16]
//          [--lora R] [--top-k K]
// --storage bf16 runs a frozen bf16 model (Transformer::createFrozenBf16),
// --lora R adds rank-R adapters on every module (generation of a LoRA
// policy).
#include "bench/model/BenchUtil.h"
#include "kernels/cpu/CpuKernels.h"
#include "runtime/model/Transformer.h"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

using namespace hone;

namespace {

using bench::cpuNow;
using bench::now;

struct Clock {
  double wall = 0, cpu = 0;
  double w0 = 0, c0 = 0;
  void start() {
    w0 = now();
    c0 = cpuNow();
  }
  void stop() {
    wall += now() - w0;
    cpu += cpuNow() - c0;
  }
};

std::vector<int64_t> parseList(const std::string &s) {
  std::vector<int64_t> v;
  size_t p = 0;
  while (p < s.size()) {
    size_t q = s.find(',', p);
    if (q == std::string::npos)
      q = s.size();
    v.push_back(std::stoll(s.substr(p, q - p)));
    p = q + 1;
  }
  return v;
}

void die(const Status &s) {
  std::fprintf(stderr, "hone_bench_decode: %s\n", s.toString().c_str());
  std::exit(1);
}

} // namespace

int main(int argc, char **argv) {
  bench::passiveOmpThreads(argv); // bench/model/BenchUtil.h says why
  std::string rowsArg = "2,4,16", storage = "fp32";
  int64_t layers = 8, steps = 16, context = 64, lora = 0, topK = 0;
  int reps = 3, threads = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--rows")
      rowsArg = v;
    else if (k == "--layers")
      layers = std::stoll(v);
    else if (k == "--steps")
      steps = std::stoll(v);
    else if (k == "--context")
      context = std::stoll(v);
    else if (k == "--reps")
      reps = std::stoi(v);
    else if (k == "--threads")
      threads = std::stoi(v);
    else if (k == "--storage")
      storage = v;
    else if (k == "--lora")
      lora = std::stoll(v);
    else if (k == "--top-k")
      topK = std::stoll(v);
    else {
      std::fprintf(stderr, "hone_bench_decode: unknown option %s\n", k.c_str());
      return 1;
    }
  }
  if (storage != "fp32" && storage != "bf16") {
    std::fprintf(stderr, "hone_bench_decode: --storage fp32 or bf16\n");
    return 1;
  }
  if (threads > 0)
    setCpuThreads(threads);
  threads = omp_get_max_threads();
  const std::vector<int64_t> rowCounts = parseList(rowsArg);

  ModelConfig c;
  c.family = ModelFamily::Llama;
  c.vocabSize = 151936;
  c.dModel = 1024;
  c.nLayers = layers;
  c.nHeads = 16;
  c.nKvHeads = 8;
  c.headDimension = 128;
  c.dFf = 3072;
  c.maxSeqLen = context + steps + 8;
  c.qkNorm = true;
  c.tieEmbeddings = true;
  c.normEps = 1e-6;
  c.ropeTheta = 1e6;
  const int64_t D = c.dModel, hd = c.headDim(), V = c.vocabSize;
  const int64_t A = c.nHeads * hd, Q = (c.nHeads + 2 * c.nKvHeads) * hd;
  const double pLinear =
      double(layers) * double(D * Q + A * D + D * 2 * c.dFf + c.dFf * D);

  auto k = makeCpuKernels<float>();
  auto mOr = storage == "bf16"
                 ? Transformer<float>::createFrozenBf16(c, k.get())
                 : Transformer<float>::create(c, k.get());
  if (!mOr)
    die(mOr.status());
  Transformer<float> &m = **mOr;
  m.initRandom(1, 0.02);
  if (lora > 0) {
    LoraConfig lc;
    lc.rank = lora;
    lc.alpha = 2.0 * double(lora);
    lc.targets = loraTargetsOf(c);
    if (Status s = m.addLora(lc, 2); !s)
      die(s);
  }
  std::printf("decode bench: Qwen3-0.6B shape, %lld layers, vocab %lld, %s "
              "weights%s, context %lld + %lld steps, %d threads\n",
              (long long)layers, (long long)V, storage.c_str(),
              lora ? (", LoRA rank " + std::to_string(lora)).c_str() : "",
              (long long)context, (long long)steps, threads);

  const int64_t maxRows = *std::max_element(rowCounts.begin(), rowCounts.end());
  std::vector<float> logits(size_t(maxRows * V));
  std::vector<int32_t> tokens(static_cast<size_t>(maxRows)),
      start(static_cast<size_t>(maxRows));
  std::vector<uint32_t> ids(static_cast<size_t>(maxRows)),
      draw(static_cast<size_t>(maxRows));
  std::vector<uint8_t> active(size_t(maxRows), 1);
  std::vector<float> lp(static_cast<size_t>(maxRows));
  SamplerParams sp;
  sp.topK = topK;
  sp.seed = 7;

  struct Acc {
    Clock fwd, head, samp;
    double flopsFwd = 0, flopsHead = 0;
  };
  std::vector<Acc> acc(rowCounts.size());
  for (int rep = 0; rep < reps + 1; ++rep) { // rep 0 warms up
    for (size_t ri = 0; ri < rowCounts.size(); ++ri) {
      const int64_t R = rowCounts[ri];
      auto cacheOr = m.reusableKvCache(R, c.maxSeqLen);
      if (!cacheOr)
        die(cacheOr.status());
      KvCache<float> &cache = **cacheOr;
      // Prefill `context` tokens per row (untimed).
      std::vector<int32_t> prompt(size_t(R * context));
      for (size_t i = 0; i < prompt.size(); ++i)
        prompt[i] = int32_t((i * 7919 + 13) % size_t(V));
      std::fill(start.begin(), start.end(), 0);
      auto h = m.forwardCached(cache, prompt.data(), start.data(), R, context);
      if (!h)
        die(h.status());
      for (int64_t r = 0; r < R; ++r)
        tokens[size_t(r)] = int32_t((r * 31 + 5) % V);
      Acc &a = acc[ri];
      for (int64_t s = 0; s < steps; ++s) {
        for (int64_t r = 0; r < R; ++r) {
          start[size_t(r)] = int32_t(context + s);
          ids[size_t(r)] = uint32_t(r);
          draw[size_t(r)] = uint32_t(context + s);
        }
        const bool timed = rep > 0;
        if (timed)
          a.fwd.start();
        auto hs = m.forwardCached(cache, tokens.data(), start.data(), R, 1);
        if (!hs)
          die(hs.status());
        if (timed) {
          a.fwd.stop();
          a.head.start();
        }
        if (Status st = m.logits(*hs, R, 1.0, logits.data()); !st)
          die(st);
        if (timed) {
          a.head.stop();
          a.samp.start();
        }
        k->sample(logits.data(), R, V, sp, ids.data(), draw.data(),
                  active.data(), tokens.data(), lp.data());
        if (timed) {
          a.samp.stop();
          const double ctx = double(context + s + 1);
          a.flopsFwd += double(R) *
                        (2 * pLinear + 4.0 * double(layers) * ctx * double(A));
          a.flopsHead += double(R) * 2.0 * double(V) * double(D);
        }
      }
    }
  }
  std::printf("%5s %10s %10s %10s %10s %10s %12s %12s\n", "rows", "fwd ms",
              "head ms", "sample ms", "step ms", "tok/s", "fwd GF/cpus",
              "head GF/cpus");
  for (size_t ri = 0; ri < rowCounts.size(); ++ri) {
    const Acc &a = acc[ri];
    const double n = double(reps * steps), R = double(rowCounts[ri]);
    const double step = (a.fwd.wall + a.head.wall + a.samp.wall) / n;
    std::printf("%5lld %10.2f %10.2f %10.2f %10.2f %10.2f %12.2f %12.2f\n",
                (long long)rowCounts[ri], 1e3 * a.fwd.wall / n,
                1e3 * a.head.wall / n, 1e3 * a.samp.wall / n, 1e3 * step,
                R / step, a.flopsFwd / a.fwd.cpu * 1e-9,
                a.flopsHead / a.head.cpu * 1e-9);
  }
  std::printf("(ms: wall per step; GF/cpus: GFLOP per CPU-second, i.e. per "
              "core busy; the machine is shared)\n");
  return 0;
}
