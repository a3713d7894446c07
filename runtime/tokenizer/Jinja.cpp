// The Jinja subset of Jinja.h. Three parts: a lexer (whitespace control as
// jinja2's lexer does it with trim_blocks and lstrip_blocks), a recursive
// descent parser to a small AST, and a tree-walking renderer. Errors inside
// are C++ exceptions (JError) caught at the two entry points and turned
// into a located Status; nothing escapes this file.
//
// Over 800 lines: the three parts share the AST, the value type and the
// exception, all private to this file, and the renderer (builtins, filters,
// tests, methods) is one class of ~1,500 lines. Not yet: one file per part
// over an internal header, as runtime/tokenizer/ is split by stage.
#include "runtime/tokenizer/Jinja.h"
#include "runtime/base/Json.h"

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

struct Callable {
  // A builtin (function or bound method) or a macro.
  using Fn = std::function<Value(std::vector<Value> &,
                                 std::vector<std::pair<std::string, Value>> &)>;
  std::string name;
  Fn fn;
  const Node *macro = nullptr; // set for macros
};

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

// Decodes one UTF-8 sequence at s[i] (advancing i); invalid bytes decode
// as themselves (U+0080..U+00FF), as a lenient reader would.
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

struct JsonStyle {
  int indent = -1;
  bool sortKeys = false;
  bool ensureAscii = false;
  std::string itemSep = ", ", keySep = ": ";
};

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

} // namespace

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

// ------------------------------------------------------------------ AST --

struct Node {
  enum Kind {
    // expressions
    Lit,
    Name,
    Attr,   // a[0].s
    Item,   // a[0][a[1]]
    Slice,  // a[0][a[1]:a[2]:a[3]] (null parts allowed)
    Call,   // a[0](a[1..npos], kw names[i] = a[1+npos+i])
    Filter, // a[0] | s(args...)
    Test,   // a[0] is [not] s(args...)
    Neg,    // -a[0]
    Pos,
    Not,
    Bin, // a[0] s a[1]
    And,
    Or,
    Cond, // a[0] if a[1] else a[2]
    ListLit,
    TupleLit,
    DictLit, // a = k0 v0 k1 v1 ...
    // statements
    Body,
    Text,
    Output,
    If,  // a = cond0 body0 cond1 body1 ... [else body]
    For, // names = targets; a[0] iter, a[1] body, a[2] filter|null,
         // a[3] else|null
    Set, // names = targets (or [ns, attr] with flag); a[0] value
    SetBlock,
    Macro, // s name; names params; a[0] body; a[1..] defaults (null: none)
    Generation,
    Break,
    Continue,
  };
  Kind k;
  int line = 0, col = 0;
  std::string s;
  Value lit;
  std::vector<std::shared_ptr<Node>> a;
  std::vector<std::string> names;
  int npos = 0;
  bool flag = false; // Test: negated; Set: attribute target
};
using NodeP = std::shared_ptr<Node>;

namespace {

struct JError {
  int line, col;
  std::string msg, hint;
};

// --------------------------------------------------------------- lexer --

enum class T {
  Text,
  VarBegin,
  VarEnd,
  BlockBegin,
  BlockEnd,
  Name,
  Str,
  Int,
  Float,
  Op,
  End
};

struct Tok {
  T t;
  std::string s;
  int line, col;
  int64_t i = 0;
  double f = 0;
};

class Lexer {
public:
  static constexpr size_t kMaxTagTokens = 2000;
  Lexer(std::string src) : src_(std::move(src)) {}

  std::vector<Tok> run() {
    size_t pos = 0;
    bool stripNext = false; // a '-' closed the previous tag
    bool trimNext = false;  // trim_blocks after a block/comment
    while (pos <= src_.size()) {
      size_t tag = findTag(pos);
      std::string text = src_.substr(pos, tag - pos);
      size_t textStart = pos;
      if (stripNext) {
        size_t k = 0;
        while (k < text.size() && isWs(text[k]))
          ++k;
        text.erase(0, k);
        textStart += k;
      } else if (trimNext && !text.empty() && text[0] == '\n') {
        text.erase(0, 1);
        ++textStart;
      }
      stripNext = trimNext = false;
      char kind = tag < src_.size() ? src_[tag + 1] : 0;
      char mod = tag + 2 < src_.size() ? src_[tag + 2] : 0;
      if (kind && mod == '-') {
        while (!text.empty() && isWs(text.back()))
          text.pop_back();
      } else if ((kind == '%' || kind == '#') && mod != '+') {
        // lstrip_blocks: spaces/tabs from a line start to the tag.
        size_t l = text.rfind('\n');
        size_t lpos = l == std::string::npos ? 0 : l + 1;
        bool lineStart = l != std::string::npos || textStart == 0 ||
                         src_[textStart - 1] == '\n';
        if (lineStart &&
            text.find_first_not_of(" \t", lpos) == std::string::npos)
          text.erase(lpos);
      }
      if (!text.empty())
        push(T::Text, text, textStart);
      if (tag >= src_.size())
        break;
      pos = tag + 2;
      if (mod == '-' || mod == '+')
        ++pos;
      if (kind == '#') {
        size_t e = src_.find("#}", pos);
        if (e == std::string::npos)
          fail(tag, "the comment is not closed", "end it with '#}'");
        stripNext = e > pos && src_[e - 1] == '-';
        trimNext = !stripNext && !(e > pos && src_[e - 1] == '+');
        pos = e + 2;
        continue;
      }
      push(kind == '{' ? T::VarBegin : T::BlockBegin, "", tag);
      pos = lexInside(pos, kind, tag, stripNext, trimNext);
    }
    push(T::End, "", src_.size());
    return std::move(toks_);
  }

  // Line and column (1-based, in code points) of a byte offset; offsets
  // come in increasing order, so the scan resumes where it stopped.
  std::pair<int, int> lineCol(size_t off) {
    if (off < lcOff_) {
      lcOff_ = 0;
      lcLine_ = lcCol_ = 1;
    }
    for (; lcOff_ < off && lcOff_ < src_.size(); ++lcOff_) {
      if (src_[lcOff_] == '\n') {
        ++lcLine_;
        lcCol_ = 1;
      } else if ((src_[lcOff_] & 0xC0) != 0x80) {
        ++lcCol_;
      }
    }
    return {lcLine_, lcCol_};
  }

private:
  static bool isWs(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
           c == '\v';
  }

  size_t findTag(size_t pos) const {
    while (true) {
      size_t p = src_.find('{', pos);
      if (p == std::string::npos || p + 1 >= src_.size())
        return src_.size();
      char c = src_[p + 1];
      if (c == '{' || c == '%' || c == '#')
        return p;
      pos = p + 1;
    }
  }

  [[noreturn]] void fail(size_t off, std::string msg, std::string hint = {}) {
    auto [l, c] = lineCol(off);
    throw JError{l, c, std::move(msg), std::move(hint)};
  }

  void push(T t, std::string s, size_t off) {
    auto [l, c] = lineCol(off);
    Tok k{t, std::move(s), l, c};
    toks_.push_back(std::move(k));
  }

  size_t lexInside(size_t pos, char kind, size_t tagStart, bool &stripNext,
                   bool &trimNext) {
    int depth = 0;
    const char close = kind == '{' ? '}' : '%';
    // Bounds the expression trees (and so the renderer's recursion).
    const size_t first = toks_.size();
    while (true) {
      if (toks_.size() - first > kMaxTagTokens)
        fail(tagStart,
             "the tag has more than " + std::to_string(kMaxTagTokens) +
                 " tokens",
             "split the expression with {% set %}");
      while (pos < src_.size() && isWs(src_[pos]))
        ++pos;
      if (pos >= src_.size())
        fail(tagStart,
             std::string("the ") + (kind == '{' ? "'{{'" : "'{%'") +
                 " tag is not closed",
             std::string("end it with '") + (kind == '{' ? "}}" : "%}") + "'");
      // The tag's end: "-}}", "}}" (outside brackets), "-%}", "+%}", "%}".
      auto at = [&](const char *s) {
        return src_.compare(pos, std::strlen(s), s) == 0;
      };
      if (depth == 0 || kind == '%') {
        std::string endTag = std::string(1, close) + "}";
        bool minus = at(("-" + endTag).c_str());
        bool plus = kind == '%' && at("+%}");
        if (minus || plus || at(endTag.c_str())) {
          push(kind == '{' ? T::VarEnd : T::BlockEnd, "", pos);
          stripNext = minus;
          trimNext = kind == '%' && !minus && !plus;
          return pos + endTag.size() + (minus || plus ? 1 : 0);
        }
      }
      char c = src_[pos];
      size_t start = pos;
      if (std::isalpha((unsigned char)c) || c == '_') {
        while (pos < src_.size() &&
               (std::isalnum((unsigned char)src_[pos]) || src_[pos] == '_'))
          ++pos;
        push(T::Name, src_.substr(start, pos - start), start);
      } else if (std::isdigit((unsigned char)c)) {
        while (pos < src_.size() &&
               (std::isdigit((unsigned char)src_[pos]) || src_[pos] == '_'))
          ++pos;
        bool isFloat = false;
        if (pos + 1 < src_.size() && src_[pos] == '.' &&
            std::isdigit((unsigned char)src_[pos + 1])) {
          isFloat = true;
          ++pos;
          while (pos < src_.size() && std::isdigit((unsigned char)src_[pos]))
            ++pos;
        }
        if (pos < src_.size() && (src_[pos] == 'e' || src_[pos] == 'E')) {
          size_t q = pos + 1;
          if (q < src_.size() && (src_[q] == '+' || src_[q] == '-'))
            ++q;
          if (q < src_.size() && std::isdigit((unsigned char)src_[q])) {
            isFloat = true;
            pos = q;
            while (pos < src_.size() && std::isdigit((unsigned char)src_[pos]))
              ++pos;
          }
        }
        std::string num;
        for (size_t i = start; i < pos; ++i)
          if (src_[i] != '_')
            num += src_[i];
        push(isFloat ? T::Float : T::Int, num, start);
        if (isFloat) {
          toks_.back().f = std::strtod(num.c_str(), nullptr);
        } else {
          errno = 0;
          toks_.back().i = std::strtoll(num.c_str(), nullptr, 10);
          if (errno == ERANGE)
            fail(start, "integer literal " + num + " is out of range",
                 "integers are 64-bit here");
        }
      } else if (c == '\'' || c == '"') {
        std::string s;
        ++pos;
        while (true) {
          if (pos >= src_.size())
            fail(start, "the string is not closed",
                 std::string("end it with ") + c);
          char d = src_[pos++];
          if (d == c)
            break;
          if (d != '\\') {
            s += d;
            continue;
          }
          if (pos >= src_.size())
            fail(start, "the string is not closed");
          char e = src_[pos++];
          switch (e) {
          case 'n':
            s += '\n';
            break;
          case 't':
            s += '\t';
            break;
          case 'r':
            s += '\r';
            break;
          case '0':
            s += '\0';
            break;
          case '\\':
          case '\'':
          case '"':
            s += e;
            break;
          case '\n':
            break;
          case 'u':
          case 'x': {
            size_t n = e == 'u' ? 4 : 2;
            if (pos + n > src_.size())
              fail(pos - 2, "bad \\" + std::string(1, e) + " escape");
            uint32_t cp = 0;
            for (size_t i = 0; i < n; ++i) {
              char h = src_[pos + i];
              if (!std::isxdigit((unsigned char)h))
                fail(pos - 2, "bad \\" + std::string(1, e) + " escape");
              cp = cp * 16 + uint32_t(std::isdigit((unsigned char)h)
                                          ? h - '0'
                                          : (std::tolower(h) - 'a' + 10));
            }
            pos += n;
            appendUtf8(s, cp);
            break;
          }
          default:
            s += '\\';
            s += e;
          }
        }
        push(T::Str, s, start);
      } else {
        static const char *ops[] = {"//", "**", "==", "!=", "<=", ">=", "+",
                                    "-",  "*",  "/",  "%",  "~",  "<",  ">",
                                    "=",  "(",  ")",  "[",  "]",  "{",  "}",
                                    ",",  ".",  ":",  "|"};
        const char *found = nullptr;
        for (const char *o : ops)
          if (at(o)) {
            found = o;
            break;
          }
        if (!found)
          fail(pos, std::string("unexpected character '") + c + "'");
        std::string o = found;
        if (o == "(" || o == "[" || o == "{")
          ++depth;
        else if ((o == ")" || o == "]" || o == "}") && depth > 0)
          --depth;
        pos += o.size();
        push(T::Op, o, start);
      }
    }
  }

