//===- MergeForwards.cpp - a user's own forward fusion --------------------===//
//
// `example-merge-forwards{max-rows=N}` merges the reads of one model in a
// train step into one forward, as Hone's hone-fuse-forwards does, but only
// while the merged batch holds at most N rows (a user's memory rule: the
// kept activations grow with the rows of one forward). It uses the helpers
// hone-fuse-forwards uses (dialect/HoneForwards.h):
//
//   mlir::hone::fusableReads(step)   per read, the first read it can share a
//                              forward with (same model, read, token type)
//   mlir::hone::mergesReads(leads)   whether that merges anything
//   step.setFusedReads(leads)  the typed attribute the runtime follows
//   mlir::hone::countModelWork(...)  forwards, backwards and FLOPs per model
//
// and says what it did as a remark at the stage. Run it instead of the
// built-in pass (one command line):
//
//   honec spec.textproto --no-fuse-forwards
//     --load-pass-plugin=./HoneExamplePlugin.so
//     --step-passes='hone.pipeline(example-merge-forwards{max-rows=8})'
//
// docs/tutorial-pass-plugin.md §7 walks through this file.
//
//===----------------------------------------------------------------------===//

#include "dialect/HoneForwards.h"
#include "mlir/Pass/Pass.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;

namespace {

struct MergeForwardsPass
    : public PassWrapper<MergeForwardsPass,
                         OperationPass<mlir::hone::PipelineOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(MergeForwardsPass)
  MergeForwardsPass() = default;
  MergeForwardsPass(const MergeForwardsPass &other) : PassWrapper(other) {}

  StringRef getArgument() const final { return "example-merge-forwards"; }
  StringRef getDescription() const final {
    return "Merge a train step's reads of one model into one forward while "
           "the merged batch has at most max-rows rows";
  }
  Option<int64_t> maxRows{*this, "max-rows",
                          llvm::cl::desc("most rows in one merged forward"),
                          llvm::cl::init(64)};

  void runOnOperation() override {
    for (Operation &op : getOperation().getBody().front()) {
      if (op.getNumRegions() != 1 || op.getRegion(0).empty())
        continue; // stage loops are the ops with a body
      bool changed = false;
      op.getRegion(0).walk([&](mlir::hone::TrainStepOp step) {
        if (step.getFusedReads())
          return; // someone decided already
        SmallVector<int64_t> leads = mlir::hone::fusableReads(step);
        // Rows per group; a group past the limit runs read by read.
        SmallVector<int64_t> rows(leads.size(), 0);
        for (auto [i, lead] : llvm::enumerate(leads))
          rows[lead] += cast<RankedTensorType>(step.getTokens()[i].getType())
                            .getDimSize(0);
        for (size_t i = 0; i < leads.size(); ++i)
          if (rows[leads[i]] > maxRows)
            leads[i] = int64_t(i);
        if (!mlir::hone::mergesReads(leads))
          return;
        step.setFusedReads(leads);
        changed = true;
      });
      if (!changed)
        continue;
      auto before = mlir::hone::countModelWork(op.getRegion(0), false);
      auto after = mlir::hone::countModelWork(op.getRegion(0), true);
      std::string text = "merged forwards per iteration:";
      for (auto [b, a] : llvm::zip(before, after))
        text += llvm::formatv(" {0} {1} -> {2};", a.model, b.forwards,
                              a.forwards)
                    .str();
      text.pop_back();
      op.emitRemark() << text;
    }
  }
};

} // namespace

void registerMergeForwardsPass() { PassRegistration<MergeForwardsPass>(); }
