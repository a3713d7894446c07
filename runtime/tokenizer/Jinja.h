// A Jinja subset for Hugging Face chat templates (docs/formats.md, "Model
// chat templates"): the environment transformers renders `chat_template`
// with (trim_blocks, lstrip_blocks, loop controls, `raise_exception`,
// `strftime_now`, a `tojson` without HTML escaping, `{% generation %}`
// markers), in C++, with bounded output, steps and recursion so a hostile
// template fails with a located error instead of hanging.
#pragma once

#include "runtime/base/Json.h"
#include "runtime/base/Status.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hone::jinja {

struct Dict;
struct Callable;

/// A template value: Python's types as Jinja sees them.
class Value {
public:
  enum class Kind : uint8_t {
    Undefined,
    None,
    Bool,
    Int,
    Float,
    String,
    List,
    Dict,
    Namespace,
    Callable
  };
  using List = std::vector<Value>;

  Value() = default;
  static Value none() { return Value(Kind::None); }
  Value(bool b) : kind_(Kind::Bool), i_(b) {}
  Value(int v) : kind_(Kind::Int), i_(v) {}
  Value(int64_t v) : kind_(Kind::Int), i_(v) {}
  Value(double v) : kind_(Kind::Float), f_(v) {}
  Value(const char *s) : Value(std::string(s)) {}
  Value(std::string s);
  static Value list(List items = {});
  static Value dict();
  static Value ns();
  static Value callable(std::shared_ptr<Callable> c);

  Kind kind() const { return kind_; }
  bool isUndefined() const { return kind_ == Kind::Undefined; }
  bool isNone() const { return kind_ == Kind::None; }
  bool isBool() const { return kind_ == Kind::Bool; }
  bool isInt() const { return kind_ == Kind::Int; }
  bool isFloat() const { return kind_ == Kind::Float; }
  bool isNumber() const { return isInt() || isFloat(); }
  bool isString() const { return kind_ == Kind::String; }
  bool isList() const { return kind_ == Kind::List; }
  bool isDict() const { return kind_ == Kind::Dict || isNamespace(); }
  bool isNamespace() const { return kind_ == Kind::Namespace; }
  bool isCallable() const { return kind_ == Kind::Callable; }

  bool asBool() const { return i_ != 0; }
  int64_t asInt() const { return i_; }
  double asDouble() const { return isInt() ? double(i_) : f_; }
  const std::string &str() const { return *s_; }
  const List &items() const { return *list_; }
  List &items() { return *list_; }
  const Dict &dictRef() const { return *dict_; }
  Dict &dictRef() { return *dict_; }
  const Dict *dictPtr() const { return dict_.get(); }
  const std::shared_ptr<Callable> &callableRef() const { return call_; }

  /// Dict/namespace lookup (nullptr when absent).
  const Value *get(std::string_view key) const;
  void set(std::string key, Value v);

  /// Python truthiness.
  bool truthy() const;

private:
  explicit Value(Kind k) : kind_(k) {}
  Kind kind_ = Kind::Undefined;
  int64_t i_ = 0;
  double f_ = 0;
  std::shared_ptr<const std::string> s_;
  std::shared_ptr<List> list_;
  std::shared_ptr<Dict> dict_;
  std::shared_ptr<Callable> call_;
};

/// An insertion-ordered string-keyed map (Python dicts keep order).
struct Dict {
  std::vector<std::pair<std::string, Value>> entries;
  const Value *find(std::string_view k) const {
    for (const auto &e : entries)
      if (e.first == k)
        return &e.second;
    return nullptr;
  }
};

/// JSON -> Value (numbers without a fraction or exponent are ints).
Value fromJson(const json::Value &v);

/// Limits on one render. Exceeding one is an error located at the template
/// line being run.
struct Limits {
  size_t maxOutputBytes = size_t(64) << 20; // also any single string/list
  uint64_t maxSteps = 50'000'000;           // statements + loop iterations
  int maxDepth = 200;                       // macro calls, nested parsing
};

struct RenderOptions {
  Limits limits;
  /// `strftime_now`: seconds since the epoch (UTC). < 0: the clock, or
  /// SOURCE_DATE_EPOCH when that is set (reproducible renders).
  int64_t now = -1;
  /// Dicts (by identity, e.g. the message objects of `messages`) whose
  /// for-loop iterations are recorded in Rendered::itemSpans.
  std::vector<const Dict *> trackedItems;
};

struct Rendered {
  std::string text;
  /// [begin, end) byte ranges of `{% generation %}` blocks.
  std::vector<std::pair<size_t, size_t>> generation;
  /// Output of each for-loop iteration over a tracked item: (index in
  /// RenderOptions::trackedItems, begin, end); empty iterations left out.
  struct ItemSpan {
    size_t item;
    size_t begin, end;
  };
  std::vector<ItemSpan> itemSpans;
};

struct Node;

/// A parsed template. Parsing errors read "NAME:LINE:COL: error: ..." with
/// a hint; so do render errors (and `raise_exception(msg)`).
class Template {
public:
  static Expected<Template> parse(std::string_view source, std::string name,
                                  Limits limits = {});
  /// Renders with `context` (a dict of top-level variables).
  Expected<Rendered> render(const Value &context,
                            const RenderOptions &options = {}) const;
  /// Whether the template has `{% generation %}` blocks.
  bool hasGeneration() const { return hasGeneration_; }
  const std::string &name() const { return name_; }

private:
  std::string name_;
  std::shared_ptr<const Node> root_;
  bool hasGeneration_ = false;
};

/// Python's json.dumps(v, ensure_ascii=False, indent=indent, sort_keys=...):
/// the `tojson` filter of transformers' environment. indent < 0: none.
std::string toJson(const Value &v, int indent = -1, bool sortKeys = false);

} // namespace hone::jinja
