// CPU kernels. Parallelism is over independent rows (or column blocks for
// reductions over rows), never over a reduction, so results do not depend on
// the number of threads.
#include "kernels/cpu/CpuKernels.h"
#include "kernels/cpu/Bf16Gemm.h"
#include "kernels/cpu/MathFns.h"
#include "runtime/base/Philox.h"

#include <cblas.h>
#include <dlfcn.h>
#include <omp.h>
#if HONE_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <type_traits>
#include <vector>

extern "C" void openblas_set_num_threads(int);

namespace hone {

static int gThreads = 0;

// OpenBLAS runs single-threaded inside our OpenMP threads: two thread pools
// spinning against each other on the same cores cost more than they gain.
void setCpuThreads(int n) {
  gThreads = n > 0 ? n : 1;
  omp_set_num_threads(gThreads);
  openblas_set_num_threads(1);
}
int cpuThreads() { return gThreads ? gThreads : omp_get_max_threads(); }

// --- bf16 GEMMs ------------------------------------------------------------
//
// oneDNN's bf16 GEMM (bf16 inputs, fp32 accumulation and output), resolved
// at run time: it is exported by libdnnl for its own tests (and used so by
// other frameworks) but not declared in its headers, so a libdnnl without it
// leaves the fp32 path in place instead of failing to load.
namespace {
using Bf16GemmFn = int (*)(char, char, int64_t, int64_t, int64_t, float,
                           const uint16_t *, int64_t, const uint16_t *,
                           int64_t, float, float *, int64_t);
std::atomic<bool> gBf16{false};
Bf16GemmFn bf16GemmFn() {
#if HONE_HAVE_DNNL
  static Bf16GemmFn f =
      Bf16GemmFn(dlsym(RTLD_DEFAULT, "dnnl_gemm_bf16bf16f32"));
  return f;
#else
  return nullptr;
#endif
}
} // namespace

std::string cpuBf16Unsupported() {
  const char *noIsa = "this CPU has neither AVX-512 BF16 nor AMX";
  // Turns the detection off (a CPU without it, in tests; a user's choice).
  if (const char *e = std::getenv("HONE_CPU_BF16"))
    if (std::strcmp(e, "off") == 0 || std::strcmp(e, "0") == 0)
      return std::string("disabled by HONE_CPU_BF16=") + e;
#if !HONE_HAVE_DNNL
  if (!__builtin_cpu_supports("avx512bf16") &&
      !__builtin_cpu_supports("amx-bf16"))
    return noIsa;
  return "this build has no oneDNN (install libdnnl-dev and rebuild)";
#else
  // What oneDNN will dispatch to on this CPU (AMX includes the bf16 bits).
  int isa = int(dnnl_get_effective_cpu_isa());
  if ((isa & dnnl_cpu_isa_avx512_core_bf16) != dnnl_cpu_isa_avx512_core_bf16)
    return noIsa;
  if (!bf16GemmFn())
    return "the installed oneDNN exports no dnnl_gemm_bf16bf16f32";
  return "";
#endif
}
bool setCpuBf16Gemm(bool on) {
  gBf16 = on && cpuBf16Unsupported().empty();
  return gBf16;
}
bool cpuBf16Gemm() { return gBf16; }

namespace cpu {
namespace {

// Work below this many elements runs on one thread: a fork costs ~µs.
constexpr int64_t kParallelMin = 1 << 14;

inline void blasGemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                     float alpha, const float *A, int64_t lda, const float *B,
                     int64_t ldb, float beta, float *C, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
              tb ? CblasTrans : CblasNoTrans, int(m), int(n), int(k), alpha, A,
              int(lda), B, int(ldb), beta, C, int(ldc));
}
inline void blasGemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                     double alpha, const double *A, int64_t lda,
                     const double *B, int64_t ldb, double beta, double *C,
                     int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
              tb ? CblasTrans : CblasNoTrans, int(m), int(n), int(k), alpha, A,
              int(lda), B, int(ldb), beta, C, int(ldc));
}

/// Round to nearest even; NaN stays NaN (quiet).
inline uint16_t toBf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  return uint16_t((u & 0x7fffffffu) > 0x7f800000u ? (u >> 16) | 0x40u : r);
}

/// The rows x cols matrix at `src` (leading dimension ld) as packed bf16.
void packBf16(int64_t rows, int64_t cols, const float *src, int64_t ld,
              uint16_t *dst) {
#pragma omp parallel for schedule(static) if (rows * cols >= kParallelMin * 4 && !omp_in_parallel())
  for (int64_t i = 0; i < rows; ++i) {
    const float *s = src + i * ld;
    uint16_t *d = dst + i * cols;
#pragma omp simd
    for (int64_t j = 0; j < cols; ++j)
      d[j] = toBf16(s[j]);
  }
}

/// Keeps oneDNN on the calling thread (it would otherwise split a GEMM over
/// all OpenMP threads, possibly along k, and results would depend on the
/// thread count).
struct OneOmpThread {
  int saved = omp_get_max_threads();
  OneOmpThread() { omp_set_num_threads(1); }
  ~OneOmpThread() { omp_set_num_threads(saved); }
};

/// C = alpha op(A) op(B) + beta C with A and B rounded to bf16, products
/// summed in fp32; sliced like parGemm, so the thread count never matters.
void bf16Gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
              const float *A, int64_t lda, const float *B, int64_t ldb,
              float beta, float *C, int64_t ldc, bool sliceM, int64_t cnt) {
  thread_local std::vector<uint16_t> ab, bb;
  int64_t ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
  if (int64_t(ab.size()) < ar * ac)
    ab.resize(size_t(ar * ac));
  if (int64_t(bb.size()) < br * bc)
    bb.resize(size_t(br * bc));
  packBf16(ar, ac, A, lda, ab.data());
  packBf16(br, bc, B, ldb, bb.data());
  Bf16GemmFn f = bf16GemmFn();
  const char tA = ta ? 'T' : 'N', tB = tb ? 'T' : 'N';
  const uint16_t *a = ab.data(), *b = bb.data();
  if (cnt == 1) {
    OneOmpThread one;
    f(tA, tB, m, n, k, alpha, a, ac, b, bc, beta, C, ldc);
    return;
  }
  int64_t e = sliceM ? m : n;
  int64_t chunk = ((e + cnt - 1) / cnt + 15) / 16 * 16;
  cnt = (e + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (!omp_in_parallel())
  for (int64_t c = 0; c < cnt; ++c) {
    OneOmpThread one;
    int64_t s0 = c * chunk, len = std::min(chunk, e - s0);
    if (sliceM)
      f(tA, tB, len, n, k, alpha, ta ? a + s0 : a + s0 * ac, ac, b, bc, beta,
        C + s0 * ldc, ldc);
    else
      f(tA, tB, m, len, k, alpha, a, ac, tb ? b + s0 * bc : b + s0, bc, beta,
        C + s0, ldc);
  }
}

/// A GEMM cut into independent slices of M (or N when M is small), run on
/// the OpenMP threads with single-threaded OpenBLAS on each slice.
template <typename T>
void parGemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha,
             const T *A, int64_t lda, const T *B, int64_t ldb, T beta, T *C,
             int64_t ldc) {
  if (m <= 0 || n <= 0)
    return;
  if (k <= 0) {
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j)
        C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
    return;
  }
  GemmSlicing sl = gemmSlicing(m, n, k); // kernels/cpu/Bf16Gemm.cpp
  bool sliceM = sl.sliceM;
  int64_t cnt = sl.cnt;
  if constexpr (std::is_same_v<T, float>)
    if (m >= kCpuBf16MinRows && gBf16.load(std::memory_order_relaxed)) {
      bf16Gemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, sliceM,
               cnt);
      return;
    }
  if (cnt == 1) {
    blasGemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  int64_t e = sliceM ? m : n;
  int64_t chunk = ((e + cnt - 1) / cnt + 15) / 16 * 16;
  cnt = (e + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (!omp_in_parallel())
  for (int64_t c = 0; c < cnt; ++c) {
    int64_t s0 = c * chunk, len = std::min(chunk, e - s0);
    if (sliceM)
      blasGemm(ta, tb, len, n, k, alpha, ta ? A + s0 : A + s0 * lda, lda, B,
               ldb, beta, C + s0 * ldc, ldc);
    else
      blasGemm(ta, tb, m, len, k, alpha, A, lda, tb ? B + s0 * ldb : B + s0,
               ldb, beta, C + s0, ldc);
  }
}

/// parGemm<float> as a plain function (Bf16Gemm.h's SgemmFn).
void sgemmF32(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
              const float *A, int64_t lda, const float *B, int64_t ldb,
              float beta, float *C, int64_t ldc) {
  parGemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

/// A GEMM on a weight operand B of either storage (fp32/fp64, or bf16 bits
/// of a frozen model: Bf16Gemm.h).
template <typename T>
inline void weightGemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                       T alpha, const T *A, int64_t lda, const T *B,
                       int64_t ldb, T beta, T *C, int64_t ldc) {
  parGemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}
inline void weightGemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                       float alpha, const float *A, int64_t lda,
                       const uint16_t *B, int64_t ldb, float beta, float *C,
                       int64_t ldc) {
  gemmBf16Weights(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc,
                  sgemmF32);
}

