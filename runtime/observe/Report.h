// The final run report: one self-contained report.html (no scripts, no
// external files): a summary table, the stages as a strip with their
// boundaries and evaluation points, the evaluations as a table (before and
// after each stage), one section per stage with its effective settings and
// its own curves (inline SVG, x = step; smoothed, raw values faint behind;
// no chart for the stage index or a constant series), the model work per
// stage iteration (forwards, backwards, generated tokens and FLOPs before
// and after fusion), the schedule trace as a Gantt chart and the memory
// plan as a timeline.
#pragma once

#include "runtime/base/Status.h"
#include "runtime/exec/Scheduler.h"
#include "runtime/observe/Metrics.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace hone::observe {

/// One task in the schedule (times in seconds from any origin).
struct ReportSpan {
  std::string lane;
  std::string name;
  double startSec = 0, endSec = 0;
};

/// One buffer of the memory plan: bytes [offset, offset+size) of the arena,
/// live from firstUse to lastUse inclusive (schedule positions).
struct MemoryBuffer {
  std::string name;
  uint64_t offset = 0, size = 0;
  int64_t firstUse = 0, lastUse = 0;
  /// weights, gradients, optimizer, activations, kv_cache, workspace,
  /// step_tensors (hone-plan-memory's kinds); empty: not stacked.
  std::string kind;
  /// Placed in the job's arena (hone-plan-memory's `placed`): its bytes are
  /// populated when a stage it is live in begins.
  bool placed = false;
};

/// The effective settings of one stage: what the compiled code handed the
/// runtime when the stage began, flattened to (dotted key, value) rows.
struct StageSettings {
  std::string stage;
  std::vector<std::pair<std::string, std::string>> rows;
};

/// One model's work per iteration of one stage, before fusion and as
/// compiled (the compiler's counts: dialect/HoneForwards.h, `honec
/// --report`).
struct ModelWorkRow {
  std::string stage, model;
  int64_t forwardsBefore = 0, forwards = 0;
  int64_t backwardsBefore = 0, backwards = 0;
  int64_t generates = 0, generatedTokens = 0;
  double gflopBefore = 0, gflop = 0;
  /// Measured by the job, per iteration of the stage (its steps run): full
  /// forwards and backwards, rows those forwards ran (packed: real tokens),
  /// tokens generated (each row up to its stop) and GFLOP by the same
  /// estimate from the shapes that ran. False: the stage ran no step.
  bool measured = false;
  /// The compiler's counts above are there (false: a row the job measured
  /// that the compiler's table lacks).
  bool estimated = true;
  double runForwards = 0, runBackwards = 0, runRows = 0, runGenerated = 0,
         runGflop = 0;
  /// Data-parallel ranks the job ran on: with more than one, both the
  /// compiler's counts (one rank's program, times ranks) and the measured
  /// ones are all ranks' work together.
  int ranks = 1;
};

struct ReportData {
  std::string title = "Hone run report";
  /// Key/value rows shown first (spec, device, steps, wall time, ...).
  std::vector<std::pair<std::string, std::string>> summary;
  std::vector<MetricsRow> metrics;
  /// One table per stage, in stage order.
  std::vector<StageSettings> stageSettings;
  std::vector<ReportSpan> schedule;
  /// The planned schedule: one step of each stage (its name and spans from
  /// 0), drawn before the measured one.
  std::vector<std::pair<std::string, std::vector<ReportSpan>>> planned;
  std::vector<MemoryBuffer> memory;
  /// Model work per stage iteration (empty: the program carried none).
  std::vector<ModelWorkRow> work;
  /// Arena size for the timeline's y axis (0: the highest buffer end).
  uint64_t arenaBytes = 0;
  /// The plan's budget and the job's measured peak (0: none), drawn as
  /// lines over the stacked timeline.
  uint64_t memoryBudgetBytes = 0, measuredPeakBytes = 0;
  /// At most this many schedule spans are drawn (the last ones).
  size_t maxSpans = 8000;
};

/// The scheduler's trace as report spans (seconds since scheduler start).
std::vector<ReportSpan> spansFromTrace(const std::vector<exec::TraceEntry> &t);

/// The metric names in first-appearance order (one chart each).
std::vector<std::string> metricNames(const std::vector<MetricsRow> &rows);

/// SVG fragments (each a complete <svg> element).
std::string renderMetricChart(const std::string &metric,
                              const std::vector<MetricsRow> &rows);
std::string renderGantt(const std::vector<ReportSpan> &spans,
                        size_t maxSpans = 8000);
std::string renderMemoryTimeline(const std::vector<MemoryBuffer> &buffers,
                                 uint64_t arenaBytes = 0);
/// Bytes live at each schedule position, stacked by kind, with the budget
/// and the measured peak as horizontal lines (a line far above the peak is
/// named in the legend instead of squashing the chart).
std::string renderMemoryStack(const std::vector<MemoryBuffer> &buffers,
                              uint64_t budgetBytes = 0,
                              uint64_t measuredBytes = 0);

/// The global steps each stage ran (from the "stage" index training rows
/// carry), in order.
struct StageRange {
  int64_t index = 0;
  int64_t firstStep = 0, lastStep = 0;
};
std::vector<StageRange> stageRanges(const std::vector<MetricsRow> &rows);
/// The run as a strip of stages with their boundaries and the evaluations.
std::string renderStageStrip(const std::vector<StageRange> &stages,
                             const std::vector<StageSettings> &names,
                             const std::vector<int64_t> &evalSteps);
/// Evaluations (rows without "stage") as a table: metrics x points of the
/// run ("before training", "after sft", ...).
std::string renderEvaluations(const std::vector<MetricsRow> &rows,
                              const std::vector<StageSettings> &names);
/// The "Effective settings" section (empty when there are none).
std::string renderStageSettings(const std::vector<StageSettings> &stages);

/// The "Model work per stage iteration" section (empty when there is none).
std::string renderModelWork(const std::vector<ModelWorkRow> &rows);
std::string renderReportHtml(const ReportData &data);
/// Writes report.html atomically.
Status writeReport(const std::string &path, const ReportData &data);

/// "1.5 KiB", "3.0 MiB", ...
std::string formatBytes(uint64_t bytes);

} // namespace hone::observe
