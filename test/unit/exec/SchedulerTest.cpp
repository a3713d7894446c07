// Scheduler: lane order, cross-lane events, a pipelined producer/consumer
// over double buffers with random sleeps, error propagation without
// deadlock, deadlock detection, and a random-DAG stress test (run under
// -fsanitize=thread too, see docs/runtime.md).
#include "runtime/exec/Scheduler.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <chrono>
#include <random>
#include <stdexcept>
#include <thread>

using namespace hone;
using namespace hone::exec;

namespace {

void sleepUs(int us) {
  if (us > 0)
    std::this_thread::sleep_for(std::chrono::microseconds(us));
}

} // namespace

TEST(Scheduler, LaneRunsTasksInSubmissionOrder) {
  Scheduler s;
  std::vector<int> seen; // only touched by the learn lane, read after drain
  for (int i = 0; i < 200; ++i)
    s.enqueue(Lane::Learn, "t" + std::to_string(i), [&seen, i] {
      sleepUs(i % 7 == 0 ? 50 : 0);
      seen.push_back(i);
      return Status::ok();
    });
  ASSERT_TRUE(s.drain().isOk());
  ASSERT_EQ(seen.size(), 200u);
  for (int i = 0; i < 200; ++i)
    EXPECT_EQ(seen[i], i);
}

TEST(Scheduler, EventsOrderTasksAcrossLanes) {
  Scheduler s;
  Event produced = s.createEvent("produced");
  Event copied = s.createEvent("copied");
  int a = 0, b = 0, c = 0;
  // Enqueue the consumers first: they must still run after the producers.
  s.enqueue(
      Lane::Learn, "consume",
      [&] {
        c = b * 10;
        return Status::ok();
      },
      {{copied, 1}});
  s.enqueue(
      Lane::Copy, "copy",
      [&] {
        b = a + 1;
        return Status::ok();
      },
      {{produced, 1}}, {copied, 1});
  s.enqueue(
      Lane::Rollout, "produce",
      [&] {
        sleepUs(2000);
        a = 41;
        return Status::ok();
      },
      {}, {produced, 1});
  ASSERT_TRUE(s.drain().isOk());
  EXPECT_EQ(c, 420);
  EXPECT_EQ(s.value(produced), 1u);
  EXPECT_EQ(s.value(copied), 1u);

  std::vector<TraceEntry> t = s.trace();
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].name, "produce");
  EXPECT_EQ(t[1].name, "copy");
  EXPECT_EQ(t[2].name, "consume");
  EXPECT_LE(t[0].endNs, t[1].startNs);
  EXPECT_LE(t[1].endNs, t[2].startNs);
  EXPECT_EQ(t[2].lane, Lane::Learn);
  EXPECT_STREQ(laneName(t[2].lane), "learn");
}

