// Internal to runtime/tokenizer: the parts of the Jinja subset (Jinja.h)
// that its stages share. Pipeline: JinjaLexer.cpp (source -> tokens),
// JinjaParser.cpp (tokens -> AST), the renderer (JinjaRender.cpp:
// statements and globals; JinjaEval.cpp: expressions; JinjaFilters.cpp:
// filters, tests and methods), over the value model of JinjaValue.cpp;
// Jinja.cpp holds the entry points. Errors are C++ exceptions (JError)
// caught at the entry points and turned into a located Status; nothing
// escapes these files.
#pragma once

#include "runtime/tokenizer/Jinja.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

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

/// str() and repr() as Python prints a value (JinjaValue.cpp).
std::string str(const Value &v);
std::string repr(const Value &v);

struct JsonStyle {
  int indent = -1;
  bool sortKeys = false;
  bool ensureAscii = false;
  std::string itemSep = ", ", keySep = ": ";
};

void toJsonRec(std::string &out, const Value &v, const JsonStyle &st,
               int level);

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

/// The template's tokens (JinjaLexer.cpp).
std::vector<Tok> lex(std::string src);

// -------------------------------------------------------------- parser --

/// The AST of a token stream (JinjaParser.cpp); hasGeneration: a
/// {% generation %} block occurs.
NodeP parseTokens(std::vector<Tok> toks, int maxDepth, bool &hasGeneration);

// ------------------------------------------------------------ renderer --

struct BreakSignal {};
struct ContinueSignal {};

class Renderer {
public:
  Renderer(const RenderOptions &o);
  void run(const Node &root, const Value &context);

  Rendered out;

private:
  using Scope = std::unordered_map<std::string, Value>;
  [[noreturn]] void fail(const Node &n, std::string msg, std::string hint = {});
  void step(const Node &n);
  void checkSize(const Node &n, size_t bytes);
  void emit(const Node &n, const std::string &s);
  std::string &buf();
  Value lookup(const std::string &name) const;
  static std::shared_ptr<Callable> builtin(std::string name, Callable::Fn fn);
  void addGlobals();

  // -- statements --
  void exec(const Node &n);
  void assign(const Node &n, const std::vector<std::string> &names,
              const Value &v);
  void execFor(const Node &n);
  size_t trackedIndex(const Value &v) const;

  // -- expressions --
  static std::string typeName(const Value &v);
  static Value::List chars(const std::string &s);
  // Python-style index into a sequence of length len.
  static bool normIndex(int64_t &i, size_t len);
  std::string undefinedName(const Node &n);
  Value getAttr(const Node &n, const Value &obj, const std::string &name);
  Value getItem(const Node &n, const Value &obj, const Value &key);
  Value slice(const Node &n, const Value &obj, const Value &a, const Value &b,
              const Value &c);
  static bool equal(const Value &a, const Value &b);
  int compare(const Node &n, const Value &a, const Value &b);
  bool contains(const Node &n, const Value &container, const Value &x);
  Value arith(const Node &n, const std::string &op, const Value &a,
              const Value &b);
  Value eval(const Node &n);
  // `x is defined` on `a.b.c` with `a` undefined is false, not an error.
  Value evalOrUndefined(const Node &n);
  std::pair<std::vector<Value>, std::vector<std::pair<std::string, Value>>>
  evalArgs(const Node &n, size_t from);
  Value call(const Node &n, const Value &f, std::vector<Value> &args,
             std::vector<std::pair<std::string, Value>> &kw);

  // -- methods of strings, dicts and lists --
  Value method(const Value &obj, const std::string &name);
  static bool isPyWs(unsigned char c);
  static std::string pyStrip(const std::string &s, const Value *chars,
                             bool left, bool right);
  static Value::List pySplit(const std::string &s, const Value *sep,
                             int64_t maxsplit, bool fromRight);
  Value stringMethod(const Value &obj, const std::string &name);
  static std::string titleCase(const std::string &s, const std::string &how);

  // -- filters --
  Value kwOr(std::vector<std::pair<std::string, Value>> &kw,
             std::vector<Value> &args, size_t pos, const char *name,
             Value def = Value());
  Value::List asList(const Node &n, const Value &v, const char *what);
  Value attrPath(const Value &v, const std::string &path);
  Value filter(const Node &n, const std::string &f, const Value &v,
               std::vector<Value> &args,
               std::vector<std::pair<std::string, Value>> &kw);

  // -- tests --
  bool test(const Node &n, const std::string &t, const Value &v,
            std::vector<Value> &args);

  const RenderOptions &opt_;
  int64_t now_ = 0;
  std::vector<Scope> scopes_;
  std::vector<std::string> captures_;
  const Node *cur_ = nullptr;
  uint64_t steps_ = 0;
  int depth_ = 0;
  int loopDepth_ = 0;
};

/// "name:line:col: error: msg" with the hint (Jinja.cpp).
Status located(const std::string &name, const JError &e);

} // namespace hone::jinja
