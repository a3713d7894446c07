//===- HoneAttrs.h - hone enums and attributes ------------------*- C++ -*-===//
#pragma once

#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectImplementation.h"

#include "runtime/base/ModelConfig.h"

#include "dialect/HoneEnums.h.inc"

namespace mlir::hone {
/// Parses a float literal for a `double` attribute or type parameter.
FailureOr<llvm::APFloat> parseF64Param(AsmParser &parser);
/// Prints the shortest float literal that parses back to the same double.
void printF64Param(AsmPrinter &printer, const llvm::APFloat &value);
/// Parse a transformer family and a RoPE scaling by their keywords
/// (runtime/base/ModelConfig.h).
FailureOr<::hone::ModelFamily> parseModelFamily(AsmParser &parser);
FailureOr<::hone::RopeScaling> parseRopeScaling(AsmParser &parser);
} // namespace mlir::hone

#define GET_ATTRDEF_CLASSES
#include "dialect/HoneAttrs.h.inc"

namespace mlir::hone {
/// Advantages are normalised within groups of samples of one prompt (GRPO,
/// Dr. GRPO, DAPO, RLOO): the one definition every layer uses.
bool isGroupAlgorithm(RlAlgorithm a);
/// The GRPO family (GRPO, Dr. GRPO, DAPO): KL in the loss with k3 by
/// default, 8 samples per prompt (frontend/Defaults.cpp).
bool isGrpoFamily(RlAlgorithm a);
} // namespace mlir::hone
