// The CPU's policy for large buffers, shared by the CPU backend's allocator
// (kernels/cpu/CpuKernels.cpp) and the job's arena (runtime/job/JobArena.cpp):
// buffers of at least kBigBufferBytes go on transparent huge pages and are
// populated when taken, unless HONE_CPU_HUGEPAGES=off (or 0) asks for plain
// pages (A/B measurements).
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>

#include <sys/mman.h>

namespace hone {

inline constexpr size_t kBigBufferBytes = size_t(4) << 20;
inline constexpr size_t kHugePageBytes = size_t(2) << 20;
#ifdef MADV_POPULATE_WRITE
inline constexpr int kMadvPopulateWrite = MADV_POPULATE_WRITE;
#else
inline constexpr int kMadvPopulateWrite = 23; // Linux 5.14
#endif

/// False when HONE_CPU_HUGEPAGES is "off" or "0" (read once).
inline bool hugePagesOn() {
  static const bool on = [] {
    const char *e = std::getenv("HONE_CPU_HUGEPAGES");
    return !(e && (std::strcmp(e, "off") == 0 || std::strcmp(e, "0") == 0));
  }();
  return on;
}

} // namespace hone
