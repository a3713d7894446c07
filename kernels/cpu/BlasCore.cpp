// OpenBLAS's kernels for the CPU at hand (kernels/cpu/BlasCore.h).
#include "kernels/cpu/BlasCore.h"

#include <cblas.h>
#include <dlfcn.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <strings.h>
#include <vector>

namespace hone::cpu {

BlasIsa blasIsa() {
  BlasIsa isa;
  // libgcc's CPUID reading reports AVX-512 only where XCR0 says the OS
  // saves the ZMM state.
  isa.avx512 =
      __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
      __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  isa.avx512bf16 = isa.avx512 && __builtin_cpu_supports("avx512bf16");
  return isa;
}

// Looked up, not linked: BLAS::BLAS may be another library (BLIS, the
// reference BLAS) that has no such functions.
std::string openBlasCore() {
  using Fn = char *(*)();
  static Fn f = Fn(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  const char *s = f ? f() : nullptr;
  return s ? s : "";
}

bool openBlasDynamic() {
  using Fn = char *(*)();
  static Fn f = Fn(dlsym(RTLD_DEFAULT, "openblas_get_config"));
  const char *s = f ? f() : nullptr;
  return s && std::strstr(s, "DYNAMIC_ARCH");
}

bool openBlasCoreUsesAvx512(std::string_view core) {
  for (const char *c : {"SkylakeX", "Cooperlake", "SapphireRapids"})
    if (core.size() == std::strlen(c) &&
        strncasecmp(core.data(), c, core.size()) == 0)
      return true;
  return false;
}

std::string openBlasUpgrade(std::string_view loaded, const BlasIsa &isa) {
  if (!isa.avx512 || loaded.empty() || loaded == "unknown" ||
      openBlasCoreUsesAvx512(loaded))
    return "";
  return isa.avx512bf16 ? "Cooperlake" : "SkylakeX";
}

std::string checkSgemm(const SgemmFn &gemm) {
  struct Shape {
    bool ta, tb;
    int64_t m, n, k;
  };
  // Edges off every vector width and register block; k = 389 crosses
  // OpenBLAS's and oneDNN's k blocking on some kernels (256, 384).
  const Shape shapes[] = {
      {false, false, 67, 45, 131}, {true, false, 33, 70, 64},
      {false, true, 129, 97, 389}, {true, true, 5, 301, 17},
      {false, false, 1, 1, 1},     {false, false, 200, 3, 9}};
  uint64_t state = 0x9e3779b97f4a7c15ull;
  auto next = [&state] { // xorshift64*, uniform in [-1, 1)
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return float(double((state * 2685821657736338717ull) >> 40) /
                     double(1ull << 23) -
                 1.0);
  };
  for (const Shape &s : shapes) {
    const int64_t ar = s.ta ? s.k : s.m, ac = s.ta ? s.m : s.k;
    const int64_t br = s.tb ? s.n : s.k, bc = s.tb ? s.k : s.n;
    std::vector<float> a(size_t(ar * ac)), b(size_t(br * bc));
    for (float &x : a)
      x = next();
    for (float &x : b)
      x = next();
    // Filled with NaN: a kernel that skips an element fails the check.
    std::vector<float> c(size_t(s.m * s.n), std::nanf(""));
    gemm(s.ta, s.tb, s.m, s.n, s.k, a.data(), ac, b.data(), bc, c.data(), s.n);
    for (int64_t i = 0; i < s.m; ++i)
      for (int64_t j = 0; j < s.n; ++j) {
        double ref = 0, mag = 0;
        for (int64_t p = 0; p < s.k; ++p) {
          double x = s.ta ? a[size_t(p * ac + i)] : a[size_t(i * ac + p)];
          double y = s.tb ? b[size_t(j * bc + p)] : b[size_t(p * bc + j)];
          ref += x * y;
          mag += std::fabs(x * y);
        }
        double got = c[size_t(i * s.n + j)];
        if (!(std::fabs(got - ref) <= 1e-5 * mag + 1e-30)) {
          char buf[256];
          std::snprintf(buf, sizeof buf,
                        "sgemm %c%c %lldx%lldx%lld: C[%lld,%lld] = %.9g, "
                        "float64 reference %.9g",
                        s.ta ? 'T' : 'N', s.tb ? 'T' : 'N', (long long)s.m,
                        (long long)s.n, (long long)s.k, (long long)i,
                        (long long)j, got, ref);
          return buf;
        }
      }
  }
  return "";
}

std::string checkOpenBlasSgemm() {
  return checkSgemm([](bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                       const float *A, int64_t lda, const float *B, int64_t ldb,
                       float *C, int64_t ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
                tb ? CblasTrans : CblasNoTrans, int(m), int(n), int(k), 1.f, A,
                int(lda), B, int(ldb), 0.f, C, int(ldc));
  });
}

} // namespace hone::cpu
