// bf16 GEMMs on the CPU (kernels/cpu, hardware.precision bf16): inputs
// rounded to bf16, products summed in fp32. Skipped where this CPU has
// neither AVX-512 BF16 nor AMX (or no oneDNN). A training step with them is
// checked in test/unit/model/Bf16Test.cpp.
//
// Tolerances (docs/job.md, "CPU precision"): a bf16 GEMM element is within
// 2^-7 * sum_p |a_ip b_pj| of the exact product of the fp32 inputs (each
// input rounds by at most 2^-9 relative; 2x margin for the fp32 sums), and
// within 1e-5 of that sum of the exact product of the bf16-rounded inputs.
#include "kernels/cpu/CpuKernels.h"
#include "test/unit/model/ModelTestUtil.h" // randomVector, Bf16Scope

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

using namespace hone;
using namespace hone::test;

namespace {

double roundBf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
  float r;
  std::memcpy(&r, &u, 4);
  return double(r);
}

} // namespace

TEST(Bf16, UnsupportedCpuSaysWhy) {
  // Either bf16 is available or the reason names what is missing; turning it
  // on reports the same answer.
  std::string why = cpuBf16Unsupported();
  EXPECT_EQ(setCpuBf16Gemm(true), why.empty());
  EXPECT_EQ(cpuBf16Gemm(), why.empty());
  setCpuBf16Gemm(false);
  EXPECT_FALSE(cpuBf16Gemm());
  if (!why.empty()) {
    EXPECT_TRUE(why.find("BF16") != std::string::npos ||
                why.find("oneDNN") != std::string::npos)
        << why;
  }
}

/// Every transpose, alpha/beta, a leading dimension wider than the matrix,
/// shapes run whole and sliced over M or N; one and two threads agree bit
/// for bit.
TEST(Bf16, GemmMatchesReferences) {
  SKIP_WITHOUT_BF16();
  auto k = makeCpuKernels<float>();
  Bf16Scope scope;
  struct S {
    int64_t m, n, k;
  };
  for (S s : {S{5, 7, 3}, S{64, 96, 80}, S{300, 260, 200}, S{40, 700, 600},
              S{256, 40, 64}}) {
    for (int mode = 0; mode < 4; ++mode) {
      const bool ta = mode & 1, tb = mode & 2;
      const int64_t ar = ta ? s.k : s.m, ac = ta ? s.m : s.k;
      const int64_t br = tb ? s.n : s.k, bc = tb ? s.k : s.n;
      const int64_t lda = ac + 3, ldb = bc + 5, ldc = s.n + 2;
      auto A = randomVector<float>(size_t(ar * lda), 41, uint32_t(mode));
      auto B = randomVector<float>(size_t(br * ldb), 42, uint32_t(mode));
      auto C0 = randomVector<float>(size_t(s.m * ldc), 43, uint32_t(mode));
      const float alpha = 0.75f, beta = 0.5f;
      std::vector<float> C1 = C0, C2 = C0;
      setCpuThreads(1);
      k->gemm(ta, tb, s.m, s.n, s.k, alpha, A.data(), lda, B.data(), ldb,
              beta, C1.data(), ldc);
      setCpuThreads(2);
      k->gemm(ta, tb, s.m, s.n, s.k, alpha, A.data(), lda, B.data(), ldb,
              beta, C2.data(), ldc);
      EXPECT_EQ(std::memcmp(C1.data(), C2.data(), C1.size() * 4), 0)
          << s.m << "x" << s.n << "x" << s.k << " mode " << mode;
      double worstFp32 = 0, worstBf16 = 0, seenErr = 0;
      for (int64_t i = 0; i < s.m; ++i)
        for (int64_t j = 0; j < s.n; ++j) {
          double exact = 0, rounded = 0, mag = 0;
          for (int64_t p = 0; p < s.k; ++p) {
            float a = ta ? A[size_t(p * lda + i)] : A[size_t(i * lda + p)];
            float b = tb ? B[size_t(j * ldb + p)] : B[size_t(p * ldb + j)];
            exact += double(a) * double(b);
            rounded += roundBf16(a) * roundBf16(b);
            mag += std::fabs(double(a) * double(b));
          }
          const double c0 = double(beta) * double(C0[size_t(i * ldc + j)]);
          const double got = double(C1[size_t(i * ldc + j)]);
          const double scale = std::fabs(alpha) * mag + 1e-30;
          const double eExact = std::fabs(got - (alpha * exact + c0)) / scale;
          const double eRound =
              std::fabs(got - (alpha * rounded + c0)) / scale;
          worstFp32 = std::max(worstFp32, eExact);
          worstBf16 = std::max(worstBf16, eRound);
          seenErr = std::max(seenErr, eExact);
        }
      if (s.m < kCpuBf16MinRows) {
        // Fewer rows than pay for packing the weights: fp32 (docs/job.md).
        EXPECT_LE(worstFp32, 1e-5) << s.m << "x" << s.n << "x" << s.k;
        continue;
      }
      EXPECT_LE(worstFp32, 0x1p-7) << s.m << "x" << s.n << "x" << s.k;
      EXPECT_LE(worstBf16, 1e-5) << s.m << "x" << s.n << "x" << s.k;
      // The inputs really were rounded (an fp32 GEMM would be ~1e-7 here).
      EXPECT_GT(seenErr, 1e-4) << s.m << "x" << s.n << "x" << s.k;
    }
  }
}
