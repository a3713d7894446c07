//===- ObjectiveExpr.h - objectives users write in the spec -----*- C++ -*-===//
//
// The language of an RL stage's `objective { expr: "..." }`: the named
// quantities of a train step (logprob, old_logprob, ref_logprob, entropy,
// mask [B,T]; advantage, reward [B]), numbers and the stage's settings
// (epsilon, epsilon_high, beta), the loss algebra's operators and its
// aggregations, and `name = expr;` bindings. Parsed and checked here
// (shapes, a differentiable path to the policy); plain C++ with no MLIR,
// so the spec checker (located errors) and hone-expand-stages (lowering to
// hone.loss ops) share it, as MethodFamilies.h is shared.
//
//   rho = exp(logprob - old_logprob);
//   mean(seq_mean(-min(rho * advantage,
//                      clip(rho, 1 - epsilon, 1 + epsilon_high) * advantage)))
//
//===----------------------------------------------------------------------===//
#pragma once

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hone::objective {

/// What a value holds: one number, one per sequence [B], one per token
/// [B,T].
enum class Shape { scalar, sequence, token };

inline const char *shapeName(Shape s) {
  return s == Shape::scalar     ? "a number"
         : s == Shape::sequence ? "per-sequence"
                                : "per-token";
}

/// A named quantity of the train step.
struct Quantity {
  const char *name;
  Shape shape;
  bool differentiable; // the policy's outputs
  const char *arg;     // the train step's argument (docs/methods.md)
};

inline const std::vector<Quantity> &quantities() {
  static const std::vector<Quantity> q = {
      {"logprob", Shape::token, true, "l"},
      {"entropy", Shape::token, true, "entropy"},
      {"old_logprob", Shape::token, false, "l_old"},
      {"ref_logprob", Shape::token, false, "l_ref"},
      {"mask", Shape::token, false, "mask"},
      {"advantage", Shape::sequence, false, "adv"},
      {"reward", Shape::sequence, false, "reward"},
  };
  return q;
}

/// Functions: elementwise (shape kept), aggregations (shape changed).
enum class Fn {
  exp, log, sigmoid, log_sigmoid, sqrt, sg, // unary elementwise
  min, max,                                 // binary elementwise
  clip,                                     // clip(x, lo, hi), constant bounds
  token_mean, token_sum, seq_mean, seq_sum, // per-token → less
  mean, sum, group_mean,                    // per-sequence → less
  per_token,                                // per-sequence → per-token
};

struct FnInfo {
  const char *name;
  Fn fn;
  int arity;
};

inline const std::vector<FnInfo> &functions() {
  static const std::vector<FnInfo> f = {
      {"exp", Fn::exp, 1},          {"log", Fn::log, 1},
      {"sigmoid", Fn::sigmoid, 1},  {"log_sigmoid", Fn::log_sigmoid, 1},
      {"sqrt", Fn::sqrt, 1},        {"sg", Fn::sg, 1},
      {"stop_gradient", Fn::sg, 1}, {"min", Fn::min, 2},
      {"max", Fn::max, 2},          {"clip", Fn::clip, 3},
      {"token_mean", Fn::token_mean, 1}, {"token_sum", Fn::token_sum, 1},
      {"seq_mean", Fn::seq_mean, 1}, {"seq_sum", Fn::seq_sum, 1},
      {"mean", Fn::mean, 1},        {"sum", Fn::sum, 1},
      {"group_mean", Fn::group_mean, 1}, {"per_token", Fn::per_token, 1},
  };
  return f;
}

/// One node of the expression DAG (bindings are shared nodes).
struct Node {
  enum Kind { number, quantity, setting, neg, add, sub, mul, div, call } kind;
  double value = 0;  // number, setting
  std::string name;  // quantity, setting, call
  Fn fn = Fn::exp;   // call
  std::vector<int> args;
  size_t pos = 0;              // offset in the expression
  std::vector<size_t> argPos;  // call: where each argument starts
  // Found by the checker.
  Shape shape = Shape::scalar;
  bool differentiable = false; // depends on the policy outside sg()
  bool constant = false;       // numbers and settings only
};

/// A located problem: `pos` is an offset in the expression.
struct Error {
  size_t pos;
  std::string message, hint;
};

struct Program {
  std::vector<Node> nodes;
  int root = -1;
  /// Quantities the expression reads (train-step arguments by spec name).
  std::vector<std::string> reads;
  bool uses(std::string_view q) const {
    for (auto &r : reads)
      if (r == q)
        return true;
    return false;
  }
};

/// The stage's numbers an expression may name.
struct Settings {
  std::map<std::string, double> values; // epsilon, epsilon_high, beta
  bool hasReference = false;            // ref_logprob is computed
};

/// Edit distance, for "did you mean".
inline size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1,
                         diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

class Parser {
public:
  static constexpr size_t kMaxLength = 4096;
  static constexpr int kMaxDepth = 64;

  Parser(std::string_view src, const Settings &settings)
      : s(src), settings(settings) {}

  /// The program, or the first problem.
  std::optional<Program> parse(Error &err) {
    if (s.size() > kMaxLength)
      return fail(err, 0,
                  "the objective is " + std::to_string(s.size()) +
                      " characters long, more than " +
                      std::to_string(kMaxLength),
                  "bind parts to names ('x = ...;') and keep it short");
    skip();
    if (i == s.size())
      return fail(err, 0, "the objective expression is empty",
                  "write the loss, e.g. token_mean(-logprob)");
    // Bindings: name = expr ;
    for (;;) {
      size_t save = i;
      std::string name = ident();
      skip();
      if (!name.empty() && i < s.size() && s[i] == '=' ) {
        size_t at = save;
        ++i;
        if (isReserved(name))
          return fail(err, at,
                      "'" + name + "' is a quantity, a setting or a function; "
                      "it cannot be bound",
                      "choose another name");
        if (lets.count(name))
          return fail(err, at, "'" + name + "' is bound twice",
                      "bind each name once");
        int v = expr(err, 0);
        if (v < 0)
          return std::nullopt;
        skip();
        if (i >= s.size() || s[i] != ';')
          return fail(err, i, "expected ';' after the binding of '" + name + "'",
                      "end each binding with ';' and finish with the loss");
        ++i;
        lets[name] = v;
        skip();
        if (i == s.size())
          return fail(err, at, "the objective ends after a binding",
                      "finish with the loss expression, e.g. token_mean(-" +
                          name + ")");
        continue;
      }
      i = save;
      break;
    }
    int root = expr(err, 0);
    if (root < 0)
      return std::nullopt;
    skip();
    if (i != s.size())
      return fail(err, i, "unexpected '" + std::string(1, s[i]) +
                              "' after the expression",
                  "check for a missing operator or a stray character");
    p.root = root;
    return std::move(p);
  }

private:
  std::string_view s;
  const Settings &settings;
  size_t i = 0;
  Program p;
  std::map<std::string, int> lets;

  std::nullopt_t fail(Error &err, size_t pos, std::string msg,
                      std::string hint) {
    err = {pos, std::move(msg), std::move(hint)};
    return std::nullopt;
  }
  void skip() {
    while (i < s.size() && std::isspace((unsigned char)s[i]))
      ++i;
  }
  std::string ident() {
    size_t b = i;
    if (i < s.size() && (std::isalpha((unsigned char)s[i]) || s[i] == '_'))
      while (i < s.size() && (std::isalnum((unsigned char)s[i]) || s[i] == '_'))
        ++i;
    return std::string(s.substr(b, i - b));
  }
  static const Quantity *quantity(std::string_view n) {
    for (auto &q : quantities())
      if (n == q.name)
        return &q;
    return nullptr;
  }
  static const FnInfo *function(std::string_view n) {
    for (auto &f : functions())
      if (n == f.name)
        return &f;
    return nullptr;
  }
  bool isSetting(std::string_view n) const {
    return n == "epsilon" || n == "epsilon_high" || n == "beta";
  }
  bool isReserved(std::string_view n) const {
    return quantity(n) || function(n) || isSetting(n) || n == "value" ||
           n == "returns";
  }
  int add(Node n) {
    p.nodes.push_back(std::move(n));
    return int(p.nodes.size()) - 1;
  }

  int expr(Error &err, int depth) { // sum
    int lhs = term(err, depth);
    while (lhs >= 0) {
      skip();
      if (i >= s.size() || (s[i] != '+' && s[i] != '-'))
        break;
      size_t at = i;
      Node::Kind k = s[i] == '+' ? Node::add : Node::sub;
      ++i;
      int rhs = term(err, depth);
      if (rhs < 0)
        return -1;
      lhs = binary(err, k, lhs, rhs, at);
    }
    return lhs;
  }
  int term(Error &err, int depth) { // product
    int lhs = unary(err, depth);
    while (lhs >= 0) {
      skip();
      if (i >= s.size() || (s[i] != '*' && s[i] != '/'))
        break;
      size_t at = i;
      Node::Kind k = s[i] == '*' ? Node::mul : Node::div;
      ++i;
      int rhs = unary(err, depth);
      if (rhs < 0)
        return -1;
      lhs = binary(err, k, lhs, rhs, at);
    }
    return lhs;
  }
  int unary(Error &err, int depth) {
    skip();
    if (depth > kMaxDepth) {
      fail(err, i, "the objective nests deeper than " +
                       std::to_string(kMaxDepth) + " levels",
           "bind parts to names ('x = ...;')");
      return -1;
    }
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) {
      size_t at = i;
      bool minus = s[i] == '-';
      ++i;
      int x = unary(err, depth + 1);
      if (x < 0 || !minus)
        return x;
      Node n{Node::neg};
      n.pos = at;
      n.args = {x};
      return finish(std::move(n));
    }
    return primary(err, depth);
  }
  int primary(Error &err, int depth) {
    skip();
    if (i >= s.size()) {
      fail(err, i, "the expression ends where a value is expected",
           "complete the expression");
      return -1;
    }
    size_t at = i;
    char c = s[i];
    if (c == '(') {
      ++i;
      int x = expr(err, depth + 1);
      if (x < 0)
        return -1;
      skip();
      if (i >= s.size() || s[i] != ')') {
        fail(err, at, "'(' is not closed", "add the matching ')'");
        return -1;
      }
      ++i;
      return x;
    }
    if (std::isdigit((unsigned char)c) || c == '.') {
      std::string text;
      while (i < s.size() &&
             (std::isalnum((unsigned char)s[i]) || s[i] == '.' ||
              ((s[i] == '-' || s[i] == '+') && (s[i - 1] == 'e' || s[i - 1] == 'E'))))
        text += s[i++];
      char *end = nullptr;
      double v = std::strtod(text.c_str(), &end);
      if (end != text.c_str() + text.size()) {
        fail(err, at, "'" + text + "' is not a number",
             "write numbers as 0.2, 3e-4 or 1");
        return -1;
      }
      if (!std::isfinite(v)) {
        fail(err, at, "'" + text + "' is not a finite number",
             "use a number within double range");
        return -1;
      }
      Node n{Node::number};
      n.value = v;
      n.pos = at;
      return finish(std::move(n));
    }
    std::string name = ident();
    if (name.empty()) {
      fail(err, at, "unexpected '" + std::string(1, c) + "'",
           "a value is a number, a quantity (logprob, advantage, ...), a "
           "function call or '(...)'");
      return -1;
    }
    skip();
    bool isCall = i < s.size() && s[i] == '(';
    if (isCall)
      return call(err, name, at, depth);
    if (auto it = lets.find(name); it != lets.end())
      return it->second;
    if (const Quantity *q = quantity(name)) {
      if (name == "ref_logprob" && !settings.hasReference) {
        fail(err, at, "ref_logprob needs a reference model, which the stage "
                      "loads only with a KL coefficient",
             "set 'beta' > 0 (the objective alone decides how it is used)");
        return -1;
      }
      Node n{Node::quantity};
      n.name = name;
      n.pos = at;
      n.shape = q->shape;
      n.differentiable = q->differentiable;
      bool seen = false;
      for (auto &r : p.reads)
        seen |= r == name;
      if (!seen)
        p.reads.push_back(name);
      return add(std::move(n));
    }
    if (isSetting(name)) {
      Node n{Node::setting};
      n.name = name;
      n.pos = at;
      n.value = settings.values.count(name) ? settings.values.at(name) : 0.0;
      n.constant = true;
      return add(std::move(n));
    }
    if (name == "value" || name == "returns") {
      fail(err, at, "'" + name + "' is the critic's (ppo); objectives run "
                    "on critic-free stages yet",
           "use advantage (group-normalised rewards) or reward");
      return -1;
    }
    if (function(name)) {
      fail(err, at, "'" + name + "' is a function; call it with '(...)'",
           "e.g. " + name + "(logprob)");
      return -1;
    }
    std::string best;
    size_t bestD = 3;
    auto consider = [&](const std::string &cand) {
      size_t d = editDistance(name, cand);
      if (d < bestD) {
        bestD = d;
        best = cand;
      }
    };
    for (auto &q : quantities())
      consider(q.name);
    for (const char *st : {"epsilon", "epsilon_high", "beta"})
      consider(st);
    for (auto &[n, _] : lets)
      consider(n);
    fail(err, at, "unknown quantity '" + name + "'",
         best.empty() ? "the quantities are logprob, old_logprob, "
                        "ref_logprob, entropy, mask, advantage, reward"
                      : "did you mean '" + best + "'?");
    return -1;
  }
  int call(Error &err, const std::string &name, size_t at, int depth) {
    const FnInfo *f = function(name);
    if (!f) {
      std::string best;
      size_t bestD = 3;
      for (auto &fi : functions()) {
        size_t d = editDistance(name, fi.name);
        if (d < bestD) {
          bestD = d;
          best = fi.name;
        }
      }
      fail(err, at, "unknown function '" + name + "'",
           best.empty() ? "the functions are exp, log, sigmoid, log_sigmoid, "
                          "sqrt, sg, min, max, clip, token_mean, token_sum, "
                          "seq_mean, seq_sum, mean, sum, group_mean, per_token"
                        : "did you mean '" + best + "'?");
      return -1;
    }
    ++i; // '('
    std::vector<int> args;
    std::vector<size_t> argPos;
    skip();
    if (i < s.size() && s[i] == ')') {
      ++i;
    } else {
      for (;;) {
        skip();
        argPos.push_back(i);
        int a = expr(err, depth + 1);
        if (a < 0)
          return -1;
        args.push_back(a);
        skip();
        if (i < s.size() && s[i] == ',') {
          ++i;
          continue;
        }
        if (i < s.size() && s[i] == ')') {
          ++i;
          break;
        }
        fail(err, at, "the call of '" + name + "' is not closed",
             "separate arguments with ',' and close with ')'");
        return -1;
      }
    }
    if (int(args.size()) != f->arity) {
      fail(err, at,
           "'" + name + "' takes " + std::to_string(f->arity) +
               " argument" + (f->arity == 1 ? "" : "s") + ", got " +
               std::to_string(args.size()),
           f->fn == Fn::clip ? "clip(x, lo, hi)"
           : f->arity == 2   ? name + "(a, b)"
                             : name + "(x)");
      return -1;
    }
    Node n{Node::call};
    n.name = name;
    n.fn = f->fn;
    n.pos = at;
    n.args = std::move(args);
    n.argPos = std::move(argPos);
    return check(err, std::move(n));
  }
  int binary(Error &err, Node::Kind k, int a, int b, size_t at) {
    Node n{k};
    n.pos = at;
    n.args = {a, b};
    if (k == Node::div && p.nodes[b].constant && p.nodes[b].value == 0.0 &&
        p.nodes[b].kind == Node::number) {
      fail(err, p.nodes[b].pos, "division by zero", "divide by a non-zero number");
      return -1;
    }
    return finish(std::move(n));
  }
  static Shape wider(Shape a, Shape b) { return a > b ? a : b; }
  /// Shape, differentiability and constant value of an elementwise node.
  int finish(Node n) {
    if (n.args.empty()) { // a number
      n.constant = true;
      return add(std::move(n));
    }
    n.shape = Shape::scalar;
    n.constant = true;
    for (int a : n.args) {
      n.shape = wider(n.shape, p.nodes[a].shape);
      n.differentiable |= p.nodes[a].differentiable;
      n.constant &= p.nodes[a].constant;
    }
    if (n.constant) {
      double x = p.nodes[n.args[0]].value,
             y = n.args.size() > 1 ? p.nodes[n.args[1]].value : 0;
      n.value = n.kind == Node::neg   ? -x
                : n.kind == Node::add ? x + y
                : n.kind == Node::sub ? x - y
                : n.kind == Node::mul ? x * y
                                      : x / y;
    }
    return add(std::move(n));
  }
  int check(Error &err, Node n) {
    auto arg = [&](int k) -> Node & { return p.nodes[n.args[k]]; };
    auto need = [&](int k, Shape want, const char *hint) {
      if (arg(k).shape == want)
        return true;
      fail(err, n.argPos[k],
           "'" + n.name + "' needs a " + shapeName(want) + " value, got " +
               shapeName(arg(k).shape),
           hint);
      return false;
    };
    switch (n.fn) {
    case Fn::clip: {
      for (int k : {1, 2})
        if (!arg(k).constant) {
          fail(err, n.argPos[k], "clip's bounds must be constants",
               "use numbers and settings, e.g. clip(rho, 1 - epsilon, 1 + "
               "epsilon_high); min() and max() take values");
          return -1;
        }
      if (!(arg(1).value <= arg(2).value)) {
        fail(err, n.argPos[1],
             "clip's lower bound " + num(arg(1).value) + " is above its upper "
             "bound " + num(arg(2).value),
             "clip(x, lo, hi) with lo <= hi");
        return -1;
      }
      Node &x = arg(0);
      n.shape = x.shape;
      n.differentiable = x.differentiable;
      n.constant = false;
      if (x.constant) {
        fail(err, n.argPos[0], "clip of a constant", "clip a quantity");
        return -1;
      }
      return add(std::move(n));
    }
    case Fn::token_mean:
    case Fn::token_sum:
    case Fn::seq_mean:
    case Fn::seq_sum:
      if (!need(0, Shape::token,
                "per-sequence values are averaged with mean(...), or "
                "spread over tokens with per_token(...)"))
        return -1;
      n.shape = n.fn == Fn::token_mean || n.fn == Fn::token_sum
                    ? Shape::scalar
                    : Shape::sequence;
      n.differentiable = arg(0).differentiable;
      if (!p.uses("mask"))
        p.reads.push_back("mask");
      return add(std::move(n));
    case Fn::mean:
    case Fn::sum:
    case Fn::group_mean:
      if (!need(0, Shape::sequence,
                "aggregate tokens first: seq_mean(...) per sequence, or "
                "token_mean(...) over the batch"))
        return -1;
      n.shape = n.fn == Fn::group_mean ? Shape::sequence : Shape::scalar;
      n.differentiable = arg(0).differentiable;
      return add(std::move(n));
    case Fn::per_token:
      if (!need(0, Shape::sequence,
                "per_token spreads a per-sequence value over its tokens"))
        return -1;
      n.shape = Shape::token;
      n.differentiable = arg(0).differentiable;
      return add(std::move(n));
    case Fn::sg:
      n.shape = arg(0).shape;
      n.differentiable = false;
      if (!arg(0).differentiable) {
        fail(err, n.pos, "sg() of a value with no gradient",
             "sg stops the policy's gradient; apply it to an expression of "
             "logprob or entropy");
        return -1;
      }
      return add(std::move(n));
    default:
      break;
    }
    // Elementwise; constants fold.
    n.shape = Shape::scalar;
    n.constant = true;
    for (int a : n.args) {
      n.shape = wider(n.shape, p.nodes[a].shape);
      n.differentiable |= p.nodes[a].differentiable;
      n.constant &= p.nodes[a].constant;
    }
    if (n.constant) {
      double x = arg(0).value, y = n.args.size() > 1 ? arg(1).value : 0;
      if ((n.fn == Fn::log && !(x > 0)) || (n.fn == Fn::sqrt && x < 0)) {
        fail(err, n.pos, n.name + " of " + num(x) + " is not defined",
             "use a positive argument");
        return -1;
      }
      switch (n.fn) {
      case Fn::exp: n.value = std::exp(x); break;
      case Fn::log: n.value = std::log(x); break;
      case Fn::sigmoid: n.value = 1 / (1 + std::exp(-x)); break;
      case Fn::log_sigmoid: n.value = -std::log1p(std::exp(-x)); break;
      case Fn::sqrt: n.value = std::sqrt(x); break;
      case Fn::min: n.value = std::min(x, y); break;
      case Fn::max: n.value = std::max(x, y); break;
      default: break;
      }
    }
    return add(std::move(n));
  }
  static std::string num(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
  }
};

/// Parses and checks an objective: the program, or the first problem. The
/// result is one number with a gradient to the policy.
inline std::optional<Program> parseObjective(std::string_view src,
                                             const Settings &settings,
                                             Error &err) {
  Parser parser(src, settings);
  std::optional<Program> p = parser.parse(err);
  if (!p)
    return std::nullopt;
  const Node &root = p->nodes[p->root];
  if (root.shape != Shape::scalar) {
    err = {root.pos,
           std::string("the objective is ") + shapeName(root.shape) +
               "; the loss must be one number",
           root.shape == Shape::token
               ? "aggregate it: token_mean(...), or mean(seq_mean(...))"
               : "aggregate it: mean(...) over the sequences"};
    return std::nullopt;
  }
  if (!root.differentiable) {
    err = {root.pos,
           "the objective has no differentiable path to the policy's "
           "parameters",
           "use logprob or entropy outside sg(); old_logprob, ref_logprob, "
           "advantage, reward and mask are data"};
    return std::nullopt;
  }
  return p;
}

} // namespace hone::objective
