//===- StreamScores.cpp - score rows as they finish generating -------------===//
//
// Issue 21 item 3 (RLHFuse-style streaming within an iteration): marks a
// hone.generate and the hone.score ops that read its tokens and mask, so
// that the runtime scores rows while the rest of the batch decodes
// (runtime/ops/Streams.cpp). The mark changes no value: the runtime
// computes each row's score with the same function as the unstreamed op
// (verifiers, external processes), and a reward model's in the same fixed
// groups of rows, so results are identical.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

namespace mlir::hone {
#define GEN_PASS_DEF_STREAMSCORES
#include "passes/Passes.h.inc"
} // namespace mlir::hone

using namespace mlir;
using namespace mlir::hone;

namespace {

/// A reward the runtime can score as rows finish, exactly: verifiers
/// (exact, numeric, regex, format, length shaping) and external processes
/// score each row alone (a process is asked one completion at a time
/// either way); a reward model scores fixed groups of consecutive rows,
/// streamed or not (one forward per group, computed when the group's last
/// row is published); weighted sums of those.
bool streamable(Value reward) {
  Operation *def = reward.getDefiningOp();
  if (isa_and_nonnull<RewardVerifierOp, RewardExternalOp, RewardModelOp>(def))
    return true;
  if (auto combine = dyn_cast_or_null<RewardCombineOp>(def))
    return llvm::all_of(combine.getInputs(), streamable);
  return false;
}

struct StreamScores : public mlir::hone::impl::StreamScoresBase<StreamScores> {
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    getOperation()->walk([&](ScoreOp score) {
      auto gen = score.getTokens().getDefiningOp<GenerateOp>();
      if (!gen || gen.getDemos() || gen.getHintLen() ||
          score.getMask() != gen->getResult(1) ||
          score.getTokens() != gen->getResult(0) ||
          !streamable(score.getReward()))
        return;
      gen->setAttr("stream_rows", UnitAttr::get(ctx));
      score->setAttr("stream", UnitAttr::get(ctx));
    });
  }
};

} // namespace
