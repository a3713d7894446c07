// The CUDA backend object: memory, copies, cuBLAS GEMM and the chunked LM
// head (cuBLAS per vocabulary chunk + the row kernels of LmHead.cu); the
// other kernel families live beside it, one file each, as host-side launch
// functions (CudaLaunch.h): Elementwise.cu, Reduce.cu, Embedding.cu,
// Norms.cu, Rope.cu, Adamw.cu, Attention.cu, LmHead.cu.
//
// Reductions over rows (bias and norm-gain gradients) run in two passes:
// fixed row chunks summed into a partial buffer, then the chunks summed in
// order per column. The embedding backward gives each (column, id partition)
// to one thread that walks the rows in order, so every dwte element is the
// CPU's sum in the CPU's order. No floating-point atomics anywhere.
//
// cuBLAS is loaded with dlopen when the first backend object is made:
// libcublasLt alone is 540 MB, and every process linking the runtime (CPU
// jobs, tests) would otherwise map and relocate it at start (~60 ms and
// ~200 MB resident each). The CUDA runtime is linked statically.
#include "kernels/cuda/CudaCommon.cuh"
#include "kernels/cuda/CudaKernels.h"
#include "kernels/cuda/CudaLaunch.h"

#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace hone {
namespace cuda {

namespace {
const char *shortPath(const char *file) {
  const char *k = std::strstr(file, "kernels/cuda/");
  return k ? k : file;
}
} // namespace

/// The cuBLAS entry points the backend uses, resolved from the shared
/// library at run time.
struct CublasApi {
  decltype(&cublasCreate_v2) create = nullptr;
  decltype(&cublasDestroy_v2) destroy = nullptr;
  decltype(&cublasSetStream_v2) setStream = nullptr;
  decltype(&cublasSetPointerMode_v2) setPointerMode = nullptr;
  // The C entry point (cublas_api.h also declares a C++ overload taking a
  // cudaDataType compute type).
  cublasStatus_t (*gemmEx)(cublasHandle_t, cublasOperation_t,
                           cublasOperation_t, int, int, int, const void *,
                           const void *, cudaDataType, int, const void *,
                           cudaDataType, int, const void *, void *,
                           cudaDataType, int, cublasComputeType_t,
                           cublasGemmAlgo_t) = nullptr;
  decltype(&cublasGetStatusString) statusString = nullptr;
};

#define HONE_STR2(x) #x
#define HONE_STR(x) HONE_STR2(x)

/// Loads libcublas.so.<major of the headers> once: first by name (the
/// loader's path, ld.so.conf), then from the toolkit this was built with.
/// nullptr with the reason when it cannot be loaded.
const CublasApi *cublasApi(std::string *why) {
  static CublasApi api;
  static std::string error;
  static bool loaded = [] {
    const std::string so = "libcublas.so." HONE_STR(CUBLAS_VER_MAJOR);
    void *h = dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
#ifdef HONE_CUDA_LIBDIR
    if (!h)
      h = dlopen((std::string(HONE_CUDA_LIBDIR) + "/" + so).c_str(),
                 RTLD_NOW | RTLD_LOCAL);
#endif
    if (!h) {
      const char *e = dlerror();
      error = "cannot load cuBLAS (" + so + "): " + (e ? e : "not found");
      return false;
    }
    auto sym = [&](const char *name) {
      void *f = dlsym(h, name);
      if (!f && error.empty())
        error = std::string("cuBLAS (") + so + ") has no symbol " + name;
      return f;
    };
    api.create = reinterpret_cast<decltype(api.create)>(sym("cublasCreate_v2"));
    api.destroy =
        reinterpret_cast<decltype(api.destroy)>(sym("cublasDestroy_v2"));
    api.setStream =
        reinterpret_cast<decltype(api.setStream)>(sym("cublasSetStream_v2"));
    api.setPointerMode = reinterpret_cast<decltype(api.setPointerMode)>(
        sym("cublasSetPointerMode_v2"));
    api.gemmEx = reinterpret_cast<decltype(api.gemmEx)>(sym("cublasGemmEx"));
    api.statusString = reinterpret_cast<decltype(api.statusString)>(
        sym("cublasGetStatusString"));
    return error.empty();
  }();
  if (!loaded && why)
    *why = error;
  return loaded ? &api : nullptr;
}

void failCuda(cudaError_t e, const char *call, const char *file, int line) {
  std::fprintf(stderr, "%s\n",
               cudaErrorLine(int(e), call, shortPath(file), line).c_str());
  std::fflush(stderr);
  std::abort();
}

void failCublas(cublasStatus_t s, const char *call, const char *file,
                int line) {
  const CublasApi *api = cublasApi(nullptr);
  std::fprintf(stderr, "hone cuda: error: %s failed at %s:%d: %s (cuBLAS %d)\n",
               call, shortPath(file), line,
               api ? api->statusString(s) : "cuBLAS status", int(s));
  std::fflush(stderr);
  std::abort();
}

void failShape(const char *what, const char *file, int line) {
  std::fprintf(stderr, "hone cuda: error: %s (at %s:%d)\n", what,
               shortPath(file), line);
  std::fflush(stderr);
  std::abort();
}

namespace {

// Device bytes the backends' allocations hold now and at most, over every
// CudaKernels object of the process (cudaAllocatorPeakBytes): each
// allocBytes block and each object's growing workspace.
std::atomic<int64_t> gDeviceLive{0}, gDevicePeak{0};
void noteDeviceBytes(int64_t delta) {
  int64_t now = gDeviceLive.fetch_add(delta) + delta;
  int64_t peak = gDevicePeak.load();
  while (now > peak && !gDevicePeak.compare_exchange_weak(peak, now)) {
  }
}

// --- the backend --------------------------------------------------------------------------

cublasComputeType_t computeType(CudaGemmMath m) {
  switch (m) {
  case CudaGemmMath::TF32:
    return CUBLAS_COMPUTE_32F_FAST_TF32;
  case CudaGemmMath::BF16:
    return CUBLAS_COMPUTE_32F_FAST_16BF;
  case CudaGemmMath::FP32:
    break;
  }
  return CUBLAS_COMPUTE_32F;
}

/// Not thread-safe (like the CPU backend): one object per concurrently
/// running lane; every call is enqueued on the object's own stream.
class CudaKernels final : public Kernels<float> {
public:
  CudaKernels(int device, CudaGemmMath math, const CublasApi &blas)
      : dev_(device), math_(math), cb_(blas) {
    HONE_CUDA_CHECK(cudaSetDevice(dev_));
    HONE_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    HONE_CUBLAS_CHECK(cb_.create(&blas_));
    // One stream per handle: cuBLAS results are then run-to-run identical.
    HONE_CUBLAS_CHECK(cb_.setStream(blas_, stream_));
    HONE_CUBLAS_CHECK(cb_.setPointerMode(blas_, CUBLAS_POINTER_MODE_HOST));
  }
  ~CudaKernels() override {
    cudaSetDevice(dev_);
    cudaStreamSynchronize(stream_);
    for (void *p : {workspace_, ropeFreq_, sqPartial_})
      if (p)
        cudaFree(p);
    noteDeviceBytes(-int64_t(workspaceBytes_));
    cb_.destroy(blas_);
    cudaStreamDestroy(stream_);
  }

