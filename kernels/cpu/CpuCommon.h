// What the CPU kernel families (kernels/cpu/*.cpp) share: the parallel
// threshold, the BLAS calls, bf16 rounding, per-thread scratch and the
// row-blocked reduction (as kernels/cuda/CudaCommon.cuh is for kernels/cuda/).
// Internal to kernels/cpu/.
#pragma once

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

extern "C" void openblas_set_num_threads(int);

namespace hone {
namespace cpu {

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

/// Sixteen floats as the kernels' register unit (loaded and stored through
/// reinterpret_cast at any 4-byte alignment). With AVX-512 a native vector;
/// without it (AVX2: Zen 2, Haswell) two 8-float halves: GCC keeps a
/// 64-byte generic vector there as a stack object and moves it through
/// memory on every operation (decode's linearRows ran at 3 % of the FMA
/// peak on Zen 2). Either way each lane gets the same fused multiply-add.
#if defined(__AVX512F__)
typedef float v16f __attribute__((vector_size(64), aligned(4)));
#else
typedef float v8f __attribute__((vector_size(32), aligned(4)));
struct v16f {
  v8f lo, hi;
};
inline v16f operator*(float a, v16f b) { return {a * b.lo, a * b.hi}; }
inline v16f &operator+=(v16f &a, v16f b) {
  a.lo += b.lo;
  a.hi += b.hi;
  return a;
}
#endif

/// One scratch buffer per OpenMP thread, owned by a CpuKernels object (call
/// prepare outside the parallel region first).
template <typename T> struct ThreadScratch {
  std::vector<std::vector<T>> bufs;
  void prepare(int64_t n) {
    size_t t = size_t(std::max(omp_get_max_threads(), 1));
    if (bufs.size() < t)
      bufs.resize(t);
    for (auto &v : bufs)
      if (int64_t(v.size()) < n)
        v.resize(size_t(n));
  }
  T *get() { return bufs[size_t(omp_get_thread_num())].data(); }
};

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

constexpr double kGeluK = 0.7978845608028654; // sqrt(2/pi)

} // namespace cpu
} // namespace hone
