//===- BuildLossKernels.cpp - loss kernels beside the job's main ----------===//
//
// Compiles every train step's differentiated objective with the
// `hone-loss-to-llvm` pipeline (on copies of the pipelines, in a nested
// module, so the step IR stays as it is) and adds, for each kernel `k`, the
// packed entry point the runtime calls (hone_loss_fn):
//
//   void k_packed(void **args) { k(args[0], args[1], ..., args[n-1]); }
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"
#include "passes/Pipelines.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/StringSet.h"

namespace mlir::hone {
#define GEN_PASS_DEF_BUILDLOSSKERNELS
#include "passes/Passes.h.inc"
} // namespace mlir::hone

using namespace mlir;
using namespace mlir::hone;

namespace {
struct BuildLossKernels
    : public mlir::hone::impl::BuildLossKernelsBase<BuildLossKernels> {
  void getDependentDialects(DialectRegistry &registry) const override {
    registry.insert<LLVM::LLVMDialect>();
    OpPassManager pm(ModuleOp::getOperationName());
    buildLossToLLVMPipeline(pm);
    pm.getDependentDialects(registry);
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<PipelineOp> pipelines(module.getOps<PipelineOp>());
    bool any = false;
    for (PipelineOp p : pipelines)
      p.walk([&](TrainStepOp) { any = true; });
    if (!any)
      return;

    OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
    auto nested = ModuleOp::create(b, module.getLoc(), "hone_loss_kernels");
    OpBuilder nb = OpBuilder::atBlockEnd(nested.getBody());
    for (PipelineOp p : pipelines)
      nb.clone(*p.getOperation());

    OpPassManager pm(ModuleOp::getOperationName());
    buildLossToLLVMPipeline(pm);
    if (failed(runPipeline(pm, nested))) {
      nested.emitError("hone-build-loss-kernels: the loss-to-LLVM pipeline "
                       "failed on the train steps' objectives");
      return signalPassFailure();
    }

    // Kernels, their constant globals and the malloc/free they declare join
    // the module.
    SymbolTable symbols(module);
    b.setInsertionPoint(nested);
    for (Operation &op : llvm::make_early_inc_range(*nested.getBody())) {
      if (!isa<LLVM::LLVMFuncOp, LLVM::GlobalOp>(op))
        continue;
      StringRef name = SymbolTable::getSymbolName(&op).getValue();
      if (symbols.lookup(name)) {
        auto fn = dyn_cast<LLVM::LLVMFuncOp>(op);
        if (fn && fn.isExternal())
          continue; // a declaration the module already has
        op.emitError("hone-build-loss-kernels: symbol clashes with @")
            << name;
        return signalPassFailure();
      }
      op.moveBefore(nested);
      symbols.insert(&op);
    }
    nested.erase();

    // The packed wrappers.
    MLIRContext *ctx = module.getContext();
    auto ptr = LLVM::LLVMPointerType::get(ctx);
    b.setInsertionPointToEnd(module.getBody());
    llvm::StringSet<> done;
    for (PipelineOp p : pipelines) {
      WalkResult r = p.walk([&](TrainStepOp step) {
        if (!step.getKernel()) {
          step.emitOpError("has no kernel name (run hone-expand-stages)");
          return WalkResult::interrupt();
        }
        StringRef name = *step.getKernel();
        if (!done.insert(name).second)
          return WalkResult::advance();
        auto kernel = symbols.lookup<LLVM::LLVMFuncOp>(name);
        if (!kernel) {
          step.emitOpError("kernel @") << name << " was not generated";
          return WalkResult::interrupt();
        }
        auto type = LLVM::LLVMFunctionType::get(LLVM::LLVMVoidType::get(ctx),
                                                {ptr});
        auto packed = LLVM::LLVMFuncOp::create(b, step.getLoc(),
                                               (name + "_packed").str(), type);
        Block *entry = packed.addEntryBlock(b);
        OpBuilder fb = OpBuilder::atBlockEnd(entry);
        Location loc = step.getLoc();
        SmallVector<Value> args;
        for (auto [i, t] :
             llvm::enumerate(kernel.getFunctionType().getParams())) {
          if (!isa<LLVM::LLVMPointerType>(t)) {
            step.emitOpError("kernel @")
                << name << " takes a non-pointer argument " << t;
            return WalkResult::interrupt();
          }
          Value slot = LLVM::GEPOp::create(
              fb, loc, ptr, ptr, entry->getArgument(0),
              ArrayRef<LLVM::GEPArg>{static_cast<int32_t>(i)});
          args.push_back(LLVM::LoadOp::create(fb, loc, ptr, slot));
        }
        LLVM::CallOp::create(fb, loc, kernel, args);
        LLVM::ReturnOp::create(fb, loc, ValueRange{});
        return WalkResult::advance();
      });
      if (r.wasInterrupted())
        return signalPassFailure();
    }
  }
};
} // namespace
