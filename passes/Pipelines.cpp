//===- Pipelines.cpp - named pass pipelines -------------------------------===//

#include "passes/Pipelines.h"
#include "passes/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "llvm/Support/raw_ostream.h"

#include <mutex>

using namespace mlir;

namespace {
/// The upstream passes the loss pipelines name, registered once so that
/// the textual pipelines below parse in any tool.
void registerUpstreamPasses() {
  static std::once_flag once;
  std::call_once(once, [] {
    registerTransformsPasses();
    registerConversionPasses();
    registerLinalgPasses();
    bufferization::registerBufferizationPasses();
    bufferization::registerBufferizationPipelines();
    memref::registerMemRefPasses();
    registerGPUPasses();
    mlir::hone::registerHonePasses();
  });
}

void addTextual(OpPassManager &pm, StringRef pipeline) {
  registerUpstreamPasses();
  if (failed(parsePassPipeline(pipeline, pm, llvm::errs())))
    llvm::report_fatal_error("hone: malformed built-in pipeline");
}

/// Loss algebra → bufferized linalg, shared by the CPU and GPU pipelines.
constexpr const char *kLossToBuffers =
    "func.func(convert-hone-loss-to-linalg,linalg-fuse-elementwise-ops),"
    "empty-tensor-to-alloc-tensor,one-shot-bufferize{bufferize-function-boundaries "
    "function-boundary-type-conversion=identity-layout-map},"
    "buffer-results-to-out-params{hoist-static-allocs modify-public-functions},"
    "buffer-deallocation-pipeline,convert-bufferization-to-memref";
} // namespace

void mlir::hone::buildStepPipeline(OpPassManager &pm,
                                   const StepPipelineOptions &options) {
  ExpandStagesOptions expand;
  expand.useF64 = options.useF64;
  pm.addNestedPass<PipelineOp>(createExpandStages(expand));
  // Before differentiation: it rewrites the objectives it applies to.
  PrecomputeReferenceOptions precompute;
  precompute.enabled = options.precomputeReference;
  pm.addNestedPass<PipelineOp>(createPrecomputeReference(precompute));
  pm.addPass(createCSEPass());
  pm.addPass(createDifferentiate());
  // Packing first: hone-fuse-forwards decides on the cost the reads will
  // have, packed (the step's `packed`) or padded.
  if (options.packSequences)
    pm.addNestedPass<PipelineOp>(createPackSequences());
  if (options.fuseForwards)
    pm.addNestedPass<PipelineOp>(createFuseForwards());
  // Without streaming the pass still fixes reference reads' rows per
  // forward, so both programs compute the same forwards.
  StreamScoresOptions stream;
  stream.stream = options.streamScores;
  stream.logprobRows = options.streamLogprobRows;
  pm.addNestedPass<PipelineOp>(createStreamScores(stream));
}

void mlir::hone::buildScheduledPipeline(OpPassManager &pm, bool releaseAtStepEnd,
                                        bool splitTrainSteps, bool offload,
                                        bool generationBatch, bool microBatch) {
  pm.addNestedPass<PipelineOp>(createScheduleStages());
  pm.addNestedPass<PipelineOp>(createPipelineRollouts());
  pm.addNestedPass<PipelineOp>(createPlanArena());
  pm.addNestedPass<PipelineOp>(createAssignLanes());
  PlanMemoryOptions memory;
  memory.releaseAtStepEnd = releaseAtStepEnd;
  memory.splitTrainSteps = splitTrainSteps;
  memory.offload = offload;
  memory.generationBatch = generationBatch;
  memory.microBatch = microBatch;
  pm.addNestedPass<PipelineOp>(createPlanMemory(memory));
}

void mlir::hone::buildToLLVMPipeline(OpPassManager &pm) {
  pm.addPass(createBuildLossKernels());
  pm.addPass(createConvertHoneToRuntime());
  addTextual(pm, "convert-scf-to-cf,convert-arith-to-llvm,"
                 "convert-index-to-llvm,convert-cf-to-llvm,"
                 "convert-func-to-llvm,reconcile-unrealized-casts");
}

void mlir::hone::buildLossToLLVMPipeline(OpPassManager &pm) {
  OutlineLossKernelsOptions outline;
  outline.kernelsOnly = true;
  pm.addPass(createOutlineLossKernels(outline));
  addTextual(pm, std::string(kLossToBuffers) +
                     ",func.func(convert-linalg-to-loops,lower-affine),"
                     "expand-strided-metadata,lower-affine,convert-scf-to-cf,"
                     "convert-math-to-llvm,convert-arith-to-llvm,"
                     "convert-index-to-llvm,finalize-memref-to-llvm,"
                     "convert-cf-to-llvm,"
                     "convert-func-to-llvm{use-bare-ptr-memref-call-conv},"
                     "reconcile-unrealized-casts");
}

