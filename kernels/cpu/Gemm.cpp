// The CPU backend's GEMMs: fp32/fp64 through OpenBLAS, bf16 through oneDNN,
// bf16-stored weights (see kernels/cpu/Gemm.h).
#include "kernels/cpu/Gemm.h"
#include "kernels/cpu/CpuCommon.h"
#include "kernels/cpu/CpuKernels.h"

#include <dlfcn.h>
#include <malloc.h>
#include <omp.h>
#if HONE_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

namespace hone {

// --- bf16 GEMMs ------------------------------------------------------------
//
// oneDNN's bf16 GEMM (bf16 inputs, fp32 accumulation and output), resolved
// at run time: it is exported by libdnnl for its own tests (and used so by
// other frameworks) but not declared in its headers, so a libdnnl without it
// leaves the fp32 path in place instead of failing to load.
namespace {
using Bf16GemmFn = int (*)(char, char, int64_t, int64_t, int64_t, float,
                           const uint16_t *, int64_t, const uint16_t *, int64_t,
                           float, float *, int64_t);
std::atomic<bool> gBf16{false};
/// glibc's mmap threshold outside oneDNN's calls (setCpuMmapThreshold); 0:
/// left to glibc.
std::atomic<size_t> gMmapThreshold{0};
std::atomic<bool> gOneDnnHeap{true}; ///< HONE_CPU_ONEDNN_HEAP=off: false
std::mutex gHeapMu;
int gHeapDepth = 0; ///< oneDNN calls running, under gHeapMu
/// The threshold while oneDNN runs: above its packing buffers (0.5-2.4 MB
/// at d_model 512), within what glibc accepts (half its 64 MiB heap).
constexpr size_t kOneDnnMmapThreshold = size_t(32) << 20;

Bf16GemmFn bf16GemmFn() {
#if HONE_HAVE_DNNL
  static Bf16GemmFn f =
      Bf16GemmFn(dlsym(RTLD_DEFAULT, "dnnl_gemm_bf16bf16f32"));
  return f;
#else
  return nullptr;
#endif
}
} // namespace

std::string cpuBf16Unsupported() {
  const char *noIsa = "this CPU has neither AVX-512 BF16 nor AMX";
  // Turns the detection off (a CPU without it, in tests; a user's choice).
  if (const char *e = std::getenv("HONE_CPU_BF16"))
    if (std::strcmp(e, "off") == 0 || std::strcmp(e, "0") == 0)
      return std::string("disabled by HONE_CPU_BF16=") + e;
#if !HONE_HAVE_DNNL
  if (!__builtin_cpu_supports("avx512bf16") &&
      !__builtin_cpu_supports("amx-bf16"))
    return noIsa;
  return "this build has no oneDNN (install libdnnl-dev and rebuild)";
#else
  // What oneDNN will dispatch to on this CPU (AMX includes the bf16 bits).
  int isa = int(dnnl_get_effective_cpu_isa());
  if ((isa & dnnl_cpu_isa_avx512_core_bf16) != dnnl_cpu_isa_avx512_core_bf16)
    return noIsa;
  if (!bf16GemmFn())
    return "the installed oneDNN exports no dnnl_gemm_bf16bf16f32";
  return "";
#endif
}
void setCpuMmapThreshold(size_t bytes) {
  std::lock_guard<std::mutex> l(gHeapMu);
  gMmapThreshold = bytes;
  // Off: oneDNN's buffers mapped per call too (A/B measurements).
  if (const char *e = std::getenv("HONE_CPU_ONEDNN_HEAP"))
    gOneDnnHeap = !(std::strcmp(e, "off") == 0 || std::strcmp(e, "0") == 0);
  if (bytes && gHeapDepth == 0)
    mallopt(M_MMAP_THRESHOLD, int(bytes));
}

bool setCpuBf16Gemm(bool on) {
  gBf16 = on && cpuBf16Unsupported().empty();
  return gBf16;
}
bool cpuBf16Gemm() { return gBf16; }

namespace cpu {
namespace {

/// The rows x cols matrix at `src` (leading dimension ld) as packed bf16.
void packBf16(int64_t rows, int64_t cols, const float *src, int64_t ld,
              uint16_t *dst) {
#pragma omp parallel for schedule(                                             \
    static) if (rows * cols >= kParallelMin * 4 && !omp_in_parallel())
  for (int64_t i = 0; i < rows; ++i) {
    const float *s = src + i * ld;
    uint16_t *d = dst + i * cols;
#pragma omp simd
    for (int64_t j = 0; j < cols; ++j)
      d[j] = toBf16(s[j]);
  }
}

/// Around each call into oneDNN (one slice of a GEMM, on one thread):
/// - keeps oneDNN on the calling thread (it would otherwise split a GEMM
///   over all OpenMP threads, possibly along k, and results would depend on
///   the thread count);
/// - where the job fixed glibc's mmap threshold low (setCpuMmapThreshold),
///   raises it, and the trim threshold with it, while any oneDNN call runs:
///   oneDNN allocates its packing buffers on every call, and above the
///   threshold each was mapped, faulted in page by page (zeroed) and
///   unmapped again (with a TLB shootdown of the other cores): ~250 maps of
///   0.5-2.4 MB per d_model-512 SFT step, whose steps ran 1.05x (fp32) and
///   1.15x (bf16) faster without them on a Zen 4 (bench/RESULTS.md). Below
///   it they come from the thread's malloc heap, whose top is not trimmed
///   between calls, and are reused. Restored to the job's threshold (trim:
///   the same 128 KiB, glibc's default) when the last call returns.
struct OneDnnCall {
  int saved = omp_get_max_threads();
  bool heap = gOneDnnHeap.load(std::memory_order_relaxed) &&
              gMmapThreshold.load(std::memory_order_relaxed) != 0;
  OneDnnCall() {
    omp_set_num_threads(1);
    if (heap) {
      std::lock_guard<std::mutex> l(gHeapMu);
      if (gHeapDepth++ == 0) {
        mallopt(M_MMAP_THRESHOLD, int(kOneDnnMmapThreshold));
        mallopt(M_TRIM_THRESHOLD, int(kOneDnnMmapThreshold));
      }
    }
  }
  ~OneDnnCall() {
    if (heap) {
      std::lock_guard<std::mutex> l(gHeapMu);
      if (--gHeapDepth == 0) {
        mallopt(M_MMAP_THRESHOLD, int(gMmapThreshold.load()));
        mallopt(M_TRIM_THRESHOLD, int(gMmapThreshold.load()));
      }
    }
    omp_set_num_threads(saved);
  }
  OneDnnCall(const OneDnnCall &) = delete;
  OneDnnCall &operator=(const OneDnnCall &) = delete;
};

/// The one slicing loop of every GEMM here: gemm(m', n', A', B', C') on each
/// slice of `sl` (M rows or N columns, in multiples of 16), on the OpenMP
/// threads; a function of the shape only, so the thread count never matters.
/// Hooks (nullable) run on each slice of C by the thread that multiplies it:
/// before and after its GEMM.
template <typename TA, typename TB, typename TC, typename G>
void slicedGemm(bool ta, bool tb, int64_t m, int64_t n, const TA *A,
                int64_t lda, const TB *B, int64_t ldb, TC *C, int64_t ldc,
                GemmSlicing sl, G gemm, const SliceHooks *hooks = nullptr) {
  const SliceFn *pro = hooks ? hooks->pro : nullptr;
  const SliceFn *epi = hooks ? hooks->epi : nullptr;
  if (sl.cnt == 1) {
    if (pro)
      (*pro)(0, m, 0, n);
    gemm(m, n, A, B, C);
    if (epi)
      (*epi)(0, m, 0, n);
    return;
  }
  const int64_t e = sl.sliceM ? m : n;
  const int64_t chunk = ((e + sl.cnt - 1) / sl.cnt + 15) / 16 * 16;
  const int64_t cnt = (e + chunk - 1) / chunk;
  const bool sliceM = sl.sliceM;
#pragma omp parallel for schedule(static) if (!omp_in_parallel())
  for (int64_t c = 0; c < cnt; ++c) {
    int64_t s0 = c * chunk, len = std::min(chunk, e - s0);
    const int64_t r0 = sliceM ? s0 : 0, rows = sliceM ? len : m;
    const int64_t c0 = sliceM ? 0 : s0, cols = sliceM ? n : len;
    if (pro)
      (*pro)(r0, rows, c0, cols);
    if (sliceM)
      gemm(len, n, ta ? A + s0 : A + s0 * lda, B, C + s0 * ldc);
    else
      gemm(m, len, A, tb ? B + s0 * ldb : B + s0, C + s0);
    if (epi)
      (*epi)(r0, rows, c0, cols);
  }
}

/// A oneDNN GEMM entry point (dnnl_sgemm on float operands, the bf16 GEMM on
/// bf16 ones), sliced, each slice one OneDnnCall.
template <typename TA, typename F>
void dnnlGemm(F f, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
              float alpha, const TA *A, int64_t lda, const TA *B, int64_t ldb,
              float beta, float *C, int64_t ldc,
              const SliceHooks *hooks = nullptr) {
  const char tA = ta ? 'T' : 'N', tB = tb ? 'T' : 'N';
  slicedGemm(
      ta, tb, m, n, A, lda, B, ldb, C, ldc, gemmSlicing(m, n, k),
      [&](int64_t mm, int64_t nn, const TA *a, const TA *b, float *c) {
        OneDnnCall one;
        f(tA, tB, mm, nn, k, alpha, a, lda, b, ldb, beta, c, ldc);
      },
      hooks);
}

/// C = alpha op(A) op(B) + beta C with A and B rounded to bf16, products
/// summed in fp32.
void bf16Gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
              const float *A, int64_t lda, const float *B, int64_t ldb,
              float beta, float *C, int64_t ldc, const SliceHooks *hooks) {
  thread_local std::vector<uint16_t> ab, bb;
  int64_t ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
  if (int64_t(ab.size()) < ar * ac)
    ab.resize(size_t(ar * ac));
  if (int64_t(bb.size()) < br * bc)
    bb.resize(size_t(br * bc));
  packBf16(ar, ac, A, lda, ab.data());
  packBf16(br, bc, B, ldb, bb.data());
  dnnlGemm(bf16GemmFn(), ta, tb, m, n, k, alpha, ab.data(), ac, bb.data(), bc,
           beta, C, ldc, hooks);
}

/// Which library runs the fp32 GEMM of a slice, by measurement per core
/// (bench/RESULTS.md, "GEMM libraries on the model's GEMM shapes"):
/// - oneDNN's JIT with AVX-512 (Zen 4, Xeon): dnnl_sgemm for shapes with m
///   or k of at least 512 (training, LM-head and d_model-512 decoding GEMMs:
///   3-12 % faster there), OpenBLAS elsewhere (a few hundred rows over a
///   short k: a small model's decoding, where OpenBLAS was as fast);
/// - oneDNN's JIT with AVX2 only (Zen 2) runs op(A)^T op(B) products with
///   m and n of 256 or more (weight gradients: 36-45 GFLOP/s per core where
///   OpenBLAS ran 83-90) and products over k >= 512 of 256 rows or more
///   (0.8-1.0 of OpenBLAS's rate) slower than OpenBLAS: those run on
///   OpenBLAS there; a d_model-64 model's GEMMs (k or n of 64-256) stay on
///   oneDNN, 1.1-1.4x faster than OpenBLAS on them.
/// A function of the whole GEMM's shape and the CPU, decided before slicing,
/// so results stay independent of the thread count. HONE_CPU_SGEMM=openblas
/// (or onednn) forces one library for every shape (A/B measurements).
enum class SgemmLib { OpenBlas, OneDnn };
SgemmLib sgemmLib(bool ta, int64_t m, int64_t n, int64_t k) {
#if HONE_HAVE_DNNL
  static const int forced = [] {
    const char *e = std::getenv("HONE_CPU_SGEMM");
    if (!e)
      return 0;
    if (std::strcmp(e, "openblas") == 0)
      return 1;
    if (std::strcmp(e, "onednn") == 0)
      return 2;
    return 0;
  }();
  if (forced)
    return forced == 2 ? SgemmLib::OneDnn : SgemmLib::OpenBlas;
  static const bool avx512 = (int(dnnl_get_effective_cpu_isa()) &
                               int(dnnl_cpu_isa_avx512_core)) ==
                              int(dnnl_cpu_isa_avx512_core);
  if (!avx512 && (ta ? m >= 256 && n >= 256 : m >= 256 && k >= 512))
    return SgemmLib::OpenBlas;
  return std::max(m, k) >= 512 ? SgemmLib::OneDnn : SgemmLib::OpenBlas;
#else
  (void)ta;
  (void)m;
  (void)n;
  (void)k;
  return SgemmLib::OpenBlas;
#endif
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

void attnGemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
              const float *A, int64_t lda, const float *B, int64_t ldb,
              float beta, float *C, int64_t ldc) {
  // HONE_CPU_ATTENTION_BF16=off keeps them fp32 under bf16 compute (A/B
  // runs; a d_model-512 bf16 SFT step ran 1.04x slower so on a Zen 4).
  static const bool off = [] {
    const char *e = std::getenv("HONE_CPU_ATTENTION_BF16");
    return e && (std::strcmp(e, "off") == 0 || std::strcmp(e, "0") == 0);
  }();
  if (!off && gBf16.load(std::memory_order_relaxed)) {
    bf16Gemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, nullptr);
    return;
  }
  blasGemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}
void attnGemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha,
              const double *A, int64_t lda, const double *B, int64_t ldb,
              double beta, double *C, int64_t ldc) {
  blasGemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

template <typename T>
void parGemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha,
             const T *A, int64_t lda, const T *B, int64_t ldb, T beta, T *C,
             int64_t ldc, const SliceHooks *hooks) {
  if (m <= 0 || n <= 0)
    return;
  if (k <= 0) {
    if (hooks && hooks->pro)
      (*hooks->pro)(0, m, 0, n);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j)
        C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
    if (hooks && hooks->epi)
      (*hooks->epi)(0, m, 0, n);
    return;
  }
  if constexpr (std::is_same_v<T, float>)
    if (m >= kCpuBf16MinRows && gBf16.load(std::memory_order_relaxed)) {
      bf16Gemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, hooks);
      return;
    }
#if HONE_HAVE_DNNL
  if constexpr (std::is_same_v<T, float>)
    if (sgemmLib(ta, m, n, k) == SgemmLib::OneDnn) {
      dnnlGemm(dnnl_sgemm, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc,
               hooks);
      return;
    }
#endif
  slicedGemm(ta, tb, m, n, A, lda, B, ldb, C, ldc, gemmSlicing(m, n, k),
             [&](int64_t mm, int64_t nn, const T *a, const T *b, T *c) {
               blasGemm(ta, tb, mm, nn, k, alpha, a, lda, b, ldb, beta, c, ldc);
             },
             hooks);
}
template void parGemm<float>(bool, bool, int64_t, int64_t, int64_t, float,
                             const float *, int64_t, const float *, int64_t,
                             float, float *, int64_t, const SliceHooks *);
