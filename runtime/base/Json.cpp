#include "runtime/base/Json.h"
#include "runtime/base/Utf8.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <unordered_set>

namespace hone::json {

const char *kindName(Kind kind) {
  switch (kind) {
  case Kind::Null:
    return "null";
  case Kind::Bool:
    return "a boolean";
  case Kind::Number:
    return "a number";
  case Kind::String:
    return "a string";
  case Kind::Array:
    return "an array";
  case Kind::Object:
    return "an object";
  }
  return "?";
}

const Value *Value::find(std::string_view key) const {
  for (const Member &m : members_)
    if (m.first == key)
      return &m.second;
  return nullptr;
}

Value *Value::find(std::string_view key) {
  for (Member &m : members_)
    if (m.first == key)
      return &m.second;
  return nullptr;
}

Value &Value::set(std::string_view key, Value v) {
  if (Value *existing = find(key)) {
    *existing = std::move(v);
    return *existing;
  }
  members_.emplace_back(std::string(key), std::move(v));
  return members_.back().second;
}

bool Value::operator==(const Value &o) const {
  if (kind_ != o.kind_)
    return false;
  switch (kind_) {
  case Kind::Null:
    return true;
  case Kind::Bool:
    return bool_ == o.bool_;
  case Kind::Number:
    if (isInt_ && o.isInt_)
      return int_ == o.int_;
    return num_ == o.num_;
  case Kind::String:
    return str_ == o.str_;
  case Kind::Array:
    return items_ == o.items_;
  case Kind::Object:
    return members_ == o.members_;
  }
  return false;
}

Location locate(std::string_view text, size_t offset) {
  Location loc;
  loc.offset = offset;
  if (offset > text.size())
    offset = text.size();
  size_t lineStart = 0;
  for (size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++loc.line;
      lineStart = i + 1;
    }
  }
  loc.column = offset - lineStart + 1;
  return loc;
}

// ---------------------------------------------------------------------------
// Parser

class Parser {
public:
  Parser(std::string_view text, const ParseOptions &opts)
      : s_(text.data()), n_(text.size()), text_(text), opts_(opts) {}

  Expected<Value> run(Location *errLoc) {
    Value v;
    skipWs();
    bool ok = parseValue(v, 0);
    if (ok) {
      skipWs();
      if (pos_ != n_)
        ok = fail(pos_, "unexpected data after the JSON value");
    }
    if (!ok) {
      Location loc = locate(text_, errPos_);
      if (errLoc)
        *errLoc = loc;
      size_t line = loc.line + opts_.firstLine - 1;
      size_t col =
          loc.line == 1 ? loc.column + opts_.firstColumn - 1 : loc.column;
      return Status::error(std::string(opts_.sourceName) + ":" +
                           std::to_string(line) + ":" + std::to_string(col) +
                           ": error: " + err_ + " (byte " +
                           std::to_string(errPos_ + opts_.baseOffset) + ")");
    }
    return v;
  }

private:
  bool fail(size_t at, std::string msg) {
    if (err_.empty()) {
      errPos_ = at;
      err_ = std::move(msg);
    }
    return false;
  }

