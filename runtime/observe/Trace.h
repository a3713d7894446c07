// The measured schedule of a job (`./job --trace`): every step op the
// runtime executed as (lane, op, start, end, output bytes), written as
// RUN/trace.json in the Chrome trace-event format (Perfetto,
// chrome://tracing) and drawn as report.html's Gantt chart.
//
// Times are microseconds on the steady clock since the recorder was made
// (Job::open). Lanes record concurrently: record() takes a lock. At most
// `cap` events are kept (the first ones); later ones are only counted, so a
// long run cannot fill the disk (docs/runtime.md).
#pragma once

#include "runtime/base/Json.h"
#include "runtime/base/Status.h"
#include "runtime/observe/Report.h"

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace hone::observe {

struct TraceEvent {
  std::string lane; // rollout, learn, copy, comm, or host (inline)
  std::string name; // the op, e.g. "generate", "train_step"
  uint64_t startUs = 0, endUs = 0;
  int64_t bytes = -1; // bytes of the op's outputs; -1: not known
};

/// The most events a trace keeps (about 115 bytes each in trace.json).
constexpr size_t kTraceEventCap = 100000;

class TraceRecorder {
public:
  explicit TraceRecorder(size_t cap = kTraceEventCap);
  /// Microseconds since the recorder was made.
  uint64_t nowUs() const;
  void record(std::string lane, std::string name, uint64_t startUs,
              uint64_t endUs, int64_t bytes = -1);
  /// The events kept, ordered by start time.
  std::vector<TraceEvent> events() const;
  /// Events not kept because the cap was reached.
  uint64_t dropped() const;

private:
  std::chrono::steady_clock::time_point epoch_;
  size_t cap_;
  mutable std::mutex mu_;
  std::vector<TraceEvent> events_;
  uint64_t dropped_ = 0;
};

/// {"traceEvents":[...]}: one complete ("ph":"X") event per op with
/// args {lane, bytes}, one thread per lane (tid: host 0, rollout 1, learn 2,
/// copy 3, comm 4, others after) named by "thread_name" metadata ("ph":"M")
/// events, and "otherData" saying how many events the cap dropped.
std::string chromeTraceJson(const std::vector<TraceEvent> &events,
                            uint64_t dropped = 0);
/// The events as report spans (seconds).
std::vector<ReportSpan> spansFromEvents(const std::vector<TraceEvent> &events);

/// One step of a stage loop as the compiler planned it (the lowering's
/// `config.lane_plan`, docs/runtime.md): the step ops in program order, each
/// on its lane ("host": after every lane is idle) after the ops of other
/// lanes it waits for (indices into `ops`).
struct PlannedOp {
  std::string op, lane;
  std::vector<int> after;
};
struct PlannedStage {
  std::string stage;
  std::vector<PlannedOp> ops;
};

/// Reads `config.lane_plan` ({"stages":[{"stage","ops":[{"op","lane",
/// "after"}]}]}); an error names what is malformed.
Expected<std::vector<PlannedStage>> parseLanePlan(const json::Value &v);

/// The planned step laid out in time: each lane runs its ops in order, an op
/// starts when its lane is free and the ops it waits for have ended, a host
/// op when every lane is free; each op takes the mean time its name took in
/// `events` (0 if it never ran). Spans start at 0 (seconds).
std::vector<ReportSpan> plannedSpans(const PlannedStage &plan,
                                     const std::vector<TraceEvent> &events);

} // namespace hone::observe
