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