// Step k: rollout fills buffer k%2 (waits until the learner has consumed
// step k-2 from it), copy moves it to the learner's buffer, the learner
// folds it into the weights and comm syncs them to the rollout copy. Random sleeps shuffle the interleaving; the result must
// equal the serial computation every time.
static std::vector<double> runPipeline(int steps, unsigned seed,
                                       std::vector<TraceEntry> *trace) {
  constexpr int N = 64;
  std::vector<double> rollBuf[2] = {std::vector<double>(N),
                                    std::vector<double>(N)};
  std::vector<double> learnBuf[2] = {std::vector<double>(N),
                                     std::vector<double>(N)};
  std::vector<double> weights(N, 1.0);
  std::vector<double> rolloutWeights(N, 1.0); // behaviour policy copy
  std::vector<double> history;

  std::mt19937 rng(seed);
  std::vector<int> sleeps(steps * 4);
  for (int &x : sleeps)
    x = static_cast<int>(rng() % 300);

  Scheduler s;
  Event filled = s.createEvent("filled");     // step k rollout done: k+1
  Event staged = s.createEvent("staged");     // step k copied: k+1
  Event consumed = s.createEvent("consumed"); // step k learned: k+1
  Event synced = s.createEvent("synced");     // weights of step k: k+1
  for (int k = 0; k < steps; ++k) {
    int slot = k % 2;
    // Rollout k uses weights after step k-2 (staleness 1) and buffer slot,
    // free once the copy of step k-2 is done.
    std::vector<EventValue> rollWaits;
    if (k >= 2) {
      rollWaits.push_back({staged, uint64_t(k - 1)});
      rollWaits.push_back({synced, uint64_t(k - 1)});
    }
    s.enqueue(
        Lane::Rollout, "rollout",
        [&, k, slot] {
          sleepUs(sleeps[k * 4]);
          for (int i = 0; i < N; ++i)
            rollBuf[slot][i] = rolloutWeights[i] * (k + 1) + i * 0.5;
          return Status::ok();
        },
        rollWaits, {filled, uint64_t(k + 1)});
    std::vector<EventValue> copyWaits = {{filled, uint64_t(k + 1)}};
    if (k >= 2)
      copyWaits.push_back({consumed, uint64_t(k - 1)});
    s.enqueue(
        Lane::Copy, "copy",
        [&, k, slot] {
          sleepUs(sleeps[k * 4 + 1]);
          learnBuf[slot] = rollBuf[slot];
          return Status::ok();
        },
        copyWaits, {staged, uint64_t(k + 1)});
    // Learn k overwrites weights: sync k-1 must have copied them first.
    std::vector<EventValue> learnWaits = {{staged, uint64_t(k + 1)}};
    if (k >= 1)
      learnWaits.push_back({synced, uint64_t(k)});
    s.enqueue(
        Lane::Learn, "learn",
        [&, k, slot] {
          sleepUs(sleeps[k * 4 + 2]);
          double sum = 0;
          for (int i = 0; i < N; ++i) {
            weights[i] = weights[i] * 0.999 + learnBuf[slot][i] * 1e-3;
            sum += weights[i];
          }
          history.push_back(sum);
          return Status::ok();
        },
        learnWaits, {consumed, uint64_t(k + 1)});
    // Weight sync after learn k, before rollout k+2 reads rolloutWeights.
    // Rollout k+1 may still be reading them, so wait for it to finish.
    std::vector<EventValue> syncWaits = {{consumed, uint64_t(k + 1)}};
    if (k + 1 < steps)
      syncWaits.push_back({filled, uint64_t(k + 2)});
    s.enqueue(
        Lane::Comm, "sync",
        [&, k] {
          sleepUs(sleeps[k * 4 + 3]);
          rolloutWeights = weights;
          return Status::ok();
        },
        syncWaits, {synced, uint64_t(k + 1)});
  }
  Status st = s.drain();
  EXPECT_TRUE(st.isOk()) << st.message();
  if (trace)
    *trace = s.trace();
  return history;
}

TEST(Scheduler, PipelinedDoubleBuffersAreDeterministic) {
  constexpr int kSteps = 150;
  // Serial reference: the same schedule with no sleeps, computed directly.
  std::vector<double> ref;
  {
    constexpr int N = 64;
    std::vector<double> w(N, 1.0), rw(N, 1.0), prevW[2];
    std::vector<std::vector<double>> rollouts(kSteps);
    std::vector<std::vector<double>> wAfter(kSteps);
    for (int k = 0; k < kSteps; ++k) {
      const std::vector<double> &behav =
          k >= 2 ? wAfter[k - 2] : std::vector<double>(N, 1.0);
      std::vector<double> buf(N);
      for (int i = 0; i < N; ++i)
        buf[i] = behav[i] * (k + 1) + i * 0.5;
      double sum = 0;
      for (int i = 0; i < N; ++i) {
        w[i] = w[i] * 0.999 + buf[i] * 1e-3;
        sum += w[i];
      }
      wAfter[k] = w;
      ref.push_back(sum);
    }
  }
  std::vector<TraceEntry> trace;
  for (unsigned seed : {1u, 2u, 3u}) {
    std::vector<double> got = runPipeline(kSteps, seed, &trace);
    ASSERT_EQ(got.size(), ref.size());
    for (size_t i = 0; i < ref.size(); ++i)
      ASSERT_EQ(got[i], ref[i]) << "seed " << seed << " step " << i;
  }
  // Four lanes appear in the trace, 4 tasks per step.
  EXPECT_EQ(trace.size(), size_t(kSteps) * 4);
}

