// The Jinja renderer's filters, tests and the methods of strings, dicts
// and lists, as jinja2 and Python define them (JinjaImpl.h).
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

// -- methods of strings, dicts and lists --
Value Renderer::method(const Value &obj, const std::string &name) {
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

bool Renderer::isPyWs(unsigned char c) {
  return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

std::string Renderer::pyStrip(const std::string &s, const Value *chars,
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

Value::List Renderer::pySplit(const std::string &s, const Value *sep,
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
        out.push_back(
            Value(s.substr(words[k].first, words[k].second - words[k].first)));
      std::string rest = s.substr(words[size_t(maxsplit)].first);
      out.push_back(Value(pyStrip(rest, nullptr, false, true)));
    } else {
      size_t keep = words.size() - size_t(maxsplit);
      std::string head = s.substr(0, words[keep - 1].second);
      out.push_back(Value(pyStrip(head, nullptr, true, false)));
      for (size_t k = keep; k < words.size(); ++k)
        out.push_back(
            Value(s.substr(words[k].first, words[k].second - words[k].first)));
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

Value Renderer::stringMethod(const Value &obj, const std::string &name) {
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
      int64_t count = args.size() > 2 && args[2].isInt() ? args[2].asInt() : -1;
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
    return mk([s, name](auto &, auto &) { return Value(titleCase(s, name)); });
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

std::string Renderer::titleCase(const std::string &s, const std::string &how) {
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
Value Renderer::kwOr(std::vector<std::pair<std::string, Value>> &kw,
                     std::vector<Value> &args, size_t pos, const char *name,
                     Value def) {
  for (auto &k : kw)
    if (k.first == name)
      return k.second;
  return pos < args.size() ? args[pos] : def;
}

Value::List Renderer::asList(const Node &n, const Value &v, const char *what) {
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

Value Renderer::attrPath(const Value &v, const std::string &path) {
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
      cur = normIndex(i, cur.items().size()) ? cur.items()[size_t(i)] : Value();
    } else {
      cur = Value();
    }
    if (e == std::string::npos)
      return cur;
    b = e + 1;
  }
}

Value Renderer::filter(const Node &n, const std::string &f, const Value &v,
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
    if (sep.isList() && sep.items().size() == 2 && sep.items()[0].isString() &&
        sep.items()[1].isString()) {
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
bool Renderer::test(const Node &n, const std::string &t, const Value &v,
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

} // namespace hone::jinja
