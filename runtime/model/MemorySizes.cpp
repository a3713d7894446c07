#include "runtime/model/MemorySizes.h"

#include <algorithm>

namespace hone::memsize {

namespace {
int64_t roundUp(int64_t n, int64_t to) { return (n + to - 1) / to * to; }

int64_t kvHeads(const ModelConfig &c) {
  return c.nKvHeads ? c.nKvHeads : c.nHeads;
}
} // namespace

int64_t allocation(int64_t bytes) { return roundUp(std::max<int64_t>(bytes, 1), 64); }

// Mirrors Transformer::buildParams: every tensor padded to 64 bytes, fused
// q/k/v and gate/up padded as one.
int64_t parameters(const ModelConfig &c, int64_t elemBytes) {
  const int64_t align = 64 / elemBytes;
  const int64_t D = c.dModel, F = c.dFf, V = c.vocabSize, hd = c.headDim();
  const int64_t qd = c.nHeads * hd, kvd = kvHeads(c) * hd;
  int64_t n = 0;
  auto add = [&](int64_t numel) { n += roundUp(numel, align); };
  if (c.family == ModelFamily::GPT2) {
    add(V * D);
    add(c.maxSeqLen * D);
    for (int64_t l = 0; l < c.nLayers; ++l) {
      add(D), add(D), add(D * 3 * D), add(3 * D), add(D * D), add(D);
      add(D), add(D), add(D * F), add(F), add(F * D), add(D);
    }
    add(D), add(D);
  } else {
    add(V * D);
    for (int64_t l = 0; l < c.nLayers; ++l) {
      add(D);
      add(qd * D + 2 * kvd * D);
      if (c.qkvBias)
        add(qd + 2 * kvd);
      add(D * qd);
      if (c.qkNorm)
        add(hd), add(hd);
      add(D);
      add(2 * F * D);
      add(D * F);
    }
    add(D);
  }
  if (c.head == HeadKind::LM) {
    if (!c.tieEmbeddings)
      add(V * D);
  } else {
    add(D);
  }
  return n;
}

int64_t parameterBytes(const ModelConfig &c, int64_t elemBytes) {
  return allocation(parameters(c, elemBytes) * elemBytes);
}

int64_t optimizerBytes(const ModelConfig &c, int64_t elemBytes) {
  return 2 * parameterBytes(c, elemBytes);
}

// Mirrors Transformer::planActs (counts only; 16-element padding each).
int64_t activationBytes(const ModelConfig &c, int64_t B, int64_t Tn,
                        int64_t elemBytes) {
  const int64_t N = B * Tn, D = c.dModel, L = c.nLayers;
  const int64_t hd = c.headDim(), Q = (c.nHeads + 2 * kvHeads(c)) * hd;
  const int64_t A = c.nHeads * hd;
  const bool gpt2 = c.family == ModelFamily::GPT2;
  const int64_t Fpre = gpt2 ? c.dFf : 2 * c.dFf;
  int64_t tn = 0, in = 0;
  auto take = [&](int64_t n, int64_t count = 1) {
    tn += count * roundUp(n, 16);
  };
  take(N * D, L + 1);                     // res
  take(N * D, L);                         // ln1
  take(N, gpt2 ? L : 0);                  // mean1
  take(N, L);                             // rstd1
  take(N * Q, L);                         // qkv
  take(B * c.nHeads * Tn * Tn, L);        // probs
  take(N * A, L);                         // att
  take(N * D, L);                         // mid
  take(N * D, L);                         // ln2
  take(N, gpt2 ? L : 0);                  // mean2
  take(N, L);                             // rstd2
  take(N * Fpre, L);                      // ffPre
  take(N * c.dFf, L);                     // ffAct
  take(N * Q, c.qkNorm ? L : 0);          // qkPre
  take(N * (c.nHeads + kvHeads(c)), c.qkNorm ? L : 0); // qkRstd
  if (c.qkNorm)
    take(N * Q);                          // dqkPre
  take(N * D);                            // lnf
  if (gpt2)
    take(N);                              // meanF
  take(N, 6);                             // rstdF lpRow entRow lse logprob entropy
  take(N);                                // values
  take(B);                                // rewards
  take(N * D, 2);                         // dA dLn
  take(N * c.dFf);                        // dAct
  take(N * Fpre);                         // dPre
  take(N * A);                            // dAtt
  take(N * Q);                            // dqkv
  take(N, 2);                             // dRow dEntRow
  take(N * D);                            // dLnf
  take(N);                                // dVals
  in = 3 * roundUp(N, 16) + roundUp(B, 16); // tokens positions targets start
  return allocation(tn * elemBytes) + allocation(in * 4);
}

int64_t kvCacheBytes(const ModelConfig &c, int64_t rows, int64_t cacheLen,
                     int64_t elemBytes) {
  int64_t n = rows * kvHeads(c) * cacheLen * c.headDim();
  return 2 * c.nLayers * allocation(n * elemBytes);
}

// Mirrors Transformer::forwardCached's workspace after a prefill of
// prompts x promptLen rows and decode steps of up to `rows` sequences.
int64_t decodeWorkspaceBytes(const ModelConfig &c, int64_t prompts,
                             int64_t promptLen, int64_t rows,
                             int64_t elemBytes) {
  const int64_t capB = std::max(prompts, rows);
  const int64_t capN = std::max(prompts * promptLen, rows);
  const int64_t NR = capB * ((capN + capB - 1) / capB);
  const int64_t D = c.dModel, F = c.dFf, hd = c.headDim();
  const int64_t Q = (c.nHeads + 2 * kvHeads(c)) * hd, A = c.nHeads * hd;
  const int64_t Fpre = c.family == ModelFamily::GPT2 ? F : 2 * F;
  int64_t tn = 0;
  auto take = [&](int64_t n) { tn += roundUp(n, 16); };
  take(NR * D), take(NR * D), take(NR * D), take(NR), take(NR);
  take(NR * Q), take(NR * A), take(NR * D), take(NR * Fpre), take(NR * F);
  take(NR * D);
  if (c.qkNorm)
    take(NR * Q);
  int64_t in = 2 * roundUp(NR, 16) + 2 * roundUp(capB, 16);
  return allocation(tn * elemBytes) + allocation(in * 4);
}

int64_t generateTransientBytes(const ModelConfig &c, int64_t rows,
                               int64_t elemBytes) {
  return allocation(rows * c.dModel * elemBytes) +
         allocation(rows * c.vocabSize * elemBytes);
}

// Mirrors CpuKernels::vocabChunk and its row blocks of 1024.
int64_t lmHeadScratchBytes(int64_t rows, int64_t vocab, int64_t elemBytes) {
  int64_t R = std::min<int64_t>(1024, std::max<int64_t>(rows, 1));
  int64_t C = (int64_t(2) << 20) / R;
  C = std::max<int64_t>(256, std::min<int64_t>(C, 4096));
  C = std::min(C / 16 * 16, vocab);
  return R * C * elemBytes;
}

} // namespace hone::memsize
