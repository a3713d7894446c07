//===- Passes.h - hone passes -----------------------------------*- C++ -*-===//
#pragma once

#include "dialect/HoneOps.h"
#include "mlir/Pass/Pass.h"

#include <string>

namespace mlir::hone {
#define GEN_PASS_DECL
#include "passes/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/Passes.h.inc"

/// Ops that --convert-hone-to-runtime lowers to hone_rt_object: they create
/// a runtime object, and the runtime drains every lane before running them.
bool isRuntimeObjectOp(Operation *op);

/// Bytes in the largest binary unit that keeps the number at least 1, one
/// decimal ("15.1 MiB"); INT64_MAX (a saturated count) is "more than 8 EiB".
/// Used by the memory passes' messages and honec --report.
std::string humanBytes(int64_t bytes);

/// Whether hone-precompute-reference takes `op`'s reference out of its
/// stage loop (a DPO or IPO stage whose records are known at compile time,
/// where that lowers the FLOPs or the peak): hone-estimate-memory then
/// counts no frozen reference for the stage.
bool precomputesReference(PreferenceOp op);
} // namespace mlir::hone
