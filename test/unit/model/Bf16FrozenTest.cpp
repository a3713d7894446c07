// Frozen models stored in bf16 (Transformer::createFrozenBf16; docs/
// runtime.md, "Frozen models in bf16"): their log-probs against the fp32
// model holding the same (bf16-rounded) weights, on both GEMM paths, bit
// identity across thread counts, bytes planned (memsize::frozenBf16Bytes)
// against bytes held and the resident set, loading bf16/fp16 safetensors
// straight into bf16, and the forced "no AVX-512 BF16" path.
//
// Tolerances: with bf16 compute off the kernels widen the bf16 weights to
// fp32 and use the fp32 GEMM, so log-probs equal the fp32 model's with the
// same weights to 1e-5 (summation order only: the widened panels are
// multiplied separately); with bf16 compute on (hardware.precision bf16,
// activations rounded to bf16 too) they stay within docs/job.md's 5e-2.
#include "ModelTestUtil.h"
#include "kernels/cpu/CpuKernels.h"
#include "runtime/formats/HfConfig.h"
#include "runtime/formats/Safetensors.h"
#include "runtime/model/HfModel.h"
#include "runtime/model/MemorySizes.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace hone;
using namespace hone::test;

namespace {

struct Fp32Scope { // fp32 GEMMs and 2 threads however a test ends
  ~Fp32Scope() {
    setCpuBf16Gemm(false);
    setCpuThreads(2);
  }
};

/// `src`'s weights in a new model of the given storage (matrices rounded to
/// bf16 in both: the fp32 model is the reference for the bf16 one).
std::unique_ptr<Transformer<float>> copyOf(const Transformer<float> &src,
                                           Kernels<float> *k, bool frozen) {
  auto m = frozen ? Transformer<float>::createFrozenBf16(src.config(), k)
                  : Transformer<float>::create(src.config(), k);
  EXPECT_TRUE(m);
  for (const ParamInfo &p : src.params()) {
    auto t =
        src.getParam(p.name, p.shape.size() == 1 ? DType::F32 : DType::BF16);
    EXPECT_TRUE(t);
    EXPECT_TRUE((*m)->setParam(p.name, *t));
  }
  return m.take();
}

std::vector<float> logprobsOf(Transformer<float> &m, const Batch &b) {
  EXPECT_TRUE(m.forward(b.view()));
  if (m.config().head == HeadKind::Scalar)
    return m.toHost(m.values(), b.B * b.T);
  return m.toHost(m.logprobs(), b.B * b.T);
}

double worstDiff(const std::vector<float> &a, const std::vector<float> &b) {
  double w = 0;
  for (size_t i = 0; i < a.size(); ++i)
    w = std::max(w, std::fabs(double(a[i]) - double(b[i])));
  return w;
}

ModelConfig mid(ModelConfig c) { // GEMMs big enough to be sliced
  c.vocabSize = 1000;
  c.dModel = 128;
  c.nHeads = 4;
  c.nKvHeads = c.family == ModelFamily::GPT2 ? 4 : 2;
  c.dFf = 384;
  c.maxSeqLen = 64;
  return c;
}

} // namespace

