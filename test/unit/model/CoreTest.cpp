// Tensors, dtype conversions, the arena and the Philox known-answer vectors.
#include "runtime/base/Philox.h"
#include "runtime/core/Arena.h"
#include "runtime/core/Tensor.h"

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

TEST(Tensor, ConvertsStorageTypes) {
  auto t = Tensor::zeros({2, 3}, DType::BF16);
  ASSERT_TRUE(t);
  for (int i = 0; i < 6; ++i)
    static_cast<uint16_t *>(t->raw())[i] = floatToBf16(float(i) - 2.5f);
  auto f = t->toDType(DType::F32);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->shape(), (Shape{2, 3}));
  EXPECT_EQ(f->data<float>()[5], 2.5f);
  auto d = f->toDType(DType::F64);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->data<double>()[0], -2.5);
  auto r = d->reshape({3, 2});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->stride(0), 2);
  EXPECT_FALSE(d->reshape({4, 2}));
  auto n = d->narrow0(1, 2);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->data<double>()[0], 0.5);
  EXPECT_FALSE(d->narrow0(1, 3));
  EXPECT_FALSE(Tensor::zeros({-1}, DType::F32));
}

TEST(Arena, PlannedOffsetsAndPeak) {
  auto a = Arena::create(1024);
  ASSERT_TRUE(a);
  auto t1 = a->at(0, {16}, DType::F32);
  ASSERT_TRUE(t1);
  auto t2 = a->at(512, {64}, DType::F64); // 512 bytes: exactly fits
  ASSERT_TRUE(t2);
  EXPECT_EQ(a->peak(), 1024u);
  EXPECT_FALSE(a->at(576, {64}, DType::F64)); // past the end
  EXPECT_FALSE(a->at(4, {1}, DType::F32));    // misaligned
  auto b = Arena::create(1000);
  ASSERT_TRUE(b);
  auto x = b->allocate({10}, DType::F32);
  ASSERT_TRUE(x);
  size_t m = b->mark();
  EXPECT_EQ(m, 40u);
  auto y = b->allocate({100}, DType::F32);
  ASSERT_TRUE(y);
  EXPECT_EQ(static_cast<char *>(y->raw()) - static_cast<char *>(b->base()), 64);
  EXPECT_EQ(b->peak(), 464u);
  b->release(m);
  EXPECT_EQ(b->used(), 40u);
  EXPECT_EQ(b->peak(), 464u);
  EXPECT_FALSE(b->allocate({1000}, DType::F32));
}
