// The CPU GELU kernels (GPT-2's tanh form; kernels/cpu/MathFns.h geluRowF
// and geluGradRowF) against float64: forward and derivative over a grid
// from -12 to 12, random values and special ones; every value's result the
// same bits whatever its offset in the array, the thread count, in place or
// not, and in decode's fused linear layers (linearRows with gelu) as in the
// separate kernel; the training forward's and backward's dense layers with
// bias, residual and GELU in the GEMM's slices (denseFwd, gemmGeluBwd) bit
// for bit the separate kernels, on sliced and unsliced shapes and 1 or 2
// threads.
#include "kernels/cpu/CpuKernels.h"
#include "test/unit/model/ModelTestUtil.h" // randomVector

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

using namespace hone;
using hone::test::randomVector;

namespace {

/// The float64 reference, written without the cancellation of 1 + tanh(u)
/// near tanh(u) = -1 (where 0.5 v (1 + tanh(u)) in float64 is itself off by
/// up to 100 % below |gelu| ~ 1e-15): s = 0.5 (1 + tanh(u)) = 1 / (1 +
/// exp(-2u)), 1 - s = 1 / (1 + exp(2u)), 1 - tanh(u)^2 = 4 s (1 - s).
struct Ref {
  double y, grad;
  double scale; // |s| + |2 v s (1 - s) u'|: the size of the gradient's terms
  double cond;  // 1 + |2u|: exp(2u)'s relative condition number
};
Ref ref64(double v) {
  const double k = std::sqrt(2.0 / M_PI);
  const double u = k * (v + 0.044715 * v * v * v);
  const double s = 1 / (1 + std::exp(-2 * u)), r = 1 / (1 + std::exp(2 * u));
  const double t2 = 2 * v * s * r * k * (1 + 3 * 0.044715 * v * v);
  return {v * s, s + t2, std::abs(s) + std::abs(t2), 1 + std::abs(2 * u)};
}

/// Inputs: a grid over [-12, 12] (step 1/512), 4099 random values in
/// [-8, 8] and special values; 16395 in all (not a multiple of 8).
std::vector<float> inputs() {
  std::vector<float> x;
  for (int i = -12 * 512; i <= 12 * 512; ++i)
    x.push_back(float(i) / 512.0f);
  std::vector<float> r = randomVector<float>(4099, 11, 0);
  for (float v : r)
    x.push_back(8 * v);
  for (float v : {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-3f, -1e-3f, 20.0f, -20.0f,
                  30.0f, -30.0f, 100.0f, -100.0f})
    x.push_back(v);
  return x;
}

bool sameBits(const std::vector<float> &a, const std::vector<float> &b) {
  return a.size() == b.size() &&
         std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST(GeluKernels, MatchFloat64) {
  auto k = makeCpuKernels<float>();
  const std::vector<float> x = inputs();
  const int64_t n = int64_t(x.size());
  std::vector<float> dy = randomVector<float>(size_t(n), 12, 0);
  std::vector<float> y(x.size()), dx(x.size());
  k->geluFwd(x.data(), y.data(), n);
  k->geluBwd(x.data(), dy.data(), dx.data(), n);
  // Errors relative to the value (the gradient: to the size of its two
  // terms, which cancel where gelu' crosses zero near v = -0.75), per unit
  // of exp(2u)'s condition number (float's rounding of u grows with |u|),
  // with an absolute floor of 1e-30 (gelu(v) < 1e-36 from v = -10 on, where
  // exp(2u) is clamped).
  double worstY = 0, worstG = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[size_t(i)], g = dy[size_t(i)];
    const Ref r = ref64(v);
    const double ey = std::abs(double(y[size_t(i)]) - r.y);
    const double eg = std::abs(double(dx[size_t(i)]) - r.grad * g);
    const double ty = r.cond * std::abs(r.y), tg = r.cond * r.scale * std::abs(g);
    if (ty > 1e-30)
      worstY = std::max(worstY, ey / ty);
    if (tg > 1e-30)
      worstG = std::max(worstG, eg / tg);
    ASSERT_LE(ey, 1e-6 * ty + 1e-30)
        << "gelu(" << v << ") = " << y[size_t(i)] << ", float64 " << r.y;
    ASSERT_LE(eg, 1e-6 * tg + 1e-30) << "gelu'(" << v << ") dy = "
                                     << dx[size_t(i)] << ", float64 "
                                     << r.grad * g;
  }
  std::printf("worst error / (value x condition): forward %.3g, backward %.3g\n", worstY,
              worstG);
}

TEST(GeluKernels, BitsIndependentOfOffsetThreadsAndAliasing) {
  const int before = cpuThreads();
  const std::vector<float> x = inputs();
  const int64_t n = int64_t(x.size());
  const std::vector<float> dy = randomVector<float>(size_t(n), 13, 0);
  std::vector<float> y1, g1;
  for (int t = 1; t <= 2; ++t) {
    setCpuThreads(t);
    auto k = makeCpuKernels<float>();
    std::vector<float> y(x.size()), g(x.size());
    k->geluFwd(x.data(), y.data(), n);
    k->geluBwd(x.data(), dy.data(), g.data(), n);
    if (t == 1) {
      y1 = y;
      g1 = g;
    } else {
      EXPECT_TRUE(sameBits(y, y1)) << "forward, 2 threads vs 1";
      EXPECT_TRUE(sameBits(g, g1)) << "backward, 2 threads vs 1";
    }
    // Offsets that move every value to another lane of the 8-wide code.
    for (int64_t off : {1, 3, 5, 7}) {
      std::vector<float> ys(x.size()), gs(dy);
      std::vector<float> xs(x);
      k->geluFwd(xs.data() + off, xs.data() + off, n - off); // in place
      k->geluBwd(x.data() + off, gs.data() + off, gs.data() + off, n - off);
      std::copy(y1.begin(), y1.begin() + off, xs.begin());
      std::copy(g1.begin(), g1.begin() + off, gs.begin());
      EXPECT_TRUE(sameBits(xs, y1)) << "forward at offset " << off;
      EXPECT_TRUE(sameBits(gs, g1)) << "backward at offset " << off;
    }
  }
  setCpuThreads(before);
}

TEST(GeluKernels, FusedLinearRowsMatchSeparateKernels) {
  auto k = makeCpuKernels<float>();
  // Rows within decode's fused paths: W [in, out] (linearRowsF) and W^T
  // [out, in] at a few rows (linearRowsNT); outputs not a multiple of 8 for
  // the latter.
  for (bool transW : {false, true})
    for (int64_t rows : {1, 3, 37}) {
      const int64_t in = 72, out = transW ? 100 : 96;
      if (transW && rows > 16)
        continue;
      const auto x = randomVector<float>(size_t(rows * in), 21, 0);
      auto W = randomVector<float>(size_t(in * out), 22, 0);
      const auto b = randomVector<float>(size_t(out), 23, 0);
      for (float &w : W)
        w *= 0.5f;
      std::vector<float> fused(size_t(rows * out)), plain(fused.size());
      k->linearRows(x.data(), rows, in, out, W.data(), transW, b.data(),
                    nullptr, true, fused.data());
      k->linearRows(x.data(), rows, in, out, W.data(), transW, b.data(),
                    nullptr, false, plain.data());
      k->geluFwd(plain.data(), plain.data(), rows * out);
      EXPECT_TRUE(sameBits(fused, plain))
          << "rows " << rows << (transW ? " transposed" : "");
    }
}

/// The CPU backend's fused dense layers against Kernels' defaults (the
/// separate kernels: broadcastRows/copy/addRows, gemm, geluFwd/geluBwd) on
/// the same object: same bits. Shapes: slices of rows (>= 256 rows), of
/// columns (fewer rows, enough work) and none (little work).
TEST(GeluKernels, FusedDenseLayersMatchSeparateKernels) {
  const int before = cpuThreads();
  struct Shape {
    int64_t rows, in, out;
  };
  for (int t = 1; t <= 2; ++t) {
    setCpuThreads(t);
    auto k = makeCpuKernels<float>();
    Kernels<float> &base = *k;
    for (Shape sh : {Shape{1100, 64, 256}, Shape{100, 200, 600},
                     Shape{20, 16, 24}})
      for (bool transW : {false, true})
        for (int variant = 0; variant < 4; ++variant) {
          // 0: bias + GELU, 1: residual + bias, 2: residual, 3: neither.
          const int64_t R = sh.rows, I = sh.in, O = sh.out;
          const auto x = randomVector<float>(size_t(R * I), 31, 0);
          const auto W = randomVector<float>(size_t(I * O), 32, 0);
          const auto b = randomVector<float>(size_t(O), 33, 0);
          const auto res = randomVector<float>(size_t(R * O), 34, 0);
          const float *bp = variant <= 1 ? b.data() : nullptr;
          const float *rp = variant == 1 || variant == 2 ? res.data() : nullptr;
          const bool act = variant == 0;
          std::vector<float> pre(size_t(R * O)), y(pre.size());
          std::vector<float> pre0(pre.size()), y0(pre.size());
          k->denseFwd(x.data(), R, I, O, W.data(), transW, bp, rp, pre.data(),
                      act ? y.data() : nullptr);
          base.Kernels<float>::denseFwd(x.data(), R, I, O, W.data(), transW,
                                        bp, rp, pre0.data(),
                                        act ? y0.data() : nullptr);
          const std::string what = std::to_string(R) + "x" +
                                   std::to_string(I) + "->" +
                                   std::to_string(O) + " variant " +
                                   std::to_string(variant) +
                                   (transW ? " W^T" : "") + ", " +
                                   std::to_string(t) + " threads";
          EXPECT_TRUE(sameBits(pre, pre0)) << "pre, " << what;
          if (act) {
            EXPECT_TRUE(sameBits(y, y0)) << "act, " << what;
          }
          // Backward: dPre [R, O] = (dy [R, I'] op(W')) gelu'(pre), with
          // W' [O, I] (transB false) or [I, O] (transB true), k = I.
          const auto dy = randomVector<float>(size_t(R * I), 35, 0);
          std::vector<float> d(pre.size()), d0(pre.size(), 7.0f);
          k->gemmGeluBwd(transW, R, O, I, dy.data(), I, W.data(),
                         transW ? I : O, pre0.data(), d.data());
          base.Kernels<float>::gemmGeluBwd(transW, R, O, I, dy.data(), I,
                                           W.data(), transW ? I : O,
                                           pre0.data(), d0.data());
          EXPECT_TRUE(sameBits(d, d0)) << "backward, " << what;
        }
  }
  setCpuThreads(before);
}

} // namespace

// The kernels' thread count is per thread, as OpenMP's is: a lane thread
// setting its share leaves the others' (runtime/ops/Lanes.cpp).
TEST(CpuThreads, EachThreadKeepsItsOwnCount) {
  const int before = cpuThreads();
  setCpuThreads(2);
  int seen = 0;
  std::thread lane([&] {
    setCpuThreads(1);
    seen = cpuThreads();
  });
  lane.join();
  EXPECT_EQ(seen, 1);
  EXPECT_EQ(cpuThreads(), 2);
  setCpuThreads(before);
}
