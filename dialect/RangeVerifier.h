//===- RangeVerifier.h - attribute verifiers read SettingRanges -*- C++ -*-===//
//
// How an attribute verifier checks its parameters against their rows of
// dialect/SettingRanges.def (the ranges the spec checker reads too).
// Internal to the dialect library.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "dialect/SettingRanges.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/SmallPtrSet.h"

namespace mlir::hone {

/// Checks an attribute's parameters against their rows of
/// dialect/SettingRanges.def and reports the first violation.
class RangeCheck {
public:
  RangeCheck(function_ref<InFlightDiagnostic()> emitError, StringRef attr)
      : emitError(emitError), attr(attr) {}

  /// `param`'s value against its row of the table.
  RangeCheck &rule(StringRef param, double v) {
    const ::hone::ranges::Row *r = ::hone::ranges::attrRow(attr, param);
    if (!r) {
      fail() << "#hone." << attr << ": " << param
             << " has no row in dialect/SettingRanges.def";
      return *this;
    }
    checked.insert(r);
    if (!failed && !::hone::ranges::admits(*r, v))
      fail() << "#hone." << attr << ": " << param << " = "
             << ::hone::ranges::number(v) << " must "
             << (std::isfinite(v) ? ::hone::ranges::requirement(*r)
                                  : std::string("be finite"))
             << " (" << ::hone::ranges::hint(*r) << ")";
    // The size bound of the row's spec field (HONE_COUNT_LIMIT).
    if (long long lim = ::hone::ranges::countLimit(r->field);
        !failed && lim > 0 && v > double(lim))
      fail() << "#hone." << attr << ": " << param << " = "
             << (v < 9.2e18 ? std::to_string((long long)v)
                            : ::hone::ranges::number(v))
             << " is more than " << lim
             << ", the largest " << r->field
             << " Hone accepts (dialect/SettingRanges.def)";
    return *this;
  }
  /// Settings without a row: only finite values (their ranges depend on
  /// other settings, e.g. a hybrid's schedule, or there are none).
  RangeCheck &finite(StringRef name, double v) {
    if (!failed && !std::isfinite(v))
      fail() << "#hone." << attr << ": " << name << " = "
             << ::hone::ranges::number(v) << " must be finite";
    return *this;
  }
  /// lo <= v <= hi for a setting whose range depends on where it is used.
  RangeCheck &within(StringRef name, double v, double lo, double hi) {
    if (!failed && !(v >= lo && v <= hi))
      fail() << "#hone." << attr << ": " << name << " = "
             << ::hone::ranges::number(v) << " must be in ["
             << ::hone::ranges::number(lo) << ", " << ::hone::ranges::number(hi)
             << "]";
    return *this;
  }
  /// Fails as well when a row of the attribute was not checked: the table
  /// and the verifier must not drift apart.
  LogicalResult result() {
    if (!failed)
      for (const ::hone::ranges::Row &r : ::hone::ranges::kRows)
        if (attr == r.attr && !checked.count(&r)) {
          fail() << "#hone." << attr << ": the verifier does not check "
                 << r.param << " (dialect/SettingRanges.def)";
          break;
        }
    return failure(failed);
  }

private:
  InFlightDiagnostic fail() {
    failed = true;
    return emitError();
  }
  function_ref<InFlightDiagnostic()> emitError;
  StringRef attr;
  bool failed = false;
  llvm::SmallPtrSet<const ::hone::ranges::Row *, 16> checked;
};

} // namespace mlir::hone
