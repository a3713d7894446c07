// runtime/base/Utf8.h: the strict decoder against Unicode's Table 3-7 and
// its U+FFFD substitution of maximal subparts (the examples of Unicode 15
// section 3.9 and Rust's String::from_utf8_lossy), and the encoder round
// trip over every scalar value.
#include "runtime/base/Utf8.h"

#include <gtest/gtest.h>

using namespace hone;

namespace {
const std::string kFffd = "\xEF\xBF\xBD";
}

TEST(Utf8, DecodesEveryScalarValueTheEncoderWrites) {
  for (uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF)
      continue;
    std::string s;
    appendUtf8(s, cp);
    uint32_t got = 0;
    ASSERT_EQ(decodeUtf8(s, 0, &got), s.size()) << cp;
    ASSERT_EQ(got, cp);
    size_t n = 0;
    ASSERT_EQ(decodeUtf8At(s, 0, &n), cp);
    ASSERT_EQ(n, s.size());
    ASSERT_EQ(utf8SequenceLength(static_cast<unsigned char>(s[0])), s.size());
  }
}

TEST(Utf8, StrayBytesAreOneByteLong) {
  // Continuation bytes and 0xF8-0xFF start no sequence: the fast reader
  // steps over them one at a time instead of swallowing what follows.
  for (unsigned c = 0x80; c < 0xC0; ++c)
    EXPECT_EQ(utf8SequenceLength(static_cast<unsigned char>(c)), 1u) << c;
  for (unsigned c = 0xF8; c <= 0xFF; ++c)
    EXPECT_EQ(utf8SequenceLength(static_cast<unsigned char>(c)), 1u) << c;
  size_t n = 0;
  EXPECT_EQ(decodeUtf8At("\x80" "abc", 0, &n), 0x80u);
  EXPECT_EQ(n, 1u);
  EXPECT_EQ(decodeUtf8At("\xF0\x9F", 0, &n), 0xF0u); // cut off by the end
  EXPECT_EQ(n, 1u);
}

TEST(Utf8, RejectsSurrogatesOverlongsAndPastTheLastCodePoint) {
  struct Case {
    const char *bytes;
    size_t bad; // the maximal ill-formed subpart
  };
  for (const Case &c :
       {Case{"\xC0\xAF", 1}, Case{"\xC1\xBF", 1}, Case{"\xE0\x80\xAF", 1},
        Case{"\xE0\x9F\xBF", 1}, Case{"\xED\xA0\x80", 1},
        Case{"\xED\xBF\xBF", 1}, Case{"\xF0\x8F\xBF\xBF", 1},
        Case{"\xF4\x90\x80\x80", 1}, Case{"\xF5\x80\x80\x80", 1},
        Case{"\xFF", 1}, Case{"\x80", 1}, Case{"\xE2\x82", 2},
        Case{"\xF0\x9F\x98", 3},
        Case{"\xE2\x82"
             "a",
             2},
        Case{"\xF0\x9F\x98"
             "a",
             3}}) {
    uint32_t cp = 0;
    size_t bad = 0;
    EXPECT_EQ(decodeUtf8(c.bytes, 0, &cp, &bad), 0u) << c.bytes;
    EXPECT_EQ(bad, c.bad) << c.bytes;
    EXPECT_FALSE(isValidUtf8(c.bytes));
  }
  size_t off = 0;
  EXPECT_FALSE(isValidUtf8("abcdefghij\xC3", &off));
  EXPECT_EQ(off, 10u);
  EXPECT_TRUE(isValidUtf8("h\xC3\xA9llo \xF0\x9F\x98\x80"));
}

TEST(Utf8, LossyReplacesMaximalSubparts) {
  // Rust's documentation example.
  EXPECT_EQ(utf8Lossy("Hello \xF0\x90\x80World"), "Hello " + kFffd + "World");
  // Unicode 15, section 3.9, Table 3-8: 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64
  // -> a FFFD FFFD FFFD b FFFD c FFFD FFFD d.
  EXPECT_EQ(utf8Lossy("\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64"),
            "a" + kFffd + kFffd + kFffd + "b" + kFffd + "c" + kFffd + kFffd +
                "d");
  // Surrogates and overlongs: one replacement per byte.
  EXPECT_EQ(utf8Lossy("\xED\xA0\x80"), kFffd + kFffd + kFffd);
  EXPECT_EQ(utf8Lossy("\xC0\xAF"), kFffd + kFffd);
  EXPECT_EQ(utf8Lossy("ok \xE2\x82\xAC"), "ok \xE2\x82\xAC");
}
