//===- ConvertHoneLossToLinalg.cpp - loss algebra → linalg on tensors -----===//
//
// Every primitive becomes one linalg op (or a constant); linalg's
// element-wise fusion and bufferization take it from there.
//
//===----------------------------------------------------------------------===//

#include "passes/LossBuilder.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "llvm/ADT/TypeSwitch.h"

namespace mlir::hone {
#define GEN_PASS_DEF_CONVERTHONELOSSTOLINALG
#include "passes/Passes.h.inc"
} // namespace mlir::hone

using namespace mlir;
using namespace mlir::hone;

namespace {

using BodyFn = function_ref<Value(OpBuilder &, Location, ValueRange)>;

Value floatConst(OpBuilder &b, Location loc, Type t, double v) {
  return arith::ConstantOp::create(b, loc, t, b.getFloatAttr(t, v));
}

/// A linalg.generic over `resultType` reading `inputs` through `inMaps`.
Value generic(OpBuilder &b, Location loc, RankedTensorType resultType,
              ValueRange inputs, ArrayRef<AffineMap> inMaps, BodyFn body) {
  unsigned rank = resultType.getRank();
  Value init = tensor::EmptyOp::create(b, loc, resultType.getShape(),
                                       resultType.getElementType());
  SmallVector<AffineMap> maps(inMaps);
  maps.push_back(b.getMultiDimIdentityMap(rank));
  SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
  auto op = linalg::GenericOp::create(
      b, loc, resultType, inputs, ValueRange{init}, maps, iters,
      [&](OpBuilder &nb, Location nl, ValueRange args) {
        Value r = body(nb, nl, args.drop_back());
        linalg::YieldOp::create(nb, nl, r);
      });
  return op.getResult(0);
}

Value elementwise(OpBuilder &b, Location loc, RankedTensorType type,
                  ValueRange inputs, BodyFn body) {
  SmallVector<AffineMap> maps(inputs.size(),
                              b.getMultiDimIdentityMap(type.getRank()));
  return generic(b, loc, type, inputs, maps, body);
}

/// Sums `x` over the dims that `outMap` drops, into a zero-filled tensor.
Value reduction(OpBuilder &b, Location loc, Value x, RankedTensorType outType,
                AffineMap outMap, ArrayRef<utils::IteratorType> iters) {
  Type elem = outType.getElementType();
  Value init = tensor::EmptyOp::create(b, loc, outType.getShape(), elem);
  Value zero = floatConst(b, loc, elem, 0.0);
  Value filled =
      linalg::FillOp::create(b, loc, ValueRange{zero}, ValueRange{init})
          .getResult(0);
  unsigned rank = cast<RankedTensorType>(x.getType()).getRank();
  auto op = linalg::GenericOp::create(
      b, loc, outType, ValueRange{x}, ValueRange{filled},
      ArrayRef<AffineMap>{b.getMultiDimIdentityMap(rank), outMap}, iters,
      [&](OpBuilder &nb, Location nl, ValueRange args) {
        Value s = arith::AddFOp::create(nb, nl, args[1], args[0]);
        linalg::YieldOp::create(nb, nl, s);
      });
  return op.getResult(0);
}

/// log(1 + u), accurate for small u (Goldberg's trick), without relying
/// on a libm log1p.
Value log1p(OpBuilder &b, Location loc, Value u) {
  Type t = u.getType();
  Value one = floatConst(b, loc, t, 1.0);
  Value w = arith::AddFOp::create(b, loc, one, u);
  Value isOne = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, w, one);
  Value lw = math::LogOp::create(b, loc, w);
  Value scaled = arith::DivFOp::create(
      b, loc, arith::MulFOp::create(b, loc, lw, u),
      arith::SubFOp::create(b, loc, w, one));
  return arith::SelectOp::create(b, loc, isOne, u, scaled);
}

