// Attention kernels of the CPU backend: causal self-attention forward
// (writing the softmax probabilities the interface keeps for the backward),
// its backward, and attention of new rows against a KV cache (decoding).
// Parallelism is over independent (sequence, KV head) tasks, never over a
// reduction, so results do not depend on the number of threads.
#include "kernels/cpu/CpuOps.h"
#include "kernels/cpu/Gemm.h"
#include "kernels/cpu/MathFns.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <vector>

namespace hone {
namespace cpu {
namespace {

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

#if defined(__AVX2__) && defined(__FMA__)
/// Scores of NC queries (pre-scaled, [NC][64]) at positions [j, j + n) of
/// a K tile of width w ([64, w], head dim 64), n <= 8 NV, in NC x NV
/// registers of 8 lanes; the last vector is loaded and stored under a
/// mask (it may end past the tile). Each lane's sum runs over d in order
/// with one fused multiply-add a step, as scoreTile64 and the generic loop.
template <int NC, int NV>
inline void scoreRange64(const float (*qs)[64], const float *k, int64_t w,
                         int64_t j, int64_t n, float *const *dst) {
  const __m256i mask =
      _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n - 8 * (NV - 1))),
                         _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  __m256 a[NC][NV];
  for (int q = 0; q < NC; ++q)
    for (int v = 0; v < NV; ++v)
      a[q][v] = _mm256_setzero_ps();
  const float *kr = k + j;
  for (int d = 0; d < 64; ++d, kr += w) {
    __m256 kv[NV];
    for (int v = 0; v < NV - 1; ++v)
      kv[v] = _mm256_loadu_ps(kr + 8 * v);
    kv[NV - 1] = _mm256_maskload_ps(kr + 8 * (NV - 1), mask);
    for (int q = 0; q < NC; ++q) {
      const __m256 qd = _mm256_set1_ps(qs[q][d]);
      for (int v = 0; v < NV; ++v)
        a[q][v] = _mm256_fmadd_ps(qd, kv[v], a[q][v]);
    }
  }
  for (int q = 0; q < NC; ++q) {
    for (int v = 0; v < NV - 1; ++v)
      _mm256_storeu_ps(dst[q] + j + 8 * v, a[q][v]);
    _mm256_maskstore_ps(dst[q] + j + 8 * (NV - 1), mask, a[q][NV - 1]);
  }
}

template <int NC>
inline void scoreRange64(const float (*qs)[64], const float *k, int64_t w,
                         int64_t lo, int64_t hi, float *const *dst) {
  for (int64_t j = lo; j < hi; j += 32) {
    const int64_t n = std::min<int64_t>(32, hi - j);
    switch ((n + 7) / 8) {
    case 1:
      scoreRange64<NC, 1>(qs, k, w, j, n, dst);
      break;
    case 2:
      scoreRange64<NC, 2>(qs, k, w, j, n, dst);
      break;
    case 3:
      scoreRange64<NC, 3>(qs, k, w, j, n, dst);
      break;
    default:
      scoreRange64<NC, 4>(qs, k, w, j, n, dst);
      break;
    }
  }
}
#endif

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
#if defined(__AVX2__) && defined(__FMA__)
        if (hd == 64) { // a partial tile (the cache's last, or a short one)
          scorePartialF(i0, cnt, tile, w, base, lo, hi);
          continue;
        }
#endif
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
#if defined(__AVX2__) && defined(__FMA__)
  /// A partial fp32 tile (width w < 64) of head dim 64, two queries per
  /// sweep, the scores in registers (the generic loop below re-read and
  /// re-wrote each score row once per d: 5 GFLOP/s, a tenth of
  /// generation's time at d_model 512 with a 52-position cache on Zen 2).
  void scorePartialF(int64_t i0, int64_t cnt, const float *tile, int64_t w,
                     int64_t base, int64_t lo, int64_t hi) {
    for (int64_t c0 = i0; c0 < i0 + cnt; c0 += 2) {
      const int nc = int(std::min<int64_t>(2, i0 + cnt - c0));
      float qs[2][64];
      float *dst[2];
      for (int c = 0; c < nc; ++c) {
        const float *qc = reinterpret_cast<const float *>(query(c0 + c));
        for (int d = 0; d < 64; ++d)
          qs[c][d] = qc[d] * float(scale);
        dst[c] = reinterpret_cast<float *>(sc) + (c0 + c) * ldsc + base;
      }
      if (nc == 1)
        scoreRange64<1>(qs, tile, w, lo, hi, dst);
      else
        scoreRange64<2>(qs, tile, w, lo, hi, dst);
    }
  }
#endif
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

/// Softmax of row `s` over its first `n` entries (in place), rest zeroed.
template <typename T> void causalSoftmaxRow(T *s, int64_t n, int64_t total) {
  T m = s[0];
#pragma omp simd reduction(max : m)
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

/// causalSoftmaxRow of the row src[j] * scale, written to s (the direct
/// loops' rows: the scaled scores are not stored first and read back).
template <typename T>
void causalSoftmaxRowScaled(const T *src, T scale, T *s, int64_t n,
                            int64_t total) {
#pragma omp simd
  for (int64_t j = 0; j < n; ++j)
    s[j] = src[j] * scale;
  causalSoftmaxRow<T>(s, n, total);
}

#if defined(__AVX2__) && defined(__FMA__)
/// float rows 8 at a time (the n % 8 last entries through masked loads and
/// stores, so no lane reads past the row): the generic loops above spent
/// more on their remainder handling than on the arithmetic at the short
/// rows of a small model's rollouts (1-29 entries). exp is MathFns.h's
/// expPoly (expApprox's reduction and polynomial with explicit FMAs). The
/// sum runs over fixed lanes, then lane 0 .. 7 in order: the same for every
/// thread count.
/// The rows read src * scale (the product each score would have been stored
/// as; scale 1 is exact) and write s, which may be src.
void softmaxRowAvx2(const float *src, float scale, float *s, int64_t n,
                    int64_t total) {
  const __m256 sc = _mm256_set1_ps(scale);
  const int64_t nf = n / 8 * 8;
  const int rem = int(n - nf);
  const __m256i mask = _mm256_cmpgt_epi32(
      _mm256_set1_epi32(rem), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  const __m256 ninf = _mm256_set1_ps(-INFINITY);
  __m256 mx = ninf;
  for (int64_t j = 0; j < nf; j += 8)
    mx = _mm256_max_ps(mx, _mm256_mul_ps(_mm256_loadu_ps(src + j), sc));
  if (rem)
    mx = _mm256_max_ps(
        mx, _mm256_blendv_ps(
                ninf, _mm256_mul_ps(_mm256_maskload_ps(src + nf, mask), sc),
                _mm256_castsi256_ps(mask)));
  alignas(32) float lane[8];
  _mm256_store_ps(lane, mx);
  float m = lane[0];
  for (int i = 1; i < 8; ++i)
    m = std::max(m, lane[i]);
  const __m256 mv = _mm256_set1_ps(m), lo = _mm256_set1_ps(-87.0f);
  __m256 sum = _mm256_setzero_ps();
  for (int64_t j = 0; j < nf; j += 8) {
    const __m256 e = avx2::expPoly(_mm256_max_ps(
        _mm256_sub_ps(_mm256_mul_ps(_mm256_loadu_ps(src + j), sc), mv), lo));
    _mm256_storeu_ps(s + j, e);
    sum = _mm256_add_ps(sum, e);
  }
  if (rem) {
    __m256 e = avx2::expPoly(_mm256_max_ps(
        _mm256_sub_ps(_mm256_mul_ps(_mm256_maskload_ps(src + nf, mask), sc),
                      mv),
        lo));
    e = _mm256_and_ps(e, _mm256_castsi256_ps(mask));
    _mm256_maskstore_ps(s + nf, mask, e);
    sum = _mm256_add_ps(sum, e);
  }
  _mm256_store_ps(lane, sum);
  float total8 = lane[0];
  for (int i = 1; i < 8; ++i)
    total8 += lane[i];
  const __m256 inv = _mm256_set1_ps(1.0f / total8);
  for (int64_t j = 0; j < nf; j += 8)
    _mm256_storeu_ps(s + j, _mm256_mul_ps(_mm256_loadu_ps(s + j), inv));
  if (rem)
    _mm256_maskstore_ps(
        s + nf, mask, _mm256_mul_ps(_mm256_maskload_ps(s + nf, mask), inv));
  if (total > n)
    std::memset(s + n, 0, size_t(total - n) * sizeof(float));
}
template <> void causalSoftmaxRow<float>(float *s, int64_t n, int64_t total) {
  softmaxRowAvx2(s, 1.0f, s, n, total);
}
template <>
void causalSoftmaxRowScaled<float>(const float *src, float scale, float *s,
                                   int64_t n, int64_t total) {
  softmaxRowAvx2(src, scale, s, n, total);
}
#endif

// --- small heads without BLAS -------------------------------------------------
//
// One (sequence, head) of a short sequence with a small head (a small
// model's rollouts: 29 tokens, head dim 16) is a few tens of thousands of
// multiply-adds split over four or five BLAS calls, each of which packs its
// operands first: the calls and the packing cost more than the arithmetic.
// These loops compute the same products directly, for the causal triangle
// only, on blocks of four rows with the head dimension a compile-time
// constant (accumulators in registers). K and V are transposed into scratch
// (zero-padded to whole vectors) for the products over the head dimension.
// Every sum runs over its index in order, so results are independent of
// the thread count; they differ from the BLAS path in rounding only. The
// choice is a function of the shape (smallHeads).

/// Head dims 16 and 32 up to 128 positions and 64 up to 64 take the direct
/// loops (measured per core on Zen 2 against OpenBLAS: 1.25x forward and
/// 1.45x backward at 29 positions x head dim 16, 1.07x at 56 x 64, 0.85x
/// at 256 x 64). HONE_CPU_ATTENTION=blas|direct forces either where both
/// exist, for A/B measurements.
bool smallHeads(int64_t seqLen, int64_t hd) {
  static const int forced = [] {
    const char *e = std::getenv("HONE_CPU_ATTENTION");
    if (!e)
      return 0;
    if (std::strcmp(e, "blas") == 0)
      return 1;
    if (std::strcmp(e, "direct") == 0)
      return 2;
    return 0;
  }();
  const bool have = hd == 16 || hd == 32 || hd == 64;
  if (!have || forced == 1)
    return false;
  return forced == 2 || seqLen <= (hd <= 32 ? 128 : 64);
}

/// A 32-byte vector of T (8 floats, 4 doubles), loadable at any T
/// alignment.
template <typename T> struct Vec {
  typedef T type __attribute__((vector_size(32), aligned(sizeof(T))));
  static constexpr int N = int(32 / sizeof(T));
  static type load(const T *p) { return *reinterpret_cast<const type *>(p); }
  static void store(T *p, type v) { *reinterpret_cast<type *>(p) = v; }
};

constexpr int kRB = 4; // rows per block
inline int64_t roundUp8(int64_t n) { return (n + 7) / 8 * 8; }

/// dst[d * n8 + j] = src[j * ld + d] for j < n, zero for n <= j < n8.
template <typename T, int HD>
void transposePadded(const T *src, int64_t ld, int64_t n, int64_t n8,
                     T *dst) {
  for (int64_t j = 0; j < n; ++j)
    for (int d = 0; d < HD; ++d)
      dst[d * n8 + j] = src[j * ld + d];
  for (int d = 0; d < HD; ++d)
    for (int64_t j = n; j < n8; ++j)
      dst[d * n8 + j] = T(0);
}

/// out[r * n8 + j] = sum_d x[r][d] * Yt[d * n8 + j] for kRB rows, j < cnt
/// (cnt a multiple of 8).
template <typename T, int HD>
inline void rowsTimesT(const T *const *x, const T *Yt, int64_t n8,
                       int64_t cnt, T *out) {
  using V = Vec<T>;
  for (int64_t j0 = 0; j0 < cnt; j0 += V::N) {
    typename V::type acc[kRB] = {};
    for (int d = 0; d < HD; ++d) {
      const typename V::type y = V::load(Yt + d * n8 + j0);
      for (int r = 0; r < kRB; ++r)
        acc[r] += x[r][d] * y;
    }
    for (int r = 0; r < kRB; ++r)
      V::store(out + r * n8 + j0, acc[r]);
  }
}

/// acc[r][:] = sum_{j0 <= j < j1} w(r, j) * Y[j * ldy + :] for kRB rows
/// (w(r, j) = W[r][j * ws], W[r] a row pointer), summed over j in order.
template <typename T, int HD>
inline void weightedRows(const T *const *W, int64_t ws, const T *Y,
                         int64_t ldy, int64_t j0, int64_t j1,
                         T (*out)[HD]) {
  using V = Vec<T>;
  constexpr int NV = HD / V::N;
  typename V::type acc[kRB][NV] = {};
  for (int64_t j = j0; j < j1; ++j) {
    const T *y = Y + j * ldy;
    typename V::type yv[NV];
    for (int v = 0; v < NV; ++v)
      yv[v] = V::load(y + v * V::N);
    for (int r = 0; r < kRB; ++r) {
      const T w = W[r][j * ws];
      for (int v = 0; v < NV; ++v)
        acc[r][v] += w * yv[v];
    }
  }
  for (int r = 0; r < kRB; ++r)
    for (int v = 0; v < NV; ++v)
      V::store(out[r] + v * V::N, acc[r][v]);
}

/// One head of causal attention, forward: P (row stride ldp, the n x n
/// corner) and out (row stride ldo). scratch: smallHeadScratch.
template <typename T, int HD>
void smallHeadFwd(const T *Q, const T *K, const T *V, int64_t ld, int64_t n,
                  T scale, T *P, int64_t ldp, T *out, int64_t ldo,
                  T *scratch) {
  const int64_t n8 = roundUp8(n);
  T *Kt = scratch, *S = Kt + HD * n8;
  transposePadded<T, HD>(K, ld, n, n8, Kt);
  for (int64_t i0 = 0; i0 < n; i0 += kRB) {
    const int rows = int(std::min<int64_t>(kRB, n - i0));
    const T *x[kRB], *w[kRB];
    // A block past the last row repeats row i0 (results dropped).
    for (int r = 0; r < kRB; ++r)
      x[r] = Q + (i0 + (r < rows ? r : 0)) * ld;
    const int64_t jEnd = i0 + rows; // positions the block attends
    rowsTimesT<T, HD>(x, Kt, n8, roundUp8(jEnd), S);
    for (int r = 0; r < kRB; ++r) {
      if (r >= rows) {
        w[r] = w[0];
        continue;
      }
      T *p = P + (i0 + r) * ldp;
      const T *sr = S + r * n8;
      const int64_t i = i0 + r;
      causalSoftmaxRowScaled<T>(sr, scale, p, i + 1, n);
      w[r] = p;
    }
    T acc[kRB][HD];
    weightedRows<T, HD>(w, 1, V, ld, 0, jEnd, acc);
    for (int r = 0; r < rows; ++r)
      std::copy(acc[r], acc[r] + HD, out + (i0 + r) * ldo);
  }
}

/// acc[c][:] = sum_{i >= c0} W[i * ldw + c0 + c] * X[i * ldx + :] for the
/// kRB columns c0 .. c0+3 of a lower-triangular n x n W (summed over i in
/// order); a column at or past n repeats column c0 (its results are for
/// dropping).
template <typename T, int HD>
inline void colsTimes(const T *W, int64_t ldw, const T *X, int64_t ldx,
                      int64_t n, int64_t c0, T (*acc)[HD]) {
  const T *w[kRB];
  for (int c = 0; c < kRB; ++c)
    w[c] = W + (c0 + c < n ? c0 + c : c0);
  weightedRows<T, HD>(w, ldw, X, ldx, c0, n, acc);
}

/// One head of causal attention, backward (the BLAS path's products,
/// triangle only): dQ written, dK and dV written (`first`) or accumulated.
/// dS: n * n scratch (row stride n); scratch: smallHeadScratch.
template <typename T, int HD>
void smallHeadBwd(const T *Q, const T *K, const T *V, const T *P, int64_t ldp,
                  const T *dO, int64_t ldo, int64_t ld, int64_t n, T scale,
                  bool first, T *dQ, T *dK, T *dV, T *dS, T *scratch) {
  const int64_t n8 = roundUp8(n);
  T *Vt = scratch, *D = Vt + HD * n8;
  transposePadded<T, HD>(V, ld, n, n8, Vt);
  T acc[kRB][HD];
  auto store = [&](T *dst, int64_t c0, T alpha, bool add) {
    for (int c = 0; c < kRB && c0 + c < n; ++c) {
      T *o = dst + (c0 + c) * ld;
      for (int d = 0; d < HD; ++d)
        o[d] = add ? o[d] + alpha * acc[c][d] : alpha * acc[c][d];
    }
  };
  // dV = P^T dO, four columns of P at a time.
  for (int64_t c0 = 0; c0 < n; c0 += kRB) {
    colsTimes<T, HD>(P, ldp, dO, ldo, n, c0, acc);
    store(dV, c0, T(1), !first);
  }
  // dS = P * (dO V^T - rowsum(P * dO V^T)) (zero above the diagonal), and
  // dQ = scale dS K, four rows at a time.
  for (int64_t i0 = 0; i0 < n; i0 += kRB) {
    const int rows = int(std::min<int64_t>(kRB, n - i0));
    const T *x[kRB], *w[kRB];
    for (int r = 0; r < kRB; ++r)
      x[r] = dO + (i0 + (r < rows ? r : 0)) * ldo;
    const int64_t jEnd = i0 + rows;
    rowsTimesT<T, HD>(x, Vt, n8, roundUp8(jEnd), D);
    for (int r = 0; r < kRB; ++r) {
      if (r >= rows) {
        w[r] = w[0];
        continue;
      }
      const int64_t i = i0 + r;
      const T *p = P + i * ldp, *dr = D + r * n8;
      T *ds = dS + i * n;
      T dot = 0;
#pragma omp simd reduction(+ : dot)
      for (int64_t j = 0; j <= i; ++j)
        dot += p[j] * dr[j];
#pragma omp simd
      for (int64_t j = 0; j <= i; ++j)
        ds[j] = p[j] * (dr[j] - dot);
      for (int64_t j = i + 1; j < n; ++j)
        ds[j] = T(0);
      w[r] = ds;
    }
    weightedRows<T, HD>(w, 1, K, ld, 0, jEnd, acc);
    for (int r = 0; r < rows; ++r) {
      T *o = dQ + (i0 + r) * ld;
      for (int d = 0; d < HD; ++d)
        o[d] = scale * acc[r][d];
    }
  }
  // dK = scale dS^T Q.
  for (int64_t c0 = 0; c0 < n; c0 += kRB) {
    colsTimes<T, HD>(dS, n, Q, ld, n, c0, acc);
    store(dK, c0, scale, !first);
  }
}

/// Scratch (elements) of smallHeadFwd / smallHeadBwd for sequences up to
/// Tn long (K or V transposed, a block of score rows).
inline int64_t smallHeadScratch(int64_t Tn, int64_t hd) {
  return (hd + kRB) * roundUp8(Tn);
}

template <typename T>
void smallHeadFwdAny(int64_t hd, const T *Q, const T *K, const T *V,
                     int64_t ld, int64_t n, T scale, T *P, int64_t ldp,
                     T *out, int64_t ldo, T *scratch) {
  switch (hd) {
  case 16:
    return smallHeadFwd<T, 16>(Q, K, V, ld, n, scale, P, ldp, out, ldo,
                               scratch);
  case 32:
    return smallHeadFwd<T, 32>(Q, K, V, ld, n, scale, P, ldp, out, ldo,
                               scratch);
  default:
    return smallHeadFwd<T, 64>(Q, K, V, ld, n, scale, P, ldp, out, ldo,
                               scratch);
  }
}
template <typename T>
void smallHeadBwdAny(int64_t hd, const T *Q, const T *K, const T *V,
                     const T *P, int64_t ldp, const T *dO, int64_t ldo,
                     int64_t ld, int64_t n, T scale, bool first, T *dQ, T *dK,
                     T *dV, T *dS, T *scratch) {
  switch (hd) {
  case 16:
    return smallHeadBwd<T, 16>(Q, K, V, P, ldp, dO, ldo, ld, n, scale, first,
                               dQ, dK, dV, dS, scratch);
  case 32:
    return smallHeadBwd<T, 32>(Q, K, V, P, ldp, dO, ldo, ld, n, scale, first,
                               dQ, dK, dV, dS, scratch);
  default:
    return smallHeadBwd<T, 64>(Q, K, V, P, ldp, dO, ldo, ld, n, scale, first,
                               dQ, dK, dV, dS, scratch);
  }
}

/// Row (column) block of the BLAS path's causal products: rows i0 ..
/// i0+127 need positions up to i0+127 only (75 % of the square's products
/// at 256 positions). Per core on Zen 2 at 4 x 256 positions x 8 heads of
/// 64 (thread CPU time, best of 5): forward 1.05x, backward 1.15x against
/// the whole square; blocks of 64 rows measured no better, 32 slower.
constexpr int64_t kTriRows = 128;

} // namespace

// Parallel over (sequence, KV group): heads sharing K/V stay on one thread,
// so the K/V gradient sums run in a fixed order. Each task is computed the
// same way whichever thread runs it, so the threshold (on the total work
// of all tasks: short sequences in large batches, e.g. GRPO's rollouts,
// are worth the threads too) does not change results.
template <typename T>
void attentionFwd(const T *qkv, const AttentionShape &s, T *probs, T *out) {
  const int64_t Tn = s.seqLen, hd = s.headDim, ld = s.qkvStride();
  const int64_t group = s.nHeads / s.nKvHeads, ldo = s.nHeads * hd;
  const T scale = T(1) / std::sqrt(T(hd));
  const int64_t tasks = s.batch * s.nKvHeads;
  const bool par = tasks > 1 && tasks * Tn * Tn * hd >= kParallelMin;
  const bool direct = smallHeads(Tn, hd);
#pragma omp parallel for schedule(static) if (par)
  for (int64_t task = 0; task < tasks; ++task) {
    int64_t b = task / s.nKvHeads, kvh = task % s.nKvHeads;
    // A packed batch's sequence b is rows r0 .. r0+n-1 (Kernels.h); its
    // probabilities are n x n blocks (row stride ps) from pb on.
    const int64_t r0 = s.firstRow(b), n = s.lenOf(b);
    if (n <= 0)
      continue;
    const int64_t pb = s.probsBase(b), ps = s.probsStride(b);
    thread_local std::vector<T> scratch;
    if (direct && int64_t(scratch.size()) < smallHeadScratch(Tn, hd))
      scratch.resize(size_t(smallHeadScratch(Tn, hd)));
    for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h) {
      const T *Q = qkv + r0 * ld + h * hd;
      const T *K = qkv + r0 * ld + (s.nHeads + kvh) * hd;
      const T *V = qkv + r0 * ld + (s.nHeads + s.nKvHeads + kvh) * hd;
      T *P = probs + pb + h * ps * ps;
      if (direct) {
        smallHeadFwdAny(hd, Q, K, V, ld, n, scale, P, ps,
                        out + r0 * ldo + h * hd, ldo, scratch.data());
        continue;
      }
      // Row blocks of kTriRows: a block's rows attend positions up to its
      // last row only, so the products skip the masked upper triangle.
      for (int64_t i0 = 0; i0 < n; i0 += kTriRows) {
        const int64_t rows = std::min(kTriRows, n - i0), cols = i0 + rows;
        attnGemm(false, true, rows, cols, hd, scale, Q + i0 * ld, ld, K, ld,
                 T(0), P + i0 * ps, ps);
        for (int64_t i = i0; i < i0 + rows; ++i)
          causalSoftmaxRow<T>(P + i * ps, i + 1, n);
        attnGemm(false, false, rows, hd, cols, T(1), P + i0 * ps, ps, V, ld,
                 T(0), out + (r0 + i0) * ldo + h * hd, ldo);
      }
    }
  }
}

template <typename T>
void attentionBwd(const T *qkv, const T *probs, const T *dout,
                  const AttentionShape &s, T *dqkv, ThreadScratch<T> &ts) {
  const int64_t Tn = s.seqLen, hd = s.headDim, ld = s.qkvStride();
  const int64_t group = s.nHeads / s.nKvHeads, ldo = s.nHeads * hd;
  const T scale = T(1) / std::sqrt(T(hd));
  const int64_t tasks = s.batch * s.nKvHeads;
  const bool direct = smallHeads(Tn, hd);
  ts.prepare(Tn * Tn + (direct ? smallHeadScratch(Tn, hd) : 0));
  const bool par = tasks > 1 && tasks * Tn * Tn * hd >= kParallelMin;
#pragma omp parallel if (par)
  {
    T *dP = ts.get();
#pragma omp for schedule(static)
    for (int64_t task = 0; task < tasks; ++task) {
      int64_t b = task / s.nKvHeads, kvh = task % s.nKvHeads;
      const int64_t r0 = s.firstRow(b), len = s.lenOf(b);
      if (len <= 0)
        continue;
      const int64_t pb = s.probsBase(b), ps = s.probsStride(b);
      for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h) {
        int64_t base = r0 * ld;
        const T *Q = qkv + base + h * hd;
        const T *K = qkv + base + (s.nHeads + kvh) * hd;
        const T *V = qkv + base + (s.nHeads + s.nKvHeads + kvh) * hd;
        T *dQ = dqkv + base + h * hd;
        T *dK = dqkv + base + (s.nHeads + kvh) * hd;
        T *dV = dqkv + base + (s.nHeads + s.nKvHeads + kvh) * hd;
        const T *P = probs + pb + h * ps * ps;
        const T *dO = dout + r0 * ldo + h * hd;
        if (direct) {
          smallHeadBwdAny(hd, Q, K, V, P, ps, dO, ldo, ld, len, scale,
                          h == kvh * group, dQ, dK, dV, dP, dP + Tn * Tn);
          continue;
        }
        // Blocks of kTriRows rows (dP, dQ) or columns (dV, dK) skip the
        // masked upper triangle, where P and dS are zero.
        for (int64_t i0 = 0; i0 < len; i0 += kTriRows) {
          const int64_t rows = std::min(kTriRows, len - i0);
          attnGemm(false, true, rows, i0 + rows, hd, T(1), dO + i0 * ldo, ldo,
                   V, ld, T(0), dP + i0 * Tn, Tn);
        }
        // The group's first head writes dK/dV, later heads accumulate.
        const T beta = h == kvh * group ? T(0) : T(1);
        for (int64_t j0 = 0; j0 < len; j0 += kTriRows) {
          const int64_t cj = std::min(kTriRows, len - j0);
          attnGemm(true, false, cj, hd, len - j0, T(1), P + j0 * ps + j0, ps,
                   dO + j0 * ldo, ldo, beta, dV + j0 * ld, ld);
        }
        for (int64_t i = 0; i < len; ++i) {
          const T *p = P + i * ps;
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
        for (int64_t i0 = 0; i0 < len; i0 += kTriRows) {
          const int64_t rows = std::min(kTriRows, len - i0);
          attnGemm(false, false, rows, hd, i0 + rows, scale, dP + i0 * Tn, Tn,
                   K, ld, T(0), dQ + i0 * ld, ld);
        }
        for (int64_t j0 = 0; j0 < len; j0 += kTriRows) {
          const int64_t cj = std::min(kTriRows, len - j0);
          attnGemm(true, false, cj, hd, len - j0, scale, dP + j0 * Tn + j0, Tn,
                   Q + j0 * ld, ld, beta, dK + j0 * ld, ld);
        }
      }
    }
  }
}

// Cache layout and summation order: see DecodeQueries. Parallel over
// (run of rows, KV head); the queries that read the same K/V (the heads
// of a KV group, and with sharedLen the samples of one prompt over the
// prompt) are served by one read of it.
template <typename T>
void attentionCachedShared(const T *qkv, int64_t batch, int64_t newLen,
                           int64_t nH, int64_t nKv, int64_t hd,
                           const int32_t *start, const int32_t *sharedLen,
                           int64_t cacheLen, T *kCache, T *vCache, T *out,
                           ThreadScratch<T> &ts, std::vector<int64_t> &runs,
                           std::vector<int64_t> &shared) {
  const int64_t ld = (nH + 2 * nKv) * hd, ldo = nH * hd, group = nH / nKv;
  const T scale = T(1) / std::sqrt(T(hd));
  // Runs of rows that share a prefix (decoding only), at most kMaxQueries
  // queries per run so that the score rows of a sweep stay in L1.
  runs.clear();
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
  ts.prepare(maxQ * (maxN + hd + 1));
  const int64_t tasks = nRuns * nKv;
  int64_t work = batch * nKv * group * newLen * maxN * hd;
#pragma omp parallel if (work >= kParallelMin && tasks > 1)
  {
    T *sc = ts.get();
    T *acc = sc + maxQ * maxN;
    // Guided: each thread takes runs of consecutive tasks, whose K/V slots
    // lie one after the other, so the hardware prefetchers' streams carry
    // on from one task to the next (one task at a time, `dynamic, 1`,
    // interleaved the threads' slots: 1.1x slower at the peers' generation
    // shape on a Zen 4, bench/RESULTS.md); the shrinking chunks still
    // balance runs of unequal length (shared-prefix runs, finished rows).
#pragma omp for schedule(guided)
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

#define HONE_CPU_ATTENTION(T)                                                  \
  template void attentionFwd<T>(const T *, const AttentionShape &, T *, T *);  \
  template void attentionBwd<T>(const T *, const T *, const T *,               \
                                const AttentionShape &, T *,                   \
                                ThreadScratch<T> &);                           \
  template void attentionCachedShared<T>(                                      \
      const T *, int64_t, int64_t, int64_t, int64_t, int64_t, const int32_t *, \
      const int32_t *, int64_t, T *, T *, T *, ThreadScratch<T> &,             \
      std::vector<int64_t> &, std::vector<int64_t> &);
HONE_CPU_ATTENTION(float)
HONE_CPU_ATTENTION(double)
#undef HONE_CPU_ATTENTION

} // namespace cpu
} // namespace hone