/// Every family and head: a frozen bf16 model's outputs against the fp32
/// model with the same rounded weights, with bf16 compute off (widening) and
/// on (oneDNN, where the CPU has it); each bit-identical across 1 and 2
/// threads.
TEST(FrozenBf16, MatchesFp32WithRoundedWeights) {
  Fp32Scope scope;
  auto k = makeCpuKernels<float>();
  for (ModelConfig cfg :
       {mid(tinyGpt2()), mid(tinyQwen2()), mid(tinyQwen3()), mid(tinyLlama3()),
        mid(tinyQwen2(HeadKind::Scalar))}) {
    auto base = Transformer<float>::create(cfg, k.get());
    ASSERT_TRUE(base);
    (*base)->initRandom(7, 0.05);
    auto ref = copyOf(**base, k.get(), false);
    auto fro = copyOf(**base, k.get(), true);
    EXPECT_TRUE(fro->frozenBf16());
    EXPECT_EQ(fro->paramData(), nullptr);
    EXPECT_EQ(fro->gradData(), nullptr);
    Batch b = randomBatch(cfg.vocabSize, {64, 33, 64, 50}, 64, 3);
    setCpuBf16Gemm(false);
    setCpuThreads(2);
    auto want = logprobsOf(*ref, b);
    auto got2 = logprobsOf(*fro, b);
    setCpuThreads(1);
    auto got1 = logprobsOf(*fro, b);
    EXPECT_EQ(std::memcmp(got1.data(), got2.data(), got1.size() * 4), 0);
    EXPECT_LE(worstDiff(want, got2), 1e-5) << cfg.dModel;
    EXPECT_GT(worstDiff(want, std::vector<float>(want.size(), 0.f)), 0.1);
    if (!setCpuBf16Gemm(true))
      continue;
    setCpuThreads(2);
    auto dot2 = logprobsOf(*fro, b);
    setCpuThreads(1);
    auto dot1 = logprobsOf(*fro, b);
    setCpuBf16Gemm(false);
    EXPECT_EQ(std::memcmp(dot1.data(), dot2.data(), dot1.size() * 4), 0);
    EXPECT_LE(worstDiff(want, dot2), 5e-2);
    EXPECT_GT(worstDiff(want, dot2), 0.0); // the dot-product path really ran
  }
}

/// Generation's incremental forward and logits on bf16 weights against the
/// fp32 model with the same weights.
TEST(FrozenBf16, CachedForwardAndLogits) {
  Fp32Scope scope;
  setCpuBf16Gemm(false);
  auto k = makeCpuKernels<float>();
  for (ModelConfig cfg : {mid(tinyGpt2()), mid(tinyQwen3())}) {
    auto base = Transformer<float>::create(cfg, k.get());
    ASSERT_TRUE(base);
    (*base)->initRandom(9, 0.05);
    auto ref = copyOf(**base, k.get(), false);
    auto fro = copyOf(**base, k.get(), true);
    std::vector<int32_t> tok = {1, 5, 9, 2, 7, 3}, start = {0, 0};
    std::vector<float> out[2];
    int i = 0;
    for (Transformer<float> *m : {ref.get(), fro.get()}) {
      auto cache = m->makeKvCache(2, 16);
      ASSERT_TRUE(cache);
      auto h = m->forwardCached(*cache, tok.data(), start.data(), 2, 3);
      ASSERT_TRUE(h);
      std::vector<float> lg(size_t(6 * cfg.vocabSize));
      ASSERT_TRUE(m->logits(*h, 6, 1.0, lg.data()));
      out[i++] = lg;
    }
    EXPECT_LE(worstDiff(out[0], out[1]), 1e-5);
  }
}

/// What a frozen bf16 model refuses, with a message: a backward without
/// adapters, gradients (LoRA on it: test/unit/model/LoraBf16Test.cpp).
/// An initialised frozen bf16 model (the job's hone.model.init with
/// storage "bf16": a LoRA base nothing else trains) holds the fp32 init's
/// values rounded to bf16, norm gains and biases exactly.
TEST(FrozenBf16, InitRandomRoundsTheFp32Init) {
  auto k = makeCpuKernels<float>();
  for (ModelConfig cfg : {mid(tinyGpt2()), mid(tinyQwen3())}) {
    auto fp = Transformer<float>::create(cfg, k.get());
    auto bf = Transformer<float>::createFrozenBf16(cfg, k.get());
    ASSERT_TRUE(fp && bf);
    (*fp)->initRandom(5);
    (*bf)->initRandom(5);
    ASSERT_TRUE((*bf)->frozenBf16());
    int64_t rounded = 0;
    for (const ParamInfo &p : (*fp)->params()) {
      const DType dt = p.shape.size() == 1 ? DType::F32 : DType::BF16;
      auto want = (*fp)->getParam(p.name, dt);
      auto got = (*bf)->getParam(p.name, dt);
      ASSERT_TRUE(want && got);
      ASSERT_EQ(want->nbytes(), got->nbytes()) << p.name;
      EXPECT_EQ(std::memcmp(want->raw(), got->raw(), want->nbytes()), 0)
          << p.name;
      rounded += dt == DType::BF16;
    }
    EXPECT_GT(rounded, 0);
    EXPECT_LT((*bf)->weightBytesHeld(), (*fp)->weightBytesHeld());
  }
}

