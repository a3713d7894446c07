// Embedding kernels: the token (+ position) embedding forward and its
// backward as a deterministic scatter (each element summed in row order,
// the CPU's order; no atomics).
#include "kernels/cuda/CudaCommon.cuh"
#include "kernels/cuda/CudaLaunch.h"

#include <algorithm>
#include <climits>

namespace hone {
namespace cuda {
namespace {

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

} // namespace

void embeddingForward(cudaStream_t stream, const int32_t *tokens,
                      const int32_t *positions, int64_t rows, int64_t d,
                      const float *wte, const float *wpe, float *x) {
  embeddingFwdKernel<<<gridFor(rows * d), kThreads, 0, stream>>>(
      tokens, positions, rows, d, wte, wpe, x);
  HONE_CUDA_LAUNCH_CHECK("embeddingFwdKernel");
}

void scatterRows(cudaStream_t stream, const int32_t *ids, int64_t rows,
                 int64_t d, const float *dx, float *out) {
  // Enough (column, partition) threads to fill the GPU; the partition
  // count changes who adds, never the order of the additions.
  const int parts = int(std::min<int64_t>(
      64, std::max<int64_t>(1, (int64_t(1) << 16) / std::max<int64_t>(d, 1))));
  const int64_t colBlocks = (d + 127) / 128;
  if (colBlocks > INT_MAX)
    failShape("embedding backward: dModel too large", __FILE__, __LINE__);
  scatterRowsKernel<<<dim3(unsigned(colBlocks), unsigned(parts)), 128, 0,
                      stream>>>(ids, rows, d, parts, dx, out);
  HONE_CUDA_LAUNCH_CHECK("scatterRowsKernel");
}

} // namespace cuda
} // namespace hone
