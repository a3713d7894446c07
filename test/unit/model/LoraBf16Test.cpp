// LoRA adapters on a frozen base stored in bf16 (Transformer::
// createFrozenBf16 + addLora; docs/runtime.md, "Frozen models in bf16"):
// the base stays bf16 bits, the adapters fp32, and the backward runs
// dX = dY W and the LM head's dhidden = dz W on the bf16 weights
// (Kernels::gemmBf16B, lmHeadBwdBf16).
//
// References: float64 finite differences on a float64 model holding bf16
// weights (the exact gradient of what the bf16 model computes), and the
// same adapters on an fp32 base holding the same bf16-rounded weights. With
// bf16 compute off (widening, the only path on a CPU without AVX-512 BF16)
// the two compute the same products in another summation order: log-probs
// within 1e-5 (Bf16FrozenTest's tolerance) and adapter gradients within
// 1e-4 relative L2 distance per tensor; with bf16 compute on (activations
// rounded to bf16, docs/job.md) gradients have cosine similarity >= 0.998
// and relative distance <= 5e-2, as the bf16 GEMM tests.
#include "ModelTestUtil.h"
#include "kernels/cpu/CpuKernels.h"
#include "runtime/model/MemorySizes.h"

#include <cstring>

using namespace hone;
using namespace hone::test;

namespace {

struct Fp32Scope { // fp32 GEMMs and 2 threads however a test ends
  ~Fp32Scope() {
    setCpuBf16Gemm(false);
    setCpuThreads(2);
  }
};

LoraConfig allTargets(int64_t rank, double alpha) {
  LoraConfig lc;
  lc.rank = rank;
  lc.alpha = alpha;
  lc.targets = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                "gate_proj", "up_proj", "down_proj"};
  return lc;
}

/// A model of `cfg` in the given storage whose matrices are `seed`'s random
/// weights rounded to bf16 (so the fp32 and bf16 models hold equal values).
template <typename T>
std::unique_ptr<Transformer<T>> roundedModel(const ModelConfig &cfg,
                                             Kernels<T> *k, bool bf16,
                                             uint64_t seed, double scale) {
  auto src = Transformer<T>::create(cfg, k);
  EXPECT_TRUE(src);
  randomizeParams(**src, seed, scale);
  auto m = bf16 ? Transformer<T>::createFrozenBf16(cfg, k)
                : Transformer<T>::create(cfg, k);
  EXPECT_TRUE(m);
  for (const ParamInfo &p : (*src)->params()) {
    auto t = (*src)->getParam(p.name, p.shape.size() == 1 ? DTypeOf<T>::value
                                                          : DType::BF16);
    EXPECT_TRUE(t);
    EXPECT_TRUE((*m)->setParam(p.name, *t));
  }
  return m.take();
}

/// Adapters drawn N(0, scale)-like (B too: a fresh B = 0 would hide A's
/// gradient), the same values for every model of the same shapes.
template <typename T>
void randomizeAdapters(Transformer<T> &m, uint64_t seed, double scale) {
  int64_t n = 0;
  for (const ParamInfo &p : m.loraParams())
    n = std::max(n, p.offset + p.numel);
  auto v = randomVector<T>(size_t(n), seed, 7);
  for (auto &x : v)
    x = T(double(x) * scale);
  m.kernels().copyToDevice(m.loraData(), v.data(), v.size() * sizeof(T));
}

template <typename T>
double lossOf(Transformer<T> &m, const Batch &b, const std::vector<T> &c,
              const std::vector<T> &e, const ForwardOptions &fo = {}) {
  Status s = m.forward(b.view(), fo);
  EXPECT_TRUE(s) << s.toString();
  std::vector<T> lp = m.toHost(m.logprobs(), b.B * b.T);
  std::vector<T> en = m.toHost(m.entropy(), b.B * b.T);
  double L = 0;
  for (size_t i = 0; i < lp.size(); ++i)
    L += double(c[i]) * double(lp[i]) + double(e[i]) * double(en[i]);
  return L;
}

