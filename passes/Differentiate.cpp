//===- Differentiate.cpp - reverse-mode autodiff of objectives ------------===//
//
// The gradient region is the decomposed objective followed by its adjoint:
// one vector-Jacobian product per primitive, in reverse order, accumulated
// by addition. Only values that depend on a model output through
// differentiable edges ("active" values) get adjoints.
//
//===----------------------------------------------------------------------===//

#include "passes/LossBuilder.h"
#include "passes/Passes.h"

#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/DenseSet.h"

namespace mlir::hone {
#define GEN_PASS_DEF_DIFFERENTIATE
#include "passes/Passes.h.inc"
} // namespace mlir::hone

using namespace mlir;
using namespace mlir::hone;

namespace {

/// Operands of `op` through which a gradient can flow.
SmallVector<unsigned> differentiableOperands(Operation *op) {
  if (isa<LossStopGradientOp, LossCmpOp, LossConstOp>(op))
    return {};
  if (isa<LossSelectOp>(op))
    return {1, 2};
  SmallVector<unsigned> all;
  for (unsigned i = 0; i < op->getNumOperands(); ++i)
    all.push_back(i);
  return all;
}

bool isPrimitiveLossOp(Operation *op) {
  if (auto seqSum = dyn_cast<LossSeqSumOp>(op))
    return !seqSum.getMask();
  return isa<LossExpOp, LossLogOp, LossNegOp, LossSigmoidOp,
             LossLogSigmoidOp, LossSqrtOp, LossStopGradientOp, LossAddOp,
             LossSubOp, LossMulOp, LossDivOp, LossMinOp, LossMaxOp,
             LossClampOp, LossCmpOp, LossSelectOp, LossConstOp,
             LossBroadcastOp, LossSumOp, LossGroupMeanOp>(op);
}

/// Contributions of ḡ (adjoint of op's result) to each differentiable
/// operand, in differentiableOperands order.
SmallVector<Value> vjp(LossBuilder &lb, Operation *op, Value g) {
  Value y = op->getResult(0);
  auto zeroLike = [&](Value v) { return lb.cstLike(0.0, v); };
  if (isa<LossAddOp>(op))
    return {g, g};
  if (isa<LossSubOp>(op))
    return {g, lb.neg(g)};
  if (auto o = dyn_cast<LossMulOp>(op))
    return {lb.mul(g, o.getB()), lb.mul(g, o.getA())};
  if (auto o = dyn_cast<LossDivOp>(op)) {
    Value ga = lb.div(g, o.getB());
    return {ga, lb.neg(lb.mul(ga, y))}; // −ḡ·a/b² = −(ḡ/b)·y
  }
  if (isa<LossNegOp>(op))
    return {lb.neg(g)};
  if (isa<LossExpOp>(op))
    return {lb.mul(g, y)};
  if (auto o = dyn_cast<LossLogOp>(op))
    return {lb.div(g, o.getX())};
  if (isa<LossSigmoidOp>(op)) // σ' = σ(1 − σ)
    return {lb.mul(g, lb.mul(y, lb.sub(lb.cstLike(1.0, y), y)))};
  if (auto o = dyn_cast<LossLogSigmoidOp>(op)) // (log σ)' = σ(−x)
    return {lb.mul(g, lb.sigmoid(lb.neg(o.getX())))};
  if (isa<LossSqrtOp>(op)) // (√x)' = 1/(2√x)
    return {lb.div(g, lb.scale(y, 2.0))};
  if (auto o = dyn_cast<LossMinOp>(op)) {
    Value first = lb.cmp(CmpPredicate::le, o.getA(), o.getB());
    return {lb.select(first, g, zeroLike(g)), lb.select(first, zeroLike(g), g)};
  }
  if (auto o = dyn_cast<LossMaxOp>(op)) {
    Value first = lb.cmp(CmpPredicate::ge, o.getA(), o.getB());
    return {lb.select(first, g, zeroLike(g)), lb.select(first, zeroLike(g), g)};
  }
  if (auto o = dyn_cast<LossClampOp>(op)) {
    // Passes where min ≤ x ≤ max (bounds included).
    Value x = o.getX(), pass = g;
    if (o.getMin())
      pass = lb.mul(pass, lb.cmp(CmpPredicate::ge, x,
                                 lb.cstLike(o.getMin()->convertToDouble(), x)));
    if (o.getMax())
      pass = lb.mul(pass, lb.cmp(CmpPredicate::le, x,
                                 lb.cstLike(o.getMax()->convertToDouble(), x)));
    return {pass};
  }
  if (auto o = dyn_cast<LossSelectOp>(op))
    return {lb.select(o.getCond(), g, zeroLike(g)),
            lb.select(o.getCond(), zeroLike(g), g)};
  if (auto o = dyn_cast<LossBroadcastOp>(op)) {
    // Adjoint of widening: sum over the widened dimensions.
    auto from = LossBuilder::typeOf(o.getX());
    if (from.getRank() == 0)
      return {lb.sum(g)};
    return {lb.seqSum(g)}; // [B] → [B,T]
  }
  if (auto o = dyn_cast<LossSumOp>(op))
    return {lb.bcastLike(g, o.getX())};
  if (auto o = dyn_cast<LossSeqSumOp>(op))
    return {lb.bcastLike(g, o.getX())};
  if (auto o = dyn_cast<LossGroupMeanOp>(op)) // self-adjoint
    return {lb.groupMean(g, o.getGroupSize())};
  return {};
}

LogicalResult differentiate(TrainStepOp step) {
  Region &grad = step.getGradient();
  grad.getBlocks().clear();
  Block &src = step.getObjective().front();
  Block *block = new Block();
  grad.push_back(block);
  IRMapping map;
  for (BlockArgument arg : src.getArguments())
    map.map(arg, block->addArgument(arg.getType(), arg.getLoc()));
  OpBuilder b(step.getContext());
  b.setInsertionPointToStart(block);
  for (Operation &op : src)
    b.clone(op, map);
  decomposeLossOps(*block);
  auto yield = cast<LossYieldOp>(block->getTerminator());

  // Activity.
  unsigned numDiff = step.getNumDiffArgs();
  llvm::DenseSet<Value> active;
  for (unsigned i = 0; i < numDiff; ++i)
    active.insert(block->getArgument(i));
  SmallVector<Operation *> tape;
  for (Operation &op : block->without_terminator()) {
    bool anyActive = llvm::any_of(op.getOperands(),
                                  [&](Value v) { return active.contains(v); });
    if (!anyActive)
      continue;
    if (!isPrimitiveLossOp(&op)) {
      InFlightDiagnostic diag =
          op.emitError("cannot differentiate '")
          << op.getName() << "': only hone.loss ops may compute on model "
                             "outputs inside a train step";
      diag.attachNote(step.getLoc()) << "in the objective of this train step";
      return failure();
    }
    SmallVector<unsigned> diffOps = differentiableOperands(&op);
    if (llvm::any_of(diffOps, [&](unsigned i) {
          return active.contains(op.getOperand(i));
        })) {
      active.insert(op.getResult(0));
      tape.push_back(&op);
    }
  }
  if (!active.contains(yield.getLoss()))
    return step.emitOpError("the loss does not depend on any model output "
                            "(or only through stop_gradient): nothing to "
                            "differentiate");

  // Adjoints, in reverse.
  b.setInsertionPoint(yield);
  LossBuilder lb(b, step.getLoc());
  DenseMap<Value, Value> adjoint;
  auto accumulate = [&](Value v, Value contribution) {
    auto it = adjoint.find(v);
    if (it == adjoint.end())
      adjoint[v] = contribution;
    else
      it->second = lb.add(it->second, contribution);
  };
  adjoint[yield.getLoss()] = lb.cstLike(1.0, yield.getLoss());
  for (Operation *op : llvm::reverse(tape)) {
    auto it = adjoint.find(op->getResult(0));
    if (it == adjoint.end())
      continue; // active but unused by the loss (a metric)
    SmallVector<unsigned> diffOps = differentiableOperands(op);
    SmallVector<Value> contributions = vjp(lb, op, it->second);
    for (auto [i, c] : llvm::zip(diffOps, contributions))
      if (active.contains(op->getOperand(i)))
        accumulate(op->getOperand(i), c);
  }
  SmallVector<Value> grads;
  for (unsigned i = 0; i < numDiff; ++i) {
    Value arg = block->getArgument(i);
    auto it = adjoint.find(arg);
    grads.push_back(it != adjoint.end() ? it->second : lb.cstLike(0.0, arg));
  }
  LossYieldOp::create(b, yield.getLoc(), yield.getLoss(), yield.getMetrics(),
                      grads, yield.getMetricNames());
  yield.erase();
  // Adjoints of inactive operands were built eagerly; drop the dead ones.
  for (Operation &op : llvm::make_early_inc_range(llvm::reverse(*block)))
    if (op.use_empty() && isPrimitiveLossOp(&op))
      op.erase();
  return success();
}

struct Differentiate
    : public mlir::hone::impl::DifferentiateBase<Differentiate> {
  void runOnOperation() override {
    SmallVector<TrainStepOp> steps;
    getOperation()->walk([&](TrainStepOp op) { steps.push_back(op); });
    bool failed = false;
    for (TrainStepOp step : steps)
      if (mlir::failed(differentiate(step)))
        failed = true;
    if (failed)
      signalPassFailure();
  }
};

} // namespace
