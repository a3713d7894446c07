//===- PackSequences.cpp - padding-free train-step forwards ---------------===//
//
// A train step's token batches are padded to the stage's sequence length
// (the longest row of the data, rounded up to 8): a batch whose rows are
// uniform between a quarter of and the full length spends about 40 % of
// its rows' work, and more of its attention, on padding. The runtime can
// run a read's forward and backward padding-free (runtime/model/
// Transformer.h, ForwardOptions::pack: the rows concatenated into one
// stream, positions restarting per sequence, block-diagonal causal
// attention), given each row's length.
//
// Exactness decides where: the padded program computes log-probs, entropies
// and values at the padding positions too, and the packed one yields 0
// there. They are the same program where the objective reads a read's
// per-token outputs only through masked reductions by one loss mask (an
// input of the step): positions after a row's last masked token change
// nothing the objective sees, the model being causal, and the runtime takes
// each row's length up to that token. A reward read exposes only the last
// token (its row's length already). This pass proves that from the
// objective region and marks the reads in `packed`.
//
// Frozen reads outside train steps (hone.logprob: the reference's
// log-probs; hone.value: PPO's v_old) are packed the same way when every
// consumer of their results reads them only under one mask: a train step's
// input under that mask (as above), a KL penalty shaped into the reward,
// GAE's values. The mask becomes the read's `packed` operand; the runtime
// takes each row's length up to its last nonzero.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "mlir/IR/Dominance.h"
#include "llvm/ADT/SetVector.h"

namespace mlir::hone {
#define GEN_PASS_DEF_PACKSEQUENCES
#include "passes/Passes.h.inc"
} // namespace mlir::hone

using namespace mlir;
using namespace mlir::hone;

