// Checks the BPE encoder against the Python `tokenizers` package, token for
// token: trains small byte-level BPE tokenizers in the GPT-2, Llama-3 and
// Qwen2 styles, and with every Split behavior (inverted or not, and a
// literal pattern) before GPT-2's regex, on generated text, encodes
// generated strings (words, code, whitespace runs, special tokens, random
// Unicode; NFD text for the Qwen2 style, whose normalizer is NFC) with
// Python, and compares; every case is also encoded with token limits
// (EncodeOptions::maxTokens), which must give the full encoding's first ids
// and offsets, or with keepLast its last ones.
// Skips (does not fail) without a Python that has the package.
#include "runtime/tokenizer/Tokenizer.h"

#include "runtime/base/Json.h"
#include "runtime/tokenizer/Nfc.h"
#include "test/unit/TestUtil.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

using namespace hone;

namespace {

const char *kScript = R"PY(
import json, random, sys, unicodedata
from tokenizers import Tokenizer, Regex, models, pre_tokenizers, decoders, trainers, normalizers

out = sys.argv[1]
N = int(sys.argv[2])
rng = random.Random(1234)

GPT2 = None
LLAMA3 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
QWEN2 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
RANGES = [(0x20, 0x7E)] * 6 + [(0xA0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF),
          (0x590, 0x6FF), (0x900, 0x97F), (0x0E00, 0x0E7F), (0x3040, 0x30FF),
          (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0x1F300, 0x1FAFF),
          (0x0300, 0x036F), (0x2000, 0x206F), (0xFF00, 0xFFEF),
          (0x10000, 0x10FFFF)]
SPACES = [" ", "  ", "\t", "\n", "\r\n", "\n\n", "\u00a0", "\u3000", "\u2009",
          "\u0085", "\u180e", "\u2028", "\x0b", "\x0c"]

def rand_char():
    lo, hi = rng.choice(RANGES)
    while True:
        c = rng.randint(lo, hi)
        if not (0xD800 <= c <= 0xDFFF):
            return chr(c)

def word():
    syl = ["ka", "to", "ri", "mu", "se", "lo", "an", "th", "er", "in", "qu"]
    w = "".join(rng.choice(syl) for _ in range(rng.randint(1, 4)))
    r = rng.random()
    if r < 0.1: w = w.capitalize()
    elif r < 0.15: w = w.upper()
    return w

def sentence():
    parts = []
    for _ in range(rng.randint(1, 12)):
        r = rng.random()
        if r < 0.55: parts.append(word())
        elif r < 0.65: parts.append(str(rng.randint(0, 10**rng.randint(1, 8))))
        elif r < 0.72: parts.append(rng.choice(["don't", "I'm", "we'll", "it's", "THEY'RE", "you'VE", "'d"]))
        elif r < 0.80: parts.append(rng.choice([".", ",", "!!", "?", "...", "(x)", "{}", "->", "==", "\"q\"", "#", "$5"]))
        elif r < 0.88: parts.append("".join(rand_char() for _ in range(rng.randint(1, 5))))
        else: parts.append(rng.choice(["caf\u00e9", "na\u00efve", "\u4e2d\u6587", "\u043f\u0440\u0438\u0432\u0435\u0442", "\U0001F600\U0001F44D", "\u0645\u0631\u062d\u0628\u0627", "x\u0301"]))
        parts.append(rng.choice(SPACES[:4] * 8 + SPACES))
    return "".join(parts)

def test_string(i):
    r = i % 10
    if r < 5: return sentence()
    if r < 7: return "".join(rand_char() for _ in range(rng.randint(0, 40)))
    if r < 8: return "".join(rng.choice(SPACES + ["a", "1", "!"]) for _ in range(rng.randint(1, 20)))
    if r < 9: return sentence() + rng.choice(SPECIALS) + sentence() + rng.choice(SPECIALS)
    return "".join(rng.choice(["a", "b", "ab", " ", "'s", "1", "\n", "\u00e9", "\U0001F600"]) for _ in range(rng.randint(1, 60)))

corpus = [sentence() for _ in range(3000)]

def build(style, prefix=False):
    tok = Tokenizer(models.BPE())
    if style.startswith("split_"):
        # Every Split behavior, inverted or not, before GPT-2's regex.
        behavior = style[len("split_"):].replace("_inv", "")
        literal = behavior == "literal"
        split = (pre_tokenizers.Split("  ", behavior="merged_with_previous")
                 if literal else
                 pre_tokenizers.Split(Regex(r"\p{N}+|[.,!?]+|\n"), behavior=behavior,
                                      invert=style.endswith("_inv")))
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            split, pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    elif style == "gpt2":
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=prefix, use_regex=True)
    else:
        pat = LLAMA3 if style == "llama3" else QWEN2
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(pat), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    if style == "qwen2":
        tok.normalizer = normalizers.NFC()
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1200, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(corpus, trainer)
    spec = json.loads(tok.to_str())
    if style == "llama3":
        spec["model"]["ignore_merges"] = True
        tok = Tokenizer.from_str(json.dumps(spec))
    return tok, spec

