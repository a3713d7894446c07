// hone-bench-cuda: the transformer on the CUDA backend, printed as ratios
// to bounds measured in the same run on the same GPU.
//
// (a) Training step (forward, fused log-prob head, backward, AdamW with
//     clipping) of a Llama-family model, d_model 1024, 24 layers, sequence
//     1024: model FLOP rate / the rate cuBLAS reaches on the model's own
//     largest GEMM (tokens x d_ff-in x d_model) in the backend's GEMM mode,
//     i.e. an MFU against what the GEMM library does at that size.
//     FLOPs (matmul only, as bench/model): 6 (P_linear + V D) + 12 L T D per
//     token; the causal mask is not discounted, the LM head's recomputed
//     logits in the backward are not counted.
// (b) Decoding (incremental forward of one token per sequence, logits,
//     sampling, token ids back to the host) at batch 1 and 64: tokens/s over
//     the memory bound, where one step must read every weight once plus each
//     sequence's KV cache (fp32), at the device-to-device copy bandwidth
//     measured here ((read + write) bytes / time of a 1 GiB copy).
//
// Usage: hone-bench-cuda [--batch B] [--seq T] [--layers L] [--dmodel D]
//          [--vocab V] [--iters K] [--prompt P] [--new N] [--gemm fp32|tf32|bf16]
// Exits 0 with "skipped: no CUDA device ..." where there is no GPU.
#include "kernels/cuda/CudaKernels.h"
#include "runtime/model/Optimizer.h"
#include "runtime/model/Transformer.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace hone;

namespace {

double now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct Args {
  int64_t batch = 8, seq = 1024, layers = 24, dModel = 1024, vocab = 32000;
  int64_t heads = 16, kvHeads = 4, dFf = 2816, prompt = 512, newTokens = 128;
  int iters = 5;
  std::string gemm;
};

/// Best-of rate (FLOP/s) of the backend's GEMM (cuBLAS) on C[m,n] = A[m,k]
/// B[k,n], row-major, fp32 buffers.
double gemmRate(Kernels<float> &k, int64_t m, int64_t n, int64_t kk,
                int reps) {
  DeviceArray<float> A(&k, m * kk), B(&k, kk * n), C(&k, m * n);
  if (!A.data() || !B.data() || !C.data())
    return 0;
  k.fill(A.data(), m * kk, 0.5f);
  k.fill(B.data(), kk * n, 0.25f);
  k.gemm(false, false, m, n, kk, 1.f, A.data(), kk, B.data(), n, 0.f,
         C.data(), n); // warm-up (algorithm selection, clocks)
  k.synchronize();
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    double t0 = now();
    k.gemm(false, false, m, n, kk, 1.f, A.data(), kk, B.data(), n, 0.f,
           C.data(), n);
    k.synchronize();
    best = std::min(best, now() - t0);
  }
  return 2.0 * double(m) * double(n) * double(kk) / best;
}

/// Device-to-device copy bandwidth, (read + write) bytes per second.
double copyBandwidth(Kernels<float> &k) {
  const int64_t n = int64_t(1) << 28; // 1 GiB of floats
  DeviceArray<float> a(&k, n), b(&k, n);
  if (!a.data() || !b.data())
    return 0;
  k.copy(b.data(), a.data(), n);
  k.synchronize();
  double best = 1e30;
  for (int r = 0; r < 5; ++r) {
    double t0 = now();
    k.copy(b.data(), a.data(), n);
    k.synchronize();
    best = std::min(best, now() - t0);
  }
  return 2.0 * double(n) * sizeof(float) / best;
}

[[noreturn]] void die(const std::string &m) {
  std::fprintf(stderr, "hone-bench-cuda: %s\n", m.c_str());
  std::exit(1);
}

} // namespace

