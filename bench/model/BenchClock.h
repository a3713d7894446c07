// Wall and CPU clocks of the model benches (seconds, as doubles).
#pragma once

#include <chrono>
#include <ctime>

namespace hone::bench {

inline double now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// The whole process's CPU time (all threads).
inline double cpuNow() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

} // namespace hone::bench
