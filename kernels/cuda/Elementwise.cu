// Element-wise kernels: fill, row broadcasts, BLAS-1 (axpy, scale), the
// k == 0 GEMM's scaling, GELU and SwiGLU forward and backward; grid-stride
// loops with fixed launch shapes (CudaCommon.cuh).
#include "kernels/cuda/CudaCommon.cuh"
#include "kernels/cuda/CudaLaunch.h"

namespace hone {
namespace cuda {
namespace {

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

// As the CPU kernels compute it (kernels/cpu/MathFns.h, geluRowF): v s with
// s = 0.5 (1 + tanh(u)) = e r, e = exp(2u), r = 1 / (1 + e), and gelu' =
// s + 2 v s r u' (1 - tanh^2 = 4 s r): no cancellation where tanh(u) is
// near -1 (1 + tanh(u) and 1 - t*t lost every digit below |gelu| ~ 1e-7).
__device__ __forceinline__ void geluSr(float v, float &s, float &r) {
  const float u2 =
      fminf(fmaxf((2.f * kGeluK) * v * (1.f + 0.044715f * v * v), -87.f), 80.f);
  const float e = expf(u2);
  r = 1.f / (1.f + e);
  s = e * r;
}

__global__ void geluFwdKernel(const float *x, float *y, int64_t n) {
  HONE_GRID_STRIDE(i, n) {
    const float v = x[i];
    float s, r;
    geluSr(v, s, r);
    y[i] = v * s;
  }
}

__global__ void geluBwdKernel(const float *x, const float *dy, float *dx,
                              int64_t n) {
  HONE_GRID_STRIDE(i, n) {
    const float v = x[i];
    float s, r;
    geluSr(v, s, r);
    const float dt = kGeluK * (1.f + float(3 * 0.044715) * v * v);
    dx[i] = dy[i] * (s + (2.f * v * s * r) * dt);
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

} // namespace

void fill(cudaStream_t stream, float *x, int64_t n, float v) {
  fillKernel<<<gridFor(n), kThreads, 0, stream>>>(x, n, v);
  HONE_CUDA_LAUNCH_CHECK("fillKernel");
}

void scaleMatrix(cudaStream_t stream, float *C, int64_t m, int64_t n,
                 int64_t ldc, float beta) {
  scaleMatrixKernel<<<gridFor(m * n), kThreads, 0, stream>>>(C, m, n, ldc,
                                                              beta);
  HONE_CUDA_LAUNCH_CHECK("scaleMatrixKernel");
}

void broadcastRows(cudaStream_t stream, float *y, const float *b,
                   int64_t rows, int64_t cols) {
  broadcastRowsKernel<<<gridFor(rows * cols), kThreads, 0, stream>>>(
      y, b, rows, cols);
  HONE_CUDA_LAUNCH_CHECK("broadcastRowsKernel");
}

void addRows(cudaStream_t stream, float *y, const float *b, int64_t rows,
             int64_t cols) {
  addRowsKernel<<<gridFor(rows * cols), kThreads, 0, stream>>>(y, b, rows,
                                                                cols);
  HONE_CUDA_LAUNCH_CHECK("addRowsKernel");
}

void axpy(cudaStream_t stream, int64_t n, float alpha, const float *x,
          float *y) {
  axpyKernel<<<gridFor(n), kThreads, 0, stream>>>(n, alpha, x, y);
  HONE_CUDA_LAUNCH_CHECK("axpyKernel");
}

void scale(cudaStream_t stream, float *x, int64_t n, float alpha) {
  scaleKernel<<<gridFor(n), kThreads, 0, stream>>>(x, n, alpha);
  HONE_CUDA_LAUNCH_CHECK("scaleKernel");
}

void geluForward(cudaStream_t stream, const float *x, float *y, int64_t n) {
  geluFwdKernel<<<gridFor(n), kThreads, 0, stream>>>(x, y, n);
  HONE_CUDA_LAUNCH_CHECK("geluFwdKernel");
}

void geluBackward(cudaStream_t stream, const float *x, const float *dy,
                  float *dx, int64_t n) {
  geluBwdKernel<<<gridFor(n), kThreads, 0, stream>>>(x, dy, dx, n);
  HONE_CUDA_LAUNCH_CHECK("geluBwdKernel");
}

void swigluForward(cudaStream_t stream, const float *gu, int64_t rows,
                   int64_t ff, float *y) {
  swigluFwdKernel<<<gridFor(rows * ff), kThreads, 0, stream>>>(gu, rows, ff,
                                                                y);
  HONE_CUDA_LAUNCH_CHECK("swigluFwdKernel");
}

void swigluBackward(cudaStream_t stream, const float *gu, const float *dy,
                    int64_t rows, int64_t ff, float *dgu) {
  swigluBwdKernel<<<gridFor(rows * ff), kThreads, 0, stream>>>(gu, dy, rows,
                                                                ff, dgu);
  HONE_CUDA_LAUNCH_CHECK("swigluBwdKernel");
}

} // namespace cuda
} // namespace hone