TEST(FrozenBf16, NoBackwardWithoutAdapters) {
  auto k = makeCpuKernels<float>();
  auto m = Transformer<float>::createFrozenBf16(mid(tinyQwen2()), k.get());
  ASSERT_TRUE(m);
  Batch b = randomBatch(1000, {8}, 8, 1);
  ASSERT_TRUE((*m)->forward(b.view()));
  std::vector<float> d(8, 1.f);
  OutputGrads<float> g;
  g.dlogprob = d.data();
  Status s = (*m)->backward(g);
  EXPECT_FALSE(s.isOk());
  EXPECT_NE(s.message().find("frozen bf16"), std::string::npos);
  (*m)->zeroGrad(); // allocates no fp32 gradients
  EXPECT_EQ((*m)->gradData(), nullptr);
  EXPECT_FALSE((*m)->getParam("model.norm.weight", DType::F32, true));
}

/// Bytes: held == memsize::frozenBf16Bytes for every family, and half the
/// fp32 weights (a quarter of fp32 weights + gradients) up to the fp32
/// vectors.
TEST(FrozenBf16, BytesHeldMatchThePlan) {
  auto k = makeCpuKernels<float>();
  ModelConfig odd = mid(tinyGpt2());
  odd.dModel = 104; // vectors not a multiple of 16 floats (head dim 26)
  odd.nHeads = 4;
  odd.nKvHeads = 4;
  ModelConfig qb = mid(tinyQwen2());
  qb.qkvBias = true;
  for (ModelConfig cfg : {mid(tinyGpt2()), odd, mid(tinyQwen2()), qb,
                          mid(tinyQwen3()), mid(tinyQwen2(HeadKind::Scalar))}) {
    auto f = Transformer<float>::createFrozenBf16(cfg, k.get());
    auto w = Transformer<float>::create(cfg, k.get());
    ASSERT_TRUE(f) << f.status().message();
    ASSERT_TRUE(w) << w.status().message();
    EXPECT_EQ((*f)->weightBytesHeld(), memsize::frozenBf16Bytes(cfg));
    EXPECT_EQ((*w)->weightBytesHeld(), memsize::parameterBytes(cfg, 4));
    double ratio = double(memsize::frozenBf16Bytes(cfg)) /
                   double(memsize::parameterBytes(cfg, 4));
    EXPECT_GT(ratio, 0.5);
    EXPECT_LT(ratio, 0.52);
  }
}

namespace {
int64_t residentBytes() {
  std::ifstream f("/proc/self/statm");
  int64_t pages = 0, rss = 0;
  f >> pages >> rss;
  return rss * int64_t(sysconf(_SC_PAGESIZE));
}
} // namespace

/// The acceptance measurement: a frozen bf16 model of ~25 M parameters adds
/// half the resident bytes of the fp32 model's weights, within 10 % (a
/// frozen fp32 model no longer holds gradients until a backward).
TEST(FrozenBf16, ResidentSetIsHalfOfFp32) {
  if (residentBytes() == 0)
    GTEST_SKIP() << "no /proc/self/statm";
  auto k = makeCpuKernels<float>();
  ModelConfig cfg = tinyQwen2();
  cfg.vocabSize = 8192;
  cfg.dModel = 512;
  cfg.nHeads = 8;
  cfg.nKvHeads = 8;
  cfg.dFf = 1536;
  cfg.nLayers = 8;
  cfg.maxSeqLen = 64;
  int64_t r0 = residentBytes();
  auto w = Transformer<float>::create(cfg, k.get());
  ASSERT_TRUE(w);
  int64_t fp32 = residentBytes() - r0;
  w->reset();
  int64_t r1 = residentBytes();
  auto f = Transformer<float>::createFrozenBf16(cfg, k.get());
  ASSERT_TRUE(f);
  int64_t bf16 = residentBytes() - r1;
  const double planned32 = double(memsize::parameterBytes(cfg, 4));
  const double planned16 = double(memsize::frozenBf16Bytes(cfg));
  // A model that has not run a backward holds no gradient buffer yet (it is
  // allocated on the first zeroGrad/backward), so the fp32 model measured
  // here is its weights alone.
  std::printf("resident: fp32 model (weights) %.1f MiB, frozen bf16 %.1f MiB "
              "(planned %.1f / %.1f MiB)\n",
              double(fp32) / 1048576, double(bf16) / 1048576,
              planned32 / 1048576, planned16 / 1048576);
  EXPECT_NEAR(double(fp32), planned32, 0.1 * planned32);
  EXPECT_NEAR(double(bf16), planned16, 0.1 * planned16);
  EXPECT_NEAR(double(bf16) / double(fp32), 0.5, 0.05);
}

