// Rotary position embedding (RoPE) on the rotated heads of a row, in place;
// the inverse frequencies come from the host (RopeSpec::invFreq, double).
#include "kernels/cuda/CudaCommon.cuh"
#include "kernels/cuda/CudaLaunch.h"

namespace hone {
namespace cuda {
namespace {

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

} // namespace

void rope(cudaStream_t stream, float *x, int64_t rows, int64_t ld,
          int64_t nRotHeads, int64_t hd, const int32_t *positions,
          const double *invFreq, bool inverse) {
  const int64_t half = hd / 2;
  ropeKernel<<<gridFor(rows * half), kThreads, 0, stream>>>(
      x, rows, ld, int(nRotHeads), int(hd), positions,
      invFreq, inverse ? -1.f : 1.f);
  HONE_CUDA_LAUNCH_CHECK("ropeKernel");
}

} // namespace cuda
} // namespace hone
