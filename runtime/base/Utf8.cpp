#include "runtime/base/Utf8.h"

#include <cstring>

namespace hone {

size_t decodeUtf8(std::string_view s, size_t i, uint32_t *cp, size_t *bad) {
  const auto *u = reinterpret_cast<const unsigned char *>(s.data());
  const size_t n = s.size();
  unsigned char c = u[i];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t need;
  uint32_t v;
  // The second byte's range; later continuation bytes are 0x80..0xBF.
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    need = 1;
    v = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 2;
    v = c & 0x0F;
    if (c == 0xE0)
      lo = 0xA0; // no overlong three-byte forms
    if (c == 0xED)
      hi = 0x9F; // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 3;
    v = c & 0x07;
    if (c == 0xF0)
      lo = 0x90; // no overlong four-byte forms
    if (c == 0xF4)
      hi = 0x8F; // nothing past U+10FFFF
  } else {
    if (bad)
      *bad = 1;
    return 0;
  }
  for (size_t k = 1; k <= need; ++k) {
    bool ok = i + k < n;
    if (ok) {
      unsigned char cc = u[i + k];
      ok = k == 1 ? (cc >= lo && cc <= hi) : (cc >= 0x80 && cc <= 0xBF);
      v = (v << 6) | (cc & 0x3F);
    }
    if (!ok) {
      if (bad)
        *bad = k;
      return 0;
    }
  }
  *cp = v;
  return need + 1;
}

bool isValidUtf8(std::string_view str, size_t *badOffset) {
  const auto *s = reinterpret_cast<const unsigned char *>(str.data());
  size_t n = str.size(), i = 0;
  while (i < n) {
    // Fast path over ASCII, 8 bytes at a time.
    while (i + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, s + i, 8);
      if (w & 0x8080808080808080ULL)
        break;
      i += 8;
    }
    if (i >= n)
      break;
    if (s[i] < 0x80) {
      ++i;
      continue;
    }
    uint32_t cp;
    size_t len = decodeUtf8(str, i, &cp);
    if (!len) {
      if (badOffset)
        *badOffset = i;
      return false;
    }
    i += len;
  }
  return true;
}

std::string utf8Lossy(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    uint32_t cp;
    size_t bad = 1;
    if (size_t len = decodeUtf8(s, i, &cp, &bad)) {
      out.append(s.data() + i, len);
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      i += bad;
    }
  }
  return out;
}

} // namespace hone
