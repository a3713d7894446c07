// UTF-8 helpers shared by the JSON parser, the tokenizer and its normaliser.
// The decoders here are for text already known to be valid UTF-8 (validate
// untrusted bytes first: json::isValidUtf8 / the JSON parser's strict check).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace hone {

/// Length of the sequence a lead byte starts (1 for ASCII and stray bytes).
inline size_t utf8SequenceLength(unsigned char lead) {
  if (lead < 0x80)
    return 1;
  if ((lead >> 5) == 6)
    return 2;
  if ((lead >> 4) == 14)
    return 3;
  return 4;
}

/// The code point starting at s[i] and its length in bytes (*len). A
/// sequence cut off by the end of `s` is read as one byte.
inline uint32_t decodeUtf8At(std::string_view s, size_t i, size_t *len) {
  auto c = static_cast<unsigned char>(s[i]);
  size_t n = utf8SequenceLength(c);
  if (i + n > s.size())
    n = 1;
  *len = n;
  if (n == 1)
    return c;
  uint32_t cp = c & (0xFF >> (n + 1));
  for (size_t k = 1; k < n; ++k)
    cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  return cp;
}

/// Appends code point `cp` (<= 0x10FFFF) encoded as UTF-8.
inline void appendUtf8(std::string &out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

} // namespace hone
