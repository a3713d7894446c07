//===- hone-opt.cpp - mlir-opt for Hone -----------------------------------===//
//
// Parses, verifies, transforms and prints Hone IR. Knows the hone dialect,
// Hone's passes and named pipelines, the upstream dialects Hone lowers
// through and the upstream passes; loads more with --load-pass-plugin and
// --load-dialect-plugin. Pass plugins are loaded before the command line is
// parsed, so their passes are flags too:
//   hone-opt --load-pass-plugin=P.so --my-pass='opt=1' in.mlir
//
//===----------------------------------------------------------------------===//

#include "dialect/HoneDialect.h"
#include "passes/Passes.h"
#include "passes/Pipelines.h"
#include "tools/PluginLoader.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  registry.insert<mlir::hone::HoneDialect, mlir::arith::ArithDialect,
                  mlir::bufferization::BufferizationDialect,
                  mlir::cf::ControlFlowDialect, mlir::func::FuncDialect,
                  mlir::gpu::GPUDialect, mlir::LLVM::LLVMDialect,
                  mlir::NVVM::NVVMDialect, mlir::linalg::LinalgDialect,
                  mlir::math::MathDialect, mlir::memref::MemRefDialect,
                  mlir::scf::SCFDialect, mlir::tensor::TensorDialect>();

  mlir::registerTransformsPasses();
  mlir::registerConversionPasses();
  mlir::hone::registerHonePasses();
  mlir::hone::registerPipelines();

  // MlirOptMain builds one flag per registered pass when it parses the
  // command line; plugins loaded while parsing would come too late for that.
  std::vector<char *> args(argv, argv + argc);
  if (!hone::tools::preloadPassPlugins("hone-opt", args))
    return 1;
  // Diagnostics are one located line: the op they are about is not printed
  // with them unless --mlir-print-op-on-diagnostic asks for it.
  bool opOnDiag = llvm::any_of(args, [](const char *a) {
    return llvm::StringRef(a).contains("mlir-print-op-on-diagnostic");
  });
  static char noOpOnDiag[] = "--mlir-print-op-on-diagnostic=false";
  if (!opOnDiag)
    args.insert(args.begin() + 1, noOpOnDiag);
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      static_cast<int>(args.size()), args.data(),
      "Hone optimizer driver: passes and pipelines on Hone IR\n", registry));
}
