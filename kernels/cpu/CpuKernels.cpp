// The CPU backend's Kernels<T> object, its memory, BLAS-1, embedding,
// normalisation, activation, RoPE and optimizer kernels; the other families
// live beside it (Gemm.cpp, Attention.cpp, Linear.cpp, LmHead.cpp: CpuOps.h)
// as kernels/cuda/ is split. Parallelism is over independent rows (or column
// blocks for reductions over rows), never over a reduction, so results do
// not depend on the number of threads.
#include "kernels/cpu/CpuKernels.h"
#include "kernels/cpu/LmHeadScratch.h"
#include "kernels/cpu/CpuCommon.h"
#include "kernels/cpu/CpuOps.h"
#include "kernels/cpu/Gemm.h"
#include "kernels/cpu/MathFns.h"
#include "runtime/base/HugePages.h"

#include <omp.h>
#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace hone {

// Per thread, like OpenMP's own thread count (nthreads-var is a per-thread
// setting): each lane thread sets its share of the cores
// (runtime/ops/Lanes.cpp) while the others run, so one process-wide count
// would be written by several threads at once and read back wrong.
static thread_local int tThreads = 0;

// OpenBLAS runs single-threaded inside our OpenMP threads: two thread pools
// spinning against each other on the same cores cost more than they gain.
void setCpuThreads(int n) {
  tThreads = n > 0 ? n : 1;
  omp_set_num_threads(tThreads);
  openblas_set_num_threads(1);
}
int cpuThreads() { return tThreads ? tThreads : omp_get_max_threads(); }

namespace cpu {

/// f(r) for r < rows: on the calling thread inside a parallel region (a
/// GEMM slice's hooks), else over the OpenMP threads when the work is big
/// (an unsliced GEMM's hooks see all of C). Rows are independent.
template <typename F> inline void forRows(int64_t rows, int64_t cols, F f) {
#pragma omp parallel for schedule(static) if (!omp_in_parallel() &&            \
                                                  rows * cols >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r)
    f(r);
}
namespace {

// --- large buffers on transparent huge pages ----------------------------------
//
// Buffers of at least kBigAlloc bytes (activations, KV caches, weights) are
// mapped on their own, 2 MiB-aligned, with MADV_HUGEPAGE: a buffer the plan
// frees after each op and allocates again (a frozen model's activations
// under release_activations: 96 MiB per GRPO step for the README model) is
// populated 2 MiB at a time instead of faulted in 4 KiB at a time (perf: a
// fifth of that job's CPU time was page faults). Fresh mappings read as
// zero. Where the kernel ignores the advice this is an ordinary mapping.
// HONE_CPU_HUGEPAGES=off keeps every buffer on malloc (A/B measurements).
// The sizes and the switch: runtime/base/HugePages.h (the job's arena
// follows the same policy).
constexpr size_t kBigAlloc = kBigBufferBytes, kHuge = kHugePageBytes;
std::mutex gBigMu;
std::unordered_map<void *, std::pair<void *, size_t>> gBig; // ptr -> map

void *bigAlloc(size_t bytes) {
  if (bytes < kBigAlloc || !hugePagesOn())
    return nullptr;
  const size_t len = (bytes + kHuge - 1) / kHuge * kHuge + kHuge;
  void *m = mmap(nullptr, len, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED)
    return nullptr; // malloc may still find it
  char *p = reinterpret_cast<char *>(
      (reinterpret_cast<uintptr_t>(m) + kHuge - 1) / kHuge * kHuge);
  const size_t used = (bytes + kHuge - 1) / kHuge * kHuge;
  madvise(p, used, MADV_HUGEPAGE);
  // Resident from the start, as malloc + memset made it (the memory plan
  // and its checks count allocated buffers as resident): populated in one
  // call, in huge pages where the kernel has them; a kernel without
  // MADV_POPULATE_WRITE (before Linux 5.14) gets the memset.
  if (madvise(p, used, kMadvPopulateWrite) != 0)
    std::memset(p, 0, bytes);
  std::lock_guard<std::mutex> g(gBigMu);
  gBig[p] = {m, len};
  return p;
}

bool bigFree(void *p) {
  if (!p)
    return true;
  std::pair<void *, size_t> m;
  {
    std::lock_guard<std::mutex> g(gBigMu);
    auto it = gBig.find(p);
    if (it == gBig.end())
      return false;
    m = it->second;
    gBig.erase(it);
  }
  munmap(m.first, m.second);
  return true;
}

/// Not thread-safe: one CpuKernels object per concurrently running lane.
template <typename T> class CpuKernels final : public Kernels<T> {
  LmScratch<T> scratch_; // LM head logits of one chunk
  std::shared_ptr<void> lmBlock_; // holds scratch_.ext
  ThreadScratch<T> threadScratch_;
  std::vector<int64_t> runStarts_, runShared_; // decode attention's runs

public:
  CpuKernels() { openblas_set_num_threads(1); }
  /// setCpuLmHeadScratch: the plan's block for the LM head's logits.
  void setLmHeadScratch(std::shared_ptr<void> block, int64_t elems) {
    lmBlock_ = std::move(block);
    scratch_.ext = lmBlock_ && elems > 0 ? static_cast<T *>(lmBlock_.get())
                                         : nullptr;
    scratch_.extElems = scratch_.ext ? elems : 0;
  }
  Device device() const override { return Device::CPU; }
  const char *name() const override { return "cpu"; }

  void *allocBytes(size_t bytes) override {
    if (void *p = bigAlloc(bytes))
      return p;
    size_t r = (bytes + 63) / 64 * 64;
    if (!r)
      r = 64;
    void *p = std::aligned_alloc(64, r);
    if (p)
      std::memset(p, 0, r);
    return p;
  }
  void freeBytes(void *p) override {
    if (!bigFree(p))
      std::free(p);
  }
  void copyToDevice(void *d, const void *s, size_t n) override {
    if (n)
      std::memcpy(d, s, n);
  }
  void copyToHost(void *d, const void *s, size_t n) override {
    if (n)
      std::memcpy(d, s, n);
  }
  void copy(T *d, const T *s, int64_t n) override {
    if (n > 0)
      std::memcpy(d, s, size_t(n) * sizeof(T));
  }
  void fill(T *x, int64_t n, T v) override {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin * 4)
    for (int64_t i = 0; i < n; ++i)
      x[i] = v;
  }
  void synchronize() override {}

