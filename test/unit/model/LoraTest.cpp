// LoRA adapters on a frozen base (Transformer::addLora): gradients of every
// adapter tensor against float64 finite differences; loss and gradients equal
// to full fine-tuning of the merged weights W' = W + s B A restricted to the
// adapter subspace (dL/dB = s dL/dW' A^T, dL/dA = s B^T dL/dW'); training
// moves only the adapters; the incremental (generation) forward agrees with
// the full forward; the base view reads the same weights; PEFT's file format
// round trips, and where Python has peft, PeftModel loads Hone's adapter with
// the same log-probs.
#include "ModelTestUtil.h"
#include "runtime/base/Json.h"
#include "runtime/formats/AtomicFile.h"
#include "runtime/formats/Safetensors.h"
#include "runtime/model/HfModel.h"
#include "runtime/model/Optimizer.h"
#include "test/unit/TempDir.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

using namespace hone;
using namespace hone::test;

namespace {

LoraConfig allTargets(int64_t rank, double alpha) {
  LoraConfig lc;
  lc.rank = rank;
  lc.alpha = alpha;
  lc.targets = {"q_proj", "k_proj",    "v_proj", "o_proj",
                "gate_proj", "up_proj", "down_proj"};
  return lc;
}

/// Adapters drawn N(0, scale) (B too: a fresh B = 0 would hide A's gradient).
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

double lossOf(Transformer<double> &m, const Batch &b,
              const std::vector<double> &c, const std::vector<double> &e,
              const ForwardOptions &fo = {}) {
  Status s = m.forward(b.view(), fo);
  EXPECT_TRUE(s) << s.toString();
  double L = 0;
  for (int64_t i = 0; i < b.B * b.T; ++i)
    L += c[size_t(i)] * m.logprobs()[i] + e[size_t(i)] * m.entropy()[i];
  return L;
}

struct LoraSetup {
  std::unique_ptr<Kernels<double>> k = makeCpuKernels<double>();
  std::unique_ptr<Transformer<double>> m;
  Batch b;
  std::vector<double> c, e;
  LoraSetup(const ModelConfig &cfg, const LoraConfig &lc) {
    auto mm = Transformer<double>::create(cfg, k.get());
    EXPECT_TRUE(mm) << mm.status().toString();
    m = mm.take();
    randomizeParams(*m, 17);
    Status s = m->addLora(lc, 3);
    EXPECT_TRUE(s) << s.toString();
    randomizeAdapters(*m, 5, 0.3);
    b = randomBatch(cfg.vocabSize, {6, 4, 2}, 6, 5);
    c = randomVector<double>(size_t(b.B * b.T), 9, 0);
    e = randomVector<double>(size_t(b.B * b.T), 9, 1);
  }
  ForwardOptions fo; // train + dropout key for the dropout tests
  void backward() {
    m->zeroGrad();
    lossOf(*m, b, c, e, fo);
    OutputGrads<double> g;
    g.dlogprob = c.data();
    g.dentropy = e.data();
    Status s = m->backward(g);
    ASSERT_TRUE(s) << s.toString();
  }
};

void adapterGradCheck(const ModelConfig &cfg, const LoraConfig &lc,
                      const char *tag, const ForwardOptions &fo = {},
                      int64_t recompute = 0) {
  LoraSetup st(cfg, lc);
  st.fo = fo;
  st.m->setRecomputeLayers(recompute); // re-runs layers 0..recompute-2
  ASSERT_TRUE(st.m->hasLora());
  st.backward();
  EXPECT_EQ(st.m->recomputedLayers(),
            uint64_t(std::max<int64_t>(recompute - 1, 0)));
  const double h = 1e-5;
  double worst = 0;
  for (const ParamInfo &p : st.m->loraParams()) {
    double num = 0, da = 0, df = 0;
    for (int64_t j = 0; j < p.numel; ++j) {
      double *w = st.m->loraData() + p.offset + j;
      double w0 = *w;
      *w = w0 + h;
      double lp = lossOf(*st.m, st.b, st.c, st.e, st.fo);
      *w = w0 - h;
      double lm = lossOf(*st.m, st.b, st.c, st.e, st.fo);
      *w = w0;
      double fd = (lp - lm) / (2 * h);
      double an = st.m->trainableGrad()[p.offset + j];
      num += (an - fd) * (an - fd);
      da += an * an;
      df += fd * fd;
    }
    double rel = std::sqrt(num) / std::max({std::sqrt(da), std::sqrt(df), 1e-12});
    worst = std::max(worst, rel);
    EXPECT_LT(rel, 1e-6) << tag << ": " << p.name;
    EXPECT_GT(std::sqrt(da), 1e-8) << tag << ": " << p.name;
  }
  std::printf("%s: %zu adapter tensors, worst relative error %.2e\n", tag,
              st.m->loraParams().size(), worst);
}

} // namespace

