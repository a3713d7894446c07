// The Jinja renderer's statements: output, control flow, assignments,
// macros, scopes, limits and the global functions (JinjaImpl.h).
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

Renderer::Renderer(const RenderOptions &o) : opt_(o) {
  now_ = o.now;
  if (now_ < 0) {
    const char *sde = std::getenv("SOURCE_DATE_EPOCH");
    now_ = sde && *sde ? std::atoll(sde) : int64_t(std::time(nullptr));
  }
}

void Renderer::run(const Node &root, const Value &context) {
  scopes_.emplace_back();
  if (context.isDict())
    for (const auto &e : context.dictRef().entries)
      scopes_.back()[e.first] = e.second;
  addGlobals();
  exec(root);
}

void Renderer::fail(const Node &n, std::string msg, std::string hint) {
  throw JError{n.line, n.col, std::move(msg), std::move(hint)};
}

void Renderer::step(const Node &n) {
  if (++steps_ > opt_.limits.maxSteps)
    fail(n,
         "the template ran more than " + std::to_string(opt_.limits.maxSteps) +
             " steps",
         "a loop does not end; templates render conversations in far "
         "fewer steps");
}

void Renderer::checkSize(const Node &n, size_t bytes) {
  if (bytes > opt_.limits.maxOutputBytes)
    fail(n,
         "the template produced more than " +
             std::to_string(opt_.limits.maxOutputBytes) + " bytes",
         "Limits::maxOutputBytes bounds each render");
}

void Renderer::emit(const Node &n, const std::string &s) {
  std::string &b = buf();
  checkSize(n, b.size() + s.size());
  b += s;
}

std::string &Renderer::buf() {
  return captures_.empty() ? out.text : captures_.back();
}

Value Renderer::lookup(const std::string &name) const {
  for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
    auto f = it->find(name);
    if (f != it->end())
      return f->second;
  }
  return Value();
}

std::shared_ptr<Callable> Renderer::builtin(std::string name, Callable::Fn fn) {
  auto c = std::make_shared<Callable>();
  c->name = std::move(name);
  c->fn = std::move(fn);
  return c;
}

void Renderer::addGlobals() {
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
void Renderer::exec(const Node &n) {
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

void Renderer::assign(const Node &n, const std::vector<std::string> &names,
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

void Renderer::execFor(const Node &n) {
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

size_t Renderer::trackedIndex(const Value &v) const {
  if (!v.isDict() || opt_.trackedItems.empty())
    return SIZE_MAX;
  for (size_t i = 0; i < opt_.trackedItems.size(); ++i)
    if (opt_.trackedItems[i] == v.dictPtr())
      return i;
  return SIZE_MAX;
}

} // namespace hone::jinja
