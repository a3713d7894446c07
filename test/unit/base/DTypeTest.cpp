// bf16 and f16 conversions (runtime/base/DType.h).
#include "runtime/base/DType.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace hone;

TEST(DType, Bf16AndF16RoundTrip) {
  EXPECT_EQ(floatToBf16(1.0f), 0x3f80);
  EXPECT_EQ(bf16ToFloat(0x3f80), 1.0f);
  EXPECT_EQ(floatToBf16(-2.5f), 0xc020);
  // Round to nearest even: 1 + 2^-8 is halfway between bf16 1 and 1+2^-7.
  EXPECT_EQ(floatToBf16(1.0f + 1.0f / 256), 0x3f80);
  EXPECT_TRUE(std::isnan(bf16ToFloat(floatToBf16(NAN))));
  EXPECT_EQ(floatToF16(1.0f), 0x3c00);
  EXPECT_EQ(floatToF16(65504.0f), 0x7bff);
  EXPECT_EQ(floatToF16(70000.0f), 0x7c00);
  EXPECT_EQ(floatToF16(-0.0f), 0x8000);
  EXPECT_EQ(f16ToFloat(0x0001), std::ldexp(1.0f, -24)); // smallest subnormal
  EXPECT_EQ(floatToF16(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(f16ToFloat(0xc000), -2.0f);
  for (uint32_t h = 0; h < 0x7c00; ++h) // every finite positive half
    ASSERT_EQ(floatToF16(f16ToFloat(uint16_t(h))), h) << h;
}
