// Decode dense layers of the CPU backend (Kernels::linearRows for float,
// linearRowsBf16, and the decode logits): small-row GEMMs with a fused
// epilogue.
//
// W [in, out] (GPT-2's Conv1D), linearRowsF:
// Decoding multiplies a few hundred rows by every weight matrix each step.
// OpenBLAS repacks the weights on every call, and bias, residual and GELU
// were separate passes over the output; here each thread takes 64-column
// panels of W, packs a panel while the first rows consume it (the later
// rows read the packed copy from L2), keeps 6 x 64 accumulators in
// registers, and finishes the panel in one epilogue. Without AVX-512, at
// up to 128 rows and 256 or more outputs (decode's dense layers),
// linearRowsStrips takes 64-column blocks 128 k rows at a time instead
// (faster on Zen 2; same bits). Each output element is summed over k in
// order, whatever the thread count or path.
//
// W [out, in] (Linear layers of the Llama family, the LM head), fp32 or
// bf16 bits, linearRowsNT: at a few rows (2-16 completions decoding) the
// product is a set of dot products of each x row with each W row, and W
// is read once from memory per call. OpenBLAS and oneDNN repacked the
// transposed W of every call (about 6 GFLOP/s at 16 rows against
// training's 30: bench/RESULTS.md, "Decode at a few rows"); here each
// thread takes blocks of W rows, and a tile of 4 x rows by 3 W rows keeps
// 12 vector accumulators along k, W's rows widened from bf16 as they are
// loaded (a shift: exact). Each output's sum has one fixed order (8
// lanes along k, lanes added pairwise, then the k % 8 tail), whatever the
// thread count or row count.
#include "kernels/cpu/CpuOps.h"
#include "kernels/cpu/MathFns.h"

#if defined(__FMA__)
#include <immintrin.h>
#endif
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <type_traits>