  Device device() const override { return Device::CUDA; }
  const char *name() const override { return "cuda"; }

  // --- memory -------------------------------------------------------------
  void *allocBytes(size_t bytes) override {
    use();
    size_t r = (bytes + 63) / 64 * 64;
    if (!r)
      r = 64;
    void *p = nullptr;
    cudaError_t e = cudaMalloc(&p, r);
    if (e == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError(); // clear it: callers report a Status
      return nullptr;
    }
    HONE_CUDA_CHECK(e);
    HONE_CUDA_CHECK(cudaMemsetAsync(p, 0, r, stream_));
    HONE_CUDA_CHECK(cudaStreamSynchronize(stream_));
    {
      std::lock_guard<std::mutex> g(sizesMu_);
      sizes_[p] = r;
    }
    noteDeviceBytes(int64_t(r));
    return p;
  }
  void freeBytes(void *p) override {
    if (!p)
      return;
    use();
    HONE_CUDA_CHECK(cudaFree(p)); // synchronises the device
    std::lock_guard<std::mutex> g(sizesMu_);
    auto it = sizes_.find(p);
    if (it != sizes_.end()) {
      noteDeviceBytes(-int64_t(it->second));
      sizes_.erase(it);
    }
  }
  // Host buffers may be pageable or freed right after the call: copies wait.
  void copyToDevice(void *dst, const void *hostSrc, size_t bytes) override {
    if (!bytes)
      return;
    use();
    HONE_CUDA_CHECK(cudaMemcpyAsync(dst, hostSrc, bytes,
                                    cudaMemcpyHostToDevice, stream_));
    HONE_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  void copyToHost(void *hostDst, const void *src, size_t bytes) override {
    if (!bytes)
      return;
    use();
    HONE_CUDA_CHECK(cudaMemcpyAsync(hostDst, src, bytes,
                                    cudaMemcpyDeviceToHost, stream_));
    HONE_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  void copy(float *dst, const float *src, int64_t n) override {
    if (n <= 0)
      return;
    use();
    HONE_CUDA_CHECK(cudaMemcpyAsync(dst, src, size_t(n) * sizeof(float),
                                    cudaMemcpyDeviceToDevice, stream_));
  }
  void fill(float *x, int64_t n, float v) override {
    if (n <= 0)
      return;
    use();
    cuda::fill(stream_, x, n, v);
  }
  void synchronize() override {
    use();
    HONE_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  // --- dense algebra ------------------------------------------------------
  // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: cuBLAS
  // gets B first, with the same transpose flags and leading dimensions.
  void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
            const float *A, int64_t lda, const float *B, int64_t ldb,
            float beta, float *C, int64_t ldc) override {
    if (m <= 0 || n <= 0)
      return;
    use();
    if (k <= 0) {
      cuda::scaleMatrix(stream_, C, m, n, ldc, beta);
      return;
    }
    for (int64_t v : {m, n, k, lda, ldb, ldc})
      if (v > INT_MAX)
        failShape("gemm: a dimension or leading dimension exceeds INT_MAX",
                  __FILE__, __LINE__);
    HONE_CUBLAS_CHECK(cb_.gemmEx(
        blas_, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
        int(n), int(m), int(k), &alpha, B, CUDA_R_32F, int(ldb), A, CUDA_R_32F,
        int(lda), &beta, C, CUDA_R_32F, int(ldc), computeType(math_),
        CUBLAS_GEMM_DEFAULT));
  }
  void broadcastRows(float *y, const float *b, int64_t rows,
                     int64_t cols) override {
    if (rows <= 0 || cols <= 0)
      return;
    use();
    cuda::broadcastRows(stream_, y, b, rows, cols);
  }
  void addRows(float *y, const float *b, int64_t rows, int64_t cols) override {
    if (rows <= 0 || cols <= 0)
      return;
    use();
    cuda::addRows(stream_, y, b, rows, cols);
  }
  void sumRows(const float *dy, int64_t rows, int64_t cols,
               float *db) override {
    if (rows <= 0 || cols <= 0)
      return;
    use();
    cuda::sumRowsInto(stream_, dy, rows, cols, columnScratch(rows, cols), db);
  }
  void axpy(int64_t n, float alpha, const float *x, float *y) override {
    if (n <= 0)
      return;
    use();
    cuda::axpy(stream_, n, alpha, x, y);
  }
  void scale(float *x, int64_t n, float alpha) override {
    if (n <= 0)
      return;
    use();
    cuda::scale(stream_, x, n, alpha);
  }
  double sumSquares(const float *x, int64_t n) override {
    if (n <= 0)
      return 0.0;
    use();
    const int64_t nb = (n + kSqChunk - 1) / kSqChunk;
    if (nb > INT_MAX)
      failShape("sumSquares: too many elements", __FILE__, __LINE__);
    if (sqPartialN_ < nb + 1) {
      if (sqPartial_)
        HONE_CUDA_CHECK(cudaFree(sqPartial_));
      sqPartial_ = nullptr;
      HONE_CUDA_CHECK(cudaMalloc(&sqPartial_, size_t(nb + 1) * sizeof(double)));
      sqPartialN_ = nb + 1;
    }
    double *part = static_cast<double *>(sqPartial_);
    cuda::sumSquares(stream_, x, n, nb, part);
    double s = 0;
    HONE_CUDA_CHECK(cudaMemcpyAsync(&s, part + nb, sizeof(double),
                                    cudaMemcpyDeviceToHost, stream_));
    HONE_CUDA_CHECK(cudaStreamSynchronize(stream_));
    return s;
  }

  // --- embeddings ---------------------------------------------------------
  void embeddingFwd(const int32_t *tokens, const int32_t *positions,
                    int64_t rows, int64_t d, const float *wte,
                    const float *wpe, float *x) override {
    if (rows <= 0 || d <= 0)
      return;
    use();
    cuda::embeddingForward(stream_, tokens, positions, rows, d, wte, wpe, x);
  }
  void embeddingBwd(const int32_t *tokens, const int32_t *positions,
                    int64_t rows, int64_t d, const float *dx, float *dwte,
                    float *dwpe) override {
    if (rows <= 0 || d <= 0)
      return;
    use();
    cuda::scatterRows(stream_, tokens, rows, d, dx, dwte);
    if (dwpe)
      cuda::scatterRows(stream_, positions, rows, d, dx, dwpe);
  }

  // --- normalisation ------------------------------------------------------
  void layerNormFwd(const float *x, const float *gamma, const float *beta,
                    int64_t rows, int64_t cols, double eps, float *y,
                    float *mean, float *rstd) override {
    if (rows <= 0 || cols <= 0)
      return;
    use();
    checkRows(rows);
    cuda::layerNormForward(stream_, x, gamma, beta, rows, cols, eps, y, mean,
                           rstd);
  }
  void layerNormBwd(const float *dy, const float *x, const float *gamma,
                    const float *mean, const float *rstd, int64_t rows,
                    int64_t cols, float *dx, float *dgamma,
                    float *dbeta) override {
    if (rows <= 0 || cols <= 0)
      return;
    use();
    checkRows(rows);
    cuda::layerNormBackward(stream_, dy, x, gamma, mean, rstd, rows, cols, dx);
    if (dgamma)
      cuda::layerNormGammaGrad(stream_, dy, x, mean, rstd, rows, cols,
                               columnScratch(rows, cols), dgamma);
    if (dbeta)
      cuda::sumRowsInto(stream_, dy, rows, cols, columnScratch(rows, cols),
                        dbeta);
  }
  void rmsNormFwd(const float *x, const float *gamma, int64_t rows,
                  int64_t cols, double eps, float *y, float *rstd) override {
    if (rows <= 0 || cols <= 0)
      return;
    use();
    checkRows(rows);
    cuda::rmsNormForward(stream_, x, gamma, rows, cols, eps, y, rstd);
  }
  void rmsNormBwd(const float *dy, const float *x, const float *gamma,
                  const float *rstd, int64_t rows, int64_t cols, float *dx,
                  float *dgamma) override {
    if (rows <= 0 || cols <= 0)
      return;
    use();
    checkRows(rows);
    cuda::rmsNormBackward(stream_, dy, x, gamma, rstd, rows, cols, dx);
    if (dgamma)
      cuda::rmsNormGammaGrad(stream_, dy, x, rstd, rows, cols,
                             columnScratch(rows, cols), dgamma);
  }

  // --- activations --------------------------------------------------------
  void geluFwd(const float *x, float *y, int64_t n) override {
    if (n <= 0)
      return;
    use();
    cuda::geluForward(stream_, x, y, n);
  }
  void geluBwd(const float *x, const float *dy, float *dx, int64_t n) override {
    if (n <= 0)
      return;
    use();
    cuda::geluBackward(stream_, x, dy, dx, n);
  }
  void swigluFwd(const float *gu, int64_t rows, int64_t ff, float *y) override {
    if (rows <= 0 || ff <= 0)
      return;
    use();
    cuda::swigluForward(stream_, gu, rows, ff, y);
  }
  void swigluBwd(const float *gu, const float *dy, int64_t rows, int64_t ff,
                 float *dgu) override {
    if (rows <= 0 || ff <= 0)
      return;
    use();
    cuda::swigluBackward(stream_, gu, dy, rows, ff, dgu);
  }

  // --- rotary -------------------------------------------------------------
  void rope(float *x, int64_t rows, int64_t ld, int64_t nRotHeads, int64_t hd,
            const int32_t *positions, const RopeSpec &theta,
            bool inverse) override {
    if (rows <= 0 || nRotHeads <= 0 || hd < 2)
      return;
    use();
    const int64_t half = hd / 2;
    if (theta != ropeTheta_ || hd != ropeHd_) {
      // The CPU's table formula, in double (RopeSpec::invFreq).
      std::vector<double> f(static_cast<size_t>(half));
      for (int64_t i = 0; i < half; ++i)
        f[size_t(i)] = theta.invFreq(i, hd);
      if (ropeFreqN_ < half) {
        if (ropeFreq_)
          HONE_CUDA_CHECK(cudaFree(ropeFreq_));
        ropeFreq_ = nullptr;
        HONE_CUDA_CHECK(cudaMalloc(&ropeFreq_, size_t(half) * sizeof(double)));
        ropeFreqN_ = half;
      }
      HONE_CUDA_CHECK(cudaMemcpyAsync(ropeFreq_, f.data(),
                                      size_t(half) * sizeof(double),
                                      cudaMemcpyHostToDevice, stream_));
      HONE_CUDA_CHECK(cudaStreamSynchronize(stream_));
      ropeTheta_ = theta;
      ropeHd_ = hd;
    }
    if (hd > INT_MAX || nRotHeads > INT_MAX)
      failShape("rope: head dimension or head count exceeds INT_MAX", __FILE__,
                __LINE__);
    cuda::rope(stream_, x, rows, ld, nRotHeads, hd, positions,
               static_cast<const double *>(ropeFreq_), inverse);
  }

  // --- attention ----------------------------------------------------------
  void attentionFwd(const float *qkv, const AttentionShape &s, float *probs,
                    float *out) override {
    use();
    attentionForward(stream_, qkv, s.batch, s.seqLen, s.nHeads, s.nKvHeads,
                     s.headDim, s.offsets, probs, out);
  }
  void attentionBwd(const float *qkv, const float *probs, const float *dout,
                    const AttentionShape &s, float *dqkv) override {
    use();
    float *dScratch = static_cast<float *>(
        workspace(size_t(s.batch * s.nHeads * s.seqLen) * sizeof(float)));
    attentionBackward(stream_, qkv, probs, dout, s.batch, s.seqLen, s.nHeads,
                      s.nKvHeads, s.headDim, s.offsets, dqkv, dScratch);
  }
  void attentionCached(const float *qkv, int64_t batch, int64_t newLen,
                       int64_t nHeads, int64_t nKvHeads, int64_t headDim,
                       const int32_t *start, int64_t cacheLen, float *kCache,
                       float *vCache, float *out) override {
    use();
    attentionDecode(stream_, qkv, batch, newLen, nHeads, nKvHeads, headDim,
                    start, cacheLen, kCache, vCache, out);
  }

  // --- fused LM head ------------------------------------------------------
  /// Vocabulary chunk: rows x chunk logits stay within 128 MiB of scratch.
  static int64_t vocabChunk(int64_t rows, int64_t vocab) {
    int64_t c = (int64_t(1) << 25) / std::max<int64_t>(rows, 1);
    c = std::max<int64_t>(256, std::min<int64_t>(c, 32768));
    c = c / 128 * 128;
    return std::min(c, vocab);
  }
  static constexpr int64_t kRowBlock = 16384;

  void lmHeadFwd(const float *hidden, const float *W, const int32_t *targets,
                 const LmHeadShape &s, float *logprob, float *entropy,
                 float *lse, float *keep = nullptr) override {
    // Not yet: the logits are not kept on the device (keepsLmLogits() is
    // false, so no caller passes `keep`); the backward recomputes them.
    (void)keep;
    if (s.rows <= 0 || s.vocab <= 0)
      return;
    use();
    const int64_t D = s.dModel, V = s.vocab;
    const float invT = float(s.invTemperature);
    for (int64_t r0 = 0; r0 < s.rows; r0 += kRowBlock) {
      const int64_t R = std::min(kRowBlock, s.rows - r0);
      const int64_t C = vocabChunk(R, V);
      const int64_t Rp = (R + 63) / 64 * 64;
      float *z = static_cast<float *>(
          workspace((size_t(R * C) + 4 * size_t(Rp)) * sizeof(float)));
      float *m = z + R * C, *se = m + Rp, *sz = se + Rp, *zt = sz + Rp;
      lmHeadInit(stream_, R, m, se, sz, zt);
      for (int64_t v0 = 0; v0 < V; v0 += C) {
        const int64_t c = std::min(C, V - v0);
        gemm(false, true, R, c, D, invT, hidden + r0 * D, D, W + v0 * D, D,
             0.f, z, c);
        lmHeadChunkStats(stream_, z, R, c, v0, targets + r0, m, se, sz, zt);
      }
      lmHeadFinish(stream_, R, targets + r0, m, se, sz, zt, logprob + r0,
                   entropy ? entropy + r0 : nullptr, lse + r0);
    }
  }

  void lmHeadBwd(const float *hidden, const float *W, const int32_t *targets,
                 const LmHeadShape &s, const float *lse, const float *entropy,
                 const float *dlogprob, const float *dentropy, float *dhidden,
                 float *dW, float *kept = nullptr) override {
    (void)kept; // see lmHeadFwd: always recomputed here
    if (s.rows <= 0 || s.vocab <= 0)
      return;
    use();
    const int64_t D = s.dModel, V = s.vocab;
    const float invT = float(s.invTemperature);
    for (int64_t r0 = 0; r0 < s.rows; r0 += kRowBlock) {
      const int64_t R = std::min(kRowBlock, s.rows - r0);
      const int64_t C = vocabChunk(R, V);
      float *z =
          static_cast<float *>(workspace(size_t(R * C) * sizeof(float)));
      for (int64_t v0 = 0; v0 < V; v0 += C) {
        const int64_t c = std::min(C, V - v0);
        gemm(false, true, R, c, D, invT, hidden + r0 * D, D, W + v0 * D, D,
             0.f, z, c);
        lmHeadChunkGrad(stream_, z, R, c, v0, targets + r0, lse + r0,
                        entropy ? entropy + r0 : nullptr,
                        dlogprob ? dlogprob + r0 : nullptr,
                        dentropy ? dentropy + r0 : nullptr, invT);
        gemm(false, false, R, D, c, 1.f, z, c, W + v0 * D, D, 1.f,
             dhidden + r0 * D, D);
        if (dW) // null: a frozen head (LoRA base)
          gemm(true, false, c, D, R, 1.f, z, c, hidden + r0 * D, D, 1.f,
               dW + v0 * D, D);
      }
    }
  }

  void logits(const float *hidden, const float *W, const LmHeadShape &s,
              float *out) override {
    gemm(false, true, s.rows, s.vocab, s.dModel, float(s.invTemperature),
         hidden, s.dModel, W, s.dModel, 0.f, out, s.vocab);
  }

  void sample(const float *logits, int64_t rows, int64_t vocab,
              const SamplerParams &p, const uint32_t *sampleId,
              const uint32_t *drawIndex, const uint8_t *active,
              int32_t *tokens, float *logprob) override {
    use();
    sampleRows(stream_, logits, rows, vocab, p, sampleId, drawIndex, active,
               tokens, logprob);
  }

  // --- optimiser ----------------------------------------------------------
  void adamw(float *param, float *grad, float *m, float *v, int64_t n,
             double lr, double beta1, double beta2, double eps, double wd,
             double bc1, double bc2, double gradScale, bool zeroGrad) override {
    if (n <= 0)
      return;
    use();
    // The CPU backend's constants, rounded to float the same way.
    const float b1 = float(beta1), b2 = float(beta2), gs = float(gradScale);
    const float decay = float(1 - lr * wd), stepSize = float(lr / bc1);
    const float rbc2 = float(1 / std::sqrt(bc2)), e = float(eps);
    cuda::adamw(stream_, param, grad, m, v, n, b1, b2, gs, decay, stepSize,
                rbc2, e, zeroGrad);
  }

private:
  void use() const {
    int cur = -1;
    if (cudaGetDevice(&cur) != cudaSuccess || cur != dev_)
      HONE_CUDA_CHECK(cudaSetDevice(dev_));
  }
  static void checkRows(int64_t rows) {
    if (rows > INT_MAX)
      failShape("more than INT_MAX rows in one call", __FILE__, __LINE__);
  }

  /// Scratch of at least `bytes`, valid until the next workspace() call;
  /// growing frees the old buffer (cudaFree waits for the kernels using it).
  void *workspace(size_t bytes) {
    if (bytes > workspaceBytes_) {
      size_t grow = std::max(bytes, workspaceBytes_ + workspaceBytes_ / 2);
      grow = (grow + 255) / 256 * 256;
      if (workspace_) {
        HONE_CUDA_CHECK(cudaFree(workspace_));
        noteDeviceBytes(-int64_t(workspaceBytes_));
      }
      workspace_ = nullptr;
      workspaceBytes_ = 0;
      HONE_CUDA_CHECK(cudaMalloc(&workspace_, grow));
      workspaceBytes_ = grow;
      noteDeviceBytes(int64_t(grow));
    }
    return workspace_;
  }

  /// Scratch for a column sum over rows x cols (Reduce.cu).
  float *columnScratch(int64_t rows, int64_t cols) {
    return static_cast<float *>(
        workspace(size_t(columnSumsScratch(rows, cols)) * sizeof(float)));
  }

  int dev_;
  CudaGemmMath math_;
  const CublasApi &cb_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  void *workspace_ = nullptr;
  size_t workspaceBytes_ = 0;
  // Sizes of the allocBytes blocks held now (the device-byte counters).
  std::mutex sizesMu_;
  std::unordered_map<void *, size_t> sizes_;
  void *ropeFreq_ = nullptr;
  int64_t ropeFreqN_ = 0;
  RopeSpec ropeTheta_{0.0};
  int64_t ropeHd_ = 0;
  void *sqPartial_ = nullptr;
  int64_t sqPartialN_ = 0;
};

} // namespace
} // namespace cuda

// --- public entry points ---------------------------------------------------------------

const char *cudaGemmMathName(CudaGemmMath m) {
  switch (m) {
  case CudaGemmMath::FP32:
    return "fp32";
  case CudaGemmMath::TF32:
    return "tf32";
  case CudaGemmMath::BF16:
    return "bf16";
  }
  return "?";
}

std::string cudaErrorLine(int code, const char *call, const char *file,
                          int line) {
  cudaError_t e = cudaError_t(code);
  return std::string("hone cuda: error: ") + call + " failed at " + file +
         ":" + std::to_string(line) + ": " + cudaGetErrorString(e) + " (" +
         cudaGetErrorName(e) + ")";
}

namespace {
/// Device count, or the reason there is none.
int deviceCount(std::string *why) {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    if (why)
      *why = std::string("no CUDA device: ") + cudaGetErrorString(e) + " (" +
             cudaGetErrorName(e) + ")";
    return 0;
  }
  if (n <= 0 && why)
    *why = "no CUDA device: cudaGetDeviceCount found none";
  return n;
}
} // namespace

int cudaDeviceCount() { return deviceCount(nullptr); }
bool cudaLoadBlas(std::string *whyNot) {
  return cuda::cublasApi(whyNot) != nullptr;
}
bool cudaDeviceAvailable() { return cudaDeviceCount() > 0; }

std::string cudaDeviceSummary(int ordinal) {
  std::string why;
  int n = deviceCount(&why);
  if (n <= 0)
    return why;
  if (ordinal < 0 || ordinal >= n)
    return "no CUDA device " + std::to_string(ordinal) + " (" +
           std::to_string(n) + " visible)";
  cudaDeviceProp p;
  cudaError_t e = cudaGetDeviceProperties(&p, ordinal);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    return std::string("CUDA device ") + std::to_string(ordinal) + ": " +
           cudaGetErrorString(e);
  }
  int drv = 0, rt = 0;
  cudaDriverGetVersion(&drv);
  cudaRuntimeGetVersion(&rt);
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                "%s, sm_%d%d, %d SMs, %.1f GiB, driver %d.%d, runtime %d.%d",
                p.name, p.major, p.minor, p.multiProcessorCount,
                double(p.totalGlobalMem) / double(1 << 30), drv / 1000,
                (drv % 1000) / 10, rt / 1000, (rt % 1000) / 10);
  return buf;
}

