// The tokenizer's pipeline stages share these (runtime/tokenizer only): the
// GPT-2 byte table, pre-tokenizer steps and their regexes, the BPE merge map
// and Tokenizer::Impl. The stages live in one file each, as in Hugging Face
// tokenizers: ByteLevel.cpp, PreTokenizer.cpp, Bpe.cpp, AddedTokens.cpp,
// HfJson.cpp (tokenizer.json loading); Tokenizer.cpp runs them in order.
#pragma once

#include "runtime/base/Regex.h"
#include "runtime/base/Status.h"
#include "runtime/tokenizer/Tokenizer.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace hone::tok {

inline bool isUnicodeSpace(uint32_t c) {
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
const ByteTable &byteTable(); // ByteLevel.cpp

/// A compiled pre-tokenizer pattern and where tokenizer.json wrote it.
struct PatternRegex {
  Regex re;
  std::string source; // "tokenizer.json:LINE:COL" of the pattern
};

/// Compiles a pre-tokenizer pattern (\s rewritten to Oniguruma's White_Space
/// set); errors name `where`.
Expected<std::shared_ptr<PatternRegex>> compileRegex(std::string_view pattern,
                                                     const std::string &where);

/// Calls f(start, end) for the matches of re in s in order (empty matches
/// skipped) until f returns false.
Status forEachMatch(const PatternRegex &re, std::string_view s,
                    const std::function<bool(size_t, size_t)> &f);

inline constexpr char kGpt2Pattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| "
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
  std::string literal; // Split with a String pattern
  SplitBehavior behavior = SplitBehavior::Isolated;
  bool invert = false;
  bool addPrefixSpace = false;
};

/// A merge pair as a PairMap key.
inline uint64_t pairKey(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) |
         static_cast<uint32_t>(b);
}

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

/// Where encoding writes: ids (none kept when only checking: Tokenizer::
/// check), their byte offsets when wanted (encode() keeps none), and the
/// limit: encoding stops once it is reached (EncodeOptions::maxTokens; the
/// caller cuts the ids to it), or, with keepLast, runs to the end keeping
/// at most twice the limit's last ids (the caller keeps the limit's).
struct EncodeOut {
  Encoding &enc;
  bool offsets = true;
  size_t limit = SIZE_MAX;
  bool keep = true;
  bool keepLast = false;
  size_t count = 0; // ids produced, kept or not
  bool full() const { return !keepLast && count >= limit; }
  void push(int32_t id, size_t a, size_t b) {
    ++count;
    if (!keep)
      return;
    enc.ids.push_back(id);
    if (offsets)
      enc.offsets.emplace_back(static_cast<uint32_t>(a),
                               static_cast<uint32_t>(b));
    if (keepLast && enc.ids.size() >= 2 * limit)
      keepOnly(limit);
  }
  /// Drops all but the last n ids (and offsets).
  void keepOnly(size_t n) {
    if (enc.ids.size() <= n)
      return;
    size_t drop = enc.ids.size() - n;
    enc.ids.erase(enc.ids.begin(), enc.ids.begin() + drop);
    if (offsets)
      enc.offsets.erase(enc.offsets.begin(), enc.offsets.begin() + drop);
  }
};

} // namespace hone::tok

namespace hone {

using tok::EncodeOut;
using tok::PairMap;
using tok::Piece;
using tok::PreStep;

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
  // charIds of the ASCII characters (-1: not in the set), read before the
  // map: one lookup per byte instead of a hash (the map was a fifth of
  // honec's time on 1.5 million short records).
  std::array<int32_t, 128> asciiIds{};

  // -- encoding --
  Status encode(std::string_view text, const EncodeOptions &opt,
                EncodeOut &out) const;
  void splitAdded(std::string_view text, size_t base, bool normalizedPass,
                  const EncodeOptions &opt,
                  std::vector<std::pair<Piece, int32_t>> &out) const;
  Status encodePlain(std::string_view text, size_t base, EncodeOut &out) const;
  Status encodeGap(std::string_view gap, size_t base, const EncodeOptions &opt,
                   EncodeOut &out) const;
  Status encodeChars(std::string_view text, size_t base, EncodeOut &out) const;
  /// BPE of one pre-token of `text`; offsets shifted by `base`.
  void bpeWord(std::string_view text, const Piece &p, size_t base,
               EncodeOut &out) const;
  /// Pre-tokenizer steps from `step` on applied to `p`, each piece passed
  /// to `sink` in order as soon as it is final (the next step's piece
  /// begins); `sink` returning false stops the walk (*stopped set). One
  /// piece per step is held, not the text's list (EncodeOptions::maxTokens).
  Status splitPieces(size_t step, std::string_view text, Piece p,
                     const std::function<bool(const Piece &)> &sink,
                     bool &stopped) const;
};

} // namespace hone
