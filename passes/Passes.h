//===- Passes.h - hone passes -----------------------------------*- C++ -*-===//
#pragma once

#include "dialect/HoneOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir::hone {
#define GEN_PASS_DECL
#include "passes/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/Passes.h.inc"
} // namespace mlir::hone
