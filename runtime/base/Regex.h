// The tree's one PCRE2 wrapper: patterns in UTF-8 with Unicode properties
// (PCRE2_UTF | PCRE2_UCP), as Hugging Face tokenizers' Oniguruma patterns
// and the spec's reward patterns are written. The tokenizer's pre-tokenizer
// (runtime/tokenizer), the regex and format rewards (runtime/job/Rewards.cpp)
// and the spec checker (frontend/check) all compile through it, so a pattern
// the checker accepts is one the job compiles.
#pragma once

#include "runtime/base/Status.h"

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace hone {

class Regex {
public:
  /// Compiles `pattern`, JIT-compiled when `jit` (where PCRE2 has no JIT
  /// the interpreter runs). An invalid pattern is an error whose message is
  /// PCRE2's, with the pattern offset in *errorOffset (when given).
  static Expected<Regex> compile(std::string_view pattern, bool jit = false,
                                 size_t *errorOffset = nullptr);

  struct Match {
    size_t begin = 0, end = 0; // the whole match
    /// Group 1 when the pattern has one and it took part, else the match.
    size_t groupBegin = 0, groupEnd = 0;
  };

  /// The first match in `text` at or after byte `start`; `whole`: the match
  /// must span all of text[start..]. `textIsValidUtf8` skips PCRE2's UTF-8
  /// check (the caller has validated the text). No match is nullopt; a
  /// failure (invalid UTF-8, PCRE2's match or depth limit) is an error with
  /// PCRE2's message.
  Expected<std::optional<Match>> find(std::string_view text, size_t start = 0,
                                      bool whole = false,
                                      bool textIsValidUtf8 = false) const;

private:
  Regex() = default;
  struct Code;
  std::shared_ptr<const Code> code_;
};

} // namespace hone
