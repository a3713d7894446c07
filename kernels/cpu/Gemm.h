// The CPU backend's GEMMs (kernels/cpu/Gemm.cpp), internal to kernels/cpu/.
//
// parGemm cuts a GEMM into independent slices of M (or of N when M is
// small) as a function of the shape only (gemmSlicing), runs them on the
// OpenMP threads with single-threaded OpenBLAS (or oneDNN) on each slice, so
// results never depend on the thread count. With bf16 compute on
// (setCpuBf16Gemm, kernels/cpu/CpuKernels.h) float GEMMs of at least
// kCpuBf16MinRows rows round both operands to bf16 and call oneDNN's bf16
// GEMM (vdpbf16ps, fp32 accumulation).
//
// GEMMs whose B operand is a weight stored as bf16 bits (a frozen model kept
// in bf16: docs/runtime.md, "Frozen models in bf16") take one of two paths,
// chosen per call by cpuBf16Gemm():
// - bf16 compute on and at least kCpuBf16MinRows rows: A is rounded to bf16
//   and oneDNN's bf16 GEMM reads B where it lies, with no copy of the weight;
// - otherwise B is widened to fp32 a panel of columns at a time (at most
//   kWidenPanelElems floats of scratch per calling thread) and multiplied
//   with parGemm: the products of fp32 activations with the exact bf16
//   weight values, as an fp32 model holding those values computes them.
#pragma once

#include <cstdint>
#include <functional>

namespace hone::cpu {

/// How a GEMM is cut over threads: `cnt` slices of M (sliceM) or of N.
struct GemmSlicing {
  bool sliceM = true;
  int64_t cnt = 1;
};
GemmSlicing gemmSlicing(int64_t m, int64_t n, int64_t k);

/// Work on one slice of C: rows [r0, r0 + rows), columns [c0, c0 + cols).
using SliceFn = std::function<void(int64_t r0, int64_t rows, int64_t c0,
                                   int64_t cols)>;
/// A GEMM's prologue and epilogue (each nullable), run on every slice of C
/// by the thread that multiplies it, just before and just after the slice's
/// GEMM (while the slice is in that core's cache): the training forward
/// fills a slice with its bias before a GEMM with beta 1 and applies GELU
/// after it. The GEMM calls are parGemm's own (same library, same slices),
/// so C's bits are those of parGemm without hooks. When the GEMM is not
/// sliced (small shapes) the hooks see all of C from the calling thread.
struct SliceHooks {
  const SliceFn *pro = nullptr;
  const SliceFn *epi = nullptr;
};

/// The attention's score and value products (kernels/cpu/Attention.cpp,
/// one call per head and row block, on the calling thread): under bf16
/// compute (setCpuBf16Gemm) both inputs rounded to bf16 with fp32
/// accumulation at any row count (the dense layers' GEMMs from
/// kCpuBf16MinRows rows); else, and for double, OpenBLAS.
void attnGemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
              const float *A, int64_t lda, const float *B, int64_t ldb,
              float beta, float *C, int64_t ldc);
void attnGemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha,
              const double *A, int64_t lda, const double *B, int64_t ldb,
              double beta, double *C, int64_t ldc);

/// C[m,n] = alpha op(A) op(B) + beta C, row-major (instantiated for float
/// and double), with optional per-slice hooks.
template <typename T>
void parGemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha,
             const T *A, int64_t lda, const T *B, int64_t ldb, T beta, T *C,
             int64_t ldc, const SliceHooks *hooks = nullptr);

/// Scratch bound of the widening path, in floats per calling thread.
constexpr int64_t kWidenPanelElems = int64_t(1) << 20;

/// dst[i] = the float of bf16 bits src[i].
void widenBf16(const uint16_t *src, float *dst, int64_t n);

/// C[m,n] = alpha op(A) op(B) + beta C with B given as bf16 bits (row-major,
/// leading dimension ldb, transposed when tb).
void gemmBf16Weights(bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                     float alpha, const float *A, int64_t lda,
                     const uint16_t *B, int64_t ldb, float beta, float *C,
                     int64_t ldc);

/// A GEMM on a weight operand B of either storage (fp32/fp64, or bf16 bits
/// of a frozen model).
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
  gemmBf16Weights(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

} // namespace hone::cpu
