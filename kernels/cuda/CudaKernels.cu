// Over 800 lines: the backend class launches the element-wise, reduction,
// norm, rotary, embedding and AdamW kernels with <<<>>> from its methods, so
// they share this translation unit. Not yet: by family into files with
// host-side launch functions (as Attention.cu and LmHead.cu are, declared
// in CudaLaunch.h), which needs a GPU to check the moved launches.
//
// The CUDA backend object: memory, copies, cuBLAS GEMM, element-wise and
// row kernels, norms, embeddings, RoPE, AdamW, sumSquares, and the chunked LM
// head (cuBLAS per vocabulary chunk + the row kernels of LmHead.cu).
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
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
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

// --- element-wise ---------------------------------------------------------------

__global__ void fillKernel(float *x, int64_t n, float v) {
  HONE_GRID_STRIDE(i, n) x[i] = v;
}

__global__ void broadcastRowsKernel(float *y, const float *b, int64_t rows,
                                    int64_t cols) {
  HONE_GRID_STRIDE(i, rows * cols) y[i] = b[i % cols];
}

__global__ void addRowsKernel(float *y, const float *b, int64_t rows,
                              int64_t cols) {
  HONE_GRID_STRIDE(i, rows * cols) y[i] += b[i % cols];
}

__global__ void axpyKernel(int64_t n, float alpha, const float *x, float *y) {
  HONE_GRID_STRIDE(i, n) y[i] += alpha * x[i];
}

__global__ void scaleKernel(float *x, int64_t n, float alpha) {
  HONE_GRID_STRIDE(i, n) x[i] *= alpha;
}

/// C[i, j] = beta * C[i, j] (0 when beta == 0): a GEMM with k == 0.
__global__ void scaleMatrixKernel(float *C, int64_t m, int64_t n, int64_t ldc,
                                  float beta) {
  HONE_GRID_STRIDE(i, m * n) {
    float *c = C + (i / n) * ldc + i % n;
    *c = beta == 0.f ? 0.f : beta * *c;
  }
}

constexpr float kGeluK = 0.7978845608028654f; // sqrt(2/pi)

__global__ void geluFwdKernel(const float *x, float *y, int64_t n) {
  HONE_GRID_STRIDE(i, n) {
    const float v = x[i];
    const float t = tanhf(kGeluK * (v + 0.044715f * v * v * v));
    y[i] = 0.5f * v * (1.f + t);
  }
}

__global__ void geluBwdKernel(const float *x, const float *dy, float *dx,
                              int64_t n) {
  HONE_GRID_STRIDE(i, n) {
    const float v = x[i];
    const float t = tanhf(kGeluK * (v + 0.044715f * v * v * v));
    const float dt = kGeluK * (1.f + float(3 * 0.044715) * v * v);
    dx[i] = dy[i] * (0.5f * (1.f + t) + 0.5f * v * (1.f - t * t) * dt);
  }
}

__device__ __forceinline__ float sigmoidf(float x) {
  return 1.f / (1.f + expf(-x));
}

__global__ void swigluFwdKernel(const float *gu, int64_t rows, int64_t ff,
                                float *y) {
  HONE_GRID_STRIDE(i, rows * ff) {
    const int64_t r = i / ff, c = i - r * ff;
    const float g = gu[r * 2 * ff + c], u = gu[r * 2 * ff + ff + c];
    y[i] = g * sigmoidf(g) * u;
  }
}

__global__ void swigluBwdKernel(const float *gu, const float *dy, int64_t rows,
                                int64_t ff, float *dgu) {
  HONE_GRID_STRIDE(i, rows * ff) {
    const int64_t r = i / ff, c = i - r * ff;
    const float g = gu[r * 2 * ff + c], u = gu[r * 2 * ff + ff + c];
    const float d = dy[i], s = sigmoidf(g);
    dgu[r * 2 * ff + c] = d * u * s * (1.f + g * (1.f - s));
    dgu[r * 2 * ff + ff + c] = d * (g * s);
  }
}

