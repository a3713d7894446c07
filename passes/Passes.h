//===- Passes.h - hone passes -----------------------------------*- C++ -*-===//
#pragma once

#include "dialect/HoneOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir::hone {
#define GEN_PASS_DECL
#include "passes/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/Passes.h.inc"

/// Ops that --convert-hone-to-runtime lowers to hone_rt_object: they create
/// a runtime object, and the runtime drains every lane before running them.
bool isRuntimeObjectOp(Operation *op);
} // namespace mlir::hone
