// Reductions over rows, deterministic: the two-pass column sums (bias and
// norm-gain gradients: fixed row chunks summed into a partial buffer, then
// the chunks summed in order per column) and sumSquares (fixed blocks
// summed in double, then the blocks in order).
#include "kernels/cuda/CudaCommon.cuh"
#include "kernels/cuda/CudaLaunch.h"

#include <algorithm>
#include <climits>

namespace hone {
namespace cuda {
namespace {

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

template <typename F>
void columnSums(cudaStream_t stream, int64_t rows, int64_t cols, F f,
                float *partial, float *out) {
  const int64_t per = rowsPerChunk(rows);
  const int64_t nChunks = (rows + per - 1) / per; // <= 512
  const int64_t colBlocks = (cols + 31) / 32;
  if (colBlocks > INT_MAX)
    failShape("column reduction: too many columns", __FILE__, __LINE__);
  colPartialKernel<<<dim3(unsigned(colBlocks), unsigned(nChunks)),
                     dim3(32, 8), 0, stream>>>(rows, cols, per, f, partial);
  HONE_CUDA_LAUNCH_CHECK("colPartialKernel");
  colFinishKernel<<<gridFor(cols), kThreads, 0, stream>>>(cols, nChunks,
                                                           partial, out);
  HONE_CUDA_LAUNCH_CHECK("colFinishKernel");
}

} // namespace

int64_t columnSumsScratch(int64_t rows, int64_t cols) {
  const int64_t per = rowsPerChunk(rows);
  const int64_t nChunks = (rows + per - 1) / per; // <= 512
  return nChunks * cols;
}

void sumRowsInto(cudaStream_t stream, const float *dy, int64_t rows,
                 int64_t cols, float *partial, float *out) {
  columnSums(stream, rows, cols, SumRowsF{dy, cols}, partial, out);
}

void layerNormGammaGrad(cudaStream_t stream, const float *dy, const float *x,
                        const float *mean, const float *rstd, int64_t rows,
                        int64_t cols, float *partial, float *dgamma) {
  columnSums(stream, rows, cols, LnGammaF{dy, x, mean, rstd, cols}, partial,
             dgamma);
}

void rmsNormGammaGrad(cudaStream_t stream, const float *dy, const float *x,
                      const float *rstd, int64_t rows, int64_t cols,
                      float *partial, float *dgamma) {
  columnSums(stream, rows, cols, RmsGammaF{dy, x, rstd, cols}, partial,
             dgamma);
}

void sumSquares(cudaStream_t stream, const float *x, int64_t n, int64_t nb,
                double *part) {
  sumSquaresPartialKernel<<<unsigned(nb), kThreads, 0, stream>>>(x, n, part);
  HONE_CUDA_LAUNCH_CHECK("sumSquaresPartialKernel");
  sumSquaresFinishKernel<<<1, 1024, 0, stream>>>(part, nb, part + nb);
  HONE_CUDA_LAUNCH_CHECK("sumSquaresFinishKernel");
}

} // namespace cuda
} // namespace hone
