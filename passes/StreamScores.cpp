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
// Asked to (`logprob-rows` > 0, honec --stream-logprobs), a frozen model's
// hone.logprob of the generate's tokens (the reference log-probs) streams
// the same way: the pass fixes its rows per forward
// (`row_group`, streamed or not: with `stream=false`, as honec
// --no-stream-scores runs it, the pass sets only that), and marks it
// `stream`; the runtime computes each group's forward when the group's last
// row is published. The same forwards either way, so the same bits (a
// forward over other rows could round differently: test/unit/GemmRows.h).
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

/// The generate whose rows a read of `tokens` (and `mask`, if any) can
/// take as they finish: its results 0 (and 1), without demonstrations or
/// hints (whose rows the runtime writes after decoding).
GenerateOp streamingGenerate(Value tokens, Value mask) {
  auto gen = tokens.getDefiningOp<GenerateOp>();
  if (!gen || gen.getDemos() || gen.getHintLen() ||
      tokens != gen->getResult(0) || (mask && mask != gen->getResult(1)))
    return GenerateOp();
  return gen;
}

struct StreamScores : public mlir::hone::impl::StreamScoresBase<StreamScores> {
  using StreamScoresBase::StreamScoresBase;

  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    // Reference log-probs: a read of one token batch (packed to the
    // generate's mask or padded) by a model the loop does not change (a
    // value defined outside the read's region: frozen, since a model state
    // is an SSA value), outside train steps.
    getOperation()->walk([&](LogprobOp lp) {
      if (logprobRows <= 0 || lp.getTokens().size() != 1 || lp.getEntropy() ||
          lp.getPackMasks().size() > 1 || lp->getParentOfType<TrainStepOp>())
        return;
      Value mask = lp.getPackMasks().empty() ? Value() : lp.getPackMasks()[0];
      GenerateOp gen = streamingGenerate(lp.getTokens()[0], mask);
      if (!gen || lp.getModel() == gen.getPolicy() ||
          !lp.getModel().getParentRegion()->isProperAncestor(
              lp->getParentRegion()))
        return;
      int64_t rows = cast<RankedTensorType>(lp.getTokens()[0].getType())
                         .getDimSize(0);
      lp->setAttr("row_group",
                  IntegerAttr::get(IntegerType::get(ctx, 64),
                                   std::max<int64_t>(
                                       1, std::min<int64_t>(logprobRows, rows))));
      if (!stream)
        return;
      gen->setAttr("stream_rows", UnitAttr::get(ctx));
      lp->setAttr("stream", UnitAttr::get(ctx));
    });
    if (!stream)
      return;
    getOperation()->walk([&](ScoreOp score) {
      GenerateOp gen = streamingGenerate(score.getTokens(), score.getMask());
      if (!gen || !streamable(score.getReward()))
        return;
      gen->setAttr("stream_rows", UnitAttr::get(ctx));
      score->setAttr("stream", UnitAttr::get(ctx));
    });
  }
};

} // namespace
