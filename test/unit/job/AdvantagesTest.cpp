// Unit tests of runtime/job/Advantages: group, leave-one-out and global
// normalisation, GAE against its direct sum, the KL estimators.
#include "test/unit/job/JobTestUtil.h"

using namespace hone;
using namespace hone::job;
using namespace hone::test;
using namespace hone::toydata;

TEST(Advantages, GroupNormLooGlobal) {
  std::vector<float> r = {1, 0, 0, 1, 1, 1};
  auto g = groupNormalized(r, 3, true, 0.0);
  ASSERT_TRUE(g.isOk());
  // group {1,0,0}: mean 1/3, unbiased std sqrt(1/3)
  EXPECT_NEAR((*g)[0], (2.0 / 3) / std::sqrt(1.0 / 3), 1e-5);
  EXPECT_NEAR((*g)[3], 0.0, 1e-6);
  auto dr = groupNormalized(r, 3, false);
  EXPECT_NEAR((*dr)[1], -1.0 / 3, 1e-6);
  auto loo = leaveOneOut(r, 3);
  EXPECT_NEAR((*loo)[0], 1.0, 1e-6);
  EXPECT_NEAR((*loo)[1], -0.5, 1e-6);
  EXPECT_FALSE(leaveOneOut(r, 1).isOk());
  EXPECT_FALSE(groupNormalized(r, 4, true).isOk());
  auto keep = dapoGroupFilter(r, 3);
  EXPECT_EQ(*keep, (std::vector<uint8_t>{1, 0}));
  auto gb = greedyBaseline({1, 0}, {0.5f, 0.5f});
  EXPECT_EQ(*gb, (std::vector<float>{0.5f, -0.5f}));
  std::vector<float> x = {1, 2, 3, 100}, m = {1, 1, 1, 0};
  ASSERT_TRUE(globalNormalize(x, m).isOk());
  EXPECT_NEAR(x[0] + x[1] + x[2], 0.0, 1e-5);
  EXPECT_EQ(x[3], 0.f);
}

TEST(Advantages, GaeMatchesDirectSum) {
  // one row, response tokens at t = 1..3
  std::vector<float> rew = {0, 0.1f, -0.2f, 1.0f, 0}, val = {0, 0.5f, 0.3f,
                                                             0.2f, 9},
                     mask = {0, 1, 1, 1, 0}, adv, ret;
  double g = 0.9, l = 0.8;
  ASSERT_TRUE(gae(rew, val, mask, 1, 5, g, l, adv, ret).isOk());
  double d3 = 1.0 - 0.2, d2 = -0.2 + g * 0.2 - 0.3, d1 = 0.1 + g * 0.3 - 0.5;
  EXPECT_NEAR(adv[3], d3, 1e-6);
  EXPECT_NEAR(adv[2], d2 + g * l * d3, 1e-6);
  EXPECT_NEAR(adv[1], d1 + g * l * (d2 + g * l * d3), 1e-6);
  EXPECT_NEAR(ret[1], adv[1] + 0.5, 1e-6);
  EXPECT_EQ(adv[4], 0.f);
  std::vector<float> out;
  ASSERT_TRUE(klPenalizedReturns({1.f}, {0, -1, -1, -1, 0}, {0, -2, -1, -1, 0},
                                 mask, 1, 5, 0.5, out)
                  .isOk());
  EXPECT_NEAR(out[1], 1 - 0.5 * 1.0, 1e-6);
  EXPECT_NEAR(out[2], 1.0, 1e-6);
}

TEST(Advantages, KlEstimators) {
  double l = -1.0, lr = -1.5;
  EXPECT_NEAR(klEstimate(KlKind::K1, l, lr), 0.5, 1e-12);
  EXPECT_NEAR(klEstimate(KlKind::K2, l, lr), 0.125, 1e-12);
  EXPECT_NEAR(klEstimate(KlKind::K3, l, lr), std::exp(-0.5) + 0.5 - 1, 1e-12);
  for (KlKind k : {KlKind::K1, KlKind::K2, KlKind::K3}) {
    double h = 1e-6;
    double fd = (klEstimate(k, l + h, lr) - klEstimate(k, l - h, lr)) / (2 * h);
    EXPECT_NEAR(klEstimateGrad(k, l, lr), fd, 1e-6);
  }
  EXPECT_EQ(klEstimate(KlKind::K3, -2, -2), 0.0);
}
