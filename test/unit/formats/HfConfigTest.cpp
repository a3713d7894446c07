#include "runtime/formats/HfConfig.h"

#include "test/unit/TestUtil.h"

#include <gtest/gtest.h>

using namespace hone;

namespace {

Expected<ModelConfig> fromText(const std::string &text) {
  Expected<json::Value> v = json::parse(text);
  EXPECT_TRUE(v.isOk()) << v.status().message();
  return modelConfigFromHfJson(*v, "config.json", text);
}

TEST(HfConfig, Gpt2) {
  // The shape of openai-community/gpt2's config.json.
  Expected<ModelConfig> c = fromText(R"({
    "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"],
    "attn_pdrop": 0.1, "bos_token_id": 50256, "embd_pdrop": 0.1,
    "eos_token_id": 50256, "initializer_range": 0.02,
    "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_ctx": 1024,
    "n_embd": 768, "n_head": 12, "n_layer": 12, "n_positions": 1024,
    "resid_pdrop": 0.1, "vocab_size": 50257})");
  ASSERT_TRUE(c.isOk()) << c.status().message();
  EXPECT_EQ(c->family, ModelFamily::GPT2);
  EXPECT_EQ(c->vocabSize, 50257);
  EXPECT_EQ(c->dModel, 768);
  EXPECT_EQ(c->nLayers, 12);
  EXPECT_EQ(c->nHeads, 12);
  EXPECT_EQ(c->nKvHeads, 12);
  EXPECT_EQ(c->dFf, 3072);
  EXPECT_EQ(c->maxSeqLen, 1024);
  EXPECT_DOUBLE_EQ(c->normEps, 1e-5);
  EXPECT_TRUE(c->tieEmbeddings);
  EXPECT_EQ(c->head, HeadKind::LM);
}

TEST(HfConfig, Llama3) {
  Expected<ModelConfig> c = fromText(R"({
    "architectures": ["LlamaForCausalLM"], "attention_bias": false,
    "hidden_act": "silu", "hidden_size": 2048, "intermediate_size": 8192,
    "max_position_embeddings": 8192, "model_type": "llama",
    "num_attention_heads": 32, "num_hidden_layers": 16,
    "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_theta": 500000.0,
    "tie_word_embeddings": true, "vocab_size": 128256, "rope_scaling": null})");
  ASSERT_TRUE(c.isOk()) << c.status().message();
  EXPECT_EQ(c->family, ModelFamily::Llama);
  EXPECT_EQ(c->nKvHeads, 8);
  EXPECT_EQ(c->dFf, 8192);
  EXPECT_DOUBLE_EQ(c->ropeTheta, 500000.0);
  EXPECT_TRUE(c->tieEmbeddings);
  EXPECT_FALSE(c->qkvBias);
  EXPECT_EQ(c->headDim(), 64);
}

TEST(HfConfig, Qwen2) {
  Expected<ModelConfig> c = fromText(R"({
    "architectures": ["Qwen2ForCausalLM"], "hidden_act": "silu",
    "hidden_size": 896, "intermediate_size": 4864,
    "max_position_embeddings": 32768, "model_type": "qwen2",
    "num_attention_heads": 14, "num_hidden_layers": 24,
    "num_key_value_heads": 2, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
    "sliding_window": 32768, "use_sliding_window": false,
    "tie_word_embeddings": true, "vocab_size": 151936})");
  ASSERT_TRUE(c.isOk()) << c.status().message();
  EXPECT_TRUE(c->qkvBias);
  EXPECT_EQ(c->nKvHeads, 2);
  EXPECT_DOUBLE_EQ(c->normEps, 1e-6);
}

