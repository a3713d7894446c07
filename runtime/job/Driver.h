// The job driver of a compiled executable (`./job`): command line, run
// directory, resolved spec, metrics and progress, checkpoints with resume,
// and the final report. The C ABI (runtime/abi/Stages.cpp) runs stages
// inside a Job:
//
//   auto job = Job::open(args, config);          // run dir, spec, metrics
//   int64_t s0 = job->beginStage("sft", steps, objects);   // resume point
//   for (int64_t s = s0; s < steps; ++s) { ...; job->endStep(...); }
//   job->finish();                               // report.html
//
// Checkpoints (every `checkpointEvery` stage steps and at the end of each
// stage) hold every model, optimizer and data loader the current stage
// registered, the stage index and step, and the global step (the Philox
// `step` of every random draw), so `--resume` continues bit-identically
// from the newest complete checkpoint.
#pragma once

#include "kernels/Kernels.h"
#include "runtime/base/Json.h"
#include "runtime/job/Batches.h"
#include "runtime/job/CheckpointIO.h"
#include "runtime/model/Optimizer.h"
#include "runtime/model/Transformer.h"
#include "runtime/observe/Metrics.h"
#include "runtime/observe/Progress.h"
#include "runtime/observe/Report.h"
#include "runtime/observe/Trace.h"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace hone::job {

struct JobArgs {
  std::string device = "auto"; // cpu | cuda | auto
  std::string outDir;          // empty: the config's default
  bool resume = false;
  /// --steps-override N (every stage) or STAGE=N, repeatable.
  std::vector<std::pair<std::string, int64_t>> stepsOverride;
  std::string progress = "auto"; // auto | bar | lines | off
  int threads = 0;               // 0: the default
  /// Steps on lane threads (compiled jobs on the CPU): on | off (every step
  /// inline, in program order) | auto (on with 4 or more hardware threads).
  std::string lanes = "auto";
  /// --trace: record every step op as RUN/trace.json (observe/Trace.h).
  bool trace = false;
  bool help = false;
};

/// Parses `./job [--device cpu|cuda|auto] [--out DIR] [--resume]
/// [--steps-override [STAGE=]N] [--progress auto|bar|lines|off]
/// [--threads N] [--lanes auto|on|off] [--trace] [--help]` (also
/// --opt=value).
/// Unknown options are errors.
/// SIGTERM/SIGINT: the first asks the job to stop after the current step
/// (a checkpoint is written, the job exits 0); a second one, 0.25 s or more
/// after the first, ends it at once (the default action; sooner, it is the
/// first delivered twice), and so does the grace period running out. Set
/// by Job::open, handled on a thread of its own; stopRequested() is true
/// once a signal came (or requestStop() was called, e.g. for another
/// rank's signal).
bool stopRequested();
void requestStop();
/// Seconds the current step may take after the first signal.
constexpr unsigned kStopGraceSeconds = 120;

/// The most CPU threads a job starts (hone's spec check has the same bound).
constexpr int kMaxThreads = 1024;

Expected<JobArgs> parseJobArgs(int argc, const char *const *argv);
/// A compiled job's --help (without --steps-override, which compiled jobs
/// refuse: their loop bounds are compiled in).
std::string jobUsage(const std::string &argv0);

struct JobConfig {
  std::string name = "job";
  /// The resolved spec as text, written to RUN/spec.resolved.textproto.
  std::string specText;
  std::string defaultOutDir = "runs/job";
  int64_t checkpointEvery = 0; // stage steps; 0: only at stage ends
  /// checkpoint-<step>/ directories go to RUN/<checkpointSubdir> (empty:
  /// RUN itself, as Hugging Face's Trainer does).
  std::string checkpointSubdir;
  int keepLast = 2;
  uint64_t seed = 0;
  int64_t logEvery = 10; // progress lines
  /// Data-parallel ranks: every rank's `v`, in rank order (all ranks call it
  /// together). Set, --resume continues from the newest checkpoint step all
  /// ranks have; unset (one process), from this process's newest.
  std::function<std::vector<int64_t>(int64_t)> allRanks;
};

/// What a stage checkpoints and restores.
struct StageObjects {
  std::vector<std::pair<std::string, Transformer<float> *>> models;
  std::vector<std::pair<std::string, AdamW<float> *>> optimizers;
  std::vector<std::pair<std::string, DataLoader *>> loaders;
  /// Extra run state (e.g. the ABI's buffers), saved as state.json "extra"
  /// and handed back on resume.
  std::function<json::Value()> saveExtra;
  std::function<Status(const json::Value &)> restoreExtra;
};

class Job {
public:
  /// Checks the device, creates (or, with --resume, reopens) the run
  /// directory, writes the spec, opens metrics, finds the resume point.
  static Expected<std::unique_ptr<Job>> open(const JobArgs &args,
                                             const JobConfig &config);
  ~Job();

