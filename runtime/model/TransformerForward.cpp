// The transformer's full forward over a batch, padded or packed, and the
// activations it keeps for backward (runtime/model/Transformer.h).
#include "runtime/model/TransformerImpl.h"

#include "runtime/model/MemorySizes.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

namespace hone {

template <typename T>
void Transformer<T>::qkNormFwd(const Layer &L, const T *pre, int64_t N, T *qkv,
                               T *rstd) {
  const ModelConfig &c = cfg_;
  const int64_t hd = c.headDim(), H = c.nHeads, Hk = c.nKvHeads;
  const int64_t Q = (H + 2 * Hk) * hd;
  k_->copy(qkv, pre, N * Q); // v is not normalised
  k_->headRmsNormFwd(pre, vec(L.qn), N, Q, H, hd, c.normEps, qkv, rstd);
  k_->headRmsNormFwd(pre + H * hd, vec(L.kn), N, Q, Hk, hd, c.normEps,
                     qkv + H * hd, rstd ? rstd + N * H : nullptr);
}

template <typename T>
Status Transformer<T>::validateBatch(const TokenBatch &b) const {
  if (b.batch <= 0 || b.seqLen <= 0)
    return Status::error("model: empty batch (" + std::to_string(b.batch) +
                         " x " + std::to_string(b.seqLen) + ")");
  if (b.seqLen > cfg_.maxSeqLen)
    return Status::error("model: sequence length " + std::to_string(b.seqLen) +
                         " exceeds the model's maximum " +
                         std::to_string(cfg_.maxSeqLen));
  if (!b.tokens || !b.lengths)
    return Status::error("model: batch without tokens or lengths");
  for (int64_t i = 0; i < b.batch; ++i) {
    int32_t len = b.lengths[i];
    if (len < 1 || len > b.seqLen)
      return Status::error("model: sequence " + std::to_string(i) +
                           " has length " + std::to_string(len) +
                           ", outside [1, " + std::to_string(b.seqLen) + "]");
    for (int64_t t = 0; t < len; ++t) {
      int32_t tok = b.tokens[i * b.seqLen + t];
      if (tok < 0 || tok >= cfg_.vocabSize)
        return Status::error("model: token " + std::to_string(tok) + " at [" +
                             std::to_string(i) + ", " + std::to_string(t) +
                             "] is outside the vocabulary "
                             "of " +
                             std::to_string(cfg_.vocabSize));
    }
  }
  return Status::ok();
}

template <typename T>
void Transformer<T>::planActs(Acts *a, Planner<T> &pl, int64_t B, int64_t Tn,
                              int64_t N, int64_t P, int64_t NX,
                              bool keep) const {
  a->NX = NX;
  a->keepLogits = keep;
  a->B = B;
  a->S = Tn;
  a->N = N;
  a->P = P;
  a->training = true;
  const ModelConfig &c = cfg_;
  // N: the stream's rows; outputs in the token-aligned layout (logprob,
  // entropy, values) keep B * Tn.
  const int64_t D = c.dModel, L = c.nLayers, BT = B * Tn;
  const int64_t hd = c.headDim(), Q = (c.nHeads + 2 * c.nKvHeads) * hd;
  const int64_t A = c.nHeads * hd;
  const bool gpt2 = c.family == ModelFamily::GPT2;
  const int64_t Fpre = gpt2 ? c.dFf : 2 * c.dFf;
  // Recomputed layers 0..R-1 (setRecomputeLayers) share layer 0's working
  // buffers; layers R..L-1 keep their own. res keeps every layer's input.
  const int64_t R = std::clamp<int64_t>(recompute_, 0, L);
  a->recompute = R;
  auto vec = [&](std::vector<T *> &v, int64_t n, int64_t count) {
    v.assign(size_t(count), nullptr);
    for (auto &p : v)
      pl.take(p, n);
  };
  auto perLayer = [&](std::vector<T *> &v, int64_t n, bool on) {
    v.assign(size_t(on ? L : 0), nullptr);
    for (int64_t l = 0; l < int64_t(v.size()); ++l)
      if (l > 0 && l < R)
        pl.alias(v[size_t(l)], v[0]);
      else
        pl.take(v[size_t(l)], n);
  };
  vec(a->res, N * D, L + 1);
  perLayer(a->ln1, N * D, true);
  perLayer(a->mean1, N, gpt2);
  perLayer(a->rstd1, N, true);
  perLayer(a->qkv, N * Q, true);
  perLayer(a->probs, P, true);
  perLayer(a->att, N * A, true);
  perLayer(a->mid, N * D, true);
  perLayer(a->ln2, N * D, true);
  perLayer(a->mean2, N, gpt2);
  perLayer(a->rstd2, N, true);
  perLayer(a->ffPre, N * Fpre, true);
  perLayer(a->ffAct, N * c.dFf, true);
  perLayer(a->qkPre, N * Q, c.qkNorm);
  perLayer(a->qkRstd, N * (c.nHeads + c.nKvHeads), c.qkNorm);
  if (c.qkNorm)
    pl.take(a->dqkPre, N * Q);
  if (!gpt2) {
    a->mean1.assign(size_t(L), nullptr);
    a->mean2.assign(size_t(L), nullptr);
  }
  pl.take(a->lnf, N * D);
  if (gpt2)
    pl.take(a->meanF, N);
  pl.take(a->rstdF, N);
  pl.take(a->lpRow, N);
  pl.take(a->entRow, N);
  pl.take(a->lse, N);
  pl.take(a->logprob, BT);
  pl.take(a->entropy, BT);
  pl.take(a->values, BT);
  pl.take(a->rewards, B);
  pl.take(a->dA, N * D);
  pl.take(a->dLn, N * D);
  if (!gpt2) // GPT-2's fused GELU backward writes d(ffPre) directly
    pl.take(a->dAct, N * c.dFf);
  pl.take(a->dPre, N * Fpre);
  pl.take(a->dAtt, N * A);
  pl.take(a->dqkv, N * Q);
  pl.take(a->dRow, N);
  pl.take(a->dEntRow, N);
  pl.take(a->dLnf, N * D);
  pl.take(a->dVals, N);
  if (keep)
    pl.take(a->logits, N * c.vocabSize);
  a->loraU.assign(loraIndex_.size(), nullptr);
  for (size_t i = 0; i < loraIndex_.size(); ++i)
    if (loraIndex_[i] >= 0) {
      // A recomputed layer's group shares layer 0's (every layer has the
      // same targets, so the same groups and widths).
      const size_t l = i / kGroups, g = i % kGroups;
      if (l > 0 && int64_t(l) < R && loraIndex_[g] >= 0 &&
          loraGroups_[size_t(loraIndex_[g])].cols ==
              loraGroups_[size_t(loraIndex_[i])].cols)
        pl.alias(a->loraU[i], a->loraU[g]);
      else
        pl.take(a->loraU[i], N * loraGroups_[size_t(loraIndex_[i])].cols);
    }
  if (loraMaxCols_)
    pl.take(a->loraDu, N * loraMaxCols_);
  if (lora_.dropout > 0)
    pl.take(a->loraX, N * loraMaxIn_);
  pl.takeI(a->tokens, N);
  pl.takeI(a->positions, N);
  pl.takeI(a->targets, N);
  pl.takeI(a->offsets, B + 1);
  if (NX > 0) {
    pl.take(a->qkvX, NX * Q);
    pl.take(a->attX, NX * A);
    pl.take(a->dqkvX, NX * Q);
    pl.takeI(a->xOffsets, 2 * B + 1);
  }
}

template <typename T>
int64_t Transformer<T>::workspaceBytes(int64_t batch, int64_t seqLen,
                                       const int32_t *lengths,
                                       bool keepLogits) const {
  Acts a;
  Planner<T> pl;
  int64_t N = batch * seqLen, P = batch * cfg_.nHeads * seqLen * seqLen;
  if (lengths) {
    memsize::PackedRows r = memsize::packedRows(lengths, batch);
    N = r.tokens;
    P = cfg_.nHeads * r.squares;
  }
  planActs(&a, pl, batch, seqLen, N, P, 0,
           keepLogits && cfg_.head == HeadKind::LM);
  return pl.tn * int64_t(sizeof(T)) + pl.in * 4;
}

template <typename T>
bool Transformer<T>::allocBlock(WorkPlacer::Kind kind,
                                const WorkPlacer::Slot &slot, int64_t n,
                                int64_t ni, DeviceArray<T> &block,
                                DeviceArray<T, int32_t> &ints) {
  const int64_t tb = (n * int64_t(sizeof(T)) + 63) / 64 * 64;
  const int64_t ib = (ni * 4 + 63) / 64 * 64;
  if (slot.p && placer_) {
    // Not zeroed: every buffer is written before it is read (as when a
    // kept block is re-planned for another shape), whatever another buffer
    // left in the bytes (JobArena.ActivationsAtThePlannedOffset runs on
    // NaN bytes); clearing them would cost a memset each time buffers of
    // different models take turns in the same bytes.
    bool fresh = true;
    if (std::shared_ptr<void> lease = placer_->take(kind, slot, tb + ib,
                                                    &fresh)) {
      char *p = static_cast<char *>(slot.p);
      block = DeviceArray<T>::borrow(reinterpret_cast<T *>(p), n, lease);
      ints = DeviceArray<T, int32_t>::borrow(reinterpret_cast<int32_t *>(p + tb),
                                             ni, std::move(lease));
      return true;
    }
  }
  block = DeviceArray<T>(k_, n);
  ints = DeviceArray<T, int32_t>(k_, ni);
  return (block.data() || n == 0) && (ints.data() || ni == 0);
}

template <typename T>
Status Transformer<T>::ensureActs(int64_t B, int64_t Tn, int64_t N,
                                  int64_t P, int64_t NX, bool keep) {
  // The plan may put this op's activations elsewhere than the kept ones
  // (another stage's slot, a transient read's): they move there.
  const WorkPlacer::Slot slot = slotOf(WorkPlacer::Activations);
  const bool moved = slot.p && acts_ && acts_->block.data() != slot.p;
  if (acts_ && !moved && acts_->B == B && acts_->S == Tn && acts_->N == N &&
      acts_->P == P && acts_->NX == NX && acts_->keepLogits == keep &&
      acts_->recompute == std::clamp<int64_t>(recompute_, 0, cfg_.nLayers))
    return Status::ok();
  // Re-plan for the new shape; keep the allocation when it is big enough
  // (micro-batches of varying size, packed batches of varying tokens do not
  // reallocate).
  std::unique_ptr<Acts> a = std::make_unique<Acts>();
  Planner<T> pl;
  planActs(a.get(), pl, B, Tn, N, P, NX, keep);
  if (acts_ && !moved && acts_->block.size() >= pl.tn &&
      acts_->ints.size() >= pl.in) {
    a->block = std::move(acts_->block);
    a->ints = std::move(acts_->ints);
  } else {
    acts_.reset();
    if (!allocBlock(WorkPlacer::Activations, slot, pl.tn, pl.in, a->block,
                    a->ints))
      return Status::error("model: out of memory allocating " +
                               std::to_string(pl.tn * int64_t(sizeof(T)) +
                                              pl.in * 4) +
                               " bytes of activations for a " +
                               std::to_string(B) + " x " + std::to_string(Tn) +
                               " batch",
                           "use smaller micro-batches");
  }
  for (auto &pr : pl.tp)
    *pr.first = a->block.data() + pr.second;
  for (auto &pr : pl.ip)
    *pr.first = a->ints.data() + pr.second;
  for (auto &pr : pl.same)
    *pr.first = *pr.second;
  acts_ = std::move(a);
  actsLayer_ = -1;
  return Status::ok();
}

template <typename T>
void Transformer<T>::linearFwd(const T *x, int64_t rows, int64_t in,
                               int64_t out, int64_t wOff, int64_t bOff,
                               bool conv1d, T *y, const T *residual, T *act) {
  const T *b = bOff >= 0 ? vec(bOff) : nullptr;
  if (!hp_) {
    k_->denseFwd(x, rows, in, out, wp_ + wOff, !conv1d, b, residual, y, act);
    return;
  }
  if (residual) {
    k_->copy(y, residual, rows * out);
    if (b)
      k_->addRows(y, b, rows, out);
  } else if (b) {
    k_->broadcastRows(y, b, rows, out);
  }
  gemmW(!conv1d, rows, out, in, x, in, wOff, conv1d ? out : in,
        residual || b ? T(1) : T(0), y, out);
  if (act)
    k_->geluFwd(y, act, rows * out);
}

// One layer's forward from its input res[l] into its buffers and its output
// res[l+1]. redo: backward() recomputing a layer whose buffers are the
// shared working set (setRecomputeLayers): the same kernels on the same
// input give the same bits; res[l+1] is not written again.
template <typename T>
void Transformer<T>::layerFwd(size_t l, const AttentionShape &as, bool redo) {
  const ModelConfig &c = cfg_;
  Acts &a = *acts_;
  const int64_t N = N_, D = c.dModel;
  const int64_t hd = c.headDim(), Q = (c.nHeads + 2 * c.nKvHeads) * hd;
  const int64_t A = c.nHeads * hd, F = c.dFf;
  const bool gpt2 = c.family == ModelFamily::GPT2;
  const Layer &L = layers_[l];
  if (gpt2)
    k_->layerNormFwd(a.res[l], vec(L.ln1w), vec(L.ln1b), N, D, c.normEps,
                     a.ln1[l], a.mean1[l], a.rstd1[l]);
  else
    k_->rmsNormFwd(a.res[l], vec(L.ln1w), N, D, c.normEps, a.ln1[l],
                   a.rstd1[l]);
  linearFwd(a.ln1[l], N, D, Q, L.wqkv, L.bqkv, gpt2,
            c.qkNorm ? a.qkPre[l] : a.qkv[l]);
  if (const LoraGroup *G = loraGroup(l, kQkv))
    loraFwd(*G, a.ln1[l], N, c.qkNorm ? a.qkPre[l] : a.qkv[l], Q,
            a.loraU[l * kGroups + kQkv], l, dropNow_);
  if (c.qkNorm)
    qkNormFwd(L, a.qkPre[l], N, a.qkv[l], a.qkRstd[l]);
  if (!gpt2)
    k_->rope(a.qkv[l], N, Q, c.nHeads + c.nKvHeads, hd, a.positions, rope_,
             false);
  attentionFwdAt(l, as);
  linearFwd(a.att[l], N, A, D, L.wo, L.bo, gpt2, a.mid[l], a.res[l]);
  if (const LoraGroup *G = loraGroup(l, kO))
    loraFwd(*G, a.att[l], N, a.mid[l], D, a.loraU[l * kGroups + kO], l,
            dropNow_);
  if (gpt2) {
    k_->layerNormFwd(a.mid[l], vec(L.ln2w), vec(L.ln2b), N, D, c.normEps,
                     a.ln2[l], a.mean2[l], a.rstd2[l]);
    linearFwd(a.ln2[l], N, D, F, L.wfc, L.bfc, true, a.ffPre[l], nullptr,
              a.ffAct[l]);
  } else {
    k_->rmsNormFwd(a.mid[l], vec(L.ln2w), N, D, c.normEps, a.ln2[l],
                   a.rstd2[l]);
    linearFwd(a.ln2[l], N, D, 2 * F, L.wfc, -1, false, a.ffPre[l]);
    if (const LoraGroup *G = loraGroup(l, kGateUp))
      loraFwd(*G, a.ln2[l], N, a.ffPre[l], 2 * F,
              a.loraU[l * kGroups + kGateUp], l, dropNow_);
    k_->swigluFwd(a.ffPre[l], N, F, a.ffAct[l]);
  }
  // The layer's output res[l+1] is kept: a recomputation (redo) needs only
  // the down projection's adapter product u, not the projection.
  if (!redo)
    linearFwd(a.ffAct[l], N, F, D, L.wproj, L.bproj, gpt2, a.res[l + 1],
              a.mid[l]);
  if (const LoraGroup *G = loraGroup(l, kDown))
    loraFwd(*G, a.ffAct[l], N, redo ? nullptr : a.res[l + 1], D,
            a.loraU[l * kGroups + kDown], l, dropNow_);
}


namespace {

/// planShare's groups: end[b0] (one past the last member of the group
/// sequence b0 leads) and shared[b0] (its prefix S) for every lead b0 from
/// 0; returns the rows they save in all.
int64_t shareGroups(const TokenBatch &bt, std::vector<int64_t> &end,
                    std::vector<int64_t> &shared) {
  // Groups of consecutive sequences whose first S + 1 tokens equal the
  // group's first's, S >= kMinShared (a shorter common prefix, e.g. the
  // first digits of two dataset rows, is left alone: copies and another
  // attention call for little), chosen to save the most rows in all:
  // saved[b] = the most rows sequences b.. can save, a group [b, e) saving
  // (e - b - 1) x S (so the samples of each prompt, not a chat template
  // common to every prompt, make the groups); members scanned at most
  // kScan ahead.
  constexpr int64_t kMinShared = 4, kScan = 256;
  const int64_t B = bt.batch, Tn = bt.seqLen;
  auto lcp = [&](int64_t x, int64_t y) {
    const int64_t n = std::min(bt.lengths[x], bt.lengths[y]);
    const int32_t *p = bt.tokens + x * Tn, *q = bt.tokens + y * Tn;
    int64_t i = 0;
    while (i < n && p[i] == q[i])
      ++i;
    return i;
  };
  std::vector<int64_t> saved(size_t(B + 1), 0);
  end.assign(size_t(B), 0);
  shared.assign(size_t(B), 0);
  for (int64_t b0 = B - 1; b0 >= 0; --b0) {
    saved[size_t(b0)] = saved[size_t(b0 + 1)];
    end[size_t(b0)] = b0 + 1;
    int64_t s = std::numeric_limits<int64_t>::max();
    for (int64_t e = b0 + 1; e < B && e - b0 <= kScan; ++e) {
      s = std::min(s, lcp(b0, e) - 1);
      if (s < kMinShared)
        break;
      const int64_t v = (e - b0) * s + saved[size_t(e + 1)];
      if (v > saved[size_t(b0)]) {
        saved[size_t(b0)] = v;
        end[size_t(b0)] = e + 1;
        shared[size_t(b0)] = s;
      }
    }
  }
  return saved[0];
}

} // namespace

int64_t sharedPrefixRows(const TokenBatch &b) {
  std::vector<int64_t> end, shared;
  return b.batch > 0 ? shareGroups(b, end, shared) : 0;
}

template <typename T> int64_t Transformer<T>::planShare(const TokenBatch &bt) {
  const int64_t B = bt.batch;
  std::vector<int64_t> end, shared;
  if (shareGroups(bt, end, shared) == 0)
    return 0;
  shareS_.assign(size_t(B), 0);
  sharePre_.assign(size_t(B), 0);
  shareOwn_.assign(size_t(B), 0);
  shareLead_.assign(size_t(B), 1);
  int64_t row = 0;
  for (int64_t b0 = 0; b0 < B; b0 = end[size_t(b0)]) {
    const int64_t S = shared[size_t(b0)], pre = row;
    row += S;
    for (int64_t b = b0; b < end[size_t(b0)]; ++b) {
      shareS_[size_t(b)] = int32_t(S);
      sharePre_[size_t(b)] = int32_t(pre);
      shareOwn_[size_t(b)] = int32_t(row);
      shareLead_[size_t(b)] = b == b0;
      row += bt.lengths[b] - S;
    }
  }
  return row;
}

template <typename T> int64_t Transformer<T>::planChunks(int64_t rows) {
  chunks_.clear();
  xOffsets_.clear();
  int64_t most = 0, probs = 0;
  const int64_t B = B_;
  for (int64_t b0 = 0; b0 < B;) {
    Chunk ch{b0, b0, int64_t(xOffsets_.size()), true, probs};
    int64_t n = 0;
    while (ch.b1 < B) {
      // The next group: its lead and members.
      int64_t e = ch.b1 + 1;
      while (e < B && !shareLead_[size_t(e)])
        ++e;
      const int64_t g = offsets_[size_t(e)] - offsets_[size_t(ch.b1)];
      if (n > 0 && n + g > rows)
        break;
      n += g;
      ch.direct = ch.direct && shareS_[size_t(ch.b1)] == 0;
      ch.b1 = e;
    }
    for (int64_t b = ch.b0; b <= ch.b1; ++b)
      xOffsets_.push_back(offsets_[size_t(b)] - offsets_[size_t(ch.b0)]);
    for (int64_t b = ch.b0; b < ch.b1; ++b)
      probs += int64_t(lengths_[size_t(b)]) * lengths_[size_t(b)] * cfg_.nHeads;
    if (!ch.direct)
      most = std::max(most, n);
    chunks_.push_back(ch);
    b0 = ch.b1;
  }
  return most;
}

template <typename T>
void Transformer<T>::expandRows(int64_t b0, int64_t b1, const T *s, int64_t w,
                                T *x, bool zeroRepeats) {
  const int64_t base = offsets_[size_t(b0)];
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t e = offsets_[size_t(b)] - base, len = lengths_[size_t(b)];
    const int64_t S = shareS_[size_t(b)];
    if (S > 0) {
      if (zeroRepeats && !shareLead_[size_t(b)])
        k_->fill(x + e * w, S * w, T(0));
      else
        k_->copy(x + e * w, s + int64_t(sharePre_[size_t(b)]) * w, S * w);
    }
    k_->copy(x + (e + S) * w, s + int64_t(shareOwn_[size_t(b)]) * w,
             (len - S) * w);
  }
}