TEST(HfConfig, Qwen3) {
  // The shape of Qwen/Qwen3-0.6B's config.json: head_dim 128 != 1024 / 16.
  Expected<ModelConfig> c = fromText(R"({
    "architectures": ["Qwen3ForCausalLM"], "attention_bias": false,
    "attention_dropout": 0.0, "bos_token_id": 151643, "eos_token_id": 151645,
    "head_dim": 128, "hidden_act": "silu", "hidden_size": 1024,
    "initializer_range": 0.02, "intermediate_size": 3072,
    "max_position_embeddings": 40960, "max_window_layers": 28,
    "model_type": "qwen3", "num_attention_heads": 16, "num_hidden_layers": 28,
    "num_key_value_heads": 8, "rms_norm_eps": 1e-06, "rope_scaling": null,
    "rope_theta": 1000000, "sliding_window": null, "tie_word_embeddings": true,
    "torch_dtype": "bfloat16", "use_cache": true, "use_sliding_window": false,
    "vocab_size": 151936})");
  ASSERT_TRUE(c.isOk()) << c.status().message();
  EXPECT_EQ(c->family, ModelFamily::Llama);
  EXPECT_TRUE(c->qkNorm);
  EXPECT_FALSE(c->qkvBias);
  EXPECT_EQ(c->headDim(), 128);
  EXPECT_EQ(c->nKvHeads, 8);
  EXPECT_DOUBLE_EQ(c->ropeTheta, 1e6);
  EXPECT_EQ(c->ropeScaling, ModelConfig::RopeScaling::None);
  // Qwen3Config's head_dim default is 128, whatever hidden_size / heads is.
  Expected<ModelConfig> d = fromText(R"({"model_type": "qwen3",
    "vocab_size": 10, "hidden_size": 64, "num_hidden_layers": 1,
    "num_attention_heads": 2, "intermediate_size": 16,
    "max_position_embeddings": 32})");
  ASSERT_TRUE(d.isOk()) << d.status().message();
  EXPECT_EQ(d->headDim(), 128);
}

TEST(HfConfig, Llama32RopeScaling) {
  // The shape of meta-llama/Llama-3.2-1B's config.json.
  Expected<ModelConfig> c = fromText(R"({
    "architectures": ["LlamaForCausalLM"], "attention_bias": false,
    "head_dim": 64, "hidden_act": "silu", "hidden_size": 2048,
    "intermediate_size": 8192, "max_position_embeddings": 131072,
    "mlp_bias": false, "model_type": "llama", "num_attention_heads": 32,
    "num_hidden_layers": 16, "num_key_value_heads": 8, "rms_norm_eps": 1e-05,
    "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0,
      "low_freq_factor": 1.0, "original_max_position_embeddings": 8192,
      "rope_type": "llama3"},
    "rope_theta": 500000.0, "tie_word_embeddings": true,
    "vocab_size": 128256})");
  ASSERT_TRUE(c.isOk()) << c.status().message();
  EXPECT_EQ(c->ropeScaling, ModelConfig::RopeScaling::Llama3);
  EXPECT_DOUBLE_EQ(c->ropeFactor, 32.0);
  EXPECT_DOUBLE_EQ(c->ropeLowFreqFactor, 1.0);
  EXPECT_DOUBLE_EQ(c->ropeHighFreqFactor, 4.0);
  EXPECT_EQ(c->ropeOriginalMaxPos, 8192);
  EXPECT_EQ(c->headDimension, 0); // 64 == 2048 / 32: the default
  EXPECT_FALSE(c->qkNorm);
  // transformers 5 writes theta and scaling as rope_parameters.
  Expected<ModelConfig> d = fromText(R"({"model_type": "llama",
    "vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1,
    "num_attention_heads": 2, "intermediate_size": 16,
    "max_position_embeddings": 32, "rope_parameters": {"rope_theta": 5000.0,
    "rope_type": "linear", "factor": 2.0}})");
  ASSERT_TRUE(d.isOk()) << d.status().message();
  EXPECT_DOUBLE_EQ(d->ropeTheta, 5000.0);
  EXPECT_EQ(d->ropeScaling, ModelConfig::RopeScaling::Linear);
  EXPECT_DOUBLE_EQ(d->ropeFactor, 2.0);
}

