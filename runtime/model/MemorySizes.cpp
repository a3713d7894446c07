#include "runtime/model/MemorySizes.h"
#include "runtime/model/RuntimeSizes.h"

#include <algorithm>

namespace hone::memsize {

namespace {
/// Sizes are formed in 128 bits and clamped to kMaxBytes (64 PiB): absurd
/// shapes (a fuzzer's) must not wrap, and sums of a plan's buffers stay in
/// range.
using Big = __int128;
constexpr int64_t kMaxBytes = int64_t(1) << 56;
int64_t clampBytes(Big n) {
  return n > Big(kMaxBytes) ? kMaxBytes : n < 0 ? 0 : int64_t(n);
}
Big roundUp(Big n, Big to) { return (n + to - 1) / to * to; }
Big alloc(Big bytes) { return roundUp(std::max<Big>(bytes, 1), 64); }

Big kvHeads(const ModelConfig &c) { return c.nKvHeads ? c.nKvHeads : c.nHeads; }

// Mirrors Transformer::buildParams: every tensor padded to 64 bytes, fused
// q/k/v and gate/up padded as one.
Big paramCount(const ModelConfig &c, int64_t elemBytes,
               bool vectorsOnly = false) {
  const Big align = 64 / elemBytes;
  const Big D = c.dModel, F = c.dFf, V = c.vocabSize, hd = c.headDim();
  const Big qd = Big(c.nHeads) * hd, kvd = kvHeads(c) * hd;
  Big layer = 0, n = 0;
  // vectorsOnly: the norm gains and biases alone (a frozen bf16 model's
  // fp32 part), matrices counted as 0.
  auto add = [&](Big &to, Big numel) { to += roundUp(numel, align); };
  auto mat = [&](Big &to, Big numel) {
    if (!vectorsOnly)
      add(to, numel);
  };
  if (c.family == ModelFamily::GPT2) {
    mat(n, V * D);
    mat(n, Big(c.maxSeqLen) * D);
    add(layer, D), add(layer, D);
    mat(layer, D * 3 * D);
    add(layer, 3 * D);
    mat(layer, D * D);
    add(layer, D), add(layer, D), add(layer, D);
    mat(layer, D * F);
    add(layer, F);
    mat(layer, F * D);
    add(layer, D);
    add(n, D), add(n, D);
  } else {
    mat(n, V * D);
    add(layer, D);
    mat(layer, qd * D + 2 * kvd * D);
    if (c.qkvBias)
      add(layer, qd + 2 * kvd);
    mat(layer, D * qd);
    if (c.qkNorm)
      add(layer, hd), add(layer, hd);
    add(layer, D);
    mat(layer, 2 * F * D);
    mat(layer, D * F);
    add(n, D);
  }
  n += Big(c.nLayers) * layer;
  if (c.head == HeadKind::LM) {
    if (!c.tieEmbeddings)
      mat(n, V * D);
  } else {
    mat(n, D); // score [1, D]: a matrix
  }
  return n;
}
/// Targeted modules per adapter group of a layer (Transformer::addLora's
/// kQkv, kO, kGateUp, kDown): their inputs, and each module's output width.
struct LoraGroupShape {
  Big in = 0;
  std::vector<Big> outs;
};
std::vector<LoraGroupShape> loraGroups(const ModelConfig &c,
                                       const LoraShape &lora) {
  const Big D = c.dModel, F = c.dFf, hd = c.headDim();
  const Big qd = Big(c.nHeads) * hd, kvd = kvHeads(c) * hd;
  auto targeted = [&](const char *m) {
    return std::find(lora.targets.begin(), lora.targets.end(), m) !=
           lora.targets.end();
  };
  struct Mod {
    const char *name;
    Big out;
  };
  const std::vector<std::pair<Big, std::vector<Mod>>> groups = {
      {D, {{"q_proj", qd}, {"k_proj", kvd}, {"v_proj", kvd}}},
      {qd, {{"o_proj", D}}},
      {D, {{"gate_proj", F}, {"up_proj", F}}},
      {F, {{"down_proj", D}}}};
  std::vector<LoraGroupShape> out;
  if (!lora.any())
    return out;
  for (const auto &[in, mods] : groups) {
    LoraGroupShape g;
    g.in = in;
    for (const Mod &m : mods)
      if (targeted(m.name))
        g.outs.push_back(m.out);
    if (!g.outs.empty())
      out.push_back(std::move(g));
  }
  return out;
}

Big loraCount(const ModelConfig &c, const LoraShape &lora, int64_t elemBytes) {
  const Big align = 64 / elemBytes, r = lora.rank;
  Big n = 0;
  for (int64_t l = 0; l < c.nLayers; ++l)
    for (const LoraGroupShape &g : loraGroups(c, lora)) {
      for (Big out : g.outs)
        n += r * g.in + out * r;
      n = roundUp(n, align);
    }
  return n;
}

/// Columns of a group's x A^T product: rank per targeted module; the
/// largest is the backward's scratch width.
Big loraMaxCols(const ModelConfig &c, const LoraShape &lora) {
  Big m = 0;
  for (const LoraGroupShape &g : loraGroups(c, lora))
    m = std::max<Big>(m, Big(lora.rank) * Big(g.outs.size()));
  return m;
}

/// The widest input of a targeted group: LoRA dropout's scratch width.
Big loraMaxIn(const ModelConfig &c, const LoraShape &lora) {
  Big m = 0;
  for (const LoraGroupShape &g : loraGroups(c, lora))
    m = std::max<Big>(m, g.in);
  return m;
}
} // namespace

int64_t loraParameters(const ModelConfig &c, const LoraShape &lora,
                       int64_t elemBytes) {
  return clampBytes(loraCount(c, lora, elemBytes));
}

int64_t loraBytes(const ModelConfig &c, const LoraShape &lora,
                  int64_t elemBytes) {
  if (!lora.any())
    return 0;
  const Big n = loraCount(c, lora, elemBytes);
  const Big scratch = std::max<Big>(c.dModel, c.headDim());
  return clampBytes(2 * alloc(n * elemBytes) + alloc(scratch * elemBytes));
}

int64_t loraOptimizerBytes(const ModelConfig &c, const LoraShape &lora,
                           int64_t elemBytes) {
  if (!lora.any())
    return 0;
  return clampBytes(2 * alloc(loraCount(c, lora, elemBytes) * elemBytes));
}

int64_t allocation(int64_t bytes) { return clampBytes(alloc(bytes)); }

int64_t runtimeBytes(int64_t threads) {
  threads = std::max<int64_t>(1, std::min<int64_t>(threads, 1024));
  return clampBytes((Big(416) << 10) + Big(threads) * (Big(96) << 10));
}

int64_t laneRuntimeBytes(int64_t lanes, int64_t threads) {
  if (lanes <= 0)
    return 0;
  threads = std::max<int64_t>(1, std::min<int64_t>(threads, 1024));
  return clampBytes(Big(std::min<int64_t>(lanes, 64)) *
                    ((Big(128) << 10) + Big(threads) * (Big(64) << 10)));
}

int64_t parameters(const ModelConfig &c, int64_t elemBytes) {
  return clampBytes(paramCount(c, elemBytes));
}

int64_t parameterBytes(const ModelConfig &c, int64_t elemBytes) {
  return clampBytes(alloc(paramCount(c, elemBytes) * elemBytes));
}

int64_t frozenBf16Bytes(const ModelConfig &c) {
  return clampBytes(alloc(paramCount(c, 4) * 2) +
                    alloc(paramCount(c, 4, true) * 4));
}

int64_t optimizerBytes(const ModelConfig &c, int64_t elemBytes) {
  return clampBytes(2 * alloc(paramCount(c, elemBytes) * elemBytes));
}

PackedRows packedRows(const int32_t *lengths, int64_t batch) {
  PackedRows r;
  for (int64_t b = 0; b < batch; ++b) {
    r.tokens += lengths[b];
    r.squares += int64_t(lengths[b]) * lengths[b];
  }
  return r;
}

// Mirrors Transformer::planActs (counts only; 16-element padding each).
int64_t activationBytes(const ModelConfig &c, int64_t batch, int64_t seqLen,
                        int64_t elemBytes, const LoraShape *lora,
                        const PackedRows *packed, int64_t recomputeLayers,
                        bool keepLogits) {
  const Big B = batch, Tn = seqLen, BT = B * Tn;
  const Big N = packed ? Big(packed->tokens) : BT, D = c.dModel;
  // Layers with their own working buffers: the kept ones and, when any is
  // recomputed, the one set the recomputed layers share. res: all L + 1.
  const Big R = std::clamp<Big>(recomputeLayers, 0, c.nLayers);
  const Big L = c.nLayers - std::max<Big>(R - 1, 0), Lres = c.nLayers;
  const Big hd = c.headDim(), Q = (c.nHeads + 2 * kvHeads(c)) * hd;
  const Big A = Big(c.nHeads) * hd, H = c.nHeads, Hk = kvHeads(c);
  const Big P = packed ? H * Big(packed->squares) : B * H * Tn * Tn;
  const bool gpt2 = c.family == ModelFamily::GPT2;
  const Big Fpre = gpt2 ? c.dFf : 2 * Big(c.dFf), F = c.dFf;
  Big tn = 0;
  auto take = [&](Big n, Big count = 1) { tn += count * roundUp(n, 16); };
  take(N * D, Lres + 1);                // res
  take(N * D, L);                       // ln1
  take(N, gpt2 ? L : 0);                // mean1
  take(N, L);                           // rstd1
  take(N * Q, L);                       // qkv
  take(P, L);                           // probs
  take(N * A, L);                       // att
  take(N * D, L);                       // mid
  take(N * D, L);                       // ln2
  take(N, gpt2 ? L : 0);                // mean2
  take(N, L);                           // rstd2
  take(N * Fpre, L);                    // ffPre
  take(N * F, L);                       // ffAct
  take(N * Q, c.qkNorm ? L : 0);        // qkPre
  take(N * (H + Hk), c.qkNorm ? L : 0); // qkRstd
  if (c.qkNorm)
    take(N * Q); // dqkPre
  take(N * D);   // lnf
  if (gpt2)
    take(N);      // meanF
  take(N, 4);     // rstdF lpRow entRow lse
  take(BT, 2);    // logprob entropy (token-aligned)
  take(BT);       // values (token-aligned)
  take(B);        // rewards
  take(N * D, 2); // dA dLn
  take(N * F, gpt2 ? 0 : 1); // dAct (SwiGLU's backward; GPT-2 fuses GELU's)
  take(N * Fpre); // dPre
  take(N * A);    // dAtt
  take(N * Q);    // dqkv
  take(N, 2);     // dRow dEntRow
  take(N * D);    // dLnf
  take(N);        // dVals
  if (keepLogits && c.head == HeadKind::LM)
    take(N * c.vocabSize); // logits
  if (lora && lora->any()) {
    for (const LoraGroupShape &g : loraGroups(c, *lora))
      take(N * lora->rank * Big(g.outs.size()), L); // loraU
    take(N * loraMaxCols(c, *lora));                // loraDu
    if (lora->dropout)
      take(N * loraMaxIn(c, *lora)); // loraX
  }
  // tokens positions targets, offsets (packed batches)
  Big in = 3 * roundUp(N, 16) + roundUp(B + 1, 16);
  return clampBytes(alloc(tn * elemBytes) + alloc(in * 4));
}

int64_t keptLogitsBytes(const ModelConfig &c, int64_t rows,
                        int64_t elemBytes) {
  if (c.head != HeadKind::LM)
    return 0;
  return clampBytes(roundUp(Big(rows) * c.vocabSize, 16) * elemBytes);
}

int64_t kvCacheBytes(const ModelConfig &c, int64_t rows, int64_t cacheLen,
                     int64_t elemBytes) {
  Big n = Big(rows) * kvHeads(c) * cacheLen * c.headDim();
  return clampBytes(2 * Big(c.nLayers) * alloc(n * elemBytes));
}

// Mirrors Transformer::forwardCached's workspace after a prefill of
// prompts x promptLen rows and decode steps of up to `rows` sequences.
int64_t decodeWorkspaceBytes(const ModelConfig &c, int64_t prompts,
                             int64_t promptLen, int64_t rows, int64_t elemBytes,
                             const LoraShape *lora) {
  const Big capB = std::max<Big>(std::max<Big>(prompts, rows), 1);
  const Big capN = std::max<Big>(Big(prompts) * promptLen, rows);
  const Big NR = capB * ((capN + capB - 1) / capB);
  const Big D = c.dModel, F = c.dFf, hd = c.headDim();
  const Big Q = (c.nHeads + 2 * kvHeads(c)) * hd, A = Big(c.nHeads) * hd;
  const Big Fpre = c.family == ModelFamily::GPT2 ? F : 2 * F;
  Big tn = 0;
  auto take = [&](Big n) { tn += roundUp(n, 16); };
  take(NR * D), take(NR * D), take(NR * D), take(NR), take(NR);
  take(NR * Q), take(NR * A), take(NR * D), take(NR * Fpre), take(NR * F);
  take(NR * D);
  if (c.qkNorm)
    take(NR * Q);
  if (lora && lora->any())
    take(NR * loraMaxCols(c, *lora)); // LoRA's x A^T
  Big in = 2 * roundUp(NR, 16) + 2 * roundUp(capB, 16);
  return clampBytes(alloc(tn * elemBytes) + alloc(in * 4));
}

int64_t generateTransientBytes(const ModelConfig &c, int64_t rows,
                               int64_t elemBytes) {
  // The decode steps' packed weights (Transformer::packDecodeWeights),
  // where the CPU kernels read them packed (cpu::linearRowsPackable, which
  // this mirrors: fp32 GPT-2 Conv1D matrices of 2^18 or more elements, 256
  // or more outputs, at most 128 rows; counted on every CPU).
  Big pack = 0;
  if (c.family == ModelFamily::GPT2 && elemBytes == 4 && rows > 0 &&
      rows <= 128) {
    const Big D = c.dModel, F = c.dFf, hd = c.headDim();
    const Big Q = (c.nHeads + 2 * kvHeads(c)) * hd, A = Big(c.nHeads) * hd;
    const Big shapes[4][2] = {{D, Q}, {A, D}, {D, F}, {F, D}};
    for (const auto &m : shapes)
      if (m[1] >= 256 && m[1] % 16 == 0 && m[0] > 0 &&
          m[0] * m[1] >= (Big(1) << 18))
        pack += roundUp(m[0] * m[1], 16) * elemBytes;
    pack *= c.nLayers;
  }
  return clampBytes(alloc(Big(rows) * c.dModel * elemBytes) +
                    alloc(Big(rows) * c.vocabSize * elemBytes) + pack);
}

// Mirrors CpuKernels::vocabChunk and its row blocks of 1024.
int64_t lmHeadScratchBytes(int64_t rows, int64_t vocab, int64_t elemBytes) {
  int64_t R = std::min<int64_t>(1024, std::max<int64_t>(rows, 1));
  int64_t C = (int64_t(2) << 20) / R;
  C = std::max<int64_t>(256, std::min<int64_t>(C, 4096));
  C = std::min(C / 16 * 16, vocab);
  return clampBytes(Big(R) * C * elemBytes);
}

} // namespace hone::memsize
