//===- OutlineLossKernels.cpp - one function per train step ---------------===//

#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/IRMapping.h"

namespace mlir::hone {
#define GEN_PASS_DEF_OUTLINELOSSKERNELS
#include "passes/Passes.h.inc"
} // namespace mlir::hone

using namespace mlir;
using namespace mlir::hone;

namespace {
struct OutlineLossKernels
    : public mlir::hone::impl::OutlineLossKernelsBase<OutlineLossKernels> {
  using OutlineLossKernelsBase::OutlineLossKernelsBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    OpBuilder b(module.getContext());
    b.setInsertionPointToEnd(module.getBody());
    SymbolTable symbols(module);
    int64_t counter = 0;
    bool failed = false;
    SmallVector<Operation *> kernels;
    module.walk([&](TrainStepOp step) {
      if (step.getGradient().empty()) {
        step.emitOpError("has no gradient region: run hone-differentiate "
                         "before hone-outline-loss-kernels");
        failed = true;
        return;
      }
      std::string name;
      if (step.getKernel()) {
        name = step.getKernel()->str();
      } else {
        auto pipeline = step->getParentOfType<PipelineOp>();
        name = ((pipeline ? pipeline.getSymName() : StringRef("hone")) +
                "_step" + Twine(counter++))
                   .str();
      }
      Block &block = step.getGradient().front();
      auto yield = cast<LossYieldOp>(block.getTerminator());
      auto type = b.getFunctionType(block.getArgumentTypes(),
                                    yield.getOperandTypes());
      auto func = func::FuncOp::create(b, step.getLoc(), name, type);
      symbols.insert(func); // renames on a clash
      step.setKernel(func.getSymName());
      if (auto names = step.getArgNames())
        func->setAttr("hone.arg_names", *names);
      func->setAttr("hone.metric_names", yield.getMetricNames());
      func->setAttr("hone.num_grads",
                    b.getI64IntegerAttr(yield.getGrads().size()));
      Block *body = func.addEntryBlock();
      IRMapping map;
      map.map(block.getArguments(), body->getArguments());
      OpBuilder fb = OpBuilder::atBlockEnd(body);
      for (Operation &op : block.without_terminator())
        fb.clone(op, map);
      SmallVector<Value> results;
      for (Value v : yield.getOperands())
        results.push_back(map.lookupOrDefault(v));
      func::ReturnOp::create(fb, yield.getLoc(), results);
      kernels.push_back(func);
    });
    if (failed)
      return signalPassFailure();
    if (kernelsOnly) {
      llvm::SmallPtrSet<Operation *, 8> keep(kernels.begin(), kernels.end());
      for (Operation &op : llvm::make_early_inc_range(*module.getBody()))
        if (!keep.contains(&op))
          op.erase();
    }
  }
};
} // namespace
