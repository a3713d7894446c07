// What the model benches share: wall and CPU clocks (seconds, as
// doubles) and passive OpenMP threads.
#pragma once

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <unistd.h>

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

/// Idle OpenMP threads sleep instead of spinning, as Hone's jobs set it: on
/// 2 cores a spinning thread steals the core its partner needs (measured 7x
/// slower generation). libgomp reads OMP_WAIT_POLICY only at start-up, so
/// without it the process re-executes itself with it set.
inline void passiveOmpThreads(char **argv) {
  if (!std::getenv("OMP_WAIT_POLICY")) {
    setenv("OMP_WAIT_POLICY", "passive", 1);
    execv("/proc/self/exe", argv);
  }
}

} // namespace hone::bench