  static void appendUtf8(std::string &s, uint32_t cp) {
    if (cp < 0x80) {
      s += char(cp);
    } else if (cp < 0x800) {
      s += char(0xC0 | (cp >> 6));
      s += char(0x80 | (cp & 0x3F));
    } else {
      s += char(0xE0 | (cp >> 12));
      s += char(0x80 | ((cp >> 6) & 0x3F));
      s += char(0x80 | (cp & 0x3F));
    }
  }

  std::string src_;
  std::vector<Tok> toks_;
  size_t lcOff_ = 0;
  int lcLine_ = 1, lcCol_ = 1;
};

const char *const kFilters[] = {
    "trim",        "length",  "count",      "tojson",     "upper",
    "lower",       "title",   "capitalize", "default",    "d",
    "join",        "first",   "last",       "string",     "list",
    "items",       "reverse", "selectattr", "rejectattr", "select",
    "reject",      "map",     "unique",     "replace",    "int",
    "float",       "abs",     "safe",       "e",          "escape",
    "forceescape", "indent",  "dictsort",   "round",      "wordcount",
    "center"};
const char *const kTests[] = {
    "defined",     "undefined", "none",        "string", "mapping", "iterable",
    "sequence",    "number",    "integer",     "float",  "boolean", "true",
    "false",       "callable",  "lower",       "upper",  "odd",     "even",
    "divisibleby", "equalto",   "eq",          "sameas", "ne",      "lt",
    "lessthan",    "gt",        "greaterthan", "le",     "ge",      "in"};

// -------------------------------------------------------------- parser --

class Parser {
public:
  Parser(std::vector<Tok> toks, int maxDepth)
      : toks_(std::move(toks)), maxDepth_(maxDepth) {}

  NodeP parseTemplate(bool &hasGeneration) {
    NodeP body = parseBody({});
    hasGeneration = hasGeneration_;
    if (peek().t != T::End)
      fail(peek(), "unexpected '" + peek().s + "'");
    return body;
  }

private:
  const Tok &peek(size_t k = 0) const {
    return toks_[std::min(p_ + k, toks_.size() - 1)];
  }
  Tok next() { return toks_[std::min(p_++, toks_.size() - 1)]; }
  [[noreturn]] void fail(const Tok &t, std::string msg, std::string hint = {}) {
    throw JError{t.line, t.col, std::move(msg), std::move(hint)};
  }
  bool isOp(const char *o, size_t k = 0) const {
    return peek(k).t == T::Op && peek(k).s == o;
  }
  bool isName(const char *n, size_t k = 0) const {
    return peek(k).t == T::Name && peek(k).s == n;
  }
  void expectOp(const char *o) {
    if (!isOp(o))
      fail(peek(), std::string("expected '") + o + "', found " + describe());
    ++p_;
  }
  std::string describe() const {
    const Tok &t = peek();
    switch (t.t) {
    case T::End:
      return "the end of the template";
    case T::BlockEnd:
      return "the end of the tag";
    case T::VarEnd:
      return "'}}'";
    case T::Str:
      return "a string";
    default:
      return "'" + t.s + "'";
    }
  }
  void expectBlockEnd() {
    if (peek().t != T::BlockEnd)
      fail(peek(), "expected the end of the tag ('%}'), found " + describe());
    ++p_;
  }
  std::string expectName() {
    if (peek().t != T::Name)
      fail(peek(), "expected a name, found " + describe());
    return next().s;
  }
  NodeP make(Node::Kind k, const Tok &t) {
    auto n = std::make_shared<Node>();
    n->k = k;
    n->line = t.line;
    n->col = t.col;
    return n;
  }

  struct Guard {
    Parser &p;
    Guard(Parser &p, const Tok &t) : p(p) {
      if (++p.depth_ > p.maxDepth_)
        p.fail(t, "the template nests too deeply",
               "at most " + std::to_string(p.maxDepth_) + " levels");
    }
    ~Guard() { --p.depth_; }
  };

  // Parses statements until a block tag whose name is in `ends` (left
  // unconsumed, positioned on the tag name) or the end of input.
  NodeP parseBody(const std::vector<std::string> &ends,
                  const Tok *open = nullptr) {
    Guard g(*this, peek());
    NodeP body = make(Node::Body, peek());
    while (true) {
      const Tok &t = peek();
      if (t.t == T::End) {
        if (!ends.empty())
          fail(open ? *open : t,
               "this '" + (open ? open->s : std::string("block")) +
                   "' is never closed",
               "add '{% " + ends.back() + " %}'");
        return body;
      }
      if (t.t == T::Text) {
        NodeP n = make(Node::Text, t);
        n->s = t.s;
        body->a.push_back(n);
        ++p_;
        continue;
      }
      if (t.t == T::VarBegin) {
        ++p_;
        NodeP n = make(Node::Output, t);
        n->a.push_back(parseExpr());
        if (peek().t != T::VarEnd)
          fail(peek(), "expected '}}', found " + describe());
        ++p_;
        body->a.push_back(n);
        continue;
      }
      // a block tag
      if (t.t != T::BlockBegin)
        fail(t, "unexpected " + describe());
      const Tok &nameTok = peek(1);
      if (nameTok.t != T::Name)
        fail(nameTok, "expected a tag name after '{%'");
      if (std::find(ends.begin(), ends.end(), nameTok.s) != ends.end()) {
        ++p_; // at the name
        return body;
      }
      ++p_;
      body->a.push_back(parseStatement());
    }
  }

  NodeP parseStatement() {
    Tok t = next(); // the tag name
    const std::string &n = t.s;
    if (n == "if") {
      NodeP node = make(Node::If, t);
      node->a.push_back(parseExpr());
      expectBlockEnd();
      while (true) {
        node->a.push_back(parseBody({"elif", "else", "endif"}, &t));
        Tok e = next();
        if (e.s == "elif") {
          node->a.push_back(parseExpr());
          expectBlockEnd();
        } else if (e.s == "else") {
          expectBlockEnd();
          node->a.push_back(parseBody({"endif"}, &t));
          next();
          expectBlockEnd();
          return node;
        } else {
          expectBlockEnd();
          return node;
        }
      }
    }
    if (n == "for") {
      NodeP node = make(Node::For, t);
      node->names.push_back(expectName());
      while (isOp(",")) {
        ++p_;
        node->names.push_back(expectName());
      }
      if (!isName("in"))
        fail(peek(), "expected 'in' in the for loop, found " + describe());
      ++p_;
      NodeP iter = parseCondless();
      NodeP filter;
      if (isName("if")) {
        ++p_;
        filter = parseExpr();
      }
      if (isName("recursive"))
        fail(peek(), "recursive for loops are not supported",
             "docs/formats.md lists the Jinja subset");
      expectBlockEnd();
      NodeP body = parseBody({"else", "endfor"}, &t);
      NodeP elseBody;
      if (next().s == "else") {
        expectBlockEnd();
        elseBody = parseBody({"endfor"}, &t);
        next();
      }
      expectBlockEnd();
      node->a = {iter, body, filter, elseBody};
      return node;
    }
    if (n == "set") {
      NodeP node = make(Node::Set, t);
      std::string first = expectName();
      node->names.push_back(first);
      if (isOp(".")) {
        ++p_;
        node->names.push_back(expectName());
        node->flag = true;
      } else {
        while (isOp(",")) {
          ++p_;
          node->names.push_back(expectName());
        }
      }
      if (peek().t == T::BlockEnd && !node->flag && node->names.size() == 1) {
        ++p_;
        node->k = Node::SetBlock;
        node->a.push_back(parseBody({"endset"}, &t));
        next();
        expectBlockEnd();
        return node;
      }
      expectOp("=");
      node->a.push_back(parseExpr());
      expectBlockEnd();
      return node;
    }
    if (n == "macro") {
      NodeP node = make(Node::Macro, t);
      node->s = expectName();
      expectOp("(");
      std::vector<NodeP> defaults;
      while (!isOp(")")) {
        node->names.push_back(expectName());
        NodeP d;
        if (isOp("=")) {
          ++p_;
          d = parseExpr();
        }
        defaults.push_back(d);
        if (!isOp(","))
          break;
        ++p_;
      }
      expectOp(")");
      expectBlockEnd();
      node->a.push_back(parseBody({"endmacro"}, &t));
      next();
      if (peek().t == T::Name)
        ++p_;
      expectBlockEnd();
      for (auto &d : defaults)
        node->a.push_back(d);
      return node;
    }
    if (n == "generation") {
      hasGeneration_ = true;
      NodeP node = make(Node::Generation, t);
      expectBlockEnd();
      node->a.push_back(parseBody({"endgeneration"}, &t));
      next();
      expectBlockEnd();
      return node;
    }
    if (n == "break" || n == "continue") {
      NodeP node = make(n == "break" ? Node::Break : Node::Continue, t);
      expectBlockEnd();
      return node;
    }
    static const char *ends[] = {
        "endif",  "endfor", "elif",          "else",      "endmacro",
        "endset", "endraw", "endgeneration", "endfilter", "endcall"};
    for (const char *e : ends)
      if (n == e)
        fail(t, "unexpected '{% " + n + " %}'", "it closes no open block here");
    fail(t, "the '" + n + "' tag is not supported",
         "supported tags: if, for, set, macro, generation, break, continue "
         "(docs/formats.md)");
  }

