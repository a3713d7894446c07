//===- FuseForwards.cpp - one forward per model and train step ------------===//
//
// A train step that reads one model on several token batches (DPO's chosen
// and rejected, a reward model's pair; CHORD's, SRFT's and HPT's rollouts
// and demonstrations, of other lengths) ran that model forward once per
// batch and, since the model then ran more than once per optimiser step,
// again before each backward. Marking the reads fused makes the runtime run
// one forward and one backward over the concatenated rows (on the longest
// length, where lengths differ and that costs no more: fusableReads); the
// objective keeps its per-read arguments.
//
// PPO's v_old is a hone.value of the critic on the rollout, just before the
// train step that reads the critic on the same tokens: in the step's first
// pass the critic's weights are still those v_old saw, so that forward is
// the one hone.value ran. Marking it kept (kept_forwards) makes the step
// back-propagate through the activations the critic kept from it (one
// critic forward fewer per iteration), where the step runs the critic once
// over the whole batch per optimiser step (updates and mini_batches 1).
//
//===----------------------------------------------------------------------===//

#include "dialect/HoneForwards.h"
#include "mlir/IR/Dominance.h"
#include "passes/Passes.h"

namespace mlir::hone {
#define GEN_PASS_DEF_FUSEFORWARDS
#include "passes/Passes.h.inc"
} // namespace mlir::hone

using namespace mlir;
using namespace mlir::hone;

namespace {

/// The temperature the lowering takes `lp`'s log-probs at: that of the
/// hone.generate that sampled its tokens, 1 for data
/// (passes/ConvertHoneToRuntime.cpp).
double temperatureOf(LogprobOp lp) {
  GenerateOp gen = producingGenerate(lp.getTokens().front());
  return gen ? gen.getTemperature().convertToDouble() : 1.0;
}

/// True when `a` and `b` compute the same function of their tokens: one
/// model value (one frozen state), entropy alike, one token type, one
/// temperature, both packed (hone-pack-sequences' masks) or neither.
bool sameForward(LogprobOp a, LogprobOp b) {
  return a.getModel() == b.getModel() && a.getEntropy() == b.getEntropy() &&
         a.getTokens().front().getType() == b.getTokens().front().getType() &&
         temperatureOf(a) == temperatureOf(b) &&
         a.getPackMasks().empty() == b.getPackMasks().empty();
}

/// Merges `first` and its later same-block twin `second` into one
/// hone.logprob over both token batches, placed where every operand is
/// defined and before every use; false (nothing changed) where no such
/// place is one of theirs.
bool mergeLogprobs(LogprobOp first, LogprobOp second, DominanceInfo &dom) {
  Operation *at = nullptr;
  auto usesAfter = [&](Operation *op, Operation *point) {
    return llvm::all_of(op->getUsers(), [&](Operation *user) {
      return dom.properlyDominates(point, user);
    });
  };
  auto definedBefore = [&](Operation *op, Operation *point) {
    return llvm::all_of(op->getOperands(), [&](Value v) {
      return dom.properlyDominates(v, point);
    });
  };
  if (usesAfter(first, second))
    at = second;
  else if (definedBefore(second, first))
    at = first;
  else
    return false;
  OpBuilder b(at);
  SmallVector<Value> tokens(first.getTokens());
  llvm::append_range(tokens, second.getTokens());
  SmallVector<Type> types(first->getResultTypes());
  llvm::append_range(types, second->getResultTypes());
  SmallVector<Value> masks(first.getPackMasks());
  llvm::append_range(masks, second.getPackMasks());
  auto fused = LogprobOp::create(
      b, FusedLoc::get(b.getContext(), {first.getLoc(), second.getLoc()}),
      types, first.getModel(), tokens, masks, first.getEntropyAttr(),
      IntegerAttr());
  // Discardable attributes (hone.models: the model's spec name) are those
  // of both: one model value.
  fused->setDiscardableAttrs(first->getDiscardableAttrDictionary());
  unsigned n = first->getNumResults();
  first->replaceAllUsesWith(fused->getResults().take_front(n));
  second->replaceAllUsesWith(fused->getResults().drop_front(n));
  first->erase();
  second->erase();
  return true;
}

struct FuseForwards : public mlir::hone::impl::FuseForwardsBase<FuseForwards> {
  void runOnOperation() override {
    // Frozen-model reads: hone.logprob twins in one block become one op.
    DominanceInfo dom(getOperation());
    getOperation()->walk([&](Block *block) {
      for (bool merged = true; merged;) {
        merged = false;
        SmallVector<LogprobOp> reads(block->getOps<LogprobOp>());
        for (size_t i = 0; i < reads.size() && !merged; ++i)
          for (size_t k = i + 1; k < reads.size() && !merged; ++k)
            if (sameForward(reads[i], reads[k]))
              merged = mergeLogprobs(reads[i], reads[k], dom);
      }
    });
    getOperation()->walk([&](TrainStepOp step) {
      // A step already marked (by a user's pass, or a second run) keeps
      // its grouping.
      if (step.getFusedReads())
        return;
      SmallVector<int64_t> leads = fusableReads(step);
      if (mergesReads(leads))
        step.setFusedReads(leads);
    });
    getOperation()->walk([&](TrainStepOp step) {
      if (step.getKeptForwards())
        return;
      SmallVector<int64_t> kept = keptForwards(step);
      if (llvm::any_of(kept, [](int64_t k) { return k >= 0; }))
        step.setKeptForwards(kept);
    });
  }
};

} // namespace
