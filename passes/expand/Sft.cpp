//===- Sft.cpp - hone-expand-stages: SFT and reward models ----------------===//
//
// Offline stages on labelled data: supervised fine-tuning and reward-model
// training (passes/expand/Expander.h has what the method families share).
//
//===----------------------------------------------------------------------===//

#include "passes/expand/Expander.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::hone;

namespace mlir::hone::expand {

//===--- SFT ------------------------------------------------------------===//--

LogicalResult Expander::expand(SftOp op) {
  SftSettingsAttr settings = op.getSettings();
  int64_t B = stepBatch(op.getBatchSize(), op.getLoop()),
          T = op.getLoop().getMaxLength();
  SftVariant variant = op.getVariant();
  double clipMax = d(settings.getIwClip());
  std::string kernel = kernelName(
      (Twine("sft_") + stringifySftVariant(variant)).str());
  auto forOp = loop(op.getSteps(), op.getPolicy(), [&](Value step,
                                                       ValueRange it) {
    auto data = DataNextOp::create(
        b, loc, TypeRange{i32({B, T}), f({B, T}), i64({B})},
        DataPart::sequences, op.getData(), step,
        // The spec's loss masks (TRL's options of the same names).
        settings.getCompletionOnlyLoss(), settings.getAssistantOnlyLoss());
    Value tok = data.getResult(0), mask = data.getResult(1);
    TrainStep ts(b, loc, elem);
    ts.model(it[0]);
    ts.read(0, tok, "logprob", {"l"});
    ts.input(mask, "mask");
    if (variant == SftVariant::iw) {
      Value lRef = LogprobOp::create(b, loc, TypeRange{f({B, T})},
                                     op.getRef(), tok, nullptr)
                       .getResult(0);
      ts.input(lRef, "l_ref");
    }
    auto train = ts.build(kernel, op.getOptimizer(),
                          op.getLoop().getGradAccum(),
                          [&](LossBuilder &lb, auto &a,
                              auto &metrics) -> Value {
      Value l = a["l"], m = a["mask"];
      switch (variant) {
      case SftVariant::plain:
        // SFT: −Σ m·l / Σ m
        return lb.reduce(ReduceMode::token_mean, lb.neg(l), m);
      case SftVariant::dft: {
        // DFT: −Σ m·sg(p)·l / Σ m, p = exp(l); the plain NLL as a metric
        // (the DFT loss itself is not monotone in p).
        metrics.push_back({"nll", lb.reduce(ReduceMode::token_mean, lb.neg(l), m)});
        Value w = lb.sg(lb.exp(l));
        return lb.reduce(ReduceMode::token_mean, lb.neg(lb.mul(w, l)), m);
      }
      case SftVariant::iw: {
        // iw-SFT: w_i = sg(clip(exp(mean_t(l − l_ref)), 0, 16));
        // loss = −Σ_i w_i Σ_t m l / Σ m
        Value w = lb.sg(lb.clamp(lb.exp(lb.seqMean(lb.sub(l, a["l_ref"]), m)),
                                 0.0, clipMax));
        metrics.push_back({"iw/mean_weight", lb.mean(w)});
        return lb.reduce(ReduceMode::token_mean,
                         lb.neg(lb.mul(lb.bcastLike(w, l), l)), m);
      }
      }
      return Value();
    });
    return SmallVector<Value>{train.getResult(0)};
  });
  op.getResult().replaceAllUsesWith(forOp.getResult(0));
  nameOutputs(op, forOp);
  return success();
}

//===--- Reward model ---------------------------------------------------===//--

LogicalResult Expander::expand(RewardModelTrainOp op) {
  int64_t B = stepBatch(op.getBatchSize(), op.getLoop()),
          T = op.getLoop().getMaxLength();
  std::string kernel = kernelName("bradley_terry");
  double center = d(op.getSettings().getCenterRewards());
  // The reward model starts from the base's body with a new scalar head
  // (seed 0), named after the stage's output.
  StringAttr out = op->getAttrOfType<StringAttr>("hone.output");
  Value init = ModelNewHeadOp::create(
      b, loc, op.getResult().getType(),
      out ? out : b.getStringAttr(modelName(op.getBase())), op.getBase(),
      b.getI64IntegerAttr(0));
  auto forOp = loop(op.getSteps(), init, [&](Value step, ValueRange it) {
    auto data = DataNextOp::create(
        b, loc,
        TypeRange{i32({B, T}), f({B, T}), i32({B, T}), f({B, T}), i64({B})},
        DataPart::pairs, op.getData(), step,
        kCompletionsOnly, kCompletionsOnly);
    TrainStep ts(b, loc, elem);
    ts.model(it[0]);
    ts.read(0, data.getResult(0), "reward", {"r_chosen"});
    ts.read(0, data.getResult(2), "reward", {"r_rejected"});
    auto train = ts.build(kernel, op.getOptimizer(),
                          op.getLoop().getGradAccum(),
                          [&](LossBuilder &lb, auto &a,
                              auto &metrics) -> Value {
      // Bradley-Terry: −mean log σ(r_w − r_l)
      Value margin = lb.sub(a["r_chosen"], a["r_rejected"]);
      metrics.push_back(
          {"accuracy", lb.mean(lb.cmp(CmpPredicate::gt, a["r_chosen"],
                                      a["r_rejected"]))});
      metrics.push_back({"margin", lb.mean(margin)});
      Value loss = lb.mean(lb.neg(lb.logSigmoid(margin)));
      // TRL's center_rewards_coefficient: + c·mean((r_w + r_l)²)
      if (center != 0.0) {
        Value sum = lb.add(a["r_chosen"], a["r_rejected"]);
        loss = lb.add(loss, lb.scale(lb.mean(lb.mul(sum, sum)), center));
      }
      return loss;
    });
    return SmallVector<Value>{train.getResult(0)};
  });
  op.getResult().replaceAllUsesWith(forOp.getResult(0));
  nameOutputs(op, forOp);
  return success();
}

} // namespace mlir::hone::expand