  // expr := or ['if' or ['else' expr]]
  NodeP parseExpr() {
    Guard g(*this, peek());
    NodeP e = parseOr();
    if (isName("if")) {
      Tok t = next();
      NodeP c = make(Node::Cond, t);
      NodeP cond = parseOr();
      NodeP other;
      if (isName("else")) {
        ++p_;
        other = parseExpr();
      }
      c->a = {e, cond, other};
      return c;
    }
    return e;
  }
  // An expression without a trailing conditional (for-loop iterables).
  NodeP parseCondless() { return parseOr(); }

  NodeP parseOr() {
    NodeP l = parseAnd();
    while (isName("or")) {
      NodeP n = make(Node::Or, next());
      n->a = {l, parseAnd()};
      l = n;
    }
    return l;
  }
  NodeP parseAnd() {
    NodeP l = parseNot();
    while (isName("and")) {
      NodeP n = make(Node::And, next());
      n->a = {l, parseNot()};
      l = n;
    }
    return l;
  }
  NodeP parseNot() {
    if (isName("not")) {
      Guard g(*this, peek());
      NodeP n = make(Node::Not, next());
      n->a = {parseNot()};
      return n;
    }
    return parseCompare();
  }
  NodeP parseCompare() {
    NodeP l = parseMath1();
    while (true) {
      std::string op;
      if (peek().t == T::Op &&
          (peek().s == "==" || peek().s == "!=" || peek().s == "<" ||
           peek().s == ">" || peek().s == "<=" || peek().s == ">="))
        op = peek().s;
      else if (isName("in"))
        op = "in";
      else if (isName("not") && isName("in", 1))
        op = "not in";
      else
        return l;
      NodeP n = make(Node::Bin, next());
      if (op == "not in")
        ++p_;
      n->s = op;
      n->a = {l, parseMath1()};
      l = n;
    }
  }
  NodeP parseMath1() {
    NodeP l = parseConcat();
    while (isOp("+") || isOp("-")) {
      NodeP n = make(Node::Bin, peek());
      n->s = next().s;
      n->a = {l, parseConcat()};
      l = n;
    }
    return l;
  }
  NodeP parseConcat() {
    NodeP l = parseMath2();
    while (isOp("~")) {
      NodeP n = make(Node::Bin, next());
      n->s = "~";
      n->a = {l, parseMath2()};
      l = n;
    }
    return l;
  }
  NodeP parseMath2() {
    NodeP l = parsePow();
    while (isOp("*") || isOp("/") || isOp("//") || isOp("%")) {
      NodeP n = make(Node::Bin, peek());
      n->s = next().s;
      n->a = {l, parsePow()};
      l = n;
    }
    return l;
  }
  NodeP parsePow() {
    NodeP l = parseUnary();
    while (isOp("**")) {
      NodeP n = make(Node::Bin, next());
      n->s = "**";
      n->a = {l, parseUnary()};
      l = n;
    }
    return l;
  }
  NodeP parseUnary() {
    if (isOp("-") || isOp("+")) {
      Guard g(*this, peek());
      Node::Kind k = isOp("-") ? Node::Neg : Node::Pos;
      NodeP n = make(k, next());
      n->a = {parseUnary()};
      return n;
    }
    return parsePostfixAndFilters(parsePrimary());
  }

  void parseArgs(NodeP call) {
    // after '('
    bool kw = false;
    std::vector<NodeP> pos, kws;
    while (!isOp(")")) {
      if (peek().t == T::Name && isOp("=", 1)) {
        call->names.push_back(next().s);
        ++p_;
        kws.push_back(parseExpr());
        kw = true;
      } else {
        if (kw)
          fail(peek(), "a positional argument follows a keyword argument");
        pos.push_back(parseExpr());
      }
      if (!isOp(","))
        break;
      ++p_;
    }
    expectOp(")");
    call->npos = int(pos.size());
    for (auto &x : pos)
      call->a.push_back(x);
    for (auto &x : kws)
      call->a.push_back(x);
  }

  NodeP parsePostfixAndFilters(NodeP e) {
    while (true) {
      if (isOp(".")) {
        Tok t = next();
        NodeP n = make(Node::Attr, t);
        if (peek().t == T::Int) {
          n->k = Node::Item;
          NodeP idx = make(Node::Lit, peek());
          idx->lit = Value(next().i);
          n->a = {e, idx};
        } else {
          n->s = expectName();
          n->a = {e};
        }
        e = n;
      } else if (isOp("[")) {
        Tok t = next();
        NodeP parts[3];
        bool slice = false;
        int k = 0;
        while (true) {
          if (!isOp(":") && !isOp("]"))
            parts[k] = parseExpr();
          if (isOp(":") && k < 2) {
            slice = true;
            ++k;
            ++p_;
            continue;
          }
          break;
        }
        expectOp("]");
        NodeP n = make(slice ? Node::Slice : Node::Item, t);
        if (!slice && !parts[0])
          fail(t, "empty subscript");
        n->a = {e, parts[0]};
        if (slice)
          n->a.insert(n->a.end(), {parts[1], parts[2]});
        e = n;
      } else if (isOp("(")) {
        Tok t = next();
        NodeP n = make(Node::Call, t);
        n->line = e->line; // errors point at the callee's name
        n->col = e->col;
        n->a.push_back(e);
        parseArgs(n);
        e = n;
      } else if (isOp("|")) {
        Tok t = next();
        NodeP n = make(Node::Filter, t);
        Tok nameTok = peek();
        n->s = expectName();
        if (std::find_if(std::begin(kFilters), std::end(kFilters),
                         [&](const char *f) { return n->s == f; }) ==
            std::end(kFilters))
          fail(nameTok, "unknown filter '" + n->s + "'",
               "supported filters are listed in docs/formats.md");
        n->a.push_back(e);
        if (isOp("(")) {
          ++p_;
          parseArgs(n);
        }
        e = n;
      } else if (isName("is")) {
        Tok t = next();
        NodeP n = make(Node::Test, t);
        if (isName("not")) {
          ++p_;
          n->flag = true;
        }
        Tok nameTok = peek();
        n->s = expectName();
        if (std::find_if(std::begin(kTests), std::end(kTests),
                         [&](const char *f) { return n->s == f; }) ==
            std::end(kTests))
          fail(nameTok, "unknown test '" + n->s + "'",
               "supported tests are listed in docs/formats.md");
        n->a.push_back(e);
        if (isOp("(")) {
          ++p_;
          parseArgs(n);
        } else if (peek().t == T::Str || peek().t == T::Int ||
                   peek().t == T::Float ||
                   (peek().t == T::Name && !isName("and") && !isName("or") &&
                    !isName("if") && !isName("else") && !isName("in") &&
                    !isName("is") && !isName("not"))) {
          // `x is divisibleby 3`, `x is sameas none`: one argument.
          n->a.push_back(parsePrimary());
          n->npos = 1;
        }
        e = n;
      } else {
        return e;
      }
    }
  }

  NodeP parsePrimary() {
    Guard g(*this, peek());
    Tok t = peek();
    switch (t.t) {
    case T::Str: {
      ++p_;
      std::string s = t.s;
      while (peek().t == T::Str) // adjacent literals concatenate
        s += next().s;
      NodeP n = make(Node::Lit, t);
      n->lit = Value(s);
      return n;
    }
    case T::Int: {
      ++p_;
      NodeP n = make(Node::Lit, t);
      n->lit = Value(t.i);
      return n;
    }
    case T::Float: {
      ++p_;
      NodeP n = make(Node::Lit, t);
      n->lit = Value(t.f);
      return n;
    }
    case T::Name: {
      ++p_;
      NodeP n = make(Node::Lit, t);
      if (t.s == "true" || t.s == "True")
        n->lit = Value(true);
      else if (t.s == "false" || t.s == "False")
        n->lit = Value(false);
      else if (t.s == "none" || t.s == "None")
        n->lit = Value::none();
      else {
        n->k = Node::Name;
        n->s = t.s;
      }
      return n;
    }
    case T::Op:
      if (t.s == "(") {
        ++p_;
        if (isOp(")")) {
          ++p_;
          return make(Node::TupleLit, t);
        }
        NodeP e = parseExpr();
        if (isOp(",")) {
          NodeP tup = make(Node::TupleLit, t);
          tup->a.push_back(e);
          while (isOp(",")) {
            ++p_;
            if (isOp(")"))
              break;
            tup->a.push_back(parseExpr());
          }
          e = tup;
        }
        expectOp(")");
        return e;
      }
      if (t.s == "[") {
        ++p_;
        NodeP l = make(Node::ListLit, t);
        while (!isOp("]")) {
          l->a.push_back(parseExpr());
          if (!isOp(","))
            break;
          ++p_;
        }
        expectOp("]");
        return l;
      }
      if (t.s == "{") {
        ++p_;
        NodeP d = make(Node::DictLit, t);
        while (!isOp("}")) {
          d->a.push_back(parseExpr());
          expectOp(":");
          d->a.push_back(parseExpr());
          if (!isOp(","))
            break;
          ++p_;
        }
        expectOp("}");
        return d;
      }
      break;
    default:
      break;
    }
    fail(t, "expected an expression, found " + describe());
  }

  std::vector<Tok> toks_;
  size_t p_ = 0;
  int depth_ = 0;
  int maxDepth_;
  bool hasGeneration_ = false;
};

// ------------------------------------------------------------ renderer --

struct BreakSignal {};
struct ContinueSignal {};

class Renderer {
public:
  Renderer(const RenderOptions &o) : opt_(o) {
    now_ = o.now;
    if (now_ < 0) {
      const char *sde = std::getenv("SOURCE_DATE_EPOCH");
      now_ = sde && *sde ? std::atoll(sde) : int64_t(std::time(nullptr));
    }
  }

