// exec::WorkerPool: threads stay between tasks, a busy pool grows, and
// everything queued runs before the pool goes.
#include "runtime/exec/WorkerPool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <set>
#include <thread>

using namespace hone::exec;

TEST(WorkerPool, TasksOneAfterAnotherReuseOneThread) {
  WorkerPool pool;
  std::set<std::thread::id> ran;
  for (int i = 0; i < 20; ++i) {
    std::promise<std::thread::id> p;
    auto f = p.get_future();
    pool.run([&p] { p.set_value(std::this_thread::get_id()); });
    ran.insert(f.get());
    // The task has set its value; wait until its thread is idle again (a
    // step's stream consumer has finished before the next step's starts).
    for (int spin = 0; spin < 20000 && pool.idle() < pool.threads(); ++spin)
      std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  // A thread per task (as the stream workers were) would give 20 threads.
  EXPECT_EQ(pool.threads(), 1);
  EXPECT_EQ(ran.size(), 1u);
}

TEST(WorkerPool, BusyThreadsDoNotHoldUpTheNextTask) {
  WorkerPool pool;
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  std::atomic<int> started{0};
  // Three tasks that block until released: each needs a thread of its own.
  for (int i = 0; i < 3; ++i)
    pool.run([gate, &started] {
      ++started;
      gate.wait();
    });
  std::promise<void> fourth;
  pool.run([&fourth] { fourth.set_value(); });
  EXPECT_EQ(fourth.get_future().wait_for(std::chrono::seconds(20)),
            std::future_status::ready);
  EXPECT_EQ(pool.threads(), 4);
  release.set_value();
}

TEST(WorkerPool, QueuedTasksRunBeforeThePoolGoes) {
  std::atomic<int> done{0};
  {
    WorkerPool pool;
    for (int i = 0; i < 50; ++i)
      pool.run([&done] {
        std::this_thread::sleep_for(std::chrono::microseconds(100));
        ++done;
      });
  }
  EXPECT_EQ(done.load(), 50);
}
