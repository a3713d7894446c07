// Internal to kernels/cuda: the kernels of Attention.cu and LmHead.cu as
// host-side launch functions (all asynchronous on `stream`); CudaKernels.cu
// composes them with cuBLAS into the Kernels<float> interface.
#pragma once

#include "kernels/Kernels.h"

#include <cuda_runtime.h>

#include <cstdint>

namespace hone {
namespace cuda {

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
