// Spec loading for the compiler: the spec layer's plain diagnostics reported
// as MLIR diagnostics at FileLineColLocs in the spec file, so that a
// SourceMgrDiagnosticHandler prints them with the source line and
// SourceMgrDiagnosticVerifierHandler checks `expected-error` markers in
// spec files.
#pragma once

#include "frontend/Spec.h"

#include "mlir/IR/Location.h"
#include "mlir/IR/MLIRContext.h"

namespace mlir::hone {

/// A FileLineColLoc for a spec location (UnknownLoc when it has no file).
Location toLocation(MLIRContext &ctx, const ::hone::spec::SourceLoc &loc);

/// Emits every diagnostic (errors with their notes, warnings).
void emitSpecDiagnostics(MLIRContext &ctx, const ::hone::spec::DiagnosticList &diags);

/// Loads, overrides, checks and resolves a spec, reporting problems through
/// the context's diagnostic engine. Returns null after an error.
std::unique_ptr<::hone::spec::LoadedSpec>
loadSpec(MLIRContext &ctx, const std::string &path,
         const std::vector<std::string> &overrides,
         const ::hone::spec::LoadOptions &options = {});

} // namespace mlir::hone
