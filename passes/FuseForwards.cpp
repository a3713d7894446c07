//===- FuseForwards.cpp - one forward per model and train step ------------===//
//
// A train step that reads one model on several token batches of one type
// (DPO's chosen and rejected, a reward model's pair) ran that model forward
// once per batch and, since the model then ran more than once per optimiser
// step, again before each backward. Marking the reads fused makes the
// runtime run one forward and one backward over the concatenated rows; the
// objective keeps its per-read arguments.
//
//===----------------------------------------------------------------------===//

#include "dialect/HoneForwards.h"
#include "passes/Passes.h"

namespace mlir::hone {
#define GEN_PASS_DEF_FUSEFORWARDS
#include "passes/Passes.h.inc"
} // namespace mlir::hone

using namespace mlir;
using namespace mlir::hone;

namespace {

struct FuseForwards : public hone::impl::FuseForwardsBase<FuseForwards> {
  void runOnOperation() override {
    getOperation()->walk([&](TrainStepOp step) {
      // A step already marked (by a user's pass, or a second run) keeps
      // its grouping.
      if (step.getFusedReads())
        return;
      SmallVector<int64_t> leads = fusableReads(step);
      if (mergesReads(leads))
        step.setFusedReads(leads);
    });
  }
};

} // namespace
