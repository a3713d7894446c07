#include "runtime/tokenizer/Tokenizer.h"

#include "runtime/base/Json.h"
#include "runtime/tokenizer/Nfc.h"
#include "test/unit/TestUtil.h"

#include <gtest/gtest.h>

using namespace hone;
using json::Value;

namespace {

/// GPT-2's bytes_to_unicode, written out independently of the tokenizer.
std::string byteChar(int b) {
  static std::vector<std::string> table = [] {
    std::vector<int> bs;
    for (int i = '!'; i <= '~'; ++i)
      bs.push_back(i);
    for (int i = 0xA1; i <= 0xAC; ++i)
      bs.push_back(i);
    for (int i = 0xAE; i <= 0xFF; ++i)
      bs.push_back(i);
    std::vector<int> cs = bs;
    int n = 0;
    for (int i = 0; i < 256; ++i)
      if (std::find(bs.begin(), bs.end(), i) == bs.end()) {
        bs.push_back(i);
        cs.push_back(256 + n++);
      }
    std::vector<std::string> t(256);
    for (size_t k = 0; k < bs.size(); ++k) {
      int c = cs[k];
      std::string s;
      if (c < 0x80)
        s += static_cast<char>(c);
      else {
        s += static_cast<char>(0xC0 | (c >> 6));
        s += static_cast<char>(0x80 | (c & 0x3F));
      }
      t[bs[k]] = s;
    }
    return t;
  }();
  return table[b];
}
std::string bl(std::string_view raw) { // raw bytes -> byte-level spelling
  std::string s;
  for (unsigned char c : raw)
    s += byteChar(c);
  return s;
}

struct Spec {
  std::vector<std::string> extraTokens; // raw text, byte-level encoded
  std::vector<std::pair<std::string, std::string>> merges; // raw text
  bool mergesAsPairs = false;
  bool ignoreMerges = false;
  Value preTokenizer = Value();
  Value added = Value::array();
};

Value gpt2PreTokenizer(bool prefix = false) {
  Value p = Value::object();
  p.set("type", "ByteLevel");
  p.set("add_prefix_space", prefix);
  p.set("trim_offsets", true);
  p.set("use_regex", true);
  return p;
}

Value splitPreTokenizer(const std::string &regex) {
  Value split = Value::object();
  split.set("type", "Split");
  Value pat = Value::object();
  pat.set("Regex", regex);
  split.set("pattern", std::move(pat));
  split.set("behavior", "Isolated");
  split.set("invert", false);
  Value bl = Value::object();
  bl.set("type", "ByteLevel");
  bl.set("add_prefix_space", false);
  bl.set("use_regex", false);
  Value seq = Value::object();
  seq.set("type", "Sequence");
  Value list = Value::array();
  list.push(std::move(split));
  list.push(std::move(bl));
  seq.set("pretokenizers", std::move(list));
  return seq;
}

Value addedToken(int id, const std::string &content, bool special,
                 bool lstrip = false, bool rstrip = false,
                 bool singleWord = false) {
  Value a = Value::object();
  a.set("id", id);
  a.set("content", content);
  a.set("single_word", singleWord);
  a.set("lstrip", lstrip);
  a.set("rstrip", rstrip);
  a.set("normalized", !special);
  a.set("special", special);
  return a;
}

std::string makeJson(const Spec &s) {
  Value vocab = Value::object();
  int id = 0;
  for (int b = 0; b < 256; ++b)
    vocab.set(byteChar(b), id++);
  for (const std::string &t : s.extraTokens)
    vocab.set(bl(t), id++);
  Value merges = Value::array();
  for (const auto &[a, b] : s.merges) {
    if (vocab.find(bl(a + b)) == nullptr)
      vocab.set(bl(a + b), id++);
    if (s.mergesAsPairs) {
      Value pair = Value::array();
      pair.push(bl(a));
      pair.push(bl(b));
      merges.push(std::move(pair));
    } else {
      merges.push(bl(a) + " " + bl(b));
    }
  }
  Value model = Value::object();
  model.set("type", "BPE");
  model.set("dropout", nullptr);
  model.set("unk_token", nullptr);
  model.set("fuse_unk", false);
  model.set("byte_fallback", false);
  model.set("ignore_merges", s.ignoreMerges);
  model.set("vocab", std::move(vocab));
  model.set("merges", std::move(merges));
  Value root = Value::object();
  root.set("version", "1.0");
  root.set("added_tokens", s.added);
  root.set("normalizer", nullptr);
  root.set("pre_tokenizer",
           s.preTokenizer.isNull() ? gpt2PreTokenizer() : s.preTokenizer);
  root.set("post_processor", nullptr);
  Value dec = Value::object();
  dec.set("type", "ByteLevel");
  root.set("decoder", std::move(dec));
  root.set("model", std::move(model));
  return json::serialize(root, 1);
}

Tokenizer load(const Spec &s) {
  Expected<Tokenizer> t = Tokenizer::fromHfJson(makeJson(s), "tok.json");
  EXPECT_TRUE(t.isOk()) << t.status().message();
  return t.take();
}

/// The raw text of each token of an encoding.
std::vector<std::string> pieces(const Tokenizer &t, std::string_view text,
                                EncodeOptions opt = {}) {
  Expected<std::vector<int32_t>> ids = t.encode(text, opt);
  EXPECT_TRUE(ids.isOk()) << ids.status().message();
  std::vector<std::string> out;
  if (ids)
    for (int32_t id : *ids)
      out.push_back(t.tokenBytes(id));
  return out;
}

using Pieces = std::vector<std::string>;

Spec helloSpec() {
  Spec s;
  s.merges = {{" ", "t"}, {"h", "e"}, {" t", "he"}, {"l", "l"}, {"ll", "o"}};
  return s;
}

TEST(Tokenizer, BpeMergesByRank) {
  Tokenizer t = load(helloSpec());
  EXPECT_EQ(pieces(t, " the hello"), (Pieces{" the", " ", "he", "llo"}));
  // Equal pairs: the leftmost merges first.
  EXPECT_EQ(pieces(t, "lll"), (Pieces{"ll", "l"}));
  EXPECT_EQ(pieces(t, "llll"), (Pieces{"ll", "ll"}));
  EXPECT_EQ(pieces(t, "the"), (Pieces{"t", "he"}));
  EXPECT_EQ(pieces(t, ""), Pieces{});
}

TEST(Tokenizer, MergesAsPairsEncodeTheSame) {
  Spec a = helloSpec();
  Spec b = helloSpec();
  b.mergesAsPairs = true;
  Tokenizer ta = load(a), tb = load(b);
  for (const char *s : {" the hello", "hello there", "shell lll"})
    EXPECT_EQ(*ta.encode(s), *tb.encode(s)) << s;
}

TEST(Tokenizer, IgnoreMerges) {
  Spec s = helloSpec();
  s.extraTokens = {" hello"};
  EXPECT_EQ(pieces(load(s), " hello"), (Pieces{" ", "he", "llo"}));
  s.ignoreMerges = true;
  EXPECT_EQ(pieces(load(s), " hello"), (Pieces{" hello"}));
}

TEST(Tokenizer, Gpt2RegexPieces) {
  // With every expected piece in the vocabulary and ignore_merges, each
  // pre-token comes back as one token: this shows the regex split.
  Spec s;
  s.ignoreMerges = true;
  s.extraTokens = {"Hello", "'s",    " world", "!!",
                   " 123",  " \n  ", " x",     "\xC3\xA9t\xC3\xA9"};
  Tokenizer t = load(s);
  // \s+(?!\S) leaves the last space to go with the word.
  EXPECT_EQ(pieces(t, "Hello's world!! 123 \n   x"),
            (Pieces{"Hello", "'s", " world", "!!", " 123", " \n  ", " x"}));
  EXPECT_EQ(pieces(t, "\xC3\xA9t\xC3\xA9"), (Pieces{"\xC3\xA9t\xC3\xA9"}));
}

TEST(Tokenizer, Llama3RegexPieces) {
  Spec s;
  s.ignoreMerges = true;
  s.preTokenizer = splitPreTokenizer(
      "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
      "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+");
  s.extraTokens = {"I", "'M", "123", "45", " ok", "!!\n\n", " x", "\tz"};
  Tokenizer t = load(s);
  EXPECT_EQ(
      pieces(t, "I'M 12345 ok!!\n\n x\tz"),
      (Pieces{"I", "'M", " ", "123", "45", " ok", "!!\n\n", " x", "\tz"}));
}

TEST(Tokenizer, AddedAndSpecialTokens) {
  Spec s = helloSpec();
  s.added.push(addedToken(400, "<|end|>", true));
  s.added.push(addedToken(401, "<|end|>x", true)); // longest match wins
  s.added.push(addedToken(402, "[L]", false, /*lstrip=*/true));
  s.added.push(addedToken(403, "[R]", false, false, /*rstrip=*/true));
  s.added.push(addedToken(404, "ab", false, false, false, /*single=*/true));
  Tokenizer t = load(s);
  Expected<std::vector<int32_t>> ids = t.encode("he<|end|>he");
  ASSERT_TRUE(ids.isOk());
  ASSERT_EQ(ids->size(), 3u);
  EXPECT_EQ((*ids)[1], 400);
  EXPECT_TRUE(t.isSpecial(400));
  EXPECT_FALSE(t.isSpecial(402));
  EXPECT_EQ((*t.encode("<|end|>x"))[0], 401);
  // Not parsed as special: plain bytes.
  EncodeOptions plain;
  plain.parseSpecialTokens = false;
  EXPECT_EQ(t.encode("<|end|>", plain)->size(), 7u);
  // lstrip swallows the spaces before, rstrip those after.
  Expected<Encoding> l = t.encodeWithOffsets("he  [L]he");
  ASSERT_EQ(l->ids, (std::vector<int32_t>{*t.tokenToId("he"), 402,
                                          *t.tokenToId("he")}));
  EXPECT_EQ(l->offsets[1], (std::pair<uint32_t, uint32_t>(2, 7)));
  Expected<Encoding> r = t.encodeWithOffsets("he[R]  he");
  ASSERT_EQ(r->ids, (std::vector<int32_t>{*t.tokenToId("he"), 403,
                                          *t.tokenToId("he")}));
  EXPECT_EQ(r->offsets[1], (std::pair<uint32_t, uint32_t>(2, 7)));
  // single_word: only when not inside a word.
  EXPECT_EQ(*t.encode("ab"), (std::vector<int32_t>{404}));
  EXPECT_EQ(t.encode("cab")->size(), 3u);
  // Decoding, with and without specials.
  std::vector<int32_t> e = *t.encode("he<|end|> hello");
  EXPECT_EQ(*t.decode(e), "he<|end|> hello");
  EXPECT_EQ(*t.decode(e, /*skipSpecialTokens=*/true), "he hello");
  EXPECT_EQ(t.tokenToId("<|end|>").value_or(-1), 400);
  EXPECT_EQ(t.idToToken(400), "<|end|>");
}

TEST(Tokenizer, OffsetsCoverTheInput) {
  Tokenizer t = load(helloSpec());
  Expected<Encoding> e = t.encodeWithOffsets(" the hello");
  ASSERT_TRUE(e.isOk());
  std::vector<std::pair<uint32_t, uint32_t>> want = {
      {0, 4}, {4, 5}, {5, 7}, {7, 10}};
  EXPECT_EQ(e->offsets, want);
}

TEST(Tokenizer, DecodeRoundTripAndLossyBytes) {
  Tokenizer t = load(helloSpec());
  for (const char *s : {"", "hello \xF0\x9F\x98\x80 w\xC3\xB6rld\n\t", " \r\n",
                        "\xE4\xB8\xAD\xE6\x96\x87"}) {
    Expected<std::vector<int32_t>> ids = t.encode(s);
    ASSERT_TRUE(ids.isOk());
    EXPECT_EQ(*t.decode(*ids), s);
  }
  // A lone continuation byte decodes to U+FFFD.
  int32_t id = *t.tokenToId(byteChar(0x80));
  EXPECT_EQ(*t.decode({id}), "\xEF\xBF\xBD");
  EXPECT_EQ(*t.decode({*t.tokenToId("a"), id, *t.tokenToId("b")}),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_FALSE(t.decode({-1}).isOk());
  EXPECT_FALSE(t.decode({100000}).isOk());
  // Invalid UTF-8 input is an error, not a crash.
  Expected<std::vector<int32_t>> bad = t.encode("ab\xFF");
  ASSERT_FALSE(bad.isOk());
  EXPECT_NE(bad.status().message().find("byte 2"), std::string::npos);
}

TEST(Tokenizer, LoaderErrors) {
  auto err = [](const std::string &text) {
    Expected<Tokenizer> t = Tokenizer::fromHfJson(text, "tok.json");
    EXPECT_FALSE(t.isOk()) << text;
    return t ? std::string() : t.status().message();
  };
  EXPECT_NE(err("{").find("tok.json:1:2: error"), std::string::npos);
  EXPECT_NE(err("{}").find("no \"model\""), std::string::npos);
  EXPECT_NE(err(R"({"model": {"type": "WordPiece", "vocab": {}}})")
                .find("'WordPiece' is not supported"),
            std::string::npos);
  EXPECT_NE(err(R"({"model": {"type": "BPE", "vocab": {"a": -1}}})")
                .find("vocab id of 'a'"),
            std::string::npos);
  EXPECT_NE(err(R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1},
                     "merges": ["a b"]}})")
                .find("merge 0 uses 'ab'"),
            std::string::npos);
  EXPECT_NE(err(R"({"model": {"type": "BPE", "vocab": {"a": 0},
                     "merges": ["a  a"]}})")
                .find("separated by one space"),
            std::string::npos);
  EXPECT_NE(
      err(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [3]}})")
          .find("a merge must be"),
      std::string::npos);
  EXPECT_NE(err(R"({"model": {"type": "BPE", "vocab": {"a": 0}},
                     "pre_tokenizer": {"type": "Split", "pattern":
                     {"Regex": "(unclosed"}, "behavior": "Isolated"}})")
                .find("does not compile"),
            std::string::npos);
  EXPECT_NE(err(R"({"model": {"type": "BPE", "vocab": {"a": 0}},
                     "pre_tokenizer": {"type": "Metaspace"}})")
                .find("'Metaspace' is not supported"),
            std::string::npos);
  EXPECT_NE(err(R"({"model": {"type": "BPE", "vocab": {"a": 0}},
                     "added_tokens": [{"id": 1}]})")
                .find("content"),
            std::string::npos);
  EXPECT_NE(err(R"({"model": {"type": "BPE", "vocab": {"a": 0},
                     "unk_token": "<unk>"}})")
                .find("unk_token '<unk>' is not in the vocabulary"),
            std::string::npos);
  EXPECT_FALSE(Tokenizer::loadHfJson("/nonexistent/tokenizer.json").isOk());
}

