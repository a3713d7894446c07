//===- HoneDialect.h - the hone dialect -------------------------*- C++ -*-===//
#pragma once

#include "mlir/IR/Dialect.h"

#include "dialect/HoneDialect.h.inc"