Value lower(OpBuilder &b, Operation *op) {
  Location loc = op->getLoc();
  auto type = cast<RankedTensorType>(op->getResult(0).getType());
  Type elem = type.getElementType();
  auto unary = [&](auto fn) {
    return elementwise(b, loc, type, op->getOperands(),
                       [&](OpBuilder &nb, Location nl, ValueRange a) {
                         return fn(nb, nl, a[0]);
                       });
  };
  auto binary = [&](auto fn) {
    return elementwise(b, loc, type, op->getOperands(),
                       [&](OpBuilder &nb, Location nl, ValueRange a) {
                         return fn(nb, nl, a[0], a[1]);
                       });
  };
  using OB = OpBuilder;
  using L = Location;
  return llvm::TypeSwitch<Operation *, Value>(op)
      .Case([&](LossExpOp) {
        return unary([](OB &nb, L l, Value x) -> Value {
          return math::ExpOp::create(nb, l, x);
        });
      })
      .Case([&](LossLogOp) {
        return unary([](OB &nb, L l, Value x) -> Value {
          return math::LogOp::create(nb, l, x);
        });
      })
      .Case([&](LossNegOp) {
        return unary([](OB &nb, L l, Value x) -> Value {
          return arith::NegFOp::create(nb, l, x);
        });
      })
      .Case([&](LossSqrtOp) {
        return unary([](OB &nb, L l, Value x) -> Value {
          return math::SqrtOp::create(nb, l, x);
        });
      })
      .Case([&](LossStopGradientOp o) { return o.getX(); })
      .Case([&](LossSigmoidOp) {
        return unary([](OB &nb, L l, Value x) -> Value {
          // 1 / (1 + exp(−x))
          Value one = floatConst(nb, l, x.getType(), 1.0);
          Value e = math::ExpOp::create(nb, l, arith::NegFOp::create(nb, l, x));
          return arith::DivFOp::create(nb, l, one,
                                       arith::AddFOp::create(nb, l, one, e));
        });
      })
      .Case([&](LossLogSigmoidOp) {
        return unary([](OB &nb, L l, Value x) -> Value {
          // min(x, 0) − log1p(exp(−|x|))
          Value zero = floatConst(nb, l, x.getType(), 0.0);
          Value mn = arith::MinimumFOp::create(nb, l, x, zero);
          Value e = math::ExpOp::create(
              nb, l, arith::NegFOp::create(nb, l, math::AbsFOp::create(nb, l, x)));
          return arith::SubFOp::create(nb, l, mn, log1p(nb, l, e));
        });
      })
      .Case([&](LossAddOp) {
        return binary([](OB &nb, L l, Value x, Value y) -> Value {
          return arith::AddFOp::create(nb, l, x, y);
        });
      })
      .Case([&](LossSubOp) {
        return binary([](OB &nb, L l, Value x, Value y) -> Value {
          return arith::SubFOp::create(nb, l, x, y);
        });
      })
      .Case([&](LossMulOp) {
        return binary([](OB &nb, L l, Value x, Value y) -> Value {
          return arith::MulFOp::create(nb, l, x, y);
        });
      })
      .Case([&](LossDivOp) {
        return binary([](OB &nb, L l, Value x, Value y) -> Value {
          return arith::DivFOp::create(nb, l, x, y);
        });
      })
      .Case([&](LossMinOp) {
        return binary([](OB &nb, L l, Value x, Value y) -> Value {
          return arith::MinimumFOp::create(nb, l, x, y);
        });
      })
      .Case([&](LossMaxOp) {
        return binary([](OB &nb, L l, Value x, Value y) -> Value {
          return arith::MaximumFOp::create(nb, l, x, y);
        });
      })
      .Case([&](LossClampOp o) {
        std::optional<double> lo, hi;
        if (o.getMin())
          lo = o.getMin()->convertToDouble();
        if (o.getMax())
          hi = o.getMax()->convertToDouble();
        return unary([&](OB &nb, L l, Value x) -> Value {
          if (lo)
            x = arith::MaximumFOp::create(nb, l, x,
                                          floatConst(nb, l, x.getType(), *lo));
          if (hi)
            x = arith::MinimumFOp::create(nb, l, x,
                                          floatConst(nb, l, x.getType(), *hi));
          return x;
        });
      })
      .Case([&](LossCmpOp o) {
        arith::CmpFPredicate pred;
        switch (o.getPredicate()) {
        case CmpPredicate::lt: pred = arith::CmpFPredicate::OLT; break;
        case CmpPredicate::le: pred = arith::CmpFPredicate::OLE; break;
        case CmpPredicate::gt: pred = arith::CmpFPredicate::OGT; break;
        case CmpPredicate::ge: pred = arith::CmpFPredicate::OGE; break;
        }
        return binary([&](OB &nb, L l, Value x, Value y) -> Value {
          Value c = arith::CmpFOp::create(nb, l, pred, x, y);
          return arith::SelectOp::create(nb, l, c,
                                         floatConst(nb, l, x.getType(), 1.0),
                                         floatConst(nb, l, x.getType(), 0.0));
        });
      })
      .Case([&](LossSelectOp) {
        return elementwise(
            b, loc, type, op->getOperands(),
            [&](OB &nb, L l, ValueRange a) -> Value {
              Value c = arith::CmpFOp::create(
                  nb, l, arith::CmpFPredicate::UNE, a[0],
                  floatConst(nb, l, a[0].getType(), 0.0));
              return arith::SelectOp::create(nb, l, c, a[1], a[2]);
            });
      })
      .Case([&](LossConstOp o) -> Value {
        return arith::ConstantOp::create(
            b, loc, type,
            DenseElementsAttr::get(
                type, b.getFloatAttr(elem, o.getValue().convertToDouble())
                          .getValue()));
      })
      .Case([&](LossBroadcastOp o) {
        auto from = cast<RankedTensorType>(o.getX().getType());
        AffineMap map =
            from.getRank() == 0
                ? AffineMap::get(type.getRank(), 0, b.getContext())
                : AffineMap::get(type.getRank(), 0, {b.getAffineDimExpr(0)},
                                 b.getContext());
        return generic(b, loc, type, o.getX(), map,
                       [](OB &, L, ValueRange a) { return a[0]; });
      })
      .Case([&](LossSumOp o) {
        unsigned rank = cast<RankedTensorType>(o.getX().getType()).getRank();
        SmallVector<utils::IteratorType> iters(rank,
                                               utils::IteratorType::reduction);
        return reduction(b, loc, o.getX(), type,
                         AffineMap::get(rank, 0, b.getContext()), iters);
      })
      .Case([&](LossSeqSumOp o) {
        return reduction(
            b, loc, o.getX(), type,
            AffineMap::get(2, 0, {b.getAffineDimExpr(0)}, b.getContext()),
            {utils::IteratorType::parallel, utils::IteratorType::reduction});
      })
      .Case([&](LossGroupMeanOp o) {
        int64_t n = type.getDimSize(0), g = o.getGroupSize();
        auto grouped = RankedTensorType::get({n / g, g}, elem);
        SmallVector<ReassociationIndices> reassoc{{0, 1}};
        Value x2 = tensor::ExpandShapeOp::create(b, loc, grouped, o.getX(),
                                                 reassoc);
        auto perGroup = RankedTensorType::get({n / g}, elem);
        Value sums = reduction(
            b, loc, x2, perGroup,
            AffineMap::get(2, 0, {b.getAffineDimExpr(0)}, b.getContext()),
            {utils::IteratorType::parallel, utils::IteratorType::reduction});
        Value inv = floatConst(b, loc, elem, 1.0 / double(g));
        Value spread = generic(
            b, loc, grouped, sums,
            AffineMap::get(2, 0, {b.getAffineDimExpr(0)}, b.getContext()),
            [&](OB &nb, L l, ValueRange a) -> Value {
              return arith::MulFOp::create(nb, l, a[0], inv);
            });
        return tensor::CollapseShapeOp::create(b, loc, type, spread, reassoc)
            .getResult();
      })
      .Default([](Operation *) { return Value(); });
}

struct ConvertHoneLossToLinalg
    : public mlir::hone::impl::ConvertHoneLossToLinalgBase<
          ConvertHoneLossToLinalg> {
  void getDependentDialects(DialectRegistry &registry) const override {
    ConvertHoneLossToLinalgBase::getDependentDialects(registry);
    registerLossLoweringInterfaces(registry);
  }
  void runOnOperation() override {
    decomposeLossOps(getOperation());
    SmallVector<Operation *> ops;
    getOperation()->walk([&](Operation *op) {
      if (op->getDialect() &&
          op->getDialect()->getNamespace() == "hone" &&
          op->getName().getStringRef().starts_with("hone.loss.") &&
          !isa<LossYieldOp>(op))
        ops.push_back(op);
    });
    for (Operation *op : ops) {
      OpBuilder b(op);
      Value v = lower(b, op);
      if (!v) {
        op->emitOpError("has no lowering to linalg");
        return signalPassFailure();
      }
      op->getResult(0).replaceAllUsesWith(v);
      op->erase();
    }
  }
};

} // namespace
