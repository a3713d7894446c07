// The AdamW update, element-wise, with the CPU backend's float constants
// (computed on the host by the caller), optionally zeroing the gradient.
#include "kernels/cuda/CudaCommon.cuh"
#include "kernels/cuda/CudaLaunch.h"

namespace hone {
namespace cuda {
namespace {

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

} // namespace

void adamw(cudaStream_t stream, float *param, float *grad, float *m, float *v,
           int64_t n, float b1, float b2, float gs, float decay,
           float stepSize, float rbc2, float e, bool zeroGrad) {
  if (zeroGrad)
    adamwKernel<true><<<gridFor(n), kThreads, 0, stream>>>(
        param, grad, m, v, n, b1, b2, gs, decay, stepSize, rbc2, e);
  else
    adamwKernel<false><<<gridFor(n), kThreads, 0, stream>>>(
        param, grad, m, v, n, b1, b2, gs, decay, stepSize, rbc2, e);
  HONE_CUDA_LAUNCH_CHECK("adamwKernel");
}

} // namespace cuda
} // namespace hone
