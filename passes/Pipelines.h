//===- Pipelines.h - named pass pipelines -----------------------*- C++ -*-===//
//
// Every pipeline honec runs is built here and registered, so that
// `hone-opt --pass-pipeline=…` reproduces it exactly (DESIGN.md §3).
//
//===----------------------------------------------------------------------===//
#pragma once

#include <cstdint>

namespace mlir {
class OpPassManager;
} // namespace mlir

namespace mlir::hone {

struct StagePipelineOptions {
  /// Memory budget in bytes; 0 takes the pipeline's config, if any.
  int64_t memoryBudgetBytes = 0;
};

/// Stage IR → checked, simplified stage IR: canonicalize, CSE (removes
/// repeated loads of one model), static model-state memory check. Runs on a
/// builtin.module holding hone.pipeline ops.
void buildStagePipeline(OpPassManager &pm, const StagePipelineOptions &options);

/// Registers the pipelines above (`hone-stage-pipeline`) with the pass
/// registry, for hone-opt and plugins.
void registerPipelines();

} // namespace mlir::hone
