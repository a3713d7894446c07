// The transformer's construction, parameters (names, init, conversion) and
// weight storage (fp32 or frozen bf16) and the bytes it holds
// (runtime/model/Transformer.h). The rest, by concern: TransformerForward.cpp,
// TransformerBackward.cpp, TransformerDecode.cpp (KV-cache forward),
// TransformerLora.cpp; private parts in TransformerImpl.h.
#include "runtime/model/TransformerImpl.h"
#include "runtime/base/Philox.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace hone {

bool prefixSharingEnabled() {
  const char *e = std::getenv("HONE_SHARE_PREFIX");
  return !(e && std::strcmp(e, "0") == 0);
}

bool lmKeepEnabled() {
  const char *e = std::getenv("HONE_LM_KEEP");
  return !(e && std::strcmp(e, "0") == 0);
}

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

template <typename T> Transformer<T>::~Transformer() = default;

template <typename T>
Expected<std::unique_ptr<Transformer<T>>>
Transformer<T>::create(const ModelConfig &cfg, Kernels<T> *kernels,
                       std::shared_ptr<WorkPlacer> placer) {
  HONE_TRY(validateModelConfig(cfg));
  if (!kernels)
    return Status::error("model: no kernel backend");
  std::unique_ptr<Transformer<T>> m(new Transformer<T>(cfg, kernels));
  m->buildParams();
  m->placer_ = std::move(placer);
  std::shared_ptr<void> lease;
  if (char *p = m->placeState(WorkPlacer::Weights,
                              m->nParams_ * int64_t(sizeof(T)), &lease))
    m->w_ = std::make_shared<DeviceArray<T>>(DeviceArray<T>::borrow(
        reinterpret_cast<T *>(p), m->nParams_, std::move(lease)));
  else
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
  // A tensor in another type is converted a chunk at a time into the
  // model's storage: at most kLoadChunk elements staged on the host
  // (loading a checkpoint stored in another type used to stage a whole
  // converted copy of each tensor, 594 MiB at Qwen3-0.6B's embedding,
  // outside the memory plan).
  auto copyConverted = [&](void *dst, DType to) -> Status {
    const size_t from = dtypeSize(src.dtype()), into = dtypeSize(to);
    if (src.dtype() == to && src.device() == Device::CPU &&
        src.isContiguous()) { // as stored: straight to the device
      k_->copyToDevice(dst, src.raw(), size_t(p->numel) * into);
      return Status::ok();
    }
    if (src.device() != Device::CPU || !src.isContiguous()) {
      auto host = src.toDType(to);
      if (!host)
        return host.status();
      k_->copyToDevice(dst, host->raw(), host->nbytes());
      return Status::ok();
    }
    constexpr int64_t kLoadChunk = int64_t(1) << 16;
    auto *in = static_cast<uint8_t *>(const_cast<void *>(src.raw()));
    auto *out = static_cast<uint8_t *>(dst);
    for (int64_t i = 0; i < p->numel; i += kLoadChunk) {
      int64_t n = std::min(kLoadChunk, p->numel - i);
      auto host =
          Tensor::view(in + size_t(i) * from, Shape{n}, src.dtype()).toDType(to);
      if (!host)
        return host.status();
      k_->copyToDevice(out + size_t(i) * into, host->raw(), host->nbytes());
    }
    return Status::ok();
  };
  if (hp_ && base == wp_) { // frozen bf16: matrices rounded, vectors fp32
    if (p->shape.size() == 1)
      return copyConverted(v_->data() + vecAt_.at(p->offset),
                           DTypeOf<T>::value);
    return copyConverted(h_->data() + p->offset, DType::BF16);
  }
  return copyConverted(base + p->offset, DTypeOf<T>::value);
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

template <typename T>
char *Transformer<T>::placeState(WorkPlacer::Kind kind, int64_t bytes,
                                 std::shared_ptr<void> *lease,
                                 bool zero) const {
  if (!placer_ || bytes <= 0)
    return nullptr;
  WorkPlacer::Slot s = placer_->slot(kind);
  if (!s.p) {
    placer_->unplaced(kind, bytes);
    return nullptr;
  }
  bool fresh = true;
  *lease = placer_->take(kind, s, bytes, &fresh);
  if (!*lease)
    return nullptr;
  if (!zero)
    return static_cast<char *>(s.p);
  // Zeroed like the kernels' allocations: the bytes may hold another
  // buffer's values (and a fresh model's padding must read as zero).
  // Through the kernels: the arena may be device memory. Callers ask for
  // whole elements.
  k_->fill(static_cast<T *>(s.p), (bytes + int64_t(sizeof(T)) - 1) /
                                      int64_t(sizeof(T)), T(0));
  return static_cast<char *>(s.p);
}

template <typename T> bool Transformer<T>::weightsPlaced() const {
  return hp_ ? h_->borrowed() : (w_ && w_->borrowed());
}
template <typename T> bool Transformer<T>::gradientsPlaced() const {
  return hasLora() ? lg_.borrowed() : g_.borrowed();
}

template <typename T> bool Transformer<T>::ensureGradients() {
  if (!g_.data() && !hasLora() && !hp_) {
    std::shared_ptr<void> lease;
    if (char *p = placeState(WorkPlacer::Gradients,
                             nParams_ * int64_t(sizeof(T)), &lease)) {
      g_ = DeviceArray<T>::borrow(reinterpret_cast<T *>(p), nParams_,
                                  std::move(lease));
      return true;
    }
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
  if (hp_) {
    k_->linearRowsBf16(x, rows, in, out, hp_ + off, transW, b, residual, gelu,
                       y);
    return;
  }
  for (const auto &pk : packAt_)
    if (pk.first == off) {
      ++packedCalls_;
      k_->linearRowsPacked(x, rows, in, out, wp_ + off, pk.second, transW, b,
                           residual, gelu, y);
      return;
    }
  k_->linearRows(x, rows, in, out, wp_ + off, transW, b, residual, gelu, y);
}

// forwardCached's four dense layers per layer, as it calls linearRowsW.
template <typename T>
std::vector<typename Transformer<T>::PackedMatrix>
Transformer<T>::decodeMatrices() const {
  const ModelConfig &c = cfg_;
  const bool gpt2 = c.family == ModelFamily::GPT2;
  const int64_t D = c.dModel, F = c.dFf, hd = c.headDim();
  const int64_t Q = (c.nHeads + 2 * c.nKvHeads) * hd, A = c.nHeads * hd;
  std::vector<PackedMatrix> m;
  for (const Layer &L : layers_) {
    m.push_back({L.wqkv, D, Q, !gpt2});
    m.push_back({L.wo, A, D, !gpt2});
    m.push_back({L.wfc, D, gpt2 ? F : 2 * F, !gpt2});
    m.push_back({L.wproj, F, D, !gpt2});
  }
  return m;
}

template <typename T>
int64_t Transformer<T>::decodePackElems(int64_t rows) const {
  if (hp_ || !wp_)
    return 0;
  int64_t n = 0;
  for (const PackedMatrix &m : decodeMatrices())
    n += (k_->linearRowsPackSize(rows, m.in, m.out, m.transW) + 15) / 16 * 16;
  return n;
}

template <typename T>
void Transformer<T>::packDecodeWeights(int64_t rows, T *dst) {
  packAt_.clear();
  if (hp_ || !wp_ || !dst)
    return;
  for (const PackedMatrix &m : decodeMatrices()) {
    const int64_t e = k_->linearRowsPackSize(rows, m.in, m.out, m.transW);
    if (e <= 0)
      continue;
    k_->packLinearRows(wp_ + m.off, m.in, m.out, m.transW, dst);
    packAt_.push_back({m.off, dst});
    dst += (e + 15) / 16 * 16;
  }
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
Transformer<T>::createFrozenBf16(const ModelConfig &cfg, Kernels<T> *kernels,
                                 std::shared_ptr<WorkPlacer> placer) {
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
  // With a placer: both in its Weights slot, the vectors after the
  // matrices (memsize::frozenBf16Bytes, each part 64-byte padded).
  m->placer_ = std::move(placer);
  nv = std::max<int64_t>(nv, 1);
  const int64_t hb = (m->nParams_ * 2 + 63) / 64 * 64;
  std::shared_ptr<void> lease;
  if (char *p = m->placeState(WorkPlacer::Weights,
                              hb + nv * int64_t(sizeof(T)), &lease)) {
    m->h_ = std::make_shared<DeviceArray<T, uint16_t>>(
        DeviceArray<T, uint16_t>::borrow(reinterpret_cast<uint16_t *>(p),
                                         m->nParams_, lease));
    m->v_ = std::make_shared<DeviceArray<T>>(DeviceArray<T>::borrow(
        reinterpret_cast<T *>(p + hb), nv, std::move(lease)));
  } else {
    m->h_ = std::make_shared<DeviceArray<T, uint16_t>>(kernels, m->nParams_);
    m->v_ = std::make_shared<DeviceArray<T>>(kernels, nv);
  }
  m->hp_ = m->h_->data();
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
template <typename T> int64_t Transformer<T>::decodePackBytesHeld() const {
  return (packKeep_.size() * int64_t(sizeof(T)) + 63) / 64 * 64;
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
template <typename T> bool Transformer<T>::activationsPlaced() const {
  return acts_ && acts_->block.borrowed();
}
template <typename T> bool Transformer<T>::kvCachePlaced() const {
  return kvCache_ && !kvCache_->k.empty() && kvCache_->k[0].borrowed();
}
template <typename T> void Transformer<T>::releaseActivations() {
  acts_.reset();
}
template <typename T> void Transformer<T>::releaseDecodeState() {
  inf_.reset();
  kvCache_.reset();
  packKeep_.reset();
}
template <typename T> void Transformer<T>::releaseWorkspaces() {
  acts_.reset();
  inf_.reset();
  kvCache_.reset();
  packKeep_.reset();
}
template <typename T> T *Transformer<T>::keptDecodePack(int64_t elems) {
  const char *e = std::getenv("HONE_DECODE_PACK_KEEP");
  const bool off = e && std::strcmp(e, "0") == 0;
  if (placer_ || off || elems <= 0)
    return nullptr;
  if (packKeep_.size() < elems) {
    packKeep_.reset(); // free the smaller one before allocating
    packKeep_ = DeviceArray<T>(k_, elems);
  }
  return packKeep_.data();
}

template <typename T>
double Transformer<T>::flopsOf(const WorkDone &w) const {
  const ModelConfig &c = cfg_;
  const double perRow = 2.0 * double(nParams_);
  const double perPair = 4.0 * double(c.nLayers) * double(c.nHeads) *
                         double(c.headDim());
  return perRow * (w.rows + 2 * w.backwardRows + w.recomputedRows +
                   w.cachedRows) +
         perPair * (w.squares + 2 * w.backwardSquares + w.recomputedSquares +
                    w.cachedAttended);
}

template class Transformer<float>;
template class Transformer<double>;

} // namespace hone
