//===- HoneTypes.cpp - hone types -----------------------------------------===//

#include "dialect/HoneTypes.h"
#include "dialect/HoneDialect.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::hone;

#define GET_TYPEDEF_CLASSES
#include "dialect/HoneTypes.cpp.inc"

bool DatasetType::hasPrompts() const {
  return getLayout() != DataLayout::text;
}

bool DatasetType::hasCompletions() const {
  switch (getLayout()) {
  case DataLayout::text:
  case DataLayout::messages:
  case DataLayout::prompt_completion:
  case DataLayout::prompt_answer:
    return true;
  case DataLayout::preference:
  case DataLayout::unpaired_preference:
    return false;
  }
  return false;
}

void HoneDialect::registerTypes() {
  addTypes<
#define GET_TYPEDEF_LIST
#include "dialect/HoneTypes.cpp.inc"
      >();
}
