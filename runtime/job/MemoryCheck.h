// The job's memory check: the compiler's plan (hone-plan-memory, handed over
// as config.memory_plan) against what the process really holds. The
// measured peak is the high-water mark of the process's anonymous resident
// memory (resident minus file-backed and shared pages, /proc/self/statm)
// above what it was when the job began (after the runtime's own start-up:
// libraries, tokenizer, run directory): a sampling thread reads it every
// millisecond, and sample() reads it at the runtime's own points (every
// step op's end, each stage's end). File-backed pages (the program's and
// its libraries' code, paged in as new code runs) are not the job's
// allocations: the resident set's own high-water mark (VmHWM) above its
// start, which includes them, is reported beside it (residentPeak()).
// Model buffers the runtime holds at each stage end are compared with the
// plan's buffers of their kind, and each one larger than every planned
// buffer of its kind counts as an unplanned allocation.
//
// Tolerance: the measured peak may exceed the planned one by 10 % plus
// kSlackBytes (memory outside the plan: thread stacks, the BLAS library's
// buffers, tokenizer tables, allocator overhead); beyond that
// the job fails, naming the buffer that grew past its plan or, if none did,
// the unplanned excess.
#pragma once

#include "runtime/base/Json.h"
#include "runtime/observe/Report.h"

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace hone::job {

class MemoryCheck {
public:
  static constexpr double kTolerance = 0.10;
  static constexpr int64_t kSlackBytes = int64_t(64) << 20;

  /// Resident set now and its high-water mark, in bytes (0 where
  /// /proc/self/status cannot be read).
  static int64_t residentBytes();
  static int64_t residentPeakBytes();
  /// Anonymous resident bytes now (resident minus shared/file pages of
  /// /proc/self/statm; 0 where it cannot be read).
  static int64_t anonymousBytes();

  MemoryCheck() = default;
  MemoryCheck(const MemoryCheck &) = delete;
  MemoryCheck &operator=(const MemoryCheck &) = delete;
  /// Stops the sampling thread.
  ~MemoryCheck();

  /// Reads config.memory_plan (absent: nothing is checked, only measured),
  /// starts the sampling thread and takes the baseline. Returns an error
  /// for a malformed plan (a buffer outside the plan's schedule points,
  /// negative sizes).
  std::string begin(const json::Value *plan);
  /// The runtime's own memory, measured once at start-up after begin():
  /// runs `warmUp` (which brings up the OpenMP team and the BLAS
  /// libraries' threads and buffers) and records the anonymous bytes it
  /// added (they stay, and count in the measured peak). Checked like a held
  /// buffer against the plan's "runtime" row (memsize::runtimeBytes).
  template <typename F> void measureStartup(F &&warmUp) {
    int64_t before = anonymousFrom(statmFd_);
    warmUp();
    sample();
    startup_ = std::max<int64_t>(0, anonymousFrom(statmFd_) - before);
    noteHeld("runtime (threads, library buffers)", "runtime", startup_);
  }
  /// The block of step tensors hone_rt_arena allocated: hone-plan-arena's
  /// offsets index it, and every step op's tensors must lie inside it.
  void setStepArena(const void *base, int64_t bytes) {
    stepBase_ = static_cast<const char *>(base);
    stepBytes_ = bytes;
  }
  /// Whether `bytes` at `p` lie inside the step-tensor block (an empty
  /// range always does; anything does while there is no block: a program
  /// with no step tensors, or a test driving the ABI by hand).
  bool inStepArena(const void *p, int64_t bytes) const {
    if (bytes <= 0 || !stepBase_)
      return true;
    const char *q = static_cast<const char *>(p);
    return q >= stepBase_ && bytes <= stepBytes_ &&
           q - stepBase_ <= stepBytes_ - bytes;
  }
  /// What measureStartup() measured (0 before it ran).
  int64_t startupBytes() const { return startup_; }
  /// Reads the anonymous resident set now into the peak (cheap: one read
  /// of /proc/self/statm).
  void sample();
  /// Stops the sampling thread after a last sample (idempotent).
  void stop();
  bool planned() const { return plannedPeak_ > 0; }
  int64_t plannedPeak() const { return plannedPeak_; }
  int64_t baseline() const { return baseline_; }
  /// The anonymous resident peak above its baseline so far.
  int64_t measuredPeak() const;
  /// The whole resident set's peak (VmHWM) above the resident set at the
  /// start: measuredPeak() plus the code and file pages paged in since.
  int64_t residentPeak() const;

  /// A buffer the runtime holds now, `kind` as the plan names kinds
  /// (weights, gradients, optimizer, activations, kv_cache, workspace,
  /// runtime):
  /// counted as unplanned, and remembered, when larger than every planned
  /// buffer of its kind.
  void noteHeld(const std::string &name, const std::string &kind,
                int64_t bytes);
  int64_t unplanned() const { return int64_t(unplanned_.size()); }
  /// An allocation outside the plan, described (counted as unplanned).
  void noteUnplanned(const std::string &what) {
    if (planned())
      unplanned_.push_back(what);
  }
  /// Work buffers placed in the plan's arena and those that missed
  /// (runtime/job/JobArena.h), for the summary.
  void setPlacements(int64_t placed, int64_t missed,
                     const std::string &firstMiss) {
    placements_ = placed;
    misses_ = missed;
    firstMiss_ = firstMiss;
  }
  /// The plan's buffers (for the report) and its budget (0: none).
  const std::vector<observe::MemoryBuffer> &buffers() const { return buffers_; }
  int64_t budget() const { return budget_; }
  /// Whether the plan has stage `stage`'s models free their activations,
  /// KV caches and decode workspaces at each step's end (the plan's
  /// release_at_step_end, a decision under the budget).
  bool releasesAtStepEnd(const std::string &stage) const {
    for (const std::string &s : releaseAtStepEnd_)
      if (s == stage)
        return true;
    return false;
  }
  /// The placed buffers (hone-plan-memory's `placed`: the runtime puts
  /// them in the job's arena) live in stage `stage`, as (offset, bytes):
  /// the job populates them when the stage begins, so the arena's resident
  /// bytes are the plan's, whatever the buffers touch (docs/runtime.md
  /// "Memory check"). Empty for a stage the plan does not name.
  std::vector<std::pair<int64_t, int64_t>>
  placedInStage(const std::string &stage) const;
  /// What the compiler changed to fit the budget (remarks, in order).
  const std::vector<std::string> &decisions() const { return decisions_; }

  /// An empty string when the measured peak is within the tolerance of the
  /// plan (or there is no plan) and every work buffer went where the plan
  /// put it, else the one-line reason.
  std::string verdict() const;
  /// "memory: planned peak ..., measured ..." for the end of the job.
  std::string summary() const;

private:
  /// Anonymous resident bytes from an open /proc/self/statm (0 when it
  /// cannot be read).
  static int64_t anonymousFrom(int fd);
  int64_t startup_ = 0;
  int64_t placements_ = 0, misses_ = 0;
  std::string firstMiss_;
  const char *stepBase_ = nullptr;
  int64_t stepBytes_ = 0;
  int64_t plannedPeak_ = 0;
  int64_t baseline_ = 0, anonBaseline_ = 0;
  std::atomic<int64_t> anonPeak_{0};
  std::atomic<bool> stop_{false};
  std::thread sampler_;
  int statmFd_ = -1;
  int64_t budget_ = 0;
  std::vector<observe::MemoryBuffer> buffers_;
  std::vector<std::string> decisions_;
  std::vector<std::string> releaseAtStepEnd_;
  // Each stage's first and last points (the plan's `stages`: point, end)
  // and the plan's points.
  struct StagePoints {
    std::string name;
    int64_t begin = 0, end = -1;
  };
  std::vector<StagePoints> stages_;
  int64_t points_ = 0;
  std::map<std::string, int64_t> largestPlanned_; // per kind
  std::vector<std::string> unplanned_;            // "name (kind): held vs plan"
};

/// Bytes as "12.3 MiB".
std::string formatBytes(int64_t bytes);

} // namespace hone::job
