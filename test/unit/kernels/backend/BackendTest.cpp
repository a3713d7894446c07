// kernels/backend: the CPU backend is always there, the CUDA backend only in
// builds that have it, and any other device is a one-line error with a hint.
#include "kernels/backend/Backend.h"

#include <gtest/gtest.h>

using namespace hone;

TEST(Backend, CpuIsAlwaysThere) {
  auto k = makeKernels("cpu");
  ASSERT_TRUE(k.isOk()) << k.status().toString();
  EXPECT_NE(k->get(), nullptr);
}

TEST(Backend, UnknownDeviceIsAnErrorWithAHint) {
  for (const char *d : {"", "gpu", "CPU", "cuda:0"}) {
    auto k = makeKernels(d);
    ASSERT_FALSE(k.isOk()) << d;
    EXPECT_NE(k.status().message().find("unknown device"), std::string::npos)
        << k.status().message();
    EXPECT_EQ(k.status().message().find('\n'), std::string::npos);
    EXPECT_FALSE(k.status().hint().empty());
  }
}

TEST(Backend, CudaWithoutTheBackendSaysSo) {
  if (haveCudaBackend())
    GTEST_SKIP() << "built with the CUDA backend";
  auto k = makeKernels("cuda");
  ASSERT_FALSE(k.isOk());
  EXPECT_NE(k.status().message().find("without the CUDA backend"),
            std::string::npos)
      << k.status().message();
}