// --- reductions over rows (deterministic, two passes) ------------------------------

/// Rows per chunk of the two-pass column reductions: a function of the row
/// count only.
int64_t rowsPerChunk(int64_t rows) {
  return std::max<int64_t>(32, (rows + 511) / 512);
}

struct SumRowsF {
  const float *dy;
  int64_t cols;
  __device__ float operator()(int64_t r, int64_t c) const {
    return dy[r * cols + c];
  }
};
struct LnGammaF {
  const float *dy, *x, *mean, *rstd;
  int64_t cols;
  __device__ float operator()(int64_t r, int64_t c) const {
    return dy[r * cols + c] * (x[r * cols + c] - mean[r]) * rstd[r];
  }
};
struct RmsGammaF {
  const float *dy, *x, *rstd;
  int64_t cols;
  __device__ float operator()(int64_t r, int64_t c) const {
    return dy[r * cols + c] * x[r * cols + c] * rstd[r];
  }
};

/// partial[chunk, c] = sum over the chunk's rows of f(r, c). Block (32, 8):
/// x over 32 columns, y over row slices; the 8 slice sums are added in order.
template <typename F>
__global__ void colPartialKernel(int64_t rows, int64_t cols, int64_t perChunk,
                                 F f, float *partial) {
  __shared__ float sh[8][33];
  const int64_t c = int64_t(blockIdx.x) * 32 + threadIdx.x;
  const int64_t chunk = blockIdx.y;
  const int64_t r0 = chunk * perChunk, r1 = min(rows, r0 + perChunk);
  float acc = 0.f;
  if (c < cols)
    for (int64_t r = r0 + threadIdx.y; r < r1; r += 8)
      acc += f(r, c);
  sh[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    float s = 0.f;
#pragma unroll
    for (int k = 0; k < 8; ++k)
      s += sh[k][threadIdx.x];
    partial[chunk * cols + c] = s;
  }
}

__global__ void colFinishKernel(int64_t cols, int64_t nChunks,
                                const float *partial, float *out) {
  HONE_GRID_STRIDE(c, cols) {
    float s = 0.f;
    for (int64_t k = 0; k < nChunks; ++k)
      s += partial[k * cols + c];
    out[c] += s;
  }
}

/// sumSquares, pass 1: fixed 64 Ki-element blocks, summed in double.
constexpr int64_t kSqChunk = int64_t(1) << 16;
__global__ void sumSquaresPartialKernel(const float *x, int64_t n,
                                        double *partial) {
  const int64_t i0 = int64_t(blockIdx.x) * kSqChunk;
  const int64_t i1 = min(n, i0 + kSqChunk);
  double s = 0;
  for (int64_t i = i0 + threadIdx.x; i < i1; i += blockDim.x) {
    const double v = x[i];
    s += v * v;
  }
  s = blockSum(s);
  if (threadIdx.x == 0)
    partial[blockIdx.x] = s;
}
__global__ void sumSquaresFinishKernel(const double *partial, int64_t nb,
                                       double *out) {
  double s = 0;
  for (int64_t i = threadIdx.x; i < nb; i += blockDim.x)
    s += partial[i];
  s = blockSum(s);
  if (threadIdx.x == 0)
    *out = s;
}

// --- embeddings ---------------------------------------------------------------------

__global__ void embeddingFwdKernel(const int32_t *tokens,
                                   const int32_t *positions, int64_t rows,
                                   int64_t d, const float *wte,
                                   const float *wpe, float *x) {
  HONE_GRID_STRIDE(i, rows * d) {
    const int64_t r = i / d, c = i - r * d;
    float v = wte[int64_t(tokens[r]) * d + c];
    if (wpe)
      v += wpe[int64_t(positions[r]) * d + c];
    x[i] = v;
  }
}

