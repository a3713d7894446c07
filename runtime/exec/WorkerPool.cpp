#include "runtime/exec/WorkerPool.h"

namespace hone::exec {

WorkerPool::~WorkerPool() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (std::thread &t : threads_)
    t.join();
}

void WorkerPool::run(std::function<void()> f) {
  std::lock_guard<std::mutex> l(mu_);
  tasks_.push_back(std::move(f));
  // Each idle thread takes one task: start one more where the queued tasks
  // outnumber the idle threads.
  if (size_t(idle_) < tasks_.size())
    threads_.emplace_back([this] { loop(); });
  else
    cv_.notify_one();
}

int WorkerPool::threads() const {
  std::lock_guard<std::mutex> l(mu_);
  return int(threads_.size());
}

int WorkerPool::idle() const {
  std::lock_guard<std::mutex> l(mu_);
  return idle_;
}

void WorkerPool::loop() {
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    ++idle_;
    cv_.wait(l, [&] { return stop_ || !tasks_.empty(); });
    --idle_;
    if (tasks_.empty())
      return; // stopped, nothing left to run
    std::function<void()> f = std::move(tasks_.front());
    tasks_.pop_front();
    l.unlock();
    f();
    f = nullptr; // its captures go before the thread counts as idle
    l.lock();
  }
}

} // namespace hone::exec
