//===- HoneLossOps.cpp - the loss algebra's verifiers ---------------------===//
//
// Shapes are the loss algebra's only types: per token [B,T], per sequence
// [B], scalar []. Verifiers name the two shapes that disagree.
//
//===----------------------------------------------------------------------===//

#include "dialect/HoneOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/OpImplementation.h"

using namespace mlir;
using namespace mlir::hone;

static RankedTensorType tensorOf(Value v) {
  return cast<RankedTensorType>(v.getType());
}

static std::string typeString(Type t) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << t;
  return s;
}

/// `a` and `b` must have the same element type.
static LogicalResult checkSameElement(Operation *op, Value a, Value b,
                                      StringRef what) {
  if (tensorOf(a).getElementType() == tensorOf(b).getElementType())
    return success();
  return op->emitOpError() << what << " mixes element types "
                           << tensorOf(a).getElementType() << " and "
                           << tensorOf(b).getElementType();
}

//===----------------------------------------------------------------------===//
// Element-wise and constants
//===----------------------------------------------------------------------===//

LogicalResult LossClampOp::verify() {
  if (!getMin() && !getMax())
    return emitOpError("needs a 'min' or a 'max' bound");
  if (getMin() && getMax() &&
      getMin()->convertToDouble() > getMax()->convertToDouble())
    return emitOpError("has min ") << getMin()->convertToDouble()
                                   << " above max "
                                   << getMax()->convertToDouble();
  return success();
}

OpFoldResult LossConstOp::fold(FoldAdaptor) {
  auto type = cast<RankedTensorType>(getType());
  return DenseElementsAttr::get(
      type, FloatAttr::get(type.getElementType(), getValue().convertToDouble())
                .getValue());
}

LogicalResult LossBroadcastOp::verify() {
  RankedTensorType from = tensorOf(getX()), to = tensorOf(getY());
  if (failed(checkSameElement(*this, getX(), getY(), "broadcast")))
    return failure();
  if (from.getRank() >= to.getRank())
    return emitOpError("widens a value: the result must have a higher rank "
                       "than the operand, got ")
           << from << " to " << to;
  if (from.getRank() == 1 && from.getDimSize(0) != to.getDimSize(0))
    return emitOpError("per-sequence operand has ")
           << from.getDimSize(0) << " sequences but the result has "
           << to.getDimSize(0);
  return success();
}

//===----------------------------------------------------------------------===//
// Reductions
//===----------------------------------------------------------------------===//

static LogicalResult checkScalarResult(Operation *op, Value x, Value y) {
  if (failed(checkSameElement(op, x, y, "reduction")))
    return failure();
  if (tensorOf(y).getRank() != 0)
    return op->emitOpError("result must be a scalar tensor<")
           << tensorOf(x).getElementType() << ">, got " << y.getType();
  return success();
}

LogicalResult LossSumOp::verify() {
  return checkScalarResult(*this, getX(), getY());
}
LogicalResult LossMeanOp::verify() {
  return checkScalarResult(*this, getX(), getY());
}

/// x: [B,T], mask (if any): same type, y: [B].
static LogicalResult checkPerSequence(Operation *op, Value x, Value mask,
                                      Value y) {
  RankedTensorType xt = tensorOf(x), yt = tensorOf(y);
  if (xt.getRank() != 2)
    return op->emitOpError("reduces a per-token tensor [B,T], got ")
           << x.getType();
  if (mask && mask.getType() != x.getType())
    return op->emitOpError("mask type ")
           << mask.getType() << " differs from the operand's " << x.getType();
  if (yt.getRank() != 1 || yt.getDimSize(0) != xt.getDimSize(0) ||
      yt.getElementType() != xt.getElementType())
    return op->emitOpError("result must be per-sequence tensor<")
           << xt.getDimSize(0) << "x" << xt.getElementType() << ">, got "
           << y.getType();
  return success();
}

LogicalResult LossSeqSumOp::verify() {
  return checkPerSequence(*this, getX(), getMask(), getY());
}
LogicalResult LossSeqMeanOp::verify() {
  return checkPerSequence(*this, getX(), getMask(), getY());
}

LogicalResult LossMaskedReduceOp::verify() {
  if (failed(checkScalarResult(*this, getX(), getY())))
    return failure();
  RankedTensorType xt = tensorOf(getX());
  if (getMask().getType() != getX().getType())
    return emitOpError("mask type ")
           << getMask().getType() << " differs from the operand's "
           << getX().getType();
  ReduceMode mode = getMode();
  if (xt.getRank() == 0)
    return emitOpError("reduces a per-token or per-sequence tensor, got a "
                       "scalar");
  if (xt.getRank() == 1 && (mode == ReduceMode::seq_mean_token_mean ||
                            mode == ReduceMode::seq_mean_token_sum))
    return emitOpError("mode ")
           << stringifyReduceMode(mode)
           << " needs a per-token operand [B,T], got " << getX().getType();
  if (mode == ReduceMode::constant) {
    if (!getNormaliser())
      return emitOpError("mode constant needs a 'normaliser'");
    if (!(getNormaliser()->convertToDouble() > 0.0))
      return emitOpError("'normaliser' must be positive");
  } else if (getNormaliser()) {
    return emitOpError("'normaliser' is only used by mode constant");
  }
  return success();
}