template <typename T> inline T dot(const T *a, const T *b, int64_t n) {
  T s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i)
    s += a[i] * b[i];
  return s;
}

/// Column-blocked reduction over rows: out[c] += sum_r f(r, c). Parallel over
/// column blocks, sequential over rows, so the order is fixed.
template <typename T, typename F>
void reduceRows(int64_t rows, int64_t cols, T *out, F f) {
  const int64_t cb = 64;
  int64_t nb = (cols + cb - 1) / cb;
#pragma omp parallel for schedule(static) if (rows * cols >= kParallelMin)
  for (int64_t b = 0; b < nb; ++b) {
    int64_t c0 = b * cb, c1 = std::min(cols, c0 + cb);
    T acc[64];
    for (int64_t c = c0; c < c1; ++c)
      acc[c - c0] = 0;
    for (int64_t r = 0; r < rows; ++r)
      f(r, c0, c1, acc);
    for (int64_t c = c0; c < c1; ++c)
      out[c] += acc[c - c0];
  }
}

// --- decode attention over the KV cache --------------------------------------
//
// Cache layout of one (sequence, KV head) slot of cacheLen * headDim values:
// V is [cacheLen, headDim]; K is cut into tiles of kKTile positions, each
// tile [headDim, width] (width kKTile, less for a last partial tile), so the
// scores of a position range are a contiguous read. Decoding reads the whole
// cache once per token and is bound by memory bandwidth: contiguous reads
// run at stream speed where the former [headDim, cacheLen] rows, read a
// slice at a time, ran at less than half.

constexpr int64_t kKTile = 64;

inline int64_t kTileWidth(int64_t t, int64_t cacheLen) {
  return std::min(kKTile, cacheLen - t * kKTile);
}

typedef float v16f __attribute__((vector_size(64), aligned(4)));

/// Scores of NC queries (pre-scaled, [NC][64]) at the 64 positions of a full
/// K tile ([64, 64], head dim 64) into 4 x NC vector registers.
template <int NC>
inline void scoreTile64(const float (*qs)[64], const float *k,
                        float (*dst)[64]) {
  v16f a[NC][4] = {};
  for (int d = 0; d < 64; ++d, k += 64) {
    const v16f k0 = *reinterpret_cast<const v16f *>(k);
    const v16f k1 = *reinterpret_cast<const v16f *>(k + 16);
    const v16f k2 = *reinterpret_cast<const v16f *>(k + 32);
    const v16f k3 = *reinterpret_cast<const v16f *>(k + 48);
    for (int q = 0; q < NC; ++q) {
      const float qd = qs[q][d];
      a[q][0] += qd * k0;
      a[q][1] += qd * k1;
      a[q][2] += qd * k2;
      a[q][3] += qd * k3;
    }
  }
  for (int q = 0; q < NC; ++q)
    for (int i = 0; i < 4; ++i)
      *reinterpret_cast<v16f *>(dst[q] + 16 * i) = a[q][i];
}

/// acc[q] += sum over positions [j0, j1) of w[q][j] * V[j] for NC queries
/// (head dim 64), the accumulators in 4 x NC vector registers.
template <int NC>
inline void valueRows64(const float *const *w, const float *V, int64_t j0,
                        int64_t j1, float *const *acc) {
  v16f a[NC][4];
  for (int q = 0; q < NC; ++q)
    for (int i = 0; i < 4; ++i)
      a[q][i] = *reinterpret_cast<const v16f *>(acc[q] + 16 * i);
  const float *v = V + j0 * 64;
  for (int64_t j = j0; j < j1; ++j, v += 64) {
    const v16f v0 = *reinterpret_cast<const v16f *>(v);
    const v16f v1 = *reinterpret_cast<const v16f *>(v + 16);
    const v16f v2 = *reinterpret_cast<const v16f *>(v + 32);
    const v16f v3 = *reinterpret_cast<const v16f *>(v + 48);
    for (int q = 0; q < NC; ++q) {
      const float wq = w[q][j];
      a[q][0] += wq * v0;
      a[q][1] += wq * v1;
      a[q][2] += wq * v2;
      a[q][3] += wq * v3;
    }
  }
  for (int q = 0; q < NC; ++q)
    for (int i = 0; i < 4; ++i)
      *reinterpret_cast<v16f *>(acc[q] + 16 * i) = a[q][i];
}

/// The decode queries of one KV head: query i is head (i % group) of query
/// row (i / group). Scores, softmax and the weighted sum of V run in phases
/// over position ranges, so that a range can be read from another
/// sequence's cache holding the same K/V. Each score is summed over d in
/// order and each output element over positions in order, however the
/// ranges are cut and whichever path runs, so sharing never changes a bit.
template <typename T> struct DecodeQueries {
  static constexpr int64_t kMaxQueries = 16;
  const T *q;
  int64_t qStride;
  T *out;
  int64_t oStride;
  int64_t group, nq, hd, ldsc;
  T scale;
  T *sc;  // [nq, ldsc] scores, then unnormalised probabilities
  T *acc; // [nq, hd] output accumulators, then [nq] 1 / softmax sums

  const T *query(int64_t i) const {
    return q + (i / group) * qStride + (i % group) * hd;
  }

  /// Scores of queries [i0, i0+cnt) at positions [j0, j1) of the K slot Kt.
  void scores(int64_t i0, int64_t cnt, const T *Kt, int64_t cacheLen,
              int64_t j0, int64_t j1) {
    if (j1 <= j0)
      return;
    for (int64_t t = j0 / kKTile; t * kKTile < j1; ++t) {
      const int64_t base = t * kKTile, w = kTileWidth(t, cacheLen);
      const int64_t lo = std::max(j0, base) - base;
      const int64_t hi = std::min(j1, base + w) - base;
      const T *tile = Kt + base * hd;
      if constexpr (std::is_same<T, float>::value) {
        if (hd == 64 && w == 64) {
          scoreTileF(i0, cnt, tile, base, lo, hi);
          continue;
        }
      }
      for (int64_t i = i0; i < i0 + cnt; ++i)
        std::fill(sc + i * ldsc + base + lo, sc + i * ldsc + base + hi, T(0));
      for (int64_t d = 0; d < hd; ++d) {
        const T *kr = tile + d * w;
        for (int64_t i = i0; i < i0 + cnt; ++i) {
          const T qd = query(i)[d] * scale;
          T *s = sc + i * ldsc + base;
#pragma omp simd
          for (int64_t j = lo; j < hi; ++j)
            s[j] += qd * kr[j];
        }
      }
    }
  }
  /// A full fp32 tile of head dim 64, four queries per sweep.
  void scoreTileF(int64_t i0, int64_t cnt, const float *tile, int64_t base,
                  int64_t lo, int64_t hi) {
    for (int64_t c0 = i0; c0 < i0 + cnt; c0 += 4) {
      const int nc = int(std::min<int64_t>(4, i0 + cnt - c0));
      float qs[4][64], res[4][64];
      for (int c = 0; c < nc; ++c) {
        const float *qc = reinterpret_cast<const float *>(query(c0 + c));
        for (int d = 0; d < 64; ++d)
          qs[c][d] = qc[d] * float(scale);
      }
      switch (nc) {
      case 1:
        scoreTile64<1>(qs, tile, res);
        break;
      case 2:
        scoreTile64<2>(qs, tile, res);
        break;
      case 3:
        scoreTile64<3>(qs, tile, res);
        break;
      default:
        scoreTile64<4>(qs, tile, res);
        break;
      }
      for (int c = 0; c < nc; ++c)
        std::memcpy(sc + (c0 + c) * ldsc + base + lo, res[c] + lo,
                    size_t(hi - lo) * sizeof(float));
    }
  }
  /// The score at position j from a K vector k [hd] not yet in the cache,
  /// with the fused multiply-adds the vectorised sweeps use (written out:
  /// GCC would vectorise the products and round each before adding).
  void scoreNew(int64_t i0, int64_t cnt, const T *k, int64_t j) {
    for (int64_t i = i0; i < i0 + cnt; ++i) {
      const T *qi = query(i);
      T s = 0;
      for (int64_t d = 0; d < hd; ++d)
        s = std::fma(qi[d] * scale, k[d], s);
      sc[i * ldsc + j] = s;
    }
  }
  void softmax(int64_t i0, int64_t cnt, int64_t n) {
    T *inv = acc + nq * hd;
    for (int64_t i = i0; i < i0 + cnt; ++i) {
      T *s = sc + i * ldsc, m = s[0];
#pragma omp simd reduction(max : m)
      for (int64_t j = 0; j < n; ++j)
        m = std::max(m, s[j]);
      T sum = 0;
#pragma omp simd reduction(+ : sum)
      for (int64_t j = 0; j < n; ++j) {
        T e = vexp<T>(s[j] - m);
        s[j] = e;
        sum += e;
      }
      inv[i] = T(1) / sum;
    }
  }
  /// acc += sum over positions [j0, j1) of p * V[j] (V: [positions, hd]);
  /// `init` clears the accumulators first.
  void values(int64_t i0, int64_t cnt, const T *V, int64_t j0, int64_t j1,
              bool init) {
    if (init)
      std::fill(acc + i0 * hd, acc + (i0 + cnt) * hd, T(0));
    if constexpr (std::is_same<T, float>::value) {
      if (hd == 64) {
        for (int64_t c0 = i0; c0 < i0 + cnt; c0 += 4) {
          const int nc = int(std::min<int64_t>(4, i0 + cnt - c0));
          const float *w[4];
          float *a[4];
          for (int c = 0; c < nc; ++c) {
            w[c] = sc + (c0 + c) * ldsc;
            a[c] = acc + (c0 + c) * 64;
          }
          switch (nc) {
          case 1:
            valueRows64<1>(w, V, j0, j1, a);
            break;
          case 2:
            valueRows64<2>(w, V, j0, j1, a);
            break;
          case 3:
            valueRows64<3>(w, V, j0, j1, a);
            break;
          default:
            valueRows64<4>(w, V, j0, j1, a);
            break;
          }
        }
        return;
      }
    }
    for (int64_t j = j0; j < j1; ++j) {
      const T *v = V + j * hd;
      for (int64_t i = i0; i < i0 + cnt; ++i) {
        const T w = sc[i * ldsc + j];
        T *a = acc + i * hd;
#pragma omp simd
        for (int64_t d = 0; d < hd; ++d)
          a[d] += w * v[d];
      }
    }
  }
  /// values() at position j from a V row v [hd] not yet in the cache.
  void valueNew(int64_t i0, int64_t cnt, const T *v, int64_t j) {
    for (int64_t i = i0; i < i0 + cnt; ++i) {
      const T w = sc[i * ldsc + j];
      T *a = acc + i * hd;
#pragma omp simd
      for (int64_t d = 0; d < hd; ++d)
        a[d] += w * v[d];
    }
  }
  void finish() {
    const T *inv = acc + nq * hd;
    for (int64_t i = 0; i < nq; ++i) {
      T *o = out + (i / group) * oStride + (i % group) * hd;
      const T *a = acc + i * hd;
#pragma omp simd
      for (int64_t d = 0; d < hd; ++d)
        o[d] = a[d] * inv[i];
    }
  }
};

