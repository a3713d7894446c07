#include "runtime/tokenizer/Tokenizer.h"

#include "runtime/base/Json.h"
#include "runtime/base/Regex.h"
#include "runtime/base/Utf8.h"
#include "runtime/tokenizer/Nfc.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <queue>
#include <sstream>
#include <sys/stat.h>
#include <unordered_map>

namespace hone {

namespace {

// ---------------------------------------------------------------------------
// UTF-8 helpers (the decoders are runtime/base/Utf8.h's)

bool isUnicodeSpace(uint32_t c) {
  return (c >= 9 && c <= 13) || c == 32 || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// GPT-2's byte <-> unicode table.
struct ByteTable {
  uint32_t byteToCp[256];
  std::unordered_map<uint32_t, uint8_t> cpToByte;
  ByteTable() {
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      bool keep = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) ||
                  (b >= 174 && b <= 255);
      byteToCp[b] = keep ? static_cast<uint32_t>(b) : 256u + n++;
      cpToByte[byteToCp[b]] = static_cast<uint8_t>(b);
    }
  }
};
const ByteTable &byteTable() {
  static const ByteTable table;
  return table;
}

// ---------------------------------------------------------------------------
// PCRE2

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

/// A compiled pre-tokenizer pattern and where tokenizer.json wrote it.
struct PatternRegex {
  Regex re;
  std::string source; // "tokenizer.json:LINE:COL" of the pattern
};

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

const char kGpt2Pattern[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| "
                            "?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

enum class SplitBehavior {
  Removed,
  Isolated,
  MergedWithPrevious,
  MergedWithNext,
  Contiguous
};

struct PreStep {
  enum Kind { Split, ByteLevel } kind = Split;
  // Split (regex) or ByteLevel with use_regex
  std::shared_ptr<PatternRegex> regex;
  std::string literal;          // Split with a String pattern
  SplitBehavior behavior = SplitBehavior::Isolated;
  bool invert = false;
  bool addPrefixSpace = false;
};

/// An open-addressing hash map from a merge pair (two ids packed in 64
/// bits) to (rank, merged id): the hot lookup of BPE.
class PairMap {
public:
  using Value = std::pair<int32_t, int32_t>;
  void reserve(size_t n) {
    size_t cap = 16;
    while (cap < 2 * n + 16)
      cap <<= 1;
    rehash(cap);
  }
  void set(uint64_t key, Value v) {
    if (2 * (size_ + 1) > keys_.size())
      rehash(keys_.empty() ? 16 : keys_.size() * 2);
    size_t i = slot(key);
    if (keys_[i] == kEmpty) {
      keys_[i] = key;
      ++size_;
    }
    vals_[i] = v;
  }
  const Value *find(uint64_t key) const {
    if (keys_.empty())
      return nullptr;
    size_t i = slot(key);
    return keys_[i] == key ? &vals_[i] : nullptr;
  }

private:
  static constexpr uint64_t kEmpty = ~uint64_t(0); // ids < 2^22: never a key
  size_t slot(uint64_t key) const {
    size_t mask = keys_.size() - 1;
    size_t i = static_cast<size_t>((key * 0x9E3779B97F4A7C15ULL) >> 32) & mask;
    while (keys_[i] != kEmpty && keys_[i] != key)
      i = (i + 1) & mask;
    return i;
  }
  void rehash(size_t cap) {
    std::vector<uint64_t> oldKeys = std::move(keys_);
    std::vector<Value> oldVals = std::move(vals_);
    keys_.assign(cap, kEmpty);
    vals_.assign(cap, Value(0, 0));
    size_ = 0;
    for (size_t i = 0; i < oldKeys.size(); ++i)
      if (oldKeys[i] != kEmpty)
        set(oldKeys[i], oldVals[i]);
  }
  std::vector<uint64_t> keys_;
  std::vector<Value> vals_;
  size_t size_ = 0;
};

/// A pre-token: [start, end) of the input, maybe with a virtual leading
/// space (ByteLevel add_prefix_space).
struct Piece {
  size_t start, end;
  bool prefix;
};

} // namespace

// ---------------------------------------------------------------------------
// The tokenizer

struct Tokenizer::Impl {
  bool charLevel = false;
  // Vocabulary.
  std::unordered_map<std::string, int32_t> vocab; // model vocab + added
  std::vector<std::string> idToToken;
  std::vector<std::string> idBytes; // decoded bytes per id
  std::vector<uint8_t> special;
  std::vector<uint8_t> known;
  std::vector<AddedToken> added;
  /// Indices into `added` by [normalized][first byte of content].
  std::vector<uint32_t> addedByFirst[2][256];
  void indexAdded() {
    for (uint32_t i = 0; i < added.size(); ++i)
      addedByFirst[added[i].normalized ? 1 : 0]
                  [static_cast<unsigned char>(added[i].content[0])]
                      .push_back(i);
  }
  // BPE.
  PairMap merges;
  int32_t byteId[256];
  bool byteLevel = false; // ByteLevel pre-tokenizer: model sees mapped bytes
  bool ignoreMerges = false;
  std::optional<int32_t> unkId;
  bool fuseUnk = false;
  bool byteFallback = false;
  int32_t byteFallbackId[256];
  std::vector<PreStep> steps;
  bool byteLevelDecoder = false;
  bool nfc = false;           // NFC normalizer
  bool joinWithSpace = false; // no decoder: Hugging Face joins with ' '
  std::vector<int32_t> prefixIds, suffixIds;
  std::string postProcessorError;
  // Character tokenizer.
  std::unordered_map<uint32_t, int32_t> charIds;

