// GEMM libraries on the model's own GEMM shapes, against the machine's peak
// FMA rate measured in the same run.
//
// Libraries: OpenBLAS as loaded (and the core type it chose), BLIS and
// oneDNN (each dlopen'ed with RTLD_LOCAL so their BLAS symbols never
// interpose OpenBLAS's; a missing library is reported and skipped), and
// oneDNN's bf16 GEMM (bf16 inputs, fp32 accumulation) where the CPU has
// AVX-512 BF16. Every library call is single-threaded; two threads run the
// same deterministic M/N slicing as kernels/cpu (so results do not depend on
// the thread count, as in Hone). Rounds are interleaved: each round times
// every library once per shape, and the best of the rounds is reported.
//
// OpenBLAS picks its kernels when it is loaded, from OPENBLAS_CORETYPE; to
// compare core types run it once per core type (bench/gemm/run.sh does), e.g.
//   OPENBLAS_CORETYPE=SkylakeX hone_bench_gemm
//
// Usage: hone_bench_gemm [--rounds R] [--threads n] [--d D] [--tokens T]
//          [--vocab V] [--decode-rows R]
#include <cblas.h>
#include <dlfcn.h>
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

extern "C" char *openblas_get_corename(void);
extern "C" void openblas_set_num_threads(int);

namespace {

/// CPU time of the calling thread: on a shared machine (other builds
/// running) wall time mostly measures the other jobs; a thread's own CPU
/// time still measures what the kernel costs when it holds a core.
double threadCpu() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

std::string cpuModel() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0)
      return line.substr(line.find(':') + 2);
  return "unknown";
}

// --- peak: independent FMA chains, enough to cover latency x ports -------
__attribute__((target("avx512f"))) double fmaLoop(int64_t iters) {
  __m512 a[16];
  for (int i = 0; i < 16; ++i)
    a[i] = _mm512_set1_ps(1.0f + 1e-7f * float(i));
  const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
  for (int64_t it = 0; it < iters; ++it)
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i)
      a[i] = _mm512_fmadd_ps(a[i], m, c);
  __m512 s = a[0];
  for (int i = 1; i < 16; ++i)
    s = _mm512_add_ps(s, a[i]);
  return double(_mm512_reduce_add_ps(s));
}
// AVX2 + FMA (Zen 2, Haswell-class): 256-bit FMAs; 12 chains cover two
// pipes x 5 cycles of latency and leave registers for the two constants.
__attribute__((target("avx2,fma"))) double fmaLoop256(int64_t iters) {
  __m256 a[12];
  for (int i = 0; i < 12; ++i)
    a[i] = _mm256_set1_ps(1.0f + 1e-7f * float(i));
  const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
  for (int64_t it = 0; it < iters; ++it)
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i)
      a[i] = _mm256_fmadd_ps(a[i], m, c);
  __m256 s = a[0];
  for (int i = 1; i < 12; ++i)
    s = _mm256_add_ps(s, a[i]);
  float v[8];
  _mm256_storeu_ps(v, s);
  return double(v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7]);
}
__attribute__((target("avx512f,avx512bf16"))) double bf16Loop(int64_t iters) {
  __m512 a[16];
  for (int i = 0; i < 16; ++i)
    a[i] = _mm512_set1_ps(float(i));
  const __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80); // 1.0
  const __m512bh y = (__m512bh)_mm512_set1_epi16(0x3380); // ~6e-8
  for (int64_t it = 0; it < iters; ++it)
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i)
      a[i] = _mm512_dpbf16_ps(a[i], x, y);
  __m512 s = a[0];
  for (int i = 1; i < 16; ++i)
    s = _mm512_add_ps(s, a[i]);
  return double(_mm512_reduce_add_ps(s));
}

/// FLOP/s of `threads` threads each running the loop, timed by the
/// slowest thread's own CPU time; best of 5.
/// fp32 FMA: 16 lanes x 2 flops (AVX-512; AVX2: 8 lanes, 12 chains);
/// bf16 dot: 32 products x 2 flops.
double peak(int threads, bool bf16) {
  const bool wide = bf16 || __builtin_cpu_supports("avx512f");
  const int64_t iters = 2000000;
  double best = 1e30, sink = 0;
  for (int r = 0; r < 5; ++r) {
    double slowest = 0;
#pragma omp parallel num_threads(threads) reduction(+ : sink)                 \
    reduction(max : slowest)
    {
      double t0 = threadCpu();
      sink += bf16 ? bf16Loop(iters)
                   : (wide ? fmaLoop(iters) : fmaLoop256(iters));
      slowest = std::max(slowest, threadCpu() - t0);
    }
    best = std::min(best, slowest);
  }
  if (sink == 12345.0)
    std::puts("");
  const double perIter = bf16 ? 16.0 * 64.0 : (wide ? 16.0 * 32.0 : 12.0 * 16.0);
  return double(threads) * double(iters) * perIter / best;
}