namespace {
/// A model directory with every tensor stored as `dtype`.
std::string writeDir(const Transformer<float> &m, DType dtype,
                     const std::string &tag) {
  std::string dir = ::testing::TempDir() + "hone_bf16_" + tag + "_" +
                    std::to_string(getpid());
  std::filesystem::create_directories(dir);
  std::vector<Tensor> owned;
  std::vector<TensorWrite> writes;
  for (const ParamInfo &p : m.params()) {
    auto t = m.getParam(p.name, dtype);
    EXPECT_TRUE(t);
    owned.push_back(t.take());
    writes.push_back(
        {p.name, dtype, p.shape, owned.back().raw(), owned.back().nbytes()});
  }
  EXPECT_TRUE(writeSafetensors(dir + "/model.safetensors", writes));
  EXPECT_TRUE(saveHfConfig(dir + "/config.json", m.config()));
  return dir;
}
} // namespace

/// bf16 and fp16 checkpoints load straight into bf16 storage: a bf16 one
/// bit for bit (its matrices equal the file's bits), an fp16 one rounded;
/// outputs as the fp32 load of the same file (bf16: within 1e-5; fp16:
/// rounding the fp16 weights to bf16 moves log-probs by < 5e-2).
TEST(FrozenBf16, LoadsHalfCheckpointsWithoutFp32Copy) {
  Fp32Scope scope;
  setCpuBf16Gemm(false);
  auto k = makeCpuKernels<float>();
  ModelConfig cfg = mid(tinyQwen3());
  auto base = Transformer<float>::create(cfg, k.get());
  ASSERT_TRUE(base);
  (*base)->initRandom(11, 0.05);
  Batch b = randomBatch(cfg.vocabSize, {40, 64}, 64, 5);
  for (DType dt : {DType::BF16, DType::F16}) {
    std::string dir = writeDir(**base, dt, dtypeName(dt));
    auto f = loadHfModel(dir, k.get(), true);
    auto w = loadHfModel(dir, k.get(), false);
    ASSERT_TRUE(f && w) << (f ? w.status().message() : f.status().message());
    EXPECT_TRUE((*f)->frozenBf16());
    if (dt == DType::BF16) {
      const ParamInfo *p = (*f)->findParam("model.embed_tokens.weight");
      auto file = SafetensorsFile::open(dir + "/model.safetensors");
      ASSERT_TRUE(file && p);
      const TensorInfo *ti = file->find(p->name);
      EXPECT_EQ(std::memcmp(file->data(*ti), (*f)->bf16Param(*p),
                            size_t(p->numel) * 2),
                0);
    }
    double d = worstDiff(logprobsOf(**w, b), logprobsOf(**f, b));
    EXPECT_LE(d, dt == DType::BF16 ? 1e-5 : 5e-2) << dtypeName(dt);
    std::filesystem::remove_all(dir);
  }
}

