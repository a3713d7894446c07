// Transformer<T>'s private parts, shared by the files that implement it
// (runtime/model/Transformer*.cpp): parameter offsets per layer, LoRA groups,
// activation buffers and the planner that lays them out. Not part of the
// model's interface: include runtime/model/Transformer.h instead.
#pragma once

#include "runtime/model/Transformer.h"

#include <utility>
#include <vector>

namespace hone {

/// The adapters of one fused projection (q/k/v, o, gate/up or down) of one
/// layer: the A matrices of its targeted modules are adjacent, so one GEMM
/// computes u = x [A_1; A_2; ...]^T for all of them; each B then adds its
/// module's columns of the projection's output in place.
template <typename T> struct Transformer<T>::LoraGroup {
  int64_t in = 0, cols = 0; // cols = rank * number of modules
  int64_t a = -1;           // offset of the stacked A in the adapter buffer
  struct Mod {
    int64_t b = -1, col = 0, out = 0;
    int id = 0; // q k v o gate up down = 0..6 (LoRA dropout's key)
  };
  std::vector<Mod> mods;
};

template <typename T> struct Transformer<T>::Layer {
  int64_t ln1w = -1, ln1b = -1, wqkv = -1, bqkv = -1, wo = -1, bo = -1;
  int64_t ln2w = -1, ln2b = -1, wfc = -1, bfc = -1, wproj = -1, bproj = -1;
  int64_t qn = -1, kn = -1; // Qwen3 per-head q/k norm gains
};

/// Activation and scratch buffers for one (rows, seqLen) shape. Training
/// keeps one set per layer, except that the first `recompute` layers
/// (Transformer::setRecomputeLayers) share one set and keep only their
/// input res[l]; the incremental forward shares one set.
template <typename T> struct Transformer<T>::Acts {
  // Batch and sequence length; rows of the stream (B * S padded, sum of the
  // lengths packed) and attention probabilities kept (AttentionShape).
  int64_t B = 0, S = 0, N = 0, P = 0;
  // A shared-prefix forward: rows of the per-sequence layout attention
  // runs on, one chunk of sequences at a time (0: none), its q/k/v and
  // output (the backward's d(output) in the same buffer) and its d(q/k/v);
  // each chunk's sequence offsets relative to its first (2B + 1 at most).
  int64_t NX = 0;
  T *qkvX = nullptr, *attX = nullptr, *dqkvX = nullptr;
  int32_t *xOffsets = nullptr;
  int64_t recompute = 0;
  bool training = false;
  // Transformer::setKeepLogits: the LM head's logits [N, vocab] (the
  // kernels' chunked layout) from a training forward for its backward.
  bool keepLogits = false;
  T *logits = nullptr;
  DeviceArray<T> block;
  DeviceArray<T, int32_t> ints;
  std::vector<T *> res, ln1, mean1, rstd1, qkv, probs, att, mid, ln2, mean2,
      rstd2, ffPre, ffAct;
  // Qwen3 (qkNorm): q/k/v before the per-head norms, and the norms' rstd
  // ([rows * nHeads] for q, then [rows * nKvHeads] for k).
  std::vector<T *> qkPre, qkRstd;
  T *dqkPre = nullptr;
  // LoRA: u = x A^T per (layer, group) for backward; du scratch.
  std::vector<T *> loraU;
  T *loraDu = nullptr;
  T *loraX = nullptr; // LoRA dropout: one module's dropped-out input
  T *lnf = nullptr, *meanF = nullptr, *rstdF = nullptr, *lpRow = nullptr,
    *entRow = nullptr, *lse = nullptr, *logprob = nullptr, *entropy = nullptr,
    *values = nullptr, *rewards = nullptr;
  T *dA = nullptr, *dLn = nullptr, *dAct = nullptr, *dPre = nullptr,
    *dAtt = nullptr, *dqkv = nullptr, *dRow = nullptr, *dEntRow = nullptr,
    *dLnf = nullptr, *dVals = nullptr;
  int32_t *tokens = nullptr, *positions = nullptr, *targets = nullptr,
          *start = nullptr, *shared = nullptr;
  // A packed forward's sequence offsets [B + 1] (Kernels.h, AttentionShape).
  int32_t *offsets = nullptr;
};

template <typename T>
template <typename F>
void Transformer<T>::forEachRun(int64_t b, F &&f) const {
  const int64_t len = lengths_[size_t(b)];
  if (offsets_.empty()) { // padded
    f(int64_t(0), b * T_, T_);
    return;
  }
  if (shareS_.empty()) {
    f(int64_t(0), int64_t(offsets_[size_t(b)]), len);
    return;
  }
  const int64_t S = shareS_[size_t(b)];
  if (S > 0)
    f(int64_t(0), int64_t(sharePre_[size_t(b)]), S);
  f(S, int64_t(shareOwn_[size_t(b)]), len - S);
}

/// Lays buffers out in one block: first counts, then assigns.
template <typename T> struct Planner {
  std::vector<std::pair<T **, int64_t>> tp;
  std::vector<std::pair<int32_t **, int64_t>> ip;
  /// Pointers set to another's once that is assigned (a recomputed
  /// layer's buffers are the shared working set's): {alias, of}.
  std::vector<std::pair<T **, T **>> same;
  int64_t tn = 0, in = 0;
  void take(T *&p, int64_t n) {
    tp.push_back({&p, tn});
    tn += (n + 15) / 16 * 16;
  }
  void alias(T *&p, T *&of) { same.push_back({&p, &of}); }
  void takeI(int32_t *&p, int64_t n) {
    ip.push_back({&p, in});
    in += (n + 15) / 16 * 16;
  }
};

} // namespace hone
