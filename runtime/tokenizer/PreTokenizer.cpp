// Pre-tokenizers: regex splits (PCRE2 through runtime/base/Regex.h, with
// Oniguruma's \s), ByteLevel, Digits and literal splits, applied in order
// (Tokenizer::Impl::applyStep).
#include "runtime/tokenizer/TokenizerImpl.h"

#include "runtime/base/Utf8.h"

#include <algorithm>

namespace hone::tok {

namespace {

const char kWhiteSpaceClass[] =
    "\\x{9}-\\x{D}\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}"
    "\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}";

/// Oniguruma's \s is Unicode White_Space; PCRE2's (with UCP) adds U+180E.
std::string rewriteWhitespace(std::string_view p) {
  std::string out;
  bool inClass = false;
  for (size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      char e = p[i + 1];
      if (e == 's') {
        out += inClass ? std::string(kWhiteSpaceClass)
                       : "[" + std::string(kWhiteSpaceClass) + "]";
      } else if (e == 'S' && !inClass) {
        out += "[^" + std::string(kWhiteSpaceClass) + "]";
      } else {
        out += c;
        out += e;
      }
      ++i;
      continue;
    }
    if (!inClass && c == '[') {
      inClass = true;
      out += c;
      if (i + 1 < p.size() && p[i + 1] == '^')
        out += p[++i];
      if (i + 1 < p.size() && p[i + 1] == ']')
        out += p[++i];
      continue;
    }
    if (inClass && c == '[' && i + 1 < p.size() && p[i + 1] == ':') {
      size_t end = p.find(":]", i + 2);
      if (end != std::string_view::npos) {
        out.append(p.substr(i, end + 2 - i));
        i = end + 1;
        continue;
      }
    }
    if (inClass && c == ']')
      inClass = false;
    out += c;
  }
  return out;
}

} // namespace

Expected<std::shared_ptr<PatternRegex>> compileRegex(std::string_view pattern,
                                                     const std::string &where) {
  std::string p = rewriteWhitespace(pattern);
  size_t errOff = 0;
  auto re = Regex::compile(p, /*jit=*/true, &errOff);
  if (!re)
    return Status::error(where + "pre-tokenizer regex does not compile: " +
                         re.status().message() + " at pattern offset " +
                         std::to_string(errOff));
  return std::make_shared<PatternRegex>(
      PatternRegex{re.take(), where.substr(0, where.rfind(": error: "))});
}

Status forEachMatch(const PatternRegex &re, std::string_view s,
                    const std::function<bool(size_t, size_t)> &f) {
  size_t pos = 0;
  while (pos <= s.size()) {
    auto m = re.re.find(s, pos, /*whole=*/false, /*textIsValidUtf8=*/true);
    if (!m) // a pathological pattern: match or stack limit
      return Status::error("error: pre-tokenizer regex" +
                           (re.source.empty() ? "" : " at " + re.source) +
                           " failed: " + m.status().message());
    if (!m->has_value())
      break;
    size_t b = (*m)->begin, e = (*m)->end;
    if (e <= b) { // empty match: step over one character
      if (b >= s.size())
        break;
      pos = b + utf8SequenceLength(static_cast<unsigned char>(s[b]));
      continue;
    }
    if (!f(b, e))
      break;
    pos = e;
  }
  return Status::ok();
}

} // namespace hone::tok

namespace hone {

using namespace tok;

// A step splits a piece into segments (the matches and the gaps between
// them, in order) and joins them into pieces by its behavior. Every
// behavior decides a segment's fate from the segment before it only, so
// the walk holds one piece (the current one) and passes it on when the
// next begins: Hugging Face's MergedWithNext (a match joins the gap after
// it) is read forwards as "a gap after a match extends the match's piece".
Status
Tokenizer::Impl::splitPieces(size_t step, std::string_view text, Piece p,
                             const std::function<bool(const Piece &)> &sink,
                             bool &stopped) const {
  // Steps that only mark the piece (ByteLevel without its regex), then
  // the next one that splits, if any.
  for (; step < steps.size(); ++step) {
    const PreStep &mark = steps[step];
    if (mark.kind == PreStep::ByteLevel && mark.addPrefixSpace && !p.prefix &&
        !(p.end > p.start && text[p.start] == ' '))
      p.prefix = true;
    if (mark.kind == PreStep::Split || mark.regex)
      break;
  }
  if (step == steps.size()) {
    if (!sink(p))
      stopped = true;
    return Status::ok();
  }
  const PreStep &st = steps[step];
  // The piece's text, with its virtual space when it has one.
  std::string_view s = text.substr(p.start, p.end - p.start);
  std::string buf;
  size_t shift = 0;
  if (p.prefix) {
    buf.assign(1, ' ');
    buf.append(s);
    s = buf;
    shift = 1;
  }
  Status failed = Status::ok();
  bool have = false, prevMatch = false;
  size_t curB = 0, curE = 0;
  auto pass = [&]() { // the current piece to the next step; false: stop
    if (!have)
      return true;
    have = false;
    if (curE <= curB)
      return true;
    Piece q;
    q.prefix = shift && curB == 0;
    q.start = p.start + (curB > shift ? curB - shift : 0);
    q.end = p.start + (curE - shift);
    Status next = splitPieces(step + 1, text, q, sink, stopped);
    if (!next.isOk()) {
      failed = std::move(next);
      return false;
    }
    return !stopped;
  };
  auto begin = [&](size_t b, size_t e) {
    bool go = pass();
    curB = b;
    curE = e;
    have = true;
    return go;
  };
  auto segment = [&](size_t b, size_t e, bool m) {
    if (st.invert)
      m = !m;
    bool go = true;
    switch (st.behavior) {
    case SplitBehavior::Isolated:
      go = begin(b, e);
      break;
    case SplitBehavior::Removed:
      if (!m)
        go = begin(b, e);
      break;
    case SplitBehavior::Contiguous:
      if (m == prevMatch && have)
        curE = e;
      else
        go = begin(b, e);
      break;
    case SplitBehavior::MergedWithPrevious:
      if (m && !prevMatch && have)
        curE = e;
      else
        go = begin(b, e);
      break;
    case SplitBehavior::MergedWithNext:
      if (!m && prevMatch && have)
        curE = e;
      else
        go = begin(b, e);
      break;
    }
    prevMatch = m;
    return go;
  };
  size_t prev = 0;
  auto match = [&](size_t b, size_t e) {
    if (prev != b && !segment(prev, b, false))
      return false;
    prev = e;
    return segment(b, e, true);
  };
  bool go = true;
  if (st.regex) {
    HONE_TRY(forEachMatch(
        *st.regex, s, [&](size_t b, size_t e) { return go = match(b, e); }));
  } else if (!st.literal.empty()) {
    for (size_t at = s.find(st.literal); go && at != std::string_view::npos;
         at = s.find(st.literal, at + st.literal.size()))
      go = match(at, at + st.literal.size());
  }
  if (go && (prev != s.size() || s.empty()))
    go = segment(prev, s.size(), false);
  if (go)
    pass();
  return failed;
}

} // namespace hone
