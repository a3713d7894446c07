//===- LossBuilder.h - building loss-algebra IR -----------------*- C++ -*-===//
//
// A thin builder that writes objectives the way docs/methods.md writes them:
// `lb.mul(lb.bcast(adv, l), lb.ratio(l, lOld))`. Used by hone-expand-stages
// (objectives), hone-differentiate (adjoints) and the decomposition of
// composite ops.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "dialect/HoneOps.h"
#include "mlir/IR/Builders.h"

namespace mlir::hone {

class LossBuilder {
public:
  LossBuilder(OpBuilder &b, Location loc) : b(b), loc(loc) {}

  OpBuilder &builder() { return b; }
  Location location() { return loc; }

  static RankedTensorType typeOf(Value v) {
    return cast<RankedTensorType>(v.getType());
  }
  RankedTensorType scalarType(Value like) {
    return RankedTensorType::get({}, typeOf(like).getElementType());
  }

#define HONE_UNARY(name, Op)                                                   \
  Value name(Value x) { return Op::create(b, loc, x); }
  HONE_UNARY(exp, LossExpOp)
  HONE_UNARY(log, LossLogOp)
  HONE_UNARY(neg, LossNegOp)
  HONE_UNARY(sigmoid, LossSigmoidOp)
  HONE_UNARY(logSigmoid, LossLogSigmoidOp)
  HONE_UNARY(sqrt, LossSqrtOp)
  HONE_UNARY(sg, LossStopGradientOp)
#undef HONE_UNARY
#define HONE_BINARY(name, Op)                                                  \
  Value name(Value x, Value y) { return Op::create(b, loc, x, y); }
  HONE_BINARY(add, LossAddOp)
  HONE_BINARY(sub, LossSubOp)
  HONE_BINARY(mul, LossMulOp)
  HONE_BINARY(div, LossDivOp)
  HONE_BINARY(min, LossMinOp)
  HONE_BINARY(max, LossMaxOp)
  HONE_BINARY(ratio, LossRatioOp)
#undef HONE_BINARY

  Value kl(KlEstimator k, Value l, Value ref) {
    return LossKlOp::create(b, loc, k, l, ref);
  }
  Value clamp(Value x, std::optional<double> lo, std::optional<double> hi) {
    return LossClampOp::create(b, loc, x.getType(), x,
                               lo ? b.getF64FloatAttr(*lo) : FloatAttr(),
                               hi ? b.getF64FloatAttr(*hi) : FloatAttr());
  }
  Value cmp(CmpPredicate p, Value x, Value y) {
    return LossCmpOp::create(b, loc, p, x, y);
  }
  Value select(Value c, Value x, Value y) {
    return LossSelectOp::create(b, loc, c, x, y);
  }
  /// A splat constant of `type`.
  Value cst(double v, Type type) {
    return LossConstOp::create(b, loc, type, b.getF64FloatAttr(v));
  }
  /// A splat constant of `like`'s type.
  Value cstLike(double v, Value like) { return cst(v, like.getType()); }
  Value scalar(double v, Value like) { return cst(v, scalarType(like)); }
  /// x * v with v a constant.
  Value scale(Value x, double v) { return mul(x, cstLike(v, x)); }
  /// Widens x to `type` (no-op when equal).
  Value bcast(Value x, Type type) {
    if (x.getType() == type)
      return x;
    return LossBroadcastOp::create(b, loc, type, x);
  }
  Value bcastLike(Value x, Value like) { return bcast(x, like.getType()); }
  Value sum(Value x) { return LossSumOp::create(b, loc, scalarType(x), x); }
  Value mean(Value x) { return LossMeanOp::create(b, loc, scalarType(x), x); }
  RankedTensorType seqType(Value tok) {
    return RankedTensorType::get({typeOf(tok).getDimSize(0)},
                                 typeOf(tok).getElementType());
  }
  Value seqSum(Value x, Value mask = {}) {
    return LossSeqSumOp::create(b, loc, seqType(x), x, mask);
  }
  Value seqMean(Value x, Value mask) {
    return LossSeqMeanOp::create(b, loc, seqType(x), x, mask);
  }
  Value reduce(ReduceMode mode, Value x, Value mask,
               std::optional<double> normaliser = std::nullopt) {
    return LossMaskedReduceOp::create(
        b, loc, scalarType(x), mode, x, mask,
        normaliser ? b.getF64FloatAttr(*normaliser) : FloatAttr());
  }
  Value groupMean(Value x, int64_t g) {
    return LossGroupMeanOp::create(b, loc, x, g);
  }
  Value groupStd(Value x, int64_t g, int64_t correction = 1) {
    return LossGroupStdOp::create(b, loc, x.getType(), x, g, correction);
  }

private:
  OpBuilder &b;
  Location loc;
};

} // namespace mlir::hone

namespace mlir::hone {
/// Whether `op` is a composite loss op that hone-decompose-loss rewrites.
bool isCompositeLossOp(Operation *op);
/// Rewrites every composite loss op nested in `root` into primitives.
void decomposeLossOps(Operation *root);
/// The same for the ops of one block (and their regions).
void decomposeLossOps(Block &block);
/// Bufferization models, the NVVM target and LLVM IR translations that the
/// loss lowering pipelines need; convert-hone-loss-to-linalg adds them.
void registerLossLoweringInterfaces(DialectRegistry &registry);
} // namespace mlir::hone
