// Models as Hugging Face model directories: config.json plus
// model.safetensors (or a sharded index), with the tensor names and layouts
// transformers uses, so a model Hone saves loads in transformers and back.
#pragma once

#include "runtime/model/Transformer.h"

#include <memory>
#include <string>

namespace hone {

/// Writes `model` (fp32 weights) into directory `dir`, created if needed:
/// config.json and model.safetensors, each file written atomically.
Status saveHfModel(const Transformer<float> &model, const std::string &dir);

/// Reads config.json and the weights of `dir` (single file or sharded
/// index; GPT-2 names with or without the "transformer." prefix) into a new
/// model on `kernels`' device. The checkpoint must hold every tensor of the
/// architecture with the right shape.
Expected<std::unique_ptr<Transformer<float>>>
loadHfModel(const std::string &dir, Kernels<float> *kernels);

} // namespace hone
