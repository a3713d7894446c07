//===- Pipelines.h - named pass pipelines -----------------------*- C++ -*-===//
//
// Every pipeline honec runs is built here and registered, so that
// `hone-opt --pass-pipeline=…` reproduces it exactly (docs/design.md, "IR
// levels").
//
//===----------------------------------------------------------------------===//
#pragma once

#include <cstdint>
#include <string>

namespace mlir {
class OpPassManager;
} // namespace mlir

namespace mlir::hone {

struct StagePipelineOptions {
  /// Memory budget in bytes; 0 takes the pipeline's config, if any.
  int64_t memoryBudgetBytes = 0;
  /// As StepPipelineOptions::precomputeReference (hone-estimate-memory
  /// counts no reference that the step pipeline precomputes).
  bool precomputeReference = true;
};

/// Stage IR → checked, simplified stage IR: canonicalize, CSE (removes
/// repeated loads of one model), static model-state memory check. Runs on a
/// builtin.module holding hone.pipeline ops.
void buildStagePipeline(OpPassManager &pm, const StagePipelineOptions &options);

struct StepPipelineOptions {
  /// Objectives in float64 (numerical tests); float32 otherwise.
  bool useF64 = false;
  /// hone-fuse-forwards (off: the unfused program, for benchmarks).
  bool fuseForwards = true;
  /// hone-precompute-reference (off: the reference runs in every step).
  bool precomputeReference = true;
  /// hone-pack-sequences (off: padded forwards, for benchmarks).
  bool packSequences = true;
  /// hone-stream-scores (off: every score waits for its whole batch).
  bool streamScores = true;
  /// Rows per forward of a streamed reference read (hone-stream-scores'
  /// logprob-rows; 0: reference reads are left whole).
  int64_t streamLogprobRows = 0;
};

/// Stage IR → step IR with differentiated train steps: hone-expand-stages
/// on every pipeline, hone-precompute-reference, CSE, hone-differentiate,
/// hone-fuse-forwards, hone-pack-sequences, hone-stream-scores
/// (`hone-step-pipeline`).
void buildStepPipeline(OpPassManager &pm, const StepPipelineOptions &options);

/// Step IR → scheduled IR (`hone-scheduled-pipeline`): snapshots of models
/// read after in-place training, stage brackets for resume and checkpoints,
/// static arena offsets for every step tensor (hone-plan-arena).
/// releaseAtStepEnd: hone-plan-memory's release-at-step-end option (off:
/// work buffers kept across a stage's steps unless the budget needs it;
/// honec --no-release-at-step-end, for benchmarks). splitTrainSteps: its
/// split-train-steps option (off: a train step whose objective separates
/// by model still runs every forward, then every backward; honec
/// --no-split-train-steps, for benchmarks). offload, generationBatch,
/// microBatch: its options of those names (decisions 5, 4 and 3 under a
/// budget; off: honec --no-offload, --no-generation-batch,
/// --no-micro-batch).
void buildScheduledPipeline(OpPassManager &pm, bool releaseAtStepEnd = true,
                            bool splitTrainSteps = true, bool offload = true,
                            bool generationBatch = true,
                            bool microBatch = true);

/// Scheduled IR → LLVM dialect (`hone-to-llvm`): loss kernels and their
/// packed entry points (hone-build-loss-kernels), main() calling the
/// runtime's C ABI (convert-hone-to-runtime), then scf/cf/arith/func to LLVM.
/// The result translates to LLVM IR and links with hone_runtime.
void buildToLLVMPipeline(OpPassManager &pm);

/// Differentiated step IR → one C-callable LLVM function per train step
/// (`hone-loss-to-llvm`): outline the kernels (dropping everything else),
/// loss algebra → linalg → bufferized loops → LLVM dialect, bare-pointer
/// memref arguments, results as out-parameters (ABI in docs/methods.md).
void buildLossToLLVMPipeline(OpPassManager &pm);

/// The same kernels as GPU code (`hone-loss-to-nvvm`): linalg → parallel
/// loops → gpu.launch → NVVM; `gpu-module-to-binary` then gives PTX.
void buildLossToNVVMPipeline(OpPassManager &pm, const std::string &chip);

/// Registers the pipelines above (`hone-stage-pipeline`) with the pass
/// registry, for hone-opt and plugins.
void registerPipelines();

} // namespace mlir::hone