TEST(Lora, AdapterGradientsMatchFiniteDifferencesQwen3) {
  adapterGradCheck(tinyQwen3(), allTargets(2, 3.0), "qwen3");
}

TEST(Lora, AdapterGradientsMatchFiniteDifferencesQwen2Subset) {
  LoraConfig lc;
  lc.rank = 3;
  lc.alpha = 1.5;
  lc.targets = {"k_proj", "v_proj", "up_proj"}; // not every module of a group
  adapterGradCheck(tinyQwen2(), lc, "qwen2-subset");
}

// ---- LoRA dropout (PEFT's lora_dropout) ----

ForwardOptions trainKey(uint32_t step) {
  ForwardOptions fo;
  fo.train = true;
  fo.dropoutSeed = 1234;
  fo.dropoutStep = step;
  fo.dropoutRank = 0;
  return fo;
}

TEST(Lora, DropoutGradientsMatchFiniteDifferences) {
  // One training forward's masks held fixed (the same key): the adapters'
  // gradients, through dA (dropped input) and dx (masked), against float64
  // finite differences.
  LoraConfig lc = allTargets(2, 3.0);
  lc.dropout = 0.3;
  adapterGradCheck(tinyQwen3(), lc, "qwen3-dropout", trainKey(7));
}

TEST(Lora, DropoutGradientsMatchFiniteDifferencesRecomputed) {
  // The same with activation recomputation: backward re-runs layer 0's
  // forward, its dropout masks from the same key.
  LoraConfig lc = allTargets(2, 3.0);
  lc.dropout = 0.3;
  ModelConfig cfg = tinyQwen3();
  cfg.nLayers = 3;
  adapterGradCheck(cfg, lc, "qwen3-dropout-recompute", trainKey(7), 3);
}

/// The layer and module (q k v o gate up down = 0..6) of an adapter.
std::pair<int64_t, int> moduleOf(const std::string &name) {
  int64_t layer = std::stoll(name.substr(std::string("model.layers.").size()));
  static const char *mods[] = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                               "gate_proj", "up_proj", "down_proj"};
  for (int i = 0; i < 7; ++i)
    if (name.find(mods[i]) != std::string::npos)
      return {layer, i};
  return {layer, -1};
}