TEST(HfConfig, MistralMapsOntoLlama) {
  // The shape of mistralai/Mistral-7B-v0.1's config.json: the 4096-token
  // sliding window caps the sequence length (full attention is exact there).
  Expected<ModelConfig> c = fromText(R"({
    "architectures": ["MistralForCausalLM"], "hidden_act": "silu",
    "hidden_size": 4096, "intermediate_size": 14336,
    "max_position_embeddings": 32768, "model_type": "mistral",
    "num_attention_heads": 32, "num_hidden_layers": 32,
    "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_theta": 10000.0,
    "sliding_window": 4096, "tie_word_embeddings": false,
    "vocab_size": 32000})");
  ASSERT_TRUE(c.isOk()) << c.status().message();
  EXPECT_EQ(c->family, ModelFamily::Llama);
  EXPECT_EQ(c->maxSeqLen, 4096);
  EXPECT_FALSE(c->qkvBias);
  EXPECT_FALSE(c->qkNorm);
  // Mistral v0.2+ has no window.
  Expected<ModelConfig> d = fromText(R"({"model_type": "mistral",
    "vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1,
    "num_attention_heads": 2, "intermediate_size": 16,
    "max_position_embeddings": 32, "sliding_window": null})");
  ASSERT_TRUE(d.isOk()) << d.status().message();
  EXPECT_EQ(d->maxSeqLen, 32);
}

TEST(HfConfig, RoundTripEveryFamily) {
  std::string dir = hone::test::makeTempDir();
  ModelConfig gpt2{
      ModelFamily::GPT2, 100,  64,    2,           4, 4, 256, 128, 1e-5,
      10000.0,           true, false, HeadKind::LM};
  ModelConfig llama{
      ModelFamily::Llama, 64,    48,    3,           6, 2, 96, 256, 1e-6,
      500000.0,           false, false, HeadKind::LM};
  ModelConfig qwen = llama;
  qwen.qkvBias = true;
  qwen.tieEmbeddings = true;
  ModelConfig reward = llama;
  reward.head = HeadKind::Scalar;
  ModelConfig qwen3 = llama;
  qwen3.qkNorm = true;
  qwen3.headDimension = 10;
  ModelConfig qwen3Same = qwen3; // head_dim == d_model / heads
  qwen3Same.headDimension = 0;
  ModelConfig llama31 = llama;
  llama31.ropeScaling = ModelConfig::RopeScaling::Llama3;
  llama31.ropeFactor = 8;
  llama31.ropeLowFreqFactor = 2;
  llama31.ropeHighFreqFactor = 5;
  llama31.ropeOriginalMaxPos = 128;
  ModelConfig linear = llama;
  linear.ropeScaling = ModelConfig::RopeScaling::Linear;
  linear.ropeFactor = 3;
  for (const ModelConfig &c :
       {gpt2, llama, qwen, reward, qwen3, qwen3Same, llama31, linear}) {
    std::string path = dir + "/config.json";
    ASSERT_TRUE(saveHfConfig(path, c).isOk());
    Expected<ModelConfig> back = loadHfConfig(dir); // directory form
    ASSERT_TRUE(back.isOk()) << back.status().message();
    EXPECT_EQ(back->family, c.family);
    EXPECT_EQ(back->vocabSize, c.vocabSize);
    EXPECT_EQ(back->dModel, c.dModel);
    EXPECT_EQ(back->nLayers, c.nLayers);
    EXPECT_EQ(back->nHeads, c.nHeads);
    EXPECT_EQ(back->nKvHeads, c.nKvHeads);
    EXPECT_EQ(back->dFf, c.dFf);
    EXPECT_EQ(back->maxSeqLen, c.maxSeqLen);
    EXPECT_EQ(back->normEps, c.normEps);
    if (c.family == ModelFamily::Llama) {
      EXPECT_EQ(back->ropeTheta, c.ropeTheta);
    }
    EXPECT_EQ(back->tieEmbeddings, c.tieEmbeddings);
    EXPECT_EQ(back->qkvBias, c.qkvBias);
    EXPECT_EQ(back->qkNorm, c.qkNorm);
    EXPECT_EQ(back->headDim(), c.headDim());
    EXPECT_EQ(back->headDimension, c.headDimension);
    EXPECT_EQ(back->ropeScaling, c.ropeScaling);
    if (c.ropeScaling != ModelConfig::RopeScaling::None) {
      EXPECT_EQ(back->ropeFactor, c.ropeFactor);
    }
    if (c.ropeScaling == ModelConfig::RopeScaling::Llama3) {
      EXPECT_EQ(back->ropeLowFreqFactor, c.ropeLowFreqFactor);
      EXPECT_EQ(back->ropeHighFreqFactor, c.ropeHighFreqFactor);
      EXPECT_EQ(back->ropeOriginalMaxPos, c.ropeOriginalMaxPos);
    }
    EXPECT_EQ(back->head, c.head);
  }
}

