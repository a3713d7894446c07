// GEMMs with bf16-stored weights on the CPU (see Bf16Gemm.h).
#include "kernels/cpu/Bf16Gemm.h"
#include "kernels/cpu/CpuKernels.h"

#include <dlfcn.h>
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace hone::cpu {
namespace {

using DnnlBf16Gemm = int (*)(char, char, int64_t, int64_t, int64_t, float,
                             const uint16_t *, int64_t, const uint16_t *,
                             int64_t, float, float *, int64_t);

/// oneDNN's dnnl_gemm_bf16bf16f32, resolved like CpuKernels.cpp does (null
/// without oneDNN; cpuBf16Gemm() is then never on).
DnnlBf16Gemm dnnlBf16Gemm() {
#if HONE_HAVE_DNNL
  static DnnlBf16Gemm f =
      DnnlBf16Gemm(dlsym(RTLD_DEFAULT, "dnnl_gemm_bf16bf16f32"));
  return f;
#else
  return nullptr;
#endif
}

/// Round to nearest even; NaN stays NaN (quiet). As CpuKernels.cpp's.
inline uint16_t toBf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  return uint16_t((u & 0x7fffffffu) > 0x7f800000u ? (u >> 16) | 0x40u : r);
}

/// Keeps oneDNN on the calling thread (see CpuKernels.cpp).
struct OneOmpThread {
  int saved = omp_get_max_threads();
  OneOmpThread() { omp_set_num_threads(1); }
  ~OneOmpThread() { omp_set_num_threads(saved); }
};

/// bf16 compute: A rounded to bf16 (packed, leading dimension = its
/// columns), B read in place.
void dotPath(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
             const float *A, int64_t lda, const uint16_t *B, int64_t ldb,
             float beta, float *C, int64_t ldc) {
  thread_local std::vector<uint16_t> ab;
  const int64_t ar = ta ? k : m, ac = ta ? m : k;
  if (int64_t(ab.size()) < ar * ac)
    ab.resize(size_t(ar * ac));
  uint16_t *a = ab.data();
  for (int64_t i = 0; i < ar; ++i) {
    const float *s = A + i * lda;
    uint16_t *d = a + i * ac;
#pragma omp simd
    for (int64_t j = 0; j < ac; ++j)
      d[j] = toBf16(s[j]);
  }
  DnnlBf16Gemm f = dnnlBf16Gemm();
  const char tA = ta ? 'T' : 'N', tB = tb ? 'T' : 'N';
  GemmSlicing sl = gemmSlicing(m, n, k);
  if (sl.cnt == 1) {
    OneOmpThread one;
    f(tA, tB, m, n, k, alpha, a, ac, B, ldb, beta, C, ldc);
    return;
  }
  const int64_t e = sl.sliceM ? m : n;
  const int64_t chunk = ((e + sl.cnt - 1) / sl.cnt + 15) / 16 * 16;
  const int64_t cnt = (e + chunk - 1) / chunk;
  const bool sliceM = sl.sliceM;
#pragma omp parallel for schedule(static) if (!omp_in_parallel())
  for (int64_t c = 0; c < cnt; ++c) {
    OneOmpThread one;
    int64_t s0 = c * chunk, len = std::min(chunk, e - s0);
    if (sliceM)
      f(tA, tB, len, n, k, alpha, ta ? a + s0 : a + s0 * ac, ac, B, ldb, beta,
        C + s0 * ldc, ldc);
    else
      f(tA, tB, m, len, k, alpha, a, ac, tb ? B + s0 * ldb : B + s0, ldb, beta,
        C + s0, ldc);
  }
}

} // namespace

GemmSlicing gemmSlicing(int64_t m, int64_t n, int64_t k) {
  // Each slice repacks the shared operand, so M slices are large (two for
  // 1024 rows); N slices (few rows, decoding) are narrower for balance.
  auto sliceCount = [](int64_t e, int64_t target) {
    int64_t c = (e + target / 2) / target;
    if (c > 1 && (c & 1))
      ++c;
    return std::max<int64_t>(c, 1);
  };
  const double work = 2.0 * double(m) * double(n) * double(k);
  GemmSlicing s;
  s.sliceM = m >= 256;
  s.cnt = work < 2e6 ? 1 : sliceCount(s.sliceM ? m : n, s.sliceM ? 512 : 256);
  // Mid-sized GEMMs (a small model's training step: 512 tokens x 256) still
  // get two slices, one per core of a small machine; still a function of
  // the shape only.
  if (s.cnt == 1 && work >= 3.2e7) {
    if (m >= 128)
      s.sliceM = true, s.cnt = 2;
    else if (n >= 128)
      s.sliceM = false, s.cnt = 2;
  }
  return s;
}

void widenBf16(const uint16_t *src, float *dst, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u = uint32_t(src[i]) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    dst[i] = f;
  }
}

void gemmBf16Weights(bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                     float alpha, const float *A, int64_t lda,
                     const uint16_t *B, int64_t ldb, float beta, float *C,
                     int64_t ldc, SgemmFn sgemm) {
  if (m <= 0 || n <= 0)
    return;
  if (k > 0 && m >= kCpuBf16MinRows && cpuBf16Gemm() && dnnlBf16Gemm()) {
    dotPath(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  if (k <= 0) { // C = beta C, as the fp32 GEMM does
    sgemm(ta, tb, m, n, k, alpha, A, lda, nullptr, 1, beta, C, ldc);
    return;
  }
  // Widen panels of op(B)'s columns (a function of k only) and multiply.
  thread_local std::vector<float> wide;
  const int64_t panel = std::max<int64_t>(16, kWidenPanelElems / k / 16 * 16);
  const int64_t width = std::min(panel, n);
  if (int64_t(wide.size()) < width * k)
    wide.resize(size_t(width * k));
  float *w = wide.data();
  for (int64_t n0 = 0; n0 < n; n0 += panel) {
    const int64_t cols = std::min(panel, n - n0);
    if (tb) { // B [n, k]: rows n0 .. n0+cols
      for (int64_t j = 0; j < cols; ++j)
        widenBf16(B + (n0 + j) * ldb, w + j * k, k);
      sgemm(ta, true, m, cols, k, alpha, A, lda, w, k, beta, C + n0, ldc);
    } else { // B [k, n]: columns n0 .. n0+cols of every row
      for (int64_t r = 0; r < k; ++r)
        widenBf16(B + r * ldb + n0, w + r * cols, cols);
      sgemm(ta, false, m, cols, k, alpha, A, lda, w, cols, beta, C + n0, ldc);
    }
  }
}

} // namespace hone::cpu