static LogicalResult checkGroups(Operation *op, Value x, int64_t group) {
  RankedTensorType xt = tensorOf(x);
  if (xt.getRank() != 1)
    return op->emitOpError("groups sequences: the operand must be "
                           "per-sequence [B], got ")
           << x.getType();
  if (group < 1 || xt.getDimSize(0) % group != 0)
    return op->emitOpError("group_size ")
           << group << " must be positive and divide the " << xt.getDimSize(0)
           << " sequences";
  return success();
}

LogicalResult LossGroupMeanOp::verify() {
  return checkGroups(*this, getX(), getGroupSize());
}

LogicalResult LossGroupStdOp::verify() {
  if (failed(checkGroups(*this, getX(), getGroupSize())))
    return failure();
  if (getCorrection() != 0 && getCorrection() != 1)
    return emitOpError("correction must be 0 or 1");
  if (getGroupSize() - getCorrection() < 1)
    return emitOpError("a group of ")
           << getGroupSize() << " has no spread with correction "
           << getCorrection();
  return success();
}

//===----------------------------------------------------------------------===//
// hone.loss.yield
//===----------------------------------------------------------------------===//
//
//   hone.loss.yield %loss : tensor<f32>
//       [metrics("kl" = %kl : tensor<f32>, ...)] [grads(%g : tensor<4x8xf32>, ...)]

ParseResult LossYieldOp::parse(OpAsmParser &parser, OperationState &result) {
  OpAsmParser::UnresolvedOperand loss;
  Type lossType;
  if (parser.parseOperand(loss) || parser.parseColonType(lossType) ||
      parser.resolveOperand(loss, lossType, result.operands))
    return failure();
  SmallVector<Attribute> names;
  int32_t numMetrics = 0, numGrads = 0;
  if (succeeded(parser.parseOptionalKeyword("metrics"))) {
    auto parseMetric = [&]() -> ParseResult {
      std::string name;
      OpAsmParser::UnresolvedOperand value;
      Type type;
      if (parser.parseString(&name) || parser.parseEqual() ||
          parser.parseOperand(value) || parser.parseColonType(type) ||
          parser.resolveOperand(value, type, result.operands))
        return failure();
      names.push_back(parser.getBuilder().getStringAttr(name));
      ++numMetrics;
      return success();
    };
    if (parser.parseCommaSeparatedList(OpAsmParser::Delimiter::Paren,
                                       parseMetric))
      return failure();
  }
  if (succeeded(parser.parseOptionalKeyword("grads"))) {
    auto parseGrad = [&]() -> ParseResult {
      OpAsmParser::UnresolvedOperand value;
      Type type;
      if (parser.parseOperand(value) || parser.parseColonType(type) ||
          parser.resolveOperand(value, type, result.operands))
        return failure();
      ++numGrads;
      return success();
    };
    if (parser.parseCommaSeparatedList(OpAsmParser::Delimiter::Paren,
                                       parseGrad))
      return failure();
  }
  if (parser.parseOptionalAttrDict(result.attributes))
    return failure();
  Builder &b = parser.getBuilder();
  auto &props = result.getOrAddProperties<LossYieldOp::Properties>();
  props.metric_names = b.getArrayAttr(names);
  props.operandSegmentSizes = {1, numMetrics, numGrads};
  return success();
}

void LossYieldOp::print(OpAsmPrinter &p) {
  p << ' ' << getLoss() << " : " << getLoss().getType();
  if (!getMetrics().empty()) {
    p << " metrics(";
    llvm::interleaveComma(
        llvm::zip(getMetricNames(), getMetrics()), p, [&](auto pair) {
          p << std::get<0>(pair) << " = " << std::get<1>(pair) << " : "
            << std::get<1>(pair).getType();
        });
    p << ')';
  }
  if (!getGrads().empty()) {
    p << " grads(";
    llvm::interleaveComma(getGrads(), p, [&](Value g) {
      p << g << " : " << g.getType();
    });
    p << ')';
  }
  p.printOptionalAttrDict((*this)->getAttrs(),
                          {"metric_names", "operandSegmentSizes"});
}

LogicalResult LossYieldOp::verify() {
  if (tensorOf(getLoss()).getRank() != 0)
    return emitOpError("the loss must be a scalar, got ")
           << getLoss().getType()
           << "; reduce it with hone.loss.masked_reduce or hone.loss.mean";
  if (getMetricNames().size() != getMetrics().size())
    return emitOpError("has ") << getMetrics().size() << " metrics but "
                               << getMetricNames().size() << " names";
  for (auto [name, metric] : llvm::zip(getMetricNames(), getMetrics()))
    if (tensorOf(metric).getRank() != 0)
      return emitOpError("metric ")
             << name << " must be a scalar, got " << metric.getType();
  (void)typeString;
  return success();
}