/// out[ids[r], c] += dx[r, c], rows in order. Thread (c, p) owns column c of
/// the ids with id % parts == p, so no two threads touch one element and each
/// element's sum runs in row order (the CPU's order).
__global__ void scatterRowsKernel(const int32_t *__restrict__ ids,
                                  int64_t rows, int64_t d, int parts,
                                  const float *__restrict__ dx,
                                  float *__restrict__ out) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int p = blockIdx.y;
  if (c >= d)
    return;
  for (int64_t r = 0; r < rows; ++r) {
    const int32_t id = ids[r];
    if (id % parts != p)
      continue;
    out[int64_t(id) * d + c] += dx[r * d + c];
  }
}

// --- norms ----------------------------------------------------------------------------

__global__ void layerNormFwdKernel(const float *x, const float *gamma,
                                   const float *beta, int64_t cols, float eps,
                                   float *y, float *mean, float *rstd) {
  const int64_t r = blockIdx.x;
  const float *xr = x + r * cols;
  float s = 0.f;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
    s += xr[c];
  const float mu = blockSum(s) / float(cols);
  float v = 0.f;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    const float d = xr[c] - mu;
    v += d * d;
  }
  const float rs = 1.f / sqrtf(blockSum(v) / float(cols) + eps);
  float *yr = y + r * cols;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
    yr[c] = (xr[c] - mu) * rs * gamma[c] + beta[c];
  if (threadIdx.x == 0) {
    if (mean)
      mean[r] = mu;
    if (rstd)
      rstd[r] = rs;
  }
}

__global__ void layerNormBwdKernel(const float *dy, const float *x,
                                   const float *gamma, const float *mean,
                                   const float *rstd, int64_t cols,
                                   float *dx) {
  const int64_t r = blockIdx.x;
  const float *xr = x + r * cols, *g = dy + r * cols;
  const float mu = mean[r], rs = rstd[r];
  float a = 0.f, b = 0.f;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    const float dxh = g[c] * gamma[c];
    a += dxh;
    b += dxh * (xr[c] - mu) * rs;
  }
  a = blockSum(a) / float(cols);
  b = blockSum(b) / float(cols);
  float *o = dx + r * cols;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    const float xh = (xr[c] - mu) * rs;
    o[c] += rs * (g[c] * gamma[c] - a - xh * b);
  }
}

__global__ void rmsNormFwdKernel(const float *x, const float *gamma,
                                 int64_t cols, float eps, float *y,
                                 float *rstd) {
  const int64_t r = blockIdx.x;
  const float *xr = x + r * cols;
  float s = 0.f;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
    s += xr[c] * xr[c];
  const float rs = 1.f / sqrtf(blockSum(s) / float(cols) + eps);
  float *yr = y + r * cols;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
    yr[c] = xr[c] * rs * gamma[c];
  if (threadIdx.x == 0 && rstd)
    rstd[r] = rs;
}

__global__ void rmsNormBwdKernel(const float *dy, const float *x,
                                 const float *gamma, const float *rstd,
                                 int64_t cols, float *dx) {
  const int64_t r = blockIdx.x;
  const float *xr = x + r * cols, *g = dy + r * cols;
  const float rs = rstd[r];
  float b = 0.f;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
    b += g[c] * gamma[c] * xr[c];
  b = blockSum(b) * (rs * rs / float(cols));
  float *o = dx + r * cols;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
    o[c] += rs * (g[c] * gamma[c] - xr[c] * b);
}

// --- rotary -----------------------------------------------------------------------------

