#include "runtime/exec/Scheduler.h"

#include <algorithm>
#include <exception>

namespace hone::exec {

const char *laneName(Lane lane) {
  switch (lane) {
  case Lane::Rollout:
    return "rollout";
  case Lane::Learn:
    return "learn";
  case Lane::Copy:
    return "copy";
  case Lane::Comm:
    return "comm";
  }
  return "?";
}

Scheduler::Scheduler() : Scheduler(Options()) {}

Scheduler::Scheduler(Options options)
    : options_(options), epoch_(std::chrono::steady_clock::now()) {
  for (int i = 0; i < kNumLanes; ++i)
    lanes_[i].thread = std::thread([this, i] { workerLoop(i); });
}

Scheduler::~Scheduler() {
  (void)drain();
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
    notifyLocked();
  }
  for (LaneState &lane : lanes_)
    if (lane.thread.joinable())
      lane.thread.join();
}

uint64_t Scheduler::nowNs() const {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::steady_clock::now() - epoch_)
          .count());
}

Event Scheduler::createEvent(std::string name) {
  std::lock_guard<std::mutex> lk(mu_);
  Event e;
  e.id = static_cast<uint32_t>(events_.size());
  if (name.empty())
    name = "event" + std::to_string(e.id);
  events_.push_back({std::move(name), 0});
  return e;
}

void Scheduler::enqueue(Lane lane, std::string name, Task task,
                        std::vector<EventValue> waits, EventValue signal) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (failed_)
      return;
    for (const EventValue &w : waits)
      if (!w.event.valid() || w.event.id >= events_.size()) {
        failLocked(Status::error("scheduler: error: task '" + name +
                                 "' waits for an unknown event"));
        notifyLocked();
        return;
      }
    if (signal.event.valid() && signal.event.id >= events_.size()) {
      failLocked(Status::error("scheduler: error: task '" + name +
                               "' signals an unknown event"));
      notifyLocked();
      return;
    }
    lanes_[static_cast<int>(lane)].queue.push_back(
        Item{std::move(name), std::move(task), std::move(waits), signal});
    notifyLocked();
  }
}

void Scheduler::signal(EventValue ev) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (!ev.event.valid() || ev.event.id >= events_.size())
      return;
    uint64_t &v = events_[ev.event.id].value;
    v = std::max(v, ev.value);
    notifyLocked();
  }
}

uint64_t Scheduler::value(Event event) const {
  std::lock_guard<std::mutex> lk(mu_);
  if (!event.valid() || event.id >= events_.size())
    return 0;
  return events_[event.id].value;
}

bool Scheduler::headReadyLocked(const LaneState &lane) const {
  if (lane.queue.empty())
    return false;
  for (const EventValue &w : lane.queue.front().waits)
    if (events_[w.event.id].value < w.value)
      return false;
  return true;
}

bool Scheduler::idleLocked() const {
  for (const LaneState &lane : lanes_)
    if (lane.running || !lane.queue.empty())
      return false;
  return true;
}

bool Scheduler::stuckLocked() const {
  bool any = false;
  for (const LaneState &lane : lanes_) {
    if (lane.running)
      return false;
    if (lane.queue.empty())
      continue;
    any = true;
    if (headReadyLocked(lane))
      return false;
  }
  return any;
}

std::string Scheduler::eventNameLocked(Event e) const {
  return e.id < events_.size() ? events_[e.id].name : "?";
}

std::string Scheduler::describeStuckLocked() const {
  for (int i = 0; i < kNumLanes; ++i) {
    const LaneState &lane = lanes_[i];
    if (lane.queue.empty())
      continue;
    const Item &item = lane.queue.front();
    for (const EventValue &w : item.waits) {
      uint64_t now = events_[w.event.id].value;
      if (now < w.value)
        return "scheduler: error: deadlock: task '" + item.name + "' on lane " +
               laneName(static_cast<Lane>(i)) + " waits for event '" +
               eventNameLocked(w.event) + "' to reach " +
               std::to_string(w.value) + " (it is " + std::to_string(now) +
               ") and no queued task can signal it";
    }
  }
  return "scheduler: error: deadlock";
}

