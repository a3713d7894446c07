// The Jinja subset's parser: recursive descent from tokens to the AST of
// JinjaImpl.h.
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

namespace {

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

} // namespace

NodeP parseTokens(std::vector<Tok> toks, int maxDepth, bool &hasGeneration) {
  Parser p(std::move(toks), maxDepth);
  return p.parseTemplate(hasGeneration);
}

} // namespace hone::jinja
