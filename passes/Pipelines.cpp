//===- Pipelines.cpp - named pass pipelines -------------------------------===//

#include "passes/Pipelines.h"
#include "passes/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

void hone::buildStagePipeline(OpPassManager &pm,
                              const StagePipelineOptions &options) {
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  EstimateMemoryOptions memory;
  memory.budgetBytes = options.memoryBudgetBytes;
  pm.addNestedPass<PipelineOp>(createEstimateMemory(memory));
}

namespace {
struct StagePipelineCLOptions
    : public PassPipelineOptions<StagePipelineCLOptions> {
  Option<int64_t> memoryBudgetBytes{
      *this, "memory-budget-bytes",
      llvm::cl::desc("memory budget in bytes (0: from the pipeline config)"),
      llvm::cl::init(0)};
};
} // namespace

void hone::registerPipelines() {
  PassPipelineRegistration<StagePipelineCLOptions>(
      "hone-stage-pipeline",
      "Check and simplify stage IR: canonicalize, CSE, static memory check",
      [](OpPassManager &pm, const StagePipelineCLOptions &cl) {
        StagePipelineOptions options;
        options.memoryBudgetBytes = cl.memoryBudgetBytes;
        buildStagePipeline(pm, options);
      });
}
