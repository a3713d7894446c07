//===- DecomposeLoss.cpp - composite loss ops → primitives ----------------===//
//
// The definitions of the composite ops, written once: autodiff and lowering
// only know the primitives.
//
//===----------------------------------------------------------------------===//

#include "passes/LossBuilder.h"
#include "passes/Passes.h"

namespace mlir::hone {
#define GEN_PASS_DEF_DECOMPOSELOSS
#include "passes/Passes.h.inc"
} // namespace mlir::hone

using namespace mlir;
using namespace mlir::hone;

bool mlir::hone::isCompositeLossOp(Operation *op) {
  if (auto seqSum = dyn_cast<LossSeqSumOp>(op))
    return bool(seqSum.getMask());
  return isa<LossRatioOp, LossKlOp, LossSeqMeanOp, LossMaskedReduceOp,
             LossMeanOp, LossGroupStdOp>(op);
}

/// Σ m·x / max(Σ m, 1) with sums taken by `total`.
static Value safeDiv(LossBuilder &lb, Value num, Value den) {
  return lb.div(num, lb.max(den, lb.cstLike(1.0, den)));
}

static Value decompose(LossBuilder &lb, Operation *op) {
  if (auto o = dyn_cast<LossRatioOp>(op))
    return lb.exp(lb.sub(o.getA(), o.getB()));
  if (auto o = dyn_cast<LossKlOp>(op)) {
    Value l = o.getL(), r = o.getRef();
    switch (o.getEstimator()) {
    case KlEstimator::k1:
      return lb.sub(l, r);
    case KlEstimator::k2: {
      Value d = lb.sub(l, r);
      return lb.scale(lb.mul(d, d), 0.5);
    }
    case KlEstimator::k3: {
      Value d = lb.sub(r, l);
      return lb.sub(lb.sub(lb.exp(d), d), lb.cstLike(1.0, d));
    }
    }
  }
  if (auto o = dyn_cast<LossSeqSumOp>(op))
    return lb.seqSum(lb.mul(o.getX(), o.getMask()));
  if (auto o = dyn_cast<LossSeqMeanOp>(op))
    return safeDiv(lb, lb.seqSum(lb.mul(o.getX(), o.getMask())),
                   lb.seqSum(o.getMask()));
  if (auto o = dyn_cast<LossMeanOp>(op)) {
    auto t = LossBuilder::typeOf(o.getX());
    return lb.div(lb.sum(o.getX()),
                  lb.scalar(double(t.getNumElements()), o.getX()));
  }
  if (auto o = dyn_cast<LossGroupStdOp>(op)) {
    int64_t g = o.getGroupSize(), c = o.getCorrection();
    Value d = lb.sub(o.getX(), lb.groupMean(o.getX(), g));
    Value var = lb.scale(lb.groupMean(lb.mul(d, d), g), double(g) / (g - c));
    return lb.sqrt(var);
  }
  if (auto o = dyn_cast<LossMaskedReduceOp>(op)) {
    Value x = o.getX(), m = o.getMask();
    auto t = LossBuilder::typeOf(x);
    switch (o.getMode()) {
    case ReduceMode::token_mean:
      return safeDiv(lb, lb.sum(lb.mul(x, m)), lb.sum(m));
    case ReduceMode::seq_mean_token_mean: {
      Value perSeq = safeDiv(lb, lb.seqSum(lb.mul(x, m)), lb.seqSum(m));
      return lb.div(lb.sum(perSeq), lb.scalar(double(t.getDimSize(0)), x));
    }
    case ReduceMode::seq_mean_token_sum:
      return lb.div(lb.sum(lb.mul(x, m)), lb.scalar(double(t.getDimSize(0)), x));
    case ReduceMode::constant:
      return lb.div(lb.sum(lb.mul(x, m)),
                    lb.scalar(o.getNormaliser()->convertToDouble(), x));
    }
  }
  return Value();
}

static void decomposeAll(ArrayRef<Operation *> worklist);

void mlir::hone::decomposeLossOps(Operation *root) {
  SmallVector<Operation *> worklist;
  root->walk([&](Operation *op) {
    if (isCompositeLossOp(op))
      worklist.push_back(op);
  });
  decomposeAll(worklist);
}

void mlir::hone::decomposeLossOps(Block &block) {
  SmallVector<Operation *> worklist;
  for (Operation &top : block)
    top.walk([&](Operation *op) {
      if (isCompositeLossOp(op))
        worklist.push_back(op);
    });
  decomposeAll(worklist);
}

static void decomposeAll(ArrayRef<Operation *> worklist) {
  for (Operation *op : worklist) {
    OpBuilder b(op);
    LossBuilder lb(b, op->getLoc());
    Value replacement = decompose(lb, op);
    op->getResult(0).replaceAllUsesWith(replacement);
    op->erase();
  }
}

namespace {
struct DecomposeLoss
    : public mlir::hone::impl::DecomposeLossBase<DecomposeLoss> {
  void runOnOperation() override { decomposeLossOps(getOperation()); }
};
} // namespace