void mlir::hone::buildLossToNVVMPipeline(OpPassManager &pm,
                                         const std::string &chip) {
  OutlineLossKernelsOptions outline;
  outline.kernelsOnly = true;
  pm.addPass(createOutlineLossKernels(outline));
  addTextual(pm, std::string(kLossToBuffers) +
                     ",func.func(convert-linalg-to-parallel-loops,"
                     "gpu-map-parallel-loops,convert-parallel-loops-to-gpu),"
                     "lower-affine,gpu-kernel-outlining,"
                     "nvvm-attach-target{chip=" + chip + "},"
                     "gpu.module(convert-gpu-to-nvvm),"
                     "reconcile-unrealized-casts");
}

void mlir::hone::buildStagePipeline(OpPassManager &pm,
                                    const StagePipelineOptions &options) {
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  EstimateMemoryOptions memory;
  memory.budgetBytes = options.memoryBudgetBytes;
  memory.precomputeReference = options.precomputeReference;
  pm.addNestedPass<PipelineOp>(createEstimateMemory(memory));
}

namespace {
struct StagePipelineCLOptions
    : public PassPipelineOptions<StagePipelineCLOptions> {
  Option<int64_t> memoryBudgetBytes{
      *this, "memory-budget-bytes",
      llvm::cl::desc("memory budget in bytes (0: from the pipeline's run settings)"),
      llvm::cl::init(0)};
};
} // namespace

namespace {
struct StepPipelineCLOptions
    : public PassPipelineOptions<StepPipelineCLOptions> {
  Option<bool> useF64{*this, "f64",
                      llvm::cl::desc("objectives in float64 (tests)"),
                      llvm::cl::init(false)};
  Option<bool> fuseForwards{*this, "fuse-forwards",
                            llvm::cl::desc("run hone-fuse-forwards"),
                            llvm::cl::init(true)};
  Option<bool> precomputeReference{
      *this, "precompute-reference",
      llvm::cl::desc("run hone-precompute-reference"), llvm::cl::init(true)};
  Option<bool> packSequences{*this, "pack-sequences",
                             llvm::cl::desc("run hone-pack-sequences"),
                             llvm::cl::init(true)};
  Option<bool> streamScores{*this, "stream-scores",
                            llvm::cl::desc("run hone-stream-scores"),
                            llvm::cl::init(true)};
  Option<int64_t> streamLogprobRows{
      *this, "stream-logprob-rows",
      llvm::cl::desc("rows per forward of streamed reference reads (0: off)"),
      llvm::cl::init(0)};
};
struct NVVMPipelineCLOptions
    : public PassPipelineOptions<NVVMPipelineCLOptions> {
  Option<std::string> chip{*this, "chip", llvm::cl::desc("GPU architecture"),
                           llvm::cl::init("sm_90")};
};
} // namespace

void mlir::hone::registerPipelines() {
  // The loss pipelines' upstream passes, so that their stages can be run
  // one by one from hone-opt.
  registerUpstreamPasses();
  PassPipelineRegistration<StepPipelineCLOptions>(
      "hone-step-pipeline",
      "Stage IR to step IR: expand stages, CSE, differentiate objectives, "
      "fuse forwards, pack sequences, stream scores",
      [](OpPassManager &pm, const StepPipelineCLOptions &cl) {
        StepPipelineOptions options;
        options.useF64 = cl.useF64;
        options.fuseForwards = cl.fuseForwards;
        options.precomputeReference = cl.precomputeReference;
        options.packSequences = cl.packSequences;
        options.streamScores = cl.streamScores;
        options.streamLogprobRows = cl.streamLogprobRows;
        buildStepPipeline(pm, options);
      });
  PassPipelineRegistration<>(
      "hone-scheduled-pipeline",
      "Step IR to scheduled IR: frozen-model snapshots, stage brackets, "
      "arena offsets, lanes and events",
      [](OpPassManager &pm) { buildScheduledPipeline(pm); });
  PassPipelineRegistration<>(
      "hone-to-llvm",
      "Scheduled IR to the LLVM dialect: loss kernels, main() calling the "
      "runtime ABI",
      [](OpPassManager &pm) { buildToLLVMPipeline(pm); });
  PassPipelineRegistration<>(
      "hone-loss-to-llvm",
      "Differentiated train steps to C-callable LLVM loss kernels",
      [](OpPassManager &pm) { buildLossToLLVMPipeline(pm); });
  PassPipelineRegistration<NVVMPipelineCLOptions>(
      "hone-loss-to-nvvm",
      "Differentiated train steps to GPU loss kernels in NVVM",
      [](OpPassManager &pm, const NVVMPipelineCLOptions &cl) {
        buildLossToNVVMPipeline(pm, cl.chip);
      });
  PassPipelineRegistration<StagePipelineCLOptions>(
      "hone-stage-pipeline",
      "Check and simplify stage IR: canonicalize, CSE, static memory check",
      [](OpPassManager &pm, const StagePipelineCLOptions &cl) {
        StagePipelineOptions options;
        options.memoryBudgetBytes = cl.memoryBudgetBytes;
        buildStagePipeline(pm, options);
      });
}