  // -- encoding --
  Status encode(std::string_view text, const EncodeOptions &opt,
                Encoding &out) const;
  void splitAdded(std::string_view text, size_t base, bool normalizedPass,
                  const EncodeOptions &opt,
                  std::vector<std::pair<Piece, int32_t>> &out) const;
  Status encodePlain(std::string_view text, size_t base, Encoding &out) const;
  Status encodeGap(std::string_view gap, size_t base, const EncodeOptions &opt,
                   Encoding &out) const;
  Status encodeChars(std::string_view text, size_t base, Encoding &out) const;
  void bpeWord(std::string_view text, const Piece &p, Encoding &out) const;
  Status applyStep(const PreStep &step, std::string_view text,
                   std::vector<Piece> &pieces) const;
};

namespace {
struct Sym {
  int32_t id;
  int32_t prev, next;
  uint32_t len;
};
struct MergeCand {
  int32_t rank;
  int32_t pos;
  int32_t newId;
  bool operator<(const MergeCand &o) const { // min-heap on (rank, pos)
    return rank != o.rank ? rank > o.rank : pos > o.pos;
  }
};
inline uint64_t pairKey(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) |
         static_cast<uint32_t>(b);
}
} // namespace

void Tokenizer::Impl::bpeWord(std::string_view text, const Piece &p,
                              Encoding &out) const {
  const ByteTable &bt = byteTable();
  std::string_view body = text.substr(p.start, p.end - p.start);
  auto emit = [&](int32_t id, size_t a, size_t b) {
    // a, b in piece coordinates (including the virtual prefix byte).
    size_t shift = p.prefix ? 1 : 0;
    size_t s = a > shift ? a - shift : 0, e = b > shift ? b - shift : 0;
    out.ids.push_back(id);
    out.offsets.emplace_back(static_cast<uint32_t>(p.start + s),
                             static_cast<uint32_t>(p.start + e));
  };
  // The word as the model's vocabulary spells it.
  if (ignoreMerges) {
    std::string word;
    if (byteLevel) {
      if (p.prefix)
        appendUtf8(word, bt.byteToCp[' ']);
      for (unsigned char c : body)
        appendUtf8(word, bt.byteToCp[c]);
    } else {
      if (p.prefix)
        word += ' ';
      word.append(body);
    }
    auto it = vocab.find(word);
    if (it != vocab.end()) {
      emit(it->second, 0, body.size() + (p.prefix ? 1 : 0));
      return;
    }
  }
  // Scratch buffers reused across words (bpeWord is not re-entered).
  thread_local std::vector<Sym> syms;
  thread_local std::vector<MergeCand> heap;
  syms.clear();
  heap.clear();
  std::optional<std::pair<int32_t, uint32_t>> unk;
  auto addSym = [&](int32_t id, uint32_t len) {
    if (unk) {
      syms.push_back({unk->first, 0, 0, unk->second});
      unk.reset();
    }
    syms.push_back({id, 0, 0, len});
  };
  auto missing = [&](std::string_view bytes) {
    if (byteFallback) {
      bool all = true;
      for (unsigned char c : bytes)
        all = all && byteFallbackId[c] >= 0;
      if (all) {
        for (unsigned char c : bytes)
          addSym(byteFallbackId[c], 1);
        return;
      }
    }
    if (!unkId)
      return; // dropped, as Hugging Face does without an unk token
    auto len = static_cast<uint32_t>(bytes.size());
    if (unk && fuseUnk) {
      unk->second += len;
    } else {
      if (unk)
        syms.push_back({unk->first, 0, 0, unk->second});
      unk = std::make_pair(*unkId, len);
    }
  };
  if (byteLevel) {
    if (p.prefix) {
      if (byteId[' '] >= 0)
        addSym(byteId[' '], 1);
      else
        missing(" ");
    }
    for (size_t i = 0; i < body.size(); ++i) {
      auto c = static_cast<unsigned char>(body[i]);
      if (byteId[c] >= 0)
        addSym(byteId[c], 1);
      else
        missing(body.substr(i, 1));
    }
  } else {
    std::string buf = p.prefix ? " " + std::string(body) : std::string(body);
    for (size_t i = 0; i < buf.size();) {
      size_t n =
          std::min(utf8SequenceLength(static_cast<unsigned char>(buf[i])), buf.size() - i);
      auto it = vocab.find(buf.substr(i, n));
      if (it != vocab.end())
        addSym(it->second, static_cast<uint32_t>(n));
      else
        missing(std::string_view(buf).substr(i, n));
      i += n;
    }
  }
  if (unk)
    syms.push_back({unk->first, 0, 0, unk->second});
  auto n = static_cast<int32_t>(syms.size());
  for (int32_t i = 0; i < n; ++i) {
    syms[i].prev = i - 1;
    syms[i].next = i + 1 < n ? i + 1 : -1;
  }
  for (int32_t i = 0; i + 1 < n; ++i) {
    if (const PairMap::Value *m =
            merges.find(pairKey(syms[i].id, syms[i + 1].id)))
      heap.push_back({m->first, i, m->second});
  }
  std::make_heap(heap.begin(), heap.end());
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end());
    MergeCand top = heap.back();
    heap.pop_back();
    Sym &cur = syms[top.pos];
    if (cur.len == 0 || cur.next == -1)
      continue;
    int32_t nextPos = cur.next;
    Sym right = syms[nextPos];
    const PairMap::Value *mm = merges.find(pairKey(cur.id, right.id));
    if (!mm || mm->second != top.newId)
      continue;
    cur.id = top.newId;
    cur.len += right.len;
    cur.next = right.next;
    syms[nextPos].len = 0;
    if (right.next >= 0)
      syms[right.next].prev = top.pos;
    if (cur.prev >= 0) {
      if (const PairMap::Value *m =
              merges.find(pairKey(syms[cur.prev].id, cur.id))) {
        heap.push_back({m->first, cur.prev, m->second});
        std::push_heap(heap.begin(), heap.end());
      }
    }
    if (cur.next >= 0) {
      if (const PairMap::Value *m =
              merges.find(pairKey(cur.id, syms[cur.next].id))) {
        heap.push_back({m->first, top.pos, m->second});
        std::push_heap(heap.begin(), heap.end());
      }
    }
  }
  size_t at = 0;
  for (const Sym &s : syms) {
    if (s.len == 0)
      continue;
    emit(s.id, at, at + s.len);
    at += s.len;
  }
}

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

