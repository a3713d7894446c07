// The transformer's forward, backward, decode and LoRA paths for every
// family (runtime/model/Transformer.h). Over 800 lines: a split by concern
// (forward, decode, LoRA; the layout2 branch has one) waits until the branches
// that edit this file (packing, memory, LoRA dropout) have landed together;
// docs/design.md lists it under "not yet".
#include "runtime/model/Transformer.h"
#include "runtime/base/Philox.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

namespace hone {

Status validateModelConfig(const ModelConfig &c) {
  auto bad = [](const std::string &what) {
    return Status::error("model config: " + what);
  };
  if (c.vocabSize <= 0 || c.dModel <= 0 || c.nLayers <= 0 || c.nHeads <= 0 ||
      c.dFf <= 0 || c.maxSeqLen <= 0)
    return bad("vocabSize, dModel, nLayers, nHeads, dFf and maxSeqLen must "
               "be positive");
  if (c.vocabSize > (int64_t(1) << 31) - 1)
    return bad("vocabSize does not fit int32 token ids");
  if (c.headDimension < 0)
    return bad("headDimension must be positive (or 0: dModel / nHeads)");
  if (c.family == ModelFamily::GPT2 &&
      (c.headDimension || c.qkNorm ||
       c.ropeScaling != ModelConfig::RopeScaling::None))
    return bad("GPT-2 has no head_dim, q/k norm or RoPE scaling");
  if (c.qkNorm && c.qkvBias)
    return bad("q/k norm with a q/k/v bias matches no supported family "
               "(Qwen3's attention_bias also biases o_proj)");
  if (!c.headDimension && c.dModel % c.nHeads)
    return bad("dModel (" + std::to_string(c.dModel) +
               ") is not a multiple of nHeads (" + std::to_string(c.nHeads) +
               ")");
  if (c.ropeScaling != ModelConfig::RopeScaling::None &&
      !(c.ropeFactor > 0))
    return bad("the RoPE scaling factor must be positive");
  if (c.ropeScaling == ModelConfig::RopeScaling::Llama3 &&
      !(c.ropeLowFreqFactor > 0 &&
        c.ropeHighFreqFactor > c.ropeLowFreqFactor &&
        c.ropeOriginalMaxPos > 0))
    return bad("llama3 RoPE scaling needs 0 < low_freq_factor < "
               "high_freq_factor and a positive "
               "original_max_position_embeddings");
  int64_t kv = c.nKvHeads ? c.nKvHeads : c.nHeads;
  if (kv <= 0 || c.nHeads % kv)
    return bad("nHeads must be a multiple of nKvHeads");
  if (c.family == ModelFamily::GPT2 && kv != c.nHeads)
    return bad("GPT-2 has no grouped-query attention (nKvHeads == nHeads)");
  if (c.headDim() % 2 || c.headDim() > 1024)
    return bad("the head dimension must be even and at most 1024");
  if (!(c.normEps > 0) || !(c.ropeTheta > 0))
    return bad("normEps and ropeTheta must be positive");
  return Status::ok();
}

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
/// keeps one set per layer; the incremental forward shares one set.
template <typename T> struct Transformer<T>::Acts {
  int64_t B = 0, S = 0;
  bool training = false;
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
Transformer<T>::Transformer(const ModelConfig &cfg, Kernels<T> *k)
    : cfg_(cfg), k_(k) {
  if (!cfg_.nKvHeads)
    cfg_.nKvHeads = cfg_.nHeads;
  rope_.theta = cfg_.ropeTheta;
  rope_.scaling = cfg_.ropeScaling == ModelConfig::RopeScaling::Llama3
                      ? RopeSpec::Llama3
                  : cfg_.ropeScaling == ModelConfig::RopeScaling::Linear
                      ? RopeSpec::Linear
                      : RopeSpec::None;
  rope_.factor = cfg_.ropeFactor;
  rope_.lowFreqFactor = cfg_.ropeLowFreqFactor;
  rope_.highFreqFactor = cfg_.ropeHighFreqFactor;
  rope_.originalMaxPos = cfg_.ropeOriginalMaxPos;
}

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

template <typename T> Transformer<T>::~Transformer() = default;

template <typename T>
Expected<std::unique_ptr<Transformer<T>>>
Transformer<T>::create(const ModelConfig &cfg, Kernels<T> *kernels) {
  HONE_TRY(validateModelConfig(cfg));
  if (!kernels)
    return Status::error("model: no kernel backend");
  std::unique_ptr<Transformer<T>> m(new Transformer<T>(cfg, kernels));
  m->buildParams();
  m->w_ = std::make_shared<DeviceArray<T>>(kernels, m->nParams_);
  m->wp_ = m->w_->data();
  // Gradients come with the first zeroGrad()/backward(): a frozen model
  // (a reference, a reward model) never holds them.
  if (!m->wp_)
    return Status::error("model: out of memory allocating " +
                         std::to_string(m->nParams_) + " parameters");
  return m;
}

template <typename T> void Transformer<T>::buildParams() {
  const ModelConfig &c = cfg_;
  const int64_t D = c.dModel, F = c.dFf, V = c.vocabSize;
  const int64_t hd = c.headDim(), qd = c.nHeads * hd, kvd = c.nKvHeads * hd;
  const bool gpt2 = c.family == ModelFamily::GPT2;
  auto add = [&](const std::string &name, Shape shape, bool decay) {
    ParamInfo p;
    p.name = name;
    p.numel = shapeNumel(shape);
    p.shape = std::move(shape);
    p.offset = nParams_;
    p.decay = decay;
    // Keep every tensor 64-byte aligned inside the flat buffer.
    int64_t align = 64 / int64_t(sizeof(T));
    nParams_ += (p.numel + align - 1) / align * align;
    params_.push_back(p);
    return p.offset;
  };
  layers_.assign(size_t(c.nLayers), Layer());
  if (gpt2) {
    wte_ = add("wte.weight", {V, D}, true);
    wpe_ = add("wpe.weight", {c.maxSeqLen, D}, true);
    for (int64_t l = 0; l < c.nLayers; ++l) {
      Layer &L = layers_[size_t(l)];
      std::string p = "h." + std::to_string(l) + ".";
      L.ln1w = add(p + "ln_1.weight", {D}, false);
      L.ln1b = add(p + "ln_1.bias", {D}, false);
      L.wqkv = add(p + "attn.c_attn.weight", {D, 3 * D}, true);
      L.bqkv = add(p + "attn.c_attn.bias", {3 * D}, false);
      L.wo = add(p + "attn.c_proj.weight", {D, D}, true);
      L.bo = add(p + "attn.c_proj.bias", {D}, false);
      L.ln2w = add(p + "ln_2.weight", {D}, false);
      L.ln2b = add(p + "ln_2.bias", {D}, false);
      L.wfc = add(p + "mlp.c_fc.weight", {D, F}, true);
      L.bfc = add(p + "mlp.c_fc.bias", {F}, false);
      L.wproj = add(p + "mlp.c_proj.weight", {F, D}, true);
      L.bproj = add(p + "mlp.c_proj.bias", {D}, false);
    }
    lnfW_ = add("ln_f.weight", {D}, false);
    lnfB_ = add("ln_f.bias", {D}, false);
  } else {
    wte_ = add("model.embed_tokens.weight", {V, D}, true);
    for (int64_t l = 0; l < c.nLayers; ++l) {
      Layer &L = layers_[size_t(l)];
      std::string p = "model.layers." + std::to_string(l) + ".";
      L.ln1w = add(p + "input_layernorm.weight", {D}, false);
      // q, k, v (and gate, up) are adjacent so one GEMM computes them all.
      int64_t align = 64 / int64_t(sizeof(T));
      auto fused = [&](std::vector<std::pair<std::string, Shape>> parts,
                       bool decay) {
        int64_t first = -1;
        for (auto &pr : parts) {
          ParamInfo q;
          q.name = pr.first;
          q.numel = shapeNumel(pr.second);
          q.shape = pr.second;
          q.offset = nParams_;
          q.decay = decay;
          nParams_ += q.numel;
          params_.push_back(q);
          if (first < 0)
            first = q.offset;
        }
        nParams_ = (nParams_ + align - 1) / align * align;
        return first;
      };
      L.wqkv = fused({{p + "self_attn.q_proj.weight", {qd, D}},
                      {p + "self_attn.k_proj.weight", {kvd, D}},
                      {p + "self_attn.v_proj.weight", {kvd, D}}},
                     true);
      if (c.qkvBias)
        L.bqkv = fused({{p + "self_attn.q_proj.bias", {qd}},
                        {p + "self_attn.k_proj.bias", {kvd}},
                        {p + "self_attn.v_proj.bias", {kvd}}},
                       false);
      L.wo = add(p + "self_attn.o_proj.weight", {D, qd}, true);
      if (c.qkNorm) {
        L.qn = add(p + "self_attn.q_norm.weight", {hd}, false);
        L.kn = add(p + "self_attn.k_norm.weight", {hd}, false);
      }
      L.ln2w = add(p + "post_attention_layernorm.weight", {D}, false);
      L.wfc = fused({{p + "mlp.gate_proj.weight", {F, D}},
                     {p + "mlp.up_proj.weight", {F, D}}},
                    true);
      L.wproj = add(p + "mlp.down_proj.weight", {D, F}, true);
    }
    lnfW_ = add("model.norm.weight", {D}, false);
  }
  if (c.head == HeadKind::LM)
    lm_ = c.tieEmbeddings ? wte_ : add("lm_head.weight", {V, D}, true);
  else
    score_ = add("score.weight", {1, D}, true);
}

template <typename T>
const ParamInfo *Transformer<T>::findParam(const std::string &name) const {
  for (const ParamInfo &p : params_)
    if (p.name == name)
      return &p;
  return nullptr;
}

template <typename T>
const ParamInfo *Transformer<T>::locate(const std::string &name, T **data,
                                       T **gradBuf) const {
  if (const ParamInfo *p = findParam(name)) {
    *data = wp_;
    *gradBuf = g_.data();
    return p;
  }
  for (const ParamInfo &p : loraParams_)
    if (p.name == name) {
      *data = la_.data();
      *gradBuf = lg_.data();
      return &p;
    }
  return nullptr;
}

template <typename T>
Status Transformer<T>::setParam(const std::string &name, const Tensor &src) {
  T *base = nullptr, *gbase = nullptr;
  const ParamInfo *p = locate(name, &base, &gbase);
  if (!p)
    return Status::error("model: no parameter named '" + name + "'");
  if (src.shape() != p->shape)
    return Status::error("model: parameter '" + name + "' has shape " +
                         shapeToString(p->shape) + ", the tensor has " +
                         shapeToString(src.shape()));
  if (!isFloating(src.dtype()))
    return Status::error("model: parameter '" + name +
                         "' needs a floating tensor, got " +
                         dtypeName(src.dtype()));
  if (hp_ && base == wp_) { // frozen bf16: matrices rounded, vectors fp32
    if (p->shape.size() == 1) {
      auto host = src.toDType(DTypeOf<T>::value);
      if (!host)
        return host.status();
      k_->copyToDevice(v_->data() + vecAt_.at(p->offset), host->raw(),
                       host->nbytes());
      return Status::ok();
    }
    if (src.dtype() == DType::BF16) { // as stored: no conversion
      k_->copyToDevice(h_->data() + p->offset, src.raw(), size_t(p->numel) * 2);
      return Status::ok();
    }
    auto host = src.toDType(DType::BF16);
    if (!host)
      return host.status();
    k_->copyToDevice(h_->data() + p->offset, host->raw(), host->nbytes());
    return Status::ok();
  }
  auto host = src.toDType(DTypeOf<T>::value);
  if (!host)
    return host.status();
  k_->copyToDevice(base + p->offset, host->raw(), host->nbytes());
  return Status::ok();
}

template <typename T>
Expected<Tensor> Transformer<T>::getParam(const std::string &name, DType dtype,
                                          bool gradient) const {
  T *base = nullptr, *gbase = nullptr;
  const ParamInfo *p = locate(name, &base, &gbase);
  if (!p)
    return Status::error("model: no parameter named '" + name + "'");
  if (gradient && !gbase)
    return Status::error("model: parameter '" + name +
                         "' has no gradient (a LoRA base, or a model "
                         "never trained)");
  if (hp_ && base == wp_) {
    const bool isVec = p->shape.size() == 1;
    auto t = Tensor::zeros(p->shape, isVec ? DTypeOf<T>::value : DType::BF16);
    if (!t)
      return t.status();
    if (isVec)
      k_->copyToHost(t->raw(), v_->data() + vecAt_.at(p->offset), t->nbytes());
    else
      k_->copyToHost(t->raw(), h_->data() + p->offset, t->nbytes());
    if (t->dtype() == dtype)
      return t;
    return t->toDType(dtype);
  }
  auto t = Tensor::zeros(p->shape, DTypeOf<T>::value);
  if (!t)
    return t.status();
  k_->copyToHost(t->raw(), (gradient ? gbase : base) + p->offset, t->nbytes());
  if (dtype == DTypeOf<T>::value)
    return t;
  return t->toDType(dtype);
}

template <typename T>
void Transformer<T>::initRandom(uint64_t seed, double stddev) {
  std::vector<T> host(size_t(nParams_), T(0));
  for (size_t i = 0; i < params_.size(); ++i) {
    const ParamInfo &p = params_[i];
    T *dst = host.data() + p.offset;
    bool isNormGain =
        p.shape.size() == 1 && p.name.find("bias") == std::string::npos;
    if (p.shape.size() == 1) {
      for (int64_t j = 0; j < p.numel; ++j)
        dst[j] = isNormGain ? T(1) : T(0);
      continue;
    }
    PhiloxStream rng(seed, 0, 0, uint32_t(i));
    for (int64_t j = 0; j < p.numel; j += 2) {
      PhiloxCounter b = rng.block(uint32_t(j / 2));
      double u1 = uniformDouble(b[0], b[1]), u2 = uniformDouble(b[2], b[3]);
      double r = std::sqrt(-2.0 * std::log(1.0 - u1));
      dst[j] = T(stddev * r * std::cos(2 * M_PI * u2));
      if (j + 1 < p.numel)
        dst[j + 1] = T(stddev * r * std::sin(2 * M_PI * u2));
    }
  }
  if (hp_) {
    for (const ParamInfo &p : params_)
      (void)setParam(p.name, Tensor::view(host.data() + p.offset, p.shape,
                                          DTypeOf<T>::value));
    return;
  }
  k_->copyToDevice(wp_, host.data(), host.size() * sizeof(T));
}

template <typename T> bool Transformer<T>::ensureGradients() {
  if (!g_.data() && !hasLora()) {
    g_ = DeviceArray<T>(k_, nParams_);
    if (!g_.data())
      return false;
    k_->fill(g_.data(), nParams_, T(0));
  }
  return true;
}

template <typename T> void Transformer<T>::zeroGrad() {
  ensureGradients();
  if (g_.data())
    k_->fill(g_.data(), nParams_, T(0));
  if (lg_.data())
    k_->fill(lg_.data(), nLora_, T(0));
}

template <typename T>
std::vector<T> Transformer<T>::toHost(const T *p, int64_t n) const {
  std::vector<T> h(static_cast<size_t>(n));
  k_->copyToHost(h.data(), p, size_t(n) * sizeof(T));
  return h;
}

template <typename T> const T *Transformer<T>::lmWeight() const {
  return wp_ + lm_;
}
template <typename T> T *Transformer<T>::lmWeightGrad() const {
  return g_.data() ? g_.data() + lm_ : nullptr;
}

template <typename T>
void Transformer<T>::gemmW(bool tb, int64_t m, int64_t n, int64_t k, const T *A,
                           int64_t lda, int64_t off, int64_t ldb, T beta, T *C,
                           int64_t ldc) {
  if (hp_)
    k_->gemmBf16B(false, tb, m, n, k, T(1), A, lda, hp_ + off, ldb, beta, C,
                  ldc);
  else
    k_->gemm(false, tb, m, n, k, T(1), A, lda, wp_ + off, ldb, beta, C, ldc);
}

template <typename T>
void Transformer<T>::linearRowsW(const T *x, int64_t rows, int64_t in,
                                 int64_t out, int64_t off, bool transW,
                                 const T *b, const T *residual, bool gelu,
                                 T *y) {
  if (hp_)
    k_->linearRowsBf16(x, rows, in, out, hp_ + off, transW, b, residual, gelu,
                       y);
  else
    k_->linearRows(x, rows, in, out, wp_ + off, transW, b, residual, gelu, y);
}

template <typename T>
void Transformer<T>::embed(const int32_t *tokens, const int32_t *positions,
                           int64_t N, T *x) {
  const ModelConfig &c = cfg_;
  const bool gpt2 = c.family == ModelFamily::GPT2;
  if (hp_)
    k_->embeddingFwdBf16(tokens, positions, N, c.dModel, hp_ + wte_,
                         c.vocabSize, gpt2 ? hp_ + wpe_ : nullptr, c.maxSeqLen,
                         x);
  else
    k_->embeddingFwd(tokens, positions, N, c.dModel, wp_ + wte_,
                     gpt2 ? wp_ + wpe_ : nullptr, x);
}

template <typename T>
Expected<std::unique_ptr<Transformer<T>>>
Transformer<T>::createFrozenBf16(const ModelConfig &cfg, Kernels<T> *kernels) {
  HONE_TRY(validateModelConfig(cfg));
  if (!kernels)
    return Status::error("model: no kernel backend");
  std::unique_ptr<Transformer<T>> m(new Transformer<T>(cfg, kernels));
  m->buildParams();
  // Vectors keep the fp32 layout's grouping (fused q/k/v biases stay
  // adjacent), each group padded to 64 bytes: memsize::frozenBf16Bytes.
  const int64_t align = 64 / int64_t(sizeof(T));
  int64_t nv = 0, groupEnd = -1;
  for (const ParamInfo &p : m->params_) {
    if (p.shape.size() != 1)
      continue;
    if (p.offset != groupEnd)
      nv = (nv + align - 1) / align * align;
    m->vecAt_[p.offset] = nv;
    nv += p.numel;
    groupEnd = p.offset + p.numel;
  }
  m->h_ = std::make_shared<DeviceArray<T, uint16_t>>(kernels, m->nParams_);
  m->hp_ = m->h_->data();
  m->v_ = std::make_shared<DeviceArray<T>>(kernels, std::max<int64_t>(nv, 1));
  if (!m->hp_ || !m->v_->data())
    return Status::error("model: out of memory allocating " +
                         std::to_string(m->nParams_) + " bf16 parameters");
  return m;
}

template <typename T> int64_t Transformer<T>::weightBytesHeld() const {
  auto bytes = [](int64_t n) { return n ? (n + 63) / 64 * 64 : 0; };
  if (hp_)
    return bytes(h_->size() * 2) + bytes(v_->size() * int64_t(sizeof(T)));
  return bytes(w_ ? w_->size() * int64_t(sizeof(T)) : 0);
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

/// Lays buffers out in one block: first counts, then assigns.
template <typename T> struct Planner {
  std::vector<std::pair<T **, int64_t>> tp;
  std::vector<std::pair<int32_t **, int64_t>> ip;
  int64_t tn = 0, in = 0;
  void take(T *&p, int64_t n) {
    tp.push_back({&p, tn});
    tn += (n + 15) / 16 * 16;
  }
  void takeI(int32_t *&p, int64_t n) {
    ip.push_back({&p, in});
    in += (n + 15) / 16 * 16;
  }
};

template <typename T>
void Transformer<T>::planActs(Acts *a, Planner<T> &pl, int64_t B,
                              int64_t Tn) const {
  a->B = B;
  a->S = Tn;
  a->training = true;
  const ModelConfig &c = cfg_;
  const int64_t N = B * Tn, D = c.dModel, L = c.nLayers;
  const int64_t hd = c.headDim(), Q = (c.nHeads + 2 * c.nKvHeads) * hd;
  const int64_t A = c.nHeads * hd;
  const bool gpt2 = c.family == ModelFamily::GPT2;
  const int64_t Fpre = gpt2 ? c.dFf : 2 * c.dFf;
  auto vec = [&](std::vector<T *> &v, int64_t n, int64_t count) {
    v.assign(size_t(count), nullptr);
    for (auto &p : v)
      pl.take(p, n);
  };
  vec(a->res, N * D, L + 1);
  vec(a->ln1, N * D, L);
  vec(a->mean1, N, gpt2 ? L : 0);
  vec(a->rstd1, N, L);
  vec(a->qkv, N * Q, L);
  vec(a->probs, B * c.nHeads * Tn * Tn, L);
  vec(a->att, N * A, L);
  vec(a->mid, N * D, L);
  vec(a->ln2, N * D, L);
  vec(a->mean2, N, gpt2 ? L : 0);
  vec(a->rstd2, N, L);
  vec(a->ffPre, N * Fpre, L);
  vec(a->ffAct, N * c.dFf, L);
  vec(a->qkPre, N * Q, c.qkNorm ? L : 0);
  vec(a->qkRstd, N * (c.nHeads + c.nKvHeads), c.qkNorm ? L : 0);
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
  pl.take(a->logprob, N);
  pl.take(a->entropy, N);
  pl.take(a->values, N);
  pl.take(a->rewards, B);
  pl.take(a->dA, N * D);
  pl.take(a->dLn, N * D);
  pl.take(a->dAct, N * c.dFf);
  pl.take(a->dPre, N * Fpre);
  pl.take(a->dAtt, N * A);
  pl.take(a->dqkv, N * Q);
  pl.take(a->dRow, N);
  pl.take(a->dEntRow, N);
  pl.take(a->dLnf, N * D);
  pl.take(a->dVals, N);
  a->loraU.assign(loraIndex_.size(), nullptr);
  for (size_t i = 0; i < loraIndex_.size(); ++i)
    if (loraIndex_[i] >= 0)
      pl.take(a->loraU[i], N * loraGroups_[size_t(loraIndex_[i])].cols);
  if (loraMaxCols_)
    pl.take(a->loraDu, N * loraMaxCols_);
  if (lora_.dropout > 0)
    pl.take(a->loraX, N * loraMaxIn_);
  pl.takeI(a->tokens, N);
  pl.takeI(a->positions, N);
  pl.takeI(a->targets, N);
  pl.takeI(a->offsets, B + 1);
}

template <typename T>
int64_t Transformer<T>::workspaceBytes(int64_t batch, int64_t seqLen) const {
  Acts a;
  Planner<T> pl;
  planActs(&a, pl, batch, seqLen);
  return pl.tn * int64_t(sizeof(T)) + pl.in * 4;
}

template <typename T> Status Transformer<T>::ensureActs(int64_t B, int64_t Tn) {
  if (acts_ && acts_->B == B && acts_->S == Tn)
    return Status::ok();
  // Re-plan for the new shape; keep the allocation when it is big enough
  // (micro-batches of varying size do not reallocate).
  std::unique_ptr<Acts> a = std::make_unique<Acts>();
  Planner<T> pl;
  planActs(a.get(), pl, B, Tn);
  if (acts_ && acts_->block.size() >= pl.tn && acts_->ints.size() >= pl.in) {
    a->block = std::move(acts_->block);
    a->ints = std::move(acts_->ints);
  } else {
    acts_.reset();
    a->block = DeviceArray<T>(k_, pl.tn);
    a->ints = DeviceArray<T, int32_t>(k_, pl.in);
    if (!a->block.data() || !a->ints.data())
      return Status::error("model: out of memory allocating " +
                               std::to_string(workspaceBytes(B, Tn)) +
                               " bytes of activations for a " +
                               std::to_string(B) + " x " + std::to_string(Tn) +
                               " batch",
                           "use smaller micro-batches");
  }
  for (auto &pr : pl.tp)
    *pr.first = a->block.data() + pr.second;
  for (auto &pr : pl.ip)
    *pr.first = a->ints.data() + pr.second;
  acts_ = std::move(a);
  return Status::ok();
}

template <typename T>
void Transformer<T>::linearFwd(const T *x, int64_t rows, int64_t in,
                               int64_t out, int64_t wOff, int64_t bOff,
                               bool conv1d, T *y) {
  if (bOff >= 0)
    k_->broadcastRows(y, vec(bOff), rows, out);
  gemmW(!conv1d, rows, out, in, x, in, wOff, conv1d ? out : in,
        bOff >= 0 ? T(1) : T(0), y, out);
}

template <typename T>
void Transformer<T>::linearBwd(const T *x, const T *dy, int64_t rows,
                               int64_t in, int64_t out, int64_t wOff,
                               int64_t bOff, bool conv1d, T *dx) {
  const T *W = wp_ + wOff;
  T *dW = g_.data() ? g_.data() + wOff : nullptr; // null: frozen (LoRA base)
  if (conv1d) { // W [in, out]
    if (dW)
      k_->gemm(true, false, in, out, rows, T(1), x, in, dy, out, T(1), dW, out);
    k_->gemm(false, true, rows, in, out, T(1), dy, out, W, out, T(0), dx, in);
  } else { // W [out, in]
    if (dW)
      k_->gemm(true, false, out, in, rows, T(1), dy, out, x, in, T(1), dW, in);
    k_->gemm(false, false, rows, in, out, T(1), dy, out, W, in, T(0), dx, in);
  }
  if (bOff >= 0 && dW)
    k_->sumRows(dy, rows, out, g_.data() + bOff);
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
  const int64_t hd = c.headDim(), Q = (c.nHeads + 2 * c.nKvHeads) * hd;
  const int64_t A = c.nHeads * hd, F = c.dFf;
  const bool gpt2 = c.family == ModelFamily::GPT2;
  HONE_TRY(ensureActs(B, Tn));
  Acts &a = *acts_;
  B_ = B;
  T_ = Tn;
  invTemp_ = 1.0 / opts.temperature;
  dropNow_ = opts.train && hasLora() && lora_.dropout > 0;
  dropSeed_ = opts.dropoutSeed;
  dropStep_ = opts.dropoutStep;
  dropRank_ = opts.dropoutRank;
  lengths_.assign(batch.lengths, batch.lengths + B);
  // Packed: sequence b is rows offsets_[b] .. offsets_[b+1]-1 of one stream
  // (no padding rows); padded: rows b*Tn .. b*Tn+Tn-1.
  offsets_.clear();
  if (opts.pack) {
    offsets_.assign(size_t(B + 1), 0);
    for (int64_t b = 0; b < B; ++b)
      offsets_[size_t(b + 1)] = offsets_[size_t(b)] + batch.lengths[b];
  }
  const int64_t N = opts.pack ? int64_t(offsets_.back()) : B * Tn;
  N_ = N;

  std::vector<int32_t> tok(static_cast<size_t>(N)), pos(tok.size()),
      tgt(tok.size());
  for (int64_t b = 0; b < B; ++b) {
    const int64_t len = batch.lengths[b];
    const int64_t r0 = opts.pack ? offsets_[size_t(b)] : b * Tn;
    const int64_t n = opts.pack ? len : Tn;
    const int32_t *src = batch.tokens + b * Tn;
    for (int64_t t = 0; t < n; ++t) {
      size_t r = size_t(r0 + t);
      tok[r] = t < len ? src[t] : 0;
      pos[r] = int32_t(t);
      tgt[r] = t + 1 < len ? src[t + 1] : -1;
    }
  }
  k_->copyToDevice(a.tokens, tok.data(), size_t(N) * 4);
  k_->copyToDevice(a.positions, pos.data(), size_t(N) * 4);
  k_->copyToDevice(a.targets, tgt.data(), size_t(N) * 4);
  if (opts.pack)
    k_->copyToDevice(a.offsets, offsets_.data(), size_t(B + 1) * 4);

  embed(a.tokens, a.positions, N, a.res[0]);
  AttentionShape as{B, Tn, c.nHeads, c.nKvHeads, hd};
  as.offsets = opts.pack ? a.offsets : nullptr;
  for (size_t l = 0; l < layers_.size(); ++l) {
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
    k_->attentionFwd(a.qkv[l], as, a.probs[l], a.att[l]);
    k_->copy(a.mid[l], a.res[l], N * D);
    if (L.bo >= 0)
      k_->addRows(a.mid[l], vec(L.bo), N, D);
    gemmW(!gpt2, N, D, A, a.att[l], A, L.wo, gpt2 ? D : A, T(1), a.mid[l], D);
    if (const LoraGroup *G = loraGroup(l, kO))
      loraFwd(*G, a.att[l], N, a.mid[l], D, a.loraU[l * kGroups + kO], l,
              dropNow_);
    if (gpt2) {
      k_->layerNormFwd(a.mid[l], vec(L.ln2w), vec(L.ln2b), N, D, c.normEps,
                       a.ln2[l], a.mean2[l], a.rstd2[l]);
      linearFwd(a.ln2[l], N, D, F, L.wfc, L.bfc, true, a.ffPre[l]);
      k_->geluFwd(a.ffPre[l], a.ffAct[l], N * F);
    } else {
      k_->rmsNormFwd(a.mid[l], vec(L.ln2w), N, D, c.normEps, a.ln2[l],
                     a.rstd2[l]);
      linearFwd(a.ln2[l], N, D, 2 * F, L.wfc, -1, false, a.ffPre[l]);
      if (const LoraGroup *G = loraGroup(l, kGateUp))
        loraFwd(*G, a.ln2[l], N, a.ffPre[l], 2 * F,
                a.loraU[l * kGroups + kGateUp], l, dropNow_);
      k_->swigluFwd(a.ffPre[l], N, F, a.ffAct[l]);
    }
    k_->copy(a.res[l + 1], a.mid[l], N * D);
    if (L.bproj >= 0)
      k_->addRows(a.res[l + 1], vec(L.bproj), N, D);
    gemmW(!gpt2, N, D, F, a.ffAct[l], F, L.wproj, gpt2 ? D : F, T(1),
          a.res[l + 1], D);
    if (const LoraGroup *G = loraGroup(l, kDown))
      loraFwd(*G, a.ffAct[l], N, a.res[l + 1], D, a.loraU[l * kGroups + kDown],
              l, dropNow_);
  }
  const T *xL = a.res[layers_.size()];
  if (gpt2)
    k_->layerNormFwd(xL, vec(lnfW_), vec(lnfB_), N, D, c.normEps, a.lnf,
                     a.meanF, a.rstdF);
  else
    k_->rmsNormFwd(xL, vec(lnfW_), N, D, c.normEps, a.lnf, a.rstdF);
  lnf_ = a.lnf;

  if (c.head == HeadKind::LM) {
    LmHeadShape hs{N, D, c.vocabSize, invTemp_};
    if (hp_)
      k_->lmHeadFwdBf16(a.lnf, hp_ + lm_, a.targets, hs, a.lpRow, a.entRow,
                        a.lse);
    else
      k_->lmHeadFwd(a.lnf, lmWeight(), a.targets, hs, a.lpRow, a.entRow, a.lse);
    // Row (b, t) predicts token t+1: shift into the token-aligned layout
    // (a packed stream's rows scatter back to their padded places).
    if (opts.pack) {
      k_->fill(a.logprob, B * Tn, T(0));
      k_->fill(a.entropy, B * Tn, T(0));
    }
    for (int64_t b = 0; b < B; ++b) {
      const int64_t r0 = opts.pack ? offsets_[size_t(b)] : b * Tn;
      const int64_t n = (opts.pack ? batch.lengths[b] : Tn) - 1;
      if (!opts.pack) {
        k_->fill(a.logprob + b * Tn, 1, T(0));
        k_->fill(a.entropy + b * Tn, 1, T(0));
      }
      if (n > 0) {
        k_->copy(a.logprob + b * Tn + 1, a.lpRow + r0, n);
        k_->copy(a.entropy + b * Tn + 1, a.entRow + r0, n);
      }
    }
    logprob_ = a.logprob;
    entropy_ = a.entropy;
    values_ = rewards_ = nullptr;
  } else {
    if (opts.pack) { // values of the stream (lpRow is free), then scattered
      gemmW(true, N, 1, D, a.lnf, D, score_, D, T(0), a.lpRow, 1);
      k_->fill(a.values, B * Tn, T(0));
      for (int64_t b = 0; b < B; ++b)
        k_->copy(a.values + b * Tn, a.lpRow + offsets_[size_t(b)],
                 batch.lengths[b]);
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

template <typename T>
Status Transformer<T>::backward(const OutputGrads<T> &og) {
  if (hp_)
    return Status::error("model: a frozen bf16 model has no backward (it "
                         "is stored without fp32 weights or gradients)");
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
  // Sequence b's first stream row and the rows of it that carry outputs.
  auto row0 = [&](int64_t b) { return pack ? offsets_[size_t(b)] : b * Tn; };
  auto rowsOf = [&](int64_t b) { return pack ? lengths_[size_t(b)] : Tn; };
  const T *w = wp_;
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
        const int64_t n = rowsOf(b) - 1;
        if (n <= 0)
          continue;
        if (og.dlogprob)
          k_->copy(a.dRow + row0(b), og.dlogprob + b * Tn + 1, n);
        if (og.dentropy)
          k_->copy(a.dEntRow + row0(b), og.dentropy + b * Tn + 1, n);
      }
      LmHeadShape hs{N, D, c.vocabSize, invTemp_};
      k_->lmHeadBwd(a.lnf, lmWeight(), a.targets, hs, a.lse, a.entRow, a.dRow,
                    og.dentropy ? a.dEntRow : nullptr, a.dLnf, lmWeightGrad());
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
          k_->copy(a.dVals + row0(b), og.dvalue + b * Tn, rowsOf(b));
    }
    if (og.dreward)
      for (int64_t b = 0; b < B; ++b)
        k_->axpy(1, T(1), og.dreward + b,
                 a.dVals + row0(b) + lengths_[size_t(b)] - 1);
    k_->gemm(false, false, N, D, 1, T(1), a.dVals, 1, w + score_, D, T(0),
             a.dLnf, D);
    if (g)
      k_->gemm(true, false, 1, D, N, T(1), a.dVals, 1, a.lnf, D, T(1),
               g + score_, D);
  }

  const size_t nl = layers_.size();
  k_->fill(a.dA, N * D, T(0));
  if (gpt2)
    k_->layerNormBwd(a.dLnf, a.res[nl], w + lnfW_, a.meanF, a.rstdF, N, D, a.dA,
                     gg(lnfW_), gg(lnfB_));
  else
    k_->rmsNormBwd(a.dLnf, a.res[nl], w + lnfW_, a.rstdF, N, D, a.dA,
                   gg(lnfW_));

  AttentionShape as{B, Tn, c.nHeads, c.nKvHeads, hd};
  as.offsets = pack ? a.offsets : nullptr;
  for (size_t l = nl; l-- > 0;) {
    const Layer &L = layers_[l];
    // MLP: dA holds d(res[l+1]).
    if (gpt2) {
      linearBwd(a.ffAct[l], a.dA, N, F, D, L.wproj, L.bproj, true, a.dAct);
      k_->geluBwd(a.ffPre[l], a.dAct, a.dPre, N * F);
      linearBwd(a.ln2[l], a.dPre, N, D, F, L.wfc, L.bfc, true, a.dLn);
      k_->layerNormBwd(a.dLn, a.mid[l], w + L.ln2w, a.mean2[l], a.rstd2[l], N,
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
      k_->rmsNormBwd(a.dLn, a.mid[l], w + L.ln2w, a.rstd2[l], N, D, a.dA,
                     gg(L.ln2w));
    }
    // Attention: dA holds d(mid[l]).
    linearBwd(a.att[l], a.dA, N, A, D, L.wo, L.bo, gpt2, a.dAtt);
    if (const LoraGroup *G = loraGroup(l, kO))
      loraBwd(l, *G, a.att[l], a.dA, N, D, a.loraU[l * kGroups + kO], a.dAtt);
    k_->attentionBwd(a.qkv[l], a.probs[l], a.dAtt, as, a.dqkv);
    if (!gpt2)
      k_->rope(a.dqkv, N, Q, c.nHeads + c.nKvHeads, hd, a.positions, rope_,
               true);
    T *dqkv = a.dqkv;
    if (c.qkNorm) {
      const int64_t H = c.nHeads, Hk = c.nKvHeads;
      k_->copy(a.dqkPre, a.dqkv, N * Q); // the v part passes through
      k_->headRmsNormBwd(a.dqkv, a.qkPre[l], w + L.qn, a.qkRstd[l], N, Q, H,
                         hd, a.dqkPre, gg(L.qn));
      k_->headRmsNormBwd(a.dqkv + H * hd, a.qkPre[l] + H * hd, w + L.kn,
                         a.qkRstd[l] + N * H, N, Q, Hk, hd,
                         a.dqkPre + H * hd, gg(L.kn));
      dqkv = a.dqkPre;
    }
    linearBwd(a.ln1[l], dqkv, N, D, Q, L.wqkv, L.bqkv, gpt2, a.dLn);
    if (const LoraGroup *G = loraGroup(l, kQkv))
      loraBwd(l, *G, a.ln1[l], dqkv, N, Q, a.loraU[l * kGroups + kQkv], a.dLn);
    if (gpt2)
      k_->layerNormBwd(a.dLn, a.res[l], w + L.ln1w, a.mean1[l], a.rstd1[l], N,
                       D, a.dA, gg(L.ln1w), gg(L.ln1b));
    else
      k_->rmsNormBwd(a.dLn, a.res[l], w + L.ln1w, a.rstd1[l], N, D, a.dA,
                     gg(L.ln1w));
  }
  if (g)
    k_->embeddingBwd(a.tokens, a.positions, N, D, a.dA, g + wte_,
                     gpt2 ? g + wpe_ : nullptr);
  return Status::ok();
}

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
  if (!kvCache_ || kvCache_->k.empty() || kvCache_->k[0].size() < n) {
    kvCache_.reset(); // free the old one before allocating the larger
    auto c = makeKvCache(batch, cacheLen);
    if (!c)
      return c.status();
    kvCache_ = std::make_unique<KvCache<T>>(c.take());
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
                              const int32_t *sharedLen) {
  const ModelConfig &c = cfg_;
  if (B <= 0 || B > cache.batch || newLen <= 0)
    return Status::error("model: incremental forward of " + std::to_string(B) +
                         " x " + std::to_string(newLen) + " on a cache for " +
                         std::to_string(cache.batch));
  for (int64_t b = 0; b < B; ++b) {
    if (start[b] < 0 || start[b] + newLen > cache.cacheLen)
      return Status::error("model: positions " + std::to_string(start[b]) +
                           ".." + std::to_string(start[b] + newLen - 1) +
                           " exceed the KV cache length " +
                           std::to_string(cache.cacheLen));
    if (sharedLen && (sharedLen[b] < 0 || sharedLen[b] > start[b] ||
                      (b == 0 && sharedLen[b] != 0)))
      return Status::error("model: shared prefix " +
                           std::to_string(sharedLen[b]) + " of sequence " +
                           std::to_string(b) + " outside [0, start]");
    for (int64_t i = 0; i < newLen; ++i)
      if (tokens[b * newLen + i] < 0 || tokens[b * newLen + i] >= c.vocabSize)
        return Status::error("model: token " +
                             std::to_string(tokens[b * newLen + i]) +
                             " outside the vocabulary");
  }
  const int64_t N = B * newLen, D = c.dModel;
  const int64_t hd = c.headDim(), Q = (c.nHeads + 2 * c.nKvHeads) * hd;
  const int64_t A = c.nHeads * hd, F = c.dFf;
  const bool gpt2 = c.family == ModelFamily::GPT2;
  const int64_t Fpre = gpt2 ? F : 2 * F;
  if (!inf_ || inf_->B * inf_->S < N || inf_->B < B) {
    // Grow to the largest shape seen (prefill rows, decode batch) so that
    // alternating prefill and decode calls do not reallocate.
    const int64_t capN = std::max(N, inf_ ? inf_->B * inf_->S : 0);
    const int64_t capB = std::max(B, inf_ ? inf_->B : 0);
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
    a->block = DeviceArray<T>(k_, pl.tn);
    a->ints = DeviceArray<T, int32_t>(k_, pl.in);
    if (!a->block.data() || !a->ints.data())
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
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < newLen; ++i)
      pos[size_t(b * newLen + i)] = start[b] + int32_t(i);
  k_->copyToDevice(a.tokens, tokens, size_t(N) * 4);
  k_->copyToDevice(a.positions, pos.data(), size_t(N) * 4);
  k_->copyToDevice(a.start, start, size_t(B) * 4);
  if (sharedLen)
    k_->copyToDevice(a.shared, sharedLen, size_t(B) * 4);

  T *ln = a.ln1[0], *qkv = a.qkv[0], *att = a.att[0], *mid = a.mid[0];
  T *pre = a.ffPre[0], *act = a.ffAct[0];
  embed(a.tokens, a.positions, N, a.res[0]);
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
    k_->attentionCachedShared(qkv, B, newLen, c.nHeads, c.nKvHeads, hd, a.start,
                              sharedLen ? a.shared : nullptr, cache.cacheLen,
                              cache.k[l].data(), cache.v[l].data(), att);
    linearRowsW(att, N, A, D, L.wo, !gpt2, bias(L.bo), x, false, mid);
    if (const LoraGroup *G = loraGroup(l, kO))
      loraFwd(*G, att, N, mid, D, a.loraDu);
    if (gpt2) {
      k_->layerNormFwd(mid, vec(L.ln2w), vec(L.ln2b), N, D, c.normEps, ln,
                       nullptr, nullptr);
      linearRowsW(ln, N, D, F, L.wfc, false, bias(L.bfc), nullptr, true, act);
    } else {
      k_->rmsNormFwd(mid, vec(L.ln2w), N, D, c.normEps, ln, nullptr);
      linearRowsW(ln, N, D, 2 * F, L.wfc, true, nullptr, nullptr, false, pre);
      if (const LoraGroup *G = loraGroup(l, kGateUp))
        loraFwd(*G, ln, N, pre, 2 * F, a.loraDu);
      k_->swigluFwd(pre, N, F, act);
    }
    linearRowsW(act, N, F, D, L.wproj, !gpt2, bias(L.bproj), mid, false, y);
    if (const LoraGroup *G = loraGroup(l, kDown))
      loraFwd(*G, act, N, y, D, a.loraDu);
  }
  const T *xL = a.res[layers_.size() % 2];
  if (gpt2)
    k_->layerNormFwd(xL, vec(lnfW_), vec(lnfB_), N, D, c.normEps, a.lnf,
                     nullptr, nullptr);
  else
    k_->rmsNormFwd(xL, vec(lnfW_), N, D, c.normEps, a.lnf, nullptr);
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


std::vector<std::string> loraTargetsOf(const ModelConfig &cfg) {
  if (cfg.family != ModelFamily::Llama)
    return {};
  return {"q_proj", "k_proj",    "v_proj", "o_proj",
          "gate_proj", "up_proj", "down_proj"};
}

template <typename T>
const typename Transformer<T>::LoraGroup *
Transformer<T>::loraGroup(size_t layer, int g) const {
  if (loraIndex_.empty())
    return nullptr;
  int64_t i = loraIndex_[layer * kGroups + size_t(g)];
  return i < 0 ? nullptr : &loraGroups_[size_t(i)];
}

namespace {
// LoRA dropout's Philox stream of one adapter: the sample slot of the key
// (runtime/base/Philox.h) names the layer and module, the seed is marked so
// that dropout never shares a stream with sampling or initialisation.
PhiloxStream dropoutStream(uint64_t seed, uint32_t step, uint32_t rank,
                           int64_t layer, int module) {
  return PhiloxStream(seed ^ 0xD0D0D0D0D0D0D0D0ull, step, rank,
                      uint32_t(layer * 7 + module));
}
} // namespace

template <typename T>
bool Transformer<T>::loraDropped(uint64_t seed, uint32_t step, uint32_t rank,
                                 int64_t layer, int module, int64_t element,
                                 double p) {
  PhiloxCounter b = dropoutStream(seed, step, rank, layer, module)
                        .block(uint32_t(element / 2));
  bool odd = element & 1;
  return uniformDouble(b[odd ? 2 : 0], b[odd ? 3 : 1]) < p;
}

template <typename T>
void Transformer<T>::dropoutMask(const T *x, int64_t n, size_t layer,
                                 int module, T *out) {
  // Masks are drawn and applied on the host (Philox, two elements a block):
  // the input is copied out and back (free on the CPU backend).
  const double p = lora_.dropout, keep = 1.0 / (1.0 - p);
  std::vector<T> h(size_t(n), T(0));
  k_->copyToHost(h.data(), x, size_t(n) * sizeof(T));
  PhiloxStream rng =
      dropoutStream(dropSeed_, dropStep_, dropRank_, int64_t(layer), module);
  for (int64_t e = 0; e < n; e += 2) {
    PhiloxCounter b = rng.block(uint32_t(e / 2));
    h[size_t(e)] =
        uniformDouble(b[0], b[1]) < p ? T(0) : T(h[size_t(e)] * keep);
    if (e + 1 < n)
      h[size_t(e + 1)] =
          uniformDouble(b[2], b[3]) < p ? T(0) : T(h[size_t(e + 1)] * keep);
  }
  k_->copyToDevice(out, h.data(), size_t(n) * sizeof(T));
}

template <typename T>
void Transformer<T>::loraFwd(const LoraGroup &G, const T *x, int64_t rows, T *y,
                             int64_t ldy, T *u, size_t layer, bool drop) {
  const int64_t r = lora_.rank;
  const T *la = la_.data();
  if (!drop) {
    k_->gemm(false, true, rows, G.cols, G.in, T(1), x, G.in, la + G.a, G.in,
             T(0), u, G.cols);
  } else {
    // PEFT: each module's own dropout on its input, u_m = (m_m x) A_m^T.
    for (size_t m = 0; m < G.mods.size(); ++m) {
      dropoutMask(x, rows * G.in, layer, G.mods[m].id, acts_->loraX);
      k_->gemm(false, true, rows, r, G.in, T(1), acts_->loraX, G.in,
               la + G.a + int64_t(m) * r * G.in, G.in, T(0), u + int64_t(m) * r,
               G.cols);
    }
  }
  // y[:, col..col+out) += s u_m B_m^T, in place in the projection's output.
  for (size_t m = 0; m < G.mods.size(); ++m)
    k_->gemm(false, true, rows, G.mods[m].out, r, T(lora_.scale()),
             u + int64_t(m) * r, G.cols, la + G.mods[m].b, r, T(1),
             y + G.mods[m].col, ldy);
}

template <typename T>
void Transformer<T>::loraBwd(size_t layer, const LoraGroup &G, const T *x,
                             const T *dy, int64_t rows, int64_t ldy, const T *u,
                             T *dx) {
  const int64_t r = lora_.rank;
  const T s = T(lora_.scale());
  const T *la = la_.data();
  T *lg = lg_.data(), *du = acts_->loraDu;
  for (size_t m = 0; m < G.mods.size(); ++m) {
    const auto &M = G.mods[m];
    // dB_m += s dy_m^T u_m;  du_m = s dy_m B_m
    k_->gemm(true, false, M.out, r, rows, s, dy + M.col, ldy,
             u + int64_t(m) * r, G.cols, T(1), lg + M.b, r);
    k_->gemm(false, false, rows, r, M.out, s, dy + M.col, ldy, la + M.b, r,
             T(0), du + int64_t(m) * r, G.cols);
  }
  if (!dropNow_) {
    // dA += du^T x;  dx += du A (the stacked A of the group at once)
    k_->gemm(true, false, G.cols, G.in, rows, T(1), du, G.cols, x, G.in, T(1),
             lg + G.a, G.in);
    k_->gemm(false, false, rows, G.in, G.cols, T(1), du, G.cols, la + G.a, G.in,
             T(1), dx, G.in);
    return;
  }
  // With dropout, per module: the forward's dropped input drawn again
  // (same key), dA_m += du_m^T (m_m x), dx += m_m (du_m A_m) / (1 - p).
  T *t = acts_->loraX;
  for (size_t m = 0; m < G.mods.size(); ++m) {
    const int64_t aOff = G.a + int64_t(m) * r * G.in;
    dropoutMask(x, rows * G.in, layer, G.mods[m].id, t);
    k_->gemm(true, false, r, G.in, rows, T(1), du + int64_t(m) * r, G.cols, t,
             G.in, T(1), lg + aOff, G.in);
    k_->gemm(false, false, rows, G.in, r, T(1), du + int64_t(m) * r, G.cols,
             la + aOff, G.in, T(0), t, G.in);
    dropoutMask(t, rows * G.in, layer, G.mods[m].id, t);
    k_->axpy(rows * G.in, T(1), t, dx);
  }
}

template <typename T>
Status Transformer<T>::addLora(const LoraConfig &lc, uint64_t seed) {
  if (hp_)
    return Status::error("model: LoRA adapters on a frozen bf16 model are "
                         "not supported yet");
  const ModelConfig &c = cfg_;
  auto bad = [](const std::string &what) {
    return Status::error("lora: " + what);
  };
  if (hasLora())
    return bad("the model already has adapters");
  if (c.family != ModelFamily::Llama)
    return bad("adapters are supported on the Llama family (Llama, Qwen2/3, "
               "Mistral) only, not GPT-2");
  if (c.head != HeadKind::LM)
    return bad("adapters on a scalar-head model (reward/value) are not "
               "supported yet");
  if (lc.rank <= 0 || lc.rank > 4096)
    return bad("rank must be in [1, 4096], got " + std::to_string(lc.rank));
  if (!(lc.alpha > 0) || !std::isfinite(lc.alpha))
    return bad("alpha must be positive");
  if (!(lc.dropout >= 0 && lc.dropout < 1))
    return bad("dropout must be in [0, 1)");
  if (lc.targets.empty())
    return bad("no target modules");
  const std::vector<std::string> known = loraTargetsOf(c);
  for (const std::string &t : lc.targets)
    if (std::find(known.begin(), known.end(), t) == known.end())
      return bad("unknown target module '" + t + "'");
  auto targeted = [&](const char *m) {
    return std::find(lc.targets.begin(), lc.targets.end(), m) !=
           lc.targets.end();
  };
  const int64_t D = c.dModel, F = c.dFf, hd = c.headDim();
  const int64_t qd = c.nHeads * hd, kvd = c.nKvHeads * hd, r = lc.rank;
  const int64_t align = 64 / int64_t(sizeof(T));
  struct Spec {
    const char *mod, *path;
    int64_t col, out;
    int id;
  };
  const std::vector<std::pair<int64_t, std::vector<Spec>>> groups = {
      {D,
       {{"q_proj", "self_attn", 0, qd, 0},
        {"k_proj", "self_attn", qd, kvd, 1},
        {"v_proj", "self_attn", qd + kvd, kvd, 2}}},
      {qd, {{"o_proj", "self_attn", 0, D, 3}}},
      {D, {{"gate_proj", "mlp", 0, F, 4}, {"up_proj", "mlp", F, F, 5}}},
      {F, {{"down_proj", "mlp", 0, D, 6}}}};
  std::vector<ParamInfo> ps;
  std::vector<LoraGroup> gs;
  std::vector<int64_t> index(size_t(c.nLayers) * kGroups, -1);
  int64_t n = 0, maxCols = 0, maxIn = 0;
  auto add = [&](const std::string &name, Shape shape) {
    ParamInfo p;
    p.name = name;
    p.numel = shapeNumel(shape);
    p.shape = std::move(shape);
    p.offset = n;
    p.decay = true;
    n += p.numel;
    ps.push_back(p);
    return p.offset;
  };
  for (int64_t l = 0; l < c.nLayers; ++l)
    for (int g = 0; g < kGroups; ++g) {
      LoraGroup G;
      G.in = groups[size_t(g)].first;
      std::vector<Spec> mods;
      for (const Spec &sp : groups[size_t(g)].second)
        if (targeted(sp.mod))
          mods.push_back(sp);
      if (mods.empty())
        continue;
      auto prefix = [&](const Spec &sp) {
        return "model.layers." + std::to_string(l) + "." + sp.path + "." +
               sp.mod + ".";
      };
      for (const Spec &sp : mods) { // A's adjacent: one stacked [k r, in]
        int64_t off = add(prefix(sp) + "lora_A.weight", {r, G.in});
        if (G.a < 0)
          G.a = off;
      }
      for (const Spec &sp : mods) {
        typename LoraGroup::Mod M;
        M.b = add(prefix(sp) + "lora_B.weight", {sp.out, r});
        M.col = sp.col;
        M.out = sp.out;
        M.id = sp.id;
        G.mods.push_back(M);
      }
      n = (n + align - 1) / align * align;
      G.cols = r * int64_t(mods.size());
      maxCols = std::max(maxCols, G.cols);
      maxIn = std::max(maxIn, G.in);
      index[size_t(l) * kGroups + size_t(g)] = int64_t(gs.size());
      gs.push_back(std::move(G));
    }
  DeviceArray<T> la(k_, n), lg(k_, n), scratch(k_, std::max(D, hd));
  if (!la.data() || !lg.data() || !scratch.data())
    return Status::error("model: out of memory allocating " +
                         std::to_string(n) + " adapter parameters");
  // PEFT's default init: A ~ kaiming_uniform(a = sqrt(5)) = U(-1/sqrt(in),
  // 1/sqrt(in)), B = 0.
  std::vector<T> host(size_t(n), T(0));
  for (size_t i = 0; i < ps.size(); ++i) {
    const ParamInfo &p = ps[i];
    if (p.name.find("lora_A") == std::string::npos)
      continue;
    const double bound = 1.0 / std::sqrt(double(p.shape[1]));
    PhiloxStream rng(seed, 1, 0, uint32_t(i));
    for (int64_t j = 0; j < p.numel; j += 2) {
      PhiloxCounter b = rng.block(uint32_t(j / 2));
      host[size_t(p.offset + j)] = T(bound * (2 * uniformDouble(b[0], b[1]) - 1));
      if (j + 1 < p.numel)
        host[size_t(p.offset + j + 1)] =
            T(bound * (2 * uniformDouble(b[2], b[3]) - 1));
    }
  }
  k_->copyToDevice(la.data(), host.data(), host.size() * sizeof(T));
  lora_ = lc;
  loraParams_ = std::move(ps);
  loraGroups_ = std::move(gs);
  loraIndex_ = std::move(index);
  nLora_ = n;
  loraMaxCols_ = maxCols;
  loraMaxIn_ = maxIn;
  la_ = std::move(la);
  lg_ = std::move(lg);
  gScratch_ = std::move(scratch);
  g_ = DeviceArray<T>(); // the base is frozen: no gradients
  acts_.reset();         // workspaces now include the adapters' buffers
  inf_.reset();
  return Status::ok();
}

template <typename T>
Expected<std::unique_ptr<Transformer<T>>> Transformer<T>::baseView() const {
  if (hp_)
    return Status::error("model: a frozen bf16 model has no base view");
  std::unique_ptr<Transformer<T>> m(new Transformer<T>(cfg_, k_));
  m->buildParams();
  m->w_ = w_;
  m->wp_ = wp_;
  return m;
}

template <typename T>
Expected<Tensor> Transformer<T>::getMergedParam(const std::string &name,
                                                DType dtype) const {
  if (!hasLora())
    return getParam(name, dtype);
  auto w = getParam(name, DTypeOf<T>::value);
  if (!w)
    return w;
  // "model.layers.L.<path>.<mod>.weight" -> its adapter pair, if any.
  const std::string suffix = ".weight";
  if (name.size() < suffix.size() ||
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
    return getParam(name, dtype);
  const std::string stem = name.substr(0, name.size() - suffix.size());
  T *base = nullptr, *gb = nullptr;
  const ParamInfo *A = locate(stem + ".lora_A.weight", &base, &gb);
  const ParamInfo *B = locate(stem + ".lora_B.weight", &base, &gb);
  if (!A || !B)
    return getParam(name, dtype);
  std::vector<T> a = toHost(la_.data() + A->offset, A->numel);
  std::vector<T> b = toHost(la_.data() + B->offset, B->numel);
  Tensor t = w.take();
  T *W = static_cast<T *>(t.raw());
  const int64_t out = B->shape[0], in = A->shape[1], r = lora_.rank;
  const double s = lora_.scale();
  for (int64_t i = 0; i < out; ++i)
    for (int64_t j = 0; j < in; ++j) {
      double acc = 0;
      for (int64_t q = 0; q < r; ++q)
        acc += double(b[size_t(i * r + q)]) * double(a[size_t(q * in + j)]);
      W[i * in + j] = T(double(W[i * in + j]) + s * acc);
    }
  if (dtype == DTypeOf<T>::value)
    return t;
  return t.toDType(dtype);
}

namespace {
template <typename T, typename A> int64_t actsBytes(const A *a) {
  if (!a)
    return 0;
  auto bytes = [](int64_t n) { return n ? (n + 63) / 64 * 64 : 0; };
  return bytes(a->block.size() * int64_t(sizeof(T))) +
         bytes(a->ints.size() * 4);
}
} // namespace

template <typename T> int64_t Transformer<T>::activationBytesHeld() const {
  return actsBytes<T>(acts_.get());
}
template <typename T> int64_t Transformer<T>::decodeWorkspaceBytesHeld() const {
  return actsBytes<T>(inf_.get());
}
template <typename T> int64_t Transformer<T>::kvCacheBytesHeld() const {
  int64_t n = 0;
  if (kvCache_)
    for (size_t l = 0; l < kvCache_->k.size(); ++l)
      for (int64_t e : {kvCache_->k[l].size(), kvCache_->v[l].size()})
        n += (e * int64_t(sizeof(T)) + 63) / 64 * 64;
  return n;
}
template <typename T> int64_t Transformer<T>::gradientBytesHeld() const {
  return g_.data() ? (g_.size() * int64_t(sizeof(T)) + 63) / 64 * 64 : 0;
}
template <typename T> int64_t Transformer<T>::loraBytesHeld() const {
  int64_t n = 0;
  for (const DeviceArray<T> *a : {&la_, &lg_, &gScratch_})
    if (a->data())
      n += (a->size() * int64_t(sizeof(T)) + 63) / 64 * 64;
  return n;
}
template <typename T> void Transformer<T>::releaseActivations() {
  acts_.reset();
}
template <typename T> void Transformer<T>::releaseWorkspaces() {
  acts_.reset();
  inf_.reset();
  kvCache_.reset();
}

template class Transformer<float>;
template class Transformer<double>;

} // namespace hone
