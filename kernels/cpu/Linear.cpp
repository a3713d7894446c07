// Decode dense layers of the CPU backend (Kernels::linearRows for float):
// a small-row fp32 GEMM with a fused epilogue.
//
// Decoding multiplies a few hundred rows by every weight matrix each step.
// OpenBLAS repacks the weights on every call, and bias, residual and GELU
// were separate passes over the output; here each thread takes 64-column
// panels of W, packs a panel while the first rows consume it (the later
// rows read the packed copy from L2), keeps 6 x 64 accumulators in
// registers, and finishes the panel in one epilogue. Each output element
// is summed over k in order, whatever the thread count.
#include "kernels/cpu/CpuOps.h"
#include "kernels/cpu/MathFns.h"

#include <omp.h>

#include <algorithm>
#include <type_traits>

namespace hone {
namespace cpu {
namespace {

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
#if !defined(__AVX512F__)
  // Without AVX-512 (16 vector registers of 8 floats: Zen 2, Haswell) a
  // 6 x 64 tile's 48 accumulator registers would spill: take the panel one
  // 16-column strip at a time (6 x 16 tiles, 12 registers), each strip
  // packed on its own. Every element is still summed over k in order.
  if constexpr (NV > 1) {
    for (int v = 0; v < NV; ++v)
      linearPanel<1>(m, kc, A, lda, B + 16 * v, ldb, part + 16 * v, init,
                     pack + v * kc * 16);
    return;
  }
  constexpr int MR = 6;
#else
  constexpr int MR = NV == 4 ? 6 : 8;
#endif
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

} // namespace

void linearRowsF(const float *x, int64_t m, int64_t k, int64_t n,
                 const float *W, const float *b, const float *res, bool gelu,
                 float *y, ThreadScratch<float> &ts) {
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
#pragma omp parallel if (par && panels * rowBlocks > 1)
  {
    float *pack = ts.get();
    float *part = pack + kLinKc * 64;
#pragma omp for schedule(dynamic, 1)
    for (int64_t task = 0; task < panels * rowBlocks; ++task) {
      const int64_t jb = task / rowBlocks, r0 = task % rowBlocks * rb;
      const int64_t mr = std::min(rb, m - r0);
      const int64_t j0 = jb * 64, w = std::min<int64_t>(64, n - j0);
      for (int64_t k0 = 0; k0 < k; k0 += kLinKc) {
        const int64_t kc = std::min(kLinKc, k - k0);
        const float *a = x + r0 * k + k0, *bp = W + k0 * n + j0;
        switch (w / 16) {
        case 4:
          linearPanel<4>(mr, kc, a, k, bp, n, part, k0 == 0, pack);
          break;
        case 3:
          linearPanel<3>(mr, kc, a, k, bp, n, part, k0 == 0, pack);
          break;
        case 2:
          linearPanel<2>(mr, kc, a, k, bp, n, part, k0 == 0, pack);
          break;
        default:
          linearPanel<1>(mr, kc, a, k, bp, n, part, k0 == 0, pack);
          break;
        }
      }
      // As the separate kernels round: (residual + b) + xW, then GELU.
      for (int64_t r = 0; r < mr; ++r) {
        const float *pr = part + r * 64;
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

} // namespace cpu
} // namespace hone
