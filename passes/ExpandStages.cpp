//===- ExpandStages.cpp - stage ops → loops of step ops -------------------===//
//
// Every method of docs/methods.md is written here once, as step-level dataflow
// plus an objective in the loss algebra. Each objective is commented with
// its formula; docs/methods.md repeats them with the settings they read.
// Settings come from the stage ops' typed attributes (dialect/HoneSettings.td),
// complete after the frontend: nothing here has a default of its own.
//
//===----------------------------------------------------------------------===//

#include "dialect/ObjectiveExpr.h"
#include "passes/LossBuilder.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/TypeSwitch.h"

#include <functional>

namespace mlir::hone {
#define GEN_PASS_DEF_EXPANDSTAGES
#include "passes/Passes.h.inc"
} // namespace mlir::hone

using namespace mlir;
using namespace mlir::hone;

namespace objective = ::hone::objective;

namespace {

/// The guard added to the standard deviation by the normalising advantages
/// (group_norm, global_norm), as TRL's GRPO adds 1e-4 and veRL 1e-6: a
/// numerical constant of the method, not a spec setting.
constexpr double kAdvantageStdEps = 1e-6;

/// The loss masks of data outside SFT stages: preference pairs, KTO rows,
/// RL prompts and hybrids' demonstrations train on completions and
/// assistant turns only, as TRL's DPO, KTO and GRPO trainers do; only an
/// SFT stage lets its spec choose (sft_settings).
constexpr bool kCompletionsOnly = true;

/// Reals of the typed settings (dialect/HoneSettings.td) as doubles.
double d(const APFloat &v) { return v.convertToDouble(); }

//===----------------------------------------------------------------------===//
// A train step under construction
//===----------------------------------------------------------------------===//

/// Collects a train step's models, forward reads and inputs; `build` writes
/// the objective through a callback that receives the block arguments by
/// name.
class TrainStep {
public:
  TrainStep(OpBuilder &b, Location loc, Type elem)
      : b(b), loc(loc), elem(elem) {}

  unsigned model(Value m) {
    models.push_back(m);
    return models.size() - 1;
  }
  /// A forward read of `tokens` by model `reader`; names one block argument
  /// per output (two for logprob+entropy).
  void read(unsigned reader, Value tokens, StringRef what,
            ArrayRef<StringRef> names) {
    readers.push_back(reader);
    tokenBatches.push_back(tokens);
    reads.push_back(what.str());
    auto shape = cast<RankedTensorType>(tokens.getType()).getShape();
    for (StringRef n : names) {
      argNames.push_back(n.str());
      argTypes.push_back(what == "reward"
                             ? RankedTensorType::get({shape[0]}, elem)
                             : RankedTensorType::get(shape, elem));
    }
  }
  void input(Value v, StringRef name) {
    inputs.push_back(v);
    inputNames.push_back(name.str());
  }

  using Metrics = SmallVector<std::pair<std::string, Value>>;
  using Body = function_ref<Value(LossBuilder &, llvm::StringMap<Value> &,
                                  Metrics &)>;

  /// Creates the op; returns it (results: new models, loss, metrics).
  /// `grad_accum` micro-batches are accumulated into each optimiser step
  /// (the op's `mini_batches`); `epochs` passes over the batch (PPO epochs),
  /// each of `updates` optimiser steps on consecutive 1/updates of the rows
  /// (RL `mini_batches`): the objective is written for one of them.
  TrainStepOp build(StringRef kernel, OptimizerAttr optimizer,
                    int64_t gradAccum, Body body, int64_t epochs = 1,
                    int64_t updates = 1) {
    auto region = std::make_unique<Region>();
    Block *block = new Block();
    region->push_back(block);
    SmallVector<std::string> names(argNames);
    names.append(inputNames.begin(), inputNames.end());
    SmallVector<Type> types;
    for (Type t : argTypes)
      types.push_back(TrainStepOp::miniBatchType(t, updates));
    for (Value v : inputs)
      types.push_back(TrainStepOp::miniBatchType(v.getType(), updates));
    llvm::StringMap<Value> args;
    for (auto [n, t] : llvm::zip(names, types))
      args[n] = block->addArgument(t, loc);

    OpBuilder::InsertPoint ip = b.saveInsertionPoint();
    b.setInsertionPointToStart(block);
    LossBuilder lb(b, loc);
    Metrics metrics;
    Value loss = body(lb, args, metrics);
    SmallVector<Value> metricValues;
    SmallVector<Attribute> metricNames;
    for (auto &[n, v] : metrics) {
      metricNames.push_back(b.getStringAttr(n));
      metricValues.push_back(v);
    }
    LossYieldOp::create(b, loc, loss, metricValues, ValueRange{},
                        b.getArrayAttr(metricNames));
    b.restoreInsertionPoint(ip);

    SmallVector<Type> resultTypes;
    for (Value m : models)
      resultTypes.push_back(m.getType());
    resultTypes.push_back(loss.getType());
    for (Value v : metricValues)
      resultTypes.push_back(v.getType());
    SmallVector<Attribute> readAttrs, nameAttrs;
    for (auto &r : reads)
      readAttrs.push_back(b.getStringAttr(r));
    for (auto &n : names)
      nameAttrs.push_back(b.getStringAttr(n));
    auto op = TrainStepOp::create(
        b, loc, resultTypes, models, tokenBatches, inputs,
        b.getDenseI64ArrayAttr(readers), b.getArrayAttr(readAttrs),
        b.getArrayAttr(nameAttrs), b.getStringAttr(kernel),
        b.getI64IntegerAttr(epochs), b.getI64IntegerAttr(gradAccum), optimizer,
        b.getI64IntegerAttr(std::max<int64_t>(1, updates)),
        /*fused_reads=*/nullptr, /*kept_forwards=*/nullptr);
    op.getObjective().takeBody(*region);
    return op;
  }

private:
  OpBuilder &b;
  Location loc;
  Type elem;
  SmallVector<Value> models, tokenBatches, inputs;
  SmallVector<int64_t> readers;
  SmallVector<std::string> reads, argNames, inputNames;
  SmallVector<Type> argTypes;
};

//===----------------------------------------------------------------------===//
// Shared objective pieces
//===----------------------------------------------------------------------===//

/// PPO's clipped surrogate, as a per-token loss:
/// −min(ρ·A, clip(ρ, 1−ε_lo, 1+ε_hi)·A), ρ = exp(l − l_old).
Value clippedPgLoss(LossBuilder &lb, Value l, Value lOld, Value adv,
                    double lo, double hi) {
  Value rho = lb.ratio(l, lOld);
  Value unclipped = lb.mul(rho, adv);
  Value clipped = lb.mul(lb.clamp(rho, 1.0 - lo, 1.0 + hi), adv);
  return lb.neg(lb.min(unclipped, clipped));
}

/// The fraction of response tokens whose objective the clip holds constant
/// (TRL's `clip_ratio`): ρ < 1 − ε with A < 0, or ρ > 1 + ε_high with A > 0.
Value clipRatio(LossBuilder &lb, Value l, Value lOld, Value adv, Value mask,
                double lo, double hi) {
  // One statement per op: the IR's order must not depend on the C++
  // compiler's order of evaluating arguments.
  Value rho = lb.ratio(l, lOld);
  Value zero = lb.cstLike(0.0, l);
  Value below = lb.cmp(CmpPredicate::lt, rho, lb.cstLike(1.0 - lo, l));
  Value negative = lb.cmp(CmpPredicate::lt, adv, zero);
  Value low = lb.mul(below, negative);
  Value above = lb.cmp(CmpPredicate::gt, rho, lb.cstLike(1.0 + hi, l));
  Value positive = lb.cmp(CmpPredicate::gt, adv, zero);
  Value high = lb.mul(above, positive);
  return lb.reduce(ReduceMode::token_mean, lb.add(low, high), mask);
}

/// Sequence log-prob difference Σ_t m (l − l_ref).
Value logRatioSum(LossBuilder &lb, Value l, Value lRef, Value m) {
  return lb.seqSum(lb.sub(l, lRef), m);
}

//===----------------------------------------------------------------------===//
// The expansion
//===----------------------------------------------------------------------===//

struct Expander {
  OpBuilder &b;
  Location loc;
  Type elem;
  int64_t counter = 0;
  std::string pipelineName;