TEST(Lora, DropoutIsPeftsOnTheAdapterInput) {
  // PEFT: y = W x + s B A (m x / (1 - p)), each module its own mask m.
  // The log-prob of a sequence's second token depends on its first token's
  // row only, whose mask is the first `in` elements of each adapter's
  // input: an eval-mode model whose A columns are scaled by m / (1 - p)
  // (drawn with loraDropped) must give the same log-prob as the dropout
  // model in training mode.
  const ModelConfig cfg = tinyQwen3();
  LoraConfig lc = allTargets(2, 3.0);
  lc.dropout = 0.4;
  LoraSetup st(cfg, lc);
  Batch one = randomBatch(cfg.vocabSize, {4}, 4, 11);
  const ForwardOptions fo = trainKey(3);
  ASSERT_TRUE(st.m->forward(one.view(), fo));
  // logprobs()[1] = log p(token 1 | token 0): row 0's activations only.
  const double trained = st.m->logprobs()[1];
  ASSERT_TRUE(st.m->forward(one.view())); // eval mode: no dropout
  const double eval = st.m->logprobs()[1];
  // The reference: same base, adapters with masked columns, eval mode.
  auto ref = st.m->baseView();
  ASSERT_TRUE(ref) << ref.status().toString();
  LoraConfig plain = lc;
  plain.dropout = 0;
  ASSERT_TRUE((*ref)->addLora(plain, 3));
  int64_t n = 0;
  for (const ParamInfo &p : st.m->loraParams())
    n = std::max(n, p.offset + p.numel);
  std::vector<double> w(st.m->loraData(), st.m->loraData() + n);
  int64_t dropped = 0, total = 0;
  for (const ParamInfo &p : st.m->loraParams()) {
    if (p.name.find("lora_A") == std::string::npos)
      continue;
    auto [layer, g] = moduleOf(p.name);
    const int64_t r = p.shape[0], in = p.shape[1];
    for (int64_t j = 0; j < in; ++j) {
      bool d = Transformer<double>::loraDropped(fo.dropoutSeed, fo.dropoutStep,
                                                fo.dropoutRank, layer, g, j,
                                                lc.dropout);
      dropped += d;
      ++total;
      for (int64_t q = 0; q < r; ++q)
        w[size_t(p.offset + q * in + j)] *= d ? 0.0 : 1.0 / (1.0 - lc.dropout);
    }
  }
  st.k->copyToDevice((*ref)->loraData(), w.data(), w.size() * sizeof(double));
  ASSERT_TRUE((*ref)->forward(one.view()));
  EXPECT_NEAR(trained, (*ref)->logprobs()[1], 1e-12);
  EXPECT_GT(std::abs(trained - eval), 1e-6); // dropout changed something
  EXPECT_GT(dropped, 0);
  EXPECT_LT(dropped, total);
}

TEST(Lora, DropoutOnlyInTrainingForwardsAndKeyed) {
  const ModelConfig cfg = tinyQwen3();
  LoraConfig lc = allTargets(2, 3.0);
  lc.dropout = 0.25;
  LoraSetup st(cfg, lc);
  LoraConfig none = lc;
  none.dropout = 0;
  LoraSetup plain(cfg, none); // same seeds: the same weights
  const int64_t N = st.b.B * st.b.T;
  auto lp = [&](Transformer<double> &m, const ForwardOptions &fo) {
    EXPECT_TRUE(m.forward(st.b.view(), fo));
    return std::vector<double>(m.logprobs(), m.logprobs() + N);
  };
  // Eval-mode forwards, and training forwards without dropout, are the
  // model without dropout, bit for bit.
  EXPECT_EQ(lp(*st.m, {}), lp(*plain.m, {}));
  EXPECT_EQ(lp(*plain.m, trainKey(1)), lp(*plain.m, {}));
  // The same key draws the same masks; another step other masks.
  std::vector<double> a = lp(*st.m, trainKey(1)), b = lp(*st.m, trainKey(1)),
                      c = lp(*st.m, trainKey(2));
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(a, lp(*st.m, {}));
  // The drop rate is p.
  int64_t dropped = 0, n = 200000;
  for (int64_t e = 0; e < n; ++e)
    dropped += Transformer<double>::loraDropped(9, 4, 0, 1, 2, e, 0.25);
  EXPECT_NEAR(double(dropped) / double(n), 0.25, 0.005);
  // The adapter config records it (PEFT's lora_dropout).
  EXPECT_EQ(st.m->lora().dropout, 0.25);
  LoraConfig bad = lc;
  bad.dropout = 1.0;
  auto fresh = Transformer<double>::create(cfg, st.k.get());
  ASSERT_TRUE(fresh);
  EXPECT_FALSE((*fresh)->addLora(bad, 1));
}

