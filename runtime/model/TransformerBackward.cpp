// The transformer's hand-written backward of the last forward: parameter
// (or adapter) gradients accumulated (runtime/model/Transformer.h).
#include "runtime/model/TransformerImpl.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

namespace hone {

template <typename T>
void Transformer<T>::linearBwd(const T *x, const T *dy, int64_t rows,
                               int64_t in, int64_t out, int64_t wOff,
                               int64_t bOff, bool conv1d, T *dx,
                               const T *geluPre) {
  // dW null: a frozen base (LoRA), fp32 or bf16; dx = dy W reads the
  // weight in either storage (a bf16 base: Kernels::gemmBf16B).
  T *dW = g_.data() ? g_.data() + wOff : nullptr;
  if (conv1d) { // W [in, out]
    if (dW)
      k_->gemm(true, false, in, out, rows, T(1), x, in, dy, out, T(1), dW, out);
  } else { // W [out, in]
    if (dW)
      k_->gemm(true, false, out, in, rows, T(1), dy, out, x, in, T(1), dW, in);
  }
  const int64_t ldw = conv1d ? out : in;
  if (geluPre && !hp_) {
    k_->gemmGeluBwd(conv1d, rows, in, out, dy, out, wp_ + wOff, ldw, geluPre,
                    dx);
  } else {
    gemmW(conv1d, rows, in, out, dy, out, wOff, ldw, T(0), dx, in);
    if (geluPre)
      k_->geluBwd(geluPre, dx, dx, rows * in);
  }
  if (bOff >= 0 && dW)
    k_->sumRows(dy, rows, out, g_.data() + bOff);
}

template <typename T>
Status Transformer<T>::backward(const OutputGrads<T> &og) {
  if (hp_ && !hasLora())
    return Status::error("model: a frozen bf16 model has no backward without "
                         "LoRA adapters (it is stored without fp32 weights or "
                         "gradients)");
  if (!acts_ || !lnf_ || B_ == 0)
    return Status::error("model: backward() without a forward()");
  if (!ensureGradients())
    return Status::error("model: out of memory allocating the gradients of " +
                         std::to_string(nParams_) + " parameters");
  const ModelConfig &c = cfg_;
  Acts &a = *acts_;
  const int64_t B = B_, Tn = T_, N = N_, D = c.dModel;
  const int64_t hd = c.headDim(), Q = (c.nHeads + 2 * c.nKvHeads) * hd;
  const int64_t A = c.nHeads * hd, F = c.dFf;
  const bool gpt2 = c.family == ModelFamily::GPT2;
  const bool pack = !offsets_.empty();
  // Sequence b's last row that carries a log-prob, and whether a run of
  // its rows is a later member's copy of its group's shared prefix (whose
  // gradients add to the lead's).
  auto lastOf = [&](int64_t b) { return (pack ? lengths_[size_t(b)] : Tn) - 1; };
  auto repeat = [&](int64_t b, int64_t t0) {
    return t0 == 0 && !shareS_.empty() && shareS_[size_t(b)] > 0 &&
           !shareLead_[size_t(b)];
  };
  // dst[row] (+)= src[b * Tn + t + shift] over sequence b's runs of rows,
  // at most up to t = last.
  auto gather = [&](T *dst, const T *src, int64_t b, int64_t shift,
                    int64_t last) {
    forEachRun(b, [&](int64_t t0, int64_t r0, int64_t cnt) {
      const int64_t n = std::min(cnt, last + 1 - t0);
      if (n <= 0)
        return;
      if (repeat(b, t0))
        k_->axpy(n, T(1), src + b * Tn + t0 + shift, dst + r0);
      else
        k_->copy(dst + r0, src + b * Tn + t0 + shift, n);
    });
  };
  // Norm gains through vec(): fp32 in both storages.
  T *g = g_.data(); // null: frozen base (LoRA), only adapters get gradients
  // The norm kernels always accumulate their gains' gradients: a frozen
  // base's go to a scratch row nobody reads.
  auto gg = [&](int64_t off) { return g ? g + off : gScratch_.data(); };

  k_->fill(a.dLnf, N * D, T(0));
  if (c.head == HeadKind::LM) {
    if (og.dvalue || og.dreward)
      return Status::error("model: value/reward gradients given to an LM head");
    if (og.dlogprob || og.dentropy) {
      k_->fill(a.dRow, N, T(0));
      k_->fill(a.dEntRow, N, T(0));
      for (int64_t b = 0; b < B; ++b) {
        if (og.dlogprob)
          gather(a.dRow, og.dlogprob, b, 1, lastOf(b) - 1);
        if (og.dentropy)
          gather(a.dEntRow, og.dentropy, b, 1, lastOf(b) - 1);
      }
      LmHeadShape hs{N, D, c.vocabSize, invTemp_};
      // The forward's kept logits (setKeepLogits), read once: the kernel
      // turns them into dz in place.
      T *kept = logitsKept_ ? a.logits : nullptr;
      logitsKept_ = false;
      keptUsed_ += kept ? 1 : 0;
      if (hp_) // a frozen bf16 head (LoRA base): no head gradient
        k_->lmHeadBwdBf16(a.lnf, hp_ + lm_, a.targets, hs, a.lse, a.entRow,
                          a.dRow, og.dentropy ? a.dEntRow : nullptr, a.dLnf,
                          kept);
      else
        k_->lmHeadBwd(a.lnf, lmWeight(), a.targets, hs, a.lse, a.entRow, a.dRow,
                      og.dentropy ? a.dEntRow : nullptr, a.dLnf,
                      lmWeightGrad(), kept);
    }
  } else {
    if (og.dlogprob || og.dentropy)
      return Status::error("model: log-prob gradients given to a scalar head");
    if (og.dvalue && !pack) {
      k_->copy(a.dVals, og.dvalue, N);
    } else {
      k_->fill(a.dVals, N, T(0));
      if (og.dvalue) // the packed stream's rows from their padded places
        for (int64_t b = 0; b < B; ++b)
          gather(a.dVals, og.dvalue, b, 0, lastOf(b));
    }
    if (og.dreward)
      for (int64_t b = 0; b < B; ++b) {
        // The row of position len - 1: in the sequence's own rows.
        const int64_t t = lengths_[size_t(b)] - 1;
        forEachRun(b, [&](int64_t t0, int64_t r0, int64_t cnt) {
          if (t >= t0 && t < t0 + cnt)
            k_->axpy(1, T(1), og.dreward + b, a.dVals + r0 + t - t0);
        });
      }
    gemmW(false, N, D, 1, a.dVals, 1, score_, D, T(0), a.dLnf, D);
    if (g)
      k_->gemm(true, false, 1, D, N, T(1), a.dVals, 1, a.lnf, D, T(1),
               g + score_, D);
  }

  const size_t nl = layers_.size();
  k_->fill(a.dA, N * D, T(0));
  if (gpt2)
    k_->layerNormBwd(a.dLnf, a.res[nl], vec(lnfW_), a.meanF, a.rstdF, N, D,
                     a.dA, gg(lnfW_), gg(lnfB_));
  else
    k_->rmsNormBwd(a.dLnf, a.res[nl], vec(lnfW_), a.rstdF, N, D, a.dA,
                   gg(lnfW_));

  work_.backwards += 1;
  work_.backwardRows += lastRows_;
  work_.backwardSquares += lastSquares_;
  AttentionShape as{B, Tn, c.nHeads, c.nKvHeads, hd};
  as.offsets = pack ? a.offsets : nullptr;
  for (size_t l = nl; l-- > 0;) {
    const Layer &L = layers_[l];
    // A recomputed layer: its forward again from res[l] into the shared
    // working set, unless that holds this layer already.
    if (int64_t(l) < a.recompute && actsLayer_ != int64_t(l)) {
      layerFwd(l, as, true);
      actsLayer_ = int64_t(l);
      ++recomputed_;
      work_.recomputedRows += lastRows_ / double(nl);
      work_.recomputedSquares += lastSquares_ / double(nl);
    }
    // MLP: dA holds d(res[l+1]).
    if (gpt2) {
      linearBwd(a.ffAct[l], a.dA, N, F, D, L.wproj, L.bproj, true, a.dPre,
                a.ffPre[l]);
      linearBwd(a.ln2[l], a.dPre, N, D, F, L.wfc, L.bfc, true, a.dLn);
      k_->layerNormBwd(a.dLn, a.mid[l], vec(L.ln2w), a.mean2[l], a.rstd2[l], N,
                       D, a.dA, gg(L.ln2w), gg(L.ln2b));
    } else {
      linearBwd(a.ffAct[l], a.dA, N, F, D, L.wproj, -1, false, a.dAct);
      if (const LoraGroup *G = loraGroup(l, kDown))
        loraBwd(l, *G, a.ffAct[l], a.dA, N, D, a.loraU[l * kGroups + kDown],
                a.dAct);
      k_->swigluBwd(a.ffPre[l], a.dAct, N, F, a.dPre);
      linearBwd(a.ln2[l], a.dPre, N, D, 2 * F, L.wfc, -1, false, a.dLn);
      if (const LoraGroup *G = loraGroup(l, kGateUp))
        loraBwd(l, *G, a.ln2[l], a.dPre, N, 2 * F,
                a.loraU[l * kGroups + kGateUp], a.dLn);
      k_->rmsNormBwd(a.dLn, a.mid[l], vec(L.ln2w), a.rstd2[l], N, D, a.dA,
                     gg(L.ln2w));
    }
    // Attention: dA holds d(mid[l]).
    linearBwd(a.att[l], a.dA, N, A, D, L.wo, L.bo, gpt2, a.dAtt);
    if (const LoraGroup *G = loraGroup(l, kO))
      loraBwd(l, *G, a.att[l], a.dA, N, D, a.loraU[l * kGroups + kO], a.dAtt);
    attentionBwdAt(l, as);
    if (!gpt2)
      k_->rope(a.dqkv, N, Q, c.nHeads + c.nKvHeads, hd, a.positions, rope_,
               true);
    T *dqkv = a.dqkv;
    if (c.qkNorm) {
      const int64_t H = c.nHeads, Hk = c.nKvHeads;
      k_->copy(a.dqkPre, a.dqkv, N * Q); // the v part passes through
      k_->headRmsNormBwd(a.dqkv, a.qkPre[l], vec(L.qn), a.qkRstd[l], N, Q, H,
                         hd, a.dqkPre, gg(L.qn));
      k_->headRmsNormBwd(a.dqkv + H * hd, a.qkPre[l] + H * hd, vec(L.kn),
                         a.qkRstd[l] + N * H, N, Q, Hk, hd, a.dqkPre + H * hd,
                         gg(L.kn));
      dqkv = a.dqkPre;
    }
    linearBwd(a.ln1[l], dqkv, N, D, Q, L.wqkv, L.bqkv, gpt2, a.dLn);
    if (const LoraGroup *G = loraGroup(l, kQkv))
      loraBwd(l, *G, a.ln1[l], dqkv, N, Q, a.loraU[l * kGroups + kQkv], a.dLn);
    if (gpt2)
      k_->layerNormBwd(a.dLn, a.res[l], vec(L.ln1w), a.mean1[l], a.rstd1[l], N,
                       D, a.dA, gg(L.ln1w), gg(L.ln1b));
    else
      k_->rmsNormBwd(a.dLn, a.res[l], vec(L.ln1w), a.rstd1[l], N, D, a.dA,
                     gg(L.ln1w));
  }
  if (g)
    k_->embeddingBwd(a.tokens, a.positions, N, D, a.dA, g + wte_,
                     gpt2 ? g + wpe_ : nullptr);
  return Status::ok();
}

// Explicit instantiations of the members defined in this file.
#define HONE_INSTANTIATE(T)                                                    \
  template void Transformer<T>::linearBwd(const T *, const T *, int64_t,       \
                                          int64_t, int64_t, int64_t, int64_t,  \
                                          bool, T *, const T *);               \
  template Status Transformer<T>::backward(const OutputGrads<T> &);
HONE_INSTANTIATE(float)
HONE_INSTANTIATE(double)
#undef HONE_INSTANTIATE

} // namespace hone
