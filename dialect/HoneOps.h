//===- HoneOps.h - hone ops -------------------------------------*- C++ -*-===//
#pragma once

#include "dialect/HoneDialect.h"
#include "dialect/HoneTypes.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#define GET_OP_CLASSES
#include "dialect/HoneOps.h.inc"

namespace mlir::hone {
/// The spec name of a model value: the `name` of the hone.model.init, load
/// or new_head it descends from, or the `hone.output` name of the stage
/// that trained it, followed through stage ops, scf.for iteration
/// arguments and results, train steps and snapshots. Empty when unknown
/// (IR written without names).
std::string modelName(Value model);
/// Sets the discardable `hone.models` attribute (one name per model
/// operand, from modelName) on every op under `root` that takes models:
/// what reports, remarks and plugin passes read to say which model an op
/// runs (docs/dialect.md).
void annotateModelNames(Operation *root);
/// The names in an op's `hone.models` annotation (empty without one).
SmallVector<StringRef> modelNamesOf(Operation *op);
/// The hone.generate whose sampled tokens `tokens` are, looking through
/// hone.group_filter; null for tokens from data. Log-probs of these tokens
/// are taken at its temperature.
GenerateOp producingGenerate(Value tokens);
} // namespace mlir::hone