TEST(Tokenizer, TemplatePostProcessor) {
  Spec s = helloSpec();
  s.added.push(addedToken(400, "<s>", true));
  std::string text = makeJson(s);
  Expected<json::Value> v = json::parse(text);
  ASSERT_TRUE(v.isOk());
  Expected<json::Value> pp = json::parse(R"({"type": "TemplateProcessing",
      "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                 {"Sequence": {"id": "A", "type_id": 0}}],
      "pair": [], "special_tokens": {"<s>": {"id": "<s>", "ids": [400],
      "tokens": ["<s>"]}}})");
  v->set("post_processor", pp.take());
  Expected<Tokenizer> t = Tokenizer::fromHfJson(json::serialize(*v));
  ASSERT_TRUE(t.isOk()) << t.status().message();
  EncodeOptions o;
  o.addSpecialTokens = true;
  std::vector<int32_t> ids = *t->encode("he", o);
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(ids[0], 400);
  EXPECT_EQ(t->encode("he")->size(), 1u);
  // A limit counts the post-processor's ids too.
  o.maxTokens = 1;
  EXPECT_EQ(*t->encode("he", o), (std::vector<int32_t>{400}));
}

TEST(Tokenizer, NfcNormalization) {
  auto nfc = [](const std::string &s) {
    std::string out;
    nfcNormalize(s, out, nullptr);
    return out;
  };
  EXPECT_EQ(nfc("e\xCC\x81"), "\xC3\xA9");                    // e + acute
  EXPECT_EQ(nfc("\xE1\x84\x80\xE1\x85\xA1"), "\xEA\xB0\x80"); // Hangul
  EXPECT_EQ(nfc("a\xCC\xA3\xCC\x82"), "\xE1\xBA\xAD");        // a+dot+circ
  EXPECT_EQ(nfc("a\xCC\x82\xCC\xA3"), "\xE1\xBA\xAD");        // reordered
  EXPECT_EQ(nfc("\xE2\x84\xAB"), "\xC3\x85");                 // Angstrom sign
  // Composition exclusion: U+0958 stays decomposed.
  EXPECT_EQ(nfc("\xE0\xA5\x98"), "\xE0\xA4\x95\xE0\xA4\xBC");
  EXPECT_EQ(nfc("plain ascii"), "plain ascii");
  EXPECT_FALSE(mayNeedNfc("caf\xC3\xA9"));
  EXPECT_TRUE(mayNeedNfc("cafe\xCC\x81"));
  std::vector<std::pair<uint32_t, uint32_t>> map;
  std::string out;
  nfcNormalize("xe\xCC\x81y", out, &map);
  ASSERT_EQ(out, "x\xC3\xA9y");
  EXPECT_EQ(map[1], (std::pair<uint32_t, uint32_t>(1, 4)));
  EXPECT_EQ(map[3], (std::pair<uint32_t, uint32_t>(4, 5)));

  // A tokenizer with an NFC normalizer encodes NFD input like NFC input,
  // with offsets into the original text.
  Spec spec = helloSpec();
  Expected<json::Value> v = json::parse(makeJson(spec));
  Expected<json::Value> norm = json::parse(R"({"type": "NFC"})");
  v->set("normalizer", norm.take());
  Expected<Tokenizer> t = Tokenizer::fromHfJson(json::serialize(*v));
  ASSERT_TRUE(t.isOk()) << t.status().message();
  EXPECT_EQ(*t->encode("caf\xC3\xA9"), *t->encode("cafe\xCC\x81"));
  Expected<Encoding> e = t->encodeWithOffsets("he e\xCC\x81");
  ASSERT_TRUE(e.isOk());
  EXPECT_EQ(e->offsets.back().second, 6u);
}

