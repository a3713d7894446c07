// Shared by the CUDA backend tests: the fixture that skips without a GPU,
// device buffers, seeded random data and tolerance checks against the CPU
// backend (the reference semantics of every kernel).
#pragma once

#include "kernels/cpu/CpuKernels.h"
#include "kernels/cuda/CudaKernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace hone {
namespace test {

/// Skips (GTEST_SKIP) with the reason when no CUDA device can be used.
class CudaVsCpu : public ::testing::Test {
protected:
  void SetUp() override {
    std::string why;
    gpu_ = makeCudaKernels(0, &why);
    if (!gpu_)
      GTEST_SKIP() << "skipped: " << why;
    cpu_ = makeCpuKernels<float>();
  }
  Kernels<float> &gpu() { return *gpu_; }
  Kernels<float> &cpu() { return *cpu_; }
  std::unique_ptr<Kernels<float>> gpu_, cpu_;
};

/// A device copy of a host vector on backend k (any element type).
template <typename E> class Dev {
public:
  Dev(Kernels<float> &k, const std::vector<E> &h) : k_(&k), n_(h.size()) {
    p_ = static_cast<E *>(k.allocBytes(std::max<size_t>(n_, 1) * sizeof(E)));
    if (n_)
      k.copyToDevice(p_, h.data(), n_ * sizeof(E));
  }
  Dev(Kernels<float> &k, size_t n) : k_(&k), n_(n) {
    p_ = static_cast<E *>(k.allocBytes(std::max<size_t>(n_, 1) * sizeof(E)));
  }
  Dev(const Dev &) = delete;
  Dev &operator=(const Dev &) = delete;
  ~Dev() { k_->freeBytes(p_); }
  E *get() const { return p_; }
  std::vector<E> host() const {
    std::vector<E> h(n_);
    if (n_)
      k_->copyToHost(h.data(), p_, n_ * sizeof(E));
    return h;
  }

private:
  Kernels<float> *k_;
  E *p_ = nullptr;
  size_t n_;
};

inline std::vector<float> randn(size_t n, uint64_t seed, float scale = 1.f) {
  std::mt19937_64 g(seed);
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v(n);
  for (float &x : v)
    x = d(g);
  return v;
}
inline std::vector<float> randu(size_t n, uint64_t seed, float lo, float hi) {
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float &x : v)
    x = d(g);
  return v;
}
inline std::vector<int32_t> randInts(size_t n, uint64_t seed, int32_t lo,
                                     int32_t hi) {
  std::mt19937_64 g(seed);
  std::uniform_int_distribution<int32_t> d(lo, hi);
  std::vector<int32_t> v(n);
  for (int32_t &x : v)
    x = d(g);
  return v;
}

/// |gpu - cpu| <= atol + rtol * |cpu| element-wise; reports the worst one.
inline ::testing::AssertionResult allClose(const std::vector<float> &gpu,
                                        const std::vector<float> &cpu,
                                        double atol, double rtol) {
  if (gpu.size() != cpu.size())
    return ::testing::AssertionFailure()
           << "sizes differ: " << gpu.size() << " vs " << cpu.size();
  double worst = 0;
  size_t at = 0;
  bool bad = false;
  for (size_t i = 0; i < gpu.size(); ++i) {
    double a = gpu[i], b = cpu[i];
    double excess = std::abs(a - b) - (atol + rtol * std::abs(b));
    if (std::isnan(a) != std::isnan(b) || excess > 0) {
      if (!bad || excess > worst || std::isnan(a) || std::isnan(b)) {
        worst = std::isnan(excess) ? 1e300 : excess;
        at = i;
      }
      bad = true;
    }
  }
  if (!bad)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "element " << at << ": gpu " << gpu[at] << " cpu " << cpu[at]
         << " (|diff| " << std::abs(double(gpu[at]) - double(cpu[at]))
         << ", atol " << atol << ", rtol " << rtol << ")";
}

inline double maxAbs(const std::vector<float> &v) {
  double m = 0;
  for (float x : v)
    m = std::max(m, double(std::abs(x)));
  return m;
}

} // namespace test
} // namespace hone
