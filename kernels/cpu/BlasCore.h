// OpenBLAS's kernels (its "core type") for the CPU at hand: which ones it
// loaded, which ones a job should run instead, and a check of a choice
// against a float64 reference. OpenBLAS picks its kernels once, when it is
// loaded, from its own list of CPU models: a CPU newer than the library
// (Zen 5 for Debian's 0.3.21) gets its AVX2 kernels although the CPU has
// AVX-512, at about half the rate (issue 15; bench/RESULTS.md). The job's
// start-up (runtime/abi/HoneRuntime.cpp) re-executes itself with
// OPENBLAS_CORETYPE set where that pays, then checks the kernels it got
// (docs/job.md, "OpenBLAS's kernels").
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace hone::cpu {

/// The instruction sets that decide OpenBLAS's x86 kernels.
struct BlasIsa {
  bool avx512 = false;     ///< F, CD, BW, DQ and VL, with the OS saving ZMM
  bool avx512bf16 = false; ///< AVX-512 BF16
};
/// This CPU's (CPUID and XCR0, through the compiler's runtime).
BlasIsa blasIsa();

/// The kernels OpenBLAS runs in this process (`openblas_get_corename`:
/// "Haswell", "SkylakeX", "Zen", ...), or "" where the BLAS linked is not
/// OpenBLAS.
std::string openBlasCore();
/// Whether this OpenBLAS chooses its kernels at load time (built with
/// DYNAMIC_ARCH, as Debian's is): only such a library reads
/// OPENBLAS_CORETYPE.
bool openBlasDynamic();

/// Whether the kernels of this OpenBLAS core type use AVX-512 for sgemm.
bool openBlasCoreUsesAvx512(std::string_view core);

/// The core type to load instead of `loaded` on a CPU with `isa`: the
/// AVX-512 kernels ("Cooperlake" where the CPU has AVX-512 BF16, else
/// "SkylakeX") when the CPU has AVX-512 and `loaded` are older kernels; ""
/// when `loaded` is already the best, unknown ("" or "unknown"), or the CPU
/// has no AVX-512.
std::string openBlasUpgrade(std::string_view loaded, const BlasIsa &isa);

/// A row-major C = op(A) op(B) in float (alpha 1, beta 0).
using SgemmFn = std::function<void(
    bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float *A,
    int64_t lda, const float *B, int64_t ldb, float *C, int64_t ldc)>;
/// Runs `gemm` on a few shapes (every transpose, edges that are not
/// multiples of any vector width, k past a blocking size) against a float64
/// reference: "" when every element is within 1e-5 of sum_p |a_ip b_pj|,
/// else the first shape and element that is not.
std::string checkSgemm(const SgemmFn &gemm);
/// checkSgemm on the loaded OpenBLAS's cblas_sgemm.
std::string checkOpenBlasSgemm();

} // namespace hone::cpu