template <typename T>
void Transformer<T>::compressRows(int64_t b0, int64_t b1, const T *x,
                                  int64_t w, T *s, bool sum) {
  const int64_t base = offsets_[size_t(b0)];
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t e = offsets_[size_t(b)] - base, len = lengths_[size_t(b)];
    const int64_t S = shareS_[size_t(b)];
    // The group's lead comes first: its copy, then the others' sums in
    // order (the same order whatever the threads).
    if (S > 0) {
      T *pre = s + int64_t(sharePre_[size_t(b)]) * w;
      if (shareLead_[size_t(b)])
        k_->copy(pre, x + e * w, S * w);
      else if (sum)
        k_->axpy(S * w, T(1), x + e * w, pre);
    }
    k_->copy(s + int64_t(shareOwn_[size_t(b)]) * w, x + (e + S) * w,
             (len - S) * w);
  }
}

// Each sequence attends its group's prefix and its own rows: attention runs
// on the per-sequence layout of the shared rows, a chunk of whole groups at
// a time (Kernels.h's packed attention; each (sequence, KV head) task gives
// the same bits in any call). A later member's prefix rows are computed
// again there and dropped (their output is the lead's); in the backward
// the prefix rows' d(output) enters through the lead's copy alone and every
// member's prefix K/V gradients are summed.
template <typename T>
void Transformer<T>::attentionFwdAt(size_t l, const AttentionShape &as) {
  Acts &a = *acts_;
  if (shareS_.empty()) {
    k_->attentionFwd(a.qkv[l], as, a.probs[l], a.att[l]);
    return;
  }
  const ModelConfig &c = cfg_;
  const int64_t hd = c.headDim(), Q = (c.nHeads + 2 * c.nKvHeads) * hd;
  const int64_t A = c.nHeads * hd;
  for (const Chunk &ch : chunks_) {
    AttentionShape cs = as;
    cs.batch = ch.b1 - ch.b0;
    cs.offsets = a.xOffsets + ch.off;
    T *P = a.probs[l] + ch.probs;
    if (ch.direct) {
      const int64_t r = shareOwn_[size_t(ch.b0)];
      k_->attentionFwd(a.qkv[l] + r * Q, cs, P, a.att[l] + r * A);
      continue;
    }
    expandRows(ch.b0, ch.b1, a.qkv[l], Q, a.qkvX, false);
    k_->attentionFwd(a.qkvX, cs, P, a.attX);
    compressRows(ch.b0, ch.b1, a.attX, A, a.att[l], false);
  }
}