/// One thread per (row, frequency i): cos/sin of position * invFreq[i] in
/// double (as the CPU's table), rounded to float, applied to every head.
__global__ void ropeKernel(float *x, int64_t rows, int64_t ld, int nRotHeads,
                           int hd, const int32_t *positions,
                           const double *invFreq, float sgn) {
  const int half = hd / 2;
  HONE_GRID_STRIDE(t, rows * half) {
    const int64_t r = t / half;
    const int i = int(t - r * half);
    double sd, cd;
    sincos(double(positions[r]) * invFreq[i], &sd, &cd);
    const float cs = float(cd), si = sgn * float(sd);
    float *row = x + r * ld;
    for (int h = 0; h < nRotHeads; ++h) {
      float *v = row + int64_t(h) * hd;
      const float a = v[i], b = v[i + half];
      v[i] = a * cs - b * si;
      v[i + half] = b * cs + a * si;
    }
  }
}

// --- AdamW ------------------------------------------------------------------------------

template <bool Zero>
__global__ void adamwKernel(float *param, float *grad, float *m, float *v,
                            int64_t n, float b1, float b2, float gs,
                            float decay, float stepSize, float rbc2,
                            float eps) {
  HONE_GRID_STRIDE(i, n) {
    const float g = grad[i] * gs;
    const float mi = b1 * m[i] + (1.f - b1) * g;
    const float vi = b2 * v[i] + (1.f - b2) * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] = param[i] * decay - stepSize * mi / (sqrtf(vi) * rbc2 + eps);
    if (Zero)
      grad[i] = 0.f;
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
    return p;
  }
  void freeBytes(void *p) override {
    if (!p)
      return;
    use();
    HONE_CUDA_CHECK(cudaFree(p)); // synchronises the device
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
    fillKernel<<<gridFor(n), kThreads, 0, stream_>>>(x, n, v);
    HONE_CUDA_LAUNCH_CHECK("fillKernel");
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
      scaleMatrixKernel<<<gridFor(m * n), kThreads, 0, stream_>>>(C, m, n, ldc,
                                                                  beta);
      HONE_CUDA_LAUNCH_CHECK("scaleMatrixKernel");
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
    broadcastRowsKernel<<<gridFor(rows * cols), kThreads, 0, stream_>>>(
        y, b, rows, cols);
    HONE_CUDA_LAUNCH_CHECK("broadcastRowsKernel");
  }
  void addRows(float *y, const float *b, int64_t rows, int64_t cols) override {
    if (rows <= 0 || cols <= 0)
      return;
    use();
    addRowsKernel<<<gridFor(rows * cols), kThreads, 0, stream_>>>(y, b, rows,
                                                                  cols);
    HONE_CUDA_LAUNCH_CHECK("addRowsKernel");
  }
  void sumRows(const float *dy, int64_t rows, int64_t cols,
               float *db) override {
    columnSums(rows, cols, SumRowsF{dy, cols}, db);
  }
  void axpy(int64_t n, float alpha, const float *x, float *y) override {
    if (n <= 0)
      return;
    use();
    axpyKernel<<<gridFor(n), kThreads, 0, stream_>>>(n, alpha, x, y);
    HONE_CUDA_LAUNCH_CHECK("axpyKernel");
  }
  void scale(float *x, int64_t n, float alpha) override {
    if (n <= 0)
      return;
    use();
    scaleKernel<<<gridFor(n), kThreads, 0, stream_>>>(x, n, alpha);
    HONE_CUDA_LAUNCH_CHECK("scaleKernel");
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
    sumSquaresPartialKernel<<<unsigned(nb), kThreads, 0, stream_>>>(x, n, part);
    HONE_CUDA_LAUNCH_CHECK("sumSquaresPartialKernel");
    sumSquaresFinishKernel<<<1, 1024, 0, stream_>>>(part, nb, part + nb);
    HONE_CUDA_LAUNCH_CHECK("sumSquaresFinishKernel");
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
    embeddingFwdKernel<<<gridFor(rows * d), kThreads, 0, stream_>>>(
        tokens, positions, rows, d, wte, wpe, x);
    HONE_CUDA_LAUNCH_CHECK("embeddingFwdKernel");
  }
  void embeddingBwd(const int32_t *tokens, const int32_t *positions,
                    int64_t rows, int64_t d, const float *dx, float *dwte,
                    float *dwpe) override {
    if (rows <= 0 || d <= 0)
      return;
    scatterRows(tokens, rows, d, dx, dwte);
    if (dwpe)
      scatterRows(positions, rows, d, dx, dwpe);
  }

  // --- normalisation ------------------------------------------------------
  void layerNormFwd(const float *x, const float *gamma, const float *beta,
                    int64_t rows, int64_t cols, double eps, float *y,
                    float *mean, float *rstd) override {
    if (rows <= 0 || cols <= 0)
      return;
    use();
    checkRows(rows);
    layerNormFwdKernel<<<unsigned(rows), rowThreads(cols), 0, stream_>>>(
        x, gamma, beta, cols, float(eps), y, mean, rstd);
    HONE_CUDA_LAUNCH_CHECK("layerNormFwdKernel");
  }
  void layerNormBwd(const float *dy, const float *x, const float *gamma,
                    const float *mean, const float *rstd, int64_t rows,
                    int64_t cols, float *dx, float *dgamma,
                    float *dbeta) override {
    if (rows <= 0 || cols <= 0)
      return;
    use();
    checkRows(rows);
    layerNormBwdKernel<<<unsigned(rows), rowThreads(cols), 0, stream_>>>(
        dy, x, gamma, mean, rstd, cols, dx);
    HONE_CUDA_LAUNCH_CHECK("layerNormBwdKernel");
    if (dgamma)
      columnSums(rows, cols, LnGammaF{dy, x, mean, rstd, cols}, dgamma);
    if (dbeta)
      columnSums(rows, cols, SumRowsF{dy, cols}, dbeta);
  }
  void rmsNormFwd(const float *x, const float *gamma, int64_t rows,
                  int64_t cols, double eps, float *y, float *rstd) override {
    if (rows <= 0 || cols <= 0)
      return;
    use();
    checkRows(rows);
    rmsNormFwdKernel<<<unsigned(rows), rowThreads(cols), 0, stream_>>>(
        x, gamma, cols, float(eps), y, rstd);
    HONE_CUDA_LAUNCH_CHECK("rmsNormFwdKernel");
  }
  void rmsNormBwd(const float *dy, const float *x, const float *gamma,
                  const float *rstd, int64_t rows, int64_t cols, float *dx,
                  float *dgamma) override {
    if (rows <= 0 || cols <= 0)
      return;
    use();
    checkRows(rows);
    rmsNormBwdKernel<<<unsigned(rows), rowThreads(cols), 0, stream_>>>(
        dy, x, gamma, rstd, cols, dx);
    HONE_CUDA_LAUNCH_CHECK("rmsNormBwdKernel");
    if (dgamma)
      columnSums(rows, cols, RmsGammaF{dy, x, rstd, cols}, dgamma);
  }

  // --- activations --------------------------------------------------------
  void geluFwd(const float *x, float *y, int64_t n) override {
    if (n <= 0)
      return;
    use();
    geluFwdKernel<<<gridFor(n), kThreads, 0, stream_>>>(x, y, n);
    HONE_CUDA_LAUNCH_CHECK("geluFwdKernel");
  }
  void geluBwd(const float *x, const float *dy, float *dx, int64_t n) override {
    if (n <= 0)
      return;
    use();
    geluBwdKernel<<<gridFor(n), kThreads, 0, stream_>>>(x, dy, dx, n);
    HONE_CUDA_LAUNCH_CHECK("geluBwdKernel");
  }
  void swigluFwd(const float *gu, int64_t rows, int64_t ff, float *y) override {
    if (rows <= 0 || ff <= 0)
      return;
    use();
    swigluFwdKernel<<<gridFor(rows * ff), kThreads, 0, stream_>>>(gu, rows, ff,
                                                                  y);
    HONE_CUDA_LAUNCH_CHECK("swigluFwdKernel");
  }
  void swigluBwd(const float *gu, const float *dy, int64_t rows, int64_t ff,
                 float *dgu) override {
    if (rows <= 0 || ff <= 0)
      return;
    use();
    swigluBwdKernel<<<gridFor(rows * ff), kThreads, 0, stream_>>>(gu, dy, rows,
                                                                  ff, dgu);
    HONE_CUDA_LAUNCH_CHECK("swigluBwdKernel");
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
    ropeKernel<<<gridFor(rows * half), kThreads, 0, stream_>>>(
        x, rows, ld, int(nRotHeads), int(hd), positions,
        static_cast<const double *>(ropeFreq_), inverse ? -1.f : 1.f);
    HONE_CUDA_LAUNCH_CHECK("ropeKernel");
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
                 float *lse) override {
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
                 float *dW) override {
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
    if (zeroGrad)
      adamwKernel<true><<<gridFor(n), kThreads, 0, stream_>>>(
          param, grad, m, v, n, b1, b2, gs, decay, stepSize, rbc2, e);
    else
      adamwKernel<false><<<gridFor(n), kThreads, 0, stream_>>>(
          param, grad, m, v, n, b1, b2, gs, decay, stepSize, rbc2, e);
    HONE_CUDA_LAUNCH_CHECK("adamwKernel");
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
      if (workspace_)
        HONE_CUDA_CHECK(cudaFree(workspace_));
      workspace_ = nullptr;
      size_t grow = std::max(bytes, workspaceBytes_ + workspaceBytes_ / 2);
      grow = (grow + 255) / 256 * 256;
      HONE_CUDA_CHECK(cudaMalloc(&workspace_, grow));
      workspaceBytes_ = grow;
    }
    return workspace_;
  }

  template <typename F>
  void columnSums(int64_t rows, int64_t cols, F f, float *out) {
    if (rows <= 0 || cols <= 0)
      return;
    use();
    const int64_t per = rowsPerChunk(rows);
    const int64_t nChunks = (rows + per - 1) / per; // <= 512
    float *partial = static_cast<float *>(
        workspace(size_t(nChunks * cols) * sizeof(float)));
    const int64_t colBlocks = (cols + 31) / 32;
    if (colBlocks > INT_MAX)
      failShape("column reduction: too many columns", __FILE__, __LINE__);
    colPartialKernel<<<dim3(unsigned(colBlocks), unsigned(nChunks)),
                       dim3(32, 8), 0, stream_>>>(rows, cols, per, f, partial);
    HONE_CUDA_LAUNCH_CHECK("colPartialKernel");
    colFinishKernel<<<gridFor(cols), kThreads, 0, stream_>>>(cols, nChunks,
                                                             partial, out);
    HONE_CUDA_LAUNCH_CHECK("colFinishKernel");
  }

  void scatterRows(const int32_t *ids, int64_t rows, int64_t d,
                   const float *dx, float *out) {
    use();
    // Enough (column, partition) threads to fill the GPU; the partition
    // count changes who adds, never the order of the additions.
    const int parts = int(std::min<int64_t>(
        64, std::max<int64_t>(1, (int64_t(1) << 16) / std::max<int64_t>(d, 1))));
    const int64_t colBlocks = (d + 127) / 128;
    if (colBlocks > INT_MAX)
      failShape("embedding backward: dModel too large", __FILE__, __LINE__);
    scatterRowsKernel<<<dim3(unsigned(colBlocks), unsigned(parts)), 128, 0,
                        stream_>>>(ids, rows, d, parts, dx, out);
    HONE_CUDA_LAUNCH_CHECK("scatterRowsKernel");
  }

  int dev_;
  CudaGemmMath math_;
  const CublasApi &cb_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  void *workspace_ = nullptr;
  size_t workspaceBytes_ = 0;
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