TEST(Lora, MatchesFullFineTuningInAdapterSubspace) {
  const ModelConfig cfg = tinyQwen3();
  const LoraConfig lc = allTargets(2, 3.0);
  LoraSetup st(cfg, lc);
  st.backward();
  // The same model with W' = W + s B A as ordinary (trainable) weights.
  auto full = Transformer<double>::create(cfg, st.k.get());
  ASSERT_TRUE(full);
  for (const ParamInfo &p : st.m->params()) {
    auto w = st.m->getMergedParam(p.name, DType::F64);
    ASSERT_TRUE(w) << w.status().toString();
    ASSERT_TRUE((*full)->setParam(p.name, *w));
  }
  (*full)->zeroGrad();
  double Lfull = lossOf(**full, st.b, st.c, st.e);
  double Llora = lossOf(*st.m, st.b, st.c, st.e);
  EXPECT_NEAR(Lfull, Llora, 1e-10 * std::max(1.0, std::abs(Lfull)));
  st.backward();
  lossOf(**full, st.b, st.c, st.e);
  OutputGrads<double> g;
  g.dlogprob = st.c.data();
  g.dentropy = st.e.data();
  ASSERT_TRUE((*full)->backward(g));
  const double s = lc.scale();
  const int64_t r = lc.rank;
  int checked = 0;
  for (const ParamInfo &base : st.m->params()) {
    const std::string stem = base.name.substr(0, base.name.size() - 7);
    auto A = st.m->getParam(stem + ".lora_A.weight", DType::F64);
    if (!A)
      continue; // not a targeted projection
    auto B = st.m->getParam(stem + ".lora_B.weight", DType::F64);
    auto gA = st.m->getParam(stem + ".lora_A.weight", DType::F64, true);
    auto gB = st.m->getParam(stem + ".lora_B.weight", DType::F64, true);
    auto gW = (*full)->getParam(base.name, DType::F64, true);
    ASSERT_TRUE(B && gA && gB && gW);
    const double *a = static_cast<const double *>(A->raw());
    const double *bb = static_cast<const double *>(B->raw());
    const double *dW = static_cast<const double *>(gW->raw());
    const int64_t out = base.shape[0], in = base.shape[1];
    double errA = 0, errB = 0, nA = 0, nB = 0;
    for (int64_t q = 0; q < r; ++q)
      for (int64_t j = 0; j < in; ++j) { // dA = s B^T dW
        double ref = 0;
        for (int64_t i = 0; i < out; ++i)
          ref += s * bb[i * r + q] * dW[i * in + j];
        double an = static_cast<const double *>(gA->raw())[q * in + j];
        errA = std::max(errA, std::abs(an - ref));
        nA = std::max(nA, std::abs(ref));
      }
    for (int64_t i = 0; i < out; ++i)
      for (int64_t q = 0; q < r; ++q) { // dB = s dW A^T
        double ref = 0;
        for (int64_t j = 0; j < in; ++j)
          ref += s * dW[i * in + j] * a[q * in + j];
        double an = static_cast<const double *>(gB->raw())[i * r + q];
        errB = std::max(errB, std::abs(an - ref));
        nB = std::max(nB, std::abs(ref));
      }
    EXPECT_LT(errA, 1e-10 * std::max(1.0, nA)) << base.name;
    EXPECT_LT(errB, 1e-10 * std::max(1.0, nB)) << base.name;
    EXPECT_GT(nA, 1e-6) << base.name;
    ++checked;
  }
  EXPECT_EQ(checked, 7 * cfg.nLayers);
}