  void skipWs() {
    while (pos_ < n_) {
      char c = s_[pos_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
        ++pos_;
      else
        break;
    }
  }

  std::string describeHere() {
    if (pos_ >= n_)
      return "end of input";
    unsigned char c = s_[pos_];
    if (c >= 0x20 && c < 0x7F)
      return std::string("'") + static_cast<char>(c) + "'";
    char buf[16];
    std::snprintf(buf, sizeof buf, "byte 0x%02X", c);
    return buf;
  }

  bool parseValue(Value &v, int depth) {
    if (pos_ >= n_)
      return fail(pos_, "expected a JSON value, found end of input");
    v.offset_ = pos_ + opts_.baseOffset;
    char c = s_[pos_];
    switch (c) {
    case '{':
      return parseObject(v, depth);
    case '[':
      return parseArray(v, depth);
    case '"':
      v.kind_ = Kind::String;
      return parseString(v.str_);
    case 't':
      return parseLiteral("true", v, Kind::Bool, true);
    case 'f':
      return parseLiteral("false", v, Kind::Bool, false);
    case 'n':
      return parseLiteral("null", v, Kind::Null, false);
    default:
      if (c == '-' || (c >= '0' && c <= '9'))
        return parseNumber(v);
      return fail(pos_, "expected a JSON value, found " + describeHere());
    }
  }

  bool parseLiteral(const char *lit, Value &v, Kind kind, bool b) {
    size_t len = std::strlen(lit);
    if (n_ - pos_ < len || std::memcmp(s_ + pos_, lit, len) != 0)
      return fail(pos_,
                  std::string("invalid literal (expected '") + lit + "')");
    pos_ += len;
    v.kind_ = kind;
    v.bool_ = b;
    return true;
  }

  bool parseNumber(Value &v) {
    size_t start = pos_;
    bool neg = false;
    if (s_[pos_] == '-') {
      neg = true;
      ++pos_;
    }
    if (pos_ >= n_ || !(s_[pos_] >= '0' && s_[pos_] <= '9'))
      return fail(pos_, "invalid number: expected a digit");
    if (s_[pos_] == '0') {
      ++pos_;
      if (pos_ < n_ && s_[pos_] >= '0' && s_[pos_] <= '9')
        return fail(start, "invalid number: leading zeros are not allowed");
    } else {
      while (pos_ < n_ && s_[pos_] >= '0' && s_[pos_] <= '9')
        ++pos_;
    }
    bool integral = true;
    if (pos_ < n_ && s_[pos_] == '.') {
      integral = false;
      ++pos_;
      if (pos_ >= n_ || !(s_[pos_] >= '0' && s_[pos_] <= '9'))
        return fail(pos_, "invalid number: expected a digit after '.'");
      while (pos_ < n_ && s_[pos_] >= '0' && s_[pos_] <= '9')
        ++pos_;
    }
    if (pos_ < n_ && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      integral = false;
      ++pos_;
      if (pos_ < n_ && (s_[pos_] == '+' || s_[pos_] == '-'))
        ++pos_;
      if (pos_ >= n_ || !(s_[pos_] >= '0' && s_[pos_] <= '9'))
        return fail(pos_, "invalid number: expected a digit in the exponent");
      while (pos_ < n_ && s_[pos_] >= '0' && s_[pos_] <= '9')
        ++pos_;
    }
    v.kind_ = Kind::Number;
    const char *b = s_ + start, *e = s_ + pos_;
    if (integral) {
      int64_t iv;
      auto r = std::from_chars(b, e, iv);
      if (r.ec == std::errc() && r.ptr == e) {
        v.isInt_ = true;
        v.int_ = iv;
        v.num_ = static_cast<double>(iv);
        return true;
      }
    }
    (void)neg;
    double d;
    auto r = std::from_chars(b, e, d);
    if (r.ec == std::errc::result_out_of_range) {
      // Underflow to 0 is fine; overflow is not representable.
      bool big = false;
      for (const char *p = b; p < e; ++p)
        if (*p == 'e' || *p == 'E') {
          big = p[1] != '-';
          break;
        }
      if (integral || big)
        return fail(start, "number out of range for a double");
      d = 0;
    } else if (r.ec != std::errc() || r.ptr != e) {
      return fail(start, "invalid number");
    }
    v.num_ = d;
    return true;
  }

  static int hexVal(char c) {
    if (c >= '0' && c <= '9')
      return c - '0';
    if (c >= 'a' && c <= 'f')
      return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
      return c - 'A' + 10;
    return -1;
  }

  bool parseHex4(uint32_t *out) {
    if (n_ - pos_ < 4)
      return fail(pos_, "truncated \\u escape");
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      int h = hexVal(s_[pos_ + k]);
      if (h < 0)
        return fail(pos_ + k, "invalid hex digit in \\u escape");
      v = (v << 4) | static_cast<uint32_t>(h);
    }
    pos_ += 4;
    *out = v;
    return true;
  }

