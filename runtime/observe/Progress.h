// Progress output on stderr: a one-line bar redrawn in place when the
// stream is a terminal (step/total, loss, reward, tokens/s, ETA), and one
// plain line per log interval otherwise (logs, CI, files).
#pragma once

#include "runtime/observe/Metrics.h"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace hone::observe {

struct ProgressOptions {
  enum class Mode { Auto, Bar, Lines, Off };
  Mode mode = Mode::Auto; // Auto: Bar when `out` is a terminal, else Lines
  int64_t totalSteps = 0;
  int64_t logInterval = 10; // Lines mode: every N steps (and the last)
  std::string label;        // stage name, printed first
  FILE *out = stderr;
  int barWidth = 24;
};

class Progress {
public:
  explicit Progress(ProgressOptions options);
  ~Progress();

  /// Reports that `step` (1-based count of steps done) finished, with its
  /// metrics and the number of tokens it processed.
  void update(int64_t step, const MetricValues &metrics, int64_t tokens = 0);
  /// Same with an explicit clock (seconds since start), for tests.
  void updateAt(int64_t step, const MetricValues &metrics, int64_t tokens,
                double elapsedSeconds);
  /// Ends the bar's line (Bar mode) or prints a final line.
  void finish();
  /// Prints a message on its own line without breaking the bar. With mode
  /// off only a warning (`warning` true) is printed: the mode turns off
  /// progress, not the news that a run is going wrong.
  void message(const std::string &text, bool warning = false);

  bool isBar() const { return bar_; }

  /// The text of one progress report (no newline, no \r).
  static std::string format(const ProgressOptions &options, int64_t step,
                            const MetricValues &metrics, double tokensPerSec,
                            double etaSeconds, bool bar);
  /// "1:02:03", "02:03", or "?" for a negative or non-finite value.
  static std::string formatDuration(double seconds);

private:
  ProgressOptions options_;
  bool bar_ = false;
  bool off_ = false;
  bool lineOpen_ = false;
  std::chrono::steady_clock::time_point start_;
  int64_t tokens_ = 0;
  int64_t startStep_ = -1;
  std::string lastText_;
};

} // namespace hone::observe
