//===- MethodFamilies.h - which algorithms belong together ------*- C++ -*-===//
//
// The one definition of the RL algorithm families, by the algorithms' names
// (the spelling pipeline.proto's Rl.Algorithm and the dialect's RlAlgorithm
// share; test/unit/dialect/EnumsTest.cpp checks they do). Plain C++ with no
// MLIR, so the spec checker (frontend/, linked without MLIR by its fuzzer),
// the frontend's defaults table and the dialect all use it.
//
//===----------------------------------------------------------------------===//
#pragma once

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

} // namespace hone::methods
