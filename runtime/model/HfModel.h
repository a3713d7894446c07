// Models as Hugging Face model directories: config.json plus
// model.safetensors (or a sharded index), with the tensor names and layouts
// transformers uses, so a model Hone saves loads in transformers and back.
#pragma once

#include "runtime/model/Transformer.h"

#include <memory>
#include <string>

namespace hone {

/// Writes `model` (fp32 weights) into directory `dir`, created if needed:
/// config.json and model.safetensors, each file written atomically. A LoRA
/// model writes its base weights, or with mergeLora W + (alpha/rank) B A.
Status saveHfModel(const Transformer<float> &model, const std::string &dir,
                   bool mergeLora = false);

/// Writes the adapters of a LoRA model in PEFT's format into `dir`:
/// adapter_model.safetensors (fp32, PEFT's keys: "base_model.model." + the
/// adapter's name, e.g. base_model.model.model.layers.0.self_attn.q_proj.
/// lora_A.weight) and adapter_config.json (peft_type LORA, r, lora_alpha,
/// target_modules, task_type CAUSAL_LM, base_model_name_or_path = baseModel).
Status saveLoraAdapter(const Transformer<float> &model, const std::string &dir,
                       const std::string &baseModel = "");
/// The two files of saveLoraAdapter, as (name, bytes), for writers that
/// place them themselves (checkpoints).
Expected<std::vector<std::pair<std::string, std::string>>>
loraAdapterFiles(const Transformer<float> &model,
                 const std::string &baseModel = "");

/// Reads a PEFT LoRA adapter directory (as saveLoraAdapter or
/// PeftModel.save_pretrained writes it) into `model`, which must have no
/// adapters yet: adds them with the directory's r/alpha/targets and loads
/// every adapter tensor. Refuses what Hone does not compute (DoRA, rsLoRA,
/// biases, per-module rank/alpha patterns, a subset of layers, dropout is
/// recorded but training with it is not supported).
Status loadLoraAdapter(Transformer<float> &model, const std::string &dir);

/// Reads config.json and the weights of `dir` (single file or sharded
/// index; GPT-2 names with or without the "transformer." prefix) into a new
/// model on `kernels`' device. The checkpoint must hold every tensor of the
/// architecture with the right shape. frozenBf16: the model is created with
/// Transformer::createFrozenBf16 and each tensor goes from the mapped file
/// into bf16 storage (bf16 tensors copied as they are, fp16/fp32 rounded),
/// never through an fp32 copy of the model.
Expected<std::unique_ptr<Transformer<float>>>
loadHfModel(const std::string &dir, Kernels<float> *kernels,
            bool frozenBf16 = false,
            std::shared_ptr<WorkPlacer> placer = nullptr);

} // namespace hone