TEST(Tokenizer, CharacterTokenizer) {
  Expected<Tokenizer> t =
      Tokenizer::character("0123456789+=\xC3\xA9", {"<pad>", "<eos>"});
  ASSERT_TRUE(t.isOk());
  EXPECT_EQ(t->vocabSize(), 15);
  EXPECT_TRUE(t->isCharacterLevel());
  std::vector<int32_t> ids = *t->encode("12+3=15<eos>");
  EXPECT_EQ(ids, (std::vector<int32_t>{3, 4, 12, 5, 13, 3, 7, 1}));
  EXPECT_EQ(*t->decode(ids), "12+3=15<eos>");
  EXPECT_EQ(*t->decode(ids, true), "12+3=15");
  EXPECT_EQ(*t->encode("\xC3\xA9"), (std::vector<int32_t>{14}));
  Expected<std::vector<int32_t>> bad = t->encode("1a");
  ASSERT_FALSE(bad.isOk());
  EXPECT_NE(bad.status().message().find("'a' (U+0061) at byte 1"),
            std::string::npos);
  EXPECT_FALSE(Tokenizer::character("aba").isOk());
  EXPECT_FALSE(Tokenizer::character("").isOk());
  EXPECT_FALSE(Tokenizer::character("a", {"a"}).isOk());
  // check(): the same errors, no ids kept.
  EXPECT_TRUE(t->check("12+3=15<eos>").isOk());
  Status checked = t->check("1a");
  ASSERT_FALSE(checked.isOk());
  EXPECT_EQ(checked.message(), bad.status().message());
}