  const std::string &runDir() const { return runDir_; }
  const JobConfig &config() const { return cfg_; }
  Kernels<float> &kernels() { return *kernels_; }
  observe::MetricsLogger &metrics() { return *metrics_; }
  /// The step-op trace (--trace), or null: nothing is recorded.
  observe::TraceRecorder *trace() { return trace_.get(); }
  /// Steps of a stage after --steps-override.
  int64_t stageSteps(const std::string &stage, int64_t steps) const;
  /// Global step: stage steps done over all stages (the RNG step).
  int64_t globalStep() const { return globalStep_; }
  /// Steps of the running stage done so far (its first step to run is
  /// this + 1; a resumed stage starts at the checkpoint's).
  int64_t stageStepsDone() const { return stageDone_; }
  /// The resume checkpoint's step, if resuming.
  std::optional<int64_t> resumedStep() const;
  /// Index of the stage the resume checkpoint was taken in; -1 if none.
  int64_t resumeStage() const { return resume_ ? resumeStage_ : -1; }
  /// Stages begun so far.
  int stagesBegun() const { return stage_ + 1; }

  /// Starts the next stage; returns the first stage step to run: 0, the
  /// checkpoint's step when resuming inside this stage (objects restored),
  /// or `steps` when a checkpoint of a later stage exists (skip it).
  Expected<int64_t> beginStage(const std::string &name, int64_t steps,
                               StageObjects objects);
  /// After stage step `stageStep` (1-based count done): logs the metrics at
  /// the new global step, updates progress, checkpoints when due.
  Status endStep(int64_t stageStep, const observe::MetricValues &metrics,
                 int64_t tokens);
  /// Ends the current stage (progress line).
  void endStage();
  /// The settings the compiled code handed the runtime when `stage` began
  /// (hone_rt_stage_begin's attributes, a JSON object): the report shows
  /// them, flattened to dotted keys, whatever they are.
  void noteStageSettings(const std::string &stage, const json::Value &attrs);
  /// The spec names of the running stage's models, written with each of
  /// its metrics rows (observe::MetricsTags).
  void setStageModels(std::vector<std::string> names) {
    stageModels_ = std::move(names);
  }
  /// Prints a line (through the progress display).
  void message(const std::string &text);
  /// True once endStep has written the checkpoint a stop signal asked
  /// for: the caller exits 0 (after finishing MPI).
  bool stopped() const { return stopped_; }
  /// A message that --progress off does not silence (skipped steps, rows
  /// that train nothing).
  void warn(const std::string &text);
  /// The compiled memory plan's buffers, its peak and budget, and the
  /// measured peak, for report.html's memory section.
  void setMemoryReport(std::vector<observe::MemoryBuffer> buffers,
                       uint64_t peakBytes, uint64_t budgetBytes,
                       uint64_t measuredBytes) {
    memory_ = std::move(buffers);
    memoryPeak_ = peakBytes, memoryBudget_ = budgetBytes;
    memoryMeasured_ = measuredBytes;
  }
  /// The compiled lane plan (config.lane_plan): drawn as planned
  /// schedules next to the measured one when the job records a trace.
  void setLanePlan(std::vector<observe::PlannedStage> plan) {
    lanePlan_ = std::move(plan);
  }
  /// The compiler's model work per stage iteration, for report.html.
  void setModelWork(std::vector<observe::ModelWorkRow> rows) {
    work_ = std::move(rows);
  }
  /// Writes report.html (summary + curves, the trace's Gantt chart),
  /// RUN/trace.json with --trace, and a last line.
  Status finish(const std::vector<std::pair<std::string, std::string>>
                    &summary = {});
  /// Checkpoint now (normally called by endStep).
  Status saveCheckpoint(int64_t stageStep);

private:
  Job() = default;
  Status restore(const StageObjects &objs);

  JobArgs args_;
  JobConfig cfg_;
  std::string runDir_;
  std::string checkpointDir_; // runDir_ or runDir_/<checkpointSubdir>
  std::unique_ptr<Kernels<float>> kernels_;
  std::optional<observe::MetricsLogger> metrics_;
  std::unique_ptr<observe::Progress> progress_;
  std::unique_ptr<LoadedCheckpoint> resume_;
  int64_t resumeStage_ = -1, resumeStageStep_ = 0;
  int stage_ = -1;
  std::string stageName_;
  std::vector<std::string> stageModels_;
  std::vector<observe::StageSettings> stageSettings_;
  int64_t stageTotal_ = 0, stageDone_ = 0;
  StageObjects objects_;
  int64_t globalStep_ = 0;
  std::vector<observe::MemoryBuffer> memory_;
  std::vector<observe::ModelWorkRow> work_;
  uint64_t memoryPeak_ = 0, memoryBudget_ = 0, memoryMeasured_ = 0;
  double startTime_ = 0;
  std::unique_ptr<observe::TraceRecorder> trace_;
  std::vector<observe::PlannedStage> lanePlan_;
  Status writeTrace();
  int lockFd_ = -1; // RUN/job.lock, flock'ed for the job's life
  bool stopped_ = false;
};

/// Copies every parameter of `src` into `dst` (same config).
Status copyWeights(const Transformer<float> &src, Transformer<float> &dst);

} // namespace hone::job
