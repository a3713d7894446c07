// Normalisation kernels: LayerNorm and RMSNorm forward and backward, one
// block per row, block reductions in a fixed order (CudaCommon.cuh). The
// gains' gradients are column sums (Reduce.cu).
#include "kernels/cuda/CudaCommon.cuh"
#include "kernels/cuda/CudaLaunch.h"

namespace hone {
namespace cuda {
namespace {

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

} // namespace

void layerNormForward(cudaStream_t stream, const float *x, const float *gamma,
                      const float *beta, int64_t rows, int64_t cols,
                      double eps, float *y, float *mean, float *rstd) {
  layerNormFwdKernel<<<unsigned(rows), rowThreads(cols), 0, stream>>>(
      x, gamma, beta, cols, float(eps), y, mean, rstd);
  HONE_CUDA_LAUNCH_CHECK("layerNormFwdKernel");
}

void layerNormBackward(cudaStream_t stream, const float *dy, const float *x,
                       const float *gamma, const float *mean,
                       const float *rstd, int64_t rows, int64_t cols,
                       float *dx) {
  layerNormBwdKernel<<<unsigned(rows), rowThreads(cols), 0, stream>>>(
      dy, x, gamma, mean, rstd, cols, dx);
  HONE_CUDA_LAUNCH_CHECK("layerNormBwdKernel");
}

void rmsNormForward(cudaStream_t stream, const float *x, const float *gamma,
                    int64_t rows, int64_t cols, double eps, float *y,
                    float *rstd) {
  rmsNormFwdKernel<<<unsigned(rows), rowThreads(cols), 0, stream>>>(
      x, gamma, cols, float(eps), y, rstd);
  HONE_CUDA_LAUNCH_CHECK("rmsNormFwdKernel");
}

void rmsNormBackward(cudaStream_t stream, const float *dy, const float *x,
                     const float *gamma, const float *rstd, int64_t rows,
                     int64_t cols, float *dx) {
  rmsNormBwdKernel<<<unsigned(rows), rowThreads(cols), 0, stream>>>(
      dy, x, gamma, rstd, cols, dx);
  HONE_CUDA_LAUNCH_CHECK("rmsNormBwdKernel");
}

} // namespace cuda
} // namespace hone
