// Internal to kernels/cuda: the kernel families (one .cu file each) as
// host-side launch functions, all asynchronous on `stream`; CudaKernels.cu
// composes them with cuBLAS into the Kernels<float> interface, as
// kernels/cpu/CpuOps.h does for the CPU backend. Callers check sizes first
// (no launch for an empty problem).
#pragma once

#include "kernels/Kernels.h"

#include <cuda_runtime.h>

#include <cstdint>

namespace hone {
namespace cuda {

// --- Elementwise.cu ----------------------------------------------------------
void fill(cudaStream_t stream, float *x, int64_t n, float v);
/// C[i, j] = beta * C[i, j] (0 when beta == 0): a GEMM with k == 0.
void scaleMatrix(cudaStream_t stream, float *C, int64_t m, int64_t n,
                 int64_t ldc, float beta);
void broadcastRows(cudaStream_t stream, float *y, const float *b,
                   int64_t rows, int64_t cols);
void addRows(cudaStream_t stream, float *y, const float *b, int64_t rows,
             int64_t cols);
void axpy(cudaStream_t stream, int64_t n, float alpha, const float *x,
          float *y);
void scale(cudaStream_t stream, float *x, int64_t n, float alpha);
void geluForward(cudaStream_t stream, const float *x, float *y, int64_t n);
void geluBackward(cudaStream_t stream, const float *x, const float *dy,
                  float *dx, int64_t n);
void swigluForward(cudaStream_t stream, const float *gu, int64_t rows,
                   int64_t ff, float *y);
void swigluBackward(cudaStream_t stream, const float *gu, const float *dy,
                    int64_t rows, int64_t ff, float *dgu);

// --- Reduce.cu ---------------------------------------------------------------
/// Floats of scratch (`partial`) a column sum over rows x cols needs.
int64_t columnSumsScratch(int64_t rows, int64_t cols);
/// out[c] += sum over rows of dy[r, c] (bias gradients).
void sumRowsInto(cudaStream_t stream, const float *dy, int64_t rows,
                 int64_t cols, float *partial, float *out);
/// dgamma[c] += sum over rows of dy[r, c] (x[r, c] - mean[r]) rstd[r].
void layerNormGammaGrad(cudaStream_t stream, const float *dy, const float *x,
                        const float *mean, const float *rstd, int64_t rows,
                        int64_t cols, float *partial, float *dgamma);
/// dgamma[c] += sum over rows of dy[r, c] x[r, c] rstd[r].
void rmsNormGammaGrad(cudaStream_t stream, const float *dy, const float *x,
                      const float *rstd, int64_t rows, int64_t cols,
                      float *partial, float *dgamma);
/// Elements per block of sumSquares' first pass.
constexpr int64_t kSqChunk = int64_t(1) << 16;
/// part[nb] = sum of x[i]^2 in double, over nb = ceil(n / kSqChunk) block
/// sums in part[0 .. nb-1].
void sumSquares(cudaStream_t stream, const float *x, int64_t n, int64_t nb,
                double *part);

// --- Embedding.cu ------------------------------------------------------------
void embeddingForward(cudaStream_t stream, const int32_t *tokens,
                      const int32_t *positions, int64_t rows, int64_t d,
                      const float *wte, const float *wpe, float *x);
/// out[ids[r], c] += dx[r, c], each element summed in row order.
void scatterRows(cudaStream_t stream, const int32_t *ids, int64_t rows,
                 int64_t d, const float *dx, float *out);

// --- Norms.cu (one block per row: rows <= INT_MAX) ---------------------------
void layerNormForward(cudaStream_t stream, const float *x, const float *gamma,
                      const float *beta, int64_t rows, int64_t cols,
                      double eps, float *y, float *mean, float *rstd);
/// dx += the input gradient (the gains' gradients: Reduce.cu).
void layerNormBackward(cudaStream_t stream, const float *dy, const float *x,
                       const float *gamma, const float *mean,
                       const float *rstd, int64_t rows, int64_t cols,
                       float *dx);
void rmsNormForward(cudaStream_t stream, const float *x, const float *gamma,
                    int64_t rows, int64_t cols, double eps, float *y,
                    float *rstd);
void rmsNormBackward(cudaStream_t stream, const float *dy, const float *x,
                     const float *gamma, const float *rstd, int64_t rows,
                     int64_t cols, float *dx);

// --- Rope.cu -----------------------------------------------------------------
/// Rotates the first nRotHeads heads of each row (stride ld) by position;
/// invFreq (device, [hd / 2]); inverse: the backward (rotation by -angle).
void rope(cudaStream_t stream, float *x, int64_t rows, int64_t ld,
          int64_t nRotHeads, int64_t hd, const int32_t *positions,
          const double *invFreq, bool inverse);

// --- Adamw.cu ----------------------------------------------------------------
void adamw(cudaStream_t stream, float *param, float *grad, float *m, float *v,
           int64_t n, float b1, float b2, float gs, float decay,
           float stepSize, float rbc2, float e, bool zeroGrad);

// --- Attention.cu ------------------------------------------------------------
/// Causal attention forward; writes probs [B, nH, T, T] (zeros above the
/// diagonal) and out [B*T, nH*hd]. `offsets` (device, [B+1], nullable): a
/// packed batch (kernels/Kernels.h, AttentionShape::offsets).
void attentionForward(cudaStream_t stream, const float *qkv, int64_t B,
                      int64_t T, int64_t nH, int64_t nKv, int64_t hd,
                      const int32_t *offsets, float *probs, float *out);
/// Overwrites dqkv [B*T, (nH+2nKv)*hd] (a packed batch's rows only);
/// `rowScratch` holds B*nH*T floats.
void attentionBackward(cudaStream_t stream, const float *qkv,
                       const float *probs, const float *dout, int64_t B,
                       int64_t T, int64_t nH, int64_t nKv, int64_t hd,
                       const int32_t *offsets, float *dqkv, float *rowScratch);
/// KV-cache attention (see Kernels::attentionCached).
void attentionDecode(cudaStream_t stream, const float *qkv, int64_t batch,
                     int64_t newLen, int64_t nH, int64_t nKv, int64_t hd,
                     const int32_t *start, int64_t cacheLen, float *kCache,
                     float *vCache, float *out);

// --- LmHead.cu ---------------------------------------------------------------
/// Running statistics of the chunked log-softmax: m = -inf, the rest 0.
void lmHeadInit(cudaStream_t stream, int64_t rows, float *m, float *se,
                float *sz, float *zt);
/// Folds one vocabulary chunk z [rows, c] (columns v0 .. v0+c-1) into the
/// running max m, sum exp(z-m) se, sum exp(z-m) z sz, and the target logit.
void lmHeadChunkStats(cudaStream_t stream, const float *z, int64_t rows,
                      int64_t c, int64_t v0, const int32_t *targets, float *m,
                      float *se, float *sz, float *zt);
void lmHeadFinish(cudaStream_t stream, int64_t rows, const int32_t *targets,
                  const float *m, const float *se, const float *sz,
                  const float *zt, float *logprob, float *entropy, float *lse);
/// Turns logits z [rows, c] into dz in place (see CpuKernels::lmHeadBwd).
void lmHeadChunkGrad(cudaStream_t stream, float *z, int64_t rows, int64_t c,
                     int64_t v0, const int32_t *targets, const float *lse,
                     const float *entropy, const float *dlogprob,
                     const float *dentropy, float invT);
void sampleRows(cudaStream_t stream, const float *logits, int64_t rows,
                int64_t vocab, const SamplerParams &p, const uint32_t *sampleId,
                const uint32_t *drawIndex, const uint8_t *active,
                int32_t *tokens, float *logprob);

} // namespace cuda
} // namespace hone
