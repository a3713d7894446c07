// OpenBLAS's kernels for the CPU at hand (kernels/cpu/BlasCore.h): which
// core type a job forces, and the float64 check of a GEMM that decides
// whether forced kernels are kept. The re-execution itself is covered by
// test/e2e/openblas_core.py.
#include "kernels/cpu/BlasCore.h"

#include <gtest/gtest.h>

#include <cblas.h>

#include <cstring>
#include <string>

using namespace hone::cpu;

namespace {

void referenceLike(bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                   const float *A, int64_t lda, const float *B, int64_t ldb,
                   float *C, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
              tb ? CblasTrans : CblasNoTrans, int(m), int(n), int(k), 1.f, A,
              int(lda), B, int(ldb), 0.f, C, int(ldc));
}

TEST(BlasCore, UpgradesOlderKernelsOnlyWhereTheCpuHasAvx512) {
  const BlasIsa none, avx512{true, false}, bf16{true, true};
  // Zen 5 with OpenBLAS 0.3.21: detected as an AVX2 core.
  EXPECT_EQ(openBlasUpgrade("Haswell", bf16), "Cooperlake");
  EXPECT_EQ(openBlasUpgrade("Zen", bf16), "Cooperlake");
  EXPECT_EQ(openBlasUpgrade("Haswell", avx512), "SkylakeX");
  EXPECT_EQ(openBlasUpgrade("Sandybridge", avx512), "SkylakeX");
  // Already AVX-512 kernels: kept, whatever the spelling.
  EXPECT_EQ(openBlasUpgrade("SkylakeX", bf16), "");
  EXPECT_EQ(openBlasUpgrade("skylakex", bf16), "");
  EXPECT_EQ(openBlasUpgrade("Cooperlake", avx512), "");
  EXPECT_EQ(openBlasUpgrade("SapphireRapids", bf16), "");
  // No AVX-512 (Zen 2, Haswell): OpenBLAS's choice is the best there is.
  EXPECT_EQ(openBlasUpgrade("Haswell", none), "");
  EXPECT_EQ(openBlasUpgrade("Zen", none), "");
  // Not OpenBLAS, or a core it cannot name.
  EXPECT_EQ(openBlasUpgrade("", bf16), "");
  EXPECT_EQ(openBlasUpgrade("unknown", bf16), "");
}

TEST(BlasCore, LoadedLibraryIsOpenBlasAndPassesItsOwnCheck) {
  // The build links Debian's OpenBLAS (DYNAMIC_ARCH); a BLAS without
  // openblas_get_corename would leave the job's kernels alone.
  std::string core = openBlasCore();
  ASSERT_FALSE(core.empty());
  EXPECT_TRUE(openBlasDynamic());
  EXPECT_EQ(checkOpenBlasSgemm(), "") << core;
  // The CPU's own bits agree with what OpenBLAS chose: never an upgrade to
  // AVX-512 kernels on a CPU without AVX-512.
  if (!blasIsa().avx512) {
    EXPECT_FALSE(openBlasCoreUsesAvx512(core)) << core;
  }
}

TEST(BlasCore, CheckFindsWrongKernels) {
  EXPECT_EQ(checkSgemm(referenceLike), "");
  // A kernel that drops the last k term (a blocking bug).
  std::string why = checkSgemm(
      [](bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float *A,
         int64_t lda, const float *B, int64_t ldb, float *C, int64_t ldc) {
        referenceLike(ta, tb, m, n, k > 1 ? k - 1 : k, A, lda, B, ldb, C, ldc);
      });
  EXPECT_NE(why, "");
  EXPECT_NE(why.find("sgemm NN 67x45x131"), std::string::npos) << why;
  // One that skips the last column of C (left NaN).
  why = checkSgemm([](bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                      const float *A, int64_t lda, const float *B, int64_t ldb,
                      float *C, int64_t ldc) {
    referenceLike(ta, tb, m, n > 1 ? n - 1 : n, k, A, lda, B, ldb, C, ldc);
  });
  EXPECT_NE(why.find("C[0,44] = nan"), std::string::npos) << why;
  // One off by 1e-3 relative (too little precision somewhere).
  why = checkSgemm([](bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                      const float *A, int64_t lda, const float *B, int64_t ldb,
                      float *C, int64_t ldc) {
    referenceLike(ta, tb, m, n, k, A, lda, B, ldb, C, ldc);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j)
        C[i * ldc + j] *= 1.001f;
  });
  EXPECT_NE(why, "");
}

} // namespace