SPLITS = ["split_" + b + inv for b in ["removed", "isolated", "merged_with_previous",
                                       "merged_with_next", "contiguous"]
          for inv in ["", "_inv"]] + ["split_literal"]
for style, prefix in [("gpt2", False), ("gpt2", True), ("llama3", False), ("qwen2", False)] + [(s, False) for s in SPLITS]:
    name = style + ("_prefix" if prefix else "")
    count = N if not style.startswith("split_") else N // 5
    tok, spec = build(style, prefix)
    with open(f"{out}/{name}.json", "w") as f:
        f.write(tok.to_str())
    strings = [test_string(i) for i in range(count)]
    if style.startswith("split_"):
        encs = tok.encode_batch(strings, add_special_tokens=False)
        with open(f"{out}/{name}.cases.jsonl", "w") as f:
            for s, e in zip(strings, encs):
                f.write(json.dumps({"s": s, "n": s, "ids": e.ids}) + "\n")
        continue
    # The same tokenizer with merges written as "a b" strings.
    if all(" " not in a and " " not in b for a, b in spec["model"]["merges"]):
        spec["model"]["merges"] = [a + " " + b for a, b in spec["model"]["merges"]]
        with open(f"{out}/{name}_strmerges.json", "w") as f:
            json.dump(spec, f)
    if style == "qwen2":  # NFC normalizer: feed it decomposed text too
        strings = [unicodedata.normalize("NFD", s) if i % 3 == 0 else s
                   for i, s in enumerate(strings)]
    encs = tok.encode_batch(strings, add_special_tokens=False)
    with open(f"{out}/{name}.cases.jsonl", "w") as f:
        for s, e in zip(strings, encs):
            # What decode(encode(s)) must give: s after the normalizer.
            n = unicodedata.normalize("NFC", s) if style == "qwen2" else s
            f.write(json.dumps({"s": s, "n": n, "ids": e.ids}) + "\n")
print("ok")
)PY";

const std::string &tokenizersPython() {
  static const std::string py = hone::test::oraclePython("tokenizers");
  return py;
}
bool havePythonTokenizers() { return !tokenizersPython().empty(); }

struct Result {
  size_t total = 0, matched = 0, roundTrips = 0, limited = 0, limitedOk = 0;
  std::vector<std::string> firstMismatches;
};

