// GEMMs whose B operand is a weight stored as bf16 bits (a frozen model kept
// in bf16: docs/runtime.md, "Frozen models in bf16"), for the CPU backend.
//
// Two paths, chosen per call by cpuBf16Gemm() (kernels/cpu/CpuKernels.h):
// - bf16 compute on (hardware.precision bf16 on a CPU with AVX-512 BF16 or
//   AMX) and at least kCpuBf16MinRows rows: A is rounded to bf16 and oneDNN's
//   bf16 GEMM (vdpbf16ps, fp32 accumulation) reads B where it lies, with no
//   copy of the weight;
// - otherwise B is widened to fp32 a panel of columns at a time (at most
//   kWidenPanelElems floats of scratch per calling thread) and multiplied
//   with the fp32 GEMM: the products of fp32 activations with the exact
//   bf16 weight values, as an fp32 model holding those values computes them.
// Both slice the work as a function of the shape only (gemmSlicing), so
// results never depend on the thread count.
#pragma once

#include <cstdint>

namespace hone::cpu {

/// How a GEMM is cut over threads: `cnt` slices of M (sliceM) or of N.
struct GemmSlicing {
  bool sliceM = true;
  int64_t cnt = 1;
};
GemmSlicing gemmSlicing(int64_t m, int64_t n, int64_t k);

/// Scratch bound of the widening path, in floats per calling thread.
constexpr int64_t kWidenPanelElems = int64_t(1) << 20;

/// dst[i] = the float of bf16 bits src[i].
void widenBf16(const uint16_t *src, float *dst, int64_t n);

/// The fp32 GEMM the widening path calls (parGemm in CpuKernels.cpp).
using SgemmFn = void (*)(bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                         float alpha, const float *A, int64_t lda,
                         const float *B, int64_t ldb, float beta, float *C,
                         int64_t ldc);

/// C[m,n] = alpha op(A) op(B) + beta C with B given as bf16 bits (row-major,
/// leading dimension ldb, transposed when tb).
void gemmBf16Weights(bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                     float alpha, const float *A, int64_t lda,
                     const uint16_t *B, int64_t ldb, float beta, float *C,
                     int64_t ldc, SgemmFn sgemm);

} // namespace hone::cpu
