// The tensor names and shapes of Hugging Face checkpoints for the model
// families of hone::ModelConfig, so that a checkpoint written by Hone loads
// in `transformers` (GPT2LMHeadModel, LlamaForCausalLM, Qwen2ForCausalLM,
// Qwen3ForCausalLM (q_norm/k_norm) and
// their *ForSequenceClassification variants) and back.
//
// GPT-2 keeps its Conv1D layout: c_attn/c_proj/c_fc weights are stored
// [in, out]. Llama/Qwen2 linear weights are [out, in].
#pragma once

#include "runtime/base/ModelConfig.h"
#include "runtime/base/Status.h"
#include "runtime/formats/Safetensors.h"

#include <string>
#include <string_view>
#include <vector>

namespace hone {

struct HfTensorSpec {
  std::string name;
  std::vector<int64_t> shape;
  /// May be absent (lm_head.weight of a tied model).
  bool optional = false;
};

/// Every tensor of the model, in the order transformers saves them.
std::vector<HfTensorSpec> hfTensorLayout(const ModelConfig &config);

/// The name a checkpoint tensor has in hfTensorLayout: GPT-2 checkpoints
/// saved from GPT2Model lack the "transformer." prefix.
std::string canonicalHfTensorName(const ModelConfig &config,
                                  std::string_view name);

/// Checks that a checkpoint holds every tensor of the layout with the right
/// shape and nothing unexpected (GPT-2's attn.bias / attn.masked_bias
/// buffers are tolerated). Errors name the tensor and its file.
Status checkCheckpointLayout(const Checkpoint &checkpoint,
                             const ModelConfig &config);

} // namespace hone