/// Adapter gradients of sum(c * logprob + e * entropy) (zeroed first).
template <typename T>
std::vector<T> adapterGrads(Transformer<T> &m, const Batch &b,
                            const std::vector<T> &c, const std::vector<T> &e,
                            const ForwardOptions &fo = {}) {
  m.kernels().fill(m.trainableGrad(), m.numTrainable(), T(0));
  lossOf(m, b, c, e, fo);
  OutputGrads<T> g;
  g.dlogprob = c.data();
  g.dentropy = e.data();
  Status s = m.backward(g);
  EXPECT_TRUE(s) << s.toString();
  return m.toHost(m.trainableGrad(), m.numTrainable());
}

/// Per adapter tensor: ||a - b|| / ||b||, the worst.
template <typename T>
double worstRelative(const Transformer<T> &m, const std::vector<T> &a,
                     const std::vector<T> &b) {
  double worst = 0;
  for (const ParamInfo &p : m.loraParams()) {
    double num = 0, den = 0;
    for (int64_t j = p.offset; j < p.offset + p.numel; ++j) {
      double d = double(a[size_t(j)]) - double(b[size_t(j)]);
      num += d * d;
      den += double(b[size_t(j)]) * double(b[size_t(j)]);
    }
    EXPECT_GT(den, 0.0) << p.name << ": a zero gradient checks nothing";
    worst = std::max(worst, std::sqrt(num / std::max(den, 1e-300)));
  }
  return worst;
}

ModelConfig mid(ModelConfig c) { // GEMMs big enough to be sliced
  c.vocabSize = 1000;
  c.dModel = 128;
  c.nHeads = 4;
  c.nKvHeads = 2;
  c.dFf = 384;
  c.maxSeqLen = 64;
  return c;
}

} // namespace

/// float64 model holding bf16 weights (Kernels<double>'s widening
/// defaults): every adapter tensor's gradient against central differences,
/// Qwen3 (q/k norms) and Qwen2 (q/k/v biases, kept in fp32 beside the bf16
/// matrices), with and without LoRA dropout.
TEST(LoraBf16, AdapterGradientsMatchFiniteDifferences) {
  auto k = makeCpuKernels<double>();
  for (int variant = 0; variant < 3; ++variant) {
    const ModelConfig cfg = variant == 1 ? tinyQwen2() : tinyQwen3();
    LoraConfig lc = allTargets(2, 3.0);
    ForwardOptions fo;
    if (variant == 2) { // dropout: the same masks in every forward
      lc.dropout = 0.25;
      fo.train = true;
      fo.dropoutSeed = 99;
      fo.dropoutStep = 3;
    }
    auto m = roundedModel<double>(cfg, k.get(), true, 17, 0.4);
    ASSERT_TRUE(m->frozenBf16());
    Status s = m->addLora(lc, 3);
    ASSERT_TRUE(s) << s.toString();
    randomizeAdapters(*m, 5, 0.3);
    Batch b = randomBatch(cfg.vocabSize, {6, 4, 2}, 6, 5);
    auto c = randomVector<double>(size_t(b.B * b.T), 9, 0);
    auto e = randomVector<double>(size_t(b.B * b.T), 9, 1);
    std::vector<double> an = adapterGrads(*m, b, c, e, fo);
    std::vector<double> fd(an.size(), 0.0);
    const double h = 1e-5;
    for (const ParamInfo &p : m->loraParams())
      for (int64_t j = p.offset; j < p.offset + p.numel; ++j) {
        double *w = m->loraData() + j;
        const double w0 = *w;
        *w = w0 + h;
        const double lp = lossOf(*m, b, c, e, fo);
        *w = w0 - h;
        const double lm = lossOf(*m, b, c, e, fo);
        *w = w0;
        fd[size_t(j)] = (lp - lm) / (2 * h);
      }
    const double worst = worstRelative(*m, an, fd);
    EXPECT_LT(worst, 1e-6) << "variant " << variant;
    std::printf("variant %d: %zu adapter tensors, worst relative error %.2e\n",
                variant, m->loraParams().size(), worst);
  }
}