  RankedTensorType f(ArrayRef<int64_t> shape) {
    return RankedTensorType::get(shape, elem);
  }
  RankedTensorType i32(ArrayRef<int64_t> shape) {
    return RankedTensorType::get(shape, b.getI32Type());
  }
  RankedTensorType i64(ArrayRef<int64_t> shape) {
    return RankedTensorType::get(shape, b.getI64Type());
  }
  FloatAttr fa(double v) { return b.getF64FloatAttr(v); }
  IntegerAttr ia(int64_t v) { return b.getI64IntegerAttr(v); }
  /// Every attribute is written: `gamma` and `lambda` are the stage's GAE
  /// settings (read by the gae kind only), `eps` the normalisers' guard.
  Value advantage(AdvantageKind kind, TypeRange types, ValueRange inputs,
                  int64_t g, double gamma, double lambda, unsigned result = 0) {
    const double eps = kAdvantageStdEps;
    return AdvantageOp::create(b, loc, types,
                               AdvantageKindAttr::get(b.getContext(), kind),
                               inputs, ia(g), fa(gamma), fa(lambda), fa(eps))
        .getResult(result);
  }
  Value shape(RewardShaping kind, Type type, Value score, Value mask,
              Value lOld, Value lRef, double coef) {
    return ShapeRewardOp::create(b, loc, type,
                                 RewardShapingAttr::get(b.getContext(), kind),
                                 score, mask, lOld, lRef, fa(coef));
  }
  /// 1 where `x <pred> v`, else 0 (a step op, outside the loss algebra).
  Value indicator(CmpPredicate pred, Value x, double v) {
    return IndicatorOp::create(b, loc, x.getType(),
                               CmpPredicateAttr::get(b.getContext(), pred), x,
                               fa(v));
  }
  Value schedule(ScheduleKind kind, Value step, double start, double end,
                 int64_t warmup, int64_t total) {
    return ScheduleOp::create(b, loc, f({}),
                              ScheduleKindAttr::get(b.getContext(), kind), step,
                              fa(start), fa(end), ia(warmup), ia(total));
  }
  /// The stage's trained states keep their spec names on the loop that
  /// replaces it (`hone.outputs`, read by modelName() in dialect/HoneOps.h).
  void nameOutputs(Operation *stage, Operation *loop) {
    SmallVector<Attribute> outputs;
    for (StringRef key : {"hone.output", "hone.critic_output"})
      if (auto n = stage->getAttrOfType<StringAttr>(key))
        outputs.push_back(n);
    if (!outputs.empty())
      loop->setAttr("hone.outputs", b.getArrayAttr(outputs));
    // The stage's effective settings (its typed attributes), which the
    // lowering hands the runtime at the stage's start for the run's record.
    NamedAttrList settings;
    for (NamedAttribute a : stage->getAttrs())
      if (!a.getName().getValue().starts_with("hone.") &&
          a.getName() != "operandSegmentSizes")
        settings.push_back(a);
    loop->setAttr("hone.stage_settings", settings.getDictionary(b.getContext()));
  }
  std::string kernelName(StringRef method) {
    return (pipelineName + "_" + method + "_" + Twine(counter++)).str();
  }

  /// Offline stages: `batch_size` examples per micro-batch, `grad_accum`
  /// micro-batches per optimiser step.
  int64_t stepBatch(int64_t batchSize, LoopAttr loop) {
    return batchSize * loop.getGradAccum();
  }

  /// scf.for over `steps` carrying `models`; `body` returns the new models.
  scf::ForOp loop(int64_t steps, ValueRange models,
                  function_ref<SmallVector<Value>(Value, ValueRange)> body) {
    Value lb = arith::ConstantIndexOp::create(b, loc, 0);
    Value ub = arith::ConstantIndexOp::create(b, loc, steps);
    Value one = arith::ConstantIndexOp::create(b, loc, 1);
    auto forOp = scf::ForOp::create(
        b, loc, lb, ub, one, models,
        [&](OpBuilder &nb, Location, Value iv, ValueRange iter) {
          SmallVector<Value> next = body(iv, iter);
          scf::YieldOp::create(nb, loc, next);
        });
    return forOp;
  }

  //===--- SFT ------------------------------------------------------------===//