Status Tokenizer::Impl::encodePlain(std::string_view text, size_t base,
                                    Encoding &out) const {
  if (text.empty())
    return Status::ok();
  if (charLevel)
    return encodeChars(text, base, out);
  std::vector<Piece> pieces{{0, text.size(), false}};
  for (const PreStep &step : steps)
    HONE_TRY(applyStep(step, text, pieces));
  size_t first = out.ids.size();
  for (const Piece &p : pieces)
    if (p.end > p.start || p.prefix)
      bpeWord(text, p, out);
  for (size_t i = first; i < out.offsets.size(); ++i) {
    out.offsets[i].first += static_cast<uint32_t>(base);
    out.offsets[i].second += static_cast<uint32_t>(base);
  }
  return Status::ok();
}

Status Tokenizer::Impl::encodeChars(std::string_view text, size_t base,
                                    Encoding &out) const {
  for (size_t i = 0; i < text.size();) {
    size_t n;
    uint32_t cp = decodeUtf8At(text, i, &n);
    auto it = charIds.find(cp);
    if (it == charIds.end()) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "U+%04X", cp);
      // A control character (a newline) would break the one-line message.
      bool shown = cp >= 0x20 && cp != 0x7f && !(cp >= 0x80 && cp < 0xa0);
      return Status::error(
          "error: character " +
          (shown ? "'" + std::string(text.substr(i, n)) + "' (" + buf + ")"
                 : std::string(buf)) +
          " at byte " + std::to_string(base + i) +
          " is not in the character vocabulary");
    }
    out.ids.push_back(it->second);
    out.offsets.emplace_back(static_cast<uint32_t>(base + i),
                             static_cast<uint32_t>(base + i + n));
    i += n;
  }
  return Status::ok();
}

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

Status Tokenizer::Impl::encodeGap(std::string_view gap, size_t base,
                                  const EncodeOptions &opt,
                                  Encoding &out) const {
  std::vector<std::pair<Piece, int32_t>> parts;
  splitAdded(gap, 0, /*normalizedPass=*/true, opt, parts);
  for (const auto &[p, id] : parts) {
    if (id >= 0) {
      out.ids.push_back(id);
      out.offsets.emplace_back(static_cast<uint32_t>(base + p.start),
                               static_cast<uint32_t>(base + p.end));
      continue;
    }
    HONE_TRY(
        encodePlain(gap.substr(p.start, p.end - p.start), base + p.start, out));
  }
  return Status::ok();
}