TEST(Lora, TrainingMovesOnlyAdapters) {
  auto k = makeCpuKernels<float>();
  auto mOr = Transformer<float>::create(tinyQwen2(), k.get());
  ASSERT_TRUE(mOr);
  Transformer<float> &m = **mOr;
  randomizeParams(m, 11, 0.3);
  const std::vector<float> base0 = m.toHost(m.paramData(), m.numParams());
  ASSERT_TRUE(m.addLora(allTargets(4, 8.0), 1));
  EXPECT_EQ(m.gradData(), nullptr); // the frozen base has no gradients
  EXPECT_LT(m.numTrainable(), m.numParams() / 2);
  int64_t adapterElems = 0;
  for (const ParamInfo &p : m.loraParams())
    adapterElems += p.numel;
  EXPECT_GE(m.numTrainable(), adapterElems);

  Batch b = randomBatch(tinyQwen2().vocabSize, {8, 6, 7, 5}, 8, 3);
  ASSERT_TRUE(m.forward(b.view()));
  const std::vector<float> lp0 = m.toHost(m.logprobs(), b.B * b.T);
  // A fresh adapter (B = 0) leaves the model's outputs as they were.
  auto plain = Transformer<float>::create(tinyQwen2(), k.get());
  ASSERT_TRUE(plain);
  k->copyToDevice((*plain)->paramData(), base0.data(), base0.size() * 4);
  ASSERT_TRUE((*plain)->forward(b.view()));
  for (int64_t i = 0; i < b.B * b.T; ++i)
    ASSERT_EQ(lp0[size_t(i)], (*plain)->logprobs()[i]) << i;

  AdamWConfig oc;
  oc.lr = 1e-2;
  oc.weightDecay = 0.1;
  AdamW<float> opt(m, oc);
  std::vector<float> ones(size_t(b.B * b.T), -1.0f); // maximise log-probs
  double first = 0, last = 0;
  for (int step = 0; step < 20; ++step) {
    m.zeroGrad();
    ASSERT_TRUE(m.forward(b.view()));
    double L = 0;
    for (int64_t i = 0; i < b.B * b.T; ++i)
      L -= m.logprobs()[i];
    if (step == 0)
      first = L;
    last = L;
    OutputGrads<float> g;
    g.dlogprob = ones.data();
    ASSERT_TRUE(m.backward(g));
    auto st = opt.step();
    ASSERT_TRUE(st) << st.status().toString();
    EXPECT_GT(st->gradNorm, 0);
  }
  EXPECT_LT(last, first * 0.9) << "adapter training did not lower the loss";
  const std::vector<float> base1 = m.toHost(m.paramData(), m.numParams());
  EXPECT_EQ(0, std::memcmp(base0.data(), base1.data(), base0.size() * 4))
      << "a frozen base weight moved";
  for (const ParamInfo &p : m.loraParams()) {
    if (p.name.find("lora_B") == std::string::npos)
      continue;
    auto t = m.getParam(p.name, DType::F32);
    ASSERT_TRUE(t);
    double sq = 0;
    for (int64_t j = 0; j < p.numel; ++j)
      sq += double(static_cast<const float *>(t->raw())[j]) *
            static_cast<const float *>(t->raw())[j];
    EXPECT_GT(sq, 0) << p.name << " did not move";
  }
}

TEST(Lora, IncrementalForwardMatchesFullForward) {
  auto k = makeCpuKernels<double>();
  auto mOr = Transformer<double>::create(tinyQwen3(), k.get());
  ASSERT_TRUE(mOr);
  auto &m = **mOr;
  randomizeParams(m, 4);
  ASSERT_TRUE(m.addLora(allTargets(2, 4.0), 2));
  randomizeAdapters(m, 8, 0.3);
  Batch b = randomBatch(tinyQwen3().vocabSize, {6}, 6, 2);
  ASSERT_TRUE(m.forward(b.view()));
  const std::vector<double> h =
      m.toHost(m.hidden(), b.T * tinyQwen3().dModel);
  auto cache = m.makeKvCache(1, 6);
  ASSERT_TRUE(cache);
  int32_t start = 0;
  auto hc = m.forwardCached(*cache, b.tokens.data(), &start, 1, 4);
  ASSERT_TRUE(hc);
  start = 4;
  std::vector<double> part = m.toHost(*hc, 4 * tinyQwen3().dModel);
  auto hc2 = m.forwardCached(*cache, b.tokens.data() + 4, &start, 1, 2);
  ASSERT_TRUE(hc2);
  std::vector<double> rest = m.toHost(*hc2, 2 * tinyQwen3().dModel);
  part.insert(part.end(), rest.begin(), rest.end());
  for (size_t i = 0; i < h.size(); ++i)
    EXPECT_NEAR(part[i], h[i], 1e-10) << i;
}

TEST(Lora, BaseViewReadsTheBaseWithoutACopy) {
  auto k = makeCpuKernels<float>();
  auto mOr = Transformer<float>::create(tinyLlama(), k.get());
  ASSERT_TRUE(mOr);
  auto &m = **mOr;
  randomizeParams(m, 6, 0.3);
  Batch b = randomBatch(tinyLlama().vocabSize, {7, 5}, 7, 4);
  ASSERT_TRUE(m.forward(b.view()));
  const std::vector<float> lpBase = m.toHost(m.logprobs(), b.B * b.T);
  ASSERT_TRUE(m.addLora(allTargets(2, 2.0), 9));
  randomizeAdapters(m, 3, 0.5);
  auto view = m.baseView();
  ASSERT_TRUE(view);
  EXPECT_EQ((*view)->paramData(), m.paramData()); // shared, not copied
  EXPECT_FALSE((*view)->hasLora());
  ASSERT_TRUE(m.forward(b.view()));
  ASSERT_TRUE((*view)->forward(b.view()));
  double diff = 0;
  for (int64_t i = 0; i < b.B * b.T; ++i) {
    EXPECT_EQ((*view)->logprobs()[i], lpBase[size_t(i)]) << i;
    diff += std::abs(m.logprobs()[i] - lpBase[size_t(i)]);
  }
  EXPECT_GT(diff, 1e-3) << "the adapters changed nothing";
}