  LogicalResult expand(SftOp op) {
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

  //===--- Reward model ---------------------------------------------------===//

  LogicalResult expand(RewardModelTrainOp op) {
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

  //===--- Preference optimisation ----------------------------------------===//

  LogicalResult expand(PreferenceOp op) {
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
    op.getResult().replaceAllUsesWith(forOp.getResult(0));
    nameOutputs(op, forOp);
    return success();
  }

  //===--- Online RL ------------------------------------------------------===//

  LogicalResult expand(RlOp op);
};

/// An RL stage's settings as the objectives use them (from the typed
/// #hone.rl_settings; the frontend resolved every method-dependent default).
struct RlObjective {
  double eps, epsHigh;      // ratio clipped to [1 − eps, 1 + epsHigh]
  double klInLoss = 0.0;    // β of a KL term in the loss (0: none)
  double klInReward = 0.0;  // β of a KL penalty in the reward
  KlEstimator klEstimator;
  ReduceMode mode = ReduceMode::seq_mean_token_mean;
  std::optional<double> norm; // constant aggregation's normaliser
  double entropyCoef;
  bool scaleRewards;
  bool dynamicSampling;
  // The policy loss (absent attribute: the clip, no corrections).
  PolicyLossKind lossKind = PolicyLossKind::clip;
  double dualClip = 0.0, tisCap = 0.0, tauPos = 1.0, tauNeg = 1.05;

  RlObjective(RlSettingsAttr rs, double klCoef, int64_t B, int64_t maxNew,
              PolicyLossAttr pl = {})
      : eps(d(rs.getEpsilon())), epsHigh(d(rs.getEpsilonHigh())),
        klEstimator(rs.getKlEstimator()),
        entropyCoef(d(rs.getEntropyCoef())),
        scaleRewards(rs.getScaleRewards()),
        dynamicSampling(rs.getDynamicSampling()) {
    if (pl) {
      lossKind = pl.getKind();
      dualClip = d(pl.getDualClip());
      tisCap = d(pl.getTisCap());
      tauPos = d(pl.getTauPos());
      tauNeg = d(pl.getTauNeg());
    }
    (rs.getKlPlacement() == KlPlacement::in_loss ? klInLoss : klInReward) =
        klCoef;
    switch (rs.getAggregation()) {
    case Aggregation::token_mean:
      mode = ReduceMode::token_mean;
      break;
    case Aggregation::constant:
      // Dr. GRPO: the sum over tokens / (batch · max_new_tokens).
      mode = ReduceMode::constant;
      norm = double(B * maxNew);
      break;
    case Aggregation::sequence_mean:
      mode = ReduceMode::seq_mean_token_mean;
      break;
    }
  }
};

/// Dual clip and truncated importance sampling on a per-token policy loss
/// (docs/methods.md). Reads `adv` as given ([B,T]) and, with TIS,
/// `l_old` (the trainer's log-probs) and `l_rollout` (the generator's).
Value correctPolicyLoss(LossBuilder &lb, const RlObjective &rs,
                        llvm::StringMap<Value> &a, Value adv, Value perToken,
                        Value m, TrainStep::Metrics &metrics) {
  if (rs.dualClip > 0.0) {
    // Dual-clip PPO: where A < 0, min(loss, −c·A).
    Value zero = lb.cstLike(0.0, adv);
    Value negative = lb.cmp(CmpPredicate::lt, adv, zero);
    Value scaled = lb.scale(adv, rs.dualClip);
    Value bound = lb.neg(scaled);
    Value capped = lb.min(perToken, bound);
    perToken = lb.select(negative, capped, perToken);
  }
  if (rs.tisCap > 0.0 && a.count("l_rollout")) {
    // TIS: × sg(min(exp(l_old − l_rollout), C)).
    Value w = lb.ratio(a["l_old"], a["l_rollout"]);
    Value capped = lb.clamp(w, std::nullopt, rs.tisCap);
    Value weight = lb.sg(capped);
    perToken = lb.mul(perToken, weight);
    metrics.push_back(
        {"tis_weight", lb.reduce(ReduceMode::token_mean, weight, m)});
  }
  return perToken;
}

/// −min(s·A, clip(s, 1 − ε, 1 + ε_high)·A) for any ratio s.
Value clippedSurrogate(LossBuilder &lb, Value s, Value adv, double lo,
                       double hi) {
  Value unclipped = lb.mul(s, adv);
  Value bounded = lb.clamp(s, 1.0 - lo, 1.0 + hi);
  Value clipped = lb.mul(bounded, adv);
  Value best = lb.min(unclipped, clipped);
  return lb.neg(best);
}

/// The per-token policy loss of a critic-free group algorithm for each
/// PolicyLossKind (docs/methods.md has the formulas and their sources).
/// `advSeq` is the per-sequence advantage [B].
Value policyLoss(LossBuilder &lb, const RlObjective &rs,
                 llvm::StringMap<Value> &a, Value adv,
                 TrainStep::Metrics &metrics) {
  Value l = a["l"], lOld = a["l_old"], m = a["mask"], advSeq = a["adv"];
  switch (rs.lossKind) {
  case PolicyLossKind::clip:
    break;
  case PolicyLossKind::gspo:
  case PolicyLossKind::gspo_token: {
    // s_i = exp((1/|y_i|) Σ_t m (l − l_old)), clipped per sequence.
    Value diff = lb.sub(l, lOld);
    Value logS = lb.seqMean(diff, m);
    Value s = lb.exp(logS);
    Value logSTok = lb.bcastLike(logS, l);
    Value zeros = lb.cstLike(0.0, l);
    metrics.push_back({"clip_ratio", clipRatio(lb, logSTok, zeros, adv, m,
                                               rs.eps, rs.epsHigh)});
    if (rs.lossKind == PolicyLossKind::gspo) {
      Value perSeq = clippedSurrogate(lb, s, advSeq, rs.eps, rs.epsHigh);
      return lb.bcastLike(perSeq, l);
    }
    // GSPO-token: s_it = sg(s_i)·exp(l − sg(l)), the value of s_i with
    // each token's own gradient.
    Value frozen = lb.sg(s);
    Value frozenTok = lb.bcastLike(frozen, l);
    Value lFrozen = lb.sg(l);
    Value own = lb.sub(l, lFrozen);
    Value unit = lb.exp(own);
    Value sTok = lb.mul(frozenTok, unit);
    return clippedSurrogate(lb, sTok, adv, rs.eps, rs.epsHigh);
  }
  case PolicyLossKind::cispo: {
    // −sg(min(ρ, 1 + ε_high))·A·l
    Value rho = lb.ratio(l, lOld);
    Value capped = lb.clamp(rho, std::nullopt, 1.0 + rs.epsHigh);
    Value w = lb.sg(capped);
    Value above = lb.cmp(CmpPredicate::gt, rho, lb.cstLike(1.0 + rs.epsHigh, l));
    metrics.push_back(
        {"clip_ratio", lb.reduce(ReduceMode::token_mean, above, m)});
    Value wa = lb.mul(w, adv);
    Value obj = lb.mul(wa, l);
    Value perToken = lb.neg(obj);
    return correctPolicyLoss(lb, rs, a, adv, perToken, m, metrics);
  }
  case PolicyLossKind::sapo: {
    // −(4/τ)·σ(τ(ρ − 1))·A, τ = τ_pos where A > 0, else τ_neg.
    Value rho = lb.ratio(l, lOld);
    Value one = lb.cstLike(1.0, rho);
    Value x = lb.sub(rho, one);
    Value xPos = lb.scale(x, rs.tauPos);
    Value sPos = lb.sigmoid(xPos);
    Value gPos = lb.scale(sPos, 4.0 / rs.tauPos);
    Value xNeg = lb.scale(x, rs.tauNeg);
    Value sNeg = lb.sigmoid(xNeg);
    Value gNeg = lb.scale(sNeg, 4.0 / rs.tauNeg);
    Value zero = lb.cstLike(0.0, adv);
    Value positive = lb.cmp(CmpPredicate::gt, adv, zero);
    Value gate = lb.select(positive, gPos, gNeg);
    Value obj = lb.mul(gate, adv);
    Value perToken = lb.neg(obj);
    return correctPolicyLoss(lb, rs, a, adv, perToken, m, metrics);
  }
  }
  // −min(ρA, clip(ρ, 1 − ε, 1 + ε_high)A)
  Value perToken = clippedPgLoss(lb, l, lOld, adv, rs.eps, rs.epsHigh);
  metrics.push_back(
      {"clip_ratio", clipRatio(lb, l, lOld, adv, m, rs.eps, rs.epsHigh)});
  return correctPolicyLoss(lb, rs, a, adv, perToken, m, metrics);
}

/// A user-written objective (dialect/ObjectiveExpr.h) in the loss algebra:
/// each node once (bindings are shared), one statement per op.
Value buildObjective(LossBuilder &lb, const objective::Program &prog,
                     llvm::StringMap<Value> &a, int64_t group) {
  using objective::Fn;
  using objective::Node;
  Value l = a["l"], m = a["mask"];
  std::vector<Value> built(prog.nodes.size());
  Type scalarT = lb.scalarType(l);
  std::function<Value(int)> emit = [&](int id) -> Value {
    if (built[id])
      return built[id];
    const Node &n = prog.nodes[id];
    Value v;
    auto operand = [&](int k) { return emit(n.args[k]); };
    // Constants take the type of the value they meet (a splat).
    auto pair = [&](Value &x, Value &y) {
      const Node &nx = prog.nodes[n.args[0]], &ny = prog.nodes[n.args[1]];
      if (nx.constant && !ny.constant) {
        y = operand(1);
        x = lb.cstLike(nx.value, y);
      } else if (ny.constant && !nx.constant) {
        x = operand(0);
        y = lb.cstLike(ny.value, x);
      } else {
        x = operand(0);
        y = operand(1);
        if (LossBuilder::typeOf(x).getRank() < LossBuilder::typeOf(y).getRank())
          x = lb.bcastLike(x, y);
        else if (LossBuilder::typeOf(y).getRank() <
                 LossBuilder::typeOf(x).getRank())
          y = lb.bcastLike(y, x);
      }
    };
    Value x, y;
    if (n.constant) {
      v = lb.cst(n.value, scalarT);
    } else {
      switch (n.kind) {
      case Node::number:
      case Node::setting:
        v = lb.cst(n.value, scalarT);
        break;
      case Node::quantity: {
        const char *arg = "";
        for (auto &q : objective::quantities())
          if (n.name == q.name)
            arg = q.arg;
        v = a[arg];
        break;
      }
      case Node::neg:
        v = lb.neg(operand(0));
        break;
      case Node::add:
      case Node::sub:
      case Node::mul:
      case Node::div:
        pair(x, y);
        v = n.kind == Node::add   ? lb.add(x, y)
            : n.kind == Node::sub ? lb.sub(x, y)
            : n.kind == Node::mul ? lb.mul(x, y)
                                  : lb.div(x, y);
        break;
      case Node::call:
        switch (n.fn) {
        case Fn::exp: v = lb.exp(operand(0)); break;
        case Fn::log: v = lb.log(operand(0)); break;
        case Fn::sigmoid: v = lb.sigmoid(operand(0)); break;
        case Fn::log_sigmoid: v = lb.logSigmoid(operand(0)); break;
        case Fn::sqrt: v = lb.sqrt(operand(0)); break;
        case Fn::sg: v = lb.sg(operand(0)); break;
        case Fn::min:
        case Fn::max:
          pair(x, y);
          v = n.fn == Fn::min ? lb.min(x, y) : lb.max(x, y);
          break;
        case Fn::clip:
          v = lb.clamp(operand(0), prog.nodes[n.args[1]].value,
                       prog.nodes[n.args[2]].value);
          break;
        case Fn::token_mean:
          v = lb.reduce(ReduceMode::token_mean, operand(0), m);
          break;
        case Fn::token_sum: {
          Value masked = lb.mul(operand(0), m);
          v = lb.sum(masked);
          break;
        }
        case Fn::seq_mean: v = lb.seqMean(operand(0), m); break;
        case Fn::seq_sum: v = lb.seqSum(operand(0), m); break;
        case Fn::mean: v = lb.mean(operand(0)); break;
        case Fn::sum: v = lb.sum(operand(0)); break;
        case Fn::group_mean: v = lb.groupMean(operand(0), group); break;
        case Fn::per_token: v = lb.bcastLike(operand(0), l); break;
        }
        break;
      }
    }
    built[id] = v;
    return v;
  };
  return emit(prog.root);
}

/// The per-token policy loss of a critic-free algorithm. Reads `l`, `mask`,
/// `l_old`, `adv` ([B] or [B,T]) and, with a KL term, `l_ref`; RLOO and ReMax
/// are REINFORCE over sequence log-prob sums, the others the clipped ratio.
Value rlPerTokenLoss(LossBuilder &lb, RlAlgorithm alg, const RlObjective &rs,
                     llvm::StringMap<Value> &a, TrainStep::Metrics &metrics,
                     ReduceMode &mode) {
  Value l = a["l"], m = a["mask"];
  Value adv = lb.bcastLike(a["adv"], l);
  mode = rs.mode;
  if (alg == RlAlgorithm::rloo || alg == RlAlgorithm::remax) {
    // REINFORCE: −(1/B) Σ_i A_i Σ_t m l. With rollouts generated ahead
    // (staleness > 0, hone-pipeline-rollouts) the samples come from the
    // behaviour policy, and the gradient is importance-weighted:
    // −(1/B) Σ_i A_i Σ_t m ρ_t, ρ = exp(l − l_old), whose gradient is
    // ρ·A·∇l (no clip: REINFORCE has none; ρ = 1 on-policy).
    mode = ReduceMode::seq_mean_token_sum;
    if (a.count("l_old"))
      return lb.neg(lb.mul(adv, lb.ratio(l, a["l_old"])));
    return lb.neg(lb.mul(adv, l));
  }
  // The policy loss [+ β·KL(l, l_ref)]
  Value perToken;
  if (alg == RlAlgorithm::reinforce_pp) {
    // Per-token advantages: the clip, with its corrections.
    perToken = clippedPgLoss(lb, l, a["l_old"], adv, rs.eps, rs.epsHigh);
    metrics.push_back({"clip_ratio", clipRatio(lb, l, a["l_old"], adv, m,
                                               rs.eps, rs.epsHigh)});
    perToken = correctPolicyLoss(lb, rs, a, adv, perToken, m, metrics);
  } else {
    perToken = policyLoss(lb, rs, a, adv, metrics);
  }
  if (rs.klInLoss > 0.0 && a.count("l_ref")) {
    Value kl = lb.kl(rs.klEstimator, l, a["l_ref"]);
    metrics.push_back({"kl", lb.reduce(ReduceMode::token_mean, kl, m)});
    perToken = lb.add(perToken, lb.scale(kl, rs.klInLoss));
  }
  return perToken;
}

LogicalResult Expander::expand(RlOp op) {
  RlSettingsAttr settings = op.getSettings();
  GenerationAttr gen0 = op.getGeneration();
  RlAlgorithm alg = op.getAlgorithm();
  std::optional<Hybrid> hybrid = op.getHybrid();
  Attribute guide = op.getGuidanceAttr();
  // Sequences hold the prompt (left-padded to max_prompt_length) and at most
  // max_new_tokens completion tokens.
  int64_t B = op.getBatchSize(),
          maxT = cast<ModelType>(op.getPolicy().getType()).getArch().getMaxSeq();
  int64_t G = op.getGroupSize(), P = B / G;
  int64_t Tp = std::min(settings.getMaxPromptLength(), maxT - 1);
  int64_t T = std::min(maxT, Tp + gen0.getMaxNewTokens());
  double klCoef = op.getKlCoef().convertToDouble();
  // A sample is correct (group accuracy, SRFT) when its score exceeds this.
  double threshold = 0.5;
  bool isPpo = alg == RlAlgorithm::ppo;
  int64_t epochs = settings.getPpoEpochs();
  // Optimiser steps per pass, each on 1/updates of the rows.
  int64_t updates = settings.getMiniBatches();
  int64_t gradAccum = settings.getGradAccum();
  // The objective sees one mini-batch (constant aggregation: its rows).
  PolicyLossAttr policyLossAttr = op.getPolicyLossAttr();
  RlObjective rs(settings, klCoef, B / updates, T - Tp, policyLossAttr);
  if (policyLossAttr) {
    // The spec checker reports these at the spec's fields; here for IR
    // written by hand.
    bool grpoFamily = alg == RlAlgorithm::grpo || alg == RlAlgorithm::dapo ||
                      alg == RlAlgorithm::dr_grpo;
    if (alg == RlAlgorithm::rloo || alg == RlAlgorithm::remax)
      return op.emitOpError("policy_loss changes the importance ratio, which ")
             << stringifyRlAlgorithm(alg) << " (REINFORCE) has none";
    if (rs.lossKind != PolicyLossKind::clip && !grpoFamily)
      return op.emitOpError("policy_loss ")
             << stringifyPolicyLossKind(rs.lossKind)
             << " needs one advantage per sequence (grpo, dr_grpo, dapo)";
    if (rs.dualClip > 0.0 && rs.lossKind != PolicyLossKind::clip)
      return op.emitOpError("dual_clip bounds the clipped surrogate; kind is ")
             << stringifyPolicyLossKind(rs.lossKind);
    if (hybrid == Hybrid::luffy || hybrid == Hybrid::srft)
      return op.emitOpError("the ")
             << stringifyHybrid(*hybrid)
             << " hybrid has an objective of its own; policy_loss would not "
                "change it";
  }
  double temperature = d(gen0.getTemperature());
  // Generation also ends after any of these strings (none: null).
  ArrayAttr stopStrings = gen0.getStop();
  if (stopStrings && stopStrings.empty())
    stopStrings = ArrayAttr();
  if (hybrid && (isPpo || alg == RlAlgorithm::reinforce_pp ||
                 alg == RlAlgorithm::remax))
    return op.emitOpError("the ")
           << stringifyHybrid(*hybrid)
           << " hybrid is expanded on a group-based algorithm (grpo, "
              "dr_grpo, dapo, rloo); got "
           << stringifyRlAlgorithm(alg);
  if (hybrid && G < 2)
    return op.emitOpError("hybrids compare samples of one prompt: "
                          "group_size must be at least 2");
  if (hybrid && rs.dynamicSampling)
    return op.emitOpError("dynamic sampling drops groups, which the ")
           << stringifyHybrid(*hybrid)
           << " hybrid's demonstrations cannot follow; set dynamic_sampling: "
              "false";
  // A user-written objective replaces the policy loss, the KL term, the
  // entropy bonus and the aggregation.
  std::optional<objective::Program> userObjective;
  if (StringAttr expr = op.getObjectiveAttr()) {
    bool grpoFamily = isGrpoFamily(alg);
    if (!grpoFamily || hybrid || policyLossAttr)
      return op.emitOpError("an objective runs on grpo, dr_grpo or dapo "
                            "stages without a hybrid or a policy_loss");
    objective::Settings st;
    st.values = {{"epsilon", rs.eps},
                 {"epsilon_high", rs.epsHigh},
                 {"beta", klCoef}};
    st.hasReference = op.getRef() && klCoef > 0.0;
    objective::Error err;
    userObjective = objective::parseObjective(expr.getValue(), st, err);
    if (!userObjective)
      return op.emitOpError("objective, at character ")
             << err.pos << ": " << err.message << " (" << err.hint << ")";
  }
  std::string method = stringifyRlAlgorithm(alg).str();
  if (userObjective)
    method += "_objective";
  if (rs.lossKind != PolicyLossKind::clip)
    method += "_" + stringifyPolicyLossKind(rs.lossKind).str();
  if (hybrid)
    method += std::string("_") + stringifyHybrid(*hybrid).str();
  std::string kernel = kernelName(method);
  std::string sftKernel = hybrid == Hybrid::relift ? kernelName("relift_sft")
                                                   : std::string();

  SmallVector<Value> carried{op.getPolicy()};
  if (isPpo)
    carried.push_back(op.getCritic());
  Value buffer;
  // ReLIFT: `buffer_size` unsolved prompts trigger `sft_steps` SFT steps on
  // their demonstrations.
  int64_t reliftBatch = 0;
  if (auto relift = dyn_cast_or_null<ReliftAttr>(guide))
    reliftBatch = relift.getBufferSize();
  if (hybrid == Hybrid::relift) {
    buffer = BufferInitOp::create(
        b, loc,
        BufferType::get(b.getContext(), std::max(4 * reliftBatch, 4 * P)));
    carried.push_back(buffer);
  }
  Value demos = op.getDemos();

  auto forOp = loop(op.getSteps(), carried, [&](Value step, ValueRange it) {
    Value policy = it[0];
    // Prompts, over-sampled for dynamic sampling (DAPO): the rounds of
    // max_resample_rounds drawn and generated at once.
    int64_t over =
        rs.dynamicSampling
            ? 1 + settings.getMaxResampleRounds()
            : 1;
    int64_t Pg = P * over, Bg = B * over;
    auto prompts = DataNextOp::create(
        b, loc, TypeRange{i32({Pg, Tp}), f({Pg, Tp}), i64({Pg})},
        DataPart::prompts, op.getPrompts(), step,
          kCompletionsOnly, kCompletionsOnly);
    Value ptok = prompts.getResult(0), pmask = prompts.getResult(1),
          pids = prompts.getResult(2);
    // Demonstrations of these prompts (hybrids).
    Value dtok, dmask;
    if (demos) {
      // Whole demonstrations: prompt and solution, up to the model's length.
      auto fetch = DataFetchOp::create(b, loc, i32({P, maxT}), f({P, maxT}),
                                       demos, pids, kCompletionsOnly,
                                       kCompletionsOnly);
      dtok = fetch.getTokens();
      dmask = fetch.getMask();
    }
    // Generation.
    Value hintLen;
    if (hybrid == Hybrid::uft) {
      // UFT: the hinted fraction of the solution, annealed to 0.
      ScheduleAttr h = cast<UftAttr>(guide).getHintFraction();
      hintLen = schedule(h.getShape(), step, d(h.getStart()), d(h.getEnd()),
                         h.getWarmupSteps(), h.getSteps());
    }
    SmallVector<Type> genTypes{i32({Bg, T}), f({Bg, T}), f({Bg, T})};
    int64_t offPolicy = 0;
    if (auto luffy = dyn_cast_or_null<LuffyAttr>(guide))
      offPolicy = luffy.getOffPolicyPerGroup();
    if (offPolicy)
      genTypes.push_back(f({Bg}));
    if (hintLen)
      genTypes.push_back(f({Bg, T}));
    bool withDemosInGen = offPolicy > 0 || hintLen;
    auto gen = GenerateOp::create(
        b, loc, genTypes, policy, ptok, pmask, step,
        withDemosInGen ? dtok : Value(), withDemosInGen ? dmask : Value(),
        hintLen, b.getI64IntegerAttr(G),
        b.getF64FloatAttr(temperature > 0 ? temperature : 1.0),
        b.getI64IntegerAttr(gen0.getTopK()), b.getF64FloatAttr(d(gen0.getTopP())),
        b.getBoolAttr(temperature <= 0), b.getI64IntegerAttr(offPolicy),
        b.getBoolAttr(bool(hintLen)),
        b.getBoolAttr(settings.getMaskTruncated()), stopStrings);
    Value tok = gen.getResult(0), mask = gen.getResult(1),
          lOld = gen.getResult(2);
    Value offFlag = offPolicy ? gen.getResult(3) : Value();
    Value hintMask = hintLen ? gen.getResults().back() : Value();
    Value scores = ScoreOp::create(b, loc, f({Bg}), op.getReward(), tok, mask,
                                   pids)
                       .getResult();
    // DAPO: keep groups whose samples disagree.
    Value valid;
    if (rs.dynamicSampling) {
      auto filter = GroupFilterOp::create(
          b, loc,
          TypeRange{i32({B, T}), f({B, T}), f({B, T}), f({B}), f({B})},
          scores, ValueRange{tok, mask, lOld, scores}, ia(G), fa(threshold));
      tok = filter.getResult(0);
      mask = filter.getResult(1);
      lOld = filter.getResult(2);
      scores = filter.getResult(3);
      valid = filter.getResult(4);
    }
    // Truncated importance sampling: the ratio's l_old is the policy's own
    // log-probs, taken again; the generator's weigh each token.
    Value lRollout;
    if (rs.tisCap > 0.0) {
      lRollout = lOld;
      lOld = LogprobOp::create(b, loc, TypeRange{f({B, T})}, policy, tok,
                               nullptr)
                 .getResult(0);
    }
    Value lRef;
    if (op.getRef() && (klCoef > 0.0 || isPpo)) {
      auto ref = LogprobOp::create(b, loc, TypeRange{f({B, T})}, op.getRef(),
                                   tok, nullptr);
      lRef = ref.getResult(0);
    }

    TrainStep ts(b, loc, elem);
    unsigned pol = ts.model(policy);
    SmallVector<Value> next;

    if (isPpo) {
      // PPO: GAE over token rewards (the KL penalty in the reward unless
      // kl_placement is in_loss).
      Value critic = it[1];
      bool klInLoss = rs.klInLoss > 0.0;
      Value vOld = ValueOp::create(b, loc, f({B, T}), critic, tok, Value());
      Value zeros = lRef ? lRef : lOld;
      Value rTok = shape(RewardShaping::token_kl, f({B, T}), scores, mask,
                         lOld, zeros, rs.klInReward);
      auto gae = AdvantageOp::create(
          b, loc, TypeRange{f({B, T}), f({B, T})},
          AdvantageKindAttr::get(b.getContext(), AdvantageKind::gae),
          ValueRange{rTok, mask, vOld}, ia(1), fa(d(settings.getGamma())),
          fa(d(settings.getLam())), fa(kAdvantageStdEps));
      unsigned cri = ts.model(critic);
      ts.read(pol, tok, "logprob+entropy", {"l", "entropy"});
      ts.read(cri, tok, "value", {"v"});
      ts.input(mask, "mask");
      ts.input(lOld, "l_old");
      ts.input(gae.getResult(0), "adv");
      ts.input(gae.getResult(1), "returns");
      ts.input(vOld, "v_old");
      if (klInLoss && lRef)
        ts.input(lRef, "l_ref");
      if (lRollout)
        ts.input(lRollout, "l_rollout");
      double epsV = d(settings.getValueClip());
      double vf = d(settings.getVfCoef()), ent = rs.entropyCoef;
      auto train = ts.build(
          kernel, op.getOptimizer(), gradAccum,
          [&](LossBuilder &lb, auto &a, auto &metrics) -> Value {
            Value m = a["mask"];
            // policy: −min(ρA, clip(ρ, 1−ε, 1+ε)A), token mean
            Value pgTok = clippedPgLoss(lb, a["l"], a["l_old"], a["adv"],
                                        rs.eps, rs.epsHigh);
            pgTok = correctPolicyLoss(lb, rs, a, a["adv"], pgTok, m, metrics);
            Value pg = lb.reduce(ReduceMode::token_mean, pgTok, m);
            // value: ½·max((V − R)², (V_old + clip(V − V_old, ±ε_v) − R)²)
            Value v = a["v"], R = a["returns"], vo = a["v_old"];
            Value vClip = lb.add(vo, lb.clamp(lb.sub(v, vo), -epsV, epsV));
            Value e1 = lb.sub(v, R), e2 = lb.sub(vClip, R);
            Value vl = lb.scale(
                lb.reduce(ReduceMode::token_mean,
                          lb.max(lb.mul(e1, e1), lb.mul(e2, e2)), m),
                0.5);
            Value entropy =
                lb.reduce(ReduceMode::token_mean, a["entropy"], m);
            metrics.push_back({"pg_loss", pg});
            metrics.push_back({"clip_ratio",
                               clipRatio(lb, a["l"], a["l_old"],
                                         lb.bcastLike(a["adv"], a["l"]), m,
                                         rs.eps, rs.epsHigh)});
            metrics.push_back({"vf_loss", vl});
            metrics.push_back({"entropy", entropy});
            Value loss = lb.add(pg, lb.scale(vl, vf));
            if (ent != 0.0)
              loss = lb.sub(loss, lb.scale(entropy, ent));
            if (a.count("l_ref")) {
              Value kl = lb.reduce(ReduceMode::token_mean,
                                   lb.kl(rs.klEstimator, a["l"], a["l_ref"]),
                                   m);
              metrics.push_back({"kl", kl});
              loss = lb.add(loss, lb.scale(kl, rs.klInLoss));
            }
            return loss;
          },
          epochs, updates);
      next = {train.getResult(0), train.getResult(1)};
      SyncWeightsOp::create(b, loc, next[0]);
      return next;
    }

    // Critic-free advantages; a KL penalty placed in the reward shapes the
    // scores first (k1 summed over the sequence, or per token).
    Value adv;
    Value shaped = scores;
    if (rs.klInReward > 0.0 && lRef && alg != RlAlgorithm::reinforce_pp)
      shaped = shape(RewardShaping::seq_kl, f({B}), scores, mask, lOld, lRef,
                     rs.klInReward);
    const double gamma = d(settings.getGamma()), lam = d(settings.getLam());
    switch (alg) {
    case RlAlgorithm::grpo:
    case RlAlgorithm::dapo:
    case RlAlgorithm::dr_grpo:
      adv = rs.scaleRewards
                ? advantage(AdvantageKind::group_norm, f({B}), shaped, G, gamma,
                            lam)
                : advantage(AdvantageKind::group_center, f({B}), shaped, G,
                            gamma, lam);
      break;
    case RlAlgorithm::rloo:
      adv = advantage(AdvantageKind::leave_one_out, f({B}), shaped, G, gamma,
                      lam);
      break;
    case RlAlgorithm::reinforce_pp: {
      Value rTok = shape(RewardShaping::token_kl, f({B, T}), scores, mask,
                         lOld, lRef ? lRef : lOld, rs.klInReward);
      adv = advantage(AdvantageKind::global_norm, f({B, T}),
                      ValueRange{rTok, mask}, 1, gamma, lam);
      break;
    }
    case RlAlgorithm::remax: {
      auto greedy = GenerateOp::create(
          b, loc, TypeRange{i32({B, T}), f({B, T}), f({B, T})}, policy, ptok,
          pmask, step, Value(), Value(), Value(), b.getI64IntegerAttr(G),
          b.getF64FloatAttr(1.0), b.getI64IntegerAttr(0),
          b.getF64FloatAttr(1.0), b.getBoolAttr(true), b.getI64IntegerAttr(0),
          b.getBoolAttr(false), b.getBoolAttr(false), stopStrings);
      Value gScores = ScoreOp::create(b, loc, f({B}), op.getReward(),
                                      greedy.getResult(0),
                                      greedy.getResult(1), pids);
      adv = advantage(AdvantageKind::greedy_baseline, f({B}),
                      ValueRange{shaped, gScores}, 1, gamma, lam);
      break;
    }
    default:
      break;
    }

    bool srft = hybrid == Hybrid::srft;
    bool withEntropy = srft || rs.entropyCoef != 0.0 ||
                       (userObjective && userObjective->uses("entropy"));
    ts.read(pol, tok, withEntropy ? "logprob+entropy" : "logprob",
            withEntropy ? ArrayRef<StringRef>{"l", "entropy"}
                        : ArrayRef<StringRef>{"l"});
    bool demoRead = hybrid == Hybrid::chord || hybrid == Hybrid::hpt ||
                    hybrid == Hybrid::srft;
    if (demoRead)
      ts.read(pol, dtok, srft ? "logprob+entropy" : "logprob",
              srft ? ArrayRef<StringRef>{"l_demo", "entropy_demo"}
                   : ArrayRef<StringRef>{"l_demo"});
    ts.input(mask, "mask");
    // REINFORCE (rloo, remax) reads the behaviour log-probs only when its
    // rollouts are generated ahead (rlPerTokenLoss) or a hybrid's objective
    // takes the ratio (LUFFY's on-policy tokens, SRFT's incorrect samples).
    if ((alg != RlAlgorithm::rloo && alg != RlAlgorithm::remax) ||
        settings.getStaleness() > 0 || hybrid == Hybrid::luffy ||
        hybrid == Hybrid::srft)
      ts.input(lOld, "l_old");
    ts.input(adv, "adv");
    // LUFFY and SRFT have objectives of their own without a KL term.
    bool klTerm = rs.klInLoss > 0.0 && lRef && alg != RlAlgorithm::rloo &&
                  alg != RlAlgorithm::remax && hybrid != Hybrid::luffy &&
                  !srft;
    bool objectiveRef = userObjective && userObjective->uses("ref_logprob");
    if ((klTerm || objectiveRef) && lRef)
      ts.input(lRef, "l_ref");
    if (userObjective && userObjective->uses("reward"))
      ts.input(scores, "reward");
    if (valid)
      ts.input(valid, "valid");
    if (lRollout)
      ts.input(lRollout, "l_rollout");
    if (demoRead)
      ts.input(dmask, "mask_demo");
    Value mu;
    if (hybrid == Hybrid::chord) {
      ScheduleAttr m = cast<ChordAttr>(guide).getMu();
      mu = schedule(m.getShape(), step, d(m.getStart()), d(m.getEnd()),
                    m.getWarmupSteps(), m.getSteps());
      ts.input(mu, "mu");
    }
    if (offFlag)
      ts.input(offFlag, "off_policy");
    if (hintMask)
      ts.input(hintMask, "mask_hint");
    Value accP, accS;
    if (hybrid == Hybrid::hpt || hybrid == Hybrid::relift ||
        hybrid == Hybrid::srft) {
      auto acc = GroupAccuracyOp::create(b, loc, f({P}), f({B}), scores,
                                         ia(G), fa(threshold));
      accP = acc.getPerPrompt();
      accS = acc.getPerSample();
    }
    if (hybrid == Hybrid::hpt) {
      // Per prompt: RL if accuracy > γ, else SFT on its demonstration.
      double g = d(cast<HptAttr>(guide).getThreshold());
      ts.input(indicator(CmpPredicate::gt, accS, g), "use_rl");
      ts.input(indicator(CmpPredicate::le, accP, g), "use_sft");
    }
    if (srft)
      ts.input(indicator(CmpPredicate::gt, scores, threshold), "correct");

    auto chord = dyn_cast_or_null<ChordAttr>(guide);
    auto luffy = dyn_cast_or_null<LuffyAttr>(guide);
    auto uft = dyn_cast_or_null<UftAttr>(guide);
    auto srftSettings = dyn_cast_or_null<SrftAttr>(guide);
    bool phi = chord && chord.getTokenWeighting();
    double luffyGamma = luffy ? d(luffy.getShapingGamma()) : 0.0;
    double hintCoef = uft ? d(uft.getSftCoef()) : 0.0;
    double srftSft = srftSettings ? d(srftSettings.getSftCoef()) : 0.0,
           srftPos = srftSettings ? d(srftSettings.getPositiveCoef()) : 0.0;
    auto train = ts.build(kernel, op.getOptimizer(), gradAccum,
                          [&](LossBuilder &lb, auto &a,
                                          auto &metrics) -> Value {
      if (a.count("valid"))
        a["mask"] = lb.mul(a["mask"], lb.bcastLike(a["valid"], a["mask"]));
      if (userObjective)
        return buildObjective(lb, *userObjective, a, G);
      Value l = a["l"], m = a["mask"];
      Value perToken;
      ReduceMode mode;
      std::optional<double> norm;
      if (hybrid == Hybrid::luffy) {
        // LUFFY: on-policy tokens clipped ρA; off-policy tokens
        // p/(p + γ)·A (no clip); token mean, no KL.
        Value adv = lb.bcastLike(a["adv"], l);
        Value onp = clippedPgLoss(lb, l, a["l_old"], adv, rs.eps, rs.epsHigh);
        Value p = lb.exp(l);
        Value shaped = lb.div(p, lb.add(p, lb.cstLike(luffyGamma, p)));
        Value offp = lb.neg(lb.mul(shaped, adv));
        perToken = lb.select(lb.bcastLike(a["off_policy"], l), offp, onp);
        return lb.reduce(ReduceMode::token_mean, perToken, m);
      }
      if (srft) {
        // SRFT: demos −srft_sft·sg(exp(−H_d))·l_d − exp(l_d) (off-policy
        // RL, A = 1, behaviour prob 1); correct samples
        // −srft_pos·sg(exp(H))·l; incorrect samples advantage −1: +ρ.
        Value md = a["mask_demo"], ld = a["l_demo"];
        Value hd = lb.sg(lb.reduce(ReduceMode::token_mean, a["entropy_demo"], md));
        Value hs = lb.sg(lb.reduce(ReduceMode::token_mean, a["entropy"], m));
        Value wd = lb.scale(lb.exp(lb.neg(hd)), srftSft);
        Value demoTok = lb.add(lb.mul(lb.bcastLike(wd, ld), lb.neg(ld)),
                               lb.neg(lb.exp(ld)));
        Value demoLoss = lb.reduce(ReduceMode::token_mean, demoTok, md);
        Value wp = lb.scale(lb.exp(hs), srftPos);
        Value pos = lb.mul(lb.bcastLike(wp, l), lb.neg(l));
        Value negt = lb.ratio(l, a["l_old"]);
        Value selfTok = lb.select(lb.bcastLike(a["correct"], l), pos, negt);
        Value selfLoss = lb.reduce(ReduceMode::token_mean, selfTok, m);
        metrics.push_back({"sft_loss", demoLoss});
        metrics.push_back({"entropy", hs});
        return lb.add(demoLoss, selfLoss);
      }
      perToken = rlPerTokenLoss(lb, alg, rs, a, metrics, mode);
      norm = rs.norm;
      if (hybrid == Hybrid::hpt) {
        // HPT: L = RL over prompts with accuracy > γ + SFT over the others.
        Value mRl = lb.mul(m, lb.bcastLike(a["use_rl"], m));
        Value md = lb.mul(a["mask_demo"],
                          lb.bcastLike(a["use_sft"], a["mask_demo"]));
        Value rl = lb.reduce(mode, perToken, mRl, norm);
        Value sft = lb.reduce(ReduceMode::token_mean, lb.neg(a["l_demo"]), md);
        metrics.push_back({"sft_loss", sft});
        return lb.add(rl, sft);
      }
      Value rl = lb.reduce(mode, perToken, m, norm);
      if (hybrid == Hybrid::chord) {
        // CHORD: (1 − μ)·L_RL + μ·L_SFT; with chord_phi, SFT tokens
        // weighted by sg(p(1 − p)).
        Value ld = a["l_demo"], sftTok = lb.neg(ld);
        if (phi) {
          Value p = lb.exp(ld);
          sftTok = lb.mul(lb.sg(lb.mul(p, lb.sub(lb.cstLike(1.0, p), p))),
                          sftTok);
        }
        Value sft = lb.reduce(ReduceMode::token_mean, sftTok, a["mask_demo"]);
        Value muv = a["mu"];
        metrics.push_back({"sft_loss", sft});
        metrics.push_back({"mu", muv});
        return lb.add(lb.mul(lb.sub(lb.cstLike(1.0, muv), muv), rl),
                      lb.mul(muv, sft));
      }
      if (hybrid == Hybrid::uft) {
        // UFT: RL on the sampled tokens + sft_coef·(−log-likelihood of
        // the hint tokens).
        Value hint = lb.reduce(ReduceMode::token_mean, lb.neg(l), a["mask_hint"]);
        metrics.push_back({"hint_nll", hint});
        return lb.add(rl, lb.scale(hint, hintCoef));
      }
      if (rs.entropyCoef != 0.0) {
        // Entropy bonus: − c·token_mean(H)
        Value h = lb.reduce(ReduceMode::token_mean, a["entropy"], m);
        metrics.push_back({"entropy", h});
        rl = lb.sub(rl, lb.scale(h, rs.entropyCoef));
      }
      return rl;
    }, epochs, updates);
    next.push_back(train.getResult(0));
    SyncWeightsOp::create(b, loc, next[0]);

    if (hybrid == Hybrid::relift) {
      // ReLIFT: prompts no sample solved go to the buffer; once it holds
      // buffer_size of them, sft_steps SFT steps on their demonstrations.
      Value hard = indicator(CmpPredicate::le, accP, 0.0);
      Value buf = BufferPushOp::create(b, loc, it[1], pids, hard);
      int64_t Bs = reliftBatch;
      auto pop = BufferPopOp::create(b, loc, buf.getType(), i64({Bs}),
                                     b.getI1Type(), buf);
      Type modelType = next[0].getType();
      auto ifOp = scf::IfOp::create(
          b, loc, TypeRange{modelType}, pop.getReady(),
          /*withElseRegion=*/true);
      {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPointToStart(&ifOp.getThenRegion().front());
        auto fetch = DataFetchOp::create(b, loc, i32({Bs, maxT}),
                                         f({Bs, maxT}), demos, pop.getIds(),
                                         kCompletionsOnly, kCompletionsOnly);
        Value model = next[0];
        for (int64_t k = 0, e = cast<ReliftAttr>(guide).getSftSteps(); k < e;
             ++k) {
          TrainStep sft(b, loc, elem);
          sft.model(model);
          sft.read(0, fetch.getTokens(), "logprob", {"l"});
          sft.input(fetch.getMask(), "mask");
          auto st = sft.build(sftKernel, op.getOptimizer(), gradAccum,
                              [&](LossBuilder &lb, auto &a,
                                                  auto &) -> Value {
            return lb.reduce(ReduceMode::token_mean, lb.neg(a["l"]),
                             a["mask"]);
          });
          model = st.getResult(0);
        }
        scf::YieldOp::create(b, loc, model);
        b.setInsertionPointToStart(&ifOp.getElseRegion().front());
        scf::YieldOp::create(b, loc, next[0]);
      }
      next[0] = ifOp.getResult(0);
      next.push_back(pop.getResult());
    }
    return next;
  });
  op.getNewPolicy().replaceAllUsesWith(forOp.getResult(0));
  nameOutputs(op, forOp);
  if (op.getNewCritic())
    op.getNewCritic().replaceAllUsesWith(forOp.getResult(1));
  return success();
}

struct ExpandStages : public mlir::hone::impl::ExpandStagesBase<ExpandStages> {
  using ExpandStagesBase::ExpandStagesBase;

  void runOnOperation() override {
    PipelineOp pipeline = getOperation();
    OpBuilder b(pipeline.getContext());
    Type elem = useF64 ? Type(b.getF64Type()) : Type(b.getF32Type());
    SmallVector<Operation *> stages;
    pipeline.getBody().walk([&](Operation *op) {
      if (isa<SftOp, RewardModelTrainOp, PreferenceOp, RlOp, EvalOp>(op))
        stages.push_back(op);
    });
    bool failed = false;
    for (Operation *stage : stages) {
      b.setInsertionPoint(stage);
      Expander ex{b, stage->getLoc(), elem, 0, pipeline.getSymName().str()};
      ex.counter = counter;
      LogicalResult result =
          llvm::TypeSwitch<Operation *, LogicalResult>(stage)
              .Case([&](SftOp op) { return ex.expand(op); })
              .Case([&](RewardModelTrainOp op) { return ex.expand(op); })
              .Case([&](PreferenceOp op) { return ex.expand(op); })
              .Case([&](RlOp op) { return ex.expand(op); })
              .Case([&](EvalOp op) {
                EvalStepOp::create(b, op.getLoc(), op.getModel(),
                                   op.getData(), op.getReward(),
                                   op.getNameAttr(), op.getSettings());
                return evalDuringTraining(op);
              })
              .Default([](Operation *) { return failure(); });
      counter = ex.counter;
      if (mlir::failed(result)) {
        failed = true;
        continue;
      }
      stage->erase();
    }
    if (failed)
      return signalPassFailure();
    // Which model each step op runs, for reports, remarks and plugins.
    annotateModelNames(pipeline);
  }
  int64_t counter = 0;

  /// `every_steps = N`: the evaluation also runs after every N-th step of
  /// each stage loop that trains its model (the chain of loops whose
  /// results feed one another), on the model as that step left it; not
  /// after the last step of the last loop, which the evaluation itself
  /// follows.
  LogicalResult evalDuringTraining(EvalOp op) {
    int64_t every = op.getSettings().getEverySteps();
    if (every <= 0)
      return success();
    Location l = op.getLoc();
    int loops = 0;
    Value v = op.getModel();
    while (auto res = dyn_cast<OpResult>(v)) {
      auto loop = dyn_cast<scf::ForOp>(res.getOwner());
      if (!loop)
        break;
      for (Value o : {Value(op.getData()), Value(op.getReward())})
        if (Operation *d = o ? o.getDefiningOp() : nullptr;
            d && d->getBlock() == loop->getBlock() && !d->isBeforeInBlock(loop))
          return op.emitError("every_steps: the evaluation's dataset or "
                              "reward is defined after a stage that trains "
                              "its model; evaluate that stage at its end "
                              "(every_steps: 0)");
      Operation *yield = loop.getBody()->getTerminator();
      Value updated = yield->getOperand(res.getResultNumber());
      OpBuilder ib(yield);
      Value next =
          arith::AddIOp::create(ib, l, loop.getInductionVar(),
                                arith::ConstantIndexOp::create(ib, l, 1));
      Value rem = arith::RemUIOp::create(
          ib, l, next, arith::ConstantIndexOp::create(ib, l, every));
      Value due =
          arith::CmpIOp::create(ib, l, arith::CmpIPredicate::eq, rem,
                                arith::ConstantIndexOp::create(ib, l, 0));
      // The last loop's last step: the evaluation after the stage follows.
      if (loops == 0)
        due = arith::AndIOp::create(
            ib, l, due,
            arith::CmpIOp::create(ib, l, arith::CmpIPredicate::ult, next,
                                  loop.getUpperBound()));
      auto dueIf = scf::IfOp::create(ib, l, due, /*withElseRegion=*/false);
      OpBuilder tb = dueIf.getThenBodyBuilder();
      EvalStepOp::create(tb, l, updated, op.getData(), op.getReward(),
                         op.getNameAttr(), op.getSettings());
      ++loops;
      v = loop.getInitArgs()[res.getResultNumber()];
    }
    if (loops == 0)
      return op.emitError("every_steps: no stage trains the evaluated model")
             .attachNote()
             << "hint: every_steps evaluates during the stages that train it; "
                "use 0 to evaluate once";
    return success();
  }
};

} // namespace
