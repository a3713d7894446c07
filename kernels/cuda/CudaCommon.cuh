// Internal to kernels/cuda: error checks, launch shapes and the block/warp
// reductions every kernel uses. Reductions combine values in a fixed tree
// order (shuffle xor, then warp totals in warp order), so a result depends
// only on the data and the launch shape, never on scheduling.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace hone {
namespace cuda {

// --- errors -----------------------------------------------------------------
/// Prints one line (call, file:line, error string) to stderr and aborts.
[[noreturn]] void failCuda(cudaError_t e, const char *call, const char *file,
                           int line);
[[noreturn]] void failCublas(cublasStatus_t s, const char *call,
                             const char *file, int line);
/// For shape errors the interface cannot report (e.g. a GEMM dimension over
/// INT_MAX): one line and abort.
[[noreturn]] void failShape(const char *what, const char *file, int line);

#define HONE_CUDA_CHECK(call)                                                  \
  do {                                                                         \
    cudaError_t hone_e_ = (call);                                              \
    if (hone_e_ != cudaSuccess)                                                \
      ::hone::cuda::failCuda(hone_e_, #call, __FILE__, __LINE__);              \
  } while (0)

#define HONE_CUBLAS_CHECK(call)                                                \
  do {                                                                         \
    cublasStatus_t hone_s_ = (call);                                           \
    if (hone_s_ != CUBLAS_STATUS_SUCCESS)                                      \
      ::hone::cuda::failCublas(hone_s_, #call, __FILE__, __LINE__);            \
  } while (0)

/// After every kernel launch: catches bad launch configurations at once
/// (errors raised while a kernel runs surface at the next synchronising call).
#define HONE_CUDA_LAUNCH_CHECK(name)                                           \
  do {                                                                         \
    cudaError_t hone_e_ = cudaGetLastError();                                  \
    if (hone_e_ != cudaSuccess)                                                \
      ::hone::cuda::failCuda(hone_e_, "launch of " name, __FILE__, __LINE__);  \
  } while (0)

// --- launch shapes ----------------------------------------------------------
constexpr int kThreads = 256;
/// Blocks for a grid-stride loop over n elements: enough to fill any current
/// GPU, a constant so that results never depend on the device.
inline unsigned gridFor(int64_t n, int threads = kThreads) {
  int64_t b = (n + threads - 1) / threads;
  if (b < 1)
    b = 1;
  return unsigned(b < 8192 ? b : 8192);
}
/// Threads for a block that owns one row of `cols` elements.
inline int rowThreads(int64_t cols, int maxThreads = 256) {
  int t = 32;
  while (t < maxThreads && t < cols)
    t *= 2;
  return t;
}

#define HONE_GRID_STRIDE(i, n)                                                 \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n);   \
       i += int64_t(gridDim.x) * blockDim.x)

// --- reductions -------------------------------------------------------------
struct SumOp {
  template <typename T> __device__ T operator()(T a, T b) const {
    return a + b;
  }
};
struct MaxOp {
  template <typename T> __device__ T operator()(T a, T b) const {
    return a > b ? a : b;
  }
};
struct MinOp {
  template <typename T> __device__ T operator()(T a, T b) const {
    return a < b ? a : b;
  }
};

template <typename T, typename Op> __device__ T warpAllReduce(T v, Op op) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1)
    v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

/// Reduction over the whole block; every thread gets the result. blockDim.x
/// must be a multiple of 32 (at most 1024); every thread must call it.
template <typename T, typename Op>
__device__ T blockAllReduce(T v, Op op, T identity) {
  __shared__ T part[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int nWarps = blockDim.x >> 5;
  v = warpAllReduce(v, op);
  __syncthreads(); // `part` may still be read by a previous call
  if (lane == 0)
    part[warp] = v;
  __syncthreads();
  T w = lane < nWarps ? part[lane] : identity;
  return warpAllReduce(w, op);
}

template <typename T> __device__ T blockSum(T v) {
  return blockAllReduce(v, SumOp(), T(0));
}
__device__ inline float blockMax(float v) {
  return blockAllReduce(v, MaxOp(), -INFINITY);
}

/// Exclusive prefix sum over the block in thread order; returns the prefix
/// of this thread and writes the block total to *total. blockDim.x a
/// multiple of 32; every thread must call it.
template <typename T> __device__ T blockExclusiveScan(T v, T *total) {
  __shared__ T warpTot[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int nWarps = blockDim.x >> 5;
  T incl = v;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    T u = __shfl_up_sync(0xffffffffu, incl, o);
    if (lane >= o)
      incl += u;
  }
  __syncthreads();
  if (lane == 31)
    warpTot[warp] = incl;
  __syncthreads();
  T before = 0, all = 0;
  for (int w = 0; w < nWarps; ++w) { // fixed order; at most 32 terms
    T t = warpTot[w];
    if (w < warp)
      before += t;
    all += t;
  }
  T prev = __shfl_up_sync(0xffffffffu, incl, 1);
  *total = all;
  return before + (lane == 0 ? T(0) : prev);
}

} // namespace cuda
} // namespace hone