TEST(HfConfig, ErrorsPointAtTheField) {
  auto err = [](const std::string &text) {
    Expected<ModelConfig> c = fromText(text);
    EXPECT_FALSE(c.isOk()) << text;
    return c ? std::string() : c.status().message();
  };
  EXPECT_EQ(err("{\"model_type\": \"bert\", \"vocab_size\": 3}"),
            "config.json:1:16: error: model_type 'bert' is not supported");
  EXPECT_NE(
      err(R"({"model_type": "gpt2", "vocab_size": 10})").find("lacks 'n_embd'"),
      std::string::npos);
  EXPECT_EQ(err("{\"model_type\": \"gpt2\",\n \"vocab_size\": -1}"),
            "config.json:2:16: error: 'vocab_size' must be a positive integer");
  std::string llama = R"({"model_type": "llama", "vocab_size": 10,
    "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
    "intermediate_size": 16, "max_position_embeddings": 32)";
  EXPECT_TRUE(fromText(llama + "}").isOk());
  EXPECT_NE(err(llama + R"(, "rope_scaling": {"type": "llama3"}})")
                .find("rope_scaling 'llama3' needs 'factor'"),
            std::string::npos);
  // Refused families and features name what is missing.
  EXPECT_EQ(err(llama + ",\n" + R"("rope_scaling": {"type": "yarn", "factor": 4}})"),
            "config.json:4:17: error: rope_scaling type 'yarn' is not "
            "supported");
  EXPECT_NE(err(llama + R"(, "rope_scaling": {"rope_type": "llama3",
      "factor": 8, "low_freq_factor": 4, "high_freq_factor": 1,
      "original_max_position_embeddings": 64}})")
                .find("high_freq_factor > low_freq_factor"),
            std::string::npos);
  std::string qwen3 = R"({"model_type": "qwen3", "vocab_size": 10,
    "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
    "intermediate_size": 16, "max_position_embeddings": 32)";
  EXPECT_TRUE(fromText(qwen3 + "}").isOk());
  EXPECT_NE(err(qwen3 + R"(, "attention_bias": true})")
                .find("qwen3 attention_bias/mlp_bias is not supported"),
            std::string::npos);
  EXPECT_NE(err(qwen3 + R"(, "use_sliding_window": true})")
                .find("sliding-window attention is not supported"),
            std::string::npos);
  EXPECT_NE(err(qwen3 + R"(, "head_dim": 7})").find("head dimension"),
            std::string::npos);
  Expected<ModelConfig> gemma =
      fromText(R"({"model_type": "gemma2", "vocab_size": 3})");
  ASSERT_FALSE(gemma.isOk());
  EXPECT_EQ(gemma.status().hint(),
            "supported: gpt2, llama, mistral, qwen2, qwen3");
  EXPECT_NE(err(llama + R"(, "num_key_value_heads": 3})").find("multiple"),
            std::string::npos);
  EXPECT_NE(err(llama + R"(, "hidden_act": "gelu"})").find("hidden_act"),
            std::string::npos);
  EXPECT_NE(err(llama + R"(, "attention_bias": true})").find("attention_bias"),
            std::string::npos);
  // head_dim other than hidden_size / heads: the q/o projections widen.
  Expected<ModelConfig> wide = fromText(llama + R"(, "head_dim": 8})");
  ASSERT_TRUE(wide.isOk()) << wide.status().message();
  EXPECT_EQ(wide->headDim(), 8);
  EXPECT_FALSE(loadHfConfig("/nonexistent/config.json").isOk());
}

} // namespace
