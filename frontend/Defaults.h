//===- Defaults.h - every default of a spec setting, in one place -*- C++
//-*-===//
//
// The frontend is the only layer that decides a default (docs/spec.md): the
// checker (frontend/check/) calls these while it resolves a spec, and
// the resolved spec is then complete. The stage IR carries it as typed
// attributes with every parameter present (dialect/HoneSettings.td); passes
// and the runtime read those and have no defaults of their own.
//
// Two kinds of default live here: the ones pipeline.proto declares
// (`[default = ...]`, applied by fillDeclaredDefaults), and the ones that
// depend on the method or on other settings (the functions below; the proto
// comments say "Default: ..." for each, and docs/spec.md is generated from
// them).
//
//===----------------------------------------------------------------------===//
#pragma once

#include "frontend/pipeline.pb.h"

#include <cstdint>
#include <string>

namespace hone::spec {

/// Sets every unset singular field of `m` that declares a default in
/// pipeline.proto (oneof members and sub-messages excepted).
void fillDeclaredDefaults(google::protobuf::Message &m);

/// The pipeline's name when the spec gives none: the spec file's stem, or
/// its directory's name for a file called spec.textproto.
std::string defaultPipelineName(const std::string &specPath,
                                const std::string &specDir);

/// The run directory when the spec gives none: runs/NAME.
std::string defaultOutputDir(const std::string &pipelineName);

/// The seed of the i-th declared model (0-based) when it gives none.
int64_t defaultModelSeed(int64_t pipelineSeed, int index);

/// A dataset's shuffle seed when it gives none: the pipeline's seed.
int64_t defaultShuffleSeed(int64_t pipelineSeed);

/// The learning rate when neither the stage nor the pipeline sets one:
/// TRL's per-trainer defaults (2e-5 SFT, 1e-5 reward model, 1e-6 preference
/// and RL).
double defaultLearningRate(const Stage &s);

/// Preference `beta`: 2.0 for SimPO, 0.1 otherwise (TRL).
double defaultPreferenceBeta(Preference::Loss loss);

/// The RL settings that depend on the algorithm (beta, KL estimator and
/// placement, epsilon_high, ppo_epochs, aggregation, scale_rewards,
/// dynamic_sampling) and `staleness` (from the hardware's
/// rollout_staleness), for the fields `rl` leaves unset; then the declared
/// defaults.
void resolveRlDefaults(Rl &rl, const Hardware &hw);

/// A stage's LoRA settings: target_modules q_proj and v_proj when none are
/// given (PEFT's default for Llama/Qwen2), then the declared defaults.
void resolveLoraDefaults(Lora &lora);

/// Samples per prompt (the group size G): 8 for the GRPO family (TRL
/// `num_generations`), 2 for RLOO, 1 otherwise.
int64_t defaultSamplesPerPrompt(Rl::Algorithm algo);

/// CHORD's mu when unset: warmup_cosine from 0.9 to 0.05 over the stage
/// with a 10 % warm-up (the paper's peak and valley).
Schedule defaultChordMu(int64_t steps);

/// UFT's hint fraction when unset: cosine from 1 to 0 over the stage.
Schedule defaultUftHint();

/// An evaluation's sampling under the pipeline's: greedy, one sample,
/// unless set.
Generation evaluationGeneration(const Generation &pipeline,
                                const Generation &evaluation);

/// A sequence length from the data (docs/compiler.md "Shapes from the
/// data"): the longest row rounded up to a multiple of 8, at most `cap`
/// (the model's max_seq_len, or max_prompt_length's default); `cap` when the
/// rows were not measured (longest < 1). No row fits `cap` that does not fit
/// the result, so the padded program computes the same per-token values.
int64_t lengthFromData(int64_t longest, int64_t cap);

} // namespace hone::spec
