// The Jinja renderer's expressions: names, attributes, items and slices,
// comparison and arithmetic with Python's semantics, calls (JinjaImpl.h).
#include "runtime/tokenizer/JinjaImpl.h"
#include "runtime/base/Utf8.h"

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

// -- expressions --
std::string Renderer::typeName(const Value &v) {
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

Value::List Renderer::chars(const std::string &s) {
  // Python's list(str): one item per code point (a stray byte is its own).
  Value::List l;
  for (size_t i = 0, n = 0; i < s.size(); i += n) {
    decodeUtf8At(s, i, &n);
    l.push_back(Value(s.substr(i, n)));
  }
  return l;
}

// Python-style index into a sequence of length len.
bool Renderer::normIndex(int64_t &i, size_t len) {
  if (i < 0)
    i += int64_t(len);
  return i >= 0 && i < int64_t(len);
}

std::string Renderer::undefinedName(const Node &n) {
  switch (n.k) {
  case Node::Name:
    return "'" + n.s + "'";
  case Node::Attr:
    return undefinedName(*n.a[0]) + "." + n.s;
  default:
    return "the value";
  }
}

Value Renderer::getAttr(const Node &n, const Value &obj,
                        const std::string &name) {
  if (obj.isUndefined())
    fail(n,
         undefinedName(*n.a[0]) + " is undefined, so it has no '" + name + "'",
         "test it first: {% if x is defined %}");
  if (Value m = method(obj, name); !m.isUndefined())
    return m;
  if (obj.isDict())
    if (const Value *v = obj.get(name))
      return *v;
  return Value();
}

Value Renderer::getItem(const Node &n, const Value &obj, const Value &key) {
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

Value Renderer::slice(const Node &n, const Value &obj, const Value &a,
                      const Value &b, const Value &c) {
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

bool Renderer::equal(const Value &a, const Value &b) {
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

int Renderer::compare(const Node &n, const Value &a, const Value &b) {
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

bool Renderer::contains(const Node &n, const Value &container, const Value &x) {
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

Value Renderer::arith(const Node &n, const std::string &op, const Value &a,
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

Value Renderer::eval(const Node &n) {
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
Value Renderer::evalOrUndefined(const Node &n) {
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
Renderer::evalArgs(const Node &n, size_t from) {
  std::vector<Value> args;
  std::vector<std::pair<std::string, Value>> kw;
  for (int i = 0; i < n.npos; ++i)
    args.push_back(eval(*n.a[from + size_t(i)]));
  for (size_t i = 0; i < n.names.size(); ++i)
    kw.emplace_back(n.names[i], eval(*n.a[from + size_t(n.npos) + i]));
  return {std::move(args), std::move(kw)};
}

Value Renderer::call(const Node &n, const Value &f, std::vector<Value> &args,
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
         "macro calls nest more than " + std::to_string(opt_.limits.maxDepth) +
             " deep",
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

} // namespace hone::jinja