namespace {

/// The mask operand of a masked reduction (seq_sum with a mask, seq_mean,
/// masked_reduce), or null.
Value maskOperand(Operation *op) {
  if (auto s = dyn_cast<LossSeqSumOp>(op))
    return s.getMask();
  if (auto s = dyn_cast<LossSeqMeanOp>(op))
    return s.getMask();
  if (auto s = dyn_cast<LossMaskedReduceOp>(op))
    return s.getMask();
  return Value();
}

/// The mask operand of a loss op that reduces its `x` over masked
/// positions only (Σ m·x: seq_sum with a mask, seq_mean, masked_reduce) or
/// zeroes it outside them (x·m with m one of `masks`, the block arguments
/// some masked reduction uses: the objective expression's token_sum), or
/// null.
Value reducingMask(Operation *op, Value x,
                   const llvm::SmallPtrSetImpl<Value> &masks) {
  if (auto s = dyn_cast<LossMulOp>(op)) {
    Value other = s.getA() == x ? s.getB() : s.getA();
    return other != x && masks.contains(other) ? other : Value();
  }
  if (auto s = dyn_cast<LossSeqSumOp>(op))
    return s.getX() == x && s.getMask() != x ? s.getMask() : Value();
  if (auto s = dyn_cast<LossSeqMeanOp>(op))
    return s.getX() == x && s.getMask() != x ? s.getMask() : Value();
  if (auto s = dyn_cast<LossMaskedReduceOp>(op))
    return s.getX() == x && s.getMask() != x ? s.getMask() : Value();
  return Value();
}

/// The block arguments whose zeros `mask` has: the mask itself, or the
/// factors of a product of masks (DAPO's loss mask times its row filter).
void maskFactors(Value mask, llvm::SmallPtrSetImpl<Value> &out) {
  if (isa<BlockArgument>(mask)) {
    out.insert(mask);
  } else if (auto mul = mask.getDefiningOp<LossMulOp>()) {
    maskFactors(mul.getA(), out);
    maskFactors(mul.getB(), out);
  }
}

/// Collects in `sinks` the masks under which every use of `arg`
/// (transitively through element-wise ops) is reduced; false with `why`
/// set where a use reaches the yield or a reduction unmasked.
bool maskedUses(BlockArgument arg, const llvm::SmallPtrSetImpl<Value> &masks,
                llvm::SetVector<Value> &sinks, std::string &why) {
  SmallVector<Value> work{arg};
  llvm::SmallPtrSet<Value, 16> seen{arg};
  while (!work.empty()) {
    Value v = work.pop_back_val();
    for (OpOperand &use : v.getUses()) {
      Operation *user = use.getOwner();
      if (Value m = reducingMask(user, v, masks)) {
        sinks.insert(m);
        continue;
      }
      if (user->getNumRegions() || user->hasTrait<OpTrait::IsTerminator>() ||
          user->getNumResults() == 0) {
        why = "read outside a masked reduction ('" +
              user->getName().getStringRef().str() + "')";
        return false;
      }
      // A reduction without the mask would see the padding positions.
      if (isa<LossSumOp, LossMeanOp, LossSeqSumOp, LossSeqMeanOp,
              LossMaskedReduceOp>(user)) {
        why = "reduced without a mask ('" +
              user->getName().getStringRef().str() + "')";
        return false;
      }
      for (Value r : user->getResults())
        if (seen.insert(r).second)
          work.push_back(r);
    }
  }
  if (sinks.empty())
    why = "never reduced";
  return !sinks.empty();
}

/// The block arguments that are factors of every mask in `sinks` (each
/// has their zeros).
llvm::SmallPtrSet<Value, 4> commonFactors(const llvm::SetVector<Value> &sinks) {
  std::optional<llvm::SmallPtrSet<Value, 4>> common;
  for (Value m : sinks) {
    llvm::SmallPtrSet<Value, 4> f;
    maskFactors(m, f);
    if (!common) {
      common = f;
      continue;
    }
    llvm::SmallPtrSet<Value, 4> both;
    for (Value v : *common)
      if (f.contains(v))
        both.insert(v);
    common = both;
  }
  return common ? *common : llvm::SmallPtrSet<Value, 4>();
}

/// The lowest-numbered step input among mask factors `factors` (block
/// arguments of the objective) shaped like the read's tokens, or -1.
int64_t firstTokenShapedInput(TrainStepOp step, unsigned nDiff,
                              RankedTensorType tokType,
                              const llvm::SmallPtrSetImpl<Value> &factors) {
  int64_t best = -1;
  for (Value v : factors) {
    auto arg = cast<BlockArgument>(v);
    if (arg.getArgNumber() < nDiff)
      continue;
    int64_t k = arg.getArgNumber() - nDiff;
    auto t = dyn_cast<RankedTensorType>(step.getInputs()[k].getType());
    if (t && t.getShape() == tokType.getShape() && (best < 0 || k < best))
      best = k;
  }
  return best;
}

/// The first input of `step` (block argument at or after `nDiff`) shaped
/// `[B, T]` like the read's tokens whose zeros every mask in `sinks` has,
/// as an index into the inputs; -1 with `why` set where none is.
int64_t commonMaskInput(TrainStepOp step, unsigned nDiff,
                        RankedTensorType tokType,
                        const llvm::SetVector<Value> &sinks, std::string &why) {
  int64_t best =
      firstTokenShapedInput(step, nDiff, tokType, commonFactors(sinks));
  if (best < 0)
    why = sinks.size() > 1 ? "reduced under masks with no common input mask"
                           : "its mask is not an input of the step";
  return best;
}

/// Where no input is a factor of every mask in `sinks`: for each sink, its
/// first input factor shaped like the read's tokens, as input indices in
/// increasing order (positions past the last nonzero of all of them are
/// zero in every sink); empty where some sink has none.
SmallVector<int64_t> eachSinkMaskInputs(TrainStepOp step, unsigned nDiff,
                                        RankedTensorType tokType,
                                        const llvm::SetVector<Value> &sinks) {
  SmallVector<int64_t> out;
  for (Value m : sinks) {
    llvm::SmallPtrSet<Value, 4> f;
    maskFactors(m, f);
    int64_t best = firstTokenShapedInput(step, nDiff, tokType, f);
    if (best < 0)
      return {};
    if (!llvm::is_contained(out, best))
      out.push_back(best);
  }
  llvm::sort(out);
  return out;
}

/// The masks of the objective's masked reductions: the block arguments
/// they are products of.
llvm::SmallPtrSet<Value, 4> objectiveMasks(TrainStepOp step) {
  llvm::SmallPtrSet<Value, 4> masks;
  step.getObjective().front().walk([&](Operation *op) {
    if (Value m = maskOperand(op))
      maskFactors(m, masks);
  });
  return masks;
}

/// The values `use` of a frozen read's result (hone.logprob, hone.value
/// outside a train step) is seen under: masks such that the consumer reads
/// the result only where each of them is nonzero. A train step's input
/// read through masked reductions only: its inputs of the tokens' shape
/// that are factors of every mask (like the step's own reads); a KL
/// penalty shaped into the reward (l_old, l_ref under its mask); GAE's
/// values (under its mask). Empty with `why` set otherwise.
SmallVector<Value> consumerMasks(OpOperand &use, RankedTensorType tokType,
                                 std::string &why) {
  Operation *user = use.getOwner();
  unsigned n = use.getOperandNumber();
  if (auto step = dyn_cast<TrainStepOp>(user)) {
    auto inputs = step.getInputs();
    unsigned first = inputs.getBeginOperandIndex();
    if (n < first || n - first >= inputs.size()) {
      why = "read by a train step as tokens";
      return {};
    }
    Block &body = step.getObjective().front();
    unsigned nDiff = step.getNumDiffArgs();
    llvm::SmallPtrSet<Value, 4> masks = objectiveMasks(step);
    llvm::SetVector<Value> sinks;
    if (!maskedUses(body.getArgument(nDiff + (n - first)), masks, sinks, why)) {
      why = "a train step's input " + why;
      return {};
    }
    // Every input whose zeros each sink has (a factor of all of them).
    llvm::SmallPtrSet<Value, 4> common = commonFactors(sinks);
    SmallVector<Value> out;
    for (auto [k, in] : llvm::enumerate(inputs)) {
      auto t = dyn_cast<RankedTensorType>(in.getType());
      if (t && t.getShape() == tokType.getShape() &&
          common.contains(body.getArgument(nDiff + k)))
        out.push_back(in);
    }
    if (out.empty())
      why = "a train step's input reduced under masks with no common input "
            "mask";
    return out;
  }
  if (auto shape = dyn_cast<ShapeRewardOp>(user)) {
    if (use.get() == shape.getLOld() || use.get() == shape.getLRef())
      return {shape.getMask()};
  }
  if (auto adv = dyn_cast<AdvantageOp>(user)) {
    if (adv.getKind() == AdvantageKind::gae && adv.getInputs().size() == 3 &&
        n == adv.getInputs().getBeginOperandIndex() + 2)
      return {adv.getInputs()[1]};
  }
  why = "read by '" + user->getName().getStringRef().str() + "'";
  return {};
}

/// The one mask under which every use of `results` is read, defined before
/// `op`; null with `why` set where there is none.
Value commonConsumerMask(Operation *op, ValueRange results,
                         RankedTensorType tokType, DominanceInfo &dom,
                         std::string &why) {
  std::optional<SmallVector<Value>> common;
  for (Value r : results)
    for (OpOperand &use : r.getUses()) {
      SmallVector<Value> ms = consumerMasks(use, tokType, why);
      if (ms.empty())
        return Value();
      if (!common) {
        common = ms;
        continue;
      }
      llvm::erase_if(*common,
                     [&](Value v) { return !llvm::is_contained(ms, v); });
      if (common->empty()) {
        why = "read under different masks";
        return Value();
      }
    }
  if (!common) {
    why = "never read";
    return Value();
  }
  for (Value m : *common)
    if (dom.properlyDominates(m, op))
      return m;
  why = "its mask is computed after it";
  return Value();
}

std::string shapeText(Value tokens) {
  auto t = cast<RankedTensorType>(tokens.getType());
  return std::to_string(t.getDimSize(0)) + "x" + std::to_string(t.getDimSize(1));
}

/// Frozen reads outside train steps (reference log-probs, PPO's v_old):
/// packed to the mask every consumer reads them under.
void packFrozenReads(Operation *root) {
  DominanceInfo dom(root);
  root->walk([&](LogprobOp lp) {
    if (!lp.getPackMasks().empty() || lp->getParentOfType<TrainStepOp>())
      return;
    unsigned per = lp.getEntropy() ? 2 : 1;
    SmallVector<Value> masks;
    std::string said;
    for (auto [i, tok] : llvm::enumerate(lp.getTokens())) {
      std::string why;
      Value m = commonConsumerMask(
          lp, lp->getResults().slice(per * i, per),
          cast<RankedTensorType>(tok.getType()), dom, why);
      if (!m) {
        said += (said.empty() ? "" : "; ") + std::string("batch ") +
                std::to_string(i) + " (" + shapeText(tok) + ") " + why;
        continue;
      }
      masks.push_back(m);
    }
    // One forward over every batch: packed when all of them are.
    if (said.empty())
      lp.getPackMasksMutable().assign(masks);
    else
      lp->emitRemark() << "hone-pack-sequences: hone.logprob padded: "
                       << said;
  });
  root->walk([&](ValueOp v) {
    if (v.getPackMask() || v.getMask() || v->getParentOfType<TrainStepOp>())
      return;
    std::string why;
    Value m = commonConsumerMask(
        v, v->getResults(), cast<RankedTensorType>(v.getTokens().getType()),
        dom, why);
    if (m)
      v.getPackMaskMutable().assign(m);
    else
      v->emitRemark() << "hone-pack-sequences: hone.value ("
                      << shapeText(v.getTokens()) << ") padded: " << why;
  });
}

struct PackSequences
    : public mlir::hone::impl::PackSequencesBase<PackSequences> {
  void runOnOperation() override {
    packFrozenReads(getOperation());
    getOperation()->walk([&](TrainStepOp step) {
      if (step->hasAttr("packed")) // a user's pass or a second run decided
        return;
      Block &body = step.getObjective().front();
      llvm::SmallPtrSet<Value, 4> masks = objectiveMasks(step);
      auto reads = step.getReads().getAsValueRange<StringAttr>();
      const unsigned nDiff = step.getNumDiffArgs();
      SmallVector<int64_t> packed, also; // also: (read, input) pairs
      auto alsoOf = [&](size_t read) {
        SmallVector<int64_t> ks;
        for (size_t p = 0; p + 1 < also.size(); p += 2)
          if (also[p] == int64_t(read))
            ks.push_back(also[p + 1]);
        return ks;
      };
      std::string said;
      unsigned arg = 0;
      for (auto [i, read] : llvm::enumerate(reads)) {
        unsigned n = read == "logprob+entropy" ? 2 : 1;
        auto tokType = cast<RankedTensorType>(step.getTokens()[i].getType());
        int64_t entry = -1;
        std::string why;
        if (read == "reward") {
          entry = -2;
        } else {
          llvm::SetVector<Value> sinks;
          bool ok = true;
          for (unsigned k = 0; k < n && ok; ++k)
            ok = maskedUses(body.getArgument(arg + k), masks, sinks, why);
          std::string whyNone;
          if (ok)
            entry = commonMaskInput(step, nDiff, tokType, sinks, whyNone);
          // Several masks, each with an input factor (UFT: the response
          // mask and the hint's): up to the last nonzero of any of them.
          SmallVector<int64_t> each;
          if (ok && entry < 0)
            each = eachSinkMaskInputs(step, nDiff, tokType, sinks);
          if (each.size() > 1) {
            entry = each.front();
            for (int64_t k : ArrayRef(each).drop_front())
              also.append({int64_t(i), k});
          }
          if (ok && entry < 0)
            why = whyNone;
        }
        arg += n;
        packed.push_back(entry);
        if (!said.empty())
          said += "; ";
        said += "read " + std::to_string(i) + " (" + read.str() + ", " +
                std::to_string(tokType.getDimSize(0)) + "x" +
                std::to_string(tokType.getDimSize(1)) + ") ";
        if (entry == -2)
          said += "packed to each row's last token";
        else if (entry >= 0 && !alsoOf(i).empty()) {
          said += "packed to each row's last token of loss mask inputs " +
                  std::to_string(entry);
          for (int64_t k : alsoOf(i))
            said += ", " + std::to_string(k);
          said += " (the last of any)";
        } else if (entry >= 0)
          said += "packed to each row's last token of loss mask input " +
                  std::to_string(entry);
        else
          said += "padded: " + why;
      }
      if (llvm::any_of(packed, [](int64_t e) { return e != -1; }))
        step->setAttr("packed", DenseI64ArrayAttr::get(&getContext(), packed));
      if (!also.empty())
        step->setAttr("packed_also",
                      DenseI64ArrayAttr::get(&getContext(), also));
      // Fully packed steps say nothing (honec --report lists them); a read
      // left padded is worth a line saying why.
      if (llvm::is_contained(packed, -1))
        step->emitRemark() << "hone-pack-sequences: " << said;
    });
  }
};

} // namespace