int main(int argc, char **argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (i + 1 >= argc)
      die("option " + k + " needs a value");
    std::string v = argv[++i];
    if (k == "--batch")
      a.batch = std::stoll(v);
    else if (k == "--seq")
      a.seq = std::stoll(v);
    else if (k == "--layers")
      a.layers = std::stoll(v);
    else if (k == "--dmodel")
      a.dModel = std::stoll(v);
    else if (k == "--vocab")
      a.vocab = std::stoll(v);
    else if (k == "--iters")
      a.iters = std::stoi(v);
    else if (k == "--prompt")
      a.prompt = std::stoll(v);
    else if (k == "--new")
      a.newTokens = std::stoll(v);
    else if (k == "--gemm")
      a.gemm = v;
    else
      die("unknown option " + k);
  }
  if (!cudaDeviceAvailable()) {
    std::printf("skipped: %s\n", cudaDeviceSummary().c_str());
    return 0;
  }
  CudaKernelOptions o;
  if (!a.gemm.empty()) {
    o.gemmMathSet = true;
    if (a.gemm == "fp32")
      o.gemmMath = CudaGemmMath::FP32;
    else if (a.gemm == "tf32")
      o.gemmMath = CudaGemmMath::TF32;
    else if (a.gemm == "bf16")
      o.gemmMath = CudaGemmMath::BF16;
    else
      die("--gemm: use fp32, tf32 or bf16");
  }
  std::string why;
  auto kp = makeCudaKernels(o, &why);
  if (!kp) {
    std::printf("skipped: %s\n", why.c_str());
    return 0;
  }
  Kernels<float> &k = *kp;
  const char *mathName =
      a.gemm.empty() ? (std::getenv("HONE_CUDA_GEMM") ? std::getenv("HONE_CUDA_GEMM")
                                                       : "fp32")
                     : a.gemm.c_str();

  ModelConfig c;
  c.family = ModelFamily::Llama;
  c.vocabSize = a.vocab;
  c.dModel = a.dModel;
  c.nLayers = a.layers;
  c.nHeads = a.heads;
  c.nKvHeads = a.kvHeads;
  c.dFf = a.dFf;
  c.maxSeqLen = std::max(a.seq, a.prompt + a.newTokens);
  c.tieEmbeddings = false;
  const int64_t D = c.dModel, L = c.nLayers, V = c.vocabSize, T = a.seq;
  const int64_t hd = c.headDim(), qkvw = (c.nHeads + 2 * c.nKvHeads) * hd;
  const int64_t ffIn = 2 * c.dFf, rows = a.batch * T;
  const double pLinear =
      double(L) * double(D * qkvw + c.nHeads * hd * D + D * ffIn + c.dFf * D);
  const double pHead = double(V) * double(D);

  std::printf("device: %s; GEMM math %s\n", cudaDeviceSummary().c_str(),
              mathName);
  std::printf("model: llama d_model=%lld layers=%lld heads=%lld/%lld "
              "head_dim=%lld d_ff=%lld vocab=%lld\n",
              (long long)D, (long long)L, (long long)c.nHeads,
              (long long)c.nKvHeads, (long long)hd, (long long)c.dFf,
              (long long)V);

  // --- bounds ------------------------------------------------------------
  const double rateModel = gemmRate(k, rows, ffIn, D, 10);
  const double rateSquare = gemmRate(k, 8192, 8192, 8192, 5);
  const double rate = std::max(rateModel, rateSquare);
  std::printf("cuBLAS: %.1f TFLOP/s on %lldx%lldx%lld (the model's largest "
              "GEMM), %.1f TFLOP/s on 8192^3; bound uses %.1f\n",
              rateModel / 1e12, (long long)rows, (long long)ffIn,
              (long long)D, rateSquare / 1e12, rate / 1e12);
  const double bw = copyBandwidth(k);
  std::printf("copy bandwidth: %.0f GB/s (device to device, read + write)\n",
              bw / 1e9);

  auto mOr = Transformer<float>::create(c, &k);
  if (!mOr)
    die(mOr.status().toString());
  Transformer<float> &m = **mOr;
  m.initRandom(1, 0.02);
  std::printf("parameters: %.1f M (%.2f GB fp32)\n", double(m.numParams()) / 1e6,
              double(m.numParams()) * 4 / 1e9);

  // --- (a) training step --------------------------------------------------
  {
    std::vector<int32_t> tokens(static_cast<size_t>(rows)),
        lengths(static_cast<size_t>(a.batch), int32_t(T));
    for (int64_t i = 0; i < rows; ++i)
      tokens[size_t(i)] = int32_t((i * 7919) % V);
    TokenBatch tb{a.batch, T, tokens.data(), lengths.data()};
    DeviceArray<float> dlp(&k, rows);
    k.fill(dlp.data(), rows, -1.f / float(rows));
    AdamWConfig oc;
    oc.lr = 1e-4;
    oc.weightDecay = 0.01;
    oc.maxGradNorm = 1.0;
    AdamW<float> opt(m, oc);
    m.zeroGrad();
    auto step = [&] {
      Status s = m.forward(tb);
      OutputGrads<float> g;
      g.dlogprob = dlp.data();
      if (s)
        s = m.backward(g);
      if (!s)
        die(s.toString() + " (try a smaller --batch)");
      auto st = opt.step(true);
      if (!st)
        die(st.status().toString());
      k.synchronize();
    };
    step(); // warm-up: activations, cuBLAS heuristics
    double best = 1e30, total = 0;
    for (int i = 0; i < a.iters; ++i) {
      double t0 = now();
      step();
      double dt = now() - t0;
      best = std::min(best, dt);
      total += dt;
    }
    const double flops =
        double(rows) * (6 * (pLinear + pHead) + 12.0 * double(L * T * D));
    std::printf("train step: batch %lldx%lld, best %.1f ms (mean %.1f), %.0f "
                "tokens/s, %.1f TFLOP/s, MFU vs cuBLAS rate %.2f\n",
                (long long)a.batch, (long long)T, best * 1e3,
                total / a.iters * 1e3, double(rows) / best,
                flops / best / 1e12, flops / best / rate);
  }

  // --- (b) decoding --------------------------------------------------------
  for (int64_t B : {int64_t(1), int64_t(64)}) {
    const int64_t P = a.prompt, N = a.newTokens, ctx = P + N;
    auto cacheOr = m.makeKvCache(B, ctx);
    if (!cacheOr)
      die(cacheOr.status().toString());
    KvCache<float> cache = cacheOr.take();
    std::vector<int32_t> prompt(static_cast<size_t>(B * P)),
        start(static_cast<size_t>(B), 0);
    for (int64_t i = 0; i < B * P; ++i)
      prompt[size_t(i)] = int32_t((i * 131 + 17) % V);
    auto h = m.forwardCached(cache, prompt.data(), start.data(), B, P);
    if (!h)
      die(h.status().toString());
    DeviceArray<float> logits(&k, B * V), lp(&k, B);
    DeviceArray<float, int32_t> tokDev(&k, B);
    DeviceArray<float, uint32_t> ids(&k, B), draws(&k, B);
    DeviceArray<float, uint8_t> active(&k, B);
    std::vector<uint8_t> ones(static_cast<size_t>(B), 1);
    k.copyToDevice(active.data(), ones.data(), size_t(B));
    SamplerParams sp;
    sp.greedy = true;
    std::vector<int32_t> next(static_cast<size_t>(B), 1);
    k.synchronize();
    double t0 = now();
    for (int64_t s = 0; s < N; ++s) {
      for (int64_t b = 0; b < B; ++b)
        start[size_t(b)] = int32_t(P + s);
      auto hs = m.forwardCached(cache, next.data(), start.data(), B, 1);
      if (!hs)
        die(hs.status().toString());
      Status st = m.logits(*hs, B, 1.0, logits.data());
      if (!st)
        die(st.toString());
      k.sample(logits.data(), B, V, sp, ids.data(), draws.data(),
               active.data(), tokDev.data(), lp.data());
      k.copyToHost(next.data(), tokDev.data(), size_t(B) * 4);
    }
    const double dt = now() - t0;
    const double tokPerS = double(B * N) / dt;
    // Bytes one step must read: all weights (embedding rows aside) and the
    // KV cache of every sequence at the mean context of the run.
    const double weightBytes = (pLinear + pHead) * 4;
    const double meanCtx = double(P) + double(N + 1) / 2;
    const double kvBytes = double(B) * 2.0 * double(L) *
                           double(c.nKvHeads * hd) * meanCtx * 4;
    const double boundTokPerS = double(B) / ((weightBytes + kvBytes) / bw);
    std::printf("decode batch %lld: context %lld..%lld, %.0f tokens/s, bound "
                "%.0f tokens/s (%.2f GB weights + %.2f GB KV per step), ratio "
                "%.2f\n",
                (long long)B, (long long)P, (long long)(P + N), tokPerS,
                boundTokPerS, weightBytes / 1e9, kvBytes / 1e9,
                tokPerS / boundTokPerS);
  }
  return 0;
}
