//===- MethodFamilies.h - which algorithms belong together ------*- C++ -*-===//
//
// The one definition of the RL algorithm families, by the algorithms' names
// (the spelling pipeline.proto's Rl.Algorithm and the dialect's RlAlgorithm
// share; test/unit/dialect/ContractTest.cpp checks they do). Plain C++ with no
// MLIR, so the spec checker (frontend/, linked without MLIR by its fuzzer),
// the frontend's defaults table and the dialect all use it.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hone::methods {

/// Advantages are normalised within groups of samples of one prompt, so a
/// stage needs at least 2 samples per prompt and a batch that is a multiple
/// of the group size.
inline bool isGroupAlgorithm(std::string_view a) {
  return a == "grpo" || a == "dr_grpo" || a == "dapo" || a == "rloo";
}

/// The GRPO family: KL in the loss with the k3 estimator and 8 samples per
/// prompt by default (frontend/Defaults.cpp).
inline bool isGrpoFamily(std::string_view a) {
  return a == "grpo" || a == "dr_grpo" || a == "dapo";
}

/// What breaks the group-size rules of an RL stage, with a hint.
struct GroupProblem {
  std::string message, hint;
  bool aboutBatch; // the batch size is wrong (else the group size)
};

/// The one statement of the group-size rules of an RL stage: `batch`
/// completions per step in groups of `group` samples per prompt. The spec
/// checker reports a problem at the spec's field (`groupName` is
/// "samples_per_prompt" there), the dialect's verifier at the op
/// ("group_size").
inline std::optional<GroupProblem> groupSizeProblem(std::string_view algo,
                                                    int64_t batch,
                                                    int64_t group,
                                                    std::string_view groupName) {
  std::string name(groupName), a(algo);
  if (group < 1)
    return GroupProblem{name + " must be at least 1, got " +
                            std::to_string(group),
                        "use 1 sample per prompt for ppo and reinforce_pp",
                        false};
  if (isGroupAlgorithm(algo) && group < 2)
    return GroupProblem{a + " compares the samples of one prompt and needs " +
                            name + " >= 2, got " + std::to_string(group),
                        "GRPO commonly uses 4 to 16 samples per prompt", false};
  if (algo == "remax" && group != 1)
    return GroupProblem{"remax samples one completion per prompt (plus a "
                        "greedy one), got " +
                            name + " " + std::to_string(group),
                        "set " + name + ": 1", false};
  if (batch > 0 && batch % group != 0)
    return GroupProblem{
        "batch_size (" + std::to_string(batch) + ") must be a multiple of " +
            name + " (" + std::to_string(group) + ")",
        "batch_size counts completions: prompts per step x " + name +
            ", e.g. " +
            std::to_string(group * (batch / group > 0 ? batch / group : 1)),
        true};
  return std::nullopt;
}

} // namespace hone::methods
