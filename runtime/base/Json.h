// A small, strict JSON (RFC 8259) parser and serializer for the runtime:
// safetensors headers, tokenizer.json, config.json, JSONL datasets, run state
// and metrics. Strict means: no comments, no trailing commas, no NaN/Infinity,
// no leading zeros, UTF-8 validated (no overlongs, no surrogates), \u escapes
// with surrogate pairs, lone surrogate escapes rejected, a depth limit, and
// duplicate object keys rejected by default. Errors carry line:col and the
// byte offset and follow the "SOURCE:LINE:COL: error: WHAT" form.
#pragma once

#include "runtime/base/Status.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hone::json {

enum class Kind : uint8_t { Null, Bool, Number, String, Array, Object };

/// Name of a kind for error messages: "null", "a boolean", "a number", ...
const char *kindName(Kind kind);

class Value {
public:
  using Member = std::pair<std::string, Value>;

  Value() = default;
  Value(std::nullptr_t) {}
  Value(bool b) : kind_(Kind::Bool), bool_(b) {}
  Value(int v) : Value(static_cast<int64_t>(v)) {}
  Value(int64_t v)
      : kind_(Kind::Number), isInt_(true), int_(v),
        num_(static_cast<double>(v)) {}
  Value(uint64_t v) = delete; // ambiguous precision: convert explicitly
  Value(double v) : kind_(Kind::Number), num_(v) {}
  Value(const char *s) : kind_(Kind::String), str_(s) {}
  Value(std::string s) : kind_(Kind::String), str_(std::move(s)) {}
  Value(std::string_view s) : kind_(Kind::String), str_(s) {}

  static Value array() {
    Value v;
    v.kind_ = Kind::Array;
    return v;
  }
  static Value object() {
    Value v;
    v.kind_ = Kind::Object;
    return v;
  }

  Kind kind() const { return kind_; }
  bool isNull() const { return kind_ == Kind::Null; }
  bool isBool() const { return kind_ == Kind::Bool; }
  bool isNumber() const { return kind_ == Kind::Number; }
  /// A number written without fraction or exponent that fits in int64.
  bool isInt() const { return kind_ == Kind::Number && isInt_; }
  bool isString() const { return kind_ == Kind::String; }
  bool isArray() const { return kind_ == Kind::Array; }
  bool isObject() const { return kind_ == Kind::Object; }

  bool asBool() const { return bool_; }
  double asDouble() const { return num_; }
  int64_t asInt() const { return int_; }
  const std::string &asString() const { return str_; }
  std::string &asString() { return str_; }

  /// Array elements (empty unless an array).
  const std::vector<Value> &items() const { return items_; }
  std::vector<Value> &items() { return items_; }
  /// Object members in source order (empty unless an object).
  const std::vector<Member> &members() const { return members_; }
  std::vector<Member> &members() { return members_; }
  size_t size() const {
    return kind_ == Kind::Array ? items_.size() : members_.size();
  }

  /// Object member lookup (linear; objects are small or iterated), or null.
  const Value *find(std::string_view key) const;
  Value *find(std::string_view key);

  /// Builders (the value must be an array / object).
  Value &push(Value v) {
    items_.push_back(std::move(v));
    return items_.back();
  }
  /// Sets key (replacing an existing member).
  Value &set(std::string_view key, Value v);

  /// Byte offset in the parsed text where this value starts (0 for values
  /// that were built, not parsed).
  size_t offset() const { return offset_; }
  void setOffset(size_t off) { offset_ = off; }

  bool operator==(const Value &other) const;
  bool operator!=(const Value &other) const { return !(*this == other); }

private:
  Kind kind_ = Kind::Null;
  bool bool_ = false;
  bool isInt_ = false;
  int64_t int_ = 0;
  double num_ = 0;
  size_t offset_ = 0;
  std::string str_;
  std::vector<Value> items_;
  std::vector<Member> members_;
  friend class Parser;
};

struct ParseOptions {
  /// Name used in error messages ("model.safetensors", "data.jsonl", ...).
  std::string_view sourceName = "<json>";
  /// Line number of the first byte of the text (JSONL parses one line).
  size_t firstLine = 1;
  /// Column (1-based) of the first byte of the text on its first line.
  size_t firstColumn = 1;
  /// Added to reported byte offsets (offset of the text within its file).
  size_t baseOffset = 0;
  int maxDepth = 512;
  bool rejectDuplicateKeys = true;
};

/// Where a parse failed: offset is relative to the parsed text.
struct Location {
  size_t offset = 0;
  size_t line = 1;
  size_t column = 1;
};

/// Parses exactly one JSON value (surrounding whitespace allowed). On error
/// the Status message is "SOURCE:LINE:COL: error: WHAT (byte N)"; when
/// errorLocation is given it receives the position.
Expected<Value> parse(std::string_view text, const ParseOptions &options = {},
                      Location *errorLocation = nullptr);

/// Line and column (1-based, column counted in bytes) of a byte offset.
Location locate(std::string_view text, size_t offset);

/// Serializes compactly (indent < 0) or pretty-printed with `indent` spaces.
/// Doubles are written in the shortest form that round-trips; NaN and
/// infinities (not representable in JSON) are written as null.
std::string serialize(const Value &value, int indent = -1);
void serializeTo(std::string &out, const Value &value, int indent = -1);
/// Appends s as a quoted JSON string.
void appendQuoted(std::string &out, std::string_view s);

} // namespace hone::json