template void parGemm<double>(bool, bool, int64_t, int64_t, int64_t, double,
                              const double *, int64_t, const double *, int64_t,
                              double, double *, int64_t, const SliceHooks *);

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
                     int64_t ldc) {
  if (m <= 0 || n <= 0)
    return;
  if (k > 0 && m >= kCpuBf16MinRows && cpuBf16Gemm() && bf16GemmFn()) {
    // bf16 compute: A rounded to bf16 (packed, leading dimension = its
    // columns), B read in place.
    thread_local std::vector<uint16_t> ab;
    const int64_t ar = ta ? k : m, ac = ta ? m : k;
    if (int64_t(ab.size()) < ar * ac)
      ab.resize(size_t(ar * ac));
    packBf16(ar, ac, A, lda, ab.data());
    dnnlGemm(bf16GemmFn(), ta, tb, m, n, k, alpha, ab.data(), ac, B, ldb, beta,
             C, ldc);
    return;
  }
  if (k <= 0) { // C = beta C, as the fp32 GEMM does
    parGemm(ta, tb, m, n, k, alpha, A, lda, (const float *)nullptr, 1, beta, C,
            ldc);
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
      parGemm(ta, true, m, cols, k, alpha, A, lda, (const float *)w, k, beta,
              C + n0, ldc);
    } else { // B [k, n]: columns n0 .. n0+cols of every row
      for (int64_t r = 0; r < k; ++r)
        widenBf16(B + r * ldb + n0, w + r * cols, cols);
      parGemm(ta, false, m, cols, k, alpha, A, lda, (const float *)w, cols,
              beta, C + n0, ldc);
    }
  }
}

} // namespace cpu
} // namespace hone
