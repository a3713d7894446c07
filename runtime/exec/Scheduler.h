// The scheduling runtime on the CPU: lanes are worker threads, events are
// monotone counters.
//
// A lane (rollout, learn, copy, comm) runs its tasks one at a time in
// submission order. A task may wait for events (event value >= v) before it
// starts and signals one event (sets it to a value) after it finishes, so
// one event serves successive steps: step k's producer signals value k and
// step k's consumer waits for value k. Tasks only communicate through the
// buffers that their events order, so results do not depend on how the
// lanes interleave.
//
// Errors: a task returns a Status (a thrown exception is turned into one).
// The first failure stops the scheduler: tasks not yet started are dropped
// (a lane blocked on an event that the failed task would have signalled is
// released, so nothing deadlocks) and drain() returns the error, naming the
// task and lane. drain() also detects a schedule that can never finish
// (every remaining task waits for an event that no queued task signals) and
// returns that as an error instead of hanging. After drain() returns, the
// scheduler is idle and usable again.
//
// Trace: every task that ran is recorded as (lane, name, start, end) in
// nanoseconds since the scheduler was created, for the report's Gantt chart.
#pragma once

#include "runtime/base/Status.h"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace hone::exec {

enum class Lane : uint8_t { Rollout = 0, Learn = 1, Copy = 2, Comm = 3 };
constexpr int kNumLanes = 4;
/// "rollout", "learn", "copy", "comm".
const char *laneName(Lane lane);

/// An event handle (index into the scheduler's event table).
struct Event {
  uint32_t id = UINT32_MAX;
  bool valid() const { return id != UINT32_MAX; }
};

/// "event reaches at least value".
struct EventValue {
  Event event;
  uint64_t value = 1;
};

/// One task that ran.
struct TraceEntry {
  Lane lane = Lane::Rollout;
  std::string name;
  uint64_t startNs = 0, endNs = 0;
  bool ok = true;
};

class Scheduler {
public:
  using Task = std::function<Status()>;

  struct Options {
    /// Record a trace entry for every task.
    bool trace = true;
    /// Keep at most this many trace entries (the oldest are dropped).
    size_t traceLimit = 1 << 20;
  };

  Scheduler();
  explicit Scheduler(Options options);
  /// Drains (ignoring errors) and joins the lane threads.
  ~Scheduler();
  Scheduler(const Scheduler &) = delete;
  Scheduler &operator=(const Scheduler &) = delete;

  /// A new event with value 0. The name appears in error messages.
  Event createEvent(std::string name = {});

  /// Queues `task` on `lane`: it starts after every lane task queued before
  /// it has finished and every wait is satisfied; when it succeeds, `signal`
  /// (if valid) is set to signal.value (events never go backwards: the new
  /// value is max(old, value)). Enqueueing after a failure, before drain(),
  /// drops the task.
  void enqueue(Lane lane, std::string name, Task task,
               std::vector<EventValue> waits = {}, EventValue signal = {});

  /// Host-side signal (e.g. data became ready outside any lane).
  void signal(EventValue ev);
  /// Blocks the host until the event reaches the value; returns the
  /// scheduler's error if a task failed first (the error stays pending for
  /// drain()).
  Status wait(EventValue ev);
  uint64_t value(Event event) const;

  /// Waits until every queued task has run (or was dropped after a failure)
  /// and returns the first error, which is then cleared.
  Status drain();

  /// The trace so far (copy), ordered by start time.
  std::vector<TraceEntry> trace() const;
  void clearTrace();
  /// Nanoseconds since the scheduler was created (the trace's clock).
  uint64_t nowNs() const;

private:
  struct Item {
    std::string name;
    Task task;
    std::vector<EventValue> waits;
    EventValue signal;
  };
  struct EventState {
    std::string name;
    uint64_t value = 0;
  };
  struct LaneState {
    std::deque<Item> queue;
    bool running = false;
    bool sleeping = false; // waiting on cv for its head task
    std::condition_variable cv;
    std::thread thread;
  };

  void workerLoop(int lane);
  bool headReadyLocked(const LaneState &lane) const;
  bool idleLocked() const;
  bool stuckLocked() const;
  std::string describeStuckLocked() const;
  void failLocked(Status status);
  /// Wakes the host and every sleeping lane whose head task can start now
  /// (or every lane after a failure or at stop).
  void notifyLocked();
  std::string eventNameLocked(Event e) const;

  Options options_;
  std::chrono::steady_clock::time_point epoch_;
  mutable std::mutex mu_;
  /// The host's waits (wait, drain) and each lane's thread sleep on their
  /// own condition variables, and a change wakes only those it may
  /// concern (notifyLocked): on a 2-core machine every spurious wake-up of
  /// a lane thread is a context switch beside the lanes' OpenMP teams.
  std::condition_variable hostCv_;
  LaneState lanes_[kNumLanes];
  std::vector<EventState> events_;
  std::vector<TraceEntry> trace_;
  Status error_;
  bool failed_ = false;
  bool stop_ = false;
};

} // namespace hone::exec
