// The kernel interface of the transformer: one abstract class per scalar type
// that every backend (kernels/cpu, later kernels/cuda) implements. The model
// (runtime/model) is written only against this interface, so swapping the
// backend does not change model code.
//
// Conventions:
// - Every pointer is device memory of the backend (host memory for the CPU
//   backend). Host <-> device traffic goes through copyToDevice/copyToHost.
// - Matrices are row-major. "rows" is the flattened batch*time dimension N.
// - Gradient outputs named d* ACCUMULATE (+=) unless documented otherwise,
//   so gradient accumulation over micro-batches is free.
// - Results are deterministic: for a given backend they do not depend on the
//   number of threads.
#pragma once

#include "runtime/base/DType.h"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace hone {

/// Shapes of one attention call over a fused qkv buffer [B*T, qkvStride]
/// holding Q (nHeads*headDim columns), then K, then V (nKvHeads*headDim each).
///
/// Packed (padding-free) batches: with `offsets` set (device memory,
/// [batch + 1], offsets[0] = 0, nondecreasing), sequence b is rows
/// offsets[b] .. offsets[b+1]-1 of qkv, out, dout and dqkv (its length
/// offsets[b+1] - offsets[b] is at most seqLen), its positions restart at 0
/// and its queries attend only its own keys (block-diagonal causal
/// attention); rows after offsets[batch] are not touched. The kept
/// probabilities are packed too: sequence b's are nHeads blocks of len x len
/// (row stride len) from element nHeads * sum_{b' < b} len_b'^2 on, so a
/// packed batch keeps nHeads * sum len^2 of them (probsElems) where a
/// padded one keeps batch * nHeads * seqLen^2 ([batch, nHeads, seqLen,
/// seqLen]).
struct AttentionShape {
  int64_t batch = 0;
  int64_t seqLen = 0;
  int64_t nHeads = 0;
  int64_t nKvHeads = 0;
  int64_t headDim = 0;
  const int32_t *offsets = nullptr;
  /// First row and length of sequence b (host-readable offsets only: the
  /// CPU backend's).
  int64_t firstRow(int64_t b) const {
    return offsets ? offsets[b] : b * seqLen;
  }
  int64_t lenOf(int64_t b) const {
    return offsets ? offsets[b + 1] - offsets[b] : seqLen;
  }
  int64_t qkvStride() const { return (nHeads + 2 * nKvHeads) * headDim; }
  /// Row stride of sequence b's probabilities, and where its head 0 block
  /// starts (host-readable offsets only).
  int64_t probsStride(int64_t b) const { return offsets ? lenOf(b) : seqLen; }
  int64_t probsBase(int64_t b) const {
    if (!offsets)
      return b * nHeads * seqLen * seqLen;
    int64_t n = 0;
    for (int64_t i = 0; i < b; ++i)
      n += lenOf(i) * lenOf(i);
    return n * nHeads;
  }
  /// Elements of the kept probabilities (host-readable offsets only).
  int64_t probsElems() const { return probsBase(batch); }
};

/// Rotary-embedding frequencies: theta^(-2i/headDim), optionally rescaled
/// as Hugging Face's `rope_scaling` types "linear" (every frequency divided
/// by `factor`) and "llama3" (Llama 3.1: low frequencies divided by
/// `factor`, high ones kept, a smooth blend in between, over a context of
/// `originalMaxPos`). Converts from a plain theta.
struct RopeSpec {
  enum Scaling : uint8_t { None, Linear, Llama3 };
  double theta = 10000.0;
  Scaling scaling = None;
  double factor = 1.0;
  double lowFreqFactor = 1.0;
  double highFreqFactor = 4.0;
  int64_t originalMaxPos = 8192;