Status Tokenizer::Impl::encode(std::string_view text, const EncodeOptions &opt,
                               Encoding &out) const {
  if (text.size() >= (size_t(1) << 32))
    return Status::error("error: input of " + std::to_string(text.size()) +
                         " bytes is too large to encode at once (limit 4 GiB)");
  size_t bad = 0;
  if (!isValidUtf8(text, &bad))
    return Status::error("error: input is not valid UTF-8 (byte " +
                         std::to_string(bad) + ")");
  if (opt.addSpecialTokens) {
    if (!postProcessorError.empty())
      return Status::error(postProcessorError);
    for (int32_t id : prefixIds) {
      out.ids.push_back(id);
      out.offsets.emplace_back(0, 0);
    }
  }
  // Added tokens that match the raw text first, then the normalizer on
  // what lies between them, then normalized added tokens, then the model.
  std::vector<std::pair<Piece, int32_t>> first;
  splitAdded(text, 0, /*normalizedPass=*/false, opt, first);
  for (const auto &[p, id] : first) {
    if (id >= 0) {
      out.ids.push_back(id);
      out.offsets.emplace_back(static_cast<uint32_t>(p.start),
                               static_cast<uint32_t>(p.end));
      continue;
    }
    std::string_view gap = text.substr(p.start, p.end - p.start);
    if (!nfc || !mayNeedNfc(gap)) {
      HONE_TRY(encodeGap(gap, p.start, opt, out));
      continue;
    }
    std::string normalized;
    std::vector<std::pair<uint32_t, uint32_t>> map;
    nfcNormalize(gap, normalized, &map);
    Encoding part;
    HONE_TRY(encodeGap(normalized, 0, opt, part));
    for (size_t i = 0; i < part.ids.size(); ++i) {
      auto [a, b] = part.offsets[i];
      uint32_t s =
          a < map.size() ? map[a].first : static_cast<uint32_t>(gap.size());
      uint32_t e = b > a && b - 1 < map.size() ? map[b - 1].second : s;
      out.ids.push_back(part.ids[i]);
      out.offsets.emplace_back(static_cast<uint32_t>(p.start + s),
                               static_cast<uint32_t>(p.start + std::max(s, e)));
    }
  }
  if (opt.addSpecialTokens)
    for (int32_t id : suffixIds) {
      out.ids.push_back(id);
      auto end = static_cast<uint32_t>(text.size());
      out.offsets.emplace_back(end, end);
    }
  return Status::ok();
}

// ---------------------------------------------------------------------------
// Loading tokenizer.json

struct TokenizerBuilder {
  std::string_view text;
  std::string source;

  Status err(const json::Value *v, const std::string &msg,
             std::string hint = {}) const {
    std::string where = source;
    if (v) {
      json::Location loc = json::locate(text, v->offset());
      where +=
          ":" + std::to_string(loc.line) + ":" + std::to_string(loc.column);
    }
    return Status::error(where + ": error: " + msg, std::move(hint));
  }
  std::string where(const json::Value *v) const {
    json::Location loc = json::locate(text, v ? v->offset() : 0);
    return source + ":" + std::to_string(loc.line) + ":" +
           std::to_string(loc.column) + ": error: ";
  }

  static const json::Value *get(const json::Value &o, std::string_view k) {
    if (!o.isObject())
      return nullptr;
    const json::Value *v = o.find(k);
    return v && !v->isNull() ? v : nullptr;
  }
  Status getBool(const json::Value &o, const char *k, bool *out) const {
    if (const json::Value *v = get(o, k)) {
      if (!v->isBool())
        return err(v, std::string("'") + k + "' must be true or false");
      *out = v->asBool();
    }
    return Status::ok();
  }
  Status getType(const json::Value &o, std::string *type,
                 const char *what) const {
    const json::Value *t = get(o, "type");
    if (!o.isObject() || !t || !t->isString())
      return err(&o, std::string(what) + " must be an object with a \"type\"");
    *type = t->asString();
    return Status::ok();
  }

  Status normalizer(const json::Value &n, Tokenizer::Impl &impl) {
    std::string type;
    HONE_TRY(getType(n, &type, "normalizer"));
    if (type == "NFC") {
      impl.nfc = true;
      return Status::ok();
    }
    if (type == "Sequence") {
      const json::Value *list = get(n, "normalizers");
      if (!list || !list->isArray())
        return err(&n, "Sequence normalizer needs a 'normalizers' list");
      for (const json::Value &item : list->items())
        HONE_TRY(normalizer(item, impl));
      return Status::ok();
    }
    return err(&n, "normalizer '" + type + "' is not supported",
               "supported: none, NFC");
  }

