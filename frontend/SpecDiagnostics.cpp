#include "frontend/SpecDiagnostics.h"

#include "mlir/IR/Diagnostics.h"

namespace mlir::hone {

Location toLocation(MLIRContext &ctx, const ::hone::spec::SourceLoc &loc) {
  if (!loc.isKnown())
    return UnknownLoc::get(&ctx);
  return FileLineColLoc::get(&ctx, loc.file, std::max(loc.line, 0),
                             std::max(loc.col, 0));
}

void emitSpecDiagnostics(MLIRContext &ctx, const ::hone::spec::DiagnosticList &diags) {
  for (const ::hone::spec::Diagnostic &d : diags.all()) {
    Location loc = toLocation(ctx, d.loc);
    InFlightDiagnostic diag = d.severity == ::hone::spec::Diagnostic::Severity::Error
                                  ? emitError(loc)
                                  : emitWarning(loc);
    diag << d.message;
    for (const ::hone::spec::Note &n : d.notes)
      diag.attachNote(toLocation(ctx, n.loc)) << n.message;
  }
}

std::unique_ptr<::hone::spec::LoadedSpec>
loadSpec(MLIRContext &ctx, const std::string &path,
         const std::vector<std::string> &overrides,
         const ::hone::spec::LoadOptions &options) {
  ::hone::spec::DiagnosticList diags;
  auto loaded = ::hone::spec::loadSpec(path, overrides, diags, options);
  emitSpecDiagnostics(ctx, diags);
  return loaded;
}

} // namespace mlir::hone
