// Tensors and their dtype conversions, and the arena (runtime/core).
#include "runtime/core/Arena.h"
#include "runtime/core/Tensor.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace hone;

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
