// Forward logits, log-probs, entropy and every parameter gradient against an
// independent PyTorch implementation (torch_reference.py) of the same
// weights, in float64. Skipped where no Python here imports torch.
#include "test/unit/TempDir.h"
#include "ModelTestUtil.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <unistd.h>

using namespace hone;
using namespace hone::test;

namespace {

/// /usr/bin/python3, else the optional venv (HONE_SETUP_EXTRAS=1
/// scripts/setup-deps); empty if neither imports torch.
const std::string &torchPython() {
  static const std::string py = [] {
    for (std::string c : {std::string("/usr/bin/python3"),
                          std::string(HONE_BINARY_DIR "/pyvenv/bin/python")})
      if (std::system(("'" + c + "' -c 'import torch' >/dev/null 2>&1")
                          .c_str()) == 0)
        return c;
    return std::string();
  }();
  return py;
}
bool haveTorch() { return !torchPython().empty(); }

struct Blob {
  std::vector<std::pair<std::string, std::vector<int64_t>>> shapes;
  std::map<std::string, std::vector<double>> data;
};

void writeBlob(const std::string &dir, const Blob &b,
               const std::map<std::string, std::string> &kinds) {
  std::ofstream man(dir + "/manifest.txt"),
      bin(dir + "/data.bin", std::ios::binary);
  size_t off = 0;
  for (auto &[name, shape] : b.shapes) {
    const auto &v = b.data.at(name);
    std::string kind = kinds.count(name) ? kinds.at(name) : "f64";
    man << name << " " << kind << " " << off;
    for (int64_t s : shape)
      man << " " << s;
    man << "\n";
    if (kind == "f64") {
      bin.write(reinterpret_cast<const char *>(v.data()), v.size() * 8);
    } else {
      for (double x : v) {
        int64_t i = int64_t(x);
        bin.write(reinterpret_cast<const char *>(&i), 8);
      }
    }
    off += v.size() * 8;
  }
}

std::map<std::string, std::vector<double>> readBlob(const std::string &dir) {
  std::map<std::string, std::vector<double>> out;
  std::ifstream man(dir + "/manifest.txt");
  std::ifstream bin(dir + "/data.bin", std::ios::binary);
  std::string line;
  while (std::getline(man, line)) {
    std::istringstream is(line);
    std::string name, kind;
    size_t off;
    is >> name >> kind >> off;
    int64_t n = 1, s;
    while (is >> s)
      n *= s;
    std::vector<double> v(static_cast<size_t>(n));
    bin.seekg(std::streamoff(off));
    bin.read(reinterpret_cast<char *>(v.data()), std::streamsize(n * 8));
    out[name] = v;
  }
  return out;
}

void compareWithTorch(const ModelConfig &cfg, double temperature) {
  if (!haveTorch())
    GTEST_SKIP() << "python3 cannot import torch";
  auto k = makeCpuKernels<double>();
  auto mOr = Transformer<double>::create(cfg, k.get());
  ASSERT_TRUE(mOr);
  auto &m = **mOr;
  randomizeParams(m, 21);
  Batch b = randomBatch(cfg.vocabSize, {7, 4, 6}, 7, 2);
  const size_t n = size_t(b.B * b.T);
  auto c = randomVector<double>(n, 1, 0), e = randomVector<double>(n, 1, 1);

  std::string dir = hone::test::makeTempDir("torch"), in = dir + "/in", out = dir + "/out";
  ASSERT_EQ(std::system(("mkdir -p " + in).c_str()), 0);
  Blob blob;
  std::map<std::string, std::string> kinds;
  auto add = [&](const std::string &name, std::vector<int64_t> shape,
                 std::vector<double> v) {
    blob.shapes.push_back({name, shape});
    blob.data[name] = std::move(v);
  };
  add("__config__", {8},
      {cfg.family == ModelFamily::GPT2 ? 0.0 : 1.0, double(cfg.dModel),
       double(cfg.nHeads), double(cfg.nKvHeads), double(cfg.nLayers),
       cfg.normEps, cfg.ropeTheta, temperature});
  std::vector<double> tok(b.tokens.begin(), b.tokens.end());
  for (double &t : tok)
    t = t < 0 ? 0 : t;
  add("__tokens__", {b.B, b.T}, tok);
  kinds["__tokens__"] = "i64";
  add("__lengths__", {b.B},
      std::vector<double>(b.lengths.begin(), b.lengths.end()));
  kinds["__lengths__"] = "i64";
  add("__dlogprob__", {b.B, b.T}, c);
  add("__dentropy__", {b.B, b.T}, e);
  for (const ParamInfo &p : m.params())
    add(p.name, p.shape, std::vector<double>(m.param(p), m.param(p) + p.numel));
  writeBlob(in, blob, kinds);

  std::string cmd = torchPython() + " " HONE_SOURCE_DIR
                    "/test/unit/model/torch_reference.py " +
                    in + " " + out;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto ref = readBlob(out);

  ForwardOptions o;
  o.temperature = temperature;
  m.zeroGrad();
  ASSERT_TRUE(m.forward(b.view(), o));
  OutputGrads<double> g;
  g.dlogprob = c.data();
  g.dentropy = e.data();
  ASSERT_TRUE(m.backward(g));
  const int64_t V = cfg.vocabSize;
  std::vector<double> logits(n * size_t(V));
  ASSERT_TRUE(m.logits(m.hidden(), b.B * b.T, 1.0, logits.data()));

  auto relErr = [](const std::vector<double> &a, const std::vector<double> &r) {
    double num = 0, den = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      num += (a[i] - r[i]) * (a[i] - r[i]);
      den += r[i] * r[i];
    }
    return std::sqrt(num) / std::max(std::sqrt(den), 1e-30);
  };
  std::vector<double> myLogits, refLogits;
  for (int64_t bb = 0; bb < b.B; ++bb)
    for (int64_t t = 0; t < b.lengths[size_t(bb)]; ++t)
      for (int64_t v = 0; v < V; ++v) {
        size_t i = size_t((bb * b.T + t) * V + v);
        myLogits.push_back(logits[i]);
        refLogits.push_back(ref["__logits__"][i]);
      }
  EXPECT_LT(relErr(myLogits, refLogits), 1e-12);
  std::vector<double> lp(m.logprobs(), m.logprobs() + n),
      ent(m.entropy(), m.entropy() + n);
  EXPECT_LT(relErr(lp, ref["__logprob__"]), 1e-12);
  EXPECT_LT(relErr(ent, ref["__entropy__"]), 1e-12);
  double worst = 0;
  for (const ParamInfo &p : m.params()) {
    ASSERT_TRUE(ref.count(p.name)) << p.name;
    std::vector<double> mine(m.grad(p), m.grad(p) + p.numel);
    double r = relErr(mine, ref[p.name]);
    worst = std::max(worst, r);
    EXPECT_LT(r, 1e-10) << p.name;
  }
  std::printf("torch comparison (float64): worst gradient relative error "
              "%.2e\n",
              worst);