  void run(const Node &root, const Value &context) {
    scopes_.emplace_back();
    if (context.isDict())
      for (const auto &e : context.dictRef().entries)
        scopes_.back()[e.first] = e.second;
    addGlobals();
    exec(root);
  }

  Rendered out;

private:
  using Scope = std::unordered_map<std::string, Value>;

  [[noreturn]] void fail(const Node &n, std::string msg,
                         std::string hint = {}) {
    throw JError{n.line, n.col, std::move(msg), std::move(hint)};
  }

  void step(const Node &n) {
    if (++steps_ > opt_.limits.maxSteps)
      fail(n,
           "the template ran more than " +
               std::to_string(opt_.limits.maxSteps) + " steps",
           "a loop does not end; templates render conversations in far "
           "fewer steps");
  }

  void checkSize(const Node &n, size_t bytes) {
    if (bytes > opt_.limits.maxOutputBytes)
      fail(n,
           "the template produced more than " +
               std::to_string(opt_.limits.maxOutputBytes) + " bytes",
           "Limits::maxOutputBytes bounds each render");
  }

  void emit(const Node &n, const std::string &s) {
    std::string &b = buf();
    checkSize(n, b.size() + s.size());
    b += s;
  }

  std::string &buf() { return captures_.empty() ? out.text : captures_.back(); }

  Value lookup(const std::string &name) const {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      auto f = it->find(name);
      if (f != it->end())
        return f->second;
    }
    return Value();
  }

  static std::shared_ptr<Callable> builtin(std::string name, Callable::Fn fn) {
    auto c = std::make_shared<Callable>();
    c->name = std::move(name);
    c->fn = std::move(fn);
    return c;
  }

  void addGlobals() {
    Scope &g = scopes_.front();
    auto def = [&](const char *name, Callable::Fn fn) {
      if (!g.count(name))
        g[name] = Value::callable(builtin(name, std::move(fn)));
    };
    def("raise_exception", [this](auto &args, auto &) -> Value {
      std::string msg = args.empty() ? "" : str(args[0]);
      throw JError{cur_->line, cur_->col,
                   "the template raised an exception: " + msg,
                   "the conversation does not fit this template's rules"};
    });
    def("strftime_now", [this](auto &args, auto &) -> Value {
      std::string fmt = args.empty() ? "" : str(args[0]);
      std::time_t t = std::time_t(now_);
      std::tm tm{};
      gmtime_r(&t, &tm);
      char b[256];
      size_t n = std::strftime(b, sizeof b, fmt.c_str(), &tm);
      return Value(std::string(b, n));
    });
    def("namespace", [](auto &args, auto &kw) -> Value {
      Value ns = Value::ns();
      for (auto &a : args)
        if (a.isDict())
          for (auto &e : a.dictRef().entries)
            ns.set(e.first, e.second);
      for (auto &k : kw)
        ns.set(k.first, k.second);
      return ns;
    });
    def("range", [this](auto &args, auto &) -> Value {
      int64_t lo = 0, hi = 0, st = 1;
      for (auto &a : args)
        if (!a.isInt())
          fail(*cur_, "range() takes integers");
      if (args.size() == 1)
        hi = args[0].asInt();
      else if (args.size() >= 2) {
        lo = args[0].asInt();
        hi = args[1].asInt();
        if (args.size() >= 3)
          st = args[2].asInt();
      }
      if (st == 0)
        fail(*cur_, "range() step is zero");
      Value::List l;
      for (int64_t i = lo; st > 0 ? i < hi : i > hi; i += st) {
        l.push_back(Value(i));
        checkSize(*cur_, l.size() * sizeof(Value));
      }
      return Value::list(std::move(l));
    });
    def("dict", [](auto &, auto &kw) -> Value {
      Value d = Value::dict();
      for (auto &k : kw)
        d.set(k.first, k.second);
      return d;
    });
  }

  // -- statements --

  void exec(const Node &n) {
    step(n);
    cur_ = &n;
    switch (n.k) {
    case Node::Body:
      for (const NodeP &c : n.a)
        exec(*c);
      return;
    case Node::Text:
      emit(n, n.s);
      return;
    case Node::Output: {
      Value v = eval(*n.a[0]);
      emit(n, str(v));
      return;
    }
    case Node::If: {
      size_t i = 0;
      for (; i + 1 < n.a.size(); i += 2)
        if (eval(*n.a[i]).truthy()) {
          exec(*n.a[i + 1]);
          return;
        }
      if (i < n.a.size())
        exec(*n.a[i]);
      return;
    }
    case Node::For:
      execFor(n);
      return;
    case Node::Set: {
      Value v = eval(*n.a[0]);
      cur_ = &n;
      if (n.flag) {
        Value target = lookup(n.names[0]);
        if (!target.isNamespace())
          fail(n, "'" + n.names[0] + "' is not a namespace",
               "only namespace() objects take attribute assignments: "
               "{% set ns = namespace(x=0) %}{% set ns.x = 1 %}");
        target.set(n.names[1], v);
        return;
      }
      assign(n, n.names, v);
      return;
    }
    case Node::SetBlock: {
      captures_.emplace_back();
      exec(*n.a[0]);
      std::string s = std::move(captures_.back());
      captures_.pop_back();
      scopes_.back()[n.names[0]] = Value(s);
      return;
    }
    case Node::Macro: {
      auto c = std::make_shared<Callable>();
      c->name = n.s;
      c->macro = &n;
      scopes_.back()[n.s] = Value::callable(c);
      return;
    }
    case Node::Generation: {
      if (!captures_.empty()) {
        exec(*n.a[0]);
        return;
      }
      size_t b = out.text.size();
      exec(*n.a[0]);
      out.generation.emplace_back(b, out.text.size());
      return;
    }
    case Node::Break:
      throw BreakSignal{};
    case Node::Continue:
      throw ContinueSignal{};
    default:
      fail(n, "internal error: not a statement");
    }
  }

  void assign(const Node &n, const std::vector<std::string> &names,
              const Value &v) {
    if (names.size() == 1) {
      scopes_.back()[names[0]] = v;
      return;
    }
    if (!v.isList() || v.items().size() != names.size())
      fail(n, "cannot unpack " + typeName(v) + " into " +
                  std::to_string(names.size()) + " names");
    for (size_t i = 0; i < names.size(); ++i)
      scopes_.back()[names[i]] = v.items()[i];
  }

  void execFor(const Node &n) {
    Value seq = eval(*n.a[0]);
    cur_ = &n;
    Value::List items;
    if (seq.isList())
      items = seq.items();
    else if (seq.isDict())
      for (auto &e : seq.dictRef().entries)
        items.push_back(Value(e.first));
    else if (seq.isString())
      items = chars(seq.str());
    else if (!seq.isUndefined() && !seq.isNone())
      fail(n, typeName(seq) + " is not iterable",
           "for loops run over lists, dicts and strings");
    else if (seq.isNone())
      fail(n, "'NoneType' object is not iterable");
    // The `if` filter applies before loop.* counts.
    if (n.a[2]) {
      Value::List kept;
      for (auto &it : items) {
        scopes_.emplace_back();
        assign(n, n.names, it);
        if (eval(*n.a[2]).truthy())
          kept.push_back(it);
        scopes_.pop_back();
      }
      items = std::move(kept);
    }
    if (items.empty()) {
      if (n.a[3])
        exec(*n.a[3]);
      return;
    }
    size_t len = items.size();
    for (size_t i = 0; i < len; ++i) {
      step(n);
      scopes_.emplace_back();
      assign(n, n.names, items[i]);
      Value loop = Value::dict();
      loop.set("index", Value(int64_t(i + 1)));
      loop.set("index0", Value(int64_t(i)));
      loop.set("revindex", Value(int64_t(len - i)));
      loop.set("revindex0", Value(int64_t(len - i - 1)));
      loop.set("first", Value(i == 0));
      loop.set("last", Value(i + 1 == len));
      loop.set("length", Value(int64_t(len)));
      loop.set("previtem", i ? items[i - 1] : Value());
      loop.set("nextitem", i + 1 < len ? items[i + 1] : Value());
      loop.set("depth", Value(int64_t(loopDepth_ + 1)));
      loop.set("depth0", Value(int64_t(loopDepth_)));
      scopes_.back()["loop"] = loop;
      size_t tracked = trackedIndex(items[i]);
      size_t begin = out.text.size();
      bool stop = false;
      ++loopDepth_;
      try {
        exec(*n.a[1]);
      } catch (BreakSignal &) {
        stop = true;
      } catch (ContinueSignal &) {
      }
      --loopDepth_;
      if (tracked != SIZE_MAX && captures_.empty() && out.text.size() > begin)
        out.itemSpans.push_back({tracked, begin, out.text.size()});
      scopes_.pop_back();
      if (stop)
        break;
    }
  }

  size_t trackedIndex(const Value &v) const {
    if (!v.isDict() || opt_.trackedItems.empty())
      return SIZE_MAX;
    for (size_t i = 0; i < opt_.trackedItems.size(); ++i)
      if (opt_.trackedItems[i] == v.dictPtr())
        return i;
    return SIZE_MAX;
  }

  // -- expressions --

  static std::string typeName(const Value &v) {
    switch (v.kind()) {
    case Value::Kind::Undefined:
      return "undefined";
    case Value::Kind::None:
      return "none";
    case Value::Kind::Bool:
      return "a boolean";
    case Value::Kind::Int:
      return "an integer";
    case Value::Kind::Float:
      return "a float";
    case Value::Kind::String:
      return "a string";
    case Value::Kind::List:
      return "a list";
    case Value::Kind::Dict:
      return "a dict";
    case Value::Kind::Namespace:
      return "a namespace";
    case Value::Kind::Callable:
      return "a function";
    }
    return "?";
  }

  static Value::List chars(const std::string &s) {
    Value::List l;
    for (size_t i = 0; i < s.size();) {
      size_t n = 1;
      unsigned char c = s[i];
      if (c >= 0xF0)
        n = 4;
      else if (c >= 0xE0)
        n = 3;
      else if (c >= 0xC0)
        n = 2;
      n = std::min(n, s.size() - i);
      l.push_back(Value(s.substr(i, n)));
      i += n;
    }
    return l;
  }

  // Python-style index into a sequence of length len.
  static bool normIndex(int64_t &i, size_t len) {
    if (i < 0)
      i += int64_t(len);
    return i >= 0 && i < int64_t(len);
  }

