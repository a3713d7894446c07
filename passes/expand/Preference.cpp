//===- Preference.cpp - hone-expand-stages: preference optimisation -------===//
//
// Offline preference stages (DPO and its variants, KTO, ...; docs/methods.md):
// pairs or rows with a reference model's log-probs
// (passes/expand/Expander.h has what the method families share).
//
//===----------------------------------------------------------------------===//

#include "passes/expand/Expander.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::hone;

namespace mlir::hone::expand {

namespace {

/// Sequence log-prob difference Σ_t m (l − l_ref).
Value logRatioSum(LossBuilder &lb, Value l, Value lRef, Value m) {
  return lb.seqSum(lb.sub(l, lRef), m);
}

} // namespace

//===--- Preference optimisation ----------------------------------------===//--

LogicalResult Expander::expand(PreferenceOp op) {
  PreferenceSettingsAttr settings = op.getSettings();
  int64_t B = stepBatch(op.getBatchSize(), op.getLoop()),
          T = op.getLoop().getMaxLength();
  PreferenceLoss kind = op.getLoss();
  double beta = d(settings.getBeta());
  std::string kernel = kernelName(stringifyPreferenceLoss(kind));
  auto forOp = loop(op.getSteps(), op.getPolicy(), [&](Value step,
                                                       ValueRange it) {
    TrainStep ts(b, loc, elem);
    ts.model(it[0]);
    auto refLp = [&](Value tok) {
      return LogprobOp::create(b, loc, TypeRange{f({B, T})}, op.getRef(),
                               tok, nullptr)
          .getResult(0);
    };
    if (kind == PreferenceLoss::kto) {
      auto data = DataNextOp::create(
          b, loc,
          TypeRange{i32({B, T}), f({B, T}), f({B}), i32({B, T}), f({B, T}),
                    i64({B})},
          DataPart::labelled, op.getData(), step,
        kCompletionsOnly, kCompletionsOnly);
      Value tok = data.getResult(0), mis = data.getResult(3);
      ts.read(0, tok, "logprob", {"l"});
      ts.read(0, mis, "logprob", {"l_mis"});
      ts.input(data.getResult(1), "mask");
      ts.input(data.getResult(4), "mask_mis");
      ts.input(refLp(tok), "l_ref");
      ts.input(refLp(mis), "l_ref_mis");
      ts.input(data.getResult(2), "label");
    } else {
      auto data = DataNextOp::create(
          b, loc,
          TypeRange{i32({B, T}), f({B, T}), i32({B, T}), f({B, T}),
                    i64({B})},
          DataPart::pairs, op.getData(), step,
        kCompletionsOnly, kCompletionsOnly);
      ts.read(0, data.getResult(0), "logprob", {"l_chosen"});
      ts.read(0, data.getResult(2), "logprob", {"l_rejected"});
      ts.input(data.getResult(1), "mask_chosen");
      ts.input(data.getResult(3), "mask_rejected");
      if (op.needsReference()) {
        ts.input(refLp(data.getResult(0)), "l_ref_chosen");
        ts.input(refLp(data.getResult(2)), "l_ref_rejected");
      }
    }
    double gamma = d(settings.getSimpoGamma());
    double lambdaD = d(settings.getDesirableWeight()),
           lambdaU = d(settings.getUndesirableWeight());
    double smoothing = d(settings.getLabelSmoothing());
    auto train = ts.build(kernel, op.getOptimizer(),
                          op.getLoop().getGradAccum(),
                          [&](LossBuilder &lb, auto &a,
                                          auto &metrics) -> Value {
      switch (kind) {
      case PreferenceLoss::dpo:
      case PreferenceLoss::ipo: {
        // Δ = Σm(l_w − l_ref_w) − Σm(l_l − l_ref_l)
        Value dw = logRatioSum(lb, a["l_chosen"], a["l_ref_chosen"],
                               a["mask_chosen"]);
        Value dl = logRatioSum(lb, a["l_rejected"], a["l_ref_rejected"],
                               a["mask_rejected"]);
        Value delta = lb.sub(dw, dl);
        metrics.push_back({"rewards/margins", lb.mean(lb.scale(delta, beta))});
        if (kind == PreferenceLoss::dpo) {
          // DPO: −mean log σ(βΔ)
          metrics.push_back(
              {"rewards/accuracies",
               lb.mean(lb.cmp(CmpPredicate::gt, dw, dl))});
          Value z = lb.scale(delta, beta);
          Value loss = lb.mean(lb.neg(lb.logSigmoid(z)));
          if (smoothing == 0.0)
            return loss;
          // Conservative DPO: −(1−ε)·log σ(βΔ) − ε·log σ(−βΔ)
          return lb.add(lb.scale(loss, 1.0 - smoothing),
                        lb.scale(lb.mean(lb.neg(lb.logSigmoid(lb.neg(z)))),
                                 smoothing));
        }
        // IPO: mean (Δ − 1/(2β))²
        Value d = lb.sub(delta, lb.cstLike(1.0 / (2.0 * beta), delta));
        return lb.mean(lb.mul(d, d));
      }
      case PreferenceLoss::kto: {
        // r = Σm(l − l_ref); z0 = sg(max(0, mean_i Σm(l_mis − l_ref_mis)))
        // loss = mean[y·λD(1 − σ(β(r − z0))) + (1−y)·λU(1 − σ(β(z0 − r)))]
        Value r = logRatioSum(lb, a["l"], a["l_ref"], a["mask"]);
        Value kl = lb.mean(
            logRatioSum(lb, a["l_mis"], a["l_ref_mis"], a["mask_mis"]));
        Value z0 = lb.bcastLike(
            lb.sg(lb.max(kl, lb.cstLike(0.0, kl))), r);
        Value one = lb.cstLike(1.0, r);
        Value y = a["label"];
        Value des = lb.scale(
            lb.sub(one, lb.sigmoid(lb.scale(lb.sub(r, z0), beta))), lambdaD);
        Value und = lb.scale(
            lb.sub(one, lb.sigmoid(lb.scale(lb.sub(z0, r), beta))), lambdaU);
        metrics.push_back({"kl", kl});
        return lb.mean(lb.add(lb.mul(y, des), lb.mul(lb.sub(one, y), und)));
      }
      case PreferenceLoss::orpo: {
        // ORPO: −Σm_w l_w/Σm_w − λ·mean log σ(logodds_w − logodds_l),
        // logodds = x − log(1 − exp(x)), x = seq_mean(l)
        Value xw = lb.seqMean(a["l_chosen"], a["mask_chosen"]);
        Value xl = lb.seqMean(a["l_rejected"], a["mask_rejected"]);
        auto logodds = [&](Value x) {
          return lb.sub(x, lb.log(lb.sub(lb.cstLike(1.0, x), lb.exp(x))));
        };
        Value nll = lb.reduce(ReduceMode::token_mean,
                              lb.neg(a["l_chosen"]), a["mask_chosen"]);
        Value ratio = lb.mean(lb.logSigmoid(lb.sub(logodds(xw), logodds(xl))));
        metrics.push_back({"nll", nll});
        metrics.push_back({"log_odds_ratio", ratio});
        return lb.sub(nll, lb.scale(ratio, beta));
      }
      case PreferenceLoss::simpo: {
        // SimPO: −mean log σ(β·(logπ(y_w)/|y_w| − logπ(y_l)/|y_l|) − γ)
        Value xw = lb.seqMean(a["l_chosen"], a["mask_chosen"]);
        Value xl = lb.seqMean(a["l_rejected"], a["mask_rejected"]);
        Value z = lb.sub(lb.scale(lb.sub(xw, xl), beta),
                         lb.cstLike(gamma, xw));
        return lb.mean(lb.neg(lb.logSigmoid(z)));
      }
      }
      return Value();
    });
    return SmallVector<Value>{train.getResult(0)};
  });
  // The spec's precompute_ref_log_probs: false, for
  // hone-precompute-reference (which sees the loop, not the settings).
  if (!settings.getPrecomputeRefLogProbs())
    forOp->setAttr("hone.precompute_reference", b.getBoolAttr(false));
  op.getResult().replaceAllUsesWith(forOp.getResult(0));
  nameOutputs(op, forOp);
  return success();
}

} // namespace mlir::hone::expand
