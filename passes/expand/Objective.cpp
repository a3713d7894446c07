//===- Objective.cpp - hone-expand-stages: user-written objectives --------===//
//
// An RL stage's `objective` (dialect/ObjectiveExpr.h) written in the loss
// algebra (passes/expand/Expander.h has what the method families share).
//
//===----------------------------------------------------------------------===//

#include "passes/expand/Expander.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::hone;

namespace mlir::hone::expand {

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

} // namespace mlir::hone::expand