void Scheduler::failLocked(Status status) {
  if (!failed_) {
    failed_ = true;
    error_ = std::move(status);
  }
}

void Scheduler::notifyLocked() {
  // Notified under the lock: a waiter cannot miss it, and the scheduler
  // (and its condition variables) cannot be destroyed in between.
  hostCv_.notify_all();
  for (LaneState &lane : lanes_)
    if (lane.sleeping &&
        (stop_ || failed_ ||
         (lane.queue.empty() ? stop_ : headReadyLocked(lane))))
      lane.cv.notify_one();
}

void Scheduler::workerLoop(int laneIndex) {
  LaneState &lane = lanes_[laneIndex];
  Lane laneId = static_cast<Lane>(laneIndex);
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    lane.sleeping = true;
    lane.cv.wait(lk, [&] {
      if (lane.queue.empty())
        return stop_;
      return failed_ || headReadyLocked(lane);
    });
    lane.sleeping = false;
    if (lane.queue.empty())
      return; // stop_
    Item item = std::move(lane.queue.front());
    lane.queue.pop_front();
    if (failed_) {
      // Dropped: a task failed earlier; drain() reports that error.
      notifyLocked();
      continue;
    }
    lane.running = true;
    lk.unlock();

    uint64_t start = nowNs();
    Status status;
    try {
      status = item.task ? item.task() : Status::ok();
    } catch (const std::exception &e) {
      status = Status::error(std::string("exception: ") + e.what());
    } catch (...) {
      status = Status::error("unknown exception");
    }
    uint64_t end = nowNs();
    item.task = nullptr; // release captures outside the lock's critical path

    lk.lock();
    lane.running = false;
    if (options_.trace) {
      if (trace_.size() >= options_.traceLimit && !trace_.empty())
        trace_.erase(trace_.begin(),
                     trace_.begin() + std::max<size_t>(1, trace_.size() / 10));
      trace_.push_back({laneId, item.name, start, end, status.isOk()});
    }
    if (!status.isOk()) {
      failLocked(Status::error("task '" + item.name + "' on lane " +
                                   laneName(laneId) + " failed: " +
                                   status.message(),
                               status.hint()));
    } else if (item.signal.event.valid()) {
      uint64_t &v = events_[item.signal.event.id].value;
      v = std::max(v, item.signal.value);
    }
    notifyLocked();
  }
}

Status Scheduler::wait(EventValue ev) {
  std::unique_lock<std::mutex> lk(mu_);
  if (!ev.event.valid() || ev.event.id >= events_.size())
    return Status::error("scheduler: error: wait for an unknown event");
  auto reached = [&] { return events_[ev.event.id].value >= ev.value; };
  hostCv_.wait(lk, [&] {
    return reached() || failed_ || idleLocked() || stuckLocked();
  });
  if (reached())
    return Status::ok();
  if (failed_)
    return error_;
  return Status::error("scheduler: error: host waits for event '" +
                       eventNameLocked(ev.event) + "' to reach " +
                       std::to_string(ev.value) + " (it is " +
                       std::to_string(events_[ev.event.id].value) +
                       ") and no queued task can signal it");
}

Status Scheduler::drain() {
  std::unique_lock<std::mutex> lk(mu_);
  hostCv_.wait(lk, [&] { return idleLocked() || failed_ || stuckLocked(); });
  if (!idleLocked() && !failed_)
    failLocked(Status::error(describeStuckLocked()));
  notifyLocked();
  hostCv_.wait(lk, [&] { return idleLocked(); });
  Status result = std::move(error_);
  error_ = Status::ok();
  failed_ = false;
  return result;
}

std::vector<TraceEntry> Scheduler::trace() const {
  std::vector<TraceEntry> out;
  {
    std::lock_guard<std::mutex> lk(mu_);
    out = trace_;
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const TraceEntry &a, const TraceEntry &b) {
                     return a.startNs < b.startNs;
                   });
  return out;
}

void Scheduler::clearTrace() {
  std::lock_guard<std::mutex> lk(mu_);
  trace_.clear();
}

} // namespace hone::exec
