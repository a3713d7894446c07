#include "runtime/base/Regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

namespace hone {

struct Regex::Code {
  pcre2_code *code = nullptr;
  ~Code() {
    if (code)
      pcre2_code_free(code);
  }
};

namespace {

std::string pcre2Message(int code) {
  PCRE2_UCHAR buf[256];
  pcre2_get_error_message(code, buf, sizeof buf);
  return reinterpret_cast<char *>(buf);
}

/// Match data and a JIT stack per thread, reused across matches (the
/// tokenizer matches once per pre-token).
struct MatchScratch {
  pcre2_match_data *md = nullptr;
  pcre2_match_context *mc = nullptr;
  pcre2_jit_stack *js = nullptr;
  MatchScratch() {
    md = pcre2_match_data_create(64, nullptr);
    mc = pcre2_match_context_create(nullptr);
    js = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
    if (mc && js)
      pcre2_jit_stack_assign(mc, nullptr, js);
  }
  ~MatchScratch() {
    if (md)
      pcre2_match_data_free(md);
    if (mc)
      pcre2_match_context_free(mc);
    if (js)
      pcre2_jit_stack_free(js);
  }
};

MatchScratch &scratch() {
  thread_local MatchScratch s;
  return s;
}

} // namespace

Expected<Regex> Regex::compile(std::string_view pattern, bool jit,
                               size_t *errorOffset) {
  int err = 0;
  PCRE2_SIZE off = 0;
  auto c = std::make_shared<Code>();
  c->code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()),
                    pattern.size(), PCRE2_UTF | PCRE2_UCP, &err, &off, nullptr);
  if (!c->code) {
    if (errorOffset)
      *errorOffset = off;
    return Status::error(pcre2Message(err));
  }
  if (jit)
    pcre2_jit_compile(c->code, PCRE2_JIT_COMPLETE); // falls back if no JIT
  Regex r;
  r.code_ = std::move(c);
  return r;
}

Expected<std::optional<Regex::Match>> Regex::find(std::string_view text,
                                                  size_t start, bool whole,
                                                  bool textIsValidUtf8) const {
  MatchScratch &sc = scratch();
  if (!sc.md || !sc.mc)
    return Status::error("out of memory for regex matching");
  uint32_t opts = (whole ? PCRE2_ANCHORED | PCRE2_ENDANCHORED : 0) |
                  (textIsValidUtf8 ? PCRE2_NO_UTF_CHECK : 0);
  int rc = pcre2_match(code_->code, reinterpret_cast<PCRE2_SPTR>(text.data()),
                       text.size(), start, opts, sc.md, sc.mc);
  if (rc == PCRE2_ERROR_NOMATCH)
    return std::optional<Match>();
  if (rc < 0)
    return Status::error(pcre2Message(rc));
  PCRE2_SIZE *ov = pcre2_get_ovector_pointer(sc.md);
  Match m;
  m.begin = ov[0];
  m.end = ov[1];
  // rc 0: more groups than the 64 pairs of match data hold; group 1 is
  // still among them.
  int g = (rc == 0 || rc >= 2) && ov[2] != PCRE2_UNSET ? 1 : 0;
  m.groupBegin = ov[2 * g];
  m.groupEnd = ov[2 * g + 1];
  return std::optional<Match>(m);
}

} // namespace hone