Result compare(const Tokenizer &tok, const std::string &casesPath) {
  Result r;
  std::string text = hone::test::readText(casesPath);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos)
      nl = text.size();
    std::string_view line(text.data() + pos, nl - pos);
    pos = nl + 1;
    if (line.empty())
      continue;
    Expected<json::Value> v = json::parse(line);
    EXPECT_TRUE(v.isOk()) << v.status().message();
    if (!v)
      continue;
    const std::string &s = v->find("s")->asString();
    const std::string &normalized = v->find("n")->asString();
    std::vector<int32_t> want;
    for (const json::Value &id : v->find("ids")->items())
      want.push_back(static_cast<int32_t>(id.asInt()));
    ++r.total;
    Expected<std::vector<int32_t>> got = tok.encode(s);
    if (got && *got == want)
      ++r.matched;
    else if (r.firstMismatches.size() < 5)
      r.firstMismatches.push_back(json::serialize(json::Value(s)));
    if (got) {
      Expected<std::string> back = tok.decode(*got);
      if (back && *back == normalized)
        ++r.roundTrips;
    }
    // A limit gives the whole encoding's first ids and offsets, or with
    // keepLast its last ones.
    Expected<Encoding> whole = tok.encodeWithOffsets(s);
    for (size_t k :
         {size_t(1), want.size() / 2, want.size() - 1, want.size() + 3}) {
      if (k == 0 || k > want.size() + 3 || !whole)
        continue;
      for (bool last : {false, true}) {
        EncodeOptions o;
        o.maxTokens = k;
        o.keepLast = last;
        Expected<std::vector<int32_t>> ids = tok.encode(s, o);
        Expected<Encoding> enc = tok.encodeWithOffsets(s, o);
        size_t n = std::min(k, want.size()), from = last ? want.size() - n : 0;
        ++r.limited;
        if (ids && enc &&
            *ids == std::vector<int32_t>(want.begin() + from,
                                         want.begin() + from + n) &&
            enc->ids == *ids &&
            enc->offsets ==
                decltype(enc->offsets)(whole->offsets.begin() + from,
                                       whole->offsets.begin() + from + n))
          ++r.limitedOk;
        else if (r.firstMismatches.size() < 5)
          r.firstMismatches.push_back(std::string(last ? "last " : "first ") +
                                      std::to_string(k) + ": " +
                                      json::serialize(json::Value(s)));
      }
    }
  }
  return r;
}

TEST(HfTokenizers, MatchesPythonTokenFortoken) {
  if (!havePythonTokenizers())
    GTEST_SKIP() << "no Python with the `tokenizers` package";
  std::string dir = hone::test::makeTempDir();
  hone::test::writeText(dir + "/gen.py", kScript);
  const int perTokenizer = 3000;
  std::string cmd = tokenizersPython() + " " + dir + "/gen.py " + dir + " " +
                    std::to_string(perTokenizer) + " > " + dir +
                    "/gen.log 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0)
      << hone::test::readText(dir + "/gen.log");

  size_t total = 0;
  for (const char *name :
       {"gpt2", "gpt2_prefix", "llama3", "qwen2", "split_removed",
        "split_removed_inv", "split_isolated", "split_isolated_inv",
        "split_merged_with_previous", "split_merged_with_previous_inv",
        "split_merged_with_next", "split_merged_with_next_inv",
        "split_contiguous", "split_contiguous_inv", "split_literal"}) {
    for (const char *variant : {"", "_strmerges"}) {
      std::string path = dir + "/" + name + variant + ".json";
      if (std::string(variant) == "_strmerges" &&
          hone::test::readText(path).empty())
        continue;
      Expected<Tokenizer> tok = Tokenizer::loadHfJson(path);
      ASSERT_TRUE(tok.isOk()) << tok.status().message();
      Result r = compare(*tok, dir + "/" + name + ".cases.jsonl");
      std::string examples;
      for (const std::string &m : r.firstMismatches)
        examples += "\n  " + m;
      EXPECT_EQ(r.matched, r.total)
          << name << variant << ": mismatches, e.g." << examples;
      EXPECT_EQ(r.limitedOk, r.limited)
          << name << variant << ": limited encodings differ, e.g." << examples;
      EXPECT_GT(r.limited, r.total);
      // add_prefix_space adds a space that decoding keeps (as in Python);
      // the Removed behavior drops text.
      if (std::string(name) != "gpt2_prefix" &&
          std::string(name).rfind("split_removed", 0) != 0) {
        EXPECT_EQ(r.roundTrips, r.total) << name << variant;
      }
      std::printf("[ hf match ] %s%s: %zu/%zu identical, %zu/%zu "
                  "decode(encode(s)) == s, %zu/%zu limited encodings\n",
                  name, variant, r.matched, r.total, r.roundTrips, r.total,
                  r.limitedOk, r.limited);
      if (!*variant)
        total += r.total;
    }
  }
  EXPECT_GE(total, 10000u);

  // Throughput on generated text (reported, not asserted).
  Expected<Tokenizer> tok = Tokenizer::loadHfJson(dir + "/llama3.json");
  ASSERT_TRUE(tok.isOk());
  std::string big;
  std::string cases = hone::test::readText(dir + "/llama3.cases.jsonl");
  while (big.size() < (size_t(4) << 20))
    big += cases;
  auto t0 = std::chrono::steady_clock::now();
  Expected<std::vector<int32_t>> ids = tok->encode(big);
  double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  ASSERT_TRUE(ids.isOk());
  std::printf("[ hf match ] encode throughput: %.1f MB/s, %.2f M tokens/s "
              "(%zu tokens)\n",
              big.size() / secs / 1e6, ids->size() / secs / 1e6, ids->size());
  // The first 512 tokens of the 4 MB text, and what they cost.
  EncodeOptions first;
  first.maxTokens = 512;
  t0 = std::chrono::steady_clock::now();
  Expected<std::vector<int32_t>> head = tok->encode(big, first);
  double headSecs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  ASSERT_TRUE(head.isOk());
  EXPECT_EQ(*head, std::vector<int32_t>(ids->begin(), ids->begin() + 512));
  std::printf("[ hf match ] first 512 tokens of it: %.3f ms (the whole: "
              "%.0f ms)\n",
              headSecs * 1e3, secs * 1e3);
}

