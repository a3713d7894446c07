// Training metrics: one JSON object per step appended to metrics.jsonl
// ({"step": N, "loss": 1.23, ...}, one write(2) per line so a kill loses at
// most the current line) and the same scalars in a TensorBoard event file
// (events.out.tfevents.<time>.<host>) in the same directory.
//
// Metric names follow what users know from TRL/OpenRLHF: loss, grad_norm,
// learning_rate, reward, reward_std, kl, entropy, clip_ratio,
// completions/mean_length, rewards/accuracies, rewards/margins, ...
// (docs/runtime.md lists them).
#pragma once

#include "runtime/base/Status.h"
#include "runtime/observe/TfEvents.h"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace hone::observe {

/// Metrics of one step, in the order they are written.
using MetricValues = std::vector<std::pair<std::string, double>>;

/// What a row is of, written beside its numbers: the stage's name
/// ("stage_name") and the spec names of the models it runs ("models"), so a
/// reader of metrics.jsonl need not map the numeric "stage" back to the
/// spec. Empty fields are not written.
struct MetricsTags {
  std::string stage;
  std::vector<std::string> models;
};

struct MetricsRow {
  int64_t step = 0;
  MetricValues values; // null in the file reads as NaN
  MetricsTags tags;
  const double *find(const std::string &name) const;
};

struct MetricsOptions {
  bool jsonl = true;
  bool tensorboard = true;
  /// Resuming from a checkpoint at this step: metrics.jsonl keeps only the
  /// rows with step <= resumeStep (rewritten atomically; a torn last line
  /// is dropped) and new rows are appended, so a resumed run's file equals
  /// an uninterrupted run's. Without it an existing metrics.jsonl is
  /// truncated. The new TensorBoard event file then starts with SessionLog
  /// START at resumeStep + 1, so TensorBoard drops the earlier files' events
  /// of the steps this process writes again.
  std::optional<int64_t> resumeStep;
  /// With resumeStep: the file's length when the checkpoint was written
  /// (its state.json's metrics_bytes). Only rows within it are kept, so rows
  /// of the checkpoint's step written after it (a stage's final evaluation,
  /// the memory summary), which the resumed run writes again, are not kept
  /// twice. Ignored when the file is shorter or the length does not end a
  /// line (a file edited since): then the step rule alone.
  std::optional<int64_t> resumeBytes;
};

class MetricsLogger {
public:
  /// Opens `dir`/metrics.jsonl and a new TensorBoard event file in `dir`.
  static Expected<MetricsLogger> open(const std::string &dir,
                                      MetricsOptions options = {});
  MetricsLogger(MetricsLogger &&other) noexcept;
  MetricsLogger &operator=(MetricsLogger &&) = delete;
  ~MetricsLogger();

  /// Appends one step. Non-finite values are written as null in JSONL (and
  /// as NaN/Inf floats in TensorBoard).
  Status log(int64_t step, const MetricValues &values,
             const MetricsTags &tags = {});

  const std::string &jsonlPath() const { return jsonlPath_; }
  /// Bytes metrics.jsonl holds now (-1 without it): a checkpoint's
  /// metrics_bytes.
  int64_t jsonlBytes() const;
  /// Empty when TensorBoard output is off.
  std::string eventFilePath() const;

private:
  MetricsLogger() = default;
  std::string jsonlPath_;
  int fd_ = -1;
  std::optional<EventFileWriter> events_;
};

/// The JSONL line for one step (without the newline).
std::string metricsLine(int64_t step, const MetricValues &values,
                        const MetricsTags &tags = {});

/// Reads metrics.jsonl. A torn last line (no newline, not valid JSON) is
/// skipped and reported in *warning; any other bad line is an error with
/// its line number.
Expected<std::vector<MetricsRow>> readMetricsJsonl(const std::string &path,
                                                   std::string *warning =
                                                       nullptr);

} // namespace hone::observe
