// Error values for the runtime: no exceptions cross the runtime's API, and bad
// input never crashes. A message follows the compiler's diagnostic form,
// "FILE:LINE:COL: error: WHAT" (or "FILE: error: WHAT" / "FILE:@OFFSET: ...")
// so that tools print it verbatim as one line, optionally followed by a hint.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>

namespace hone {

class [[nodiscard]] Status {
public:
  Status() = default;
  static Status ok() { return Status(); }
  static Status error(std::string message, std::string hint = {}) {
    Status s;
    s.failed_ = true;
    s.message_ = std::move(message);
    s.hint_ = std::move(hint);
    return s;
  }

  bool isOk() const { return !failed_; }
  explicit operator bool() const { return !failed_; }
  const std::string &message() const { return message_; }
  const std::string &hint() const { return hint_; }
  /// The message and, when present, the hint on a second line.
  std::string toString() const {
    return hint_.empty() ? message_ : message_ + "\n  hint: " + hint_;
  }

private:
  bool failed_ = false;
  std::string message_;
  std::string hint_;
};

/// A value or the Status that explains why there is none.
template <typename T> class [[nodiscard]] Expected {
public:
  Expected(T value) : value_(std::move(value)) {}
  Expected(Status status) : status_(std::move(status)) {
    assert(!status_.isOk() && "Expected built from an OK status");
  }

  bool isOk() const { return value_.has_value(); }
  explicit operator bool() const { return isOk(); }
  const Status &status() const { return status_; }
  T &operator*() { return *value_; }
  const T &operator*() const { return *value_; }
  T *operator->() { return &*value_; }
  const T *operator->() const { return &*value_; }
  T take() { return std::move(*value_); }

private:
  std::optional<T> value_;
  Status status_;
};

} // namespace hone

/// Propagates a failed Status from an expression returning Status.
#define HONE_TRY(expr)                                                         \
  do {                                                                         \
    ::hone::Status _hone_s = (expr);                                           \
    if (!_hone_s.isOk())                                                       \
      return _hone_s;                                                          \
  } while (0)