// --- libraries -----------------------------------------------------------
// C = op(A) op(B), row-major, all single-threaded.
struct Lib {
  const char *name;
  bool bf16 = false;
  bool ok = false;
  void (*gemm)(bool ta, bool tb, int64_t m, int64_t n, int64_t k,
               const float *A, int64_t lda, const float *B, int64_t ldb,
               float *C, int64_t ldc, const uint16_t *Ab,
               const uint16_t *Bb) = nullptr;
};

void openblasGemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                  const float *A, int64_t lda, const float *B, int64_t ldb,
                  float *C, int64_t ldc, const uint16_t *, const uint16_t *) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
              tb ? CblasTrans : CblasNoTrans, int(m), int(n), int(k), 1.0f, A,
              int(lda), B, int(ldb), 0.0f, C, int(ldc));
}

using BliSgemm = void (*)(int, int, int64_t, int64_t, int64_t, float *,
                          float *, int64_t, int64_t, float *, int64_t, int64_t,
                          float *, float *, int64_t, int64_t);
BliSgemm bliSgemm;
void blisGemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k,
              const float *A, int64_t lda, const float *B, int64_t ldb,
              float *C, int64_t ldc, const uint16_t *, const uint16_t *) {
  float one = 1.0f, zero = 0.0f;
  // Transposes expressed as strides: op(A)(i,p) = A[i*rs + p*cs].
  bliSgemm(0, 0, m, n, k, &one, const_cast<float *>(A), ta ? 1 : lda,
           ta ? lda : 1, const_cast<float *>(B), tb ? 1 : ldb, tb ? ldb : 1,
           &zero, C, ldc, 1);
}

using DnnlSgemm = int (*)(char, char, int64_t, int64_t, int64_t, float,
                          const float *, int64_t, const float *, int64_t,
                          float, float *, int64_t);
using DnnlBf16 = int (*)(char, char, int64_t, int64_t, int64_t, float,
                         const uint16_t *, int64_t, const uint16_t *, int64_t,
                         float, float *, int64_t);
DnnlSgemm dnnlSgemm;
DnnlBf16 dnnlBf16;
void dnnlGemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k,
              const float *A, int64_t lda, const float *B, int64_t ldb,
              float *C, int64_t ldc, const uint16_t *, const uint16_t *) {
  dnnlSgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, 1.0f, A, lda, B, ldb,
            0.0f, C, ldc);
}
void dnnlBf16Gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                  const float *, int64_t lda, const float *, int64_t ldb,
                  float *C, int64_t ldc, const uint16_t *Ab,
                  const uint16_t *Bb) {
  dnnlBf16(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, 1.0f, Ab, lda, Bb, ldb,
           0.0f, C, ldc);
}

/// Same slicing rule as kernels/cpu parGemm: a function of the shape only.
int64_t sliceCount(int64_t e, int64_t target) {
  int64_t c = (e + target / 2) / target;
  if (c > 1 && (c & 1))
    ++c;
  return std::max<int64_t>(c, 1);
}
/// Returns the slowest thread's CPU time.
double sliced(const Lib &L, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
            const float *A, int64_t lda, const float *B, int64_t ldb, float *C,
            int64_t ldc, const uint16_t *Ab, const uint16_t *Bb, int threads) {
  double work = 2.0 * double(m) * double(n) * double(k);
  bool sliceM = m >= 256;
  int64_t cnt =
      work < 2e6 ? 1 : sliceCount(sliceM ? m : n, sliceM ? 512 : 256);
  if (cnt == 1 && work >= 3.2e7) {
    if (m >= 128)
      sliceM = true, cnt = 2;
    else if (n >= 128)
      sliceM = false, cnt = 2;
  }
  int64_t e = sliceM ? m : n;
  int64_t chunk = ((e + cnt - 1) / cnt + 15) / 16 * 16;
  cnt = (e + chunk - 1) / chunk;
  std::vector<double> spent(size_t(threads), 0.0);
#pragma omp parallel num_threads(threads)
  {
    // Libraries with their own OpenMP threading (oneDNN) stay on this
    // thread, as the single-threaded OpenBLAS does.
    omp_set_num_threads(1);
    double t0 = threadCpu();
#pragma omp for schedule(static)
  for (int64_t c = 0; c < cnt; ++c) {
    int64_t s0 = c * chunk, len = std::min(chunk, e - s0);
    if (sliceM) {
      int64_t off = ta ? s0 : s0 * lda;
      L.gemm(ta, tb, len, n, k, A + off, lda, B, ldb, C + s0 * ldc, ldc,
             Ab + off, Bb);
    } else {
      int64_t off = tb ? s0 * ldb : s0;
      L.gemm(ta, tb, m, len, k, A, lda, B + off, ldb, C + s0, ldc, Ab,
             Bb + off);
    }
  }
    spent[size_t(omp_get_thread_num())] = threadCpu() - t0;
  }
  return *std::max_element(spent.begin(), spent.end());
}

