// A model Hone saves loads in Hugging Face transformers with the same
// log-probs, and what transformers saves loads back into Hone; models that
// transformers builds from a config (Qwen3, Llama 3.1 RoPE scaling, Mistral)
// load in Hone with the same log-probs and save back bit-identically.
// Python: $HONE_ORACLE_PYTHON, else the optional venv build/pyvenv
// (HONE_SETUP_EXTRAS=1 scripts/setup-deps), else /usr/bin/python3; skipped
// where none can import transformers and build PyTorch models.

#include "test/unit/TempDir.h"
#include "ModelTestUtil.h"
#include "runtime/model/HfModel.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace hone {
namespace {

using test::randomBatch;
using test::randomizeParams;

// transformers must be able to build PyTorch models: a transformers newer
// than the installed torch imports but refuses (it then skips, not fails).
/// The first Python that can; empty if none.
const std::string &oraclePython() {
  static const std::string py = [] {
    std::vector<std::string> candidates;
    if (const char *env = std::getenv("HONE_ORACLE_PYTHON"))
      candidates.push_back(env);
    candidates.push_back(HONE_BINARY_DIR "/pyvenv/bin/python");
    candidates.push_back("/usr/bin/python3");
    for (const std::string &c : candidates)
      if (std::system(("'" + c +
                       "' -c 'import sys, transformers, safetensors; "
                       "sys.exit(0 if transformers.utils.is_torch_available() "
                       "else 1)' >/dev/null 2>&1")
                          .c_str()) == 0)
        return c;
    return std::string();
  }();
  return py;
}
bool haveTransformers() { return !oraclePython().empty(); }

void roundTrip(const ModelConfig &cfg, const std::string &tag) {
  if (!haveTransformers())
    GTEST_SKIP() << "no Python here can build transformers models";
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
  std::string cmd = oraclePython() + " " HONE_SOURCE_DIR
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

struct FamilyCase {
  std::string tag;
  std::string configJson; // a config.json for transformers' AutoConfig
  bool sameClass = true;  // Hone saves it as the same config class
};

/// transformers builds the model; Hone loads it, matches its log-probs,
/// saves it, and the tensors come back bit-identical.
void fromTransformers(const FamilyCase &fc) {
  if (!haveTransformers())
    GTEST_SKIP() << "no Python here can build transformers models";
  // A fresh directory per run: tests of two builds may run at once.
  const std::string base = hone::test::makeTempDir("hf-family-" + fc.tag);
  struct Cleanup {
    std::string dir;
    ~Cleanup() { std::filesystem::remove_all(dir); }
  } cleanup{base};
  const std::string dir = base + "/model", resaved = base + "/resaved";
  const std::string tokens = base + "/tokens.txt", out = base + "/lp.txt";
  const std::string cfgFile = base + "/config-arg.json";
  std::ofstream(cfgFile) << fc.configJson;

  // Positions up to 39 so that RoPE scaling's bands all matter.
  test::Batch b = randomBatch(50, {40, 23, 31}, 40, 7);
  {
    std::ofstream os(tokens);
    for (int64_t i = 0; i < b.B; ++i) {
      for (int64_t t = 0; t < b.lengths[size_t(i)]; ++t)
        os << (t ? " " : "") << b.tokens[size_t(i * b.T + t)];
      os << "\n";
    }
  }
  const std::string script =
      " " HONE_SOURCE_DIR "/test/unit/model/hf_family_check.py ";
  std::string cmd = oraclePython() + script + "build \"$(cat " + cfgFile +
                    ")\" " + dir + " " + tokens + " " + out;
  int rc = std::system(cmd.c_str());
  if (WIFEXITED(rc) && WEXITSTATUS(rc) == 3)
    GTEST_SKIP() << "this transformers lacks " << fc.tag;
  ASSERT_EQ(rc, 0) << cmd;

  auto k = makeCpuKernels<float>();
  auto model = loadHfModel(dir, k.get());
  ASSERT_TRUE(model.isOk()) << model.status().toString();
  ASSERT_TRUE((*model)->forward(b.view()).isOk());
  std::vector<float> ours = (*model)->toHost((*model)->logprobs(), b.B * b.T);
  std::ifstream in(out);
  std::string line;
  double worst = 0;
  for (int64_t i = 0; i < b.B; ++i) {
    ASSERT_TRUE(std::getline(in, line));
    std::istringstream ls(line);
    for (int64_t t = 1; t < b.lengths[size_t(i)]; ++t) {
      double theirs;
      ASSERT_TRUE(ls >> theirs) << "row " << i << " t " << t;
      worst = std::max(worst, std::fabs(theirs - ours[size_t(i * b.T + t)]));
    }
  }
  std::printf("[ %s ] max |log p(transformers) - log p(hone)| = %.2e\n",
              fc.tag.c_str(), worst);
  EXPECT_LT(worst, 1e-4);

  ASSERT_TRUE(saveHfModel(**model, resaved).isOk());
  cmd = oraclePython() + script + "same " + dir + " " + resaved +
        (fc.sameClass ? "" : " any");
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

const char *kQwen3 = R"({"model_type": "qwen3", "vocab_size": 50,
  "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
  "num_key_value_heads": 2, "head_dim": 12, "intermediate_size": 48,
  "max_position_embeddings": 64, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
  "tie_word_embeddings": false})";

TEST(HfTransformers, Qwen3FromTransformers) {
  fromTransformers({"qwen3", kQwen3});
}

TEST(HfTransformers, Qwen3TiedFromTransformers) {
  std::string cfg = kQwen3;
  cfg.replace(cfg.find("\"tie_word_embeddings\": false"), 28,
              "\"tie_word_embeddings\": true ");
  fromTransformers({"qwen3-tied", cfg});
}

TEST(HfTransformers, Llama31RopeScalingFromTransformers) {
  fromTransformers({"llama3", R"({"model_type": "llama", "vocab_size": 50,
    "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
    "num_key_value_heads": 1, "intermediate_size": 40,
    "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
    "rope_scaling": {"rope_type": "llama3", "factor": 8.0,
      "low_freq_factor": 1.0, "high_freq_factor": 4.0,
      "original_max_position_embeddings": 64},
    "tie_word_embeddings": true})"});
}

TEST(HfTransformers, MistralFromTransformers) {
  // The 48-token window exceeds every sequence: Hone caps max_seq at 48 and
  // saves a Llama config.
  fromTransformers({"mistral", R"({"model_type": "mistral", "vocab_size": 50,
    "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
    "num_key_value_heads": 2, "intermediate_size": 40,
    "max_position_embeddings": 64, "sliding_window": 48,
    "rope_theta": 10000.0, "tie_word_embeddings": false})",
                    /*sameClass=*/false});
}

TEST(HfTransformers, Qwen3RoundTrip) { roundTrip(test::tinyQwen3(), "qwen3"); }

TEST(HfTransformers, Llama3RoundTrip) { roundTrip(test::tinyLlama3(), "llama3"); }

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