  Status preTokenizer(const json::Value &p, Tokenizer::Impl &impl,
                      bool &sawByteLevel) {
    std::string type;
    HONE_TRY(getType(p, &type, "pre_tokenizer"));
    if (type == "Sequence") {
      const json::Value *list = get(p, "pretokenizers");
      if (!list || !list->isArray())
        return err(&p, "Sequence pre_tokenizer needs a 'pretokenizers' list");
      for (const json::Value &item : list->items())
        HONE_TRY(preTokenizer(item, impl, sawByteLevel));
      return Status::ok();
    }
    if (sawByteLevel)
      return err(&p, "a " + type +
                         " pre-tokenizer after ByteLevel is not "
                         "supported");
    PreStep step;
    if (type == "ByteLevel") {
      step.kind = PreStep::ByteLevel;
      HONE_TRY(getBool(p, "add_prefix_space", &step.addPrefixSpace));
      bool useRegex = true;
      HONE_TRY(getBool(p, "use_regex", &useRegex));
      if (useRegex) {
        Expected<std::shared_ptr<PatternRegex>> re =
            compileRegex(kGpt2Pattern, where(&p));
        if (!re)
          return re.status();
        step.regex = re.take();
      }
      sawByteLevel = true;
      impl.byteLevel = true;
    } else if (type == "Split") {
      const json::Value *pattern = get(p, "pattern");
      const json::Value *rx = pattern ? get(*pattern, "Regex") : nullptr;
      const json::Value *str = pattern ? get(*pattern, "String") : nullptr;
      if (rx && rx->isString()) {
        Expected<std::shared_ptr<PatternRegex>> re =
            compileRegex(rx->asString(), where(rx));
        if (!re)
          return re.status();
        step.regex = re.take();
      } else if (str && str->isString()) {
        step.literal = str->asString();
      } else {
        return err(pattern ? pattern : &p,
                   "Split needs a pattern {\"Regex\": ...} or "
                   "{\"String\": ...}");
      }
      const json::Value *b = get(p, "behavior");
      std::string beh = b && b->isString() ? b->asString() : "";
      if (beh == "Isolated")
        step.behavior = SplitBehavior::Isolated;
      else if (beh == "Removed")
        step.behavior = SplitBehavior::Removed;
      else if (beh == "MergedWithPrevious")
        step.behavior = SplitBehavior::MergedWithPrevious;
      else if (beh == "MergedWithNext")
        step.behavior = SplitBehavior::MergedWithNext;
      else if (beh == "Contiguous")
        step.behavior = SplitBehavior::Contiguous;
      else
        return err(b ? b : &p, "Split behavior '" + beh + "' is not known");
      HONE_TRY(getBool(p, "invert", &step.invert));
    } else if (type == "Digits") {
      bool individual = false;
      HONE_TRY(getBool(p, "individual_digits", &individual));
      Expected<std::shared_ptr<PatternRegex>> re = compileRegex("\\p{N}", where(&p));
      if (!re)
        return re.status();
      step.regex = re.take();
      step.behavior =
          individual ? SplitBehavior::Isolated : SplitBehavior::Contiguous;
    } else {
      return err(&p, "pre_tokenizer '" + type + "' is not supported",
                 "supported: ByteLevel, Split, Digits, Sequence");
    }
    impl.steps.push_back(std::move(step));
    return Status::ok();
  }

  Status decoder(const json::Value &d, Tokenizer::Impl &impl) {
    std::string type;
    HONE_TRY(getType(d, &type, "decoder"));
    if (type == "ByteLevel") {
      impl.byteLevelDecoder = true;
      return Status::ok();
    }
    if (type == "Sequence") {
      const json::Value *list = get(d, "decoders");
      if (!list || !list->isArray())
        return err(&d, "Sequence decoder needs a 'decoders' list");
      for (const json::Value &item : list->items())
        HONE_TRY(decoder(item, impl));
      return Status::ok();
    }
    return err(&d, "decoder '" + type + "' is not supported",
               "supported: ByteLevel");
  }