  RopeSpec() = default;
  RopeSpec(double t) : theta(t) {} // NOLINT: a plain theta is a spec
  bool operator==(const RopeSpec &o) const {
    return theta == o.theta && scaling == o.scaling && factor == o.factor &&
           lowFreqFactor == o.lowFreqFactor &&
           highFreqFactor == o.highFreqFactor &&
           originalMaxPos == o.originalMaxPos;
  }
  bool operator!=(const RopeSpec &o) const { return !(*this == o); }
  /// The inverse frequency of rotation pair i (0 <= i < headDim / 2).
  double invFreq(int64_t i, int64_t headDim) const {
    double f = std::pow(theta, -double(2 * i) / double(headDim));
    if (scaling == Linear)
      return f / factor;
    if (scaling != Llama3)
      return f;
    const double kPi = 3.14159265358979323846;
    double wavelen = 2 * kPi / f;
    double lowWavelen = double(originalMaxPos) / lowFreqFactor;
    double highWavelen = double(originalMaxPos) / highFreqFactor;
    if (wavelen > lowWavelen)
      return f / factor;
    if (wavelen < highWavelen)
      return f;
    double smooth = (double(originalMaxPos) / wavelen - lowFreqFactor) /
                    (highFreqFactor - lowFreqFactor);
    return (1 - smooth) * f / factor + smooth * f;
  }
};

/// Shapes of the fused LM head: hidden [rows, dModel] against the vocabulary
/// matrix W [vocab, dModel] (logits = hidden W^T * invTemperature).
struct LmHeadShape {
  int64_t rows = 0;
  int64_t dModel = 0;
  int64_t vocab = 0;
  double invTemperature = 1.0;
};

/// Token sampling: per row, a draw from softmax(logits) restricted to the
/// topK largest logits and then to the smallest set holding topP of the
/// (renormalised) mass; the uniform comes from Philox(seed, step, rank,
/// sampleId[r]) block drawIndex[r], so CPU and GPU draw the same numbers.
struct SamplerParams {
  int64_t topK = 0;    // 0: off
  double topP = 1.0;   // 1: off
  bool greedy = false; // argmax, lowest id on ties; no draw
  uint64_t seed = 0;
  uint32_t step = 0;
  uint32_t rank = 0;
};

template <typename T> class Kernels;

/// A device allocation owned through its backend, or borrowed memory owned
/// elsewhere (borrow(): a view into the job's planned arena, which it keeps
/// a lease on until it is reset or destroyed).
template <typename T, typename E = T> class DeviceArray {
public:
  DeviceArray() = default;
  DeviceArray(Kernels<T> *k, int64_t n) : k_(k), n_(n) {
    p_ = n ? static_cast<E *>(k->allocBytes(size_t(n) * sizeof(E))) : nullptr;
  }
  /// n elements at p, not freed by the array; `lease` (any object the
  /// lender uses to know the bytes are taken) is dropped with the array.
  static DeviceArray borrow(E *p, int64_t n,
                            std::shared_ptr<void> lease = nullptr) {
    DeviceArray a;
    a.p_ = n ? p : nullptr;
    a.n_ = n;
    a.lease_ = std::move(lease);
    return a;
  }
  DeviceArray(const DeviceArray &) = delete;
  DeviceArray &operator=(const DeviceArray &) = delete;
  DeviceArray(DeviceArray &&o) noexcept { *this = std::move(o); }
  DeviceArray &operator=(DeviceArray &&o) noexcept {
    if (this != &o) {
      reset();
      k_ = o.k_;
      p_ = o.p_;
      n_ = o.n_;
      lease_ = std::move(o.lease_);
      o.p_ = nullptr;
      o.n_ = 0;
    }
    return *this;
  }
  ~DeviceArray() { reset(); }
  void reset() {
    if (p_ && k_)
      k_->freeBytes(p_);
    p_ = nullptr;
    n_ = 0;
    lease_.reset();
  }
  E *data() const { return p_; }
  int64_t size() const { return n_; }
  /// Whether the memory is borrowed (borrow()), not the backend's.
  bool borrowed() const { return p_ && !k_; }

private:
  Kernels<T> *k_ = nullptr;
  E *p_ = nullptr;
  int64_t n_ = 0;
  std::shared_ptr<void> lease_;
};

