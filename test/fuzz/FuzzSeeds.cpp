// Writes the seed corpora of the fuzz targets: valid files of each format
// and a few near-misses, so mutation starts from the interesting shapes.
#include "runtime/base/Json.h"
#include "runtime/formats/Safetensors.h"

#include <cstdio>
#include <string>
#include <sys/stat.h>
#include <vector>

using namespace hone;

static bool writeFile(const std::string &path, const std::string &data) {
  std::FILE *f = std::fopen(path.c_str(), "wb");
  if (!f)
    return false;
  bool ok = std::fwrite(data.data(), 1, data.size(), f) == data.size();
  return std::fclose(f) == 0 && ok;
}

static std::string byteLevelTokenizer(bool pairs, const char *preTokenizer,
                                      const char *normalizer = "null") {
  // A 256-byte base vocabulary in GPT-2's byte-level spelling plus merges.
  std::vector<std::string> chars(256);
  int extra = 0;
  for (int b = 0; b < 256; ++b) {
    bool keep = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
    int cp = keep ? b : 256 + extra++;
    std::string s;
    if (cp < 0x80)
      s += static_cast<char>(cp);
    else {
      s += static_cast<char>(0xC0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
    chars[b] = s;
  }
  json::Value vocab = json::Value::object();
  for (int b = 0; b < 256; ++b)
    vocab.set(chars[b], b);
  const char *merges[][2] = {
      {"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}, {"\xC4\xA0", "w"}};
  json::Value m = json::Value::array();
  int id = 256;
  for (auto &mg : merges) {
    vocab.set(std::string(mg[0]) + mg[1], id++);
    if (pairs) {
      json::Value p = json::Value::array();
      p.push(mg[0]);
      p.push(mg[1]);
      m.push(std::move(p));
    } else {
      m.push(std::string(mg[0]) + " " + mg[1]);
    }
  }
  std::string text =
      std::string("{\"version\":\"1.0\",\"added_tokens\":[{\"id\":300,"
                  "\"content\":\"<|end|>\",\"single_word\":false,\"lstrip\":"
                  "false,\"rstrip\":false,\"normalized\":false,\"special\":"
                  "true}],\"normalizer\":") +
      normalizer + ",\"pre_tokenizer\":" + preTokenizer +
      ",\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{"
      "\"SpecialToken\":{\"id\":\"<|end|>\",\"type_id\":0}},{\"Sequence\":{"
      "\"id\":\"A\",\"type_id\":0}}],\"special_tokens\":{\"<|end|>\":{\"id\":"
      "\"<|end|>\",\"ids\":[300],\"tokens\":[\"<|end|>\"]}}},"
      "\"decoder\":{\"type\":\"ByteLevel\"},\"model\":{\"type\":\"BPE\","
      "\"ignore_merges\":true,\"vocab\":" +
      json::serialize(vocab) + ",\"merges\":" + json::serialize(m) + "}}";
  return text;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: hone-fuzz-seeds DIR\n");
    return 2;
  }
  std::string dir = argv[1];
  for (const char *sub : {"", "/fuzz_safetensors", "/fuzz_tokenizer",
                          "/fuzz_jsonl", "/fuzz_jinja"})
    ::mkdir((dir + sub).c_str(), 0755);

  float f[4] = {1, 2, 3, 4};
  uint16_t h[2] = {0x3C00, 0x4000};
  Expected<std::string> st =
      serializeSafetensors({{"a", DType::F32, {2, 2}, f, 16},
                            {"b", DType::BF16, {2}, h, 4},
                            {"c", DType::F16, {1, 2}, h, 4},
                            {"e", DType::I64, {0}, f, 0}},
                           {{"format", "pt"}});
  Expected<std::string> empty = serializeSafetensors({});
  if (!st || !empty)
    return 1;
  std::string sd = dir + "/fuzz_safetensors/";
  bool ok = writeFile(sd + "valid", *st) && writeFile(sd + "empty", *empty);
  std::string truncated = st->substr(0, st->size() - 3);
  ok = ok && writeFile(sd + "truncated", truncated);

  std::string td = dir + "/fuzz_tokenizer/";
  const char *gpt2 = "{\"type\":\"ByteLevel\",\"add_prefix_space\":true,"
                     "\"use_regex\":true}";
  const char *llama =
      "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\","
      "\"pattern\":{\"Regex\":\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{"
      "L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| "
      "?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|"
      "\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"},\"behavior\":\"Isolated\","
      "\"invert\":false},{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
      "\"use_regex\":false},{\"type\":\"Digits\",\"individual_digits\":true}]}";
  ok = ok && writeFile(td + "gpt2", byteLevelTokenizer(false, gpt2)) &&
       writeFile(td + "llama3", byteLevelTokenizer(true, llama)) &&
       writeFile(td + "qwen2",
                 byteLevelTokenizer(true, llama, "{\"type\":\"NFC\"}")) &&
       writeFile(td + "small",
                 "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,"
                 "\"ab\":2,\"<unk>\":3},\"merges\":[\"a b\"],\"unk_token\":"
                 "\"<unk>\",\"fuse_unk\":true,\"byte_fallback\":true},"
                 "\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{"
                 "\"String\":\" \"},\"behavior\":\"MergedWithNext\","
                 "\"invert\":false}}");

  std::string jd = dir + "/fuzz_jsonl/";
  ok = ok &&
       writeFile(jd + "text",
                 "{\"text\": \"hello\"}\n{\"text\": \"w\\u00e9\"}\n") &&
       writeFile(jd + "messages",
                 "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, "
                 "{\"role\": \"assistant\", \"content\": \"yo\"}]}\n") &&
       writeFile(jd + "pref", "{\"prompt\": \"q\", \"chosen\": \"a\", "
                              "\"rejected\": \"b\"}\r\n\n") &&
       writeFile(jd + "kto", "{\"prompt\": [{\"role\": \"user\", \"content\": "
                             "\"q\"}], \"completion\": [{\"role\": "
                             "\"assistant\", \"content\": \"a\"}], \"label\": "
                             "true}\n") &&
       writeFile(jd + "answer", "{\"prompt\": \"1+1\", \"answer\": 2}\n"
                                "{\"prompt\": \"x\", \"answer\": -1.5e3}\n") &&
       writeFile(jd + "sharegpt",
                 "{\"conversations\": [{\"from\": \"human\", \"value\": "
                 "\"a\"}, {\"from\": \"gpt\", \"value\": \"b\"}]}\n");
  std::string gd = dir + "/fuzz_jinja/";
  ok = ok &&
       writeFile(gd + "chatml",
                 "{%- for m in messages %}\n  {{- '<|im_start|>' + m.role + "
                 "'\\n' + m.content|trim + '<|im_end|>\\n' }}\n{%- endfor "
                 "%}\n{%- if add_generation_prompt %}{{ '<|im_start|>"
                 "assistant\\n' }}{% endif %}\n") &&
       writeFile(gd + "tools",
                 "{% set ns = namespace(n=0) %}{% for t in tools %}{{ t|"
                 "tojson(indent=2) }}{% set ns.n = ns.n + 1 %}{% endfor %}"
                 "{{ ns.n }}{% for m in messages[::-1] if m.role != 'tool' "
                 "%}{{ loop.index0 }}{{ m.content.split('</think>')[-1]"
                 ".lstrip() }}{% endfor %}") &&
       writeFile(gd + "generation",
                 "{% macro h(r, x='') %}[{{ r|upper }}{{ x }}]{% endmacro %}"
                 "{% for m in messages %}{{ h(m.role) }}{% if m.role == "
                 "'assistant' %}{% generation %}{{ m.content }}{% "
                 "endgeneration %}{% elif m.tool_calls is defined %}{{ "
                 "raise_exception('no') }}{% else %}{{ m['content'] ~ "
                 "bos_token }}{% endif %}{% endfor %}{{ strftime_now('%d') "
                 "}}{# c #}") &&
       writeFile(gd + "exprs",
                 "{{ (1 + 2 * 3 // 2 % 5 ** 2) if 'a' in 'abc' and not none "
                 "else [1, {'k': (1, 2)}][1].k }}{{ 'x' * 3 }}{{ [3,1]|"
                 "reverse|list|join(',') }}{{ messages|selectattr('role', "
                 "'equalto', 'user')|map(attribute='content')|first }}");
  if (!ok) {
    std::fprintf(stderr, "hone-fuzz-seeds: cannot write into %s\n",
                 dir.c_str());
    return 1;
  }
  return 0;
}