  Status postProcessor(const json::Value &p, Tokenizer::Impl &impl) {
    std::string type;
    HONE_TRY(getType(p, &type, "post_processor"));
    if (type == "ByteLevel")
      return Status::ok();
    if (type == "Sequence") {
      const json::Value *list = get(p, "processors");
      if (!list || !list->isArray())
        return err(&p, "Sequence post_processor needs a 'processors' list");
      for (const json::Value &item : list->items())
        HONE_TRY(postProcessor(item, impl));
      return Status::ok();
    }
    if (type != "TemplateProcessing") {
      impl.postProcessorError = where(&p) + "post_processor '" + type +
                                "' is not supported (encode without special "
                                "tokens)";
      return Status::ok();
    }
    const json::Value *single = get(p, "single");
    const json::Value *specials = get(p, "special_tokens");
    if (!single || !single->isArray())
      return err(&p, "TemplateProcessing needs a 'single' list");
    bool seenSeq = false;
    for (const json::Value &item : single->items()) {
      if (get(item, "Sequence")) {
        seenSeq = true;
        continue;
      }
      const json::Value *st = get(item, "SpecialToken");
      const json::Value *id = st ? get(*st, "id") : nullptr;
      if (!id || !id->isString())
        return err(&item, "TemplateProcessing items must be Sequence or "
                          "SpecialToken {\"id\": ...}");
      const json::Value *entry =
          specials ? get(*specials, id->asString()) : nullptr;
      const json::Value *ids = entry ? get(*entry, "ids") : nullptr;
      if (!ids || !ids->isArray())
        return err(id, "special token '" + id->asString() +
                           "' is not described in special_tokens");
      for (const json::Value &x : ids->items()) {
        if (!x.isInt() || x.asInt() < 0 || x.asInt() >= (1 << 30))
          return err(&x, "special token ids must be non-negative integers");
        (seenSeq ? impl.suffixIds : impl.prefixIds)
            .push_back(static_cast<int32_t>(x.asInt()));
      }
    }
    return Status::ok();
  }

