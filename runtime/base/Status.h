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

/// A message as it is shown: one that runs past 1000 bytes (a 10 MB name
/// quoted in it) has each quoted span ('...') over 200 bytes cut, with its
/// size ("'xxxx...' (10485760 bytes)"), and is then cut to 2000 bytes.
inline std::string boundMessage(std::string m) {
  constexpr size_t kLong = 1000, kQuoted = 200, kMax = 2000;
  if (m.size() <= kLong)
    return m;
  auto whole = [&](size_t n) { // not inside a UTF-8 character
    while (n > 0 && n < m.size() &&
           (static_cast<unsigned char>(m[n]) & 0xC0) == 0x80)
      --n;
    return n;
  };
  std::string out;
  size_t i = 0;
  while (i < m.size()) {
    size_t open = m.find('\'', i);
    size_t close = open == std::string::npos ? open : m.find('\'', open + 1);
    if (close == std::string::npos) {
      out.append(m, i, std::string::npos);
      break;
    }
    size_t len = close - open - 1;
    if (len > kQuoted) {
      out.append(m, i, whole(open + 1 + kQuoted) - i);
      out += "...' (" + std::to_string(len) + " bytes)";
    } else {
      out.append(m, i, close + 1 - i);
    }
    i = close + 1;
  }
  if (out.size() > kMax) {
    m.swap(out);
    out = m.substr(0, whole(kMax)) + "...(" + std::to_string(m.size()) +
          " bytes)";
  }
  return out;
}

class [[nodiscard]] Status {
public:
  Status() = default;
  static Status ok() { return Status(); }
  static Status error(std::string message, std::string hint = {}) {
    Status s;
    s.failed_ = true;
    s.message_ = boundMessage(std::move(message));
    s.hint_ = boundMessage(std::move(hint));
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
