// The Jinja subset's value model (runtime/tokenizer/Jinja.h): values, their
// Python str()/repr() and JSON output (tojson).
#include "runtime/base/Json.h"
#include "runtime/tokenizer/JinjaImpl.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <optional>
#include <unordered_map>

namespace hone::jinja {

// ---------------------------------------------------------------- values --

Value::Value(std::string s)
    : kind_(Kind::String),
      s_(std::make_shared<const std::string>(std::move(s))) {}

Value Value::list(List items) {
  Value v(Kind::List);
  v.list_ = std::make_shared<List>(std::move(items));
  return v;
}
Value Value::dict() {
  Value v(Kind::Dict);
  v.dict_ = std::make_shared<Dict>();
  return v;
}
Value Value::ns() {
  Value v(Kind::Namespace);
  v.dict_ = std::make_shared<Dict>();
  return v;
}
Value Value::callable(std::shared_ptr<Callable> c) {
  Value v(Kind::Callable);
  v.call_ = std::move(c);
  return v;
}

const Value *Value::get(std::string_view key) const {
  return dict_ ? dict_->find(key) : nullptr;
}

void Value::set(std::string key, Value v) {
  for (auto &e : dict_->entries)
    if (e.first == key) {
      e.second = std::move(v);
      return;
    }
  dict_->entries.emplace_back(std::move(key), std::move(v));
}

bool Value::truthy() const {
  switch (kind_) {
  case Kind::Undefined:
  case Kind::None:
    return false;
  case Kind::Bool:
  case Kind::Int:
    return i_ != 0;
  case Kind::Float:
    return f_ != 0;
  case Kind::String:
    return !s_->empty();
  case Kind::List:
    return !list_->empty();
  case Kind::Dict:
    return !dict_->entries.empty();
  case Kind::Namespace:
  case Kind::Callable:
    return true;
  }
  return false;
}

Value fromJson(const json::Value &v) {
  switch (v.kind()) {
  case json::Kind::Null:
    return Value::none();
  case json::Kind::Bool:
    return Value(v.asBool());
  case json::Kind::Number:
    return v.isInt() ? Value(v.asInt()) : Value(v.asDouble());
  case json::Kind::String:
    return Value(v.asString());
  case json::Kind::Array: {
    Value::List items;
    for (const json::Value &x : v.items())
      items.push_back(fromJson(x));
    return Value::list(std::move(items));
  }
  case json::Kind::Object: {
    Value d = Value::dict();
    for (const auto &m : v.members())
      d.dictRef().entries.emplace_back(m.first, fromJson(m.second));
    return d;
  }
  }
  return Value::none();
}

namespace {

// Python float repr: shortest round-trip digits, ".0" for integral values,
// exponent form outside [1e-4, 1e16).
std::string floatRepr(double d) {
  if (std::isnan(d))
    return "nan";
  if (std::isinf(d))
    return d > 0 ? "inf" : "-inf";
  char buf[40];
  for (int p = 1; p <= 17; ++p) {
    std::snprintf(buf, sizeof buf, "%.*e", p - 1, d);
    if (std::strtod(buf, nullptr) == d)
      break;
  }
  // buf: d.ddde[+-]XX; rebuild the Python form.
  std::string s = buf;
  size_t e = s.find('e');
  std::string mant = s.substr(0, e);
  int exp = std::atoi(s.c_str() + e + 1);
  bool neg = mant[0] == '-';
  if (neg)
    mant.erase(0, 1);
  std::string digits;
  for (char c : mant)
    if (c != '.')
      digits += c;
  while (digits.size() > 1 && digits.back() == '0')
    digits.pop_back();
  std::string out;
  if (exp >= -5 && exp < 16) {
    if (exp >= 0) {
      if (digits.size() <= size_t(exp) + 1) {
        out = digits + std::string(size_t(exp) + 1 - digits.size(), '0') + ".0";
      } else {
        out = digits.substr(0, size_t(exp) + 1) + "." +
              digits.substr(size_t(exp) + 1);
      }
    } else {
      out = "0." + std::string(size_t(-exp - 1), '0') + digits;
    }
  } else {
    out = digits.substr(0, 1);
    if (digits.size() > 1)
      out += "." + digits.substr(1);
    char eb[16];
    std::snprintf(eb, sizeof eb, "e%c%02d", exp < 0 ? '-' : '+',
                  exp < 0 ? -exp : exp);
    out += eb;
  }
  return neg ? "-" + out : out;
}

std::string pyStrRepr(const std::string &s) {
  bool sq = s.find('\'') != std::string::npos;
  bool dq = s.find('"') != std::string::npos;
  char q = sq && !dq ? '"' : '\'';
  std::string out(1, q);
  for (unsigned char c : s) {
    if (c == q || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02x", c);
      out += b;
    } else {
      out += char(c);
    }
  }
  out += q;
  return out;
}

} // namespace

std::string repr(const Value &v);

// str(v) as Jinja prints it.
std::string str(const Value &v) {
  switch (v.kind()) {
  case Value::Kind::Undefined:
    return "";
  case Value::Kind::None:
    return "None";
  case Value::Kind::Bool:
    return v.asBool() ? "True" : "False";
  case Value::Kind::Int:
    return std::to_string(v.asInt());
  case Value::Kind::Float:
    return floatRepr(v.asDouble());
  case Value::Kind::String:
    return v.str();
  case Value::Kind::Namespace:
    return "<Namespace>";
  case Value::Kind::Callable:
    return "<function " + v.callableRef()->name + ">";
  default:
    return repr(v);
  }
}

std::string repr(const Value &v) {
  switch (v.kind()) {
  case Value::Kind::String:
    return pyStrRepr(v.str());
  case Value::Kind::List: {
    std::string s = "[";
    for (size_t i = 0; i < v.items().size(); ++i)
      s += (i ? ", " : "") + repr(v.items()[i]);
    return s + "]";
  }
  case Value::Kind::Dict: {
    std::string s = "{";
    bool first = true;
    for (const auto &e : v.dictRef().entries) {
      s += (first ? "" : ", ") + pyStrRepr(e.first) + ": " + repr(e.second);
      first = false;
    }
    return s + "}";
  }
  default:
    return str(v);
  }
}

namespace {

// Decodes one UTF-8 sequence at s[i] (advancing i); invalid bytes decode
// as themselves (U+0080..U+00FF), as a lenient reader would. Separate from
// runtime/base/Utf8.h's strict decoder on purpose: a template prints bytes
// that are not UTF-8 as themselves, as Python's jinja2 does.
uint32_t decodeUtf8(const std::string &s, size_t &i) {
  unsigned char c = s[i];
  size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
  if (n == 1 || i + n > s.size()) {
    ++i;
    return c;
  }
  uint32_t cp = c & (0x7F >> n);
  for (size_t k = 1; k < n; ++k)
    cp = (cp << 6) | (uint32_t(s[i + k]) & 0x3F);
  i += n;
  return cp;
}

/// A JSON string as Python's json.dumps writes it: the escapes of
/// json::appendQuoted (runtime/base/Json.cpp), and with ensure_ascii every
/// character above U+007F as \uXXXX (surrogate pairs above U+FFFF).
void jsonString(std::string &out, const std::string &s,
                bool ensureAscii = false) {
  if (!ensureAscii) {
    json::appendQuoted(out, s);
    return;
  }
  out += '"';
  for (size_t i = 0; i < s.size();) {
    size_t run = i;
    while (i < s.size() && (unsigned char)s[i] < 0x80)
      ++i;
    if (i > run) {
      std::string ascii;
      json::appendQuoted(ascii, std::string_view(s).substr(run, i - run));
      out.append(ascii, 1, ascii.size() - 2);
      continue;
    }
    uint32_t cp = decodeUtf8(s, i);
    char b[16];
    if (cp >= 0x10000) {
      cp -= 0x10000;
      std::snprintf(b, sizeof b, "\\u%04x\\u%04x", 0xD800 + (cp >> 10),
                    0xDC00 + (cp & 0x3FF));
    } else {
      std::snprintf(b, sizeof b, "\\u%04x", cp);
    }
    out += b;
  }
  out += '"';
}

} // namespace

void toJsonRec(std::string &out, const Value &v, const JsonStyle &st,
               int level) {
  const int indent = st.indent;
  auto newline = [&](int lvl) {
    out += '\n';
    out.append(size_t(indent) * size_t(lvl), ' ');
  };
  switch (v.kind()) {
  case Value::Kind::Undefined:
  case Value::Kind::None:
    out += "null";
    return;
  case Value::Kind::Bool:
    out += v.asBool() ? "true" : "false";
    return;
  case Value::Kind::Int:
    out += std::to_string(v.asInt());
    return;
  case Value::Kind::Float: {
    double d = v.asDouble();
    out += std::isnan(d)   ? "NaN"
           : std::isinf(d) ? (d > 0 ? "Infinity" : "-Infinity")
                           : floatRepr(d);
    return;
  }
  case Value::Kind::String:
    jsonString(out, v.str(), st.ensureAscii);
    return;
  case Value::Kind::List: {
    if (v.items().empty()) {
      out += "[]";
      return;
    }
    out += '[';
    for (size_t i = 0; i < v.items().size(); ++i) {
      if (i)
        out += st.itemSep;
      if (indent >= 0)
        newline(level + 1);
      toJsonRec(out, v.items()[i], st, level + 1);
    }
    if (indent >= 0)
      newline(level);
    out += ']';
    return;
  }
  case Value::Kind::Dict:
  case Value::Kind::Namespace: {
    std::vector<const std::pair<std::string, Value> *> es;
    for (const auto &e : v.dictRef().entries)
      es.push_back(&e);
    if (es.empty()) {
      out += "{}";
      return;
    }
    if (st.sortKeys)
      std::stable_sort(es.begin(), es.end(),
                       [](auto *a, auto *b) { return a->first < b->first; });
    out += '{';
    for (size_t i = 0; i < es.size(); ++i) {
      if (i)
        out += st.itemSep;
      if (indent >= 0)
        newline(level + 1);
      jsonString(out, es[i]->first, st.ensureAscii);
      out += st.keySep;
      toJsonRec(out, es[i]->second, st, level + 1);
    }
    if (indent >= 0)
      newline(level);
    out += '}';
    return;
  }
  case Value::Kind::Callable:
    out += "null";
    return;
  }
}

std::string toJson(const Value &v, int indent, bool sortKeys) {
  JsonStyle st;
  st.indent = indent;
  st.sortKeys = sortKeys;
  if (indent >= 0)
    st.itemSep = ",";
  std::string out;
  toJsonRec(out, v, st, 0);
  return out;
}

} // namespace hone::jinja
