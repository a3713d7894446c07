// Tokenizers: Hugging Face tokenizer.json BPE (byte-level as in GPT-2,
// Llama-3 and Qwen2) and a character tokenizer for toy tasks.
//
// Supported tokenizer.json parts:
//   normalizer     null, NFC (taken as the identity: input is expected to be
//                  NFC already), or an empty Sequence
//   pre_tokenizer  ByteLevel (add_prefix_space, use_regex), Split (Regex or
//                  String pattern, every behavior, invert), Digits, Sequence;
//                  regexes compiled by PCRE2 in UTF + UCP mode with JIT, with
//                  \s/\S rewritten to Oniguruma's Unicode White_Space set
//   model          BPE: vocab, merges as "a b" strings or [a, b] pairs,
//                  ignore_merges, unk_token, fuse_unk, byte_fallback
//   added_tokens   split out (leftmost-longest) before pre-tokenization,
//                  with single_word, lstrip, rstrip, normalized, special
//   post_processor TemplateProcessing (single), ByteLevel, Sequence
//   decoder        ByteLevel, Sequence of ByteLevel, or none
#pragma once

#include "runtime/base/Status.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hone {

struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool special = false;
  bool singleWord = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
};

struct EncodeOptions {
  /// Match added/special tokens written in the text ("<|im_end|>" becomes
  /// one id). Off: the text is encoded as plain text.
  bool parseSpecialTokens = true;
  /// Apply the post-processor (e.g. Llama-3's leading <|begin_of_text|>).
  bool addSpecialTokens = false;
  /// At most this many ids (0: no limit): the first ones of the whole
  /// text's encoding, exactly, found without encoding the rest (a sequence
  /// cut on the right at its stage's length: runtime/data/Sequences.cpp).
  /// Pre-tokenization runs piece by piece and stops with the piece that
  /// fills the limit, so the work and memory follow the limit, not the
  /// text (the text is still checked to be valid UTF-8 whole).
  size_t maxTokens = 0;
  /// With maxTokens: the last maxTokens ids instead (a prompt cut on the
  /// left), exactly; the whole text is encoded, in memory that follows
  /// the limit (at most twice its ids at a time).
  bool keepLast = false;
};

/// Token ids with the byte range [first, second) of the input each covers.
struct Encoding {
  std::vector<int32_t> ids;
  std::vector<std::pair<uint32_t, uint32_t>> offsets;
};

class Tokenizer {
public:
  /// Parses tokenizer.json text; errors carry sourceName:line:col.
  static Expected<Tokenizer>
  fromHfJson(std::string_view text,
             std::string_view sourceName = "tokenizer.json");
  /// Reads a tokenizer.json file (or a directory holding one).
  static Expected<Tokenizer> loadHfJson(const std::string &path);
  /// A character tokenizer: ids 0..k-1 are `specials` (matched as whole
  /// strings in the text), then one id per distinct UTF-8 character of
  /// `chars` in order. Encoding a character outside the set is an error.
  static Expected<Tokenizer>
  character(std::string_view chars,
            const std::vector<std::string> &specials = {});

  /// Encodes UTF-8 text (invalid UTF-8 is an error naming the byte offset;
  /// inputs must be under 4 GiB). Thread-safe: a Tokenizer is immutable.
  Expected<std::vector<int32_t>>
  encode(std::string_view text, const EncodeOptions &options = {}) const;
  Expected<Encoding> encodeWithOffsets(std::string_view text,
                                       const EncodeOptions &options = {}) const;
  /// encode()'s errors without its ids: whether the text encodes (a
  /// character vocabulary's missing character, invalid UTF-8), in memory
  /// that does not grow with the text's tokens (the compiler's data check).
  Status check(std::string_view text, const EncodeOptions &options = {}) const;
  /// Decodes ids to text; byte sequences that are not valid UTF-8 become
  /// U+FFFD (as Hugging Face does). Unknown ids are an error.
  Expected<std::string> decode(const std::vector<int32_t> &ids,
                               bool skipSpecialTokens = false) const;
  /// The raw bytes one token stands for (possibly a partial UTF-8
  /// sequence); empty for unknown ids.
  std::string tokenBytes(int32_t id) const;

  /// The vocabulary string of an id (byte-level form, e.g. "Ġthe").
  std::string_view idToToken(int32_t id) const;
  std::optional<int32_t> tokenToId(std::string_view token) const;
  /// One more than the largest id (model vocab and added tokens).
  int32_t vocabSize() const;
  bool isSpecial(int32_t id) const;
  const std::vector<AddedToken> &addedTokens() const;
  bool isCharacterLevel() const;

private:
  struct Impl;
  explicit Tokenizer(std::shared_ptr<const Impl> impl)
      : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
  friend struct TokenizerBuilder;
};

} // namespace hone