namespace hone {
namespace cpu {
namespace {

constexpr int64_t kLinKc = 512; // k rows of a packed panel (128 KB)

#if !defined(__AVX512F__) && defined(__FMA__)
/// The AVX2 tile: MR rows x 16 columns in 2 MR ymm accumulators and one
/// broadcast register. Written with intrinsics and named accumulators:
/// GCC spent register moves on the generic v16f tile (two v8f halves) at
/// MR = 6 every k step, and kept an array of __m256 accumulators in memory
/// (storing all of them each step). Same arithmetic as the generic tile:
/// each element one fused multiply-add per k, in order.
/// Tiled: A holds the tile's rows interleaved, [kc][MR] (lda unused).
template <int MR, bool Tiled = false>
inline void linearTileAvx2(int64_t kc, const float *A, int64_t lda,
                           const float *B, int64_t ldb, float *part, bool init,
                           float *pack, int64_t ldp = 64) {
  static_assert(MR >= 1 && MR <= 6, "1-6 rows");
  // Named accumulators, not arrays: GCC kept __m256 arrays in memory and
  // stored every accumulator back on each k step.
  __m256 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
#define HONE_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define HONE_INIT(r)                                                           \
  if constexpr (MR > r) {                                                      \
    c##r##0 = init ? _mm256_setzero_ps() : _mm256_loadu_ps(part + r * ldp);    \
    c##r##1 =                                                                  \
        init ? _mm256_setzero_ps() : _mm256_loadu_ps(part + r * ldp + 8);      \
  }
#define HONE_FMA(r)                                                            \
  if constexpr (MR > r) {                                                      \
    const __m256 a = _mm256_broadcast_ss(Tiled ? A + p * MR + r                \
                                               : A + r * lda + p);             \
    c##r##0 = _mm256_fmadd_ps(a, b0, c##r##0);                                 \
    c##r##1 = _mm256_fmadd_ps(a, b1, c##r##1);                                 \
  }
#define HONE_STORE(r)                                                          \
  if constexpr (MR > r) {                                                      \
    _mm256_storeu_ps(part + r * ldp, c##r##0);                                 \
    _mm256_storeu_ps(part + r * ldp + 8, c##r##1);                             \
  }
  HONE_ROWS(HONE_INIT)
  const float *b = B;
  if (pack) {
    for (int64_t p = 0; p < kc; ++p, b += ldb) {
      const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
      __builtin_prefetch(b + 12 * ldb, 0, 3);
      _mm256_storeu_ps(pack + p * 16, b0);
      _mm256_storeu_ps(pack + p * 16 + 8, b1);
      HONE_ROWS(HONE_FMA)
    }
  } else {
    for (int64_t p = 0; p < kc; ++p, b += ldb) {
      const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
      HONE_ROWS(HONE_FMA)
    }
  }
  HONE_ROWS(HONE_STORE)
#undef HONE_ROWS
#undef HONE_INIT
#undef HONE_FMA
#undef HONE_STORE
}
#endif

template <int MR, int NV>
inline void linearTile(int64_t kc, const float *A, int64_t lda, const float *B,
                       int64_t ldb, float *part, bool init, float *pack) {
#if !defined(__AVX512F__) && defined(__FMA__)
  if constexpr (NV == 1 && MR <= 6) {
    linearTileAvx2<MR>(kc, A, lda, B, ldb, part, init, pack);
    return;
  }
#endif
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

/// Software prefetch (into L2) of the W block a thread multiplies next,
/// spread over the tiles of the current one, so that streaming the
/// weights from memory overlaps the arithmetic instead of stalling the
/// next block's packing (decode reads every weight once per token).
struct NextBlock {
  const float *B = nullptr; // its first row
  int64_t ldb = 0, rows = 0, lines = 0; // rows of `lines` 64-byte lines
  int64_t done = 0, perTile = 0;
  void step() {
    const int64_t end = std::min(rows, done + perTile);
    for (; done < end; ++done)
      for (int64_t l = 0; l < lines; ++l)
        __builtin_prefetch(B + done * ldb + 16 * l, 0, 2);
  }
};

/// part [m, 64] (+)= A[m, kc] B[kc, 16 NV]: the first row block reads B
/// (rows ldb apart) and packs it, the others read the pack (pack null: B
/// is a pack already, every row block reads it).
template <int NV>
void linearPanel(int64_t m, int64_t kc, const float *A, int64_t lda,
                 const float *B, int64_t ldb, float *part, bool init,
                 float *pack, NextBlock *next = nullptr) {
#if !defined(__AVX512F__)
  // Without AVX-512 (16 vector registers of 8 floats: Zen 2, Haswell) a
  // 6 x 64 tile's 48 accumulator registers would spill: take the panel one
  // 16-column strip at a time (6 x 16 tiles, 12 registers). The whole
  // panel is packed first, strip by strip ([NV][kc][16]), reading each W
  // row's 64 columns as one contiguous run: packing one 16-column strip
  // at a time read a single cache line per W row (rows n floats apart,
  // each on its own page for n >= 1024) and stalled the first tile of
  // every strip on memory (a quarter of decode's dense-layer time on Zen
  // 2; 6 % faster per CPU-second packed this way, bench/RESULTS.md).
  // Every element is still summed over k in order.
  if constexpr (NV > 1) {
    for (int64_t p = 0; p < kc; ++p) {
      const float *src = B + p * ldb;
      for (int v = 0; v < NV; ++v) {
        __builtin_prefetch(src + 8 * ldb + 16 * v, 0, 0);
        *reinterpret_cast<v16f *>(pack + v * kc * 16 + p * 16) =
            *reinterpret_cast<const v16f *>(src + 16 * v);
      }
    }
    if (next)
      next->perTile = (next->rows + NV * ((m + 5) / 6) - 1) /
                      (NV * ((m + 5) / 6));
    for (int v = 0; v < NV; ++v)
      linearPanel<1>(m, kc, A, lda, pack + v * kc * 16, 16, part + 16 * v,
                     init, nullptr, next);
    return;
  }
  constexpr int MR = 6;
#else
  constexpr int MR = NV == 4 ? 6 : 8;
  // The next block's rows spread over this panel's row tiles (left at 0,
  // nothing was prefetched: the first tile of every panel then waited on
  // memory for its weights, 29 % of decode's dense-layer time for 1/11 of
  // its FLOPs at 64 rows on a Zen 4; bench/RESULTS.md).
  if (next)
    next->perTile = (next->rows + (m + MR - 1) / MR - 1) / ((m + MR - 1) / MR);
#endif
  auto tile = [&](auto mr, int64_t r) {
    constexpr int R = decltype(mr)::value;
    if (next)
      next->step();
    if (!pack) // B is packed already
      linearTile<R, NV>(kc, A + r * lda, lda, B, ldb, part + r * 64, init,
                        nullptr);
    else if (r == 0)
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

/// As the separate kernels round: (residual + b) + xW, then GELU; rows of
/// `part` ldp apart, w columns from column j0 of y (rows n apart).
inline void finishRows(const float *part, int64_t ldp, int64_t mr, int64_t r0,
                       int64_t j0, int64_t w, int64_t n, const float *b,
                       const float *res, bool gelu, float *y) {
  for (int64_t r = 0; r < mr; ++r) {
    const float *pr = part + r * ldp;
    float *yr = y + (r0 + r) * n + j0;
    const float *rr = res ? res + (r0 + r) * n + j0 : nullptr;
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
    if (gelu) // geluFwd's function
      geluRowF(yr, yr, w);
  }
}

#if !defined(__AVX512F__) && defined(__FMA__)
constexpr int64_t kStripKc = 128; // k rows of a packed block
constexpr int64_t kStripMaxRows = 128; // above: linearPanel's path

/// linearRowsF without AVX-512 at up to kStripMaxRows rows and 256 or more
/// outputs (decode's dense layers): each task is a 64-column block of W
/// over all k, taken kStripKc rows at a time (32 KB: four 8 KB strips of
/// 16 columns, [strip][kc][16], each L1-resident while the 6-row tiles
/// of linearTileAvx2 sweep it), partial sums in `part` [m][64] between
/// k blocks; the next block is prefetched into L2 across the current
/// one's tiles. Against linearPanel's 512-row panels (128 KB) this ran
/// decode's dense layers at 68-70 instead of 61-63 GFLOP per CPU-second at
/// 64 rows on Zen 2 (one thread, 8 GPT-2 d_model 512 layers;
/// hone_bench_linear_rows, bench/RESULTS.md "decode's dense layers in
/// 64-column blocks"), also faster at 8 and 24 rows, equal at 128, slower
/// at 256 (hence kStripMaxRows).
/// Each element is still one fused multiply-add per k, in order from
/// zero, then the same epilogue: the bits equal linearPanel's
/// (Kernels.LinearRowsStripsEqualPanels).
///
/// `packed` (nullable): W already in the blocks' order (packLinearRowsF),
/// as a generate call keeps it for its decode steps; the tiles read it in
/// place and no block is copied (same tiles, same bits).
void linearRowsStrips(const float *x, int64_t m, int64_t k, int64_t n,
                      const float *W, const float *packed, const float *b,
                      const float *res, bool gelu, float *y,
                      ThreadScratch<float> &ts) {
  constexpr int64_t NB = 64;
  const int64_t tasks = (n + NB - 1) / NB;
  ts.prepare(kStripKc * NB + m * NB);
  const bool par = 2.0 * double(m) * double(n) * double(k) >= 2e6;
  // x copied once per call into the tiles' order: each 128-row k block
  // [m][kc] as 6-row tiles [kc][6] (the last one [kc][m % 6]), so that a
  // tile's broadcasts read one contiguous run instead of 6 rows k floats
  // apart (which map to a few L1 sets). Same values, same FMAs.
  const char *xEnv = std::getenv("HONE_LINEAR_XTILES");
  const bool xTiles = !(xEnv && std::strcmp(xEnv, "0") == 0);
  float *xt = nullptr;
  if (xTiles) {
    auto &b0 = ts.bufs[0];
    const size_t base = size_t(kStripKc * NB + m * NB);
    if (b0.size() < base + size_t(m * k))
      b0.resize(base + size_t(m * k));
    xt = b0.data() + base;
    const int64_t kbs = (k + kStripKc - 1) / kStripKc;
#pragma omp parallel for schedule(static) if (par && m * k >= (1 << 14))
    for (int64_t kb = 0; kb < kbs; ++kb) {
      const int64_t k0 = kb * kStripKc, kc = std::min(kStripKc, k - k0);
      float *dst = xt + k0 * m;
      for (int64_t r0 = 0; r0 < m; r0 += 6) {
        const int64_t mr = std::min<int64_t>(6, m - r0);
        for (int64_t p = 0; p < kc; ++p)
          for (int64_t r = 0; r < mr; ++r)
            dst[r0 * kc + p * mr + r] = x[(r0 + r) * k + k0 + p];
      }
    }
  }
  // Dynamic scheduling by hand, as linearRowsF's panels: a thread claims
  // its next task before running this one, to prefetch it.
  std::atomic<int64_t> counter{0};
#pragma omp parallel if (par && tasks > 1)
  {
    float *pack = ts.get();
    float *part = pack + kStripKc * NB;
    int64_t t = counter.fetch_add(1);
    while (t < tasks) {
      const int64_t after = counter.fetch_add(1);
      const int64_t j0 = t * NB, w = std::min(NB, n - j0), strips = w / 16;
      for (int64_t k0 = 0; k0 < k; k0 += kStripKc) {
        const int64_t kc = std::min(kStripKc, k - k0);
        const float *src = W + k0 * n + j0;
        const float *blk = pack; // this block, [strip][kc][16]
        NextBlock nb;
        if (packed) {
          // Task t's blocks start at column j0's k x 64 floats; block k0
          // at k0 x w within it. The next block (this task's next k rows,
          // else the next task's first) is contiguous after or at its
          // own task's start: prefetched as lines, a few per tile.
          blk = packed + j0 * k + k0 * w;
          if (k0 + kc < k) {
            nb.B = blk + kc * w;
            nb.rows = std::min(kStripKc, k - k0 - kc) * (w / 16);
          } else if (after < tasks) {
            nb.B = packed + after * NB * k;
            nb.rows = std::min(kStripKc, k) * (std::min(NB, n - after * NB) / 16);
          }
          nb.lines = 1;
          nb.ldb = 16;
        } else {
          for (int64_t p = 0; p < kc; ++p, src += n)
            for (int64_t s = 0; s < strips; ++s) {
              _mm256_storeu_ps(pack + (s * kc + p) * 16,
                               _mm256_loadu_ps(src + 16 * s));
              _mm256_storeu_ps(pack + (s * kc + p) * 16 + 8,
                               _mm256_loadu_ps(src + 16 * s + 8));
            }
          // The block after this one (this task's next k rows, else the
          // next task's first), prefetched into L2 a few rows per tile.
          if (k0 + kc < k) {
            nb.B = src;
            nb.rows = std::min(kStripKc, k - k0 - kc);
            nb.lines = w / 16;
          } else if (after < tasks) {
            nb.B = W + after * NB;
            nb.rows = std::min(kStripKc, k);
            nb.lines = std::min(NB, n - after * NB) / 16;
          }
          nb.ldb = n;
        }
        const int64_t tiles = strips * ((m + 5) / 6);
        nb.perTile = (nb.rows + tiles - 1) / tiles;
        const float *a = x + k0;
        for (int64_t s = 0; s < strips; ++s) {
          const float *bs = blk + s * kc * 16;
          float *ps = part + 16 * s;
          const bool init = k0 == 0;
          int64_t r = 0;
          // Rows r.. of this strip through the MR-row tile.
          auto tile = [&](auto mr) {
            if (xt)
              linearTileAvx2<decltype(mr)::value, true>(
                  kc, xt + k0 * m + r * kc, 0, bs, 16, ps + r * NB, init,
                  nullptr, NB);
            else
              linearTileAvx2<decltype(mr)::value>(kc, a + r * k, k, bs, 16,
                                                  ps + r * NB, init, nullptr,
                                                  NB);
          };
          using std::integral_constant;
          for (; r + 6 <= m; r += 6) {
            if (nb.B)
              nb.step();
            tile(integral_constant<int, 6>());
          }
          if (nb.B)
            nb.step();
          switch (m - r) {
          case 5: tile(integral_constant<int, 5>()); break;
          case 4: tile(integral_constant<int, 4>()); break;
          case 3: tile(integral_constant<int, 3>()); break;
          case 2: tile(integral_constant<int, 2>()); break;
          case 1: tile(integral_constant<int, 1>()); break;
          default: break;
          }
        }
      }
      finishRows(part, NB, m, 0, j0, w, n, b, res, gelu, y);
      t = after;
    }
  }
}
#endif

typedef float v8f __attribute__((vector_size(32), aligned(4)));
typedef uint16_t v8h __attribute__((vector_size(16), aligned(2)));
typedef uint32_t v8u __attribute__((vector_size(32)));

inline v8f load8(const float *p) { return *reinterpret_cast<const v8f *>(p); }
inline v8f load8(const uint16_t *p) {
  v8u u = __builtin_convertvector(*reinterpret_cast<const v8h *>(p), v8u) << 16;
  return (v8f)u; // a bit cast (same size)
}
inline float elem(const float *p) { return *p; }
inline float elem(const uint16_t *p) {
  return __builtin_bit_cast(float, uint32_t(*p) << 16);
}
// Explicit fused multiply-adds: left to the compiler, contraction differed
// between tile shapes (a 1 x 1 tile's sums were not a 4 x 3 tile's), and a
// row's result must not depend on the tile it fell in.
inline v8f fma8(v8f a, v8f b, v8f c) {
#if defined(__FMA__)
  return (v8f)_mm256_fmadd_ps((__m256)a, (__m256)b, (__m256)c);
#else
  return a * b + c; // no FMA instructions: nothing to contract into
#endif
}
inline float fma1(float a, float b, float c) {
#if defined(__FMA__)
  return __builtin_fmaf(a, b, c);
#else
  return a * b + c;
#endif
}
inline float hsum(v8f v) {
  return ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]));
}

/// s[r * NO + o] = x row r . W row o over k (MR rows of x ldx apart, NO
/// rows of W ldw apart).
template <int MR, int NO, typename WT>
inline void ntTile(int64_t k, const float *x, int64_t ldx, const WT *W,
                   int64_t ldw, float *s) {
  v8f acc[MR][NO];
  for (int r = 0; r < MR; ++r)
    for (int o = 0; o < NO; ++o)
      acc[r][o] = v8f{};
  int64_t p = 0;
  for (; p + 8 <= k; p += 8) {
    v8f w[NO];
    for (int o = 0; o < NO; ++o)
      w[o] = load8(W + o * ldw + p);
    for (int r = 0; r < MR; ++r) {
      const v8f xv = load8(x + r * ldx + p);
      for (int o = 0; o < NO; ++o)
        acc[r][o] = fma8(xv, w[o], acc[r][o]);
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int o = 0; o < NO; ++o) {
      float t = hsum(acc[r][o]);
      for (int64_t q = p; q < k; ++q)
        t = fma1(x[r * ldx + q], elem(W + o * ldw + q), t);
      s[r * NO + o] = t;
    }
}

/// Dot products of m rows of x with NO rows of W: s [m, NO], in tiles of
/// MR rows (the rest in one smaller tile).
template <int MR, int NO, typename WT>
void ntRows(int64_t m, int64_t k, const float *x, const WT *W, int64_t ldw,
            float *s) {
  int64_t r = 0;
  for (; r + MR <= m; r += MR)
    ntTile<MR, NO>(k, x + r * k, k, W, ldw, s + r * NO);
  switch (m - r) {
  case 3:
    if constexpr (MR > 3)
      ntTile<3, NO>(k, x + r * k, k, W, ldw, s + r * NO);
    break;
  case 2:
    if constexpr (MR > 2)
      ntTile<2, NO>(k, x + r * k, k, W, ldw, s + r * NO);
    break;
  case 1:
    ntTile<1, NO>(k, x + r * k, k, W, ldw, s + r * NO);
    break;
  default:
    break;
  }
}

/// s [m, no] for the no <= NO rows of W at W: a full block of NO, or the
/// last few outputs.
template <int MR, int NO, typename WT>
void ntBlock(int64_t m, int64_t k, const float *x, const WT *W, int64_t no,
             float *s) {
  if (no == NO)
    ntRows<MR, NO>(m, k, x, W, k, s);
  else if (no == 3)
    ntRows<MR, 3>(m, k, x, W, k, s);
  else if (no == 2)
    ntRows<MR, 2>(m, k, x, W, k, s);
  else
    ntRows<MR, 1>(m, k, x, W, k, s);
}

} // namespace

template <typename WT>
void linearRowsNT(const float *x, int64_t m, int64_t k, int64_t n, const WT *W,
                  float alpha, const float *b, const float *res, bool gelu,
                  float *y) {
  // Tiles: 4 x rows by 3 W rows (12 accumulators), or below 4 rows all
  // of them by 4 W rows (measured best on Zen 2: bench/RESULTS.md). Tasks
  // of 60 outputs (W rows), a function of n only.
  const int64_t NO = m < 4 ? 4 : 3;
  const int64_t kTask = 60;
  const int64_t tasks = (n + kTask - 1) / kTask;
  const bool par = 2.0 * double(m) * double(n) * double(k) >= 2e6;
#pragma omp parallel for schedule(dynamic, 1) if (par && tasks > 1)
  for (int64_t t = 0; t < tasks; ++t) {
    float s[kLinNtMaxRowsBf16 * 4];
    const int64_t o1 = std::min(n, (t + 1) * kTask);
    for (int64_t o0 = t * kTask; o0 < o1; o0 += NO) {
      const int64_t no = std::min<int64_t>(NO, o1 - o0);
      if (m < 4)
        ntBlock<3, 4>(m, k, x, W + o0 * k, no, s);
      else
        ntBlock<4, 3>(m, k, x, W + o0 * k, no, s);
      // As the separate kernels round: (residual + b) + alpha xW^T, GELU.
      for (int64_t r = 0; r < m; ++r)
        for (int64_t o = 0; o < no; ++o) {
          float v = alpha * s[r * no + o];
          const int64_t j = o0 + o;
          if (res && b)
            v = (res[r * n + j] + b[j]) + v;
          else if (res)
            v = res[r * n + j] + v;
          else if (b)
            v = b[j] + v;
          y[r * n + j] = v;
        }
      if (gelu) // geluFwd's function
        for (int64_t r = 0; r < m; ++r)
          geluRowF(y + r * n + o0, y + r * n + o0, no);
    }
  }
}
template void linearRowsNT<float>(const float *, int64_t, int64_t, int64_t,
                                  const float *, float, const float *,
                                  const float *, bool, float *);
template void linearRowsNT<uint16_t>(const float *, int64_t, int64_t, int64_t,
                                     const uint16_t *, float, const float *,
                                     const float *, bool, float *);

bool linearRowsPackable(int64_t m, int64_t k, int64_t n) {
#if !defined(__AVX512F__) && defined(__FMA__)
  // Below 2^18 elements (1 MB: a small model's matrices) W stays in cache
  // between steps and its packing costs little.
  return m > 0 && m <= kStripMaxRows && k > 0 && n >= 256 && n % 16 == 0 &&
         k * n >= (int64_t(1) << 18) && !std::getenv("HONE_LINEAR_PANELS");
#else
  (void)m;
  (void)k;
  (void)n;
  return false;
#endif
}

void packLinearRowsF(const float *W, int64_t k, int64_t n, float *dst) {
#if !defined(__AVX512F__) && defined(__FMA__)
  constexpr int64_t NB = 64;
  const int64_t tasks = (n + NB - 1) / NB;
  // Tasks are independent and each writes its own k x w floats.
#pragma omp parallel for schedule(static) if (k * n >= (1 << 16))
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t j0 = t * NB, w = std::min(NB, n - j0), strips = w / 16;
    for (int64_t k0 = 0; k0 < k; k0 += kStripKc) {
      const int64_t kc = std::min(kStripKc, k - k0);
      float *blk = dst + j0 * k + k0 * w;
      const float *src = W + k0 * n + j0;
      for (int64_t p = 0; p < kc; ++p, src += n)
        for (int64_t s = 0; s < strips; ++s)
          std::copy(src + 16 * s, src + 16 * s + 16,
                    blk + (s * kc + p) * 16);
    }
  }
#else
  (void)W;
  (void)k;
  (void)n;
  (void)dst;
#endif
}

void linearRowsF(const float *x, int64_t m, int64_t k, int64_t n,
                 const float *W, const float *b, const float *res, bool gelu,
                 float *y, ThreadScratch<float> &ts, const float *packed) {
#if !defined(__AVX512F__) && defined(__FMA__)
  // HONE_LINEAR_PANELS=1: linearPanel's path at every shape (A/B runs and
  // the test that both paths give the same bits).
  if (n >= 256 && m <= kStripMaxRows && !std::getenv("HONE_LINEAR_PANELS")) {
    linearRowsStrips(x, m, k, n, W, packed, b, res, gelu, y, ts);
    return;
  }
#else
  (void)packed;
#endif
  const int64_t panels = (n + 63) / 64;
  // Fewer than four panels (a small model's d_model 64 outputs) are also cut
  // into row blocks of at least 32 rows, so that every core has work; each
  // block packs its own copy of the panel. A row's sums are the same
  // whichever block holds it, so this changes no bit.
  const int64_t rowBlocks =
      panels >= 4
          ? 1
          : std::max<int64_t>(
                1, std::min<int64_t>((4 + panels - 1) / panels, m / 32));
  const int64_t rb = (m + rowBlocks - 1) / rowBlocks;
  ts.prepare(kLinKc * 64 + rb * 64);
  const bool par = 2.0 * double(m) * double(n) * double(k) >= 2e6;
  const int64_t tasks = panels * rowBlocks;
  // Dynamic scheduling by hand: a thread takes its next task before it
  // runs the current one, so that it can prefetch that task's weights
  // (NextBlock). Which thread runs a task changes no bit.
  std::atomic<int64_t> counter{0};
#pragma omp parallel if (par && tasks > 1)
  {
    float *pack = ts.get();
    float *part = pack + kLinKc * 64;
    int64_t task = counter.fetch_add(1);
    while (task < tasks) {
      const int64_t after = counter.fetch_add(1);
      const int64_t jb = task / rowBlocks, r0 = task % rowBlocks * rb;
      const int64_t mr = std::min(rb, m - r0);
      const int64_t j0 = jb * 64, w = std::min<int64_t>(64, n - j0);
      for (int64_t k0 = 0; k0 < k; k0 += kLinKc) {
        const int64_t kc = std::min(kLinKc, k - k0);
        const float *a = x + r0 * k + k0, *bp = W + k0 * n + j0;
        // The block after this one: this panel's next k rows, else the
        // first rows of the next task's panel.
        NextBlock nb;
        if (k0 + kc < k) {
          nb.B = bp + kc * n;
          nb.rows = std::min(kLinKc, k - k0 - kc);
          nb.lines = (w + 15) / 16;
        } else if (after < tasks) {
          const int64_t j1 = after / rowBlocks * 64;
          nb.B = W + j1;
          nb.rows = std::min(kLinKc, k);
          nb.lines = (std::min<int64_t>(64, n - j1) + 15) / 16;
        }
        nb.ldb = n;
        NextBlock *np = nb.B ? &nb : nullptr;
        switch (w / 16) {
        case 4:
          linearPanel<4>(mr, kc, a, k, bp, n, part, k0 == 0, pack, np);
          break;
        case 3:
          linearPanel<3>(mr, kc, a, k, bp, n, part, k0 == 0, pack, np);
          break;
        case 2:
          linearPanel<2>(mr, kc, a, k, bp, n, part, k0 == 0, pack, np);
          break;
        default:
          linearPanel<1>(mr, kc, a, k, bp, n, part, k0 == 0, pack, np);
          break;
        }
      }
      finishRows(part, 64, mr, r0, j0, w, n, b, res, gelu, y);
      task = after;
    }
  }
}

} // namespace cpu
} // namespace hone
