#include "runtime/tokenizer/Nfc.h"
#include "runtime/base/Utf8.h"

#include <algorithm>

namespace hone {

namespace {
#include "runtime/tokenizer/NfcTables.inc"

constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161,
                   kTBase = 0x11A7, kLCount = 19, kVCount = 21, kTCount = 28,
                   kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

uint8_t ccc(uint32_t cp) {
  if (cp < 0x300)
    return 0;
  size_t lo = 0, hi = sizeof(kCcc) / sizeof(kCcc[0]);
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (kCcc[mid][0] < cp)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < sizeof(kCcc) / sizeof(kCcc[0]) && kCcc[lo][0] == cp
             ? static_cast<uint8_t>(kCcc[lo][1])
             : 0;
}

const uint32_t *decomposition(uint32_t cp) {
  if (cp < 0xC0)
    return nullptr;
  size_t lo = 0, hi = sizeof(kDecomp) / sizeof(kDecomp[0]);
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (kDecomp[mid][0] < cp)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < sizeof(kDecomp) / sizeof(kDecomp[0]) && kDecomp[lo][0] == cp
             ? kDecomp[lo]
             : nullptr;
}

uint32_t compose(uint32_t a, uint32_t b) {
  // Hangul L+V and LV+T.
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase &&
      b < kVBase + kVCount)
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 &&
      b > kTBase && b < kTBase + kTCount)
    return a + (b - kTBase);
  size_t n = sizeof(kComp) / sizeof(kComp[0]);
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (kComp[mid][0] < a || (kComp[mid][0] == a && kComp[mid][1] < b))
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < n && kComp[lo][0] == a && kComp[lo][1] == b ? kComp[lo][2] : 0;
}

struct CP {
  uint32_t cp;
  uint32_t begin, end; // source bytes
};

void decomposeInto(uint32_t cp, uint32_t b, uint32_t e, std::vector<CP> &out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    uint32_t s = cp - kSBase;
    out.push_back({kLBase + s / kNCount, b, e});
    out.push_back({kVBase + (s % kNCount) / kTCount, b, e});
    if (s % kTCount)
      out.push_back({kTBase + s % kTCount, b, e});
    return;
  }
  if (const uint32_t *d = decomposition(cp)) {
    decomposeInto(d[1], b, e, out);
    if (d[2])
      decomposeInto(d[2], b, e, out);
    return;
  }
  out.push_back({cp, b, e});
}

} // namespace

bool mayNeedNfc(std::string_view text) {
  // U+0300 is 0xCC 0x80; any lead byte >= 0xCC starts a code point >= it.
  for (unsigned char c : text)
    if (c >= 0xCC)
      return true;
  return false;
}

void nfcNormalize(std::string_view text, std::string &out,
                  std::vector<std::pair<uint32_t, uint32_t>> *byteMap) {
  std::vector<CP> buf;
  buf.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    size_t n;
    uint32_t cp = decodeUtf8At(text, i, &n);
    decomposeInto(cp, static_cast<uint32_t>(i), static_cast<uint32_t>(i + n),
                  buf);
    i += n;
  }
  // Canonical ordering: stable sort of each run of non-starters by class.
  for (size_t i = 1; i < buf.size(); ++i) {
    uint8_t c = ccc(buf[i].cp);
    if (c == 0)
      continue;
    size_t j = i;
    while (j > 0) {
      uint8_t p = ccc(buf[j - 1].cp);
      if (p <= c)
        break;
      std::swap(buf[j - 1], buf[j]);
      --j;
    }
  }
  // Canonical composition.
  std::vector<CP> res;
  res.reserve(buf.size());
  size_t starter = 0;
  bool haveStarter = false;
  int lastClass = -1;
  for (const CP &ch : buf) {
    int cls = ccc(ch.cp);
    if (haveStarter && (lastClass < cls || lastClass == 0)) {
      if (uint32_t c = compose(res[starter].cp, ch.cp)) {
        res[starter].cp = c;
        res[starter].begin = std::min(res[starter].begin, ch.begin);
        res[starter].end = std::max(res[starter].end, ch.end);
        continue;
      }
    }
    if (cls == 0) {
      starter = res.size();
      haveStarter = true;
    }
    lastClass = cls;
    res.push_back(ch);
  }
  out.clear();
  if (byteMap)
    byteMap->clear();
  for (const CP &c : res) {
    size_t before = out.size();
    appendUtf8(out, c.cp);
    if (byteMap)
      for (size_t k = before; k < out.size(); ++k)
        byteMap->emplace_back(c.begin, c.end);
  }
}

} // namespace hone