  std::string undefinedName(const Node &n) {
    switch (n.k) {
    case Node::Name:
      return "'" + n.s + "'";
    case Node::Attr:
      return undefinedName(*n.a[0]) + "." + n.s;
    default:
      return "the value";
    }
  }

  Value getAttr(const Node &n, const Value &obj, const std::string &name) {
    if (obj.isUndefined())
      fail(n,
           undefinedName(*n.a[0]) + " is undefined, so it has no '" + name +
               "'",
           "test it first: {% if x is defined %}");
    if (Value m = method(obj, name); !m.isUndefined())
      return m;
    if (obj.isDict())
      if (const Value *v = obj.get(name))
        return *v;
    return Value();
  }

  Value getItem(const Node &n, const Value &obj, const Value &key) {
    if (obj.isUndefined())
      fail(n,
           undefinedName(*n.a[0]) + " is undefined, so it cannot be "
                                    "indexed",
           "test it first: {% if x is defined %}");
    if (obj.isDict()) {
      if (key.isString()) {
        if (const Value *v = obj.get(key.str()))
          return *v;
        return method(obj, key.str());
      }
      return Value();
    }
    if ((obj.isList() || obj.isString()) && (key.isInt() || key.isBool())) {
      int64_t i = key.asInt();
      if (obj.isList()) {
        if (!normIndex(i, obj.items().size()))
          return Value();
        return obj.items()[size_t(i)];
      }
      Value::List cs = chars(obj.str());
      if (!normIndex(i, cs.size()))
        return Value();
      return cs[size_t(i)];
    }
    if (key.isString())
      return method(obj, key.str());
    return Value();
  }

  Value slice(const Node &n, const Value &obj, const Value &a, const Value &b,
              const Value &c) {
    auto num = [&](const Value &v, const char *what) -> std::optional<int64_t> {
      if (v.isUndefined() || v.isNone())
        return std::nullopt;
      if (!v.isInt())
        fail(n, std::string("slice ") + what + " is " + typeName(v),
             "slice bounds are integers");
      return v.asInt();
    };
    Value::List src;
    if (obj.isList())
      src = obj.items();
    else if (obj.isString())
      src = chars(obj.str());
    else if (obj.isUndefined())
      fail(n, undefinedName(*n.a[0]) + " is undefined, so it cannot be "
                                       "sliced");
    else
      fail(n, "cannot slice " + typeName(obj));
    int64_t len = int64_t(src.size());
    int64_t step = num(c, "step").value_or(1);
    if (step == 0)
      fail(n, "slice step cannot be zero");
    auto clamp = [&](std::optional<int64_t> v, int64_t def) {
      if (!v)
        return def;
      int64_t x = *v;
      if (x < 0)
        x += len;
      if (step > 0)
        return std::clamp<int64_t>(x, 0, len);
      return std::clamp<int64_t>(x, -1, len - 1);
    };
    int64_t lo = clamp(num(a, "start"), step > 0 ? 0 : len - 1);
    int64_t hi = clamp(num(b, "stop"), step > 0 ? len : -1);
    Value::List outl;
    for (int64_t i = lo; step > 0 ? i < hi : i > hi; i += step)
      outl.push_back(src[size_t(i)]);
    if (obj.isString()) {
      std::string s;
      for (auto &x : outl)
        s += x.str();
      return Value(s);
    }
    return Value::list(std::move(outl));
  }

  static bool equal(const Value &a, const Value &b) {
    auto numeric = [](const Value &v) { return v.isNumber() || v.isBool(); };
    if (numeric(a) && numeric(b)) {
      double x = a.isBool() ? double(a.asBool()) : a.asDouble();
      double y = b.isBool() ? double(b.asBool()) : b.asDouble();
      return x == y;
    }
    if (a.kind() != b.kind()) {
      bool ad = a.isDict(), bd = b.isDict();
      if (!(ad && bd))
        return false;
    }
    switch (a.kind()) {
    case Value::Kind::Undefined:
    case Value::Kind::None:
      return true;
    case Value::Kind::Bool:
      return a.asBool() == b.asBool();
    case Value::Kind::String:
      return a.str() == b.str();
    case Value::Kind::List:
      if (a.items().size() != b.items().size())
        return false;
      for (size_t i = 0; i < a.items().size(); ++i)
        if (!equal(a.items()[i], b.items()[i]))
          return false;
      return true;
    case Value::Kind::Dict:
    case Value::Kind::Namespace: {
      auto &x = a.dictRef().entries, &y = b.dictRef().entries;
      if (x.size() != y.size())
        return false;
      for (auto &e : x) {
        const Value *o = b.get(e.first);
        if (!o || !equal(e.second, *o))
          return false;
      }
      return true;
    }
    case Value::Kind::Callable:
      return a.callableRef() == b.callableRef();
    default:
      return false;
    }
  }

  int compare(const Node &n, const Value &a, const Value &b) {
    auto numeric = [](const Value &v) { return v.isNumber() || v.isBool(); };
    if (numeric(a) && numeric(b)) {
      double x = a.isBool() ? double(a.asBool()) : a.asDouble();
      double y = b.isBool() ? double(b.asBool()) : b.asDouble();
      return x < y ? -1 : x > y ? 1 : 0;
    }
    if (a.isString() && b.isString())
      return a.str() < b.str() ? -1 : a.str() > b.str() ? 1 : 0;
    if (a.isList() && b.isList()) {
      size_t m = std::min(a.items().size(), b.items().size());
      for (size_t i = 0; i < m; ++i)
        if (int c = compare(n, a.items()[i], b.items()[i]))
          return c;
      return a.items().size() < b.items().size()   ? -1
             : a.items().size() > b.items().size() ? 1
                                                   : 0;
    }
    fail(n, "cannot order " + typeName(a) + " and " + typeName(b));
  }

  bool contains(const Node &n, const Value &container, const Value &x) {
    if (container.isString()) {
      if (!x.isString())
        fail(n, "'in <string>' needs a string on the left, not " + typeName(x));
      return container.str().find(x.str()) != std::string::npos;
    }
    if (container.isList()) {
      for (auto &i : container.items())
        if (equal(i, x))
          return true;
      return false;
    }
    if (container.isDict())
      return x.isString() && container.get(x.str());
    if (container.isUndefined()) // jinja2 iterates it: nothing is in it
      return false;
    fail(n, "'in' needs a string, list or dict on the right, not " +
                typeName(container));
  }

  Value arith(const Node &n, const std::string &op, const Value &a,
              const Value &b) {
    if (op == "~") {
      std::string s = str(a) + str(b);
      checkSize(n, s.size());
      return Value(std::move(s));
    }
    if (op == "+") {
      if (a.isString() && b.isString()) {
        checkSize(n, a.str().size() + b.str().size());
        return Value(a.str() + b.str());
      }
      if (a.isList() && b.isList()) {
        Value::List l = a.items();
        l.insert(l.end(), b.items().begin(), b.items().end());
        return Value::list(std::move(l));
      }
    }
    if (op == "*") {
      const Value *s = a.isString() || a.isList() ? &a : &b;
      const Value *k = s == &a ? &b : &a;
      if ((s->isString() || s->isList()) && k->isInt()) {
        int64_t times = std::max<int64_t>(0, k->asInt());
        size_t unit =
            s->isString() ? s->str().size() : s->items().size() * sizeof(Value);
        if (unit && uint64_t(times) > opt_.limits.maxOutputBytes / unit)
          checkSize(n, opt_.limits.maxOutputBytes + 1);
        if (s->isString()) {
          std::string r;
          for (int64_t i = 0; i < times; ++i)
            r += s->str();
          return Value(r);
        }
        Value::List l;
        for (int64_t i = 0; i < times; ++i)
          l.insert(l.end(), s->items().begin(), s->items().end());
        return Value::list(std::move(l));
      }
    }
    auto num = [](const Value &v) { return v.isNumber() || v.isBool(); };
    if (!num(a) || !num(b)) {
      if (a.isUndefined() || b.isUndefined())
        fail(n, "'" + op + "' on an undefined value",
             "test it first: {% if x is defined %}");
      fail(n,
           "unsupported operands for '" + op + "': " + typeName(a) + " and " +
               typeName(b),
           op == "+" ? "join strings with '~' or convert with |string" : "");
    }
    bool ints = !a.isFloat() && !b.isFloat();
    int64_t x = a.isBool() ? a.asBool() : a.asInt();
    int64_t y = b.isBool() ? b.asBool() : b.asInt();
    double fx = a.isBool() ? double(x) : a.asDouble();
    double fy = b.isBool() ? double(y) : b.asDouble();
    if (op == "+")
      return ints ? Value(int64_t(uint64_t(x) + uint64_t(y))) : Value(fx + fy);
    if (op == "-")
      return ints ? Value(int64_t(uint64_t(x) - uint64_t(y))) : Value(fx - fy);
    if (op == "*")
      return ints ? Value(int64_t(uint64_t(x) * uint64_t(y))) : Value(fx * fy);
    if (op == "/") {
      if (fy == 0)
        fail(n, "division by zero");
      return Value(fx / fy);
    }
    if (op == "//" || op == "%") {
      if (fy == 0)
        fail(n, op == "%" ? "modulo by zero" : "division by zero");
      if (ints) {
        if (x == INT64_MIN && y == -1)
          return op == "%" ? Value(int64_t(0)) : Value(x);
        int64_t q = x / y, r = x % y;
        if (r != 0 && ((r < 0) != (y < 0))) {
          --q;
          r += y;
        }
        return op == "//" ? Value(q) : Value(r);
      }
      double q = std::floor(fx / fy);
      return op == "//" ? Value(q) : Value(fx - q * fy);
    }
    if (op == "**") {
      if (ints && y >= 0) {
        int64_t r = 1;
        for (int64_t i = 0; i < y && i < 64; ++i)
          r = int64_t(uint64_t(r) * uint64_t(x));
        return Value(r);
      }
      return Value(std::pow(fx, fy));
    }
    fail(n, "unknown operator '" + op + "'");
  }