TEST(HfTokenizers, NfcMatchesPythonUnicodedata) {
  if (std::system("python3 -c 'import unicodedata' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "python3 is not available";
  std::string dir = hone::test::makeTempDir();
  // Every code point alone, then random runs of starters, combining marks
  // (in every order) and Hangul jamo.
  hone::test::writeText(dir + "/nfc.py", R"PY(
import json, random, sys, unicodedata
rng = random.Random(5)
marks = [c for c in range(0x300, 0x20000) if unicodedata.combining(chr(c))]
pool = (marks * 2 + list(range(0x1100, 0x1200)) + list(range(0x11A8, 0x11C3)) +
        list(range(0x41, 0x5B)) + list(range(0xC0, 0x180)) + [0x0915, 0x0B47, 0x0DD9, 0x1025, 0x212B, 0xAC00, 0xAC01, 0x3099, 0x304B])
out = open(sys.argv[1], "w")
whole = "".join(chr(c) for c in range(0x20, 0x30000) if not 0xD800 <= c <= 0xDFFF)
for k in range(0, len(whole), 4096):
    s = whole[k:k + 4096]
    out.write(json.dumps({"s": s, "n": unicodedata.normalize("NFC", s)}) + "\n")
for i in range(20000):
    s = "".join(chr(rng.choice(pool)) for _ in range(rng.randint(1, 12)))
    out.write(json.dumps({"s": s, "n": unicodedata.normalize("NFC", s)}) + "\n")
)PY");
  std::string cases = dir + "/nfc.jsonl";
  ASSERT_EQ(std::system(("python3 " + dir + "/nfc.py " + cases).c_str()), 0);
  std::string text = hone::test::readText(cases);
  size_t total = 0, same = 0, pos = 0;
  std::string firstBad;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line(text.data() + pos, nl - pos);
    pos = nl + 1;
    Expected<json::Value> v = json::parse(line);
    ASSERT_TRUE(v.isOk());
    std::string got;
    nfcNormalize(v->find("s")->asString(), got, nullptr);
    ++total;
    if (got == v->find("n")->asString())
      ++same;
    else if (firstBad.empty())
      firstBad = json::serialize(*v->find("s"));
  }
  std::printf("[ nfc ] %zu/%zu strings identical to Python's unicodedata\n",
              same, total);
  EXPECT_EQ(same, total) << "first mismatch: " << firstBad;
}

} // namespace
