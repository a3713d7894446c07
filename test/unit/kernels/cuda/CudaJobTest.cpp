// Device selection of the job driver with the CUDA backend linked:
// --device cuda opens the CUDA backend or fails with one line saying why;
// --device auto stays on the CPU until checkpoints handle device memory.
#include "kernels/backend/Backend.h"
#include "runtime/job/Driver.h"
#include "test/unit/TempDir.h"

#include "kernels/cuda/CudaKernels.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <unistd.h>

using namespace hone;
using namespace hone::job;

namespace {
/// A run directory that does not exist yet (the job makes it).
std::string runDir(const std::string &name) {
  return hone::test::makeTempDir("cuda-job-" + name) + "/run";
}
} // namespace

TEST(CudaJob, DeviceCudaOpensTheBackendOrSaysWhyNot) {
  ASSERT_TRUE(haveCudaBackend());
  JobArgs a;
  a.device = "cuda";
  a.outDir = runDir("cuda");
  auto j = Job::open(a, {});
  if (cudaDeviceAvailable()) {
    ASSERT_TRUE(j.isOk()) << j.status().toString();
    EXPECT_EQ((*j)->kernels().device(), Device::CUDA);
  } else {
    ASSERT_FALSE(j.isOk());
    const std::string m = j.status().message();
    EXPECT_EQ(m.rfind("error: --device cuda: no CUDA device", 0), 0u) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
  std::system(("rm -rf '" + a.outDir + "'").c_str());
}

TEST(CudaJob, DeviceAutoStaysOnTheCpu) {
  JobArgs a;
  a.device = "auto";
  a.outDir = runDir("auto");
  auto j = Job::open(a, {});
  ASSERT_TRUE(j.isOk()) << j.status().toString();
  EXPECT_EQ((*j)->kernels().device(), Device::CPU);
  std::system(("rm -rf '" + a.outDir + "'").c_str());
}
