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

#include "mlir/IR/Attributes.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/Twine.h"

#include <string>

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

/// The row of runtime/abi/settings.inl that settings attribute `a` is
/// written by (found by the attribute's name, "#hone.arch"), or null for an
/// attribute the runtime reads no members of.
const abi::SettingsRow *settingsRowOf(Attribute a);

/// Checks `json`, a settings object as passes/AttrToJson.cpp writes it,
/// against row `id` of runtime/abi/settings.inl and, for members that are
/// settings objects themselves, against theirs: every required member
/// present with its kind, nothing unlisted. The runtime decodes the object
/// by the same rows. Returns the first disagreement, naming the member by
/// its path ("missing setting 'generation.top_k' (an integer)"), or "".
std::string checkSettingsJson(abi::SettingsId id, llvm::StringRef json);

} // namespace mlir::hone