  void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha,
            const T *A, int64_t lda, const T *B, int64_t ldb, T beta, T *C,
            int64_t ldc) override {
    parGemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
  }

  void broadcastRows(T *y, const T *b, int64_t rows, int64_t cols) override {
#pragma omp parallel for schedule(static) if (rows * cols >= kParallelMin)
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(y + r * cols, b, size_t(cols) * sizeof(T));
  }

  void addRows(T *y, const T *b, int64_t rows, int64_t cols) override {
#pragma omp parallel for schedule(static) if (rows * cols >= kParallelMin)
    for (int64_t r = 0; r < rows; ++r) {
      T *yr = y + r * cols;
#pragma omp simd
      for (int64_t c = 0; c < cols; ++c)
        yr[c] += b[c];
    }
  }

  void sumRows(const T *dy, int64_t rows, int64_t cols, T *db) override {
    reduceRows<T>(rows, cols, db,
                  [&](int64_t r, int64_t c0, int64_t c1, T *acc) {
                    const T *row = dy + r * cols;
#pragma omp simd
                    for (int64_t c = c0; c < c1; ++c)
                      acc[c - c0] += row[c];
                  });
  }

  void axpy(int64_t n, T alpha, const T *x, T *y) override {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin * 4)
    for (int64_t i = 0; i < n; ++i)
      y[i] += alpha * x[i];
  }
  void scale(T *x, int64_t n, T alpha) override {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin * 4)
    for (int64_t i = 0; i < n; ++i)
      x[i] *= alpha;
  }
  double sumSquares(const T *x, int64_t n) override {
    // Fixed blocks summed in order: independent of the thread count.
    const int64_t bs = 1 << 14;
    int64_t nb = (n + bs - 1) / bs;
    std::vector<double> part(size_t(nb), 0.0);
#pragma omp parallel for schedule(static) if (n >= kParallelMin * 4)
    for (int64_t b = 0; b < nb; ++b) {
      int64_t i0 = b * bs, i1 = std::min(n, i0 + bs);
      double s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t i = i0; i < i1; ++i)
        s += double(x[i]) * double(x[i]);
      part[size_t(b)] = s;
    }
    double s = 0;
    for (double p : part)
      s += p;
    return s;
  }

  void embeddingFwd(const int32_t *tokens, const int32_t *positions,
                    int64_t rows, int64_t d, const T *wte, const T *wpe,
                    T *x) override {
#pragma omp parallel for schedule(static) if (rows * d >= kParallelMin)
    for (int64_t r = 0; r < rows; ++r) {
      const T *e = wte + int64_t(tokens[r]) * d;
      T *o = x + r * d;
      if (wpe) {
        const T *p = wpe + int64_t(positions[r]) * d;
#pragma omp simd
        for (int64_t c = 0; c < d; ++c)
          o[c] = e[c] + p[c];
      } else {
        std::memcpy(o, e, size_t(d) * sizeof(T));
      }
    }
  }

  void embeddingBwd(const int32_t *tokens, const int32_t *positions,
                    int64_t rows, int64_t d, const T *dx, T *dwte,
                    T *dwpe) override {
    const int64_t cb = 64;
    int64_t nb = (d + cb - 1) / cb;
#pragma omp parallel for schedule(static) if (rows * d >= kParallelMin)
    for (int64_t b = 0; b < nb; ++b) {
      int64_t c0 = b * cb, c1 = std::min(d, c0 + cb);
      for (int64_t r = 0; r < rows; ++r) {
        const T *g = dx + r * d;
        T *e = dwte + int64_t(tokens[r]) * d;
#pragma omp simd
        for (int64_t c = c0; c < c1; ++c)
          e[c] += g[c];
        if (dwpe) {
          T *p = dwpe + int64_t(positions[r]) * d;
#pragma omp simd
          for (int64_t c = c0; c < c1; ++c)
            p[c] += g[c];
        }
      }
    }
  }

  void layerNormFwd(const T *x, const T *gamma, const T *beta, int64_t rows,
                    int64_t cols, double eps, T *y, T *mean, T *rstd) override {
#pragma omp parallel for schedule(static) if (rows * cols >= kParallelMin)
    for (int64_t r = 0; r < rows; ++r) {
      const T *xr = x + r * cols;
      T s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t c = 0; c < cols; ++c)
        s += xr[c];
      T mu = s / T(cols);
      T v = 0;
#pragma omp simd reduction(+ : v)
      for (int64_t c = 0; c < cols; ++c)
        v += (xr[c] - mu) * (xr[c] - mu);
      T rs = T(1) / std::sqrt(v / T(cols) + T(eps));
      T *yr = y + r * cols;
#pragma omp simd
      for (int64_t c = 0; c < cols; ++c)
        yr[c] = (xr[c] - mu) * rs * gamma[c] + beta[c];
      if (mean)
        mean[r] = mu;
      if (rstd)
        rstd[r] = rs;
    }
  }

  void layerNormBwd(const T *dy, const T *x, const T *gamma, const T *mean,
                    const T *rstd, int64_t rows, int64_t cols, T *dx, T *dgamma,
                    T *dbeta) override {
#pragma omp parallel for schedule(static) if (rows * cols >= kParallelMin)
    for (int64_t r = 0; r < rows; ++r) {
      const T *xr = x + r * cols, *g = dy + r * cols;
      T mu = mean[r], rs = rstd[r];
      T a = 0, b = 0; // mean(dxhat), mean(dxhat * xhat)
#pragma omp simd reduction(+ : a, b)
      for (int64_t c = 0; c < cols; ++c) {
        T dxh = g[c] * gamma[c];
        a += dxh;
        b += dxh * (xr[c] - mu) * rs;
      }
      a /= T(cols);
      b /= T(cols);
      T *o = dx + r * cols;
#pragma omp simd
      for (int64_t c = 0; c < cols; ++c) {
        T xh = (xr[c] - mu) * rs;
        o[c] += rs * (g[c] * gamma[c] - a - xh * b);
      }
    }
    reduceRows<T>(rows, cols, dgamma,
                  [&](int64_t r, int64_t c0, int64_t c1, T *acc) {
                    const T *xr = x + r * cols, *g = dy + r * cols;
                    T mu = mean[r], rs = rstd[r];
#pragma omp simd
                    for (int64_t c = c0; c < c1; ++c)
                      acc[c - c0] += g[c] * (xr[c] - mu) * rs;
                  });
    if (dbeta)
      sumRows(dy, rows, cols, dbeta);
  }

  void rmsNormFwd(const T *x, const T *gamma, int64_t rows, int64_t cols,
                  double eps, T *y, T *rstd) override {
#pragma omp parallel for schedule(static) if (rows * cols >= kParallelMin)
    for (int64_t r = 0; r < rows; ++r) {
      const T *xr = x + r * cols;
      T s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t c = 0; c < cols; ++c)
        s += xr[c] * xr[c];
      T rs = T(1) / std::sqrt(s / T(cols) + T(eps));
      T *yr = y + r * cols;
#pragma omp simd
      for (int64_t c = 0; c < cols; ++c)
        yr[c] = xr[c] * rs * gamma[c];
      if (rstd)
        rstd[r] = rs;
    }
  }

  void rmsNormBwd(const T *dy, const T *x, const T *gamma, const T *rstd,
                  int64_t rows, int64_t cols, T *dx, T *dgamma) override {
#pragma omp parallel for schedule(static) if (rows * cols >= kParallelMin)
    for (int64_t r = 0; r < rows; ++r) {
      const T *xr = x + r * cols, *g = dy + r * cols;
      T rs = rstd[r];
      T b = 0;
#pragma omp simd reduction(+ : b)
      for (int64_t c = 0; c < cols; ++c)
        b += g[c] * gamma[c] * xr[c];
      b *= rs * rs / T(cols);
      T *o = dx + r * cols;
#pragma omp simd
      for (int64_t c = 0; c < cols; ++c)
        o[c] += rs * (g[c] * gamma[c] - xr[c] * b);
    }
    reduceRows<T>(rows, cols, dgamma,
                  [&](int64_t r, int64_t c0, int64_t c1, T *acc) {
                    const T *xr = x + r * cols, *g = dy + r * cols;
                    T rs = rstd[r];
#pragma omp simd
                    for (int64_t c = c0; c < c1; ++c)
                      acc[c - c0] += g[c] * xr[c] * rs;
                  });
  }

  // Per-head RMSNorm (Qwen3's q/k norms) over strided rows in one parallel
  // loop each way; the base class's row-by-row default costs a parallel
  // region per row.
  void headRmsNormFwd(const T *x, const T *gamma, int64_t rows, int64_t ld,
                      int64_t nHeads, int64_t hd, double eps, T *y,
                      T *rstd) override {
#pragma omp parallel for schedule(static) if (rows * nHeads * hd >=            \
                                              kParallelMin)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t h = 0; h < nHeads; ++h) {
        const T *xr = x + r * ld + h * hd;
        T s = 0;
#pragma omp simd reduction(+ : s)
        for (int64_t c = 0; c < hd; ++c)
          s += xr[c] * xr[c];
        T rs = T(1) / std::sqrt(s / T(hd) + T(eps));
        T *yr = y + r * ld + h * hd;
#pragma omp simd
        for (int64_t c = 0; c < hd; ++c)
          yr[c] = xr[c] * rs * gamma[c];
        if (rstd)
          rstd[r * nHeads + h] = rs;
      }
  }

  void headRmsNormBwd(const T *dy, const T *x, const T *gamma, const T *rstd,
                      int64_t rows, int64_t ld, int64_t nHeads, int64_t hd,
                      T *dx, T *dgamma) override {
#pragma omp parallel for schedule(static) if (rows * nHeads * hd >=            \
                                              kParallelMin)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t h = 0; h < nHeads; ++h) {
        const T *xr = x + r * ld + h * hd, *g = dy + r * ld + h * hd;
        T rs = rstd[r * nHeads + h];
        T b = 0;
#pragma omp simd reduction(+ : b)
        for (int64_t c = 0; c < hd; ++c)
          b += g[c] * gamma[c] * xr[c];
        b *= rs * rs / T(hd);
        T *o = dx + r * ld + h * hd;
#pragma omp simd
        for (int64_t c = 0; c < hd; ++c)
          o[c] = rs * (g[c] * gamma[c] - xr[c] * b);
      }
    reduceRows<T>(rows, hd, dgamma,
                  [&](int64_t r, int64_t c0, int64_t c1, T *acc) {
                    for (int64_t h = 0; h < nHeads; ++h) {
                      const T *xr = x + r * ld + h * hd;
                      const T *g = dy + r * ld + h * hd;
                      T rs = rstd[r * nHeads + h];
#pragma omp simd
                      for (int64_t c = c0; c < c1; ++c)
                        acc[c - c0] += g[c] * xr[c] * rs;
                    }
                  });
  }

  // float: MathFns.h's geluRowF / geluGradRowF, in blocks of kGeluBlock
  // values (each value's result is independent of the blocking).
  static constexpr int64_t kGeluBlock = 4096;
  void geluFwd(const T *x, T *y, int64_t n) override {
    if constexpr (std::is_same<T, float>::value) {
      const int64_t nb = (n + kGeluBlock - 1) / kGeluBlock;
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
      for (int64_t b = 0; b < nb; ++b)
        geluRowF(x + b * kGeluBlock, y + b * kGeluBlock,
                 std::min(kGeluBlock, n - b * kGeluBlock));
      return;
    }
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
    for (int64_t i = 0; i < n; ++i) {
      T v = x[i];
      T t = vtanh<T>(T(kGeluK) * (v + T(0.044715) * v * v * v));
      y[i] = T(0.5) * v * (T(1) + t);
    }
  }
  void geluBwd(const T *x, const T *dy, T *dx, int64_t n) override {
    if constexpr (std::is_same<T, float>::value) {
      const int64_t nb = (n + kGeluBlock - 1) / kGeluBlock;
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
      for (int64_t b = 0; b < nb; ++b)
        geluGradRowF(x + b * kGeluBlock, dy + b * kGeluBlock,
                     dx + b * kGeluBlock,
                     std::min(kGeluBlock, n - b * kGeluBlock));
      return;
    }
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
    for (int64_t i = 0; i < n; ++i) {
      T v = x[i];
      T t = vtanh<T>(T(kGeluK) * (v + T(0.044715) * v * v * v));
      T dt = T(kGeluK) * (T(1) + T(3 * 0.044715) * v * v);
      dx[i] = dy[i] * (T(0.5) * (T(1) + t) + T(0.5) * v * (T(1) - t * t) * dt);
    }
  }

  void swigluFwd(const T *gu, int64_t rows, int64_t ff, T *y) override {
#pragma omp parallel for schedule(static) if (rows * ff >= kParallelMin)
    for (int64_t r = 0; r < rows; ++r) {
      const T *g = gu + r * 2 * ff, *u = g + ff;
      T *o = y + r * ff;
#pragma omp simd
      for (int64_t c = 0; c < ff; ++c)
        o[c] = g[c] * vsigmoid<T>(g[c]) * u[c];
    }
  }
  void swigluBwd(const T *gu, const T *dy, int64_t rows, int64_t ff,
                 T *dgu) override {
#pragma omp parallel for schedule(static) if (rows * ff >= kParallelMin)
    for (int64_t r = 0; r < rows; ++r) {
      const T *g = gu + r * 2 * ff, *u = g + ff, *d = dy + r * ff;
      T *dg = dgu + r * 2 * ff, *du = dg + ff;
#pragma omp simd
      for (int64_t c = 0; c < ff; ++c) {
        T s = vsigmoid<T>(g[c]);
        T silu = g[c] * s;
        T dgc = d[c] * u[c] * s * (T(1) + g[c] * (T(1) - s));
        du[c] = d[c] * silu;
        dg[c] = dgc;
      }
    }
  }

  // cos/sin tables per (theta, head dim), grown to the largest position seen;
  // computed in double so every call (and every thread count) sees the same
  // values.
  std::vector<T> ropeCos_, ropeSin_;
  RopeSpec ropeSpec_{0.0};
  int64_t ropeHd_ = 0, ropePositions_ = 0;

  void ensureRopeTable(const RopeSpec &theta, int64_t hd, int64_t positions) {
    if (theta == ropeSpec_ && hd == ropeHd_ && positions <= ropePositions_)
      return;
    int64_t half = hd / 2, n = std::max<int64_t>(positions, 256);
    if (theta == ropeSpec_ && hd == ropeHd_)
      n = std::max(n, 2 * ropePositions_);
    ropeCos_.assign(size_t(n * half), T(0));
    ropeSin_.assign(size_t(n * half), T(0));
    for (int64_t i = 0; i < half; ++i) {
      double invFreq = theta.invFreq(i, hd);
      for (int64_t p = 0; p < n; ++p) {
        double a = double(p) * invFreq;
        ropeCos_[size_t(p * half + i)] = T(std::cos(a));
        ropeSin_[size_t(p * half + i)] = T(std::sin(a));
      }
    }
    ropeSpec_ = theta;
    ropeHd_ = hd;
    ropePositions_ = n;
  }

  void rope(T *x, int64_t rows, int64_t ld, int64_t nRotHeads, int64_t hd,
            const int32_t *positions, const RopeSpec &theta,
            bool inverse) override {
    int64_t half = hd / 2, maxPos = 0;
    for (int64_t r = 0; r < rows; ++r)
      maxPos = std::max<int64_t>(maxPos, positions[r]);
    ensureRopeTable(theta, hd, maxPos + 1);
    const T sgn = inverse ? T(-1) : T(1);
#pragma omp parallel for schedule(static) if (rows * ld >= kParallelMin)
    for (int64_t r = 0; r < rows; ++r) {
      const T *cs = ropeCos_.data() + int64_t(positions[r]) * half;
      const T *sn = ropeSin_.data() + int64_t(positions[r]) * half;
      for (int64_t h = 0; h < nRotHeads; ++h) {
        T *v = x + r * ld + h * hd;
#pragma omp simd
        for (int64_t i = 0; i < half; ++i) {
          T a = v[i], b = v[i + half], si = sgn * sn[i];
          v[i] = a * cs[i] - b * si;
          v[i + half] = b * cs[i] + a * si;
        }
      }
    }
  }

  void attentionFwd(const T *qkv, const AttentionShape &s, T *probs,
                    T *out) override {
    cpu::attentionFwd(qkv, s, probs, out);
  }
  void attentionBwd(const T *qkv, const T *probs, const T *dout,
                    const AttentionShape &s, T *dqkv) override {
    cpu::attentionBwd(qkv, probs, dout, s, dqkv, threadScratch_);
  }
  void attentionCached(const T *qkv, int64_t batch, int64_t newLen, int64_t nH,
                       int64_t nKv, int64_t hd, const int32_t *start,
                       int64_t cacheLen, T *kCache, T *vCache,
                       T *out) override {
    cpu::attentionCachedShared(qkv, batch, newLen, nH, nKv, hd, start, nullptr,
                               cacheLen, kCache, vCache, out, threadScratch_,
                               runStarts_, runShared_);
  }
  void attentionCachedShared(const T *qkv, int64_t batch, int64_t newLen,
                             int64_t nH, int64_t nKv, int64_t hd,
                             const int32_t *start, const int32_t *sharedLen,
                             int64_t cacheLen, T *kCache, T *vCache,
                             T *out) override {
    cpu::attentionCachedShared(qkv, batch, newLen, nH, nKv, hd, start,
                               sharedLen, cacheLen, kCache, vCache, out,
                               threadScratch_, runStarts_, runShared_);
  }

  void linearRows(const T *x, int64_t rows, int64_t in, int64_t out, const T *W,
                  bool transW, const T *b, const T *residual, bool gelu,
                  T *y) override {
    if constexpr (std::is_same<T, float>::value) {
      if (!transW && rows <= kLinMaxRows && out % 16 == 0 && in > 0 &&
          rows > 0) {
        linearRowsF(x, rows, in, out, W, b, residual, gelu, y, threadScratch_);
        return;
      }
      if (transW && rows <= kLinNtMaxRows && in > 0 && rows > 0) {
        linearRowsNT(x, rows, in, out, W, 1.0f, b, residual, gelu, y);
        return;
      }
      // Elsewhere (a prefill's hundreds of rows): the separate kernels'
      // GEMM, with the bias/residual fill and GELU done slice by slice by
      // the thread that multiplies each slice (denseFwd; GELU in place,
      // each element read then written by one call) instead of two more
      // passes over y: the same functions on the same values, so the
      // bits of Kernels::linearRows's default
      // (Kernels.LinearRowsManyRowsEqualSeparateKernels).
      if (in > 0 && rows > 0 && out > 0 &&
          !std::getenv("HONE_LINEAR_SEPARATE")) {
        denseFwd(x, rows, in, out, W, transW, b, residual, y,
                 gelu ? y : nullptr);
        return;
      }
    }
    Kernels<T>::linearRows(x, rows, in, out, W, transW, b, residual, gelu, y);
  }
  int64_t linearRowsPackSize(int64_t rows, int64_t in, int64_t out,
                             bool transW) override {
    if constexpr (std::is_same<T, float>::value)
      if (!transW && linearRowsPackable(rows, in, out))
        return in * out;
    return 0;
  }
  void packLinearRows(const T *W, int64_t in, int64_t out, bool transW,
                      T *packed) override {
    if constexpr (std::is_same<T, float>::value)
      if (!transW && linearRowsPackable(1, in, out))
        packLinearRowsF(W, in, out, packed);
  }
  void linearRowsPacked(const T *x, int64_t rows, int64_t in, int64_t out,
                        const T *W, const T *packed, bool transW, const T *b,
                        const T *residual, bool gelu, T *y) override {
    if constexpr (std::is_same<T, float>::value) {
      if (packed && !transW && linearRowsPackable(rows, in, out)) {
        linearRowsF(x, rows, in, out, W, b, residual, gelu, y, threadScratch_,
                    packed);
        return;
      }
    }
    linearRows(x, rows, in, out, W, transW, b, residual, gelu, y);
  }
  void linearRowsBf16(const T *x, int64_t rows, int64_t in, int64_t out,
                      const uint16_t *W, bool transW, const T *b,
                      const T *residual, bool gelu, T *y) override {
    if constexpr (std::is_same<T, float>::value) {
      if (transW && rows <= kLinNtMaxRowsBf16 && in > 0 && rows > 0) {
        linearRowsNT(x, rows, in, out, W, 1.0f, b, residual, gelu, y);
        return;
      }
    }
    Kernels<T>::linearRowsBf16(x, rows, in, out, W, transW, b, residual, gelu,
                               y);
  }

  // The training forward's dense layers with their bias (and residual) and
  // GELU in the GEMM's slices (Gemm.h, SliceHooks): each slice of rows is
  // filled just before its GEMM and activated just after it, by the thread
  // that multiplies it, instead of three passes over the whole matrix
  // (GELU's alone was memory-bound: bench/RESULTS.md). The same GEMM calls
  // and the same per-element functions as the separate kernels, so the
  // same bits whatever the slicing or the thread count. float only (double
  // serves the references: the separate kernels).
  void denseFwd(const T *x, int64_t rows, int64_t in, int64_t out, const T *W,
                bool transW, const T *b, const T *residual, T *pre,
                T *act) override {
    if constexpr (std::is_same<T, float>::value) {
      const SliceFn pro = [&](int64_t r0, int64_t nr, int64_t c0,
                              int64_t nc) {
        forRows(nr, nc, [&](int64_t r) {
          float *y = pre + (r0 + r) * out + c0;
          const float *rr = residual ? residual + (r0 + r) * out + c0 : nullptr;
          const float *br = b ? b + c0 : nullptr;
          if (rr && br) {
#pragma omp simd
            for (int64_t j = 0; j < nc; ++j)
              y[j] = rr[j] + br[j];
          } else {
            std::memcpy(y, rr ? rr : br, size_t(nc) * sizeof(float));
          }
        });
      };
      const SliceFn epi = [&](int64_t r0, int64_t nr, int64_t c0,
                              int64_t nc) {
        forRows(nr, nc, [&](int64_t r) {
          const int64_t o = (r0 + r) * out + c0;
          geluRowF(pre + o, act + o, nc);
        });
      };
      SliceHooks h;
      h.pro = residual || b ? &pro : nullptr;
      h.epi = act ? &epi : nullptr;
      parGemm(false, transW, rows, out, in, 1.0f, x, in, W, transW ? in : out,
              residual || b ? 1.0f : 0.0f, pre, out, &h);
      return;
    }
    Kernels<T>::denseFwd(x, rows, in, out, W, transW, b, residual, pre, act);
  }
  void gemmGeluBwd(bool transB, int64_t m, int64_t n, int64_t k, const T *A,
                   int64_t lda, const T *B, int64_t ldb, const T *pre,
                   T *C) override {
    if constexpr (std::is_same<T, float>::value) {
      const SliceFn epi = [&](int64_t r0, int64_t nr, int64_t c0,
                              int64_t nc) {
        forRows(nr, nc, [&](int64_t r) {
          const int64_t o = (r0 + r) * n + c0;
          geluGradRowF(pre + o, C + o, C + o, nc);
        });
      };
      SliceHooks h;
      h.epi = &epi;
      parGemm(false, transB, m, n, k, 1.0f, A, lda, B, ldb, 0.0f, C, n, &h);
      return;
    }
    Kernels<T>::gemmGeluBwd(transB, m, n, k, A, lda, B, ldb, pre, C);
  }

  void lmHeadFwd(const T *hidden, const T *W, const int32_t *targets,
                 const LmHeadShape &s, T *logprob, T *entropy, T *lse,
                 T *keep = nullptr) override {
    cpu::lmHeadFwd(hidden, W, targets, s, logprob, entropy, lse, scratch_,
                   keep);
  }
  bool keepsLmLogits() const override { return true; }
  void lmHeadFwdBf16(const T *hidden, const uint16_t *W, const int32_t *targets,
                     const LmHeadShape &s, T *logprob, T *entropy, T *lse,
                     T *keep = nullptr) override {
    if constexpr (std::is_same<T, float>::value)
      cpu::lmHeadFwd(hidden, W, targets, s, logprob, entropy, lse, scratch_,
                     keep);
    else
      Kernels<T>::lmHeadFwdBf16(hidden, W, targets, s, logprob, entropy, lse,
                                keep);
  }
  void logitsBf16(const T *hidden, const uint16_t *W, const LmHeadShape &s,
                  T *out) override {
    if constexpr (std::is_same<T, float>::value) {
      if (s.rows <= kLinNtMaxRowsBf16 && s.rows > 0 && s.dModel > 0)
        linearRowsNT(hidden, s.rows, s.dModel, s.vocab, W,
                     float(s.invTemperature), nullptr, nullptr, false, out);
      else
        weightGemm(false, true, s.rows, s.vocab, s.dModel, T(s.invTemperature),
                   hidden, s.dModel, W, s.dModel, T(0), out, s.vocab);
    } else
      Kernels<T>::logitsBf16(hidden, W, s, out);
  }
  void gemmBf16B(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha,
                 const T *A, int64_t lda, const uint16_t *B, int64_t ldb,
                 T beta, T *C, int64_t ldc) override {
    if constexpr (std::is_same<T, float>::value)
      weightGemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
    else
      Kernels<T>::gemmBf16B(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C,
                            ldc);
  }
  void widenBf16(const uint16_t *src, T *dst, int64_t n) override {
    if constexpr (std::is_same<T, float>::value)
      cpu::widenBf16(src, dst, n);
    else
      for (int64_t i = 0; i < n; ++i)
        dst[i] = T(bf16ToFloat(src[i]));
  }
  void embeddingFwdBf16(const int32_t *tokens, const int32_t *positions,
                        int64_t rows, int64_t d, const uint16_t *wte,
                        int64_t vocab, const uint16_t *wpe, int64_t maxPos,
                        T *x) override {
    (void)vocab;
    (void)maxPos;
#pragma omp parallel for schedule(static) if (rows * d >= kParallelMin)
    for (int64_t r = 0; r < rows; ++r) {
      const uint16_t *e = wte + int64_t(tokens[r]) * d;
      const uint16_t *p = wpe ? wpe + int64_t(positions[r]) * d : nullptr;
      T *o = x + r * d;
      for (int64_t c = 0; c < d; ++c)
        o[c] =
            p ? T(bf16ToFloat(e[c]) + bf16ToFloat(p[c])) : T(bf16ToFloat(e[c]));
    }
  }

  void lmHeadBwd(const T *hidden, const T *W, const int32_t *targets,
                 const LmHeadShape &s, const T *lse, const T *entropy,
                 const T *dlogprob, const T *dentropy, T *dhidden, T *dW,
                 T *kept = nullptr) override {
    cpu::lmHeadBwd(hidden, W, targets, s, lse, entropy, dlogprob, dentropy,
                   dhidden, dW, scratch_, kept);
  }

  void lmHeadBwdBf16(const T *hidden, const uint16_t *W, const int32_t *targets,
                     const LmHeadShape &s, const T *lse, const T *entropy,
                     const T *dlogprob, const T *dentropy, T *dhidden,
                     T *kept = nullptr) override {
    if constexpr (std::is_same<T, float>::value)
      cpu::lmHeadBwd(hidden, W, targets, s, lse, entropy, dlogprob, dentropy,
                     dhidden, (T *)nullptr, scratch_, kept);
    else
      Kernels<T>::lmHeadBwdBf16(hidden, W, targets, s, lse, entropy, dlogprob,
                                dentropy, dhidden, kept);
  }

  void logits(const T *hidden, const T *W, const LmHeadShape &s,
              T *out) override {
    if constexpr (std::is_same<T, float>::value)
      if (s.rows <= kLinNtMaxRows && s.rows > 0 && s.dModel > 0) {
        linearRowsNT(hidden, s.rows, s.dModel, s.vocab, W,
                     float(s.invTemperature), nullptr, nullptr, false, out);
        return;
      }
    parGemm(false, true, s.rows, s.vocab, s.dModel, T(s.invTemperature), hidden,
            s.dModel, W, s.dModel, T(0), out, s.vocab);
  }

  void sample(const T *logits, int64_t rows, int64_t V, const SamplerParams &sp,
              const uint32_t *sampleId, const uint32_t *drawIndex,
              const uint8_t *active, int32_t *tokens, T *logprob) override {
    cpu::sample(logits, rows, V, sp, sampleId, drawIndex, active, tokens,
                logprob);
  }

  void adamw(T *param, T *grad, T *m, T *v, int64_t n, double lr, double beta1,
             double beta2, double eps, double wd, double bc1, double bc2,
             double gradScale, bool zeroGrad) override {
    if (zeroGrad) {
      adamwImpl<true>(param, grad, m, v, n, lr, beta1, beta2, eps, wd, bc1, bc2,
                      gradScale);
      return;
    }
    adamwImpl<false>(param, grad, m, v, n, lr, beta1, beta2, eps, wd, bc1, bc2,
                     gradScale);
  }

  template <bool Zero>
  static void adamwImpl(T *param, T *grad, T *m, T *v, int64_t n, double lr,
                        double beta1, double beta2, double eps, double wd,
                        double bc1, double bc2, double gradScale) {
    const T b1 = T(beta1), b2 = T(beta2), gs = T(gradScale);
    const T decay = T(1 - lr * wd), stepSize = T(lr / bc1);
    const T rbc2 = T(1 / std::sqrt(bc2)), e = T(eps);
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
    for (int64_t i = 0; i < n; ++i) {
      T g = grad[i] * gs;
      T mi = b1 * m[i] + (T(1) - b1) * g;
      T vi = b2 * v[i] + (T(1) - b2) * g * g;
      m[i] = mi;
      v[i] = vi;
      param[i] = param[i] * decay - stepSize * mi / (std::sqrt(vi) * rbc2 + e);
      if (Zero)
        grad[i] = 0;
    }
  }
};

} // namespace
} // namespace cpu

template <typename T> std::unique_ptr<Kernels<T>> makeCpuKernels() {
  return std::make_unique<cpu::CpuKernels<T>>();
}

bool setCpuLmHeadScratch(Kernels<float> *k, std::shared_ptr<void> block,
                         int64_t elems) {
  // The only CPU Kernels<float> is CpuKernels<float> (makeCpuKernels).
  if (!k || k->device() != Device::CPU)
    return false;
  static_cast<cpu::CpuKernels<float> *>(k)->setLmHeadScratch(std::move(block),
                                                             elems);
  return true;
}
template std::unique_ptr<Kernels<float>> makeCpuKernels<float>();
template std::unique_ptr<Kernels<double>> makeCpuKernels<double>();

} // namespace hone
