#include "runtime/observe/Trace.h"

#include "runtime/base/Json.h"

#include <algorithm>
#include <map>

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

Expected<std::vector<PlannedStage>> parseLanePlan(const json::Value &v) {
  auto bad = [](const std::string &what) {
    return Status::error("error: lane_plan: " + what);
  };
  const json::Value *stages = v.isObject() ? v.find("stages") : nullptr;
  if (!stages || !stages->isArray())
    return bad("expected {\"stages\": [...]}");
  std::vector<PlannedStage> out;
  for (const json::Value &st : stages->items()) {
    const json::Value *name = st.isObject() ? st.find("stage") : nullptr;
    const json::Value *ops = st.isObject() ? st.find("ops") : nullptr;
    if (!name || !name->isString() || !ops || !ops->isArray())
      return bad("a stage needs \"stage\" (a string) and \"ops\" (an array)");
    PlannedStage ps{name->asString(), {}};
    for (const json::Value &o : ops->items()) {
      const json::Value *op = o.isObject() ? o.find("op") : nullptr;
      const json::Value *lane = o.isObject() ? o.find("lane") : nullptr;
      const json::Value *after = o.isObject() ? o.find("after") : nullptr;
      if (!op || !op->isString() || !lane || !lane->isString() || !after ||
          !after->isArray())
        return bad("an op of stage '" + ps.stage +
                   "' needs \"op\", \"lane\" and \"after\"");
      PlannedOp po{op->asString(), lane->asString(), {}};
      for (const json::Value &a : after->items()) {
        if (!a.isInt() || a.asInt() < 0 || a.asInt() >= int64_t(ps.ops.size()))
          return bad("op " + std::to_string(ps.ops.size()) + " of stage '" +
                     ps.stage + "' waits for an op that is not before it");
        po.after.push_back(int(a.asInt()));
      }
      ps.ops.push_back(std::move(po));
    }
    out.push_back(std::move(ps));
  }
  return out;
}

std::vector<ReportSpan> plannedSpans(const PlannedStage &plan,
                                     const std::vector<TraceEvent> &events) {
  std::map<std::string, std::pair<double, int64_t>> took; // seconds, count
  for (const TraceEvent &e : events) {
    auto &t = took[e.name];
    t.first += double(e.endUs - e.startUs) * 1e-6;
    ++t.second;
  }
  std::map<std::string, double> laneFree;
  std::vector<double> end(plan.ops.size(), 0.0);
  std::vector<ReportSpan> out;
  for (size_t i = 0; i < plan.ops.size(); ++i) {
    const PlannedOp &op = plan.ops[i];
    double start = 0;
    if (op.lane == "host") {
      for (auto &[lane, t] : laneFree)
        start = std::max(start, t);
    } else {
      start = laneFree[op.lane];
      for (int a : op.after)
        start = std::max(start, end[size_t(a)]);
    }
    auto it = took.find(op.op);
    double dur = it == took.end() ? 0.0 : it->second.first / it->second.second;
    end[i] = start + dur;
    laneFree[op.lane] = end[i];
    if (op.lane == "host")
      for (auto &[lane, t] : laneFree)
        t = end[i];
    out.push_back({op.lane, op.op, start, end[i]});
  }
  return out;
}

} // namespace hone::observe