uint16_t toBf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7fff + ((u >> 16) & 1);
  return uint16_t(u >> 16);
}

struct Shape {
  std::string cls, what;
  bool ta, tb;
  int64_t m, n, k;
};

} // namespace

int main(int argc, char **argv) {
  int rounds = 5, threads = 2;
  int64_t D = 512, T = 1024, V = 8192, decodeRows = 64;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    int64_t v = std::stoll(argv[i + 1]);
    if (k == "--rounds")
      rounds = int(v);
    else if (k == "--threads")
      threads = int(v);
    else if (k == "--d")
      D = v;
    else if (k == "--tokens")
      T = v;
    else if (k == "--vocab")
      V = v;
    else if (k == "--decode-rows")
      decodeRows = v;
    else {
      std::fprintf(stderr, "hone_bench_gemm: unknown option %s\n", k.c_str());
      return 1;
    }
  }
  openblas_set_num_threads(1);
  const bool hasBf16 = __builtin_cpu_supports("avx512bf16");
  const bool hasAvx512 = __builtin_cpu_supports("avx512f");

  std::vector<Lib> libs;
  {
    Lib l{"openblas"};
    l.ok = true;
    l.gemm = openblasGemm;
    libs.push_back(l);
  }
  std::string blisArch = "absent", dnnlIsa = "absent";
  if (void *h = dlopen("libblis.so.4", RTLD_NOW | RTLD_LOCAL)) {
    bliSgemm = BliSgemm(dlsym(h, "bli_sgemm"));
    auto setThreads = (void (*)(int64_t))dlsym(h, "bli_thread_set_num_threads");
    auto archId = (int (*)())dlsym(h, "bli_arch_query_id");
    auto archStr = (const char *(*)(int))dlsym(h, "bli_arch_string");
    if (bliSgemm && setThreads) {
      setThreads(1);
      Lib l{"blis"};
      l.ok = true;
      l.gemm = blisGemm;
      libs.push_back(l);
      blisArch = archId && archStr ? archStr(archId()) : "?";
    }
  }
  if (void *h = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_LOCAL)) {
    dnnlSgemm = DnnlSgemm(dlsym(h, "dnnl_sgemm"));
    dnnlBf16 = DnnlBf16(dlsym(h, "dnnl_gemm_bf16bf16f32"));
    auto isa = (int (*)())dlsym(h, "dnnl_get_effective_cpu_isa");
    if (dnnlSgemm) {
      Lib l{"onednn"};
      l.ok = true;
      l.gemm = dnnlGemm;
      libs.push_back(l);
      char buf[32];
      std::snprintf(buf, sizeof buf, "isa 0x%x", isa ? isa() : -1);
      dnnlIsa = buf;
    }
    if (dnnlBf16 && hasBf16) {
      Lib l{"onednn-bf16"};
      l.ok = true;
      l.bf16 = true;
      l.gemm = dnnlBf16Gemm;
      libs.push_back(l);
    }
  }

  std::printf("cpu: %s, %d threads, avx512f %s, avx512_bf16 %s\n",
              cpuModel().c_str(), threads, hasAvx512 ? "yes" : "no",
              hasBf16 ? "yes" : "no");
  std::printf("openblas core: %s; blis arch: %s; onednn: %s\n",
              openblas_get_corename(), blisArch.c_str(), dnnlIsa.c_str());
  double p1 = 0, pN = 0, b1 = 0, bN = 0;
  const bool hasAvx2 =
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (hasAvx512 || hasAvx2) {
    p1 = peak(1, false), pN = peak(threads, false);
    std::printf("peak fp32 FMA: %.1f GFLOP/s on 1 thread, %.1f on %d (%s)\n",
                p1 * 1e-9, pN * 1e-9, threads,
                hasAvx512 ? "AVX-512" : "AVX2 + FMA");
  } else {
    std::printf("peak fp32 FMA: not measured (neither AVX-512 nor AVX2 + FMA)\n");
  }
  if (hasBf16) {
    b1 = peak(1, true), bN = peak(threads, true);
    std::printf("peak bf16 dot (fp32 acc): %.1f GFLOP/s on 1 thread, %.1f on "
                "%d\n",
                b1 * 1e-9, bN * 1e-9, threads);
  }

  const int64_t F = 4 * D;
  std::vector<Shape> shapes = {
      {"train", "qkv fwd", false, false, T, 3 * D, D},
      {"train", "attn out fwd", false, false, T, D, D},
      {"train", "ff up fwd", false, false, T, F, D},
      {"train", "ff down fwd", false, false, T, D, F},
      {"train", "ff up dX (NT)", false, true, T, D, F},
      {"train", "ff up dW (TN)", true, false, D, F, T},
      {"train", "ff down dW (TN)", true, false, F, D, T},
      {"head", "lm head fwd", false, true, T, V, D},
      {"head", "lm head dX", false, false, T, D, V},
      {"head", "lm head dW (TN)", true, false, V, D, T},
      {"decode", "qkv", false, false, decodeRows, 3 * D, D},
      {"decode", "ff up", false, false, decodeRows, F, D},
      {"decode", "ff down", false, false, decodeRows, D, F},
      {"decode", "lm head", false, true, decodeRows, V, D},
  };

  // Best time per (shape, lib, threads) over interleaved rounds.
  size_t S = shapes.size(), NL = libs.size();
  std::vector<double> best(S * NL * 2, 1e30);
  std::vector<double> maxErr(S * NL, 0);
  for (int r = 0; r < rounds; ++r) {
    for (size_t s = 0; s < S; ++s) {
      const Shape &sh = shapes[s];
      int64_t ar = sh.ta ? sh.k : sh.m, ac = sh.ta ? sh.m : sh.k;
      int64_t br = sh.tb ? sh.n : sh.k, bc = sh.tb ? sh.k : sh.n;
      std::vector<float> A(size_t(ar * ac)), B(size_t(br * bc)),
          C(size_t(sh.m * sh.n)), R;
      for (size_t i = 0; i < A.size(); ++i)
        A[i] = float(int(i * 7 % 13) - 6) * 0.0625f;
      for (size_t i = 0; i < B.size(); ++i)
        B[i] = float(int(i * 5 % 11) - 5) * 0.125f;
      std::vector<uint16_t> Ab(A.size()), Bb(B.size());
      for (size_t i = 0; i < A.size(); ++i)
        Ab[i] = toBf16(A[i]);
      for (size_t i = 0; i < B.size(); ++i)
        Bb[i] = toBf16(B[i]);
      for (size_t l = 0; l < NL; ++l) {
        for (int tt = 0; tt < 2; ++tt) {
          int th = tt ? threads : 1;
          double t =
              sliced(libs[l], sh.ta, sh.tb, sh.m, sh.n, sh.k, A.data(), ac,
                     B.data(), bc, C.data(), sh.n, Ab.data(), Bb.data(), th);
          double &b = best[(s * NL + l) * 2 + tt];
          b = std::min(b, t);
        }
        // The inputs are exact in bf16 and the products small integers
        // over powers of two: every library must agree with OpenBLAS
        // (sums of <= 2^24 magnitude are exact in fp32).
        if (l == 0)
          R = C;
        else if (r == 0)
          for (size_t i = 0; i < C.size(); ++i)
            maxErr[s * NL + l] =
                std::max(maxErr[s * NL + l], double(std::fabs(C[i] - R[i])));
      }
    }
  }

  std::printf("\nGFLOP/s by the slowest thread's CPU time, best of %d "
              "interleaved rounds (1 thread / %d threads; fp32 peak %.0f / %.0f)\n",
              rounds, threads, p1 * 1e-9, pN * 1e-9);
  std::printf("%-7s %-17s %5s %5s %5s", "class", "gemm", "m", "n", "k");
  for (auto &l : libs)
    std::printf(" | %-13s", l.name);
  std::printf("\n");
  for (size_t s = 0; s < S; ++s) {
    const Shape &sh = shapes[s];
    double fl = 2.0 * double(sh.m) * double(sh.n) * double(sh.k);
    std::printf("%-7s %-17s %5lld %5lld %5lld", sh.cls.c_str(),
                sh.what.c_str(), (long long)sh.m, (long long)sh.n,
                (long long)sh.k);
    for (size_t l = 0; l < NL; ++l)
      std::printf(" | %5.0f / %5.0f", fl / best[(s * NL + l) * 2] * 1e-9,
                  fl / best[(s * NL + l) * 2 + 1] * 1e-9);
    std::printf("\n");
  }
  for (size_t s = 0; s < S; ++s)
    for (size_t l = 1; l < NL; ++l)
      if (maxErr[s * NL + l] != 0)
        std::printf("warning: %s differs from openblas on %s by %g\n",
                    libs[l].name, shapes[s].what.c_str(), maxErr[s * NL + l]);
  return 0;
}
