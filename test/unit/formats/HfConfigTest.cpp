#include "runtime/formats/HfConfig.h"

#include "TestUtil.h"

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
  for (const ModelConfig &c : {gpt2, llama, qwen, reward}) {
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
                .find("rope_scaling is not supported"),
            std::string::npos);
  EXPECT_NE(err(llama + R"(, "num_key_value_heads": 3})").find("multiple"),
            std::string::npos);
  EXPECT_NE(err(llama + R"(, "hidden_act": "gelu"})").find("hidden_act"),
            std::string::npos);
  EXPECT_NE(err(llama + R"(, "attention_bias": true})").find("attention_bias"),
            std::string::npos);
  EXPECT_NE(err(llama + R"(, "head_dim": 8})").find("head_dim"),
            std::string::npos);
  EXPECT_FALSE(loadHfConfig("/nonexistent/config.json").isOk());
}

} // namespace