  // The float32 build of the kernels (vectorised exp/tanh, float GEMM)
  // against the same float64 reference.
  auto kf = makeCpuKernels<float>();
  auto mf = Transformer<float>::create(cfg, kf.get());
  ASSERT_TRUE(mf);
  for (const ParamInfo &p : m.params())
    ASSERT_TRUE(
        (*mf)->setParam(p.name, Tensor::view(m.param(p), p.shape, DType::F64)));
  std::vector<float> cf(c.begin(), c.end()), ef(e.begin(), e.end());
  (*mf)->zeroGrad();
  ASSERT_TRUE((*mf)->forward(b.view(), o));
  OutputGrads<float> gf;
  gf.dlogprob = cf.data();
  gf.dentropy = ef.data();
  ASSERT_TRUE((*mf)->backward(gf));
  std::vector<double> lpf((*mf)->logprobs(), (*mf)->logprobs() + n),
      entf((*mf)->entropy(), (*mf)->entropy() + n);
  EXPECT_LT(relErr(lpf, ref["__logprob__"]), 1e-5);
  EXPECT_LT(relErr(entf, ref["__entropy__"]), 1e-5);
  double worstF = 0;
  for (const ParamInfo &p : (*mf)->params()) {
    std::vector<double> mine((*mf)->grad(p), (*mf)->grad(p) + p.numel);
    double r = relErr(mine, ref[p.name]);
    worstF = std::max(worstF, r);
    EXPECT_LT(r, 1e-4) << p.name << " (float32)";
  }
  std::printf("torch comparison (float32): log-prob relative error %.2e, "
              "worst gradient relative error %.2e\n",
              relErr(lpf, ref["__logprob__"]), worstF);
  EXPECT_EQ(std::system(("rm -rf " + dir).c_str()), 0);
}

} // namespace

TEST(TorchCompare, Gpt2) { compareWithTorch(tinyGpt2(), 1.0); }
TEST(TorchCompare, Qwen2GqaBiasUntied) {
  ModelConfig c = tinyQwen2();
  c.ropeTheta = 10000.0;
  compareWithTorch(c, 0.8);
}
TEST(TorchCompare, LlamaMqaTied) { compareWithTorch(tinyLlama(), 1.0); }