template <typename T>
void Transformer<T>::attentionBwdAt(size_t l, const AttentionShape &as) {
  Acts &a = *acts_;
  if (shareS_.empty()) {
    k_->attentionBwd(a.qkv[l], a.probs[l], a.dAtt, as, a.dqkv);
    return;
  }
  const ModelConfig &c = cfg_;
  const int64_t hd = c.headDim(), Q = (c.nHeads + 2 * c.nKvHeads) * hd;
  const int64_t A = c.nHeads * hd;
  for (const Chunk &ch : chunks_) {
    AttentionShape cs = as;
    cs.batch = ch.b1 - ch.b0;
    cs.offsets = a.xOffsets + ch.off;
    const T *P = a.probs[l] + ch.probs;
    if (ch.direct) {
      const int64_t r = shareOwn_[size_t(ch.b0)];
      k_->attentionBwd(a.qkv[l] + r * Q, P, a.dAtt + r * A, cs,
                       a.dqkv + r * Q);
      continue;
    }
    expandRows(ch.b0, ch.b1, a.qkv[l], Q, a.qkvX, false);
    expandRows(ch.b0, ch.b1, a.dAtt, A, a.attX, true);
    k_->attentionBwd(a.qkvX, P, a.attX, cs, a.dqkvX);
    compressRows(ch.b0, ch.b1, a.dqkvX, Q, a.dqkv, true);
  }
}

