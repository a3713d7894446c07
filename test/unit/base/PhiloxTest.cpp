// The Philox known-answer vectors and its keyed streams (runtime/base/Philox.h).
#include "runtime/base/Philox.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

using namespace hone;

// Random123's kat_vectors, "philox4x32 10" lines: counter, key -> output.
TEST(Philox, Random123KnownAnswers) {
  struct Kat {
    PhiloxCounter ctr;
    PhiloxKey key;
    PhiloxCounter out;
  } kats[] = {
      {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
      {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
       {0xffffffff, 0xffffffff},
       {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
      {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
       {0xa4093822, 0x299f31d0},
       {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  for (const Kat &k : kats)
    EXPECT_EQ(philox4x32(k.ctr, k.key), k.out);
  // The 7-round variant from the same file.
  EXPECT_EQ(philox4x32({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
                       {0xa4093822, 0x299f31d0}, 7),
            (PhiloxCounter{0x4dfccaba, 0x190a87f0, 0xc47362ba, 0xb6b5242a}));
}

TEST(Philox, StreamsAreKeyedAndPure) {
  PhiloxStream a(42, 3, 1, 7), b(42, 3, 1, 7);
  EXPECT_EQ(a.block(5), b.block(5));
  EXPECT_EQ(a.uniform(9), b.uniform(9)); // pure: same index, same value
  std::set<uint32_t> firsts;
  for (uint32_t s = 0; s < 4; ++s)
    for (uint32_t step = 0; step < 4; ++step)
      firsts.insert(PhiloxStream(42, step, 0, s).block(0)[0]);
  EXPECT_EQ(firsts.size(), 16u);
  EXPECT_NE(PhiloxStream(1, 0, 0, 0).block(0),
            PhiloxStream(2, 0, 0, 0).block(0));
  EXPECT_NE(PhiloxStream(1, 0, 0, 0).block(0),
            PhiloxStream(1, 0, 1, 0).block(0));
  double mean = 0;
  for (uint32_t i = 0; i < 10000; ++i) {
    double u = a.uniform(i);
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    mean += u / 10000;
  }
  EXPECT_NEAR(mean, 0.5, 0.02);
}