/// float32: the same adapters on a bf16 base and on an fp32 base holding
/// the same rounded weights: log-probs, adapter gradients (with dropout
/// too), 1 and 2 threads bit-identical; the incremental forward; bf16
/// compute where the CPU has it.
TEST(LoraBf16, MatchesFp32BaseWithRoundedWeights) {
  Fp32Scope scope;
  setCpuBf16Gemm(false);
  auto k = makeCpuKernels<float>();
  for (ModelConfig cfg : {mid(tinyQwen3()), mid(tinyQwen2())}) {
    LoraConfig lc = allTargets(4, 8.0);
    lc.dropout = 0.1;
    auto ref = roundedModel<float>(cfg, k.get(), false, 21, 0.05);
    auto bf = roundedModel<float>(cfg, k.get(), true, 21, 0.05);
    ASSERT_TRUE(ref->addLora(lc, 3));
    ASSERT_TRUE(bf->addLora(lc, 3));
    randomizeAdapters(*ref, 5, 0.05);
    randomizeAdapters(*bf, 5, 0.05);
    EXPECT_EQ(bf->paramData(), nullptr); // no fp32 copy of the base
    Batch b = randomBatch(cfg.vocabSize, {64, 33, 50}, 64, 3);
    auto c = randomVector<float>(size_t(b.B * b.T), 9, 0);
    auto e = randomVector<float>(size_t(b.B * b.T), 9, 1);
    ForwardOptions fo;
    for (int drop = 0; drop < 2; ++drop) {
      fo.train = drop == 1;
      fo.dropoutSeed = 7;
      setCpuThreads(2);
      auto want = adapterGrads(*ref, b, c, e, fo);
      auto wantLp = ref->toHost(ref->logprobs(), b.B * b.T);
      auto got2 = adapterGrads(*bf, b, c, e, fo);
      auto gotLp = bf->toHost(bf->logprobs(), b.B * b.T);
      setCpuThreads(1);
      auto got1 = adapterGrads(*bf, b, c, e, fo);
      EXPECT_EQ(std::memcmp(got1.data(), got2.data(), got1.size() * 4), 0);
      double lpDiff = 0;
      for (size_t i = 0; i < wantLp.size(); ++i)
        lpDiff =
            std::max(lpDiff, std::fabs(double(wantLp[i]) - double(gotLp[i])));
      EXPECT_LE(lpDiff, 1e-5) << "drop " << drop;
      EXPECT_LE(worstRelative(*bf, got2, want), 1e-4) << "drop " << drop;
    }
    // Generation: the incremental forward and logits on the bf16 base.
    std::vector<int32_t> tok = {1, 5, 9, 2, 7, 3}, start = {0, 0};
    std::vector<float> out[2];
    int i = 0;
    for (Transformer<float> *m : {ref.get(), bf.get()}) {
      auto cache = m->makeKvCache(2, 16);
      ASSERT_TRUE(cache);
      auto h = m->forwardCached(*cache, tok.data(), start.data(), 2, 3);
      ASSERT_TRUE(h);
      std::vector<float> lg(size_t(6 * cfg.vocabSize));
      ASSERT_TRUE(m->logits(*h, 6, 1.0, lg.data()));
      out[i++] = lg;
    }
    double lgDiff = 0;
    for (size_t j = 0; j < out[0].size(); ++j)
      lgDiff = std::max(lgDiff, std::fabs(double(out[0][j] - out[1][j])));
    EXPECT_LE(lgDiff, 1e-5);
    if (!setCpuBf16Gemm(true))
      continue; // no AVX-512 BF16 (Zen 2): the widening path above is all
    fo.train = false;
    auto want = adapterGrads(*ref, b, c, e, fo);
    setCpuThreads(2);
    auto dot2 = adapterGrads(*bf, b, c, e, fo);
    setCpuThreads(1);
    auto dot1 = adapterGrads(*bf, b, c, e, fo);
    setCpuBf16Gemm(false);
    EXPECT_EQ(std::memcmp(dot1.data(), dot2.data(), dot1.size() * 4), 0);
    double dot = 0, nw = 0, nd = 0, diff = 0;
    for (size_t j = 0; j < want.size(); ++j) {
      dot += double(want[j]) * double(dot2[j]);
      nw += double(want[j]) * double(want[j]);
      nd += double(dot2[j]) * double(dot2[j]);
      diff += (double(want[j]) - double(dot2[j])) *
              (double(want[j]) - double(dot2[j]));
    }
    EXPECT_GE(dot / std::sqrt(nw * nd), 0.998);
    EXPECT_LE(std::sqrt(diff / nw), 5e-2);
  }
}

