#include "runtime/observe/Trace.h"

#include "runtime/base/Json.h"

#include <algorithm>

namespace hone::observe {

TraceRecorder::TraceRecorder(size_t cap)
    : epoch_(std::chrono::steady_clock::now()), cap_(cap) {}

uint64_t TraceRecorder::nowUs() const {
  return uint64_t(std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::steady_clock::now() - epoch_)
                      .count());
}

void TraceRecorder::record(std::string lane, std::string name, uint64_t startUs,
                           uint64_t endUs, int64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  if (events_.size() >= cap_) {
    ++dropped_;
    return;
  }
  events_.push_back({std::move(lane), std::move(name), startUs,
                     std::max(startUs, endUs), bytes});
}

std::vector<TraceEvent> TraceRecorder::events() const {
  std::vector<TraceEvent> out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    out = events_;
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const TraceEvent &a, const TraceEvent &b) {
                     return a.startUs < b.startUs;
                   });
  return out;
}

uint64_t TraceRecorder::dropped() const {
  std::lock_guard<std::mutex> lock(mu_);
  return dropped_;
}

std::string chromeTraceJson(const std::vector<TraceEvent> &events,
                            uint64_t dropped) {
  // Fixed thread ids for the known lanes, so traces of different runs line
  // up in Perfetto; anything else gets the next free id.
  std::vector<std::string> lanes = {"host", "rollout", "learn", "copy", "comm"};
  std::vector<bool> used(lanes.size(), false);
  auto tidOf = [&](const std::string &lane) {
    auto it = std::find(lanes.begin(), lanes.end(), lane);
    size_t i = size_t(it - lanes.begin());
    if (it == lanes.end()) {
      lanes.push_back(lane);
      used.push_back(false);
    }
    used[i] = true;
    return int64_t(i);
  };
  std::string out = "{\"traceEvents\":[\n";
  bool first = true;
  auto add = [&](const json::Value &v) {
    if (!first)
      out += ",\n";
    first = false;
    json::serializeTo(out, v);
  };
  for (const TraceEvent &e : events) {
    json::Value v = json::Value::object();
    v.set("name", e.name);
    v.set("cat", "step");
    v.set("ph", "X");
    v.set("ts", int64_t(e.startUs));
    v.set("dur", int64_t(e.endUs - e.startUs));
    v.set("pid", 1);
    v.set("tid", tidOf(e.lane));
    json::Value args = json::Value::object();
    args.set("lane", e.lane);
    if (e.bytes >= 0)
      args.set("bytes", e.bytes);
    v.set("args", std::move(args));
    add(v);
  }
  auto meta = [&](const char *what, int64_t tid, const std::string &name) {
    json::Value v = json::Value::object();
    v.set("name", what);
    v.set("ph", "M");
    v.set("pid", 1);
    v.set("tid", tid);
    json::Value args = json::Value::object();
    args.set("name", name);
    v.set("args", std::move(args));
    add(v);
  };
  meta("process_name", 0, "hone job");
  for (size_t i = 0; i < lanes.size(); ++i)
    if (used[i])
      meta("thread_name", int64_t(i), lanes[i]);
  out += "\n],\"displayTimeUnit\":\"ms\",\"otherData\":";
  json::Value other = json::Value::object();
  other.set("events", int64_t(events.size()));
  other.set("dropped_events", int64_t(dropped));
  other.set("event_cap", int64_t(kTraceEventCap));
  json::serializeTo(out, other);
  out += "}\n";
  return out;
}

std::vector<ReportSpan> spansFromEvents(const std::vector<TraceEvent> &events) {
  std::vector<ReportSpan> out;
  out.reserve(events.size());
  for (const TraceEvent &e : events)
    out.push_back({e.lane, e.name, e.startUs * 1e-6, e.endUs * 1e-6});
  return out;
}

} // namespace hone::observe
