//===- SettingRanges.h - the range of every numeric spec setting -*- C++
//-*-===//
//
// The rows of dialect/SettingRanges.def as data, and the one test of a value
// against a row. Plain C++ with no MLIR, so the spec checker (frontend/check/,
// linked without MLIR by its fuzzer) and the dialect's verifiers read the same
// rows: a range and its hint are written once.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace hone::ranges {

enum class Rule {
  Positive,    // v > 0
  NonNegative, // v >= 0
  Above,       // v > lo
  AtLeast,     // v >= lo
  Closed,      // lo <= v <= hi
  HiOpen,      // lo <= v < hi
  Open,        // lo < v < hi
  LoOpen,      // lo < v <= hi
  OffOrAbove,  // v == 0 (off) or v > lo
  OffOrAtLeast // v == 0 (off) or v >= lo
};

struct Row {
  const char *message; // pipeline.proto message
  const char *field;   // its field
  const char *attr;    // #hone.<attr>, or "" (spec only)
  const char *param;   // the attribute's parameter
  Rule rule;
  double lo, hi;
  const char *hint; // "" for the rule's own
};

inline constexpr Row kRows[] = {
#define HONE_RANGE(Message, field, attr, param, rule, lo, hi, hint)            \
  Row{#Message, #field, attr, #param, Rule::rule, lo, hi, hint},
#include "dialect/SettingRanges.def"
};

/// The row of `message`'s `field`, or null.
struct CountLimit {
  const char *field;
  long long limit;
};
inline constexpr CountLimit kCountLimits[] = {
#define HONE_RANGE(Message, field, attr, param, rule, lo, hi, hint)
#define HONE_COUNT_LIMIT(field, limit) CountLimit{#field, (long long)(limit)},
#include "dialect/SettingRanges.def"
};

/// The largest value of an integer field named `field` (0: no limit).
inline long long countLimit(std::string_view field) {
  for (const CountLimit &c : kCountLimits)
    if (field == c.field)
      return c.limit;
  return 0;
}

inline const Row *specRow(std::string_view message, std::string_view field) {
  for (const Row &r : kRows)
    if (message == r.message && field == r.field)
      return &r;
  return nullptr;
}

/// The row of #hone.`attr`'s parameter `param`, or null.
inline const Row *attrRow(std::string_view attr, std::string_view param) {
  for (const Row &r : kRows)
    if (*r.attr && attr == r.attr && param == r.param)
      return &r;
  return nullptr;
}

/// Whether `v` is finite and within `r`.
inline bool admits(const Row &r, double v) {
  if (!std::isfinite(v))
    return false;
  switch (r.rule) {
  case Rule::Positive:
    return v > 0;
  case Rule::NonNegative:
    return v >= 0;
  case Rule::Above:
    return v > r.lo;
  case Rule::AtLeast:
    return v >= r.lo;
  case Rule::Closed:
    return v >= r.lo && v <= r.hi;
  case Rule::HiOpen:
    return v >= r.lo && v < r.hi;
  case Rule::Open:
    return v > r.lo && v < r.hi;
  case Rule::LoOpen:
    return v > r.lo && v <= r.hi;
  case Rule::OffOrAbove:
    return v == 0 || v > r.lo;
  case Rule::OffOrAtLeast:
    return v == 0 || v >= r.lo;
  }
  return false;
}

inline std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

/// What `r` asks for, as the end of "'x' must ...": "be positive",
/// "not be negative", "be in [0, 1)", "be above 1 (or 0: off)".
inline std::string requirement(const Row &r) {
  std::string lo = number(r.lo), hi = number(r.hi);
  switch (r.rule) {
  case Rule::Positive:
    return "be positive";
  case Rule::NonNegative:
    return "not be negative";
  case Rule::Above:
    return "be above " + lo;
  case Rule::AtLeast:
    return "be at least " + lo;
  case Rule::Closed:
    return "be in [" + lo + ", " + hi + "]";
  case Rule::HiOpen:
    return "be in [" + lo + ", " + hi + ")";
  case Rule::Open:
    return "be in (" + lo + ", " + hi + ")";
  case Rule::LoOpen:
    return "be in (" + lo + ", " + hi + "]";
  case Rule::OffOrAbove:
    return "be above " + lo + " (or 0: off)";
  case Rule::OffOrAtLeast:
    return "be at least " + lo + " (or 0: off)";
  }
  return "";
}

/// The row's hint, or the rule's own when the row has none.
inline std::string hint(const Row &r) {
  if (*r.hint)
    return r.hint;
  switch (r.rule) {
  case Rule::Positive:
    return "use a value of at least 1";
  case Rule::NonNegative:
    return "use 0 or more";
  default:
    return "use a value that is " + requirement(r).substr(3);
  }
}

/// The one cross-field rule of the clip range: clip-higher raises the upper
/// bound, never lowers it. Empty when `epsilonHigh` is fine.
inline std::string clipHigherProblem(double epsilon, double epsilonHigh) {
  if (epsilonHigh >= epsilon)
    return "";
  return "'epsilon_high' (" + number(epsilonHigh) + ") is below 'epsilon' (" +
         number(epsilon) + ")";
}
inline constexpr const char *kClipHigherHint =
    "clip-higher raises the upper bound: DAPO uses 0.28 with 0.2";

} // namespace hone::ranges
