// Added tokens: split out of the text (leftmost-longest) before
// pre-tokenization, with single_word, lstrip, rstrip and normalized.
#include "runtime/tokenizer/TokenizerImpl.h"

#include "runtime/base/Utf8.h"

#include <cstring>

namespace hone {

using namespace tok;

namespace {
bool isWordChar(uint32_t c) {
  // Alphanumeric in the ASCII sense plus any non-ASCII letter-ish code
  // point; close to Rust's char::is_alphanumeric for the common cases.
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
         (c >= 'A' && c <= 'Z') || c == '_' ||
         (c >= 0xC0 && !isUnicodeSpace(c));
}
uint32_t lastChar(std::string_view s) {
  size_t i = s.size();
  while (i > 0 && (static_cast<unsigned char>(s[i - 1]) & 0xC0) == 0x80)
    --i;
  if (i > 0)
    --i;
  size_t n;
  return decodeUtf8At(s, i, &n);
}
} // namespace

void Tokenizer::Impl::splitAdded(
    std::string_view text, size_t base, bool normalizedPass,
    const EncodeOptions &opt,
    std::vector<std::pair<Piece, int32_t>> &out) const {
  size_t startOffset = 0;
  if (opt.parseSpecialTokens && !added.empty()) {
    size_t pos = 0;
    while (pos < text.size()) {
      // Leftmost-longest match among this pass's added tokens.
      const AddedToken *best = nullptr;
      for (uint32_t k : addedByFirst[normalizedPass ? 1 : 0]
                                    [static_cast<unsigned char>(text[pos])]) {
        const AddedToken &t = added[k];
        if (t.content.size() <= text.size() - pos &&
            (!best || t.content.size() > best->content.size()) &&
            std::memcmp(text.data() + pos, t.content.data(),
                        t.content.size()) == 0)
          best = &t;
      }
      if (!best) {
        ++pos;
        continue;
      }
      size_t start = pos, stop = pos + best->content.size();
      pos = stop;
      if (best->singleWord) {
        bool startOk =
            start == 0 || !isWordChar(lastChar(text.substr(0, start)));
        size_t n;
        bool stopOk =
            stop == text.size() || !isWordChar(decodeUtf8At(text, stop, &n));
        if (!startOk || !stopOk)
          continue;
      }
      if (best->lstrip) {
        size_t s = start;
        while (s > 0) {
          size_t k = s - 1;
          while (k > 0 && (static_cast<unsigned char>(text[k]) & 0xC0) == 0x80)
            --k;
          size_t n;
          if (!isUnicodeSpace(decodeUtf8At(text, k, &n)))
            break;
          s = k;
        }
        start = std::max(s, startOffset);
      }
      if (best->rstrip) {
        while (stop < text.size()) {
          size_t n;
          if (!isUnicodeSpace(decodeUtf8At(text, stop, &n)))
            break;
          stop += n;
        }
      }
      if (startOffset < start)
        out.push_back({{base + startOffset, base + start, false}, -1});
      out.push_back({{base + start, base + stop, false}, best->id});
      startOffset = stop;
      if (pos < stop)
        pos = stop;
    }
  }
  if (startOffset < text.size())
    out.push_back({{base + startOffset, base + text.size(), false}, -1});
}

} // namespace hone
