// runtime/base/Regex.h: the one PCRE2 wrapper (UTF-8, Unicode properties).
#include "runtime/base/Regex.h"

#include <gtest/gtest.h>

using namespace hone;

TEST(Regex, CompileErrorsHavePcre2sMessageAndOffset) {
  size_t off = 0;
  auto re = Regex::compile("ab(c", false, &off);
  ASSERT_FALSE(re.isOk());
  EXPECT_NE(re.status().message().find("missing closing parenthesis"),
            std::string::npos)
      << re.status().message();
  EXPECT_EQ(off, 4u);
  EXPECT_FALSE(Regex::compile("\\p{NoSuchProperty}").isOk());
}

TEST(Regex, FindsUnicodeMatchesByByteOffset) {
  for (bool jit : {false, true}) {
    auto re = Regex::compile("\\p{L}+", jit);
    ASSERT_TRUE(re.isOk());
    std::string text = "12 h\xC3\xA9llo!";
    auto m = re->find(text);
    ASSERT_TRUE(m.isOk());
    ASSERT_TRUE(m->has_value());
    EXPECT_EQ((*m)->begin, 3u);
    EXPECT_EQ((*m)->end, 9u); // é is two bytes
    EXPECT_EQ((*m)->groupBegin, 3u);
    auto none = re->find(text, 9);
    ASSERT_TRUE(none.isOk());
    EXPECT_FALSE(none->has_value());
  }
}

TEST(Regex, WholeMatchAndGroupOne) {
  auto digits = Regex::compile("\\d+");
  ASSERT_TRUE(digits.isOk());
  EXPECT_TRUE(digits->find("123", 0, /*whole=*/true)->has_value());
  EXPECT_FALSE(digits->find("123a", 0, /*whole=*/true)->has_value());
  EXPECT_TRUE(digits->find("a123", 0, /*whole=*/false)->has_value());
  auto answer = Regex::compile("answer: (\\d+)");
  ASSERT_TRUE(answer.isOk());
  std::string text = "so answer: 42.";
  auto m = answer->find(text);
  ASSERT_TRUE(m.isOk() && m->has_value());
  EXPECT_EQ(text.substr((*m)->groupBegin, (*m)->groupEnd - (*m)->groupBegin),
            "42");
  EXPECT_EQ((*m)->begin, 3u);
}

TEST(Regex, InvalidUtf8TextIsAnError) {
  auto re = Regex::compile("a");
  ASSERT_TRUE(re.isOk());
  auto m = re->find("\xC3(a");
  EXPECT_FALSE(m.isOk());
  EXPECT_FALSE(m.status().message().empty());
}

TEST(Regex, GroupOneOfAPatternWithManyGroups) {
  // More groups than the reused match data's 64 pairs: group 1 still counts.
  std::string pattern = "a(x)";
  for (int i = 0; i < 70; ++i)
    pattern += "(y?)";
  auto re = Regex::compile(pattern);
  ASSERT_TRUE(re.isOk()) << re.status().message();
  auto m = re->find("ax");
  ASSERT_TRUE(m.isOk() && m->has_value());
  EXPECT_EQ((*m)->groupBegin, 1u);
  EXPECT_EQ((*m)->groupEnd, 2u);
}