// Every character gets its own id, ASCII (read from a table) and not
// (from the map) alike, in any order and mixed; a character outside the
// set fails wherever it is, ASCII or not.
TEST(Tokenizer, CharacterTokenizerEveryByte) {
  std::string set;
  for (int c = 0x7e; c >= 0x20; --c) // reversed: ids are not code points
    set += char(c);
  set += "\xC3\xA9\xE2\x82\xAC\t";
  Expected<Tokenizer> t = Tokenizer::character(set, {"<eos>"});
  ASSERT_TRUE(t.isOk());
  std::string text = set + set.substr(0, 10) + "\xE2\x82\xAC" + "~";
  Expected<std::vector<int32_t>> ids = t->encode(text);
  ASSERT_TRUE(ids.isOk());
  std::vector<int32_t> want;
  for (int32_t i = 1; i <= 95; ++i) // "<eos>" is 0
    want.push_back(i);
  want.insert(want.end(), {96, 97, 98});
  for (int32_t i = 1; i <= 10; ++i)
    want.push_back(i);
  want.insert(want.end(), {97, 1});
  EXPECT_EQ(*ids, want);
  EXPECT_EQ(*t->decode(*ids), text);
  Expected<Encoding> e = t->encodeWithOffsets("~\xC3\xA9}");
  ASSERT_TRUE(e.isOk());
  EXPECT_EQ(e->offsets, (std::vector<std::pair<uint32_t, uint32_t>>{
                            {0, 1}, {1, 3}, {3, 4}}));
  EXPECT_FALSE(t->encode("ab\ncd").isOk());     // '\n' is not in the set
  EXPECT_FALSE(t->encode("ab\xC3\xA8").isOk()); // nor U+00E8
}

