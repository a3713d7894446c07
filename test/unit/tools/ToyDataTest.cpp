// tools/hone-toydata: the toy tasks are deterministic in (seed, index),
// their answers are right, and every character is in toyVocabulary().
#include "tools/hone-toydata/ToyData.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

using namespace hone::toydata;

TEST(ToyData, DeterministicAndCorrect) {
  ToyOptions o;
  o.minSize = 3;
  o.maxSize = 5;
  o.seed = 4;
  for (uint64_t i = 0; i < 200; ++i) {
    ToyExample e = toyExample(o, i);
    ToyExample f = toyExample(o, i);
    EXPECT_EQ(e.prompt, f.prompt);
    // parse operands out of the prompt and check the answer
    std::vector<long long> nums;
    long long cur = -1;
    for (char c : e.prompt) {
      if (std::isdigit(static_cast<unsigned char>(c)))
        cur = (cur < 0 ? 0 : cur * 10) + (c - '0');
      else if (cur >= 0) {
        nums.push_back(cur);
        cur = -1;
      }
    }
    if (cur >= 0)
      nums.push_back(cur);
    ASSERT_EQ(nums.size(), 2u) << e.prompt;
    EXPECT_EQ(std::to_string(nums[0] + nums[1]), e.answer) << e.prompt;
    for (char c : e.prompt)
      EXPECT_NE(toyVocabulary().find(c), std::string::npos) << e.prompt;
  }
  o.task = ToyTask::Multiplication;
  EXPECT_EQ(toyExample(o, 1).answer.empty(), false);
  o.task = ToyTask::Sorting;
  ToyExample s = toyExample(o, 2);
  std::string digits;
  for (char c : s.answer)
    if (c != ' ')
      digits += c;
  EXPECT_TRUE(std::is_sorted(digits.begin(), digits.end()));
  o.task = ToyTask::Parity;
  o.workedSteps = true;
  ToyExample p = toyExample(o, 3);
  EXPECT_EQ(p.completion.back(), p.answer[0]);
}