  Value eval(const Node &n) {
    switch (n.k) {
    case Node::Lit:
      return n.lit;
    case Node::Name:
      return lookup(n.s);
    case Node::Attr:
      return getAttr(n, eval(*n.a[0]), n.s);
    case Node::Item:
      return getItem(n, eval(*n.a[0]), eval(*n.a[1]));
    case Node::Slice: {
      Value o = eval(*n.a[0]);
      Value a = n.a[1] ? eval(*n.a[1]) : Value();
      Value b = n.a[2] ? eval(*n.a[2]) : Value();
      Value c = n.a[3] ? eval(*n.a[3]) : Value();
      return slice(n, o, a, b, c);
    }
    case Node::Call: {
      Value f = eval(*n.a[0]);
      auto [args, kw] = evalArgs(n, 1);
      return call(n, f, args, kw);
    }
    case Node::Filter: {
      Value base = eval(*n.a[0]);
      auto [args, kw] = evalArgs(n, 1);
      return filter(n, n.s, base, args, kw);
    }
    case Node::Test: {
      Value base = n.s == "defined" || n.s == "undefined"
                       ? evalOrUndefined(*n.a[0])
                       : eval(*n.a[0]);
      auto [args, kw] = evalArgs(n, 1);
      bool r = test(n, n.s, base, args);
      return Value(n.flag ? !r : r);
    }
    case Node::Neg:
    case Node::Pos: {
      Value v = eval(*n.a[0]);
      if (v.isInt())
        return n.k == Node::Neg ? Value(int64_t(0 - uint64_t(v.asInt()))) : v;
      if (v.isFloat())
        return n.k == Node::Neg ? Value(-v.asDouble()) : v;
      fail(n, "unary '-' on " + typeName(v));
    }
    case Node::Not:
      return Value(!eval(*n.a[0]).truthy());
    case Node::And: {
      Value l = eval(*n.a[0]);
      return l.truthy() ? eval(*n.a[1]) : l;
    }
    case Node::Or: {
      Value l = eval(*n.a[0]);
      return l.truthy() ? l : eval(*n.a[1]);
    }
    case Node::Cond:
      if (eval(*n.a[1]).truthy())
        return eval(*n.a[0]);
      return n.a[2] ? eval(*n.a[2]) : Value();
    case Node::Bin: {
      Value l = eval(*n.a[0]);
      Value r = eval(*n.a[1]);
      const std::string &op = n.s;
      if (op == "==")
        return Value(equal(l, r));
      if (op == "!=")
        return Value(!equal(l, r));
      if (op == "<")
        return Value(compare(n, l, r) < 0);
      if (op == ">")
        return Value(compare(n, l, r) > 0);
      if (op == "<=")
        return Value(compare(n, l, r) <= 0);
      if (op == ">=")
        return Value(compare(n, l, r) >= 0);
      if (op == "in")
        return Value(contains(n, r, l));
      if (op == "not in")
        return Value(!contains(n, r, l));
      return arith(n, op, l, r);
    }
    case Node::ListLit:
    case Node::TupleLit: {
      Value::List l;
      for (auto &c : n.a)
        l.push_back(eval(*c));
      return Value::list(std::move(l));
    }
    case Node::DictLit: {
      Value d = Value::dict();
      for (size_t i = 0; i + 1 < n.a.size(); i += 2) {
        Value k = eval(*n.a[i]);
        if (!k.isString())
          fail(*n.a[i], "dict keys must be strings here, not " + typeName(k));
        d.set(k.str(), eval(*n.a[i + 1]));
      }
      return d;
    }
    default:
      fail(n, "internal error: not an expression");
    }
  }

  // `x is defined` on `a.b.c` with `a` undefined is false, not an error.
  Value evalOrUndefined(const Node &n) {
    if (n.k == Node::Attr) {
      Value o = evalOrUndefined(*n.a[0]);
      if (o.isUndefined())
        return Value();
      return getAttr(n, o, n.s);
    }
    if (n.k == Node::Item) {
      Value o = evalOrUndefined(*n.a[0]);
      if (o.isUndefined())
        return Value();
      return getItem(n, o, eval(*n.a[1]));
    }
    return eval(n);
  }

  std::pair<std::vector<Value>, std::vector<std::pair<std::string, Value>>>
  evalArgs(const Node &n, size_t from) {
    std::vector<Value> args;
    std::vector<std::pair<std::string, Value>> kw;
    for (int i = 0; i < n.npos; ++i)
      args.push_back(eval(*n.a[from + size_t(i)]));
    for (size_t i = 0; i < n.names.size(); ++i)
      kw.emplace_back(n.names[i], eval(*n.a[from + size_t(n.npos) + i]));
    return {std::move(args), std::move(kw)};
  }

  Value call(const Node &n, const Value &f, std::vector<Value> &args,
             std::vector<std::pair<std::string, Value>> &kw) {
    if (f.isUndefined())
      fail(n, undefinedName(*n.a[0]) + " is undefined and cannot be called",
           "supported functions and methods are listed in docs/formats.md");
    if (!f.isCallable())
      fail(n, typeName(f) + " is not callable");
    const Callable &c = *f.callableRef();
    cur_ = &n;
    if (!c.macro)
      return c.fn(args, kw);
    // a macro: its parameters in a fresh scope over the globals
    const Node &m = *c.macro;
    if (++depth_ > opt_.limits.maxDepth)
      fail(n,
           "macro calls nest more than " +
               std::to_string(opt_.limits.maxDepth) + " deep",
           "a macro calls itself without end");
    if (args.size() > m.names.size())
      fail(n, "macro '" + m.s + "' takes " + std::to_string(m.names.size()) +
                  " arguments, got " + std::to_string(args.size()));
    std::vector<Scope> saved;
    saved.swap(scopes_);
    scopes_.push_back(saved.front());
    scopes_.emplace_back();
    for (size_t i = 0; i < m.names.size(); ++i) {
      Value v;
      if (i < args.size())
        v = args[i];
      else if (m.a[1 + i])
        v = eval(*m.a[1 + i]);
      scopes_.back()[m.names[i]] = v;
    }
    for (auto &k : kw) {
      if (std::find(m.names.begin(), m.names.end(), k.first) == m.names.end())
        fail(n, "macro '" + m.s + "' has no parameter '" + k.first + "'");
      scopes_.back()[k.first] = k.second;
    }
    captures_.emplace_back();
    exec(*m.a[0]);
    std::string s = std::move(captures_.back());
    captures_.pop_back();
    scopes_.swap(saved);
    --depth_;
    return Value(s);
  }

  // -- methods of strings, dicts and lists --

  Value method(const Value &obj, const std::string &name) {
    if (obj.isString())
      return stringMethod(obj, name);
    if (obj.kind() == Value::Kind::Dict) {
      if (name == "items" || name == "keys" || name == "values") {
        return Value::callable(builtin(name, [obj, name](auto &, auto &) {
          Value::List l;
          for (auto &e : obj.dictRef().entries) {
            if (name == "items")
              l.push_back(Value::list({Value(e.first), e.second}));
            else if (name == "keys")
              l.push_back(Value(e.first));
            else
              l.push_back(e.second);
          }
          return Value::list(std::move(l));
        }));
      }
      if (name == "get")
        return Value::callable(builtin(name, [obj](auto &args, auto &) {
          if (!args.empty() && args[0].isString())
            if (const Value *v = obj.get(args[0].str()))
              return *v;
          return args.size() > 1 ? args[1] : Value::none();
        }));
    }
    return Value();
  }

  static bool isPyWs(unsigned char c) {
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
  }

  static std::string pyStrip(const std::string &s, const Value *chars,
                             bool left, bool right) {
    auto in = [&](unsigned char c) {
      if (!chars || chars->isNone() || chars->isUndefined())
        return isPyWs(c);
      return chars->str().find(char(c)) != std::string::npos;
    };
    size_t b = 0, e = s.size();
    if (left)
      while (b < e && in(s[b]))
        ++b;
    if (right)
      while (e > b && in(s[e - 1]))
        --e;
    return s.substr(b, e - b);
  }

  static Value::List pySplit(const std::string &s, const Value *sep,
                             int64_t maxsplit, bool fromRight) {
    Value::List out;
    if (!sep || sep->isNone() || sep->isUndefined()) {
      // whitespace split, runs collapsed, no empty strings
      std::vector<std::pair<size_t, size_t>> words;
      size_t i = 0;
      while (i < s.size()) {
        while (i < s.size() && isPyWs(s[i]))
          ++i;
        if (i >= s.size())
          break;
        size_t b = i;
        while (i < s.size() && !isPyWs(s[i]))
          ++i;
        words.emplace_back(b, i);
      }
      if (maxsplit < 0 || size_t(maxsplit) + 1 >= words.size()) {
        for (auto [b, e] : words)
          out.push_back(Value(s.substr(b, e - b)));
        return out;
      }
      if (!fromRight) {
        for (int64_t k = 0; k < maxsplit; ++k)
          out.push_back(Value(
              s.substr(words[k].first, words[k].second - words[k].first)));
        std::string rest = s.substr(words[size_t(maxsplit)].first);
        out.push_back(Value(pyStrip(rest, nullptr, false, true)));
      } else {
        size_t keep = words.size() - size_t(maxsplit);
        std::string head = s.substr(0, words[keep - 1].second);
        out.push_back(Value(pyStrip(head, nullptr, true, false)));
        for (size_t k = keep; k < words.size(); ++k)
          out.push_back(Value(
              s.substr(words[k].first, words[k].second - words[k].first)));
      }
      return out;
    }
    const std::string &d = sep->str();
    std::vector<std::string> parts;
    if (!fromRight) {
      size_t pos = 0;
      int64_t n = 0;
      while (maxsplit < 0 || n < maxsplit) {
        size_t f = s.find(d, pos);
        if (f == std::string::npos)
          break;
        parts.push_back(s.substr(pos, f - pos));
        pos = f + d.size();
        ++n;
      }
      parts.push_back(s.substr(pos));
    } else {
      size_t end = s.size();
      int64_t n = 0;
      std::vector<std::string> rev;
      while (maxsplit < 0 || n < maxsplit) {
        if (end < d.size())
          break;
        size_t f = s.rfind(d, end - d.size());
        if (f == std::string::npos)
          break;
        rev.push_back(s.substr(f + d.size(), end - f - d.size()));
        end = f;
        ++n;
      }
      rev.push_back(s.substr(0, end));
      parts.assign(rev.rbegin(), rev.rend());
    }
    for (auto &p : parts)
      out.push_back(Value(p));
    return out;
  }

