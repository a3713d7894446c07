// Threads that stay: tasks run on an idle thread of the pool, or on a new
// one when every thread is busy (a task may block for as long as it likes
// without holding up the next). The job's stream workers
// (runtime/ops/Streams.cpp) run on one, so that a step's worker keeps its
// OpenMP team and warm stack instead of starting a thread per stream.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace hone::exec {

class WorkerPool {
public:
  WorkerPool() = default;
  WorkerPool(const WorkerPool &) = delete;
  WorkerPool &operator=(const WorkerPool &) = delete;
  /// Runs what was queued, then joins the threads.
  ~WorkerPool();
  /// Runs `f` on an idle thread, or a new one if none is idle.
  void run(std::function<void()> f);
  /// Threads started so far, and those of them waiting for a task.
  int threads() const;
  int idle() const;

private:
  void loop();
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  int idle_ = 0;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

} // namespace hone::exec
