//===- Emit.h - LLVM IR, object files and linking for honec -----*- C++ -*-===//
#pragma once

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/raw_ostream.h"
#include <string>

namespace honec {

/// Registers the builtin and LLVM dialect translations with the context.
void registerTranslations(mlir::MLIRContext &ctx);

/// Prints `module` (LLVM dialect only) as LLVM IR.
mlir::LogicalResult printLLVMIR(mlir::ModuleOp module, llvm::raw_ostream &os);

/// Optimises (O2) and writes an object file for the host.
mlir::LogicalResult emitObject(mlir::ModuleOp module, llvm::StringRef path);

/// Links `object` with the runtime into the executable `output`: the
/// system C++ compiler recorded at configure time, the object, then the
/// arguments in `<dir of honec>/../lib/hone-link.txt`.
mlir::LogicalResult linkExecutable(mlir::MLIRContext &ctx,
                                   llvm::StringRef honecPath,
                                   llvm::StringRef object,
                                   llvm::StringRef output);

} // namespace honec
