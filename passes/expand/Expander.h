//===- Expander.h - hone-expand-stages' shared state -------------*- C++ -*-===//
//
// What the method families of hone-expand-stages (passes/ExpandStages.cpp)
// share: a train step under construction (TrainStep) and the expander of
// one stage op (Expander), whose expand() overloads live one file per method
// family in passes/expand/ (Sft.cpp: SFT and reward models, Preference.cpp,
// Rl.cpp: online RL and its hybrids, Objective.cpp: user-written objectives).
//
//===----------------------------------------------------------------------===//
#pragma once

#include "dialect/ObjectiveExpr.h"
#include "passes/LossBuilder.h"
#include "passes/Passes.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"

#include <functional>
#include <map>
#include <string>

namespace mlir::hone::expand {

namespace objective = ::hone::objective;

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
inline double d(const APFloat &v) { return v.convertToDouble(); }

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
  //===--- one file per method family ------------------------------------===//

  LogicalResult expand(SftOp op);              // passes/expand/Sft.cpp
  LogicalResult expand(RewardModelTrainOp op); // passes/expand/Sft.cpp
  LogicalResult expand(PreferenceOp op);       // passes/expand/Preference.cpp
  LogicalResult expand(RlOp op);               // passes/expand/Rl.cpp
};

/// A user-written objective in the loss algebra (passes/expand/Objective.cpp).
Value buildObjective(LossBuilder &lb, const objective::Program &prog,
                     llvm::StringMap<Value> &a, int64_t group);

} // namespace mlir::hone::expand