int64_t cudaAllocatorPeakBytes() { return cuda::gDevicePeak.load(); }

std::unique_ptr<Kernels<float>> makeCudaKernels(int deviceOrdinal,
                                                std::string *whyNot) {
  CudaKernelOptions o;
  o.device = deviceOrdinal;
  return makeCudaKernels(o, whyNot);
}

std::unique_ptr<Kernels<float>> makeCudaKernels(const CudaKernelOptions &opts,
                                                std::string *whyNot) {
  auto fail = [&](const std::string &m) -> std::unique_ptr<Kernels<float>> {
    if (whyNot)
      *whyNot = m;
    return nullptr;
  };
  CudaGemmMath math = opts.gemmMath;
  if (!opts.gemmMathSet) {
    math = CudaGemmMath::FP32;
    if (const char *env = std::getenv("HONE_CUDA_GEMM")) {
      std::string v = env;
      if (v == "tf32")
        math = CudaGemmMath::TF32;
      else if (v == "bf16")
        math = CudaGemmMath::BF16;
      else if (!v.empty() && v != "fp32")
        return fail("HONE_CUDA_GEMM='" + v + "': use fp32, tf32 or bf16");
    }
  }
  std::string why;
  int n = deviceCount(&why);
  if (n <= 0)
    return fail(why);
  if (opts.device < 0 || opts.device >= n)
    return fail("no CUDA device " + std::to_string(opts.device) + " (" +
                std::to_string(n) + " visible)");
  // Probe the device before creating anything that aborts on failure.
  cudaError_t e = cudaSetDevice(opts.device);
  if (e == cudaSuccess)
    e = cudaFree(nullptr); // creates the context
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    return fail(std::string("CUDA device ") + std::to_string(opts.device) +
                " unusable: " + cudaGetErrorString(e));
  }
  const cuda::CublasApi *blas = cuda::cublasApi(&why);
  if (!blas)
    return fail(why);
  return std::make_unique<cuda::CudaKernels>(opts.device, math, *blas);
}

} // namespace hone