  Expected<Tokenizer> build(const json::Value &root) {
    auto impl = std::make_shared<Tokenizer::Impl>();
    if (!root.isObject())
      return err(&root, "tokenizer.json must be a JSON object");
    const json::Value *model = get(root, "model");
    if (!model || !model->isObject())
      return err(&root, "tokenizer.json has no \"model\" object");
    if (const json::Value *t = get(*model, "type")) {
      if (!t->isString() || t->asString() != "BPE")
        return err(t,
                   "model type " +
                       (t->isString() ? "'" + t->asString() + "'"
                                      : std::string("(not a string)")) +
                       " is not supported",
                   "Hone reads BPE tokenizers (GPT-2, Llama-3, Qwen2 style)");
    }
    const json::Value *vocab = get(*model, "vocab");
    if (!vocab || !vocab->isObject())
      return err(model, "model has no \"vocab\" object");
    const int64_t kMaxId = int64_t(1)
                           << 22; // 4M ids: far above real vocabularies
    int64_t maxId = -1;
    impl->vocab.reserve(vocab->size() * 2);
    for (const auto &[tok, id] : vocab->members()) {
      if (!id.isInt() || id.asInt() < 0 || id.asInt() >= kMaxId)
        return err(&id,
                   "vocab id of '" + tok + "' must be an integer in [0, 2^22)");
      impl->vocab[tok] = static_cast<int32_t>(id.asInt());
      maxId = std::max(maxId, id.asInt());
    }
    // Added tokens.
    if (const json::Value *addedList = get(root, "added_tokens")) {
      if (!addedList->isArray())
        return err(addedList, "added_tokens must be a list");
      for (const json::Value &a : addedList->items()) {
        AddedToken t;
        const json::Value *id = get(a, "id");
        const json::Value *content = get(a, "content");
        if (!id || !id->isInt() || id->asInt() < 0 || id->asInt() >= kMaxId)
          return err(id ? id : &a, "added token needs an integer 'id' in "
                                   "[0, 2^22)");
        if (!content || !content->isString() || content->asString().empty())
          return err(content ? content : &a,
                     "added token needs a non-empty string 'content'");
        t.id = static_cast<int32_t>(id->asInt());
        t.content = content->asString();
        HONE_TRY(getBool(a, "special", &t.special));
        HONE_TRY(getBool(a, "single_word", &t.singleWord));
        HONE_TRY(getBool(a, "lstrip", &t.lstrip));
        HONE_TRY(getBool(a, "rstrip", &t.rstrip));
        t.normalized = !t.special;
        HONE_TRY(getBool(a, "normalized", &t.normalized));
        maxId = std::max(maxId, id->asInt());
        impl->added.push_back(std::move(t));
      }
    }
    if (maxId < 0)
      return err(vocab, "the vocabulary is empty");
    size_t n = static_cast<size_t>(maxId + 1);
    impl->idToToken.assign(n, std::string());
    impl->special.assign(n, 0);
    impl->known.assign(n, 0);
    for (const auto &[tok, id] : impl->vocab) {
      impl->idToToken[id] = tok;
      impl->known[id] = 1;
    }
    for (const AddedToken &t : impl->added) {
      impl->idToToken[t.id] = t.content;
      impl->known[t.id] = 1;
      impl->special[t.id] = t.special;
      impl->vocab[t.content] = t.id;
    }
    // Options of the BPE model.
    HONE_TRY(getBool(*model, "ignore_merges", &impl->ignoreMerges));
    HONE_TRY(getBool(*model, "fuse_unk", &impl->fuseUnk));
    HONE_TRY(getBool(*model, "byte_fallback", &impl->byteFallback));
    for (const char *k : {"continuing_subword_prefix", "end_of_word_suffix"})
      if (const json::Value *v = get(*model, k))
        if (!v->isString() || !v->asString().empty())
          return err(v, std::string("BPE '") + k + "' is not supported");
    if (const json::Value *d = get(*model, "dropout"))
      if (!d->isNumber() || d->asDouble() != 0.0)
        return err(d, "BPE dropout is not supported");
    if (const json::Value *u = get(*model, "unk_token")) {
      if (!u->isString())
        return err(u, "unk_token must be a string");
      auto it = impl->vocab.find(u->asString());
      if (it == impl->vocab.end())
        return err(u, "unk_token '" + u->asString() +
                          "' is not in the vocabulary");
      impl->unkId = it->second;
    }
    for (int b = 0; b < 256; ++b) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "<0x%02X>", b);
      auto it = impl->vocab.find(buf);
      impl->byteFallbackId[b] = it == impl->vocab.end() ? -1 : it->second;
    }
    // Merges.
    const json::Value *merges = get(*model, "merges");
    if (merges && !merges->isArray())
      return err(merges, "merges must be a list");
    if (merges) {
      impl->merges.reserve(merges->size() * 2);
      int32_t rank = 0;
      for (const json::Value &m : merges->items()) {
        std::string a, b;
        if (m.isString()) {
          const std::string &s = m.asString();
          size_t sp = s.find(' ');
          if (sp == std::string::npos ||
              s.find(' ', sp + 1) != std::string::npos)
            return err(&m, "merge \"" + s +
                               "\" must be two tokens "
                               "separated by one space");
          a = s.substr(0, sp);
          b = s.substr(sp + 1);
        } else if (m.isArray() && m.size() == 2 && m.items()[0].isString() &&
                   m.items()[1].isString()) {
          a = m.items()[0].asString();
          b = m.items()[1].asString();
        } else {
          return err(&m, "a merge must be \"a b\" or [\"a\", \"b\"]");
        }
        auto ia = impl->vocab.find(a), ib = impl->vocab.find(b),
             iab = impl->vocab.find(a + b);
        if (ia == impl->vocab.end() || ib == impl->vocab.end() ||
            iab == impl->vocab.end()) {
          std::string miss = ia == impl->vocab.end()   ? a
                             : ib == impl->vocab.end() ? b
                                                       : a + b;
          return err(&m, "merge " + std::to_string(rank) + " uses '" + miss +
                             "', which is not in the vocabulary");
        }
        impl->merges.set(pairKey(ia->second, ib->second), {rank, iab->second});
        ++rank;
      }
    }
    // Pipeline.
    if (const json::Value *nm = get(root, "normalizer"))
      HONE_TRY(normalizer(*nm, *impl));
    bool sawByteLevel = false;
    if (const json::Value *pt = get(root, "pre_tokenizer"))
      HONE_TRY(preTokenizer(*pt, *impl, sawByteLevel));
    if (const json::Value *pp = get(root, "post_processor"))
      HONE_TRY(postProcessor(*pp, *impl));
    if (const json::Value *dec = get(root, "decoder"))
      HONE_TRY(decoder(*dec, *impl));
    else
      impl->joinWithSpace = true;
    for (int32_t id : impl->prefixIds)
      if (id >= static_cast<int32_t>(n) || !impl->known[id])
        return err(get(root, "post_processor"),
                   "post_processor uses unknown token id " +
                       std::to_string(id));
    for (int32_t id : impl->suffixIds)
      if (id >= static_cast<int32_t>(n) || !impl->known[id])
        return err(get(root, "post_processor"),
                   "post_processor uses unknown token id " +
                       std::to_string(id));

    const ByteTable &bt = byteTable();
    for (int b = 0; b < 256; ++b) {
      std::string s;
      if (impl->byteLevel)
        appendUtf8(s, bt.byteToCp[b]);
      else
        s.assign(1, static_cast<char>(b));
      auto it = impl->vocab.find(s);
      impl->byteId[b] = it == impl->vocab.end() ? -1 : it->second;
    }
    // Decoded bytes of every token.
    impl->idBytes.resize(n);
    for (size_t id = 0; id < n; ++id) {
      const std::string &tok = impl->idToToken[id];
      if (!impl->byteLevelDecoder) {
        impl->idBytes[id] = tok;
        continue;
      }
      std::string bytes;
      bool all = true;
      for (size_t i = 0; i < tok.size();) {
        size_t len;
        uint32_t cp = decodeUtf8At(tok, i, &len);
        auto it = bt.cpToByte.find(cp);
        if (it == bt.cpToByte.end()) {
          all = false;
          break;
        }
        bytes += static_cast<char>(it->second);
        i += len;
      }
      impl->idBytes[id] = all ? bytes : tok;
    }
    impl->indexAdded();
    return Tokenizer(impl);
  }
};