// --- decode dense layers: a small-row fp32 GEMM with a fused epilogue -------
//
// Decoding multiplies a few hundred rows by every weight matrix each step.
// OpenBLAS repacks the weights on every call, and bias, residual and GELU
// were separate passes over the output; here each thread takes 64-column
// panels of W, packs a panel while the first rows consume it (the later
// rows read the packed copy from L2), keeps 6 x 64 accumulators in
// registers, and finishes the panel in one epilogue. Each output element
// is summed over k in order, whatever the thread count.

constexpr int64_t kLinKc = 512; // k rows of a packed panel (128 KB)

template <int MR, int NV>
inline void linearTile(int64_t kc, const float *A, int64_t lda, const float *B,
                       int64_t ldb, float *part, bool init, float *pack) {
  v16f acc[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v)
      acc[r][v] = init
                      ? v16f{}
                      : *reinterpret_cast<const v16f *>(part + r * 64 + 16 * v);
  const float *b = B;
  for (int64_t p = 0; p < kc; ++p, b += ldb) {
    v16f bv[NV];
    for (int v = 0; v < NV; ++v)
      bv[v] = *reinterpret_cast<const v16f *>(b + 16 * v);
    if (pack) {
      for (int v = 0; v < NV; ++v) {
        __builtin_prefetch(b + 12 * ldb + 16 * v, 0, 3);
        *reinterpret_cast<v16f *>(pack + p * 16 * NV + 16 * v) = bv[v];
      }
    }
    for (int r = 0; r < MR; ++r) {
      const float a = A[r * lda + p];
      for (int v = 0; v < NV; ++v)
        acc[r][v] += a * bv[v];
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v)
      *reinterpret_cast<v16f *>(part + r * 64 + 16 * v) = acc[r][v];
}

/// part [m, 64] (+)= A[m, kc] B[kc, 16 NV]: the first row block reads B
/// (rows ldb apart) and packs it, the others read the pack.
template <int NV>
void linearPanel(int64_t m, int64_t kc, const float *A, int64_t lda,
                 const float *B, int64_t ldb, float *part, bool init,
                 float *pack) {
  constexpr int MR = NV == 4 ? 6 : 8;
  auto tile = [&](auto mr, int64_t r) {
    constexpr int R = decltype(mr)::value;
    if (r == 0)
      linearTile<R, NV>(kc, A, lda, B, ldb, part, init, pack);
    else
      linearTile<R, NV>(kc, A + r * lda, lda, pack, 16 * NV, part + r * 64,
                        init, nullptr);
  };
  int64_t r = 0;
  for (; r + MR <= m; r += MR)
    tile(std::integral_constant<int, MR>(), r);
  switch (m - r) {
  case 0:
    break;
  case 1:
    tile(std::integral_constant<int, 1>(), r);
    break;
  case 2:
    tile(std::integral_constant<int, 2>(), r);
    break;
  case 3:
    tile(std::integral_constant<int, 3>(), r);
    break;
  case 4:
    tile(std::integral_constant<int, 4>(), r);
    break;
  case 5:
    tile(std::integral_constant<int, 5>(), r);
    break;
  case 6:
    tile(std::integral_constant<int, 6>(), r);
    break;
  default:
    tile(std::integral_constant<int, 7>(), r);
    break;
  }
}

/// Not thread-safe: one CpuKernels object per concurrently running lane.
template <typename T> class CpuKernels final : public Kernels<T> {
  std::vector<T> scratch_;
  std::vector<std::vector<T>> threadScratch_;
  T *scratch(int64_t n) {
    if (int64_t(scratch_.size()) < n)
      scratch_.resize(size_t(n));
    return scratch_.data();
  }
  /// Scratch of one OpenMP thread (call prepareThreadScratch outside the
  /// parallel region first).
  void prepareThreadScratch(int64_t n) {
    size_t t = size_t(std::max(omp_get_max_threads(), 1));
    if (threadScratch_.size() < t)
      threadScratch_.resize(t);
    for (auto &v : threadScratch_)
      if (int64_t(v.size()) < n)
        v.resize(size_t(n));
  }
  T *threadScratch() {
    return threadScratch_[size_t(omp_get_thread_num())].data();
  }

public:
  CpuKernels() { openblas_set_num_threads(1); }
  Device device() const override { return Device::CPU; }
  const char *name() const override { return "cpu"; }

  void *allocBytes(size_t bytes) override {
    size_t r = (bytes + 63) / 64 * 64;
    if (!r)
      r = 64;
    void *p = std::aligned_alloc(64, r);
    if (p)
      std::memset(p, 0, r);
    return p;
  }
  void freeBytes(void *p) override { std::free(p); }
  void copyToDevice(void *d, const void *s, size_t n) override {
    if (n)
      std::memcpy(d, s, n);
  }
  void copyToHost(void *d, const void *s, size_t n) override {
    if (n)
      std::memcpy(d, s, n);
  }
  void copy(T *d, const T *s, int64_t n) override {
    if (n > 0)
      std::memcpy(d, s, size_t(n) * sizeof(T));
  }
  void fill(T *x, int64_t n, T v) override {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin * 4)
    for (int64_t i = 0; i < n; ++i)
      x[i] = v;
  }
  void synchronize() override {}

  void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha,
            const T *A, int64_t lda, const T *B, int64_t ldb, T beta, T *C,
            int64_t ldc) override {
    parGemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
  }

  void broadcastRows(T *y, const T *b, int64_t rows, int64_t cols) override {
#pragma omp parallel for schedule(static) if (rows * cols >= kParallelMin)
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(y + r * cols, b, size_t(cols) * sizeof(T));
  }

  void addRows(T *y, const T *b, int64_t rows, int64_t cols) override {
#pragma omp parallel for schedule(static) if (rows * cols >= kParallelMin)
    for (int64_t r = 0; r < rows; ++r) {
      T *yr = y + r * cols;
#pragma omp simd
      for (int64_t c = 0; c < cols; ++c)
        yr[c] += b[c];
    }
  }

  void sumRows(const T *dy, int64_t rows, int64_t cols, T *db) override {
    reduceRows<T>(rows, cols, db,
                  [&](int64_t r, int64_t c0, int64_t c1, T *acc) {
                    const T *row = dy + r * cols;
#pragma omp simd
                    for (int64_t c = c0; c < c1; ++c)
                      acc[c - c0] += row[c];
                  });
  }

  void axpy(int64_t n, T alpha, const T *x, T *y) override {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin * 4)
    for (int64_t i = 0; i < n; ++i)
      y[i] += alpha * x[i];
  }
  void scale(T *x, int64_t n, T alpha) override {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin * 4)
    for (int64_t i = 0; i < n; ++i)
      x[i] *= alpha;
  }
  double sumSquares(const T *x, int64_t n) override {
    // Fixed blocks summed in order: independent of the thread count.
    const int64_t bs = 1 << 14;
    int64_t nb = (n + bs - 1) / bs;
    std::vector<double> part(size_t(nb), 0.0);
#pragma omp parallel for schedule(static) if (n >= kParallelMin * 4)
    for (int64_t b = 0; b < nb; ++b) {
      int64_t i0 = b * bs, i1 = std::min(n, i0 + bs);
      double s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t i = i0; i < i1; ++i)
        s += double(x[i]) * double(x[i]);
      part[size_t(b)] = s;
    }
    double s = 0;
    for (double p : part)
      s += p;
    return s;
  }

  void embeddingFwd(const int32_t *tokens, const int32_t *positions,
                    int64_t rows, int64_t d, const T *wte, const T *wpe,
                    T *x) override {
#pragma omp parallel for schedule(static) if (rows * d >= kParallelMin)
    for (int64_t r = 0; r < rows; ++r) {
      const T *e = wte + int64_t(tokens[r]) * d;
      T *o = x + r * d;
      if (wpe) {
        const T *p = wpe + int64_t(positions[r]) * d;
#pragma omp simd
        for (int64_t c = 0; c < d; ++c)
          o[c] = e[c] + p[c];
      } else {
        std::memcpy(o, e, size_t(d) * sizeof(T));
      }
    }
  }

  void embeddingBwd(const int32_t *tokens, const int32_t *positions,
                    int64_t rows, int64_t d, const T *dx, T *dwte,
                    T *dwpe) override {
    const int64_t cb = 64;
    int64_t nb = (d + cb - 1) / cb;
#pragma omp parallel for schedule(static) if (rows * d >= kParallelMin)
    for (int64_t b = 0; b < nb; ++b) {
      int64_t c0 = b * cb, c1 = std::min(d, c0 + cb);
      for (int64_t r = 0; r < rows; ++r) {
        const T *g = dx + r * d;
        T *e = dwte + int64_t(tokens[r]) * d;
#pragma omp simd
        for (int64_t c = c0; c < c1; ++c)
          e[c] += g[c];
        if (dwpe) {
          T *p = dwpe + int64_t(positions[r]) * d;
#pragma omp simd
          for (int64_t c = c0; c < c1; ++c)
            p[c] += g[c];
        }
      }
    }
  }

  void layerNormFwd(const T *x, const T *gamma, const T *beta, int64_t rows,
                    int64_t cols, double eps, T *y, T *mean, T *rstd) override {
#pragma omp parallel for schedule(static) if (rows * cols >= kParallelMin)
    for (int64_t r = 0; r < rows; ++r) {
      const T *xr = x + r * cols;
      T s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t c = 0; c < cols; ++c)
        s += xr[c];
      T mu = s / T(cols);
      T v = 0;
#pragma omp simd reduction(+ : v)
      for (int64_t c = 0; c < cols; ++c)
        v += (xr[c] - mu) * (xr[c] - mu);
      T rs = T(1) / std::sqrt(v / T(cols) + T(eps));
      T *yr = y + r * cols;
#pragma omp simd
      for (int64_t c = 0; c < cols; ++c)
        yr[c] = (xr[c] - mu) * rs * gamma[c] + beta[c];
      if (mean)
        mean[r] = mu;
      if (rstd)
        rstd[r] = rs;
    }
  }

  void layerNormBwd(const T *dy, const T *x, const T *gamma, const T *mean,
                    const T *rstd, int64_t rows, int64_t cols, T *dx, T *dgamma,
                    T *dbeta) override {
#pragma omp parallel for schedule(static) if (rows * cols >= kParallelMin)
    for (int64_t r = 0; r < rows; ++r) {
      const T *xr = x + r * cols, *g = dy + r * cols;
      T mu = mean[r], rs = rstd[r];
      T a = 0, b = 0; // mean(dxhat), mean(dxhat * xhat)
#pragma omp simd reduction(+ : a, b)
      for (int64_t c = 0; c < cols; ++c) {
        T dxh = g[c] * gamma[c];
        a += dxh;
        b += dxh * (xr[c] - mu) * rs;
      }
      a /= T(cols);
      b /= T(cols);
      T *o = dx + r * cols;
#pragma omp simd
      for (int64_t c = 0; c < cols; ++c) {
        T xh = (xr[c] - mu) * rs;
        o[c] += rs * (g[c] * gamma[c] - a - xh * b);
      }
    }
    reduceRows<T>(rows, cols, dgamma,
                  [&](int64_t r, int64_t c0, int64_t c1, T *acc) {
                    const T *xr = x + r * cols, *g = dy + r * cols;
                    T mu = mean[r], rs = rstd[r];
#pragma omp simd
                    for (int64_t c = c0; c < c1; ++c)
                      acc[c - c0] += g[c] * (xr[c] - mu) * rs;
                  });
    if (dbeta)
      sumRows(dy, rows, cols, dbeta);
  }

  void rmsNormFwd(const T *x, const T *gamma, int64_t rows, int64_t cols,
                  double eps, T *y, T *rstd) override {
#pragma omp parallel for schedule(static) if (rows * cols >= kParallelMin)
    for (int64_t r = 0; r < rows; ++r) {
      const T *xr = x + r * cols;
      T s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t c = 0; c < cols; ++c)
        s += xr[c] * xr[c];
      T rs = T(1) / std::sqrt(s / T(cols) + T(eps));
      T *yr = y + r * cols;
#pragma omp simd
      for (int64_t c = 0; c < cols; ++c)
        yr[c] = xr[c] * rs * gamma[c];
      if (rstd)
        rstd[r] = rs;
    }
  }

  void rmsNormBwd(const T *dy, const T *x, const T *gamma, const T *rstd,
                  int64_t rows, int64_t cols, T *dx, T *dgamma) override {
#pragma omp parallel for schedule(static) if (rows * cols >= kParallelMin)
    for (int64_t r = 0; r < rows; ++r) {
      const T *xr = x + r * cols, *g = dy + r * cols;
      T rs = rstd[r];
      T b = 0;
#pragma omp simd reduction(+ : b)
      for (int64_t c = 0; c < cols; ++c)
        b += g[c] * gamma[c] * xr[c];
      b *= rs * rs / T(cols);
      T *o = dx + r * cols;
#pragma omp simd
      for (int64_t c = 0; c < cols; ++c)
        o[c] += rs * (g[c] * gamma[c] - xr[c] * b);
    }
    reduceRows<T>(rows, cols, dgamma,
                  [&](int64_t r, int64_t c0, int64_t c1, T *acc) {
                    const T *xr = x + r * cols, *g = dy + r * cols;
                    T rs = rstd[r];
#pragma omp simd
                    for (int64_t c = c0; c < c1; ++c)
                      acc[c - c0] += g[c] * xr[c] * rs;
                  });
  }

  // Per-head RMSNorm (Qwen3's q/k norms) over strided rows in one parallel
  // loop each way; the base class's row-by-row default costs a parallel
  // region per row.
  void headRmsNormFwd(const T *x, const T *gamma, int64_t rows, int64_t ld,
                      int64_t nHeads, int64_t hd, double eps, T *y,
                      T *rstd) override {
#pragma omp parallel for schedule(static) if (rows * nHeads * hd >= kParallelMin)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t h = 0; h < nHeads; ++h) {
        const T *xr = x + r * ld + h * hd;
        T s = 0;
#pragma omp simd reduction(+ : s)
        for (int64_t c = 0; c < hd; ++c)
          s += xr[c] * xr[c];
        T rs = T(1) / std::sqrt(s / T(hd) + T(eps));
        T *yr = y + r * ld + h * hd;
#pragma omp simd
        for (int64_t c = 0; c < hd; ++c)
          yr[c] = xr[c] * rs * gamma[c];
        if (rstd)
          rstd[r * nHeads + h] = rs;
      }
  }

  void headRmsNormBwd(const T *dy, const T *x, const T *gamma, const T *rstd,
                      int64_t rows, int64_t ld, int64_t nHeads, int64_t hd,
                      T *dx, T *dgamma) override {
#pragma omp parallel for schedule(static) if (rows * nHeads * hd >= kParallelMin)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t h = 0; h < nHeads; ++h) {
        const T *xr = x + r * ld + h * hd, *g = dy + r * ld + h * hd;
        T rs = rstd[r * nHeads + h];
        T b = 0;
#pragma omp simd reduction(+ : b)
        for (int64_t c = 0; c < hd; ++c)
          b += g[c] * gamma[c] * xr[c];
        b *= rs * rs / T(hd);
        T *o = dx + r * ld + h * hd;
#pragma omp simd
        for (int64_t c = 0; c < hd; ++c)
          o[c] = rs * (g[c] * gamma[c] - xr[c] * b);
      }
    reduceRows<T>(rows, hd, dgamma,
                  [&](int64_t r, int64_t c0, int64_t c1, T *acc) {
                    for (int64_t h = 0; h < nHeads; ++h) {
                      const T *xr = x + r * ld + h * hd;
                      const T *g = dy + r * ld + h * hd;
                      T rs = rstd[r * nHeads + h];
#pragma omp simd
                      for (int64_t c = c0; c < c1; ++c)
                        acc[c - c0] += g[c] * xr[c] * rs;
                    }
                  });
  }

  static constexpr double kGeluK = 0.7978845608028654; // sqrt(2/pi)

  void geluFwd(const T *x, T *y, int64_t n) override {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
    for (int64_t i = 0; i < n; ++i) {
      T v = x[i];
      T t = vtanh<T>(T(kGeluK) * (v + T(0.044715) * v * v * v));
      y[i] = T(0.5) * v * (T(1) + t);
    }
  }
  void geluBwd(const T *x, const T *dy, T *dx, int64_t n) override {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
    for (int64_t i = 0; i < n; ++i) {
      T v = x[i];
      T t = vtanh<T>(T(kGeluK) * (v + T(0.044715) * v * v * v));
      T dt = T(kGeluK) * (T(1) + T(3 * 0.044715) * v * v);
      dx[i] = dy[i] * (T(0.5) * (T(1) + t) + T(0.5) * v * (T(1) - t * t) * dt);
    }
  }

  void swigluFwd(const T *gu, int64_t rows, int64_t ff, T *y) override {
#pragma omp parallel for schedule(static) if (rows * ff >= kParallelMin)
    for (int64_t r = 0; r < rows; ++r) {
      const T *g = gu + r * 2 * ff, *u = g + ff;
      T *o = y + r * ff;
#pragma omp simd
      for (int64_t c = 0; c < ff; ++c)
        o[c] = g[c] * vsigmoid<T>(g[c]) * u[c];
    }
  }
  void swigluBwd(const T *gu, const T *dy, int64_t rows, int64_t ff,
                 T *dgu) override {
#pragma omp parallel for schedule(static) if (rows * ff >= kParallelMin)
    for (int64_t r = 0; r < rows; ++r) {
      const T *g = gu + r * 2 * ff, *u = g + ff, *d = dy + r * ff;
      T *dg = dgu + r * 2 * ff, *du = dg + ff;
#pragma omp simd
      for (int64_t c = 0; c < ff; ++c) {
        T s = vsigmoid<T>(g[c]);
        T silu = g[c] * s;
        T dgc = d[c] * u[c] * s * (T(1) + g[c] * (T(1) - s));
        du[c] = d[c] * silu;
        dg[c] = dgc;
      }
    }
  }

  // cos/sin tables per (theta, head dim), grown to the largest position seen;
  // computed in double so every call (and every thread count) sees the same
  // values.
  std::vector<T> ropeCos_, ropeSin_;
  RopeSpec ropeSpec_{0.0};
  int64_t ropeHd_ = 0, ropePositions_ = 0;

  void ensureRopeTable(const RopeSpec &theta, int64_t hd, int64_t positions) {
    if (theta == ropeSpec_ && hd == ropeHd_ && positions <= ropePositions_)
      return;
    int64_t half = hd / 2, n = std::max<int64_t>(positions, 256);
    if (theta == ropeSpec_ && hd == ropeHd_)
      n = std::max(n, 2 * ropePositions_);
    ropeCos_.assign(size_t(n * half), T(0));
    ropeSin_.assign(size_t(n * half), T(0));
    for (int64_t i = 0; i < half; ++i) {
      double invFreq = theta.invFreq(i, hd);
      for (int64_t p = 0; p < n; ++p) {
        double a = double(p) * invFreq;
        ropeCos_[size_t(p * half + i)] = T(std::cos(a));
        ropeSin_[size_t(p * half + i)] = T(std::sin(a));
      }
    }
    ropeSpec_ = theta;
    ropeHd_ = hd;
    ropePositions_ = n;
  }

  void rope(T *x, int64_t rows, int64_t ld, int64_t nRotHeads, int64_t hd,
            const int32_t *positions, const RopeSpec &theta,
            bool inverse) override {
    int64_t half = hd / 2, maxPos = 0;
    for (int64_t r = 0; r < rows; ++r)
      maxPos = std::max<int64_t>(maxPos, positions[r]);
    ensureRopeTable(theta, hd, maxPos + 1);
    const T sgn = inverse ? T(-1) : T(1);
#pragma omp parallel for schedule(static) if (rows * ld >= kParallelMin)
    for (int64_t r = 0; r < rows; ++r) {
      const T *cs = ropeCos_.data() + int64_t(positions[r]) * half;
      const T *sn = ropeSin_.data() + int64_t(positions[r]) * half;
      for (int64_t h = 0; h < nRotHeads; ++h) {
        T *v = x + r * ld + h * hd;
#pragma omp simd
        for (int64_t i = 0; i < half; ++i) {
          T a = v[i], b = v[i + half], si = sgn * sn[i];
          v[i] = a * cs[i] - b * si;
          v[i + half] = b * cs[i] + a * si;
        }
      }
    }
  }

  /// Softmax of row `s` over its first `n` entries (in place), rest zeroed.
  static void causalSoftmaxRow(T *s, int64_t n, int64_t total) {
    T m = s[0];
    for (int64_t j = 1; j < n; ++j)
      m = std::max(m, s[j]);
    T sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < n; ++j) {
      T e = vexp<T>(s[j] - m);
      s[j] = e;
      sum += e;
    }
    T inv = T(1) / sum;
