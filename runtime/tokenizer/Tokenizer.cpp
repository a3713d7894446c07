// The tokenizer's pipeline: added tokens, then the normalizer (NFC) on the
// text between them, pre-tokenizers, the model (BPE or characters); and
// decoding. The stages: TokenizerImpl.h.
#include "runtime/tokenizer/Tokenizer.h"
#include "runtime/tokenizer/TokenizerImpl.h"

#include "runtime/base/Utf8.h"
#include "runtime/tokenizer/Nfc.h"

#include <algorithm>
#include <cstring>

namespace hone {

using namespace tok;

Status Tokenizer::Impl::encodePlain(std::string_view text, size_t base,
                                    EncodeOut &out) const {
  if (text.empty())
    return Status::ok();
  if (charLevel)
    return encodeChars(text, base, out);
  bool stopped = false;
  return splitPieces(
      0, text, Piece{0, text.size(), false},
      [&](const Piece &p) {
        if (p.end > p.start || p.prefix)
          bpeWord(text, p, base, out);
        return !out.full();
      },
      stopped);
}

Status Tokenizer::Impl::encodeChars(std::string_view text, size_t base,
                                    EncodeOut &out) const {
  if (out.keep && !out.keepLast) { // at most one id per byte
    const size_t room = out.limit > out.count ? out.limit - out.count : 0;
    const size_t more = std::min(text.size(), room);
    // Geometric, so that many short texts into one Encoding stay linear.
    auto grow = [more](auto &v) {
      if (v.capacity() < v.size() + more)
        v.reserve(std::max(v.size() + more, 2 * v.capacity()));
    };
    grow(out.enc.ids);
    if (out.offsets)
      grow(out.enc.offsets);
  }
  for (size_t i = 0; i < text.size() && !out.full();) {
    // A run of characters of the set that are ASCII, one id each, up to the
    // limit: counted (check) or appended in one pass. keepLast takes the
    // general path (it trims as it goes).
    if (!out.keepLast) {
      const size_t cap =
          i +
          std::min(text.size() - i, out.limit - std::min(out.limit, out.count));
      size_t j = i;
      while (j < cap) {
        const auto c = static_cast<unsigned char>(text[j]);
        if (c >= 0x80 || asciiIds[c] < 0)
          break;
        ++j;
      }
      if (j > i) {
        if (out.keep) {
          for (size_t p = i; p < j; ++p)
            out.enc.ids.push_back(
                asciiIds[static_cast<unsigned char>(text[p])]);
          if (out.offsets)
            for (size_t p = i; p < j; ++p)
              out.enc.offsets.emplace_back(static_cast<uint32_t>(base + p),
                                           static_cast<uint32_t>(base + p + 1));
        }
        out.count += j - i;
        i = j;
        continue;
      }
    } else if (const auto c = static_cast<unsigned char>(text[i]);
               c < 0x80 && asciiIds[c] >= 0) {
      out.push(asciiIds[c], base + i, base + i + 1);
      ++i;
      continue;
    }
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
    out.push(it->second, base + i, base + i + n);
    i += n;
  }
  return Status::ok();
}

Status Tokenizer::Impl::encodeGap(std::string_view gap, size_t base,
                                  const EncodeOptions &opt,
                                  EncodeOut &out) const {
  std::vector<std::pair<Piece, int32_t>> parts;
  splitAdded(gap, 0, /*normalizedPass=*/true, opt, parts);
  for (const auto &[p, id] : parts) {
    if (out.full())
      break;
    if (id >= 0) {
      out.push(id, base + p.start, base + p.end);
      continue;
    }
    HONE_TRY(
        encodePlain(gap.substr(p.start, p.end - p.start), base + p.start, out));
  }
  return Status::ok();
}

Status Tokenizer::Impl::encode(std::string_view text, const EncodeOptions &opt,
                               EncodeOut &out) const {
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
    for (int32_t id : prefixIds)
      out.push(id, 0, 0);
  }
  // Added tokens that match the raw text first, then the normalizer on
  // what lies between them, then normalized added tokens, then the model.
  std::vector<std::pair<Piece, int32_t>> first;
  splitAdded(text, 0, /*normalizedPass=*/false, opt, first);
  for (const auto &[p, id] : first) {
    if (out.full())
      break;
    if (id >= 0) {
      out.push(id, p.start, p.end);
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
    // The normalized text's own offsets map back to the input's.
    Encoding part;
    EncodeOut partOut{part, true,
                      out.limit == SIZE_MAX || out.keepLast
                          ? out.limit
                          : out.limit - out.count};
    partOut.keepLast = out.keepLast;
    HONE_TRY(encodeGap(normalized, 0, opt, partOut));
    for (size_t i = 0; i < part.ids.size(); ++i) {
      auto [a, b] = part.offsets[i];
      uint32_t s =
          a < map.size() ? map[a].first : static_cast<uint32_t>(gap.size());
      uint32_t e = b > a && b - 1 < map.size() ? map[b - 1].second : s;
      out.push(part.ids[i], p.start + s, p.start + std::max(s, e));
    }
  }
  if (opt.addSpecialTokens)
    for (int32_t id : suffixIds)
      out.push(id, text.size(), text.size());
  // A pre-token's BPE or the post-processor may pass the limit.
  if (out.keepLast) {
    out.keepOnly(out.limit);
  } else if (out.enc.ids.size() > out.limit) {
    out.enc.ids.resize(out.limit);
    if (out.offsets)
      out.enc.offsets.resize(out.limit);
  }
  return Status::ok();
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
  impl->asciiIds.fill(-1);
  for (const auto &[cp, id] : impl->charIds)
    if (cp < 0x80)
      impl->asciiIds[cp] = id;
  if (impl->idToToken.empty())
    return Status::error("error: the character set is empty");
  impl->indexAdded();
  return Tokenizer(impl);
}

namespace {
EncodeOut outFor(Encoding &enc, const EncodeOptions &options, bool offsets) {
  EncodeOut out{enc, offsets, options.maxTokens ? options.maxTokens : SIZE_MAX};
  out.keepLast = options.maxTokens && options.keepLast;
  return out;
}
} // namespace

Expected<std::vector<int32_t>>
Tokenizer::encode(std::string_view text, const EncodeOptions &options) const {
  Encoding enc;
  EncodeOut out = outFor(enc, options, /*offsets=*/false);
  HONE_TRY(impl_->encode(text, options, out));
  return std::move(enc.ids);
}

Status Tokenizer::check(std::string_view text,
                        const EncodeOptions &options) const {
  Encoding none;
  EncodeOut out = outFor(none, options, /*offsets=*/false);
  out.keep = false;
  return impl_->encode(text, options, out);
}

Expected<Encoding>
Tokenizer::encodeWithOffsets(std::string_view text,
                             const EncodeOptions &options) const {
  Encoding enc;
  EncodeOut out = outFor(enc, options, /*offsets=*/true);
  HONE_TRY(impl_->encode(text, options, out));
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