  bool parseString(std::string &out) {
    size_t open = pos_;
    ++pos_; // opening quote
    const auto *u = reinterpret_cast<const unsigned char *>(s_);
    while (true) {
      // Copy a run of plain ASCII characters in one go.
      size_t runStart = pos_;
      while (pos_ < n_) {
        unsigned char c = u[pos_];
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80)
          break;
        ++pos_;
      }
      out.append(s_ + runStart, pos_ - runStart);
      if (pos_ >= n_)
        return fail(open, "unterminated string");
      unsigned char c = u[pos_];
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c < 0x20)
        return fail(pos_, "control character in string (must be escaped)");
      if (c >= 0x80) {
        uint32_t cp;
        size_t len = decodeUtf8(std::string_view(s_, n_), pos_, &cp);
        if (!len)
          return fail(pos_, "invalid UTF-8 in string");
        out.append(s_ + pos_, len);
        pos_ += len;
        continue;
      }
      // Backslash escape.
      size_t escAt = pos_;
      ++pos_;
      if (pos_ >= n_)
        return fail(open, "unterminated string");
      char e = s_[pos_++];
      switch (e) {
      case '"':
        out += '"';
        break;
      case '\\':
        out += '\\';
        break;
      case '/':
        out += '/';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'u': {
        uint32_t cp;
        if (!parseHex4(&cp))
          return false;
        if (cp >= 0xDC00 && cp <= 0xDFFF)
          return fail(escAt, "lone low surrogate in \\u escape");
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          if (n_ - pos_ < 2 || s_[pos_] != '\\' || s_[pos_ + 1] != 'u')
            return fail(escAt, "high surrogate not followed by a low "
                               "surrogate \\u escape");
          pos_ += 2;
          uint32_t lo;
          if (!parseHex4(&lo))
            return false;
          if (lo < 0xDC00 || lo > 0xDFFF)
            return fail(escAt, "high surrogate not followed by a low "
                               "surrogate \\u escape");
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        appendUtf8(out, cp);
        break;
      }
      default:
        return fail(escAt, "invalid escape sequence in string");
      }
    }
  }

  bool parseArray(Value &v, int depth) {
    if (depth >= opts_.maxDepth)
      return fail(pos_, "nesting deeper than " +
                            std::to_string(opts_.maxDepth) + " levels");
    v.kind_ = Kind::Array;
    ++pos_;
    skipWs();
    if (pos_ < n_ && s_[pos_] == ']') {
      ++pos_;
      return true;
    }
    while (true) {
      skipWs();
      v.items_.emplace_back();
      if (!parseValue(v.items_.back(), depth + 1))
        return false;
      skipWs();
      if (pos_ >= n_)
        return fail(pos_, "unterminated array (expected ',' or ']')");
      char c = s_[pos_];
      if (c == ',') {
        ++pos_;
        continue;
      }
      if (c == ']') {
        ++pos_;
        return true;
      }
      return fail(pos_,
                  "expected ',' or ']' in array, found " + describeHere());
    }
  }

  bool parseObject(Value &v, int depth) {
    if (depth >= opts_.maxDepth)
      return fail(pos_, "nesting deeper than " +
                            std::to_string(opts_.maxDepth) + " levels");
    v.kind_ = Kind::Object;
    ++pos_;
    skipWs();
    if (pos_ < n_ && s_[pos_] == '}') {
      ++pos_;
      return true;
    }
    // Duplicate detection for big objects: a set of member indices hashed
    // by key (indices stay valid when the member vector grows).
    const std::vector<Value::Member> &members = v.members_;
    auto keyHash = [&members](uint32_t i) {
      return std::hash<std::string_view>()(members[i].first);
    };
    auto keyEq = [&members](uint32_t a, uint32_t b) {
      return members[a].first == members[b].first;
    };
    std::unordered_set<uint32_t, decltype(keyHash), decltype(keyEq)> seen(
        0, keyHash, keyEq);
    constexpr size_t kLinearScan = 16;
    while (true) {
      skipWs();
      if (pos_ >= n_ || s_[pos_] != '"')
        return fail(pos_,
                    "expected a string key in object, found " + describeHere());
      size_t keyAt = pos_;
      std::string key;
      if (!parseString(key))
        return false;
      skipWs();
      if (pos_ >= n_ || s_[pos_] != ':')
        return fail(pos_,
                    "expected ':' after object key, found " + describeHere());
      ++pos_;
      skipWs();
      if (opts_.rejectDuplicateKeys && v.members_.size() < kLinearScan) {
        for (const auto &m : v.members_)
          if (m.first == key)
            return fail(keyAt, "duplicate key \"" + key + "\" in object");
      }
      v.members_.emplace_back(std::move(key), Value());
      if (opts_.rejectDuplicateKeys && v.members_.size() >= kLinearScan) {
        if (seen.empty())
          for (uint32_t i = 0; i + 1 < v.members_.size(); ++i)
            seen.insert(i);
        auto idx = static_cast<uint32_t>(v.members_.size() - 1);
        if (!seen.insert(idx).second)
          return fail(keyAt, "duplicate key \"" + v.members_.back().first +
                                 "\" in object");
      }
      if (!parseValue(v.members_.back().second, depth + 1))
        return false;
      skipWs();
      if (pos_ >= n_)
        return fail(pos_, "unterminated object (expected ',' or '}')");
      char c = s_[pos_];
      if (c == ',') {
        ++pos_;
        continue;
      }
      if (c == '}') {
        ++pos_;
        return true;
      }
      return fail(pos_,
                  "expected ',' or '}' in object, found " + describeHere());
    }
  }

  const char *s_;
  size_t n_;
  size_t pos_ = 0;
  std::string_view text_;
  const ParseOptions &opts_;
  std::string err_;
  size_t errPos_ = 0;
};

