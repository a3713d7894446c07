//===- AttrToJson.h - attributes as JSON for the runtime ABI ----*- C++ -*-===//
//
// The runtime receives op attributes as JSON (runtime/abi/hone_runtime.h).
// Integers print as integers, bools as true/false, floats with 17
// significant digits (they round-trip through strtod; NaN and ±Inf, which
// JSON lacks, print as the strings "nan", "inf", "-inf"), strings escaped,
// arrays and dense arrays as lists, dictionaries as objects (keys sorted, as
// MLIR stores them), #hone.arch as an object of its fields, enum attributes
// (#hone<sft_variant dft>) as their keyword, and anything else as the string
// MLIR prints for it.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinAttributes.h"
#include <string>

namespace mlir::hone {

void printJson(llvm::raw_ostream &os, Attribute attr);
std::string toJson(Attribute attr);
/// Only these keys of `dict`, plus `extra` (name, value) pairs after them.
std::string toJson(DictionaryAttr dict,
                   ArrayRef<std::pair<StringRef, Attribute>> extra);

} // namespace mlir::hone
