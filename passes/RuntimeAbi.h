//===- RuntimeAbi.h - the runtime boundary table, compiler side -*- C++ -*-===//
//
// runtime/abi/step_ops.inl lists every op that reaches the runtime through
// hone_rt_object / hone_rt_step / hone_rt_train_step / hone_rt_stage_begin
// and the attributes its JSON carries. convert-hone-to-runtime emits exactly
// those; checkAbiTable checks the table against the registered dialect.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "runtime/abi/AbiTable.h" // plain C++

#include "mlir/IR/MLIRContext.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/Twine.h"

namespace mlir::hone {
namespace abi = ::hone::abi;

/// Whether convert-hone-to-runtime lowers hone op `opName` ("hone.generate")
/// through a row of the table: every hone op except the stage level
/// (pipeline, sft, rl, ...), the loss algebra (hone.loss.*) and the
/// hone.exec ops that have calls of their own (step_end, stage_end, signal,
/// wait, sync).
bool lowersThroughAbiTable(llvm::StringRef opName);

/// Checks `ops` and `attrs` (normally abi::kOps, abi::kAttrs) against the
/// hone ops registered in `ctx`: every row names a registered op whose
/// lowering goes through the table, with the call kind the lowering uses;
/// an ODS attribute is one the op declares, a DISC one is one it does not;
/// every attribute names a row; every registered op the lowering sends
/// through the table has a row. Calls `complain` once per disagreement and
/// returns how many there were.
unsigned checkAbiTable(MLIRContext *ctx, llvm::ArrayRef<abi::OpRow> ops,
                       llvm::ArrayRef<abi::AttrRow> attrs,
                       llvm::function_ref<void(const llvm::Twine &)> complain);

} // namespace mlir::hone
