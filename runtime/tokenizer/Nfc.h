// Unicode NFC normalization (the Hugging Face "NFC" normalizer, used by
// Qwen2's tokenizer), with a map from output bytes back to input bytes so
// token offsets still point into the caller's text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hone {

/// True when `text` might change under NFC (it has a code point >= U+0300);
/// text below that is always NFC.
bool mayNeedNfc(std::string_view text);

/// NFC of valid UTF-8 `text` into `out`. When byteMap is given it gets, for
/// each byte of `out`, the [begin, end) byte range of `text` it came from.
void nfcNormalize(std::string_view text, std::string &out,
                  std::vector<std::pair<uint32_t, uint32_t>> *byteMap);

} // namespace hone
