// Internal to kernels/cpu: the kernel families of Attention.cpp, LmHead.cpp
// and Linear.cpp as function templates (instantiated there for float and
// double); CpuKernels.cpp composes them into the Kernels<T> interface, as
// kernels/cuda/CudaLaunch.h does for the CUDA backend. Semantics: the
// matching virtual functions in kernels/Kernels.h.
#pragma once

#include "kernels/Kernels.h"
#include "kernels/cpu/CpuCommon.h"

#include <cstdint>
#include <vector>

namespace hone {
namespace cpu {

// --- Attention.cpp -----------------------------------------------------------
template <typename T>
void attentionFwd(const T *qkv, const AttentionShape &s, T *probs, T *out);
template <typename T>
void attentionBwd(const T *qkv, const T *probs, const T *dout,
                  const AttentionShape &s, T *dqkv, ThreadScratch<T> &ts);
/// Kernels::attentionCachedShared (sharedLen may be null); `runs` and
/// `shared` are the caller's reusable index buffers.
template <typename T>
void attentionCachedShared(const T *qkv, int64_t batch, int64_t newLen,
                           int64_t nH, int64_t nKv, int64_t hd,
                           const int32_t *start, const int32_t *sharedLen,
                           int64_t cacheLen, T *kCache, T *vCache, T *out,
                           ThreadScratch<T> &ts, std::vector<int64_t> &runs,
                           std::vector<int64_t> &shared);

// --- Linear.cpp --------------------------------------------------------------
/// linearRowsF serves Kernels::linearRows for float, W not transposed, at
/// most this many rows, out a multiple of 16 and in, rows > 0.
constexpr int64_t kLinMaxRows = 256;
void linearRowsF(const float *x, int64_t m, int64_t k, int64_t n,
                 const float *W, const float *b, const float *res, bool gelu,
                 float *y, ThreadScratch<float> &ts);

// --- LmHead.cpp --------------------------------------------------------------
/// WT: T, or uint16_t (bf16 bits) for T = float. `z` is reusable scratch.
template <typename T, typename WT>
void lmHeadFwd(const T *hidden, const WT *W, const int32_t *targets,
               const LmHeadShape &s, T *logprob, T *entropy, T *lse,
               std::vector<T> &z);
template <typename T>
void lmHeadBwd(const T *hidden, const T *W, const int32_t *targets,
               const LmHeadShape &s, const T *lse, const T *entropy,
               const T *dlogprob, const T *dentropy, T *dhidden, T *dW,
               std::vector<T> &z);
template <typename T>
void sample(const T *logits, int64_t rows, int64_t V, const SamplerParams &sp,
            const uint32_t *sampleId, const uint32_t *drawIndex,
            const uint8_t *active, int32_t *tokens, T *logprob);

} // namespace cpu
} // namespace hone
