// A model Hone saves loads in Hugging Face transformers with the same
// log-probs, and what transformers saves loads back into Hone. Skipped where
// /usr/bin/python3 cannot import transformers.

#include "test/unit/TempDir.h"
#include "ModelTestUtil.h"
#include "runtime/model/HfModel.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace hone {
namespace {

using test::randomBatch;
using test::randomizeParams;

// transformers must be able to build PyTorch models: a transformers newer
// than the installed torch imports but refuses (it then skips, not fails).
bool haveTransformers() {
  return std::system("/usr/bin/python3 -c 'import sys, transformers; "
                     "sys.exit(0 if transformers.utils.is_torch_available() "
                     "else 1)' >/dev/null 2>&1") == 0;
}

void roundTrip(const ModelConfig &cfg, const std::string &tag) {
  if (!haveTransformers())
    GTEST_SKIP() << "/usr/bin/python3 cannot build transformers models";
  auto k = makeCpuKernels<float>();
  auto model = Transformer<float>::create(cfg, k.get());
  ASSERT_TRUE(model.isOk()) << model.status().toString();
  randomizeParams(**model, 11, 0.3);

  std::string base = hone::test::makeTempDir("hf-" + tag);
  std::string dir = base + "/model", resaved = base + "/resaved";
  ASSERT_TRUE(saveHfModel(**model, dir).isOk());

  test::Batch b = randomBatch(cfg.vocabSize, {8, 5, 7}, 8, 5);
  ASSERT_TRUE((*model)->forward(b.view()).isOk());
  std::vector<float> ours =
      (*model)->toHost((*model)->logprobs(), b.B * b.T);

  std::string tokens = dir + "/tokens.txt", out = dir + "/logprobs.txt";
  {
    std::ofstream os(tokens);
    for (int64_t i = 0; i < b.B; ++i) {
      for (int64_t t = 0; t < b.lengths[size_t(i)]; ++t)
        os << (t ? " " : "") << b.tokens[size_t(i * b.T + t)];
      os << "\n";
    }
  }
  std::string cmd = "/usr/bin/python3 " HONE_SOURCE_DIR
                    "/test/unit/model/hf_transformers_check.py " +
                    dir + " " + tokens + " " + out + " " + resaved;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;

  // transformers' log-probs equal Hone's (float32 on both sides).
  std::ifstream in(out);
  std::string line;
  double worst = 0;
  for (int64_t i = 0; i < b.B; ++i) {
    ASSERT_TRUE(std::getline(in, line));
    std::istringstream ls(line);
    for (int64_t t = 1; t < b.lengths[size_t(i)]; ++t) {
      double theirs;
      ASSERT_TRUE(ls >> theirs) << "row " << i << " t " << t;
      worst = std::max(worst,
                       std::fabs(theirs - ours[size_t(i * b.T + t)]));
    }
  }
  std::printf("[ %s ] max |log p(transformers) - log p(hone)| = %.2e\n",
              tag.c_str(), worst);
  EXPECT_LT(worst, 1e-4);

  // And back: what transformers saved gives Hone the same log-probs.
  auto back = loadHfModel(resaved, k.get());
  ASSERT_TRUE(back.isOk()) << back.status().toString();
  ASSERT_TRUE((*back)->forward(b.view()).isOk());
  std::vector<float> again = (*back)->toHost((*back)->logprobs(), b.B * b.T);
  EXPECT_EQ(ours, again);
}

TEST(HfTransformers, Gpt2RoundTrip) { roundTrip(test::tinyGpt2(), "gpt2"); }

TEST(HfTransformers, Qwen2GqaBiasUntiedRoundTrip) {
  roundTrip(test::tinyQwen2(), "qwen2");
}

TEST(HfTransformers, LlamaGqaUntiedRoundTrip) {
  ModelConfig cfg = test::tinyQwen2();
  cfg.qkvBias = false;
  roundTrip(cfg, "llama");
}

TEST(HfTransformers, LlamaTiedRoundTrip) { roundTrip(test::tinyLlama(), "llama-tied"); }

} // namespace
} // namespace hone
