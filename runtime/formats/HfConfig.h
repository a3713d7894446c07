// Hugging Face config.json <-> hone::ModelConfig for GPT-2, Llama (Mistral),
// Qwen2 and Qwen3.
#pragma once

#include "runtime/base/Json.h"
#include "runtime/base/ModelConfig.h"
#include "runtime/base/Status.h"

#include <string>
#include <string_view>

namespace hone {

/// Reads a config.json value. `text` (optional) is the source text, used to
/// turn value offsets into line:col in errors. Supported model_type values:
/// "gpt2", "llama", "qwen2", "qwen3" (q/k norm, head_dim, default 128) and
/// "mistral" (read as Llama; a sliding_window caps maxSeqLen, where full
/// attention is exact), also recognised from "architectures". rope_scaling
/// (or transformers 5's rope_parameters) of type default, linear or llama3.
/// Features the runtime does not implement (other RoPE scalings,
/// attention_bias on Llama/Qwen3, Qwen sliding windows, non-default
/// activations) are errors rather than silently wrong models.
Expected<ModelConfig> modelConfigFromHfJson(const json::Value &config,
                                            std::string_view sourceName,
                                            std::string_view text = {});
/// Reads `path` (a config.json, or a directory containing one).
Expected<ModelConfig> loadHfConfig(const std::string &path);

/// The config.json for `config`: model_type "gpt2", "qwen3" when qkNorm is
/// set, "qwen2" when qkvBias is set, else "llama" (Mistral models too); a
/// Scalar head is written as
/// *ForSequenceClassification with num_labels 1.
json::Value modelConfigToHfJson(const ModelConfig &config);
/// Writes config.json atomically (pretty-printed).
Status saveHfConfig(const std::string &path, const ModelConfig &config);

} // namespace hone