TEST(Scheduler, ErrorPropagatesWithoutDeadlock) {
  Scheduler s;
  Event e = s.createEvent("grads");
  std::atomic<int> ran{0}, learned{0};
  for (int k = 0; k < 10; ++k) {
    s.enqueue(
        Lane::Learn, "learn" + std::to_string(k),
        [&, k]() -> Status {
          if (k == 4)
            return Status::error("loss is NaN", "lower the learning rate");
          ++learned;
          return Status::ok();
        },
        {}, {e, uint64_t(k + 1)});
    // Waits on a value the failed task would have signalled.
    s.enqueue(
        Lane::Comm, "allreduce" + std::to_string(k),
        [&] {
          ++ran;
          return Status::ok();
        },
        {{e, uint64_t(k + 1)}});
  }
  Status st = s.drain();
  ASSERT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("task 'learn4' on lane learn failed: loss is NaN"),
            std::string::npos)
      << st.message();
  EXPECT_EQ(st.hint(), "lower the learning rate");
  // learn0-3 ran; allreduce0-3 may or may not have started before the
  // failure (those that had not are dropped); nothing after step 4 ran.
  EXPECT_EQ(learned.load(), 4);
  EXPECT_LE(ran.load(), 4);
  // The scheduler is usable again.
  int x = 0;
  s.enqueue(Lane::Copy, "after", [&] {
    x = 1;
    return Status::ok();
  });
  EXPECT_TRUE(s.drain().isOk());
  EXPECT_EQ(x, 1);
}

TEST(Scheduler, ExceptionBecomesStatus) {
  Scheduler s;
  s.enqueue(Lane::Rollout, "boom", []() -> Status {
    throw std::runtime_error("out of memory");
  });
  Status st = s.drain();
  ASSERT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("boom"), std::string::npos);
  EXPECT_NE(st.message().find("out of memory"), std::string::npos);
}

TEST(Scheduler, HostWaitReturnsErrorOfFailedTask) {
  Scheduler s;
  Event e = s.createEvent("done");
  s.enqueue(
      Lane::Learn, "fails", [] { return Status::error("bad"); }, {}, {e, 1});
  Status w = s.wait({e, 1});
  EXPECT_FALSE(w.isOk());
  EXPECT_FALSE(s.drain().isOk());
}

TEST(Scheduler, DeadlockIsReportedNotHung) {
  Scheduler s;
  Event never = s.createEvent("never");
  s.enqueue(
      Lane::Learn, "stuck", [] { return Status::ok(); }, {{never, 3}});
  Status st = s.drain();
  ASSERT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("deadlock"), std::string::npos);
  EXPECT_NE(st.message().find("'stuck'"), std::string::npos);
  EXPECT_NE(st.message().find("'never'"), std::string::npos);
  // A host wait that nothing can satisfy also returns.
  EXPECT_FALSE(s.wait({never, 1}).isOk());
}

TEST(Scheduler, HostSignalAndWait) {
  Scheduler s;
  Event in = s.createEvent("in"), out = s.createEvent("out");
  int v = 0;
  s.enqueue(
      Lane::Rollout, "t",
      [&] {
        v += 5;
        return Status::ok();
      },
      {{in, 1}}, {out, 1});
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  EXPECT_EQ(s.value(out), 0u);
  s.signal({in, 1});
  ASSERT_TRUE(s.wait({out, 1}).isOk());
  EXPECT_EQ(v, 5);
  EXPECT_TRUE(s.drain().isOk());
}

