// Hugging Face config.json <-> hone::ModelConfig for GPT-2, Llama and Qwen2.
#pragma once

#include "runtime/model/ModelConfig.h"
#include "runtime/support/Json.h"
#include "runtime/support/Status.h"

#include <string>
#include <string_view>

namespace hone {

/// Reads a config.json value. `text` (optional) is the source text, used to
/// turn value offsets into line:col in errors. Supported model_type values:
/// "gpt2", "llama", "qwen2" (also recognised from "architectures").
/// Features the runtime does not implement (rope_scaling, attention_bias on
/// Llama, a head_dim other than hidden/heads, non-default activations) are
/// errors rather than silently wrong models.
Expected<ModelConfig> modelConfigFromHfJson(const json::Value &config,
                                            std::string_view sourceName,
                                            std::string_view text = {});
/// Reads `path` (a config.json, or a directory containing one).
Expected<ModelConfig> loadHfConfig(const std::string &path);

/// The config.json for `config`: model_type "gpt2", or "qwen2" when
/// qkvBias is set, else "llama"; a Scalar head is written as
/// *ForSequenceClassification with num_labels 1.
json::Value modelConfigToHfJson(const ModelConfig &config);
/// Writes config.json atomically (pretty-printed).
Status saveHfConfig(const std::string &path, const ModelConfig &config);

} // namespace hone
