// The transformer's incremental forward for generation: KV caches, the
// cached forward over new tokens and the logits of its hidden states
// (runtime/model/Transformer.h).
#include "runtime/model/TransformerImpl.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

namespace hone {

template <typename T>
Expected<KvCache<T>> Transformer<T>::makeKvCache(int64_t batch,
                                                 int64_t cacheLen) {
  if (batch <= 0 || cacheLen <= 0 || cacheLen > cfg_.maxSeqLen)
    return Status::error("model: KV cache of " + std::to_string(batch) + " x " +
                         std::to_string(cacheLen) + " (maximum length " +
                         std::to_string(cfg_.maxSeqLen) + ")");
  KvCache<T> c;
  c.batch = batch;
  c.cacheLen = cacheLen;
  int64_t n = batch * cfg_.nKvHeads * cacheLen * cfg_.headDim();
  for (int64_t l = 0; l < cfg_.nLayers; ++l) {
    c.k.emplace_back(k_, n);
    c.v.emplace_back(k_, n);
    if (!c.k.back().data() || !c.v.back().data())
      return Status::error("model: out of memory allocating the KV cache");
  }
  return c;
}

template <typename T>
Expected<KvCache<T> *> Transformer<T>::reusableKvCache(int64_t batch,
                                                       int64_t cacheLen) {
  const int64_t n = batch * cfg_.nKvHeads * cacheLen * cfg_.headDim();
  // Planned: the cache lies in the placer's slot, each layer's K then V at
  // 64-byte-rounded strides (memsize::kvCacheBytes); it moves when the op
  // now running has it elsewhere.
  const WorkPlacer::Slot slot = slotOf(WorkPlacer::KvCache);
  const bool moved = slot.p && kvCache_ && !kvCache_->k.empty() &&
                     kvCache_->k[0].data() != slot.p;
  if (!kvCache_ || kvCache_->k.empty() || kvCache_->k[0].size() < n || moved) {
    kvCache_.reset(); // free the old one before allocating the larger
    const int64_t per = (n * int64_t(sizeof(T)) + 63) / 64 * 64;
    bool fresh = true;
    std::shared_ptr<void> lease;
    if (slot.p && batch > 0 && cacheLen > 0 && cacheLen <= cfg_.maxSeqLen)
      lease = placer_->take(WorkPlacer::KvCache, slot,
                            2 * cfg_.nLayers * per, &fresh);
    if (lease) { // not cleared, like a kept cache (attention reads only
                 // the positions written)
      char *p = static_cast<char *>(slot.p);
      auto c = std::make_unique<KvCache<T>>();
      for (int64_t l = 0; l < cfg_.nLayers; ++l) {
        c->k.push_back(DeviceArray<T>::borrow(
            reinterpret_cast<T *>(p + 2 * l * per), n, lease));
        c->v.push_back(DeviceArray<T>::borrow(
            reinterpret_cast<T *>(p + (2 * l + 1) * per), n, lease));
      }
      kvCache_ = std::move(c);
    } else {
      auto c = makeKvCache(batch, cacheLen);
      if (!c)
        return c.status();
      kvCache_ = std::make_unique<KvCache<T>>(c.take());
    }
  } else if (cacheLen > cfg_.maxSeqLen || batch <= 0 || cacheLen <= 0) {
    return Status::error("model: KV cache of " + std::to_string(batch) + " x " +
                         std::to_string(cacheLen) + " (maximum length " +
                         std::to_string(cfg_.maxSeqLen) + ")");
  }
  kvCache_->batch = batch;
  kvCache_->cacheLen = cacheLen;
  return kvCache_.get();
}

template <typename T>
Expected<const T *>
Transformer<T>::forwardCached(KvCache<T> &cache, const int32_t *tokens,
                              const int32_t *start, int64_t B, int64_t newLen,
                              const int32_t *sharedLen, const int32_t *lens,
                              bool lastRowsOnly) {
  const ModelConfig &c = cfg_;
  if (B <= 0 || B > cache.batch || newLen <= 0)
    return Status::error("model: incremental forward of " + std::to_string(B) +
                         " x " + std::to_string(newLen) + " on a cache for " +
                         std::to_string(cache.batch));
  if (lens && sharedLen)
    return Status::error("model: packed new tokens with a shared-prefix hint");
  int64_t N = 0; // rows: the new tokens of all sequences
  for (int64_t b = 0; b < B; ++b) {
    const int64_t len = lens ? lens[b] : newLen;
    if (len < 1 || len > newLen)
      return Status::error("model: sequence " + std::to_string(b) + " brings " +
                           std::to_string(len) + " new tokens (1.." +
                           std::to_string(newLen) + ")");
    if (start[b] < 0 || start[b] + len > cache.cacheLen)
      return Status::error("model: positions " + std::to_string(start[b]) +
                           ".." + std::to_string(start[b] + len - 1) +
                           " exceed the KV cache length " +
                           std::to_string(cache.cacheLen));
    if (sharedLen && (sharedLen[b] < 0 || sharedLen[b] > start[b] ||
                      (b == 0 && sharedLen[b] != 0)))
      return Status::error("model: shared prefix " +
                           std::to_string(sharedLen[b]) + " of sequence " +
                           std::to_string(b) + " outside [0, start]");
    for (int64_t i = N; i < N + len; ++i)
      if (tokens[i] < 0 || tokens[i] >= c.vocabSize)
        return Status::error("model: token " + std::to_string(tokens[i]) +
                             " outside the vocabulary");
    N += len;
  }
  for (int64_t b = 0; b < B; ++b) { // positions start..start+len-1 attend
    const double len = double(lens ? lens[b] : newLen);
    work_.cachedAttended += len * double(start[b]) + len * (len + 1) / 2;
  }
  work_.cachedRows += double(N);
  const int64_t D = c.dModel;
  const int64_t hd = c.headDim(), Q = (c.nHeads + 2 * c.nKvHeads) * hd;
  const int64_t A = c.nHeads * hd, F = c.dFf;
  const bool gpt2 = c.family == ModelFamily::GPT2;
  const int64_t Fpre = gpt2 ? F : 2 * F;
  // Planned: in the placer's slot for the op now running (moved there,
  // sized afresh, when the kept workspace lies elsewhere).
  const WorkPlacer::Slot slot = slotOf(WorkPlacer::Workspace);
  const bool moved = slot.p && inf_ && inf_->block.data() != slot.p;
  if (!inf_ || inf_->B * inf_->S < N || inf_->B < B || moved) {
    // Grow to the largest shape seen (prefill rows, decode batch) so that
    // alternating prefill and decode calls do not reallocate.
    const bool keep = inf_ && !moved;
    const int64_t capN = std::max(N, keep ? inf_->B * inf_->S : 0);
    const int64_t capB = std::max(B, keep ? inf_->B : 0);
    inf_.reset();
    auto a = std::make_unique<Acts>();
    a->B = capB;
    a->S = (capN + capB - 1) / capB;
    const int64_t NR = a->B * a->S;
    Planner<T> pl;
    T *res0, *res1, *ln, *mean, *rstd, *qkv, *att, *mid, *pre, *act;
    pl.take(res0, NR * D);
    pl.take(res1, NR * D);
    pl.take(ln, NR * D);
    pl.take(mean, NR);
    pl.take(rstd, NR);
    pl.take(qkv, NR * Q);
    pl.take(att, NR * A);
    pl.take(mid, NR * D);
    pl.take(pre, NR * Fpre);
    pl.take(act, NR * F);
    pl.take(a->lnf, NR * D);
    if (c.qkNorm)
      pl.take(a->dqkPre, NR * Q); // q/k/v before the per-head norms
    if (loraMaxCols_)
      pl.take(a->loraDu, NR * loraMaxCols_); // LoRA's x A^T
    pl.takeI(a->tokens, NR);
    pl.takeI(a->positions, NR);
    pl.takeI(a->start, capB);
    pl.takeI(a->shared, capB);
    if (!allocBlock(WorkPlacer::Workspace, slot, pl.tn, pl.in, a->block,
                    a->ints))
      return Status::error("model: out of memory allocating the "
                           "incremental-forward workspace for " +
                           std::to_string(N) + " rows");
    for (auto &pr : pl.tp)
      *pr.first = a->block.data() + pr.second;
    for (auto &pr : pl.ip)
      *pr.first = a->ints.data() + pr.second;
    a->res = {res0, res1};
    a->ln1 = {ln};
    a->mean1 = {mean};
    a->rstd1 = {rstd};
    a->qkv = {qkv};
    a->att = {att};
    a->mid = {mid};
    a->ffPre = {pre};
    a->ffAct = {act};
    inf_ = std::move(a);
  }
  Acts &a = *inf_;
  std::vector<int32_t> pos(static_cast<size_t>(N));
  for (int64_t b = 0, r = 0; b < B; ++b)
    for (int64_t i = 0; i < (lens ? lens[b] : newLen); ++i)
      pos[size_t(r++)] = start[b] + int32_t(i);
  k_->copyToDevice(a.tokens, tokens, size_t(N) * 4);
  k_->copyToDevice(a.positions, pos.data(), size_t(N) * 4);
  k_->copyToDevice(a.start, start, size_t(B) * 4);
  if (sharedLen)
    k_->copyToDevice(a.shared, sharedLen, size_t(B) * 4);

  T *ln = a.ln1[0], *qkv = a.qkv[0], *att = a.att[0], *mid = a.mid[0];
  T *pre = a.ffPre[0], *act = a.ffAct[0];
  embed(a.tokens, a.positions, N, a.res[0]);
  // Rows past the attention: all N, or with lastRowsOnly, in the last
  // layer, each sequence's last row only (B rows; the K/V of every row are
  // in the cache by then, and no other row's output is read).
  int64_t M = N;
  for (size_t l = 0; l < layers_.size(); ++l) {
    const Layer &L = layers_[l];
    T *x = a.res[l % 2], *y = a.res[(l + 1) % 2];
    if (gpt2)
      k_->layerNormFwd(x, vec(L.ln1w), vec(L.ln1b), N, D, c.normEps, ln,
                       nullptr, nullptr);
    else
      k_->rmsNormFwd(x, vec(L.ln1w), N, D, c.normEps, ln, nullptr);
    // Dense layers through Kernels::linearRows, which a backend may fuse
    // (bias, residual and GELU in the GEMM's epilogue).
    auto bias = [&](int64_t off) { return off >= 0 ? vec(off) : nullptr; };
    linearRowsW(ln, N, D, Q, L.wqkv, !gpt2, bias(L.bqkv), nullptr, false,
                c.qkNorm ? a.dqkPre : qkv);
    if (const LoraGroup *G = loraGroup(l, kQkv))
      loraFwd(*G, ln, N, c.qkNorm ? a.dqkPre : qkv, Q, a.loraDu);
    if (c.qkNorm)
      qkNormFwd(L, a.dqkPre, N, qkv, nullptr);
    if (!gpt2)
      k_->rope(qkv, N, Q, c.nHeads + c.nKvHeads, hd, a.positions, rope_,
               false);
    if (lens) {
      // Packed: one call per run of sequences of equal length, at their
      // rows and cache slots (each sequence's attention is independent).
      const int64_t slot = c.nKvHeads * cache.cacheLen * hd;
      for (int64_t b0 = 0, r0 = 0; b0 < B;) {
        int64_t b1 = b0 + 1;
        while (b1 < B && lens[b1] == lens[b0])
          ++b1;
        k_->attentionCached(qkv + r0 * Q, b1 - b0, lens[b0], c.nHeads,
                            c.nKvHeads, hd, a.start + b0, cache.cacheLen,
                            cache.k[l].data() + b0 * slot,
                            cache.v[l].data() + b0 * slot, att + r0 * A);
        r0 += (b1 - b0) * lens[b0];
        b0 = b1;
      }
    } else {
      k_->attentionCachedShared(qkv, B, newLen, c.nHeads, c.nKvHeads, hd,
                                a.start, sharedLen ? a.shared : nullptr,
                                cache.cacheLen, cache.k[l].data(),
                                cache.v[l].data(), att);
    }
    if (lastRowsOnly && l + 1 == layers_.size() && N > B) {
      // Each sequence's last row of att and x to row b, in order of b
      // (its source row is at or after b, and after every row already
      // moved: nothing is overwritten before it is read).
      for (int64_t b = 0, end = 0; b < B; ++b) {
        end += lens ? lens[b] : newLen;
        if (end - 1 != b) {
          k_->copy(att + b * A, att + (end - 1) * A, A);
          k_->copy(x + b * D, x + (end - 1) * D, D);
        }
      }
      M = B;
    }
    linearRowsW(att, M, A, D, L.wo, !gpt2, bias(L.bo), x, false, mid);
    if (const LoraGroup *G = loraGroup(l, kO))
      loraFwd(*G, att, M, mid, D, a.loraDu);
    if (gpt2) {
      k_->layerNormFwd(mid, vec(L.ln2w), vec(L.ln2b), M, D, c.normEps, ln,
                       nullptr, nullptr);
      linearRowsW(ln, M, D, F, L.wfc, false, bias(L.bfc), nullptr, true, act);
    } else {
      k_->rmsNormFwd(mid, vec(L.ln2w), M, D, c.normEps, ln, nullptr);
      linearRowsW(ln, M, D, 2 * F, L.wfc, true, nullptr, nullptr, false, pre);
      if (const LoraGroup *G = loraGroup(l, kGateUp))
        loraFwd(*G, ln, M, pre, 2 * F, a.loraDu);
      k_->swigluFwd(pre, M, F, act);
    }
    linearRowsW(act, M, F, D, L.wproj, !gpt2, bias(L.bproj), mid, false, y);
    if (const LoraGroup *G = loraGroup(l, kDown))
      loraFwd(*G, act, M, y, D, a.loraDu);
  }
  const T *xL = a.res[layers_.size() % 2];
  if (gpt2)
    k_->layerNormFwd(xL, vec(lnfW_), vec(lnfB_), M, D, c.normEps, a.lnf,
                     nullptr, nullptr);
  else
    k_->rmsNormFwd(xL, vec(lnfW_), M, D, c.normEps, a.lnf, nullptr);
  return static_cast<const T *>(a.lnf);
}

template <typename T>
Status Transformer<T>::logits(const T *hidden, int64_t rows, double temperature,
                              T *out) {
  if (cfg_.head != HeadKind::LM)
    return Status::error("model: logits of a scalar-head model");
  if (!(temperature > 0))
    return Status::error("model: temperature must be positive");
  LmHeadShape hs{rows, cfg_.dModel, cfg_.vocabSize, 1.0 / temperature};
  if (hp_)
    k_->logitsBf16(hidden, hp_ + lm_, hs, out);
  else
    k_->logits(hidden, lmWeight(), hs, out);
  return Status::ok();
}

// Explicit instantiations of the members defined in this file.
#define HONE_INSTANTIATE(T)                                                    \
  template Expected<KvCache<T>> Transformer<T>::makeKvCache(int64_t, int64_t); \
  template Expected<KvCache<T> *> Transformer<T>::reusableKvCache(int64_t,     \
                                                                  int64_t);    \
  template Expected<const T *> Transformer<T>::forwardCached(                  \
      KvCache<T> &, const int32_t *, const int32_t *, int64_t, int64_t,        \
      const int32_t *, const int32_t *, bool);                                 \
  template Status Transformer<T>::logits(const T *, int64_t, double, T *);
HONE_INSTANTIATE(float)
HONE_INSTANTIATE(double)
#undef HONE_INSTANTIATE

} // namespace hone