template <typename T>
Status Transformer<T>::forward(const TokenBatch &batch,
                               const ForwardOptions &opts) {
  HONE_TRY(validateBatch(batch));
  if (!(opts.temperature > 0))
    return Status::error("model: temperature must be positive");
  ++forwards_; // the kept activations change from here on
  const ModelConfig &c = cfg_;
  const int64_t B = batch.batch, Tn = batch.seqLen, D = c.dModel;
  const int64_t hd = c.headDim();
  const bool gpt2 = c.family == ModelFamily::GPT2;
  // Packed: sequence b is rows offsets_[b] .. offsets_[b+1]-1 of one stream
  // (no padding rows); padded: rows b*Tn .. b*Tn+Tn-1. The activations are
  // sized for the rows and the attention probabilities the batch has.
  // Shared prefixes (sharePrefix): the stream holds a group's prefix once
  // (forEachRun), and attention runs on the per-sequence layout of
  // offsets_ (NX rows) that expandRows builds.
  offsets_.clear();
  shareS_.clear();
  sharePre_.clear();
  shareOwn_.clear();
  shareLead_.clear();
  lengths_.assign(batch.lengths, batch.lengths + B);
  B_ = B;
  T_ = Tn;
  int64_t probsKept = B * c.nHeads * Tn * Tn;
  int64_t N = B * Tn, NX = 0, NS = 0;
  // setKeepLogits: a training forward keeps its LM head's logits.
  const bool keep = opts.train && keepLogits_ && c.head == HeadKind::LM &&
                    k_->keepsLmLogits();
  logitsKept_ = false;
  if (opts.pack) {
    offsets_.assign(size_t(B + 1), 0);
    for (int64_t b = 0; b < B; ++b)
      offsets_[size_t(b + 1)] = offsets_[size_t(b)] + batch.lengths[b];
    probsKept = c.nHeads * memsize::packedRows(batch.lengths, B).squares;
    N = int64_t(offsets_.back());
    if (opts.sharePrefix && !loraDropoutIn(opts)) {
      if ((NS = planShare(batch))) {
        // Within the activation memory of the per-sequence packed forward
        // (the bound the plan and workspaceBytes give): attention's
        // per-sequence copy takes a chunk of groups at a time, as many
        // rows as the room the shared stream leaves (at least the largest
        // group), else nothing is shared.
        Acts xs, xp;
        Planner<T> ps, pp;
        planActs(&xs, ps, B, Tn, NS, probsKept, 1, keep);
        planActs(&xp, pp, B, Tn, N, probsKept, 0, keep);
        const int64_t hd = c.headDim();
        const int64_t perRow = ((c.nHeads + 2 * c.nKvHeads) * 2 + c.nHeads) *
                               hd * int64_t(sizeof(T));
        const int64_t room = (pp.tn - ps.tn) * int64_t(sizeof(T)) +
                             (pp.in - ps.in) * 4 - 48 * int64_t(sizeof(T));
        const int64_t rows = room > 0 ? room / perRow : 0;
        const int64_t most = rows > 0 ? planChunks(std::min(rows, N)) : 0;
        if (rows > 0 && most <= rows) {
          NX = std::max<int64_t>(most, 1);
        } else {
          shareS_.clear();
          sharePre_.clear();
          shareOwn_.clear();
          shareLead_.clear();
          chunks_.clear();
        }
      }
    }
  }
  const int64_t NP = N; // the per-sequence packed rows
  if (NX)
    N = NS;
  HONE_TRY(ensureActs(B, Tn, N, probsKept, NX, keep));
  Acts &a = *acts_;
  invTemp_ = 1.0 / opts.temperature;
  dropNow_ = loraDropoutIn(opts);
  dropSeed_ = opts.dropoutSeed;
  dropStep_ = opts.dropoutStep;
  dropRank_ = opts.dropoutRank;
  N_ = N;
  lastRows_ = double(N);
  lastSquares_ = opts.pack ? double(memsize::packedRows(batch.lengths, B).squares)
                           : double(B) * double(Tn) * double(Tn);
  work_.forwards += 1;
  work_.rows += lastRows_;
  work_.squares += lastSquares_;
  if (NX)
    work_.sharedRows += double(NP - N);
  // A later member's run of its group's prefix: the lead's rows.
  auto repeat = [&](int64_t b, int64_t t0) {
    return t0 == 0 && !shareS_.empty() && shareS_[size_t(b)] > 0 &&
           !shareLead_[size_t(b)];
  };

  std::vector<int32_t> tok(static_cast<size_t>(N)), pos(tok.size()),
      tgt(tok.size());
  for (int64_t b = 0; b < B; ++b) {
    const int64_t len = batch.lengths[b];
    const int32_t *src = batch.tokens + b * Tn;
    forEachRun(b, [&](int64_t t0, int64_t r0, int64_t n) {
      if (repeat(b, t0))
        return;
      for (int64_t t = t0; t < t0 + n; ++t) {
        size_t r = size_t(r0 + t - t0);
        tok[r] = t < len ? src[t] : 0;
        pos[r] = int32_t(t);
        tgt[r] = t + 1 < len ? src[t + 1] : -1;
      }
    });
  }
  k_->copyToDevice(a.tokens, tok.data(), size_t(N) * 4);
  k_->copyToDevice(a.positions, pos.data(), size_t(N) * 4);
  k_->copyToDevice(a.targets, tgt.data(), size_t(N) * 4);
  if (opts.pack)
    k_->copyToDevice(a.offsets, offsets_.data(), size_t(B + 1) * 4);
  if (NX)
    k_->copyToDevice(a.xOffsets, xOffsets_.data(), xOffsets_.size() * 4);

  embed(a.tokens, a.positions, N, a.res[0]);
  AttentionShape as{B, Tn, c.nHeads, c.nKvHeads, hd};
  as.offsets = opts.pack ? a.offsets : nullptr;
  for (size_t l = 0; l < layers_.size(); ++l)
    layerFwd(l, as, false);
  // The shared working set holds the last recomputed layer's buffers: its
  // backward needs no recomputation.
  actsLayer_ = a.recompute - 1;
  const T *xL = a.res[layers_.size()];
  if (gpt2)
    k_->layerNormFwd(xL, vec(lnfW_), vec(lnfB_), N, D, c.normEps, a.lnf,
                     a.meanF, a.rstdF);
  else
    k_->rmsNormFwd(xL, vec(lnfW_), N, D, c.normEps, a.lnf, a.rstdF);
  lnf_ = a.lnf;

  if (c.head == HeadKind::LM) {
    LmHeadShape hs{N, D, c.vocabSize, invTemp_};
    T *keepZ = keep ? a.logits : nullptr; // for backward (setKeepLogits)
    if (hp_)
      k_->lmHeadFwdBf16(a.lnf, hp_ + lm_, a.targets, hs, a.lpRow, a.entRow,
                        a.lse, keepZ);
    else
      k_->lmHeadFwd(a.lnf, lmWeight(), a.targets, hs, a.lpRow, a.entRow, a.lse,
                    keepZ);
    logitsKept_ = keep;
    // Row (b, t) predicts token t+1: shift into the token-aligned layout
    // (a packed stream's rows scatter back to their padded places).
    if (opts.pack) {
      k_->fill(a.logprob, B * Tn, T(0));
      k_->fill(a.entropy, B * Tn, T(0));
    }
    for (int64_t b = 0; b < B; ++b) {
      const int64_t last = (opts.pack ? batch.lengths[b] : Tn) - 1;
      if (!opts.pack) {
        k_->fill(a.logprob + b * Tn, 1, T(0));
        k_->fill(a.entropy + b * Tn, 1, T(0));
      }
      forEachRun(b, [&](int64_t t0, int64_t r0, int64_t cnt) {
        const int64_t n = std::min(cnt, last - t0);
        if (n > 0) {
          k_->copy(a.logprob + b * Tn + t0 + 1, a.lpRow + r0, n);
          k_->copy(a.entropy + b * Tn + t0 + 1, a.entRow + r0, n);
        }
      });
    }
    logprob_ = a.logprob;
    entropy_ = a.entropy;
    values_ = rewards_ = nullptr;
  } else {
    if (opts.pack) { // values of the stream (lpRow is free), then scattered
      gemmW(true, N, 1, D, a.lnf, D, score_, D, T(0), a.lpRow, 1);
      k_->fill(a.values, B * Tn, T(0));
      for (int64_t b = 0; b < B; ++b)
        forEachRun(b, [&](int64_t t0, int64_t r0, int64_t cnt) {
          k_->copy(a.values + b * Tn + t0, a.lpRow + r0, cnt);
        });
    } else {
      gemmW(true, N, 1, D, a.lnf, D, score_, D, T(0), a.values, 1);
    }
    for (int64_t b = 0; b < B; ++b)
      k_->copy(a.rewards + b, a.values + b * Tn + lengths_[size_t(b)] - 1, 1);
    values_ = a.values;
    rewards_ = a.rewards;
    logprob_ = entropy_ = nullptr;
  }
  return Status::ok();
}

