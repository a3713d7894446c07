// LoRA adapters on the transformer: adding them, their forward and backward
// with PEFT's dropout, the base view and merged weights
// (runtime/model/Transformer.h).
#include "runtime/model/TransformerImpl.h"
#include "runtime/base/Philox.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

namespace hone {

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
  // y[:, col..col+out) += s u_m B_m^T, in place in the projection's output
  // (no y: u alone, a recomputed layer's product for backward).
  for (size_t m = 0; y && m < G.mods.size(); ++m)
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
  // With a placer: the adapters and the norm-gain scratch in its Weights
  // slot, their gradients in its Gradients slot (memsize::loraBytes).
  DeviceArray<T> la, lg, scratch;
  const int64_t ns = std::max(D, hd);
  const int64_t ab = (n * int64_t(sizeof(T)) + 63) / 64 * 64;
  std::shared_ptr<void> lease;
  if (char *p = placeState(WorkPlacer::Weights,
                           ab + ns * int64_t(sizeof(T)), &lease)) {
    la = DeviceArray<T>::borrow(reinterpret_cast<T *>(p), n, lease);
    scratch = DeviceArray<T>::borrow(reinterpret_cast<T *>(p + ab), ns,
                                     std::move(lease));
  } else {
    la = DeviceArray<T>(k_, n);
    scratch = DeviceArray<T>(k_, ns);
  }
  if (char *p = placeState(WorkPlacer::Gradients, n * int64_t(sizeof(T)),
                           &lease))
    lg = DeviceArray<T>::borrow(reinterpret_cast<T *>(p), n, std::move(lease));
  else
    lg = DeviceArray<T>(k_, n);
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
  std::unique_ptr<Transformer<T>> m(new Transformer<T>(cfg_, k_));
  m->buildParams();
  m->w_ = w_;
  m->wp_ = wp_;
  m->h_ = h_; // a bf16 base: its bf16 matrices and fp32 vectors
  m->hp_ = hp_;
  m->v_ = v_;
  m->vecAt_ = vecAt_;
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

// Explicit instantiations of the members defined in this file.
#define HONE_INSTANTIATE(T)                                                    \
  template const typename Transformer<T>::LoraGroup *                          \
  Transformer<T>::loraGroup(size_t, int) const;                                \
  template bool Transformer<T>::loraDropped(uint64_t, uint32_t, uint32_t,      \
                                            int64_t, int, int64_t, double);    \
  template void Transformer<T>::dropoutMask(const T *, int64_t, size_t, int,   \
                                            T *);                              \
  template void Transformer<T>::loraFwd(const LoraGroup &, const T *, int64_t, \
                                        T *, int64_t, T *, size_t, bool);      \
  template void Transformer<T>::loraBwd(size_t, const LoraGroup &, const T *,  \
                                        const T *, int64_t, int64_t,           \
                                        const T *, T *);                       \
  template Status Transformer<T>::addLora(const LoraConfig &, uint64_t);       \
  template Expected<std::unique_ptr<Transformer<T>>>                           \
  Transformer<T>::baseView() const;                                            \
  template Expected<Tensor> Transformer<T>::getMergedParam(                    \
      const std::string &, DType) const;
HONE_INSTANTIATE(float)
HONE_INSTANTIATE(double)
#undef HONE_INSTANTIATE

} // namespace hone