Expected<Value> parse(std::string_view text, const ParseOptions &options,
                      Location *errorLocation) {
  Parser p(text, options);
  return p.run(errorLocation);
}

// ---------------------------------------------------------------------------
// Serializer

void appendQuoted(std::string &out, std::string_view s) {
  static const char hex[] = "0123456789abcdef";
  out += '"';
  size_t run = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = s[i];
    if (c >= 0x20 && c != '"' && c != '\\')
      continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    case '\b':
      out += "\\b";
      break;
    case '\f':
      out += "\\f";
      break;
    default:
      out += "\\u00";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

static void newline(std::string &out, int indent, int level) {
  if (indent < 0)
    return;
  out += '\n';
  out.append(static_cast<size_t>(indent) * level, ' ');
}

static void write(std::string &out, const Value &v, int indent, int level) {
  switch (v.kind()) {
  case Kind::Null:
    out += "null";
    return;
  case Kind::Bool:
    out += v.asBool() ? "true" : "false";
    return;
  case Kind::Number: {
    char buf[64];
    if (v.isInt()) {
      auto r = std::to_chars(buf, buf + sizeof buf, v.asInt());
      out.append(buf, r.ptr);
      return;
    }
    double d = v.asDouble();
    if (!std::isfinite(d)) {
      out += "null";
      return;
    }
    auto r = std::to_chars(buf, buf + sizeof buf, d);
    out.append(buf, r.ptr);
    return;
  }
  case Kind::String:
    appendQuoted(out, v.asString());
    return;
  case Kind::Array: {
    out += '[';
    bool first = true;
    for (const Value &item : v.items()) {
      if (!first)
        out += ',';
      first = false;
      newline(out, indent, level + 1);
      write(out, item, indent, level + 1);
    }
    if (!v.items().empty())
      newline(out, indent, level);
    out += ']';
    return;
  }
  case Kind::Object: {
    out += '{';
    bool first = true;
    for (const auto &m : v.members()) {
      if (!first)
        out += ',';
      first = false;
      newline(out, indent, level + 1);
      appendQuoted(out, m.first);
      out += indent >= 0 ? ": " : ":";
      write(out, m.second, indent, level + 1);
    }
    if (!v.members().empty())
      newline(out, indent, level);
    out += '}';
    return;
  }
  }
}

void serializeTo(std::string &out, const Value &value, int indent) {
  write(out, value, indent, 0);
}

std::string serialize(const Value &value, int indent) {
  std::string out;
  write(out, value, indent, 0);
  return out;
}

} // namespace hone::json
