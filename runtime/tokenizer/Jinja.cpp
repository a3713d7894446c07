// The Jinja subset of Jinja.h: its two entry points, parse (lexer and
// parser) and render (the renderer), which turn the stages' exceptions
// into located errors. The stages, over JinjaImpl.h: JinjaLexer.cpp,
// JinjaParser.cpp, JinjaRender.cpp, JinjaEval.cpp, JinjaFilters.cpp, and
// the value model JinjaValue.cpp.
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

Status located(const std::string &name, const JError &e) {
  return Status::error(name + ":" + std::to_string(e.line) + ":" +
                           std::to_string(e.col) + ": error: " + e.msg,
                       e.hint);
}

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
    bool gen = false;
    t.root_ = parseTokens(lex(src), limits.maxDepth, gen);
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
