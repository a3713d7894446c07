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

/// Appends the [start, end) ranges of all matches of re in s.
Status findAll(const PatternRegex &re, std::string_view s,
               std::vector<std::pair<size_t, size_t>> &out) {
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
    out.emplace_back(b, e);
    pos = e;
  }
  return Status::ok();
}

} // namespace hone::tok

namespace hone {

using namespace tok;

Status Tokenizer::Impl::applyStep(const PreStep &step, std::string_view text,
                                  std::vector<Piece> &pieces) const {
  std::vector<Piece> next;
  next.reserve(pieces.size() * 2);
  std::vector<std::pair<size_t, size_t>> found;
  std::string buf;
  for (Piece p : pieces) {
    if (step.kind == PreStep::ByteLevel && step.addPrefixSpace && !p.prefix &&
        !(p.end > p.start && text[p.start] == ' '))
      p.prefix = true;
    bool useRegex = step.kind == PreStep::Split || step.regex;
    if (!useRegex) {
      next.push_back(p);
      continue;
    }
    // The piece's text, with its virtual space when it has one.
    std::string_view s = text.substr(p.start, p.end - p.start);
    size_t shift = 0;
    if (p.prefix) {
      buf.assign(1, ' ');
      buf.append(s);
      s = buf;
      shift = 1;
    }
    found.clear();
    if (step.regex) {
      HONE_TRY(findAll(*step.regex, s, found));
    } else if (!step.literal.empty()) {
      for (size_t at = s.find(step.literal); at != std::string_view::npos;
           at = s.find(step.literal, at + step.literal.size()))
        found.emplace_back(at, at + step.literal.size());
    }
    // Segments covering s: (start, end, isMatch).
    struct Seg {
      size_t b, e;
      bool m;
    };
    std::vector<Seg> segs;
    size_t prev = 0;
    for (auto [b, e] : found) {
      if (prev != b)
        segs.push_back({prev, b, false});
      segs.push_back({b, e, true});
      prev = e;
    }
    if (prev != s.size() || s.empty())
      segs.push_back({prev, s.size(), false});
    if (step.invert)
      for (Seg &g : segs)
        g.m = !g.m;
    std::vector<std::pair<size_t, size_t>> out;
    bool prevMatch = false;
    switch (step.behavior) {
    case SplitBehavior::Isolated:
      for (const Seg &g : segs)
        out.emplace_back(g.b, g.e);
      break;
    case SplitBehavior::Removed:
      for (const Seg &g : segs)
        if (!g.m)
          out.emplace_back(g.b, g.e);
      break;
    case SplitBehavior::Contiguous:
      for (const Seg &g : segs) {
        if (g.m == prevMatch && !out.empty())
          out.back().second = g.e;
        else
          out.emplace_back(g.b, g.e);
        prevMatch = g.m;
      }
      break;
    case SplitBehavior::MergedWithPrevious:
      for (const Seg &g : segs) {
        if (g.m && !prevMatch && !out.empty())
          out.back().second = g.e;
        else
          out.emplace_back(g.b, g.e);
        prevMatch = g.m;
      }
      break;
    case SplitBehavior::MergedWithNext:
      for (size_t k = segs.size(); k-- > 0;) {
        const Seg &g = segs[k];
        if (g.m && !prevMatch && !out.empty())
          out.back().first = g.b;
        else
          out.emplace_back(g.b, g.e);
        prevMatch = g.m;
      }
      std::reverse(out.begin(), out.end());
      break;
    }
    for (auto [b, e] : out) {
      if (e <= b)
        continue;
      Piece q;
      q.prefix = shift && b == 0;
      q.start = p.start + (b > shift ? b - shift : 0);
      q.end = p.start + (e - shift);
      next.push_back(q);
    }
  }
  pieces.swap(next);
  return Status::ok();
}

} // namespace hone