  Value stringMethod(const Value &obj, const std::string &name) {
    const std::string s = obj.str();
    auto mk = [&](Callable::Fn fn) {
      return Value::callable(builtin(name, std::move(fn)));
    };
    auto needStr = [this, name](const Value &v) {
      if (!v.isString())
        fail(*cur_,
             "str." + name + "() needs a string argument, not " + typeName(v));
      return v.str();
    };
    if (name == "startswith" || name == "endswith") {
      bool starts = name == "startswith";
      return mk([s, starts, needStr](auto &args, auto &) {
        Value::List cands;
        if (!args.empty() && args[0].isList())
          cands = args[0].items();
        else if (!args.empty())
          cands.push_back(args[0]);
        for (auto &c : cands) {
          std::string p = needStr(c);
          if (p.size() <= s.size() &&
              (starts ? s.compare(0, p.size(), p) == 0
                      : s.compare(s.size() - p.size(), p.size(), p) == 0))
            return Value(true);
        }
        return Value(false);
      });
    }
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
      bool l = name != "rstrip", r = name != "lstrip";
      return mk([s, l, r](auto &args, auto &) {
        return Value(pyStrip(s, args.empty() ? nullptr : &args[0], l, r));
      });
    }
    if (name == "split" || name == "rsplit") {
      bool right = name == "rsplit";
      return mk([this, s, right](auto &args, auto &kw) {
        const Value *sep = args.empty() ? nullptr : &args[0];
        int64_t maxsplit =
            args.size() > 1 && args[1].isInt() ? args[1].asInt() : -1;
        for (auto &k : kw) {
          if (k.first == "sep")
            sep = &k.second;
          else if (k.first == "maxsplit" && k.second.isInt())
            maxsplit = k.second.asInt();
        }
        if (sep && sep->isString() && sep->str().empty())
          fail(*cur_, "empty separator");
        if (sep && !sep->isString() && !sep->isNone())
          fail(*cur_, "split() separator must be a string");
        return Value::list(pySplit(s, sep, maxsplit, right));
      });
    }
    if (name == "replace")
      return mk([this, s, needStr](auto &args, auto &) {
        if (args.size() < 2)
          fail(*cur_, "str.replace() takes two strings");
        std::string from = needStr(args[0]), to = needStr(args[1]);
        int64_t count =
            args.size() > 2 && args[2].isInt() ? args[2].asInt() : -1;
        std::string r;
        size_t pos = 0;
        int64_t n = 0;
        if (from.empty()) {
          // Python inserts `to` between characters
          Value::List cs = chars(s);
          for (size_t i = 0; i <= cs.size(); ++i) {
            if (count < 0 || n < count) {
              r += to;
              ++n;
            }
            if (i < cs.size())
              r += cs[i].str();
            checkSize(*cur_, r.size());
          }
          return Value(r);
        }
        while (count < 0 || n < count) {
          size_t f = s.find(from, pos);
          if (f == std::string::npos)
            break;
          r.append(s, pos, f - pos);
          r += to;
          checkSize(*cur_, r.size());
          pos = f + from.size();
          ++n;
        }
        r.append(s, pos);
        return Value(r);
      });
    if (name == "upper" || name == "lower")
      return mk([s, name](auto &, auto &) {
        std::string r = s;
        for (char &c : r)
          c = name == "upper" ? char(std::toupper((unsigned char)c))
                              : char(std::tolower((unsigned char)c));
        return Value(r);
      });
    if (name == "title" || name == "capitalize")
      return mk(
          [s, name](auto &, auto &) { return Value(titleCase(s, name)); });
    if (name == "find" || name == "count")
      return mk([s, name, needStr](auto &args, auto &) {
        std::string sub = args.empty() ? "" : needStr(args[0]);
        if (name == "find") {
          size_t f = s.find(sub);
          return Value(f == std::string::npos
                           ? int64_t(-1)
                           : int64_t(chars(s.substr(0, f)).size()));
        }
        if (sub.empty())
          return Value(int64_t(chars(s).size() + 1));
        int64_t n = 0;
        for (size_t p = s.find(sub); p != std::string::npos;
             p = s.find(sub, p + sub.size()))
          ++n;
        return Value(n);
      });
    if (name == "join")
      return mk([this, s](auto &args, auto &) {
        std::string r;
        if (args.empty() || !args[0].isList())
          fail(*cur_, "str.join() takes a list");
        bool first = true;
        for (auto &x : args[0].items()) {
          if (!x.isString())
            fail(*cur_, "str.join() needs strings, found " + typeName(x));
          if (!first)
            r += s;
          r += x.str();
          first = false;
          checkSize(*cur_, r.size());
        }
        return Value(r);
      });
    if (name == "splitlines")
      return mk([s](auto &, auto &) {
        Value::List l;
        size_t b = 0;
        for (size_t i = 0; i < s.size(); ++i)
          if (s[i] == '\n' || s[i] == '\r') {
            l.push_back(Value(s.substr(b, i - b)));
            if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n')
              ++i;
            b = i + 1;
          }
        if (b < s.size())
          l.push_back(Value(s.substr(b)));
        return Value::list(std::move(l));
      });
    return Value();
  }

  static std::string titleCase(const std::string &s, const std::string &how) {
    std::string r = s;
    bool start = true;
    for (size_t i = 0; i < r.size(); ++i) {
      unsigned char c = r[i];
      if (how == "capitalize") {
        r[i] = i == 0 ? char(std::toupper(c)) : char(std::tolower(c));
        continue;
      }
      if (std::isalpha(c)) {
        r[i] = start ? char(std::toupper(c)) : char(std::tolower(c));
        start = false;
      } else {
        start = c < 0x80;
        if (!start)
          start = false;
      }
    }
    return r;
  }

  // -- filters --

  Value kwOr(std::vector<std::pair<std::string, Value>> &kw,
             std::vector<Value> &args, size_t pos, const char *name,
             Value def = Value()) {
    for (auto &k : kw)
      if (k.first == name)
        return k.second;
    return pos < args.size() ? args[pos] : def;
  }

  Value::List asList(const Node &n, const Value &v, const char *what) {
    if (v.isList())
      return v.items();
    if (v.isString())
      return chars(v.str());
    if (v.isDict()) {
      Value::List l;
      for (auto &e : v.dictRef().entries)
        l.push_back(Value(e.first));
      return l;
    }
    if (v.isUndefined())
      fail(n, std::string("|") + what + " on an undefined value",
           "test it first: {% if x is defined %}");
    fail(n, std::string("|") + what + " needs a list, not " + typeName(v));
  }

  Value attrPath(const Value &v, const std::string &path) {
    Value cur = v;
    size_t b = 0;
    while (true) {
      size_t e = path.find('.', b);
      std::string part = path.substr(b, e == std::string::npos ? e : e - b);
      if (cur.isDict()) {
        const Value *x = cur.get(part);
        cur = x ? *x : Value();
      } else if (cur.isList() && !part.empty() &&
                 std::all_of(part.begin(), part.end(), ::isdigit)) {
        int64_t i = std::atoll(part.c_str());
        cur =
            normIndex(i, cur.items().size()) ? cur.items()[size_t(i)] : Value();
      } else {
        cur = Value();
      }
      if (e == std::string::npos)
        return cur;
      b = e + 1;
    }
  }

  Value filter(const Node &n, const std::string &f, const Value &v,
               std::vector<Value> &args,
               std::vector<std::pair<std::string, Value>> &kw) {
    cur_ = &n;
    if (f == "trim") {
      if (!v.isString() && !v.isUndefined())
        return Value(pyStrip(str(v), nullptr, true, true));
      return Value(
          pyStrip(str(v), args.empty() ? nullptr : &args[0], true, true));
    }
    if (f == "length" || f == "count") {
      if (v.isString())
        return Value(int64_t(chars(v.str()).size()));
      if (v.isList())
        return Value(int64_t(v.items().size()));
      if (v.isDict())
        return Value(int64_t(v.dictRef().entries.size()));
      if (v.isUndefined())
        return Value(int64_t(0));
      fail(n, "|length of " + typeName(v));
    }
    if (f == "tojson") {
      // transformers: tojson(x, ensure_ascii=False, indent=None,
      // separators=None, sort_keys=False) -> json.dumps(...)
      JsonStyle st;
      st.ensureAscii = kwOr(kw, args, 0, "ensure_ascii").truthy();
      Value ind = kwOr(kw, args, 1, "indent");
      if (ind.isInt())
        st.indent = int(std::clamp<int64_t>(ind.asInt(), 0, 1 << 10));
      if (st.indent >= 0)
        st.itemSep = ",";
      Value sep = kwOr(kw, args, 2, "separators");
      if (sep.isList() && sep.items().size() == 2 &&
          sep.items()[0].isString() && sep.items()[1].isString()) {
        st.itemSep = sep.items()[0].str();
        st.keySep = sep.items()[1].str();
      }
      st.sortKeys = kwOr(kw, args, 3, "sort_keys").truthy();
      std::string s;
      toJsonRec(s, v, st, 0);
      checkSize(n, s.size());
      return Value(s);
    }
    if (f == "upper" || f == "lower" || f == "title" || f == "capitalize") {
      Value m = stringMethod(Value(str(v)), f);
      std::vector<Value> a;
      std::vector<std::pair<std::string, Value>> k;
      return m.callableRef()->fn(a, k);
    }
    if (f == "default" || f == "d") {
      Value def = kwOr(kw, args, 0, "default_value", Value(""));
      bool boolean = kwOr(kw, args, 1, "boolean").truthy();
      if (v.isUndefined() || (boolean && !v.truthy()))
        return def;
      return v;
    }
    if (f == "join") {
      Value sepv = kwOr(kw, args, 0, "d", Value(""));
      Value attr = kwOr(kw, args, 1, "attribute");
      std::string sep = str(sepv), r;
      bool first = true;
      for (auto &x : asList(n, v, "join")) {
        if (!first)
          r += sep;
        r += str(attr.isString() ? attrPath(x, attr.str()) : x);
        first = false;
        checkSize(n, r.size());
      }
      return Value(r);
    }
    if (f == "first" || f == "last") {
      Value::List l = asList(n, v, f.c_str());
      if (l.empty())
        return Value();
      return f == "first" ? l.front() : l.back();
    }
    if (f == "string")
      return v.isString() ? v : Value(str(v));
    if (f == "list")
      return Value::list(asList(n, v, "list"));
    if (f == "items") {
      if (v.isUndefined())
        return Value::list();
      if (!v.isDict())
        fail(n, "|items needs a dict, not " + typeName(v));
      Value::List l;
      for (auto &e : v.dictRef().entries)
        l.push_back(Value::list({Value(e.first), e.second}));
      return Value::list(std::move(l));
    }
    if (f == "reverse") {
      if (v.isString()) {
        Value::List cs = chars(v.str());
        std::string r;
        for (auto it = cs.rbegin(); it != cs.rend(); ++it)
          r += it->str();
        return Value(r);
      }
      Value::List l = asList(n, v, "reverse");
      std::reverse(l.begin(), l.end());
      return Value::list(std::move(l));
    }
    if (f == "selectattr" || f == "rejectattr" || f == "select" ||
        f == "reject") {
      bool byAttr = f == "selectattr" || f == "rejectattr";
      bool keep = f == "selectattr" || f == "select";
      size_t a0 = byAttr ? 1 : 0;
      if (byAttr && (args.empty() || !args[0].isString()))
        fail(n, "|" + f + " needs an attribute name");
      Value::List outl;
      for (auto &x : asList(n, v, f.c_str())) {
        Value t = byAttr ? attrPath(x, args[0].str()) : x;
        bool r;
        if (args.size() > a0) {
          if (!args[a0].isString())
            fail(n, "|" + f + " needs a test name");
          std::vector<Value> targs(args.begin() + long(a0) + 1, args.end());
          r = test(n, args[a0].str(), t, targs);
        } else {
          r = t.truthy();
        }
        if (r == keep)
          outl.push_back(x);
      }
      return Value::list(std::move(outl));
    }
    if (f == "map") {
      Value attr = kwOr(kw, args, 99, "attribute");
      Value::List outl;
      for (auto &x : asList(n, v, "map")) {
        if (attr.isString()) {
          Value r = attrPath(x, attr.str());
          if (r.isUndefined())
            r = kwOr(kw, args, 99, "default");
          outl.push_back(r);
        } else if (!args.empty() && args[0].isString()) {
          std::vector<Value> fa(args.begin() + 1, args.end());
          std::vector<std::pair<std::string, Value>> fk;
          outl.push_back(filter(n, args[0].str(), x, fa, fk));
        } else {
          fail(n, "|map needs attribute=... or a filter name");
        }
      }
      return Value::list(std::move(outl));
    }
    if (f == "unique") {
      Value::List outl;
      for (auto &x : asList(n, v, "unique")) {
        bool seen = false;
        for (auto &y : outl)
          seen |= equal(x, y);
        if (!seen)
          outl.push_back(x);
      }
      return Value::list(std::move(outl));
    }
    if (f == "replace") {
      Value m = stringMethod(Value(str(v)), "replace");
      return m.callableRef()->fn(args, kw);
    }
    if (f == "int") {
      if (v.isInt() || v.isBool())
        return Value(int64_t(v.isBool() ? v.asBool() : v.asInt()));
      if (v.isFloat())
        return Value(int64_t(v.asDouble()));
      if (v.isString()) {
        char *end = nullptr;
        std::string t = pyStrip(v.str(), nullptr, true, true);
        long long x = std::strtoll(t.c_str(), &end, 10);
        if (!t.empty() && end && *end == 0)
          return Value(int64_t(x));
      }
      return kwOr(kw, args, 0, "default", Value(int64_t(0)));
    }
    if (f == "float") {
      if (v.isNumber())
        return Value(v.asDouble());
      if (v.isString()) {
        char *end = nullptr;
        double x = std::strtod(v.str().c_str(), &end);
        if (!v.str().empty() && end && *end == 0)
          return Value(x);
      }
      return kwOr(kw, args, 0, "default", Value(0.0));
    }
    if (f == "abs") {
      if (v.isInt())
        return Value(v.asInt() < 0 ? -v.asInt() : v.asInt());
      if (v.isFloat())
        return Value(std::fabs(v.asDouble()));
      fail(n, "|abs of " + typeName(v));
    }
    if (f == "safe" || f == "e" || f == "escape" || f == "forceescape") {
      if (f == "safe")
        return v;
      std::string r;
      for (char c : str(v)) {
        switch (c) {
        case '&':
          r += "&amp;";
          break;
        case '<':
          r += "&lt;";
          break;
        case '>':
          r += "&gt;";
          break;
        case '"':
          r += "&#34;";
          break;
        case '\'':
          r += "&#39;";
          break;
        default:
          r += c;
        }
      }
      return Value(r);
    }
    if (f == "indent") {
      int64_t w = kwOr(kw, args, 0, "width", Value(int64_t(4))).asInt();
      bool first = kwOr(kw, args, 1, "first").truthy();
      bool blank = kwOr(kw, args, 2, "blank").truthy();
      std::string pad(size_t(std::clamp<int64_t>(w, 0, 1 << 16)), ' ');
      std::string s = str(v), r;
      size_t b = 0;
      bool firstLine = true;
      while (true) {
        size_t e = s.find('\n', b);
        std::string line = s.substr(b, e == std::string::npos ? e : e - b);
        bool add = firstLine ? first : (blank || !line.empty());
        r += (add ? pad : "") + line;
        checkSize(n, r.size());
        if (e == std::string::npos)
          break;
        r += '\n';
        b = e + 1;
        firstLine = false;
      }
      return Value(r);
    }
    if (f == "dictsort") {
      if (!v.isDict())
        fail(n, "|dictsort needs a dict");
      auto es = v.dictRef().entries;
      std::stable_sort(es.begin(), es.end(),
                       [](auto &a, auto &b) { return a.first < b.first; });
      Value::List l;
      for (auto &e : es)
        l.push_back(Value::list({Value(e.first), e.second}));
      return Value::list(std::move(l));
    }
    if (f == "round") {
      int64_t prec = kwOr(kw, args, 0, "precision", Value(int64_t(0))).asInt();
      double m = std::pow(10.0, double(prec));
      return Value(std::nearbyint(v.asDouble() * m) / m);
    }
    if (f == "wordcount")
      return Value(int64_t(pySplit(str(v), nullptr, -1, false).size()));
    if (f == "center") {
      int64_t w = kwOr(kw, args, 0, "width", Value(int64_t(80))).asInt();
      std::string s = str(v);
      int64_t len = int64_t(chars(s).size());
      if (w <= len)
        return Value(s);
      int64_t total = std::min<int64_t>(w - len, 1 << 16);
      int64_t left = total / 2 + (total & w & 1);
      return Value(std::string(size_t(left), ' ') + s +
                   std::string(size_t(total - left), ' '));
    }
    fail(n, "unknown filter '" + f + "'",
         "supported filters are listed in docs/formats.md");
  }

  // -- tests --

  bool test(const Node &n, const std::string &t, const Value &v,
            std::vector<Value> &args) {
    auto arg = [&]() -> const Value & {
      if (args.empty())
        fail(n, "the '" + t + "' test needs an argument");
      return args[0];
    };
    if (t == "defined")
      return !v.isUndefined();
    if (t == "undefined")
      return v.isUndefined();
    if (t == "none")
      return v.isNone();
    if (t == "string")
      return v.isString();
    if (t == "mapping")
      return v.isDict();
    if (t == "iterable")
      return v.isList() || v.isString() || v.isDict();
    if (t == "sequence")
      return v.isList() || v.isString() || v.isDict();
    if (t == "number")
      return v.isNumber() || v.isBool();
    if (t == "integer")
      return v.isInt();
    if (t == "float")
      return v.isFloat();
    if (t == "boolean")
      return v.isBool();
    if (t == "true")
      return v.isBool() && v.asBool();
    if (t == "false")
      return v.isBool() && !v.asBool();
    if (t == "callable")
      return v.isCallable();
    if (t == "lower" || t == "upper") {
      if (!v.isString())
        return false;
      std::string s = v.str();
      for (char c : s)
        if (t == "lower" ? std::isupper((unsigned char)c)
                         : std::islower((unsigned char)c))
          return false;
      return true;
    }
    if (t == "odd" || t == "even" || t == "divisibleby") {
      if (!v.isInt())
        fail(n, "the '" + t + "' test needs an integer");
      if (t == "divisibleby") {
        const Value &d = arg();
        if (!d.isInt() || d.asInt() == 0)
          fail(n, "divisibleby needs a non-zero integer");
        return v.asInt() % d.asInt() == 0;
      }
      return (v.asInt() % 2 != 0) == (t == "odd");
    }
    if (t == "equalto" || t == "eq" || t == "==" || t == "sameas")
      return equal(v, arg());
    if (t == "ne" || t == "!=")
      return !equal(v, arg());
    if (t == "lt" || t == "lessthan")
      return compare(n, v, arg()) < 0;
    if (t == "gt" || t == "greaterthan")
      return compare(n, v, arg()) > 0;
    if (t == "le")
      return compare(n, v, arg()) <= 0;
    if (t == "ge")
      return compare(n, v, arg()) >= 0;
    if (t == "in")
      return contains(n, arg(), v);
    fail(n, "unknown test '" + t + "'",
         "supported tests are listed in docs/formats.md");
  }

  const RenderOptions &opt_;
  int64_t now_ = 0;
  std::vector<Scope> scopes_;
  std::vector<std::string> captures_;
  const Node *cur_ = nullptr;
  uint64_t steps_ = 0;
  int depth_ = 0;
  int loopDepth_ = 0;
};