#pragma omp simd
    for (int64_t j = 0; j < n; ++j)
      s[j] *= inv;
    for (int64_t j = n; j < total; ++j)
      s[j] = 0;
  }

  // Parallel over (sequence, KV group): heads sharing K/V stay on one thread,
  // so the K/V gradient sums run in a fixed order. Each task is computed the
  // same way whichever thread runs it, so the threshold (on the total work
  // of all tasks: short sequences in large batches, e.g. GRPO's rollouts,
  // are worth the threads too) does not change results.
  void attentionFwd(const T *qkv, const AttentionShape &s, T *probs,
                    T *out) override {
    const int64_t Tn = s.seqLen, hd = s.headDim, ld = s.qkvStride();
    const int64_t group = s.nHeads / s.nKvHeads, ldo = s.nHeads * hd;
    const T scale = T(1) / std::sqrt(T(hd));
    const int64_t tasks = s.batch * s.nKvHeads;
    const bool par = tasks > 1 && tasks * Tn * Tn * hd >= kParallelMin;
#pragma omp parallel for schedule(static) if (par)
    for (int64_t task = 0; task < tasks; ++task) {
      int64_t b = task / s.nKvHeads, kvh = task % s.nKvHeads;
      // A packed batch's sequence b is rows r0 .. r0+n-1 (Kernels.h); its
      // probabilities fill the n x n corner of its padded slot.
      const int64_t r0 = s.firstRow(b), n = s.lenOf(b);
      if (n <= 0)
        continue;
      for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h) {
        const T *Q = qkv + r0 * ld + h * hd;
        const T *K = qkv + r0 * ld + (s.nHeads + kvh) * hd;
        const T *V = qkv + r0 * ld + (s.nHeads + s.nKvHeads + kvh) * hd;
        T *P = probs + (b * s.nHeads + h) * Tn * Tn;
        blasGemm(false, true, n, n, hd, scale, Q, ld, K, ld, T(0), P, Tn);
        for (int64_t i = 0; i < n; ++i)
          causalSoftmaxRow(P + i * Tn, i + 1, n);
        blasGemm(false, false, n, hd, n, T(1), P, Tn, V, ld, T(0),
                 out + r0 * ldo + h * hd, ldo);
      }
    }
  }

  void attentionBwd(const T *qkv, const T *probs, const T *dout,
                    const AttentionShape &s, T *dqkv) override {
    const int64_t Tn = s.seqLen, hd = s.headDim, ld = s.qkvStride();
    const int64_t group = s.nHeads / s.nKvHeads, ldo = s.nHeads * hd;
    const T scale = T(1) / std::sqrt(T(hd));
    const int64_t tasks = s.batch * s.nKvHeads;
    prepareThreadScratch(Tn * Tn);
    const bool par = tasks > 1 && tasks * Tn * Tn * hd >= kParallelMin;
#pragma omp parallel if (par)
    {
      T *dP = threadScratch();
#pragma omp for schedule(static)
      for (int64_t task = 0; task < tasks; ++task) {
        int64_t b = task / s.nKvHeads, kvh = task % s.nKvHeads;
        const int64_t r0 = s.firstRow(b), len = s.lenOf(b);
        if (len <= 0)
          continue;
        for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h) {
          int64_t base = r0 * ld;
          const T *Q = qkv + base + h * hd;
          const T *K = qkv + base + (s.nHeads + kvh) * hd;
          const T *V = qkv + base + (s.nHeads + s.nKvHeads + kvh) * hd;
          T *dQ = dqkv + base + h * hd;
          T *dK = dqkv + base + (s.nHeads + kvh) * hd;
          T *dV = dqkv + base + (s.nHeads + s.nKvHeads + kvh) * hd;
          const T *P = probs + (b * s.nHeads + h) * Tn * Tn;
          const T *dO = dout + r0 * ldo + h * hd;
          blasGemm(false, true, len, len, hd, T(1), dO, ldo, V, ld, T(0), dP,
                   Tn);
          // The group's first head writes dK/dV, later heads accumulate.
          const T beta = h == kvh * group ? T(0) : T(1);
          blasGemm(true, false, len, hd, len, T(1), P, Tn, dO, ldo, beta, dV,
                   ld);
          for (int64_t i = 0; i < len; ++i) {
            const T *p = P + i * Tn;
            T *d = dP + i * Tn;
            int64_t n = i + 1;
            T acc = 0;
#pragma omp simd reduction(+ : acc)
            for (int64_t j = 0; j < n; ++j)
              acc += p[j] * d[j];
#pragma omp simd
            for (int64_t j = 0; j < n; ++j)
              d[j] = p[j] * (d[j] - acc);
            for (int64_t j = n; j < len; ++j)
              d[j] = 0;
          }
          blasGemm(false, false, len, hd, len, scale, dP, Tn, K, ld, T(0), dQ,
                   ld);
          blasGemm(true, false, len, hd, len, scale, dP, Tn, Q, ld, beta, dK,
                   ld);
        }
      }
    }
  }

  // Cache layout and summation order: see DecodeQueries. Parallel over
  // (run of rows, KV head); the queries that read the same K/V (the heads
  // of a KV group, and with sharedLen the samples of one prompt over the
  // prompt) are served by one read of it.
  void attentionCached(const T *qkv, int64_t batch, int64_t newLen, int64_t nH,
                       int64_t nKv, int64_t hd, const int32_t *start,
                       int64_t cacheLen, T *kCache, T *vCache,
                       T *out) override {
    attentionCachedShared(qkv, batch, newLen, nH, nKv, hd, start, nullptr,
                          cacheLen, kCache, vCache, out);
  }

  void attentionCachedShared(const T *qkv, int64_t batch, int64_t newLen,
                             int64_t nH, int64_t nKv, int64_t hd,
                             const int32_t *start, const int32_t *sharedLen,
                             int64_t cacheLen, T *kCache, T *vCache,
                             T *out) override {
    const int64_t ld = (nH + 2 * nKv) * hd, ldo = nH * hd, group = nH / nKv;
    const T scale = T(1) / std::sqrt(T(hd));
    // Runs of rows that share a prefix (decoding only), at most kMaxQueries
    // queries per run so that the score rows of a sweep stay in L1.
    std::vector<int64_t> &runs = runStarts_;
    runs.clear();
    std::vector<int64_t> &shared = runShared_;
    shared.clear();
    const int64_t maxRows =
        std::max<int64_t>(1, DecodeQueries<T>::kMaxQueries / group);
    for (int64_t b = 0; b < batch;) {
      int64_t e = b + 1, s = start[b];
      if (sharedLen && newLen == 1)
        while (e < batch && e - b < maxRows && sharedLen[e] > 0) {
          s = std::min<int64_t>({s, sharedLen[e], start[e]});
          ++e;
        }
      runs.push_back(b);
      shared.push_back(e - b > 1 ? s : 0);
      b = e;
    }
    runs.push_back(batch);
    const int64_t nRuns = int64_t(shared.size());
    int64_t maxN = 0, maxRun = 1;
    for (int64_t b = 0; b < batch; ++b)
      maxN = std::max<int64_t>(maxN, start[b] + newLen);
    for (int64_t r = 0; r < nRuns; ++r)
      maxRun = std::max(maxRun, runs[size_t(r + 1)] - runs[size_t(r)]);
    const int64_t maxQ = maxRun * group;
    prepareThreadScratch(maxQ * (maxN + hd + 1));
    const int64_t tasks = nRuns * nKv;
    int64_t work = batch * nKv * group * newLen * maxN * hd;
#pragma omp parallel if (work >= kParallelMin && tasks > 1)
    {
      T *sc = threadScratch();
      T *acc = sc + maxQ * maxN;
#pragma omp for schedule(dynamic, 1)
      for (int64_t task = 0; task < tasks; ++task) {
        const int64_t run = task / nKv, g = task % nKv;
        const int64_t b0 = runs[size_t(run)], b1 = runs[size_t(run + 1)];
        auto Kt = [&](int64_t b) {
          return kCache + (b * nKv + g) * hd * cacheLen;
        };
        auto Vc = [&](int64_t b) {
          return vCache + (b * nKv + g) * cacheLen * hd;
        };
        auto store = [&](int64_t b, int64_t i) {
          const int64_t p = start[b] + i;
          const T *row = qkv + (b * newLen + i) * ld;
          const int64_t t = p / kKTile, w = kTileWidth(t, cacheLen);
          T *kt = Kt(b) + t * kKTile * hd + p % kKTile;
          for (int64_t d = 0; d < hd; ++d)
            kt[d * w] = row[(nH + g) * hd + d];
          std::memcpy(Vc(b) + p * hd, row + (nH + nKv + g) * hd,
                      size_t(hd) * sizeof(T));
        };
        if (newLen == 1) {
          // The new position is scored from the qkv row and stored last:
          // by then its K cache lines are mostly in cache (stored first,
          // 64 scattered cache misses would stall every task).
          DecodeQueries<T> dq{qkv + b0 * ld + g * group * hd,
                              ld,
                              out + b0 * ldo + g * group * hd,
                              ldo,
                              group,
                              (b1 - b0) * group,
                              hd,
                              maxN,
                              scale,
                              sc,
                              acc};
          const int64_t s = shared[size_t(run)];
          dq.scores(0, dq.nq, Kt(b0), cacheLen, 0, s);
          for (int64_t b = b0; b < b1; ++b) {
            const int64_t i0 = (b - b0) * group, p = start[b];
            dq.scores(i0, group, Kt(b), cacheLen, s, p);
            dq.scoreNew(i0, group, qkv + b * ld + (nH + g) * hd, p);
            dq.softmax(i0, group, p + 1);
          }
          dq.values(0, dq.nq, Vc(b0), 0, s, true);
          for (int64_t b = b0; b < b1; ++b) {
            const int64_t i0 = (b - b0) * group, p = start[b];
            dq.values(i0, group, Vc(b), s, p, false);
            dq.valueNew(i0, group, qkv + b * ld + (nH + nKv + g) * hd, p);
          }
          dq.finish();
          for (int64_t b = b0; b < b1; ++b)
            store(b, 0);
          continue;
        }
        for (int64_t i = 0; i < newLen; ++i)
          store(b0, i);
        for (int64_t i = 0; i < newLen; ++i) {
          const int64_t n = start[b0] + i + 1;
          DecodeQueries<T> dq{qkv + (b0 * newLen + i) * ld + g * group * hd,
                              ld,
                              out + (b0 * newLen + i) * ldo + g * group * hd,
                              ldo,
                              group,
                              group,
                              hd,
                              maxN,
                              scale,
                              sc,
                              acc};
          dq.scores(0, group, Kt(b0), cacheLen, 0, n);
          dq.softmax(0, group, n);
          dq.values(0, group, Vc(b0), 0, n, true);
          dq.finish();
        }
      }
    }
  }

  std::vector<int64_t> runStarts_, runShared_;

  void linearRows(const T *x, int64_t rows, int64_t in, int64_t out, const T *W,
                  bool transW, const T *b, const T *residual, bool gelu,
                  T *y) override {
    if constexpr (std::is_same<T, float>::value) {
      if (!transW && rows <= kLinMaxRows && out % 16 == 0 && in > 0 &&
          rows > 0) {
        linearRowsF(x, rows, in, out, W, b, residual, gelu, y);
        return;
      }
    }
    Kernels<T>::linearRows(x, rows, in, out, W, transW, b, residual, gelu, y);
  }

  static constexpr int64_t kLinMaxRows = 256;
  void linearRowsF(const float *x, int64_t m, int64_t k, int64_t n,
                   const float *W, const float *b, const float *res, bool gelu,
                   float *y) {
    const int64_t panels = (n + 63) / 64;
    prepareThreadScratch(kLinKc * 64 + m * 64);
    const bool par = 2.0 * double(m) * double(n) * double(k) >= 2e6;
#pragma omp parallel if (par && panels > 1)
    {
      float *pack = reinterpret_cast<float *>(threadScratch());
      float *part = pack + kLinKc * 64;
#pragma omp for schedule(dynamic, 1)
      for (int64_t jb = 0; jb < panels; ++jb) {
        const int64_t j0 = jb * 64, w = std::min<int64_t>(64, n - j0);
        for (int64_t k0 = 0; k0 < k; k0 += kLinKc) {
          const int64_t kc = std::min(kLinKc, k - k0);
          const float *a = x + k0, *bp = W + k0 * n + j0;
          switch (w / 16) {
          case 4:
            linearPanel<4>(m, kc, a, k, bp, n, part, k0 == 0, pack);
            break;
          case 3:
            linearPanel<3>(m, kc, a, k, bp, n, part, k0 == 0, pack);
            break;
          case 2:
            linearPanel<2>(m, kc, a, k, bp, n, part, k0 == 0, pack);
            break;
          default:
            linearPanel<1>(m, kc, a, k, bp, n, part, k0 == 0, pack);
            break;
          }
        }
        // As the separate kernels round: (residual + b) + xW, then GELU.
        for (int64_t r = 0; r < m; ++r) {
          const float *pr = part + r * 64;
          float *yr = y + r * n + j0;
          const float *rr = res ? res + r * n + j0 : nullptr;
          const float *br = b ? b + j0 : nullptr;
          if (rr && br) {
#pragma omp simd
            for (int64_t j = 0; j < w; ++j)
              yr[j] = (rr[j] + br[j]) + pr[j];
          } else if (rr || br) {
            const float *cr = rr ? rr : br;
#pragma omp simd
            for (int64_t j = 0; j < w; ++j)
              yr[j] = cr[j] + pr[j];
          } else {
#pragma omp simd
            for (int64_t j = 0; j < w; ++j)
              yr[j] = pr[j];
          }
          if (gelu) {
#pragma omp simd
            for (int64_t j = 0; j < w; ++j) { // geluFwd's formula
              const float v = yr[j];
              const float t =
                  vtanh<float>(float(kGeluK) * (v + 0.044715f * v * v * v));
              yr[j] = 0.5f * v * (1.0f + t);
            }
          }
        }
      }
    }
  }

  /// Vocabulary chunk: rows x chunk logits stay within ~8 MB.
  static int64_t vocabChunk(int64_t rows, int64_t vocab) {
    int64_t c = (int64_t(2) << 20) / std::max<int64_t>(rows, 1);
    c = std::max<int64_t>(256, std::min<int64_t>(c, 4096));
    c = c / 16 * 16;
    return std::min(c, vocab);
  }
  static constexpr int64_t kRowBlock = 1024;

  void lmHeadFwd(const T *hidden, const T *W, const int32_t *targets,
                 const LmHeadShape &s, T *logprob, T *entropy,
                 T *lse) override {
    lmHeadFwdImpl(hidden, W, targets, s, logprob, entropy, lse);
  }
  void lmHeadFwdBf16(const T *hidden, const uint16_t *W, const int32_t *targets,
                     const LmHeadShape &s, T *logprob, T *entropy,
                     T *lse) override {
    if constexpr (std::is_same<T, float>::value)
      lmHeadFwdImpl(hidden, W, targets, s, logprob, entropy, lse);
    else
      Kernels<T>::lmHeadFwdBf16(hidden, W, targets, s, logprob, entropy, lse);
  }
  void logitsBf16(const T *hidden, const uint16_t *W, const LmHeadShape &s,
                  T *out) override {
    if constexpr (std::is_same<T, float>::value)
      weightGemm(false, true, s.rows, s.vocab, s.dModel, T(s.invTemperature),
                 hidden, s.dModel, W, s.dModel, T(0), out, s.vocab);
    else
      Kernels<T>::logitsBf16(hidden, W, s, out);
  }
  void gemmBf16B(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha,
                 const T *A, int64_t lda, const uint16_t *B, int64_t ldb,
                 T beta, T *C, int64_t ldc) override {
    if constexpr (std::is_same<T, float>::value)
      weightGemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
    else
      Kernels<T>::gemmBf16B(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C,
                            ldc);
  }
  void widenBf16(const uint16_t *src, T *dst, int64_t n) override {
    if constexpr (std::is_same<T, float>::value)
      cpu::widenBf16(src, dst, n);
    else
      for (int64_t i = 0; i < n; ++i)
        dst[i] = T(bf16ToFloat(src[i]));
  }
  void embeddingFwdBf16(const int32_t *tokens, const int32_t *positions,
                        int64_t rows, int64_t d, const uint16_t *wte,
                        int64_t vocab, const uint16_t *wpe, int64_t maxPos,
                        T *x) override {
    (void)vocab;
    (void)maxPos;
#pragma omp parallel for schedule(static) if (rows * d >= kParallelMin)
    for (int64_t r = 0; r < rows; ++r) {
      const uint16_t *e = wte + int64_t(tokens[r]) * d;
      const uint16_t *p = wpe ? wpe + int64_t(positions[r]) * d : nullptr;
      T *o = x + r * d;
      for (int64_t c = 0; c < d; ++c)
        o[c] =
            p ? T(bf16ToFloat(e[c]) + bf16ToFloat(p[c])) : T(bf16ToFloat(e[c]));
    }
  }

  template <typename WT>
  void lmHeadFwdImpl(const T *hidden, const WT *W, const int32_t *targets,
                     const LmHeadShape &s, T *logprob, T *entropy, T *lse) {
    const int64_t D = s.dModel, V = s.vocab;
    const T invT = T(s.invTemperature);
    for (int64_t r0 = 0; r0 < s.rows; r0 += kRowBlock) {
      int64_t R = std::min(kRowBlock, s.rows - r0);
      int64_t C = vocabChunk(R, V);
      T *z = scratch(R * C);
      // Running max, sum exp(z - m), sum exp(z - m) * z, target logit.
      std::vector<T> m(size_t(R), -INFINITY), se(size_t(R), 0),
          sz(size_t(R), 0), zt(size_t(R), 0);
      for (int64_t v0 = 0; v0 < V; v0 += C) {
        int64_t c = std::min(C, V - v0);
        weightGemm(false, true, R, c, D, invT, hidden + r0 * D, D, W + v0 * D,
                   D, T(0), z, c);
#pragma omp parallel for schedule(static) if (R * c >= kParallelMin)
        for (int64_t r = 0; r < R; ++r) {
          const T *zr = z + r * c;
          T mc = zr[0];
          for (int64_t j = 1; j < c; ++j)
            mc = std::max(mc, zr[j]);
          T mOld = m[size_t(r)], mNew = std::max(mOld, mc);
          T a = 0, b = 0;
#pragma omp simd reduction(+ : a, b)
          for (int64_t j = 0; j < c; ++j) {
            T e = vexp<T>(zr[j] - mNew);
            a += e;
            b += e * zr[j];
          }
          T f = mOld == -INFINITY ? T(0) : vexp<T>(mOld - mNew);
          se[size_t(r)] = se[size_t(r)] * f + a;
          sz[size_t(r)] = sz[size_t(r)] * f + b;
          m[size_t(r)] = mNew;
          int32_t t = targets[r0 + r];
          if (t >= v0 && t < v0 + c)
            zt[size_t(r)] = zr[t - v0];
        }
      }
      for (int64_t r = 0; r < R; ++r) {
        T l = m[size_t(r)] + std::log(se[size_t(r)]);
        bool valid = targets[r0 + r] >= 0;
        lse[r0 + r] = l;
        logprob[r0 + r] = valid ? zt[size_t(r)] - l : T(0);
        if (entropy)
          entropy[r0 + r] = valid ? l - sz[size_t(r)] / se[size_t(r)] : T(0);
      }
    }
  }

  void lmHeadBwd(const T *hidden, const T *W, const int32_t *targets,
                 const LmHeadShape &s, const T *lse, const T *entropy,
                 const T *dlogprob, const T *dentropy, T *dhidden,
                 T *dW) override {
    const int64_t D = s.dModel, V = s.vocab;
    const T invT = T(s.invTemperature);
    for (int64_t r0 = 0; r0 < s.rows; r0 += kRowBlock) {
      int64_t R = std::min(kRowBlock, s.rows - r0);
      int64_t C = vocabChunk(R, V);
      T *z = scratch(R * C);
      for (int64_t v0 = 0; v0 < V; v0 += C) {
        int64_t c = std::min(C, V - v0);
        parGemm(false, true, R, c, D, invT, hidden + r0 * D, D, W + v0 * D, D,
                T(0), z, c);
#pragma omp parallel for schedule(static) if (R * c >= kParallelMin)
        for (int64_t r = 0; r < R; ++r) {
          T *zr = z + r * c;
          int32_t t = targets[r0 + r];
          if (t < 0) {
            std::memset(zr, 0, size_t(c) * sizeof(T));
            continue;
          }
          T gl = dlogprob ? dlogprob[r0 + r] : T(0);
          T ge = dentropy ? dentropy[r0 + r] : T(0);
          T l = lse[r0 + r], H = entropy ? entropy[r0 + r] : T(0);
          // dz_j = gl (1[j=t] - p_j) - ge p_j (log p_j + H), times invT.
#pragma omp simd
          for (int64_t j = 0; j < c; ++j) {
            T lp = zr[j] - l;
            T p = vexp<T>(lp);
            zr[j] = invT * (-gl * p - ge * p * (lp + H));
          }
          if (t >= v0 && t < v0 + c)
            zr[t - v0] += invT * gl;
        }
        parGemm(false, false, R, D, c, T(1), z, c, W + v0 * D, D, T(1),
                dhidden + r0 * D, D);
        if (dW) // null: a frozen head (LoRA base)
          parGemm(true, false, c, D, R, T(1), z, c, hidden + r0 * D, D, T(1),
                  dW + v0 * D, D);
      }
    }
  }

  void logits(const T *hidden, const T *W, const LmHeadShape &s,
              T *out) override {
    parGemm(false, true, s.rows, s.vocab, s.dModel, T(s.invTemperature), hidden,
            s.dModel, W, s.dModel, T(0), out, s.vocab);
  }

  void sample(const T *logits, int64_t rows, int64_t V, const SamplerParams &sp,
              const uint32_t *sampleId, const uint32_t *drawIndex,
              const uint8_t *active, int32_t *tokens, T *logprob) override {
#pragma omp parallel if (rows * V >= kParallelMin)
    {
      std::vector<T> ebuf(static_cast<size_t>(V));
      std::vector<int32_t> idx;
#pragma omp for schedule(static)
      for (int64_t r = 0; r < rows; ++r) {
        if (!active[r])
          continue;
        const T *z = logits + r * V;
        T *e = ebuf.data();
        T m = z[0];
#pragma omp simd reduction(max : m)
        for (int64_t j = 0; j < V; ++j)
          m = std::max(m, z[j]);
        double se = 0;
#pragma omp simd reduction(+ : se)
        for (int64_t j = 0; j < V; ++j) {
          e[j] = vexp<T>(z[j] - m);
          se += double(e[j]);
        }
        int64_t tok = 0;
        if (sp.greedy) {
          while (z[tok] != m)
            ++tok;
        } else {
          PhiloxCounter b =
              philox4x32({drawIndex[r], sampleId[r], sp.step, sp.rank},
                         {uint32_t(sp.seed), uint32_t(sp.seed >> 32)});
          double u = uniformDouble(b[0], b[1]);
          bool truncK = sp.topK > 0 && sp.topK < V, truncP = sp.topP < 1.0;
          if (!truncK && !truncP) {
            double target = u * se, acc = 0;
            tok = -1;
            for (int64_t j = 0; j < V; ++j) {
              acc += double(e[j]);
              if (acc > target) {
                tok = j;
                break;
              }
            }
            if (tok < 0) // rounding: u*se above the running sum
              for (tok = V - 1; tok > 0 && e[tok] == T(0); --tok)
                ;
          } else {
            idx.resize(size_t(V));
            std::iota(idx.begin(), idx.end(), 0);
            auto better = [&](int32_t a, int32_t b) {
              return z[a] > z[b] || (z[a] == z[b] && a < b);
            };
            int64_t keep = truncK ? sp.topK : V;
            if (truncK)
              std::partial_sort(idx.begin(), idx.begin() + keep, idx.end(),
                                better);
            else
              std::sort(idx.begin(), idx.end(), better);
            if (truncP) {
              double mass = 0;
              for (int64_t i = 0; i < keep; ++i)
                mass += double(e[idx[size_t(i)]]);
              double acc = 0;
              int64_t n = 0;
              while (n < keep) {
                acc += double(e[idx[size_t(n)]]);
                ++n;
                if (acc >= sp.topP * mass)
                  break;
              }
              keep = std::max<int64_t>(n, 1);
            }
            std::sort(idx.begin(), idx.begin() + keep);
            double total = 0;
            for (int64_t i = 0; i < keep; ++i)
              total += double(e[idx[size_t(i)]]);
            double target = u * total, acc = 0;
            tok = idx[size_t(keep - 1)];
            for (int64_t i = 0; i < keep; ++i) {
              acc += double(e[idx[size_t(i)]]);
              if (acc > target) {
                tok = idx[size_t(i)];
                break;
              }
            }
          }
        }
        tokens[r] = int32_t(tok);
        logprob[r] = T(double(z[tok]) - (double(m) + std::log(se)));
      }
    }
  }

  void adamw(T *param, T *grad, T *m, T *v, int64_t n, double lr, double beta1,
             double beta2, double eps, double wd, double bc1, double bc2,
             double gradScale, bool zeroGrad) override {
    if (zeroGrad) {
      adamwImpl<true>(param, grad, m, v, n, lr, beta1, beta2, eps, wd, bc1, bc2,
                      gradScale);
      return;
    }
    adamwImpl<false>(param, grad, m, v, n, lr, beta1, beta2, eps, wd, bc1, bc2,
                     gradScale);
  }

  template <bool Zero>
  static void adamwImpl(T *param, T *grad, T *m, T *v, int64_t n, double lr,
                        double beta1, double beta2, double eps, double wd,
                        double bc1, double bc2, double gradScale) {
    const T b1 = T(beta1), b2 = T(beta2), gs = T(gradScale);
    const T decay = T(1 - lr * wd), stepSize = T(lr / bc1);
    const T rbc2 = T(1 / std::sqrt(bc2)), e = T(eps);
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
    for (int64_t i = 0; i < n; ++i) {
      T g = grad[i] * gs;
      T mi = b1 * m[i] + (T(1) - b1) * g;
      T vi = b2 * v[i] + (T(1) - b2) * g * g;
      m[i] = mi;
      v[i] = vi;
      param[i] = param[i] * decay - stepSize * mi / (std::sqrt(vi) * rbc2 + e);
      if (Zero)
        grad[i] = 0;
    }
  }
};

} // namespace
} // namespace cpu

template <typename T> std::unique_ptr<Kernels<T>> makeCpuKernels() {
  return std::make_unique<cpu::CpuKernels<T>>();
}
template std::unique_ptr<Kernels<float>> makeCpuKernels<float>();
template std::unique_ptr<Kernels<double>> makeCpuKernels<double>();

} // namespace hone