TEST(Lora, RefusesWhatItCannotCompute) {
  auto k = makeCpuKernels<float>();
  auto g = Transformer<float>::create(tinyGpt2(), k.get());
  ASSERT_TRUE(g);
  Status s = (*g)->addLora(allTargets(2, 2), 0);
  EXPECT_FALSE(s);
  EXPECT_NE(s.message().find("GPT-2"), std::string::npos) << s.message();
  auto m = Transformer<float>::create(tinyLlama(), k.get());
  ASSERT_TRUE(m);
  LoraConfig lc = allTargets(2, 2);
  lc.targets.push_back("c_attn");
  s = (*m)->addLora(lc, 0);
  EXPECT_NE(s.message().find("c_attn"), std::string::npos) << s.message();
  EXPECT_FALSE((*m)->addLora(allTargets(0, 2), 0));
  EXPECT_FALSE((*m)->addLora(allTargets(2, -1), 0));
  EXPECT_FALSE((*m)->hasLora());
  auto sc = Transformer<float>::create(tinyLlama(HeadKind::Scalar), k.get());
  ASSERT_TRUE(sc);
  EXPECT_FALSE((*sc)->addLora(allTargets(2, 2), 0));
}

namespace {

/// A LoRA model with trained-looking adapters, saved base + PEFT adapter.
struct Saved {
  std::unique_ptr<Kernels<float>> k = makeCpuKernels<float>();
  std::unique_ptr<Transformer<float>> m;
  std::string dir, baseDir, adapterDir;
  Saved(const ModelConfig &cfg, const LoraConfig &lc) {
    m = Transformer<float>::create(cfg, k.get()).take();
    randomizeParams(*m, 21, 0.3);
    EXPECT_TRUE(m->addLora(lc, 4));
    randomizeAdapters(*m, 12, 0.4);
    dir = makeTempDir("lora");
    baseDir = dir + "/base";
    adapterDir = dir + "/adapter";
    EXPECT_TRUE(saveHfModel(*m, baseDir));
    Status s = saveLoraAdapter(*m, adapterDir, baseDir);
    EXPECT_TRUE(s) << s.toString();
  }
};

} // namespace

