// Lowering a checked, resolved spec to stage IR: one hone.pipeline holding
// the models, datasets, rewards and stages in program order, every op at a
// location in the spec (stage ops at NameLoc("<stage name>", file:line:col)).
//
//   MLIRContext ctx;  ctx.loadDialect<mlir::hone::HoneDialect>();
//   auto spec = mlir::hone::loadSpec(ctx, "spec.textproto", overrides);
//   auto module = spec ? mlir::hone::lowerSpecToStageIR(*spec, ctx) : nullptr;
#pragma once

#include "frontend/Spec.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

namespace mlir::hone {

/// Builds the stage IR of `spec` (which checkSpec accepted). Emits an error
/// and returns null for what the IR cannot express yet; the result is
/// verified.
OwningOpRef<ModuleOp> lowerSpecToStageIR(const ::hone::spec::LoadedSpec &spec,
                                         MLIRContext &ctx);

/// A protobuf message as an attribute dictionary: enums as their names,
/// integers as i64, floats as f64, repeated fields as arrays. Fields named in
/// `skip` are left out.
DictionaryAttr messageToDict(MLIRContext &ctx,
                             const google::protobuf::Message &msg,
                             llvm::ArrayRef<llvm::StringRef> skip = {});

} // namespace mlir::hone