template <typename T> class Kernels {
public:
  virtual ~Kernels() = default;
  virtual Device device() const = 0;
  virtual const char *name() const = 0;

  // --- memory -------------------------------------------------------------
  virtual void *allocBytes(size_t bytes) = 0; // zeroed, 64-byte aligned
  virtual void freeBytes(void *p) = 0;
  virtual void copyToDevice(void *dst, const void *hostSrc, size_t bytes) = 0;
  virtual void copyToHost(void *hostDst, const void *src, size_t bytes) = 0;
  virtual void copy(T *dst, const T *src, int64_t n) = 0;
  virtual void fill(T *x, int64_t n, T value) = 0;
  /// Waits until all enqueued work is done (no-op on the CPU).
  virtual void synchronize() = 0;

  // --- dense algebra ------------------------------------------------------
  /// C[m,n] = alpha * op(A)[m,k] op(B)[k,n] + beta * C.
  virtual void gemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k,
                    T alpha, const T *A, int64_t lda, const T *B, int64_t ldb,
                    T beta, T *C, int64_t ldc) = 0;
  /// y[r, :] = b for every row (bias initialisation before a beta=1 gemm).
  virtual void broadcastRows(T *y, const T *b, int64_t rows, int64_t cols) = 0;
  /// y[r, :] += b for every row.
  virtual void addRows(T *y, const T *b, int64_t rows, int64_t cols) = 0;
  /// db += sum over rows of dy.
  virtual void sumRows(const T *dy, int64_t rows, int64_t cols, T *db) = 0;
  /// y += alpha * x.
  virtual void axpy(int64_t n, T alpha, const T *x, T *y) = 0;
  virtual void scale(T *x, int64_t n, T alpha) = 0;
  /// sum of squares, accumulated in double.
  virtual double sumSquares(const T *x, int64_t n) = 0;

  // --- embeddings ---------------------------------------------------------
  /// x[r] = wte[tokens[r]] (+ wpe[positions[r]] when wpe is non-null).
  virtual void embeddingFwd(const int32_t *tokens, const int32_t *positions,
                            int64_t rows, int64_t dModel, const T *wte,
                            const T *wpe, T *x) = 0;
  /// dwte[tokens[r]] += dx[r]; dwpe[positions[r]] += dx[r] when non-null.
  virtual void embeddingBwd(const int32_t *tokens, const int32_t *positions,
                            int64_t rows, int64_t dModel, const T *dx, T *dwte,
                            T *dwpe) = 0;

  // --- normalisation ------------------------------------------------------
  /// LayerNorm; saves mean and rstd [rows] for the backward.
  virtual void layerNormFwd(const T *x, const T *gamma, const T *beta,
                            int64_t rows, int64_t cols, double eps, T *y,
                            T *mean, T *rstd) = 0;
  /// dx (+=), dgamma (+=), dbeta (+=).
  virtual void layerNormBwd(const T *dy, const T *x, const T *gamma,
                            const T *mean, const T *rstd, int64_t rows,
                            int64_t cols, T *dx, T *dgamma, T *dbeta) = 0;
  /// RMSNorm (y = x * rstd * gamma); saves rstd [rows].
  virtual void rmsNormFwd(const T *x, const T *gamma, int64_t rows,
                          int64_t cols, double eps, T *y, T *rstd) = 0;
  virtual void rmsNormBwd(const T *dy, const T *x, const T *gamma,
                          const T *rstd, int64_t rows, int64_t cols, T *dx,
                          T *dgamma) = 0;

  // --- activations --------------------------------------------------------
  /// y = gelu_tanh(x) (GPT-2's "gelu_new"); y may alias x.
  virtual void geluFwd(const T *x, T *y, int64_t n) = 0;
  /// dx = dy * gelu'(x) (overwrites dx; dx may alias dy).
  virtual void geluBwd(const T *x, const T *dy, T *dx, int64_t n) = 0;
  /// gu [rows, 2*ff] = [gate | up]; y [rows, ff] = silu(gate) * up.
  virtual void swigluFwd(const T *gu, int64_t rows, int64_t ff, T *y) = 0;
  /// dgu [rows, 2*ff] (overwritten) from dy [rows, ff].
  virtual void swigluBwd(const T *gu, const T *dy, int64_t rows, int64_t ff,
                         T *dgu) = 0;

  // --- rotary embeddings (HF rotate_half convention) ----------------------
  /// Rotates, in place, the first nRotHeads heads of each row of x (row
  /// stride ld) by positions[r]; inverse=true applies the transpose rotation
  /// (the backward).
  virtual void rope(T *x, int64_t rows, int64_t ld, int64_t nRotHeads,
                    int64_t headDim, const int32_t *positions,
                    const RopeSpec &rope, bool inverse) = 0;

  /// Per-head RMSNorm (Qwen3's q_norm/k_norm): for each row r of x and y
  /// (row stride ld) the nHeads consecutive heads of headDim values starting
  /// at the row are normalised with the shared gain gamma [headDim]; rstd
  /// [rows * nHeads] is saved when non-null. x and y must not alias. The
  /// default runs rmsNormFwd row by row; a backend may fuse it.
  virtual void headRmsNormFwd(const T *x, const T *gamma, int64_t rows,
                              int64_t ld, int64_t nHeads, int64_t headDim,
                              double eps, T *y, T *rstd) {
    for (int64_t r = 0; r < rows; ++r)
      rmsNormFwd(x + r * ld, gamma, nHeads, headDim, eps, y + r * ld,
                 rstd ? rstd + r * nHeads : nullptr);
  }
  /// Its backward: dx is OVERWRITTEN on the heads (the rest of each row is
  /// left alone; dx must not alias dy), dgamma accumulates.
  virtual void headRmsNormBwd(const T *dy, const T *x, const T *gamma,
                              const T *rstd, int64_t rows, int64_t ld,
                              int64_t nHeads, int64_t headDim, T *dx,
                              T *dgamma) {
    for (int64_t r = 0; r < rows; ++r) {
      fill(dx + r * ld, nHeads * headDim, T(0));
      rmsNormBwd(dy + r * ld, x + r * ld, gamma, rstd + r * nHeads, nHeads,
                 headDim, dx + r * ld, dgamma);
    }
  }

  // --- attention ----------------------------------------------------------
  /// Causal self-attention over a fused qkv buffer [B*T, qkvStride]. Writes
  /// out [B*T, nHeads*headDim] and the softmax probabilities probs
  /// [B, nHeads, T, T] (kept for the backward).
  virtual void attentionFwd(const T *qkv, const AttentionShape &s, T *probs,
                            T *out) = 0;
  /// dqkv [B*T, qkvStride] is OVERWRITTEN.
  virtual void attentionBwd(const T *qkv, const T *probs, const T *dout,
                            const AttentionShape &s, T *dqkv) = 0;
  /// Attention of `newLen` new rows per sequence against a KV cache.
  /// qkv [batch*newLen, qkvStride] holds the new rows (RoPE applied); their
  /// K, V are written into the caches at positions start[b] + i, and
  /// query i of sequence b attends cache positions 0 .. start[b] + i.
  /// kCache and vCache hold, per sequence and KV head, a slot of
  /// cacheLen * headDim elements ([batch, nKvHeads, slot]); the layout
  /// inside a slot is the backend's own (CPU: V [cacheLen, headDim], K in
  /// tiles of 64 positions [headDim, 64]; CUDA: K [headDim, cacheLen],
  /// V [cacheLen, headDim]), so callers only copy whole slots.
  virtual void attentionCached(const T *qkv, int64_t batch, int64_t newLen,
                               int64_t nHeads, int64_t nKvHeads,
                               int64_t headDim, const int32_t *start,
                               int64_t cacheLen, T *kCache, T *vCache,
                               T *out) = 0;
  /// attentionCached with a hint for samples of one prompt: sharedLen
  /// (nullable, [batch], device memory like start) says that cache positions
  /// [0, sharedLen[b]) of sequence b hold the same K and V as those of sequence
  /// b - 1 (sharedLen[0] and entries of unrelated rows are 0; sharedLen[b] <=
  /// start[b]). A backend may read such a prefix once for a whole run of
  /// rows; the results must equal attentionCached's. The default ignores the
  /// hint.
  virtual void attentionCachedShared(const T *qkv, int64_t batch,
                                     int64_t newLen, int64_t nHeads,
                                     int64_t nKvHeads, int64_t headDim,
                                     const int32_t *start,
                                     const int32_t *sharedLen, int64_t cacheLen,
                                     T *kCache, T *vCache, T *out) {
    (void)sharedLen;
    attentionCached(qkv, batch, newLen, nHeads, nKvHeads, headDim, start,
                    cacheLen, kCache, vCache, out);
  }

  // --- fused LM head + log-softmax (vocabulary-chunked) -------------------
  /// For each row r with targets[r] >= 0: logprob[r] = log softmax(z)[t],
  /// entropy[r] = H(softmax(z)), lse[r] = logsumexp(z), where
  /// z = invTemperature * hidden[r] W^T. Rows with targets[r] < 0 get 0.
  /// Never materialises more than `rows x chunk` logits, unless `keep`
  /// (nullable; only where keepsLmLogits(), else ignored) is given: a
  /// [rows, vocab] block (rows x vocab elements, in the backend's own
  /// chunked layout) where the logits are left for lmHeadBwd's `kept`.
  virtual void lmHeadFwd(const T *hidden, const T *W, const int32_t *targets,
                         const LmHeadShape &s, T *logprob, T *entropy, T *lse,
                         T *keep = nullptr) = 0;
  /// From dlogprob [rows] and optional dentropy [rows] (nullable):
  /// dhidden += dz W, dW += dz^T hidden (chunked, recomputing z); dW null
  /// (a frozen head) skips the weight gradient. `kept` (nullable; only
  /// where keepsLmLogits()): the `keep` block the forward over the same
  /// rows, W and temperature filled; its logits are read instead of
  /// recomputed (results bit-identical) and overwritten (one backward per
  /// forward).
  virtual void lmHeadBwd(const T *hidden, const T *W, const int32_t *targets,
                         const LmHeadShape &s, const T *lse, const T *entropy,
                         const T *dlogprob, const T *dentropy, T *dhidden,
                         T *dW, T *kept = nullptr) = 0;
  /// Whether lmHeadFwd's `keep` and lmHeadBwd's `kept` are honoured (the
  /// CPU backend); elsewhere the backward recomputes the logits.
  virtual bool keepsLmLogits() const { return false; }
  /// Full logits [rows, vocab] (generation: only the last rows).
  virtual void logits(const T *hidden, const T *W, const LmHeadShape &s,
                      T *out) = 0;

  /// For each row r with active[r] != 0: tokens[r] = the sampled id and
  /// logprob[r] = log softmax(logits[r])[tokens[r]] (the full distribution,
  /// before truncation). Rows with active[r] == 0 are left untouched.
  virtual void sample(const T *logits, int64_t rows, int64_t vocab,
                      const SamplerParams &p, const uint32_t *sampleId,
                      const uint32_t *drawIndex, const uint8_t *active,
                      int32_t *tokens, T *logprob) = 0;

  // --- fused layers (decoding) ------------------------------------------
  /// A dense layer of the incremental forward, y = act(residual + b + x W):
  /// x [rows, in]; W [in, out] (GPT-2's Conv1D), or [out, in] when transW;
  /// b [out] and residual [rows, out] nullable (residual must not alias y);
  /// act is GELU (tanh form) when gelu. The default runs the separate
  /// kernels (copy/addRows or broadcastRows, gemm with beta 1, geluFwd); a
  /// backend may fuse them, with results equal up to rounding.
  virtual void linearRows(const T *x, int64_t rows, int64_t in, int64_t out,
                          const T *W, bool transW, const T *b,
                          const T *residual, bool gelu, T *y) {
    const int64_t n = rows * out;
    if (residual) {
      copy(y, residual, n);
      if (b)
        addRows(y, b, rows, out);
    } else if (b) {
      broadcastRows(y, b, rows, out);
    }
    gemm(false, transW, rows, out, in, T(1), x, in, W, transW ? in : out,
         residual || b ? T(1) : T(0), y, out);
    if (gelu)
      geluFwd(y, y, n);
  }

  /// W packed once for many linearRows calls (a generate call's decode
  /// steps, over weights that do not change meanwhile):
  /// linearRowsPackSize is the elements a packed copy of W [in, out] (or
  /// [out, in] when transW) takes for calls of up to `rows` rows, 0 where
  /// this backend reads W as it is there; packLinearRows writes that copy
  /// to `packed`; linearRowsPacked is linearRows reading W's packed copy
  /// where it can (W stays valid, and the results are linearRows's bits).
  virtual int64_t linearRowsPackSize(int64_t rows, int64_t in, int64_t out,
                                     bool transW) {
    (void)rows;
    (void)in;
    (void)out;
    (void)transW;
    return 0;
  }
  virtual void packLinearRows(const T *W, int64_t in, int64_t out,
                              bool transW, T *packed) {
    (void)W;
    (void)in;
    (void)out;
    (void)transW;
    (void)packed;
  }
  virtual void linearRowsPacked(const T *x, int64_t rows, int64_t in,
                                int64_t out, const T *W, const T *packed,
                                bool transW, const T *b, const T *residual,
                                bool gelu, T *y) {
    (void)packed;
    linearRows(x, rows, in, out, W, transW, b, residual, gelu, y);
  }

  // --- fused layers (training) -------------------------------------------
  /// The training forward's dense layer, keeping its pre-activation:
  /// pre [rows, out] = (residual + b) + x W, rounded as copy/addRows (or
  /// broadcastRows) then gemm with beta 1 round it, and, when act is not
  /// null, act = gelu_tanh(pre) (geluFwd's function). W as linearRows's;
  /// b, residual and act nullable; none may alias pre. The default runs
  /// the separate kernels; a backend may fuse them with the same results
  /// (the CPU backend fills, multiplies and activates each slice of rows
  /// on one thread: bit for bit the separate kernels' results).
  virtual void denseFwd(const T *x, int64_t rows, int64_t in, int64_t out,
                        const T *W, bool transW, const T *b,
                        const T *residual, T *pre, T *act) {
    const int64_t n = rows * out;
    if (residual) {
      copy(pre, residual, n);
      if (b)
        addRows(pre, b, rows, out);
    } else if (b) {
      broadcastRows(pre, b, rows, out);
    }
    gemm(false, transW, rows, out, in, T(1), x, in, W, transW ? in : out,
         residual || b ? T(1) : T(0), pre, out);
    if (act)
      geluFwd(pre, act, n);
  }
  /// The GELU layer's backward through the next dense layer: C [m, n]
  /// (leading dimension n) = (A op(B)) * gelu'(pre), pre [m, n], as gemm
  /// with beta 0 then geluBwd(pre, C, C) round it. The default runs those
  /// two kernels; the CPU backend applies gelu' to each slice of C on the
  /// thread that multiplied it (same bits).
  virtual void gemmGeluBwd(bool transB, int64_t m, int64_t n, int64_t k,
                           const T *A, int64_t lda, const T *B, int64_t ldb,
                           const T *pre, T *C) {
    gemm(false, transB, m, n, k, T(1), A, lda, B, ldb, T(0), C, n);
    geluBwd(pre, C, C, m * n);
  }

  // --- weights stored in bf16 (frozen models) ------------------------------
  // A frozen model may keep its matrices as bf16 bits (uint16_t, the upper
  // half of an IEEE float; runtime/base/DType.h) to halve their bytes
  // (docs/runtime.md, "Frozen models in bf16"). These overloads take such a
  // weight in place of a T one; the defaults widen the weight to T in a
  // temporary buffer and call the T kernel (correct on every backend, and
  // as slow as a copy); the CPU backend overrides them without a full copy
  // (kernels/cpu/Gemm.h).

  /// dst[i] = float(src[i]) (n elements, device memory). The default goes
  /// through host memory.
  virtual void widenBf16(const uint16_t *src, T *dst, int64_t n) {
    if (n <= 0)
      return;
    std::vector<uint16_t> h(size_t(n), 0);
    std::vector<T> f(static_cast<size_t>(n));
    copyToHost(h.data(), src, size_t(n) * 2);
    for (size_t i = 0; i < h.size(); ++i)
      f[i] = T(bf16ToFloat(h[i]));
    copyToDevice(dst, f.data(), size_t(n) * sizeof(T));
  }
  /// gemm with B as bf16 bits: C = alpha op(A) op(B) + beta C.
  virtual void gemmBf16B(bool transA, bool transB, int64_t m, int64_t n,
                         int64_t k, T alpha, const T *A, int64_t lda,
                         const uint16_t *B, int64_t ldb, T beta, T *C,
                         int64_t ldc) {
    const int64_t rows = transB ? n : k, cols = transB ? k : n;
    DeviceArray<T> w = widened(B, rows, ldb, cols);
    gemm(transA, transB, m, n, k, alpha, A, lda, w.data(), cols, beta, C, ldc);
  }
  /// embeddingFwd with bf16 tables (wpe nullable).
  virtual void embeddingFwdBf16(const int32_t *tokens, const int32_t *positions,
                                int64_t rows, int64_t dModel,
                                const uint16_t *wte, int64_t vocab,
                                const uint16_t *wpe, int64_t maxPos, T *x) {
    DeviceArray<T> e = widened(wte, vocab, dModel, dModel);
    DeviceArray<T> p;
    if (wpe)
      p = widened(wpe, maxPos, dModel, dModel);
    embeddingFwd(tokens, positions, rows, dModel, e.data(), p.data(), x);
  }
  /// lmHeadFwd with a bf16 head W [vocab, dModel].
  virtual void lmHeadFwdBf16(const T *hidden, const uint16_t *W,
                             const int32_t *targets, const LmHeadShape &s,
                             T *logprob, T *entropy, T *lse,
                             T *keep = nullptr) {
    DeviceArray<T> w = widened(W, s.vocab, s.dModel, s.dModel);
    lmHeadFwd(hidden, w.data(), targets, s, logprob, entropy, lse, keep);
  }
  /// lmHeadBwd with a bf16 head W [vocab, dModel]: dhidden += dz W. A
  /// bf16 head is frozen (a LoRA model on a bf16 base), so there is no dW.
  virtual void lmHeadBwdBf16(const T *hidden, const uint16_t *W,
                             const int32_t *targets, const LmHeadShape &s,
                             const T *lse, const T *entropy,
                             const T *dlogprob, const T *dentropy,
                             T *dhidden, T *kept = nullptr) {
    DeviceArray<T> w = widened(W, s.vocab, s.dModel, s.dModel);
    lmHeadBwd(hidden, w.data(), targets, s, lse, entropy, dlogprob, dentropy,
              dhidden, nullptr, kept);
  }
  /// logits with a bf16 head W [vocab, dModel].
  virtual void logitsBf16(const T *hidden, const uint16_t *W,
                          const LmHeadShape &s, T *out) {
    DeviceArray<T> w = widened(W, s.vocab, s.dModel, s.dModel);
    logits(hidden, w.data(), s, out);
  }
  /// linearRows with a bf16 W (same layout rules); the default runs the
  /// separate kernels like linearRows's default.
  virtual void linearRowsBf16(const T *x, int64_t rows, int64_t in, int64_t out,
                              const uint16_t *W, bool transW, const T *b,
                              const T *residual, bool gelu, T *y) {
    const int64_t n = rows * out;
    if (residual) {
      copy(y, residual, n);
      if (b)
        addRows(y, b, rows, out);
    } else if (b) {
      broadcastRows(y, b, rows, out);
    }
    gemmBf16B(false, transW, rows, out, in, T(1), x, in, W, transW ? in : out,
              residual || b ? T(1) : T(0), y, out);
    if (gelu)
      geluFwd(y, y, n);
  }

  // --- optimiser ----------------------------------------------------------
  /// One AdamW update of n parameters; gradScale multiplies g first (global
  /// norm clipping). biasCorrection1/2 = 1 - beta^t. zeroGrad: the gradient
  /// is cleared in the same pass (saves a separate sweep over memory).
  virtual void adamw(T *param, T *grad, T *m, T *v, int64_t n, double lr,
                     double beta1, double beta2, double eps, double weightDecay,
                     double biasCorrection1, double biasCorrection2,
                     double gradScale, bool zeroGrad) = 0;

protected:
  /// A new buffer holding the rows x cols bf16 matrix at src (leading
  /// dimension ld) widened to T.
  DeviceArray<T> widened(const uint16_t *src, int64_t rows, int64_t ld,
                         int64_t cols) {
    DeviceArray<T> w(this, rows * cols);
    if (ld == cols) {
      widenBf16(src, w.data(), rows * cols);
      return w;
    }
    for (int64_t r = 0; r < rows; ++r)
      widenBf16(src + r * ld, w.data() + r * cols, cols);
    return w;
  }
};

} // namespace hone
