//===- ExpandStages.cpp - stage ops → loops of step ops -------------------===//
//
// Every method of docs/methods.md is written once, as step-level dataflow
// plus an objective in the loss algebra: one file per method family in
// passes/expand/ (Expander.h, Sft.cpp, Preference.cpp, Rl.cpp, Objective.cpp);
// this file is the pass, which expands every stage op of a pipeline. Each objective is commented with
// its formula; docs/methods.md repeats them with the settings they read.
// Settings come from the stage ops' typed attributes (dialect/HoneSettings.td),
// complete after the frontend: nothing here has a default of its own.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"
#include "passes/expand/Expander.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/TypeSwitch.h"

namespace mlir::hone {
#define GEN_PASS_DEF_EXPANDSTAGES
#include "passes/Passes.h.inc"
} // namespace mlir::hone

using namespace mlir;
using namespace mlir::hone;
using namespace mlir::hone::expand;

namespace {

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