// Explicit instantiations of the members defined in this file.
#define HONE_INSTANTIATE(T)                                                    \
  template void Transformer<T>::qkNormFwd(const Layer &, const T *, int64_t,   \
                                          T *, T *);                           \
  template Status Transformer<T>::validateBatch(const TokenBatch &) const;     \
  template void Transformer<T>::planActs(Acts *, Planner<T> &, int64_t,        \
                                         int64_t, int64_t, int64_t, int64_t,   \
                                         bool) const;                          \
  template int64_t Transformer<T>::planShare(const TokenBatch &);              \
  template int64_t Transformer<T>::planChunks(int64_t);                        \
  template void Transformer<T>::expandRows(int64_t, int64_t, const T *,        \
                                           int64_t, T *, bool);                \
  template void Transformer<T>::compressRows(int64_t, int64_t, const T *,      \
                                             int64_t, T *, bool);              \
  template void Transformer<T>::attentionFwdAt(size_t,                         \
                                               const AttentionShape &);        \
  template void Transformer<T>::attentionBwdAt(size_t,                         \
                                               const AttentionShape &);        \
  template int64_t Transformer<T>::workspaceBytes(int64_t, int64_t,            \
                                                  const int32_t *, bool)       \
      const;                                                                   \
  template Status Transformer<T>::ensureActs(int64_t, int64_t, int64_t,        \
                                             int64_t, int64_t, bool);          \
  template void Transformer<T>::layerFwd(size_t, const AttentionShape &,       \
                                         bool);                                \
  template bool Transformer<T>::allocBlock(                                    \
      WorkPlacer::Kind, const WorkPlacer::Slot &, int64_t, int64_t,            \
      DeviceArray<T> &, DeviceArray<T, int32_t> &);                            \
  template void Transformer<T>::linearFwd(const T *, int64_t, int64_t,         \
                                          int64_t, int64_t, int64_t, bool,     \
                                          T *, const T *, T *);                \
  template Status Transformer<T>::forward(const TokenBatch &,                  \
                                          const ForwardOptions &);
HONE_INSTANTIATE(float)
HONE_INSTANTIATE(double)
#undef HONE_INSTANTIATE

} // namespace hone
