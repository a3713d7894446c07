//===- CapSteps.cpp - an out-of-tree Hone pass plugin ---------------------===//
//
// `example-cap-steps` caps the number of steps of every training stage, so a
// whole pipeline can be smoke-tested in seconds before the real run:
//
//   hone-opt --load-pass-plugin=./HoneExamplePlugin.so
//     --example-cap-steps=max=2 stages.mlir
//
// The pass is declared in Passes.td; docs/tutorial-pass-plugin.md walks
// through both files.
//
//===----------------------------------------------------------------------===//

#include "dialect/HoneOps.h"
#include "dialect/HoneVersion.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Tools/Plugins/PassPlugin.h"
#include "llvm/ADT/TypeSwitch.h"

namespace example {
#define GEN_PASS_DECL
#define GEN_PASS_DEF_EXAMPLECAPSTEPS
#define GEN_PASS_REGISTRATION
#include "HoneExamplePluginPasses.h.inc"
} // namespace example

using namespace mlir;

namespace {

struct CapSteps : example::impl::ExampleCapStepsBase<CapSteps> {
  using ExampleCapStepsBase::ExampleCapStepsBase;

  void runOnOperation() override {
    // Report at a location: mlir::emitError(loc) prints one located line
    // (op->emitError() would attach the whole op when
    // --mlir-print-op-on-diagnostic is on).
    if (max < 1) {
      emitError(getOperation().getLoc())
          << "example-cap-steps: max must be >= 1, got " << int64_t(max);
      return signalPassFailure();
    }
    // Every stage op of the dialect has a `steps` attribute; the typed API
    // (getSteps/setSteps, uint64_t) comes from the ODS-generated classes
    // (docs/dialect.md lists each op's accessors).
    getOperation().walk([&](Operation *op) {
      llvm::TypeSwitch<Operation *>(op)
          .Case<mlir::hone::SftOp, mlir::hone::RewardModelTrainOp,
                mlir::hone::PreferenceOp, mlir::hone::RlOp>([&](auto stage) {
            uint64_t steps = stage.getSteps();
            if (steps <= static_cast<uint64_t>(max))
              return;
            stage.setSteps(static_cast<uint64_t>(max));
            // A remark at the stage: spec.textproto:LINE:COL in honec.
            emitRemark(stage.getLoc())
                << "example-cap-steps: " << steps << " steps capped to "
                << int64_t(max);
          });
    });
  }
};

} // namespace

// The plugin's second pass, in ForwardReport.cpp.
void registerForwardReportPass();
void registerMergeForwardsPass();

extern "C" LLVM_ATTRIBUTE_WEAK PassPluginLibraryInfo mlirGetPassPluginInfo() {
  // HONE_PLUGIN_VERSION: the Hone this plugin was built for; hone-opt and
  // honec refuse a plugin built for another dialect version.
  return {MLIR_PLUGIN_API_VERSION, "HoneExamplePlugin", HONE_PLUGIN_VERSION,
          []() {
            example::registerHoneExamplePluginPasses();
            registerForwardReportPass();
            registerMergeForwardsPass();
          }};
}
