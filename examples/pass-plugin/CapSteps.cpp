//===- CapSteps.cpp - an out-of-tree Hone pass plugin ---------------------===//
//
// `example-cap-steps` caps the number of steps of every training stage, so a
// whole pipeline can be smoke-tested in seconds before the real run:
//
//   hone-opt --load-pass-plugin=./HoneExamplePlugin.so \
//     --pass-pipeline='builtin.module(hone.pipeline(example-cap-steps{max=2}))' stages.mlir
//
// docs/tutorial-pass-plugin.md walks through this file.
//
//===----------------------------------------------------------------------===//

#include "dialect/HoneOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Tools/Plugins/PassPlugin.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;

namespace {

struct CapStepsPass
    : public PassWrapper<CapStepsPass, OperationPass<hone::PipelineOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(CapStepsPass)

  CapStepsPass() = default;
  CapStepsPass(const CapStepsPass &other) : PassWrapper(other) {}

  StringRef getArgument() const final { return "example-cap-steps"; }
  StringRef getDescription() const final {
    return "Cap the steps of every training stage (for smoke tests)";
  }

  Option<int64_t> max{*this, "max", llvm::cl::desc("largest step count kept"),
                      llvm::cl::init(1)};

  void runOnOperation() override {
    if (max < 1) {
      getOperation().emitError() << "example-cap-steps: max must be >= 1";
      return signalPassFailure();
    }
    Builder b(&getContext());
    // Every stage op of the dialect has a `steps` attribute; the typed API
    // (getSteps/setSteps) comes from the ODS-generated classes.
    getOperation().walk([&](Operation *op) {
      llvm::TypeSwitch<Operation *>(op)
          .Case<hone::SftOp, hone::RewardModelTrainOp, hone::PreferenceOp,
                hone::RlOp>([&](auto stage) {
            if (max >= 0 && stage.getSteps() > static_cast<uint64_t>(max))
              stage.setSteps(static_cast<uint64_t>(max));
          });
    });
  }
};

} // namespace

// The plugin's second pass, in ForwardReport.cpp.
void registerForwardReportPass();

extern "C" LLVM_ATTRIBUTE_WEAK PassPluginLibraryInfo mlirGetPassPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "HoneExamplePlugin", LLVM_VERSION_STRING,
          []() {
            PassRegistration<CapStepsPass>();
            registerForwardReportPass();
          }};
}
