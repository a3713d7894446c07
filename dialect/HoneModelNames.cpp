//===- HoneModelNames.cpp - which model a value is, which tokens were sampled ===//
//
// Queries over the dataflow that passes, the lowering and plugins share:
// the spec name of a model value and the hone.generate behind a token
// batch (dialect/HoneOps.h).
//
//===----------------------------------------------------------------------===//

#include "dialect/HoneOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/Interfaces/LoopLikeInterface.h"

using namespace mlir;
using namespace mlir::hone;

namespace {
constexpr StringLiteral kOutput = "hone.output";
constexpr StringLiteral kCriticOutput = "hone.critic_output";
constexpr StringLiteral kModels = "hone.models";
constexpr StringLiteral kOutputs = "hone.outputs";

/// A stage loop's name for result `i` (hone-expand-stages copies the
/// stage's `hone.output` there), or empty.
StringRef loopOutput(Operation *loop, unsigned i) {
  auto names = loop ? loop->getAttrOfType<ArrayAttr>(kOutputs) : ArrayAttr();
  if (!names || i >= names.size())
    return {};
  auto s = dyn_cast<StringAttr>(names[i]);
  return s ? s.getValue() : StringRef();
}

StringRef nameAttr(Operation *op, StringRef attr) {
  auto s = op ? op->getAttrOfType<StringAttr>(attr) : StringAttr();
  return s ? s.getValue() : StringRef();
}
} // namespace

std::string mlir::hone::modelName(Value v) {
  // Bounded: loops and chains of stages are short, but IR may be cyclic
  // through malformed regions.
  for (int hops = 0; v && hops < 10000; ++hops) {
    if (auto arg = dyn_cast<BlockArgument>(v)) {
      auto loop =
          dyn_cast_or_null<LoopLikeOpInterface>(arg.getOwner()->getParentOp());
      OpOperand *init = loop ? loop.getTiedLoopInit(arg) : nullptr;
      if (!init)
        return "";
      // Inside a stage loop the model being trained is the stage's output.
      if (OpResult r = loop.getTiedLoopResult(arg))
        if (StringRef n = loopOutput(loop, r.getResultNumber()); !n.empty())
          return n.str();
      v = init->get();
      continue;
    }
    auto res = cast<OpResult>(v);
    Operation *op = res.getOwner();
    unsigned i = res.getResultNumber();
    if (auto init = dyn_cast<ModelInitOp>(op))
      return init.getName().str();
    if (auto load = dyn_cast<ModelLoadOp>(op))
      return load.getName().str();
    if (auto head = dyn_cast<ModelNewHeadOp>(op))
      return head.getName().str();
    if (auto lora = dyn_cast<ModelLoraOp>(op))
      return lora.getName().str();
    if (auto rl = dyn_cast<RlOp>(op)) {
      StringRef n = nameAttr(op, i == 0 ? kOutput : kCriticOutput);
      if (!n.empty())
        return n.str();
      v = i == 0 ? rl.getPolicy() : rl.getCritic();
      continue;
    }
    if (isa<SftOp, PreferenceOp, RewardModelTrainOp>(op)) {
      StringRef n = nameAttr(op, kOutput);
      if (!n.empty())
        return n.str();
      v = op->getOperand(0);
      continue;
    }
    if (auto ts = dyn_cast<TrainStepOp>(op)) {
      if (i >= ts.getModels().size())
        return "";
      v = ts.getModels()[i];
      continue;
    }
    if (auto loop = dyn_cast<LoopLikeOpInterface>(op)) {
      if (StringRef n = loopOutput(op, i); !n.empty())
        return n.str();
      auto inits = loop.getInits();
      if (i >= inits.size())
        return "";
      v = inits[i];
      continue;
    }
    // Snapshots and other one-model-in, one-model-out ops keep the name.
    Value only;
    for (Value o : op->getOperands())
      if (isa<ModelType>(o.getType())) {
        if (only)
          return "";
        only = o;
      }
    if (!only || op->getNumResults() != 1)
      return "";
    v = only;
  }
  return "";
}

void mlir::hone::annotateModelNames(Operation *root) {
  Builder b(root->getContext());
  root->walk([&](Operation *op) {
    if (!isa_and_nonnull<HoneDialect>(op->getDialect()))
      return;
    SmallVector<Attribute> names;
    bool any = false;
    for (Value o : op->getOperands()) {
      if (!isa<ModelType>(o.getType()))
        continue;
      std::string n = modelName(o);
      any |= !n.empty();
      names.push_back(b.getStringAttr(n));
    }
    if (any)
      op->setAttr(kModels, b.getArrayAttr(names));
  });
}

SmallVector<StringRef> mlir::hone::modelNamesOf(Operation *op) {
  SmallVector<StringRef> out;
  if (auto a = op->getAttrOfType<ArrayAttr>(kModels))
    for (Attribute n : a)
      if (auto s = dyn_cast<StringAttr>(n))
        out.push_back(s.getValue());
  return out;
}

GenerateOp mlir::hone::producingGenerate(Value tokens) {
  for (int hops = 0; tokens && hops < 64; ++hops) {
    // Rollouts carried through a loop (hone-pipeline-rollouts): the
    // iteration argument or result was generated like its initial value,
    // which hone.exec.rollouts_resume hands on from the prologue.
    if (auto arg = dyn_cast<BlockArgument>(tokens)) {
      auto loop =
          dyn_cast_or_null<LoopLikeOpInterface>(arg.getOwner()->getParentOp());
      OpOperand *init = loop ? loop.getTiedLoopInit(arg) : nullptr;
      tokens = init ? init->get() : Value();
      continue;
    }
    Operation *op = tokens.getDefiningOp();
    if (auto loop = dyn_cast_or_null<LoopLikeOpInterface>(op)) {
      unsigned i = cast<OpResult>(tokens).getResultNumber();
      tokens = i < loop.getInits().size() ? loop.getInits()[i] : Value();
      continue;
    }
    if (auto resume = dyn_cast_or_null<ExecRolloutsResumeOp>(op)) {
      tokens = resume.getRollouts()[cast<OpResult>(tokens).getResultNumber()];
      continue;
    }
    if (auto gen = dyn_cast_or_null<GenerateOp>(op))
      return gen;
    auto filter = dyn_cast_or_null<GroupFilterOp>(op);
    if (!filter)
      return {};
    // group_filter's results are its `values` filtered, then the validity.
    unsigned i = cast<OpResult>(tokens).getResultNumber();
    if (i >= filter.getValues().size())
      return {};
    tokens = filter.getValues()[i];
  }
  return {};
}
