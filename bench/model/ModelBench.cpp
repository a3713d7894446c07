// Training-step and generation throughput of the CPU transformer, each
// printed as a ratio to the bound set by OpenBLAS's sgemm rate measured in
// the same run: bound time = model FLOPs / sgemm FLOP rate, ratio = bound
// time / measured time (1.0 would mean the step runs as fast as pure sgemm
// doing the same arithmetic).
//
// FLOPs counted (matmul only, the standard accounting):
//   training, per token: 6 * (P_linear + V*D) + 12 * L * T * D
//   generation, per token at context c: 2 * (P_linear + V*D) + 4 * L * c * D
// where P_linear is the parameter count of the layers' weight matrices.
// The causal mask is not discounted (we compute full T x T score matrices).
//
// Usage: hone_bench_model [--family gpt2|llama] [--vocab V] [--batch B]
//          [--prompts P] [--samples N] [--iters K] [--threads n]
//          [--bf16 on] [--keep-logits ab] [--only train|gen]
// --bf16 on adds fp32 and bf16-GEMM training steps (kernels/cpu
// setCpuBf16Gemm) alternating in one loop, and prints their ratio.
// --keep-logits ab adds training steps (ForwardOptions::train) with the LM
// head's logits kept for the backward (Transformer::setKeepLogits) and
// recomputed, alternating in one loop, and prints their ratio (wall and
// CPU time, medians and bests) and the bytes the kept logits take.
#include "bench/model/BenchUtil.h"
#include "kernels/cpu/CpuKernels.h"
#include "runtime/model/Generate.h"
#include "runtime/model/Optimizer.h"
#include "runtime/model/Transformer.h"

#include <cblas.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

using namespace hone;

namespace {

using bench::cpuNow;
using bench::now;

/// Best-of sgemm rate (FLOP/s) on an M x N x K problem.
double sgemmRate(int64_t M, int64_t N, int64_t K, int reps) {
  std::vector<float> A(size_t(M * K), 0.5f), B(size_t(K * N), 0.25f),
      C(size_t(M * N));
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    double t0 = now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(M), int(N),
                int(K), 1.0f, A.data(), int(K), B.data(), int(N), 0.0f,
                C.data(), int(N));
    best = std::min(best, now() - t0);
  }
  return 2.0 * double(M) * double(N) * double(K) / best;
}

struct Args {
  std::string family = "llama";
  int64_t vocab = 8192, batch = 4, seq = 256, prompts = 32, samples = 4;
  int64_t kvHeads = 2;
  int iters = 5, threads = 0;
  bool train = true, gen = true;
  bool bf16 = false; // also time bf16-GEMM training steps, interleaved
  bool keepAb = false; // also time kept vs recomputed LM-head logits
};

} // namespace

extern "C" void openblas_set_num_threads(int);

