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
/// `packed` (nullable): W as packLinearRowsF wrote it, read in place of W
/// where the strips path runs (same bits; elsewhere ignored).
void linearRowsF(const float *x, int64_t m, int64_t k, int64_t n,
                 const float *W, const float *b, const float *res, bool gelu,
                 float *y, ThreadScratch<float> &ts,
                 const float *packed = nullptr);
/// Whether this build's linearRowsF reads a packed W [k, n] at m rows
/// (the strips path: without AVX-512, m <= 128, n >= 256 and a multiple
/// of 16; and k n >= 2^18, where packing pays: memsize::
/// generateTransientBytes mirrors this); packLinearRowsF then writes its
/// k x n floats in the order the strips path's blocks read them (64-column
/// tasks, 128-row k blocks, 16-column strips).
bool linearRowsPackable(int64_t m, int64_t k, int64_t n);
void packLinearRowsF(const float *W, int64_t k, int64_t n, float *dst);

/// linearRowsNT: y = act(residual + b + alpha x W^T) with W [n, k] (fp32,
/// or bf16 bits as uint16_t), k, m > 0: serves Kernels::linearRows with
/// transW and the decode logits at most kLinNtMaxRows rows (beyond, the
/// fp32 GEMM was faster), linearRowsBf16 and logitsBf16 at most
/// kLinNtMaxRowsBf16 (the GEMM path widens W first).
constexpr int64_t kLinNtMaxRows = 16;
constexpr int64_t kLinNtMaxRowsBf16 = 32;
template <typename WT>
void linearRowsNT(const float *x, int64_t m, int64_t k, int64_t n, const WT *W,
                  float alpha, const float *b, const float *res, bool gelu,
                  float *y);

// --- LmHead.cpp --------------------------------------------------------------
/// The LM head's chunk of logits: a block the job gave the kernels (the
/// memory plan's lm_head_scratch slot in the job's arena) when it is large
/// enough, else the kernels' own vector, grown as needed.
template <typename T> struct LmScratch {
  std::vector<T> own;
  T *ext = nullptr;
  int64_t extElems = 0;
  T *get(int64_t n) {
    if (ext && n <= extElems)
      return ext;
    if (int64_t(own.size()) < n)
      own.resize(size_t(n));
    return own.data();
  }
};
/// WT: T, or uint16_t (bf16 bits) for T = float. `z` is reusable scratch.
/// `keep` (nullable, rows x vocab elements): every chunk's logits are
/// computed there instead of in `z` and left for lmHeadBwd's `kept`.
template <typename T, typename WT>
void lmHeadFwd(const T *hidden, const WT *W, const int32_t *targets,
               const LmHeadShape &s, T *logprob, T *entropy, T *lse,
               LmScratch<T> &z, T *keep = nullptr);
/// WT as lmHeadFwd's; dW must be null for bf16 bits (a frozen head).
/// `kept` (nullable): the `keep` of the forward over the same rows, whose
/// logits are read instead of recomputed (the same bits) and overwritten
/// with dz; null, the logits are recomputed a chunk at a time in `z`.
template <typename T, typename WT>
void lmHeadBwd(const T *hidden, const WT *W, const int32_t *targets,
               const LmHeadShape &s, const T *lse, const T *entropy,
               const T *dlogprob, const T *dentropy, T *dhidden, T *dW,
               LmScratch<T> &z, T *kept = nullptr);
template <typename T>
void sample(const T *logits, int64_t rows, int64_t V, const SamplerParams &sp,
            const uint32_t *sampleId, const uint32_t *drawIndex,
            const uint8_t *active, int32_t *tokens, T *logprob);

} // namespace cpu
} // namespace hone