// Random DAG: task i on a random lane signals its own event and waits for
// up to three earlier tasks. Each task reads its dependencies' outputs (plain
// ints, ordered only by events: a missing edge is a data race TSan reports)
// and must see them written.
TEST(Scheduler, RandomDagStress) {
  for (unsigned seed = 0; seed < 4; ++seed) {
    std::mt19937 rng(seed);
    constexpr int kTasks = 1500;
    Scheduler s;
    std::vector<Event> ev(kTasks);
    std::vector<int64_t> out(kTasks, -1);
    std::vector<std::vector<int>> deps(kTasks);
    std::atomic<int> bad{0};
    for (int i = 0; i < kTasks; ++i) {
      ev[i] = s.createEvent();
      int nd = i == 0 ? 0 : static_cast<int>(rng() % 4);
      for (int d = 0; d < nd; ++d)
        deps[i].push_back(static_cast<int>(rng() % i));
    }
    std::vector<int64_t> expect(kTasks);
    for (int i = 0; i < kTasks; ++i) {
      int64_t v = i;
      for (int d : deps[i])
        v += expect[d] % 1000;
      expect[i] = v;
    }
    for (int i = 0; i < kTasks; ++i) {
      std::vector<EventValue> waits;
      for (int d : deps[i])
        waits.push_back({ev[d], 1});
      Lane lane = static_cast<Lane>(rng() % kNumLanes);
      int spin = static_cast<int>(rng() % 20);
      s.enqueue(
          lane, "t" + std::to_string(i),
          [&, i, spin] {
            int64_t v = i;
            for (int d : deps[i]) {
              if (out[d] < 0)
                ++bad;
              v += out[d] % 1000;
            }
            sleepUs(spin);
            out[i] = v;
            return Status::ok();
          },
          waits, {ev[i], 1});
    }
    ASSERT_TRUE(s.drain().isOk());
    EXPECT_EQ(bad.load(), 0);
    for (int i = 0; i < kTasks; ++i)
      ASSERT_EQ(out[i], expect[i]) << i;
    EXPECT_EQ(s.trace().size(), size_t(kTasks));
  }
}

// A chain that hops lane to lane at every task (each lane's head waits for
// the lane before it), with some links from the host: every hand-off
// depends on waking exactly the lane whose head became ready (a lost
// wake-up hangs, caught by the watchdog).
TEST(Scheduler, ChainAcrossLanesWakesEachNextLane) {
  std::atomic<bool> finished{false};
  std::thread watchdog([&finished] {
    for (int i = 0; i < 1200 && !finished; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (!finished) {
      std::fprintf(stderr, "ChainAcrossLanesWakesEachNextLane: no progress "
                           "in 60 s (a lost wake-up)\n");
      std::abort();
    }
  });
  Scheduler s;
  Event chain = s.createEvent("chain"), host = s.createEvent("host");
  constexpr int kTasks = 4000;
  std::vector<int> order; // written by one task at a time (the chain)
  for (int i = 0; i < kTasks; ++i) {
    std::vector<EventValue> waits{{chain, uint64_t(i)}};
    if (i % 100 == 50)
      waits.push_back({host, uint64_t(i / 100 + 1)});
    s.enqueue(Lane(i % kNumLanes), "link" + std::to_string(i),
              [&order, i] {
                order.push_back(i);
                return Status::ok();
              },
              waits, {chain, uint64_t(i + 1)});
  }
  for (int h = 1; h <= kTasks / 100; ++h) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    s.signal({host, uint64_t(h)});
  }
  ASSERT_TRUE(s.drain().isOk());
  finished = true;
  watchdog.join();
  ASSERT_EQ(order.size(), size_t(kTasks));
  for (int i = 0; i < kTasks; ++i)
    ASSERT_EQ(order[i], i);
}
