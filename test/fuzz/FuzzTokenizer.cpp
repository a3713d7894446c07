// libFuzzer target: the tokenizer.json loader, then encode/decode with
// whatever tokenizer it accepted; an encoding with a token limit must be
// the whole encoding's first ids, or last ones (EncodeOptions::maxTokens).
#include "runtime/tokenizer/Tokenizer.h"

#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view text(reinterpret_cast<const char *>(data), size);
  hone::Expected<hone::Tokenizer> tok =
      hone::Tokenizer::fromHfJson(text, "fuzz.json");
  if (!tok)
    return 0;
  for (std::string_view s :
       {std::string_view("Hello world! it's 12345 \n\n  x"),
        std::string_view("\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80 <|end|>"),
        std::string_view(
            "e\xCC\x81\xCC\xA3 \xE1\x84\x80\xE1\x85\xA1 A\xCC\x8A"),
        std::string_view(""), text.substr(0, 256)}) {
    hone::EncodeOptions opt;
    opt.addSpecialTokens = true;
    hone::Expected<hone::Encoding> e = tok->encodeWithOffsets(s, opt);
    if (!e)
      continue;
    for (size_t k = 1; k <= e->ids.size(); k += 1 + k / 2) {
      opt.maxTokens = k;
      opt.keepLast = false;
      hone::Expected<std::vector<int32_t>> head = tok->encode(s, opt);
      if (!head || *head != std::vector<int32_t>(e->ids.begin(),
                                                 e->ids.begin() + k))
        std::abort();
      opt.keepLast = true;
      hone::Expected<std::vector<int32_t>> tail = tok->encode(s, opt);
      if (!tail ||
          *tail != std::vector<int32_t>(e->ids.end() - k, e->ids.end()))
        std::abort();
    }
    opt.maxTokens = 0;
    opt.keepLast = false;
    (void)tok->decode(e->ids);
    (void)tok->decode(e->ids, true);
  }
  (void)tok->decode({0, 1, 2, tok->vocabSize() - 1, tok->vocabSize()});
  return 0;
}