/// Loading an fp32 model from a bf16 checkpoint converts each tensor a
/// chunk at a time into the model (Transformer::setParam): the resident
/// peak while loading is the model's weights and the mapped file, with no
/// converted copy of the largest tensor (the embedding, 16 MiB in fp32
/// here; loadHfModel used to read each tensor into an fp32 vector first,
/// outside the memory plan).
TEST(FrozenBf16, LoadingStagesNoWholeTensor) {
  auto k = makeCpuKernels<float>();
  ModelConfig cfg = tinyQwen3();
  cfg.vocabSize = 32768;
  cfg.dModel = 128;
  cfg.tieEmbeddings = true;
  auto base = Transformer<float>::create(cfg, k.get());
  ASSERT_TRUE(base);
  (*base)->initRandom(3, 0.05);
  std::string dir = writeDir(**base, DType::BF16, "staging");
  base->reset();
  const double weights = double(memsize::parameterBytes(cfg, 4));
  const double file =
      double(std::filesystem::file_size(dir + "/model.safetensors"));
  {
    // VmHWM from now on (Linux: "5" to clear_refs resets it).
    std::ofstream c("/proc/self/clear_refs");
    c << "5";
    c.flush();
    if (!c || residentBytes() == 0) {
      std::filesystem::remove_all(dir);
      GTEST_SKIP() << "cannot reset the resident peak";
    }
  }
  auto hwm = [] {
    std::ifstream f("/proc/self/status");
    std::string key;
    int64_t kb = 0;
    while (f >> key)
      if (key == "VmHWM:") {
        f >> kb;
        break;
      }
    return kb * 1024;
  };
  const int64_t r0 = residentBytes(), h0 = hwm();
  auto w = loadHfModel(dir, k.get(), false);
  ASSERT_TRUE(w) << w.status().message();
  const double grew = double(std::max(hwm(), h0) - r0);
  std::printf("load: resident peak +%.1f MiB (weights %.1f MiB, file %.1f "
              "MiB)\n",
              grew / 1048576, weights / 1048576, file / 1048576);
  // A staged fp32 copy of the embedding alone would add weights * 0.9.
  EXPECT_LE(grew, 1.1 * (weights + file) + double(2 << 20));
  // Converted chunk by chunk (64 of them here): the file's values widened.
  {
    auto f = SafetensorsFile::open(dir + "/model.safetensors");
    ASSERT_TRUE(f);
    const ParamInfo *p = (*w)->findParam("model.embed_tokens.weight");
    ASSERT_TRUE(p);
    const TensorInfo *ti = f->find(p->name);
    ASSERT_TRUE(ti);
    auto want = Tensor::view(const_cast<uint8_t *>(f->data(*ti)), p->shape,
                             DType::BF16)
                    .toDType(DType::F32);
    auto got = (*w)->getParam(p->name, DType::F32);
    ASSERT_TRUE(want && got);
    EXPECT_EQ(std::memcmp(want->raw(), got->raw(), want->nbytes()), 0);
  }
  std::filesystem::remove_all(dir);
}

/// HONE_CPU_BF16=off turns the detection off as on a CPU without AVX-512
/// BF16: bf16 compute is refused with the reason, and frozen bf16 models
/// still run (widening path).
TEST(FrozenBf16, DetectionForcedOff) {
  Fp32Scope scope;
  setenv("HONE_CPU_BF16", "off", 1);
  std::string why = cpuBf16Unsupported();
  bool on = setCpuBf16Gemm(true);
  unsetenv("HONE_CPU_BF16");
  EXPECT_NE(why.find("HONE_CPU_BF16=off"), std::string::npos) << why;
  EXPECT_FALSE(on);
  EXPECT_FALSE(cpuBf16Gemm());
  auto k = makeCpuKernels<float>();
  auto m = Transformer<float>::createFrozenBf16(mid(tinyGpt2()), k.get());
  ASSERT_TRUE(m);
  (*m)->initRandom(3, 0.05);
  Batch b = randomBatch(1000, {16}, 16, 2);
  ASSERT_TRUE((*m)->forward(b.view()));
  auto lp = (*m)->toHost((*m)->logprobs(), 16);
  for (float x : lp)
    EXPECT_TRUE(std::isfinite(x));
}