/// The bf16 base is shared, never copied: a base view and a snapshot's
/// base view read it (bf16, the same bytes), the LoRA model's merged
/// weights equal the fp32 base's, and training moves the adapters only.
TEST(LoraBf16, BaseSharedAndMerged) {
  Fp32Scope scope;
  setCpuBf16Gemm(false);
  auto k = makeCpuKernels<float>();
  const ModelConfig cfg = mid(tinyQwen3());
  auto ref = roundedModel<float>(cfg, k.get(), false, 21, 0.05);
  auto bf = roundedModel<float>(cfg, k.get(), true, 21, 0.05);
  auto view = bf->baseView();
  ASSERT_TRUE(view) << view.status().toString();
  EXPECT_TRUE((*view)->frozenBf16());
  EXPECT_EQ((*view)->weightBytesHeld(), memsize::frozenBf16Bytes(cfg));
  Batch b = randomBatch(cfg.vocabSize, {20, 11}, 20, 4);
  ASSERT_TRUE(bf->forward(b.view()));
  auto base = bf->toHost(bf->logprobs(), b.B * b.T);
  ASSERT_TRUE((*view)->forward(b.view()));
  auto viaView = (*view)->toHost((*view)->logprobs(), b.B * b.T);
  EXPECT_EQ(std::memcmp(base.data(), viaView.data(), base.size() * 4), 0);

  const LoraConfig lc = allTargets(2, 4.0);
  auto lora = bf->baseView();
  ASSERT_TRUE(lora);
  ASSERT_TRUE((*lora)->addLora(lc, 3));
  ASSERT_TRUE(ref->addLora(lc, 3));
  randomizeAdapters(**lora, 5, 0.05);
  randomizeAdapters(*ref, 5, 0.05);
  for (const char *name :
       {"model.layers.0.self_attn.q_proj.weight",
        "model.layers.1.mlp.down_proj.weight", "model.norm.weight"}) {
    auto a = (*lora)->getMergedParam(name, DType::F32);
    auto r = ref->getMergedParam(name, DType::F32);
    ASSERT_TRUE(a && r) << name;
    ASSERT_EQ(a->numel(), r->numel());
    EXPECT_EQ(std::memcmp(a->raw(), r->raw(), size_t(a->numel()) * 4), 0)
        << name;
  }
  // One gradient step on the adapters: the shared base's bytes and
  // outputs do not move.
  auto c = randomVector<float>(size_t(b.B * b.T), 9, 0);
  std::vector<float> e(c.size(), 0.0f);
  adapterGrads(**lora, b, c, e);
  k->axpy((*lora)->numTrainable(), -0.1f, (*lora)->trainableGrad(),
          (*lora)->trainableData());
  ASSERT_TRUE(bf->forward(b.view()));
  auto after = bf->toHost(bf->logprobs(), b.B * b.T);
  EXPECT_EQ(std::memcmp(base.data(), after.data(), base.size() * 4), 0);
}