// EncodeOptions::maxTokens: the first ids of the whole encoding, specials
// included, without reading past them (a character outside the vocabulary
// after the limit is not found; invalid UTF-8 anywhere still is).
TEST(Tokenizer, CharacterTokenizerLimit) {
  Expected<Tokenizer> t = Tokenizer::character("0123456789+=", {"<eos>"});
  ASSERT_TRUE(t.isOk());
  std::string text = "12<eos>+3=15";
  std::vector<int32_t> whole = *t->encode(text);
  for (size_t k = 1; k <= whole.size() + 2; ++k) {
    EncodeOptions o;
    o.maxTokens = k;
    std::vector<int32_t> want(whole.begin(),
                              whole.begin() + std::min(k, whole.size()));
    EXPECT_EQ(*t->encode(text, o), want) << k;
    Expected<Encoding> e = t->encodeWithOffsets(text, o);
    ASSERT_TRUE(e.isOk());
    EXPECT_EQ(e->ids, want);
    EXPECT_EQ(e->offsets.size(), want.size());
    o.keepLast = true;
    std::vector<int32_t> tail(whole.end() - std::min(k, whole.size()),
                              whole.end());
    EXPECT_EQ(*t->encode(text, o), tail) << k;
    e = t->encodeWithOffsets(text, o);
    ASSERT_TRUE(e.isOk());
    EXPECT_EQ(e->ids, tail);
    ASSERT_FALSE(e->offsets.empty());
    EXPECT_EQ(e->offsets.back().second, text.size());
  }
  EncodeOptions two;
  two.maxTokens = 2;
  EXPECT_EQ(*t->encode("12a", two), (std::vector<int32_t>{2, 3}));
  EXPECT_FALSE(t->encode("12a", {}).isOk());
  EXPECT_FALSE(t->encode("12\xFF", two).isOk());
  // A long text costs the limit, not its length: 20 MB to 2 ids. Kept
  // from the end, the whole text is read (its errors found).
  std::string longText(size_t(20) << 20, '7');
  longText.back() = '9';
  EXPECT_EQ(*t->encode(longText, two), (std::vector<int32_t>{8, 8}));
  two.keepLast = true;
  EXPECT_EQ(*t->encode(longText, two), (std::vector<int32_t>{8, 10}));
  EXPECT_FALSE(t->encode("a12", two).isOk());
}

} // namespace

// A pre-tokenizer regex that compiles but backtracks without end on some
// text fails with PCRE2's match limit, naming the pattern's place in
// tokenizer.json (it used to name neither the file nor the pattern; the
// job adds the record's FILE:LINE).
TEST(Tokenizer, PathologicalRegexNamesItsPlace) {
  Expected<Tokenizer> t = Tokenizer::fromHfJson(
      R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": []},
  "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(a+)+$"},
                    "behavior": "Isolated"}})",
      "tok.json");
  ASSERT_TRUE(t.isOk()) << t.status().message();
  EXPECT_TRUE(t->encode("ab").isOk());
  Expected<std::vector<int32_t>> ids = t->encode(std::string(40, 'a') + "b");
  ASSERT_FALSE(ids.isOk());
  EXPECT_NE(ids.status().message().find("pre-tokenizer regex at tok.json:2:"),
            std::string::npos)
      << ids.status().message();
}