int main(int argc, char **argv) {
  bench::passiveOmpThreads(argv); // bench/model/BenchUtil.h says why
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--family")
      a.family = v;
    else if (k == "--vocab")
      a.vocab = std::stoll(v);
    else if (k == "--batch")
      a.batch = std::stoll(v);
    else if (k == "--prompts")
      a.prompts = std::stoll(v);
    else if (k == "--samples")
      a.samples = std::stoll(v);
    else if (k == "--kv-heads")
      a.kvHeads = std::stoll(v);
    else if (k == "--iters")
      a.iters = std::stoi(v);
    else if (k == "--threads")
      a.threads = std::stoi(v);
    else if (k == "--bf16")
      a.bf16 = v == "on";
    else if (k == "--keep-logits")
      a.keepAb = v == "ab";
    else if (k == "--only") {
      a.train = v == "train";
      a.gen = v == "gen";
    } else {
      std::fprintf(stderr, "hone_bench_model: unknown option %s\n", k.c_str());
      return 1;
    }
  }
  int threads = a.threads > 0 ? a.threads : omp_get_max_threads();

  ModelConfig c;
  c.family = a.family == "gpt2" ? ModelFamily::GPT2 : ModelFamily::Llama;
  c.vocabSize = a.vocab;
  c.dModel = 512;
  c.nLayers = 8;
  c.nHeads = 8;
  c.nKvHeads = c.family == ModelFamily::GPT2 ? 8 : a.kvHeads;
  c.dFf = c.family == ModelFamily::GPT2 ? 2048 : 1408;
  c.maxSeqLen = a.seq;
  c.tieEmbeddings = c.family == ModelFamily::GPT2;
  const int64_t D = c.dModel, L = c.nLayers, V = c.vocabSize, T = a.seq;
  const int64_t hd = c.headDim();
  const int64_t qkv = (c.nHeads + 2 * c.nKvHeads) * hd;
  const int64_t ffIn = c.family == ModelFamily::GPT2 ? c.dFf : 2 * c.dFf;
  const double pLinear =
      double(L) * double(D * qkv + c.nHeads * hd * D + D * ffIn + c.dFf * D);
  const double pHead = double(V) * double(D);

  // The bound: OpenBLAS's own multi-threaded sgemm on all threads, on the
  // model's largest GEMM shape and on a square problem, best of several.
  const int64_t rows = a.batch * T;
  openblas_set_num_threads(threads);
  double rateModel = sgemmRate(rows, ffIn, D, 8);
  double rateSquare = sgemmRate(1024, 1024, 1024, 8);
  double rate = std::max(rateModel, rateSquare);

  auto k = makeCpuKernels<float>();
  setCpuThreads(threads);
  // Diagnostic: the backend's own GEMM (OpenMP slices of single-threaded
  // OpenBLAS) on the same shapes.
  double kernRate = 0;
  {
    std::vector<float> A(size_t(rows * D), 0.5f), B(size_t(D * ffIn), 0.25f),
        C(size_t(rows * ffIn));
    double bestK = 1e30;
    for (int r = 0; r < 8; ++r) {
      double t0 = now();
      k->gemm(false, false, rows, ffIn, D, 1.0f, A.data(), D, B.data(), ffIn,
              0.0f, C.data(), ffIn);
      bestK = std::min(bestK, now() - t0);
    }
    kernRate = 2.0 * double(rows) * double(ffIn) * double(D) / bestK;
  }
  auto mOr = Transformer<float>::create(c, k.get());
  if (!mOr) {
    std::fprintf(stderr, "%s\n", mOr.status().toString().c_str());
    return 1;
  }
  Transformer<float> &m = **mOr;
  m.initRandom(1, 0.02);

  // --- training step: forward, loss gradient (mean NLL), backward, AdamW.
  std::vector<int32_t> tokens(static_cast<size_t>(rows)),
      lengths(static_cast<size_t>(a.batch), int32_t(T));
  for (int64_t i = 0; i < rows; ++i)
    tokens[size_t(i)] = int32_t((i * 7919) % V);
  TokenBatch tb{a.batch, T, tokens.data(), lengths.data()};
  std::vector<float> dlp(size_t(rows), -1.0f / float(rows));
  AdamWConfig oc;
  oc.lr = 1e-4;
  oc.weightDecay = 0.01;
  oc.maxGradNorm = 1.0;
  AdamW<float> opt(m, oc);
  m.zeroGrad(); // AdamW clears the gradients after each update
  ForwardOptions trainOpts; // --keep-logits ab: a training forward
  auto trainStep = [&] {
    Status s = m.forward(tb, trainOpts);
    OutputGrads<float> g;
    g.dlogprob = dlp.data();
    if (s)
      s = m.backward(g);
    if (!s) {
      std::fprintf(stderr, "%s\n", s.toString().c_str());
      std::exit(1);
    }
    (void)opt.step(/*zeroGrads=*/true);
  };
  // The machine is shared: each timed run is paired with an sgemm rate
  // measured right before it, and the ratio reported is the median over
  // pairs (plus best time over best rate).
  auto pairedRate = [&] {
    openblas_set_num_threads(threads);
    double r = sgemmRate(rows, ffIn, D, 3);
    openblas_set_num_threads(1);
    return r;
  };
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
  };
  double trainFlops = double(rows) * (6 * (pLinear + pHead) + 12.0 * L * T * D);
  if (a.train)
    trainStep(); // warm-up: allocates activations
  double best = 1e30, total = 0, bestRate = rate, bestCpu = 1e30;
  // sgemm FLOPs per CPU-second (all threads), for a contention-free view.
  double cpuRate = 0;
  {
    openblas_set_num_threads(threads);
    std::vector<float> A(size_t(rows * D), 0.5f), B(size_t(D * ffIn), 0.25f),
        C(size_t(rows * ffIn));
    double bc = 1e30;
    for (int i = 0; i < 5; ++i) {
      double c0 = cpuNow();
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(rows),
                  int(ffIn), int(D), 1.0f, A.data(), int(D), B.data(),
                  int(ffIn), 0.0f, C.data(), int(ffIn));
      bc = std::min(bc, cpuNow() - c0);
    }
    openblas_set_num_threads(1);
    cpuRate = 2.0 * double(rows) * double(ffIn) * double(D) / bc;
  }
  std::vector<double> trainRatios;
  for (int i = 0; a.train && i < a.iters; ++i) {
    double r = pairedRate();
    bestRate = std::max(bestRate, r);
    double t0 = now(), c0 = cpuNow();
    trainStep();
    double dt = now() - t0;
    bestCpu = std::min(bestCpu, cpuNow() - c0);
    best = std::min(best, dt);
    total += dt;
    trainRatios.push_back(trainFlops / r / dt);
  }
  // fp32 and bf16 steps alternating (same weights drifting under both).
  double f32Best = 1e30, bf16Best = 1e30, f32Cpu = 1e30, bf16Cpu = 1e30;
  if (a.train && a.bf16) {
    if (!setCpuBf16Gemm(true)) {
      std::fprintf(stderr, "--bf16 on: %s\n", cpuBf16Unsupported().c_str());
      return 1;
    }
    trainStep(); // warm-up of the bf16 kernels
    for (int i = 0; i < a.iters; ++i)
      for (int b = 0; b < 2; ++b) {
        setCpuBf16Gemm(b == 1);
        double t0 = now(), c0 = cpuNow();
        trainStep();
        double dt = now() - t0, dc = cpuNow() - c0;
        (b ? bf16Best : f32Best) = std::min(b ? bf16Best : f32Best, dt);
        (b ? bf16Cpu : f32Cpu) = std::min(b ? bf16Cpu : f32Cpu, dc);
      }
    setCpuBf16Gemm(false);
  }
  if (a.train && a.keepAb) {
    // Kept (1) and recomputed (0) alternating; a warm-up of each first (the
    // kept layout allocates its activations).
    trainOpts.train = true;
    std::vector<double> wall[2], cpu[2];
    for (int i = -1; i < a.iters; ++i)
      for (int b = 1; b >= 0; --b) {
        m.setKeepLogits(b == 1);
        double t0 = now(), c0 = cpuNow();
        trainStep();
        if (i >= 0) {
          wall[b].push_back(now() - t0);
          cpu[b].push_back(cpuNow() - c0);
        }
      }
    m.setKeepLogits(false);
    trainOpts.train = false;
    auto best = [](const std::vector<double> &v) {
      return *std::min_element(v.begin(), v.end());
    };
    std::printf("kept vs recomputed LM-head logits (train step, interleaved, "
                "%d pairs; kept logits %.1f MiB): kept %.1f ms wall median "
                "(best %.1f), %.1f ms CPU median (best %.1f); recomputed "
                "%.1f ms (best %.1f), %.1f ms CPU (best %.1f); recomputed / "
                "kept: %.3fx wall median, %.3fx CPU median, %.3fx CPU best; "
                "logits GEMM %.1f GFLOP of %.1f a step\n",
                a.iters, double(rows) * double(V) * 4 / 1048576.0,
                median(wall[1]) * 1e3, best(wall[1]) * 1e3,
                median(cpu[1]) * 1e3, best(cpu[1]) * 1e3,
                median(wall[0]) * 1e3, best(wall[0]) * 1e3,
                median(cpu[0]) * 1e3, best(cpu[0]) * 1e3,
                median(wall[0]) / median(wall[1]),
                median(cpu[0]) / median(cpu[1]), best(cpu[0]) / best(cpu[1]),
                2.0 * double(rows) * double(V) * double(D) * 1e-9,
                trainFlops * 1e-9);
  }
  double trainRatio = median(trainRatios);
  double trainRatioBest = trainFlops / bestRate / best;
  double trainCpuRatio = trainFlops / cpuRate / bestCpu;

  if (a.train && a.bf16)
    std::printf("bf16 vs fp32 train step (interleaved, best of %d): fp32 "
                "%.1f ms (%.0f GFLOP/s), bf16 %.1f ms (%.0f GFLOP/s): %.2fx; "
                "by CPU time %.2fx\n",
                a.iters, f32Best * 1e3, trainFlops / f32Best * 1e-9,
                bf16Best * 1e3, trainFlops / bf16Best * 1e-9,
                f32Best / bf16Best, f32Cpu / bf16Cpu);

  // --- generation: prompts of T/2 tokens, T/2 new tokens, n samples each.
  std::vector<std::vector<int32_t>> prompts;
  for (int64_t p = 0; p < a.prompts; ++p) {
    std::vector<int32_t> v;
    for (int64_t t = 0; t < T / 2; ++t)
      v.push_back(int32_t((p * 131 + t * 17) % V));
    prompts.push_back(v);
  }
  SamplingConfig sc;
  sc.samplesPerPrompt = a.samples;
  sc.maxNewTokens = T / 2;
  sc.temperature = 1.0;
  sc.seed = 1;
  if (a.gen)
    (void)generate(m, {prompts[0]}, sc); // warm-up
  double gbest = 1e30;
  int64_t genTokens = 0;
  double genFlops = 0;
  std::vector<double> genRates, genTimes;
  for (int i = 0; a.gen && i < std::max(1, a.iters / 2); ++i) {
    double r = pairedRate();
    bestRate = std::max(bestRate, r);
    genRates.push_back(r);
    double t0 = now();
    auto g = generate(m, prompts, sc);
    double dt = now() - t0;
    if (!g) {
      std::fprintf(stderr, "%s\n", g.status().toString().c_str());
      return 1;
    }
    gbest = std::min(gbest, dt);
    genTimes.push_back(dt);
    genTokens = 0;
    genFlops = 0;
    const double perTok = 2 * (pLinear + pHead);
    // Prefill: once per prompt.
    for (int64_t p = 0; p < a.prompts; ++p)
      for (int64_t t = 0; t < T / 2; ++t)
        genFlops += 2 * (pLinear) + 4.0 * L * (t + 1) * D;
    genFlops += double(a.prompts) * 2 * pHead; // first-token logits
    for (int64_t r = 0; r < g->batch; ++r)
      for (int64_t t = g->promptLengths[size_t(r)]; t < g->lengths[size_t(r)];
           ++t) {
        ++genTokens;
        if (t + 1 < g->lengths[size_t(r)])
          genFlops += perTok + 4.0 * L * (t + 1) * D;
      }
  }
  std::vector<double> genRatios;
  for (size_t i = 0; i < genTimes.size(); ++i)
    genRatios.push_back(genFlops / genRates[i] / genTimes[i]);
  double genRatio = median(genRatios);
  double genRatioBest = genFlops / bestRate / gbest;

  std::printf("model: %s d_model=%lld layers=%lld heads=%lld/%lld d_ff=%lld "
              "vocab=%lld seq=%lld threads=%d\n",
              a.family.c_str(), (long long)D, (long long)L, (long long)c.nHeads,
              (long long)c.nKvHeads, (long long)c.dFf, (long long)V,
              (long long)T, cpuThreads());
  std::printf("sgemm: %.1f GFLOP/s (%lldx%lldx%lld), %.1f GFLOP/s (1024^3); "
              "bound uses %.1f\n",
              rateModel / 1e9, (long long)rows, (long long)ffIn, (long long)D,
              rateSquare / 1e9, rate / 1e9);
  std::printf("backend gemm: %.1f GFLOP/s on %lldx%lldx%lld\n", kernRate / 1e9,
              (long long)rows, (long long)ffIn, (long long)D);
  if (a.train)
    std::printf("train step: batch %lldx%lld, best %.1f ms (mean %.1f), %.0f "
                "tokens/s, %.1f GFLOP/s, ratio to sgemm bound %.2f (median of "
                "paired runs; best/best %.2f)\n",
                (long long)a.batch, (long long)T, best * 1e3,
                total / a.iters * 1e3, double(rows) / best,
                trainFlops / best / 1e9, trainRatio, trainRatioBest);
  if (a.train)
    std::printf("train step CPU time: %.1f ms (all threads); sgemm %.1f "
                "GFLOP per CPU-second; CPU-time ratio %.2f\n",
                bestCpu * 1e3, cpuRate / 1e9, trainCpuRatio);
  if (a.gen)
    std::printf("generation: %lld prompts x %lld samples, %lld+%lld tokens, "
                "best %.1f ms, %.0f new tokens/s, %.1f GFLOP/s, ratio to sgemm "
                "bound %.2f (median of paired runs; best/best %.2f)\n",
                (long long)a.prompts, (long long)a.samples, (long long)(T / 2),
                (long long)(T / 2), gbest * 1e3, double(genTokens) / gbest,
                genFlops / gbest / 1e9, genRatio, genRatioBest);
  std::printf("(bound rate: best sgemm seen this run %.1f GFLOP/s)\n",
              bestRate / 1e9);
  return 0;
}