Expected<Tokenizer> Tokenizer::fromHfJson(std::string_view text,
                                          std::string_view sourceName) {
  json::ParseOptions po;
  po.sourceName = sourceName;
  po.maxDepth = 128;
  Expected<json::Value> root = json::parse(text, po);
  if (!root)
    return root.status();
  TokenizerBuilder b{text, std::string(sourceName)};
  return b.build(*root);
}

Expected<Tokenizer> Tokenizer::loadHfJson(const std::string &path) {
  std::string file = path;
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    file = path + "/tokenizer.json";
  std::ifstream in(file, std::ios::binary);
  if (!in)
    return Status::error(file + ": error: cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad())
    return Status::error(file + ": error: read failed");
  std::string text = ss.str();
  return fromHfJson(text, file);
}

Expected<Tokenizer>
Tokenizer::character(std::string_view chars,
                     const std::vector<std::string> &specials) {
  size_t bad = 0;
  if (!isValidUtf8(chars, &bad))
    return Status::error("error: character set is not valid UTF-8 (byte " +
                         std::to_string(bad) + ")");
  auto impl = std::make_shared<Impl>();
  impl->charLevel = true;
  auto addId = [&](const std::string &tok, bool special) {
    auto id = static_cast<int32_t>(impl->idToToken.size());
    impl->idToToken.push_back(tok);
    impl->idBytes.push_back(tok);
    impl->special.push_back(special);
    impl->known.push_back(1);
    impl->vocab[tok] = id;
    return id;
  };
  for (const std::string &s : specials) {
    if (s.empty() || !isValidUtf8(s))
      return Status::error("error: special tokens must be non-empty UTF-8");
    if (impl->vocab.count(s))
      return Status::error("error: special token '" + s + "' is repeated");
    AddedToken t;
    t.content = s;
    t.special = true;
    t.normalized = false;
    t.id = addId(s, true);
    impl->added.push_back(t);
  }
  for (size_t i = 0; i < chars.size();) {
    size_t n;
    uint32_t cp = decodeUtf8At(chars, i, &n);
    if (impl->charIds.count(cp))
      return Status::error("error: character '" +
                           std::string(chars.substr(i, n)) +
                           "' appears twice in the character set");
    std::string tok(chars.substr(i, n));
    if (impl->vocab.count(tok))
      return Status::error("error: character '" + tok +
                           "' is also a special token");
    impl->charIds[cp] = addId(tok, false);
    i += n;
  }
  if (impl->idToToken.empty())
    return Status::error("error: the character set is empty");
  impl->indexAdded();
  return Tokenizer(impl);
}

Expected<std::vector<int32_t>>
Tokenizer::encode(std::string_view text, const EncodeOptions &options) const {
  Encoding enc;
  HONE_TRY(impl_->encode(text, options, enc));
  return std::move(enc.ids);
}

Expected<Encoding>
Tokenizer::encodeWithOffsets(std::string_view text,
                             const EncodeOptions &options) const {
  Encoding enc;
  HONE_TRY(impl_->encode(text, options, enc));
  return enc;
}

Expected<std::string> Tokenizer::decode(const std::vector<int32_t> &ids,
                                        bool skipSpecialTokens) const {
  std::string bytes;
  bool first = true;
  for (int32_t id : ids) {
    if (id < 0 || id >= vocabSize() || !impl_->known[id])
      return Status::error("error: token id " + std::to_string(id) +
                           " is not in the vocabulary (size " +
                           std::to_string(vocabSize()) + ")");
    if (skipSpecialTokens && impl_->special[id])
      continue;
    if (impl_->joinWithSpace && !impl_->charLevel && !first)
      bytes += ' ';
    bytes += impl_->idBytes[id];
    first = false;
  }
  return utf8Lossy(bytes);
}

std::string Tokenizer::tokenBytes(int32_t id) const {
  if (id < 0 || id >= vocabSize())
    return std::string();
  return impl_->idBytes[id];
}

std::string_view Tokenizer::idToToken(int32_t id) const {
  if (id < 0 || id >= vocabSize())
    return std::string_view();
  return impl_->idToToken[id];
}

std::optional<int32_t> Tokenizer::tokenToId(std::string_view token) const {
  auto it = impl_->vocab.find(std::string(token));
  if (it == impl_->vocab.end())
    return std::nullopt;
  return it->second;
}

int32_t Tokenizer::vocabSize() const {
  return static_cast<int32_t>(impl_->idToToken.size());
}

bool Tokenizer::isSpecial(int32_t id) const {
  return id >= 0 && id < vocabSize() && impl_->special[id];
}

const std::vector<AddedToken> &Tokenizer::addedTokens() const {
  return impl_->added;
}

bool Tokenizer::isCharacterLevel() const { return impl_->charLevel; }

} // namespace hone