Status located(const std::string &name, const JError &e) {
  return Status::error(name + ":" + std::to_string(e.line) + ":" +
                           std::to_string(e.col) + ": error: " + e.msg,
                       e.hint);
}

} // namespace

Expected<Template> Template::parse(std::string_view source, std::string name,
                                   Limits limits) {
  // jinja2 reads the source line by line: "\r\n" and "\r" become "\n", and
  // one trailing newline is dropped (keep_trailing_newline=False).
  std::string src;
  src.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      src += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n')
        ++i;
    } else {
      src += source[i];
    }
  }
  if (!src.empty() && src.back() == '\n')
    src.pop_back();
  Template t;
  t.name_ = std::move(name);
  try {
    Lexer lx(src);
    Parser p(lx.run(), limits.maxDepth);
    bool gen = false;
    t.root_ = p.parseTemplate(gen);
    t.hasGeneration_ = gen;
  } catch (const JError &e) {
    return located(t.name_, e);
  }
  return t;
}

Expected<Rendered> Template::render(const Value &context,
                                    const RenderOptions &options) const {
  Renderer r(options);
  try {
    r.run(*root_, context);
  } catch (const JError &e) {
    return located(name_, e);
  } catch (const BreakSignal &) {
    return Status::error(name_ + ": error: '{% break %}' outside a loop");
  } catch (const ContinueSignal &) {
    return Status::error(name_ + ": error: '{% continue %}' outside a loop");
  } catch (const std::bad_alloc &) {
    return Status::error(name_ + ": error: out of memory while rendering",
                         "Limits bound the output; lower them");
  }
  return std::move(r.out);
}

} // namespace hone::jinja
