// The runtime's one UTF-8 module (the JSON parser, the tokenizer and its
// normaliser, the spec checker): a strict decoder for untrusted bytes
// (decodeUtf8, isValidUtf8, utf8Lossy; Utf8.cpp) and, for text already
// validated, a fast one (decodeUtf8At) and an encoder (appendUtf8).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace hone {

/// Decodes the sequence at s[i] strictly (Unicode Table 3-7: no overlong
/// forms, surrogates or code points past U+10FFFF): returns its length and
/// sets *cp. An ill-formed sequence returns 0 and sets *bad (when given) to
/// the length of its maximal ill-formed subpart, at least 1: the bytes one
/// U+FFFD replaces.
size_t decodeUtf8(std::string_view s, size_t i, uint32_t *cp,
                  size_t *bad = nullptr);

/// True when `s` is well-formed UTF-8; else *badOffset (when given) is the
/// offset of the first ill-formed sequence.
bool isValidUtf8(std::string_view s, size_t *badOffset = nullptr);

/// Rust's String::from_utf8_lossy: each maximal ill-formed subpart becomes
/// U+FFFD.
std::string utf8Lossy(std::string_view s);

/// Length of the sequence a lead byte starts (1 for ASCII and stray bytes),
/// for text already validated.
inline size_t utf8SequenceLength(unsigned char lead) {
  if ((lead >> 5) == 6)
    return 2;
  if ((lead >> 4) == 14)
    return 3;
  if ((lead >> 3) == 30)
    return 4;
  return 1; // ASCII, a stray continuation byte, 0xF8-0xFF
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