TEST(Lora, PeftFormatRoundTrip) {
  LoraConfig lc;
  lc.rank = 2;
  lc.alpha = 5;
  lc.targets = {"q_proj", "v_proj", "down_proj"};
  Saved sv(tinyQwen3(), lc);
  // PEFT's file names and keys.
  auto f = SafetensorsFile::open(sv.adapterDir + "/adapter_model.safetensors");
  ASSERT_TRUE(f) << f.status().toString();
  EXPECT_EQ(f->tensors().size(), size_t(3 * 2 * tinyQwen3().nLayers));
  const TensorInfo *qa =
      f->find("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
  ASSERT_NE(qa, nullptr);
  EXPECT_EQ(qa->shape, (std::vector<int64_t>{2, tinyQwen3().dModel}));
  const TensorInfo *db =
      f->find("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight");
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(db->shape, (std::vector<int64_t>{tinyQwen3().dModel, 2}));
  auto text = readFile(sv.adapterDir + "/adapter_config.json");
  ASSERT_TRUE(text);
  auto cfg = json::parse(*text);
  ASSERT_TRUE(cfg);
  EXPECT_EQ(cfg->find("peft_type")->asString(), "LORA");
  EXPECT_EQ(cfg->find("r")->asInt(), 2);
  EXPECT_EQ(cfg->find("lora_alpha")->asDouble(), 5.0);
  EXPECT_EQ(cfg->find("target_modules")->size(), 3u);
  EXPECT_EQ(cfg->find("task_type")->asString(), "CAUSAL_LM");

  // Base + adapter load back into the same outputs.
  auto base = loadHfModel(sv.baseDir, sv.k.get());
  ASSERT_TRUE(base) << base.status().toString();
  Status s = loadLoraAdapter(**base, sv.adapterDir);
  ASSERT_TRUE(s) << s.toString();
  EXPECT_EQ((*base)->lora().targets, lc.targets);
  Batch b = randomBatch(tinyQwen3().vocabSize, {8, 5}, 8, 6);
  ASSERT_TRUE(sv.m->forward(b.view()));
  ASSERT_TRUE((*base)->forward(b.view()));
  for (int64_t i = 0; i < b.B * b.T; ++i)
    ASSERT_EQ(sv.m->logprobs()[i], (*base)->logprobs()[i]) << i;

  // The merged export is a plain model with (up to rounding) equal outputs.
  ASSERT_TRUE(saveHfModel(*sv.m, sv.dir + "/merged", true));
  auto merged = loadHfModel(sv.dir + "/merged", sv.k.get());
  ASSERT_TRUE(merged) << merged.status().toString();
  EXPECT_FALSE((*merged)->hasLora());
  ASSERT_TRUE((*merged)->forward(b.view()));
  for (int64_t i = 0; i < b.B * b.T; ++i)
    EXPECT_NEAR(sv.m->logprobs()[i], (*merged)->logprobs()[i], 1e-4) << i;

  // Loading refuses adapters Hone cannot compute, naming the field.
  std::string bad = sv.dir + "/dora";
  ASSERT_TRUE(saveLoraAdapter(*sv.m, bad));
  std::string t = *readFile(bad + "/adapter_config.json");
  t.replace(t.find("\"use_dora\": false"), 17, "\"use_dora\": true");
  ASSERT_TRUE(writeFileAtomic(bad + "/adapter_config.json", t));
  auto fresh = loadHfModel(sv.baseDir, sv.k.get());
  ASSERT_TRUE(fresh);
  s = loadLoraAdapter(**fresh, bad);
  EXPECT_FALSE(s);
  EXPECT_NE(s.message().find("DoRA"), std::string::npos) << s.message();
}

// PEFT itself: PeftModel.from_pretrained(base, adapter) gives Hone's
// log-probs, and merge_and_unload() its merged ones. Skipped where no Python
// can import peft (and transformers with PyTorch).
TEST(Lora, PeftLoadsHonesAdapter) {
  std::string py;
  std::vector<std::string> cands;
  if (const char *env = std::getenv("HONE_ORACLE_PYTHON"))
    cands.push_back(env);
  cands.push_back(HONE_BINARY_DIR "/pyvenv/bin/python");
  cands.push_back("/usr/bin/python3");
  for (const std::string &c : cands)
    if (std::system(("'" + c +
                     "' -c 'import peft, transformers, torch' >/dev/null 2>&1")
                        .c_str()) == 0) {
      py = c;
      break;
    }
  if (py.empty())
    GTEST_SKIP() << "no Python here can import peft, transformers and torch";
  Saved sv(tinyQwen2(), allTargets(2, 4.0));
  Batch b = randomBatch(tinyQwen2().vocabSize, {8, 6}, 8, 7);
  ASSERT_TRUE(sv.m->forward(b.view()));
  std::string tokens = sv.dir + "/tokens.txt", out = sv.dir + "/peft.txt";
  {
    std::ofstream f(tokens);
    for (int64_t i = 0; i < b.B; ++i) {
      for (int64_t t = 0; t < b.lengths[size_t(i)]; ++t)
        f << (t ? " " : "") << b.tokens[size_t(i * b.T + t)];
      f << "\n";
    }
  }
  std::string cmd = "'" + py + "' '" HONE_SOURCE_DIR
                    "/test/unit/model/peft_check.py' '" +
                    sv.baseDir + "' '" + sv.adapterDir + "' '" + tokens +
                    "' '" + out + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream f(out);
  std::string line;
  for (int64_t i = 0; i < b.B; ++i) {
    ASSERT_TRUE(std::getline(f, line));
    std::istringstream ls(line);
    for (int64_t t = 1; t < b.lengths[size_t(i)]; ++t) {
      double v;
      ASSERT_TRUE(ls >> v);
      EXPECT_NEAR(v, sv.m->logprobs()[i * b.T + t], 1e-4) << i << "," << t;
    }
  }
}
