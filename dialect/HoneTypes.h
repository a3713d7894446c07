//===- HoneTypes.h - hone types ---------------------------------*- C++ -*-===//
#pragma once

#include "dialect/HoneAttrs.h"
#include "mlir/IR/Types.h"

#define GET_TYPEDEF_CLASSES
#include "dialect/HoneTypes.h.inc"
