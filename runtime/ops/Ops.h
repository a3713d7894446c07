// Internal to the runtime: what the op bodies in runtime/ops/ share, and
// the op bodies runtime/abi/HoneRuntime.cpp (the C ABI shim) dispatches to
// (one handler per row of runtime/abi/step_ops.inl). The job's state
// (hone_job), the runtime objects, an op call's context (OpCtx) and the
// helpers, each defined in the file named above its declarations.
#pragma once

#include "kernels/backend/Backend.h"
#include "kernels/cpu/CpuKernels.h"
#include "runtime/abi/AbiTable.h"
#include "runtime/abi/SettingsCheck.h"
#include "runtime/abi/hone_runtime.h"
#include "runtime/base/Json.h"
#include "runtime/exec/Scheduler.h"
#include "runtime/exec/WorkerPool.h"
#include "runtime/formats/AtomicFile.h"
#include "runtime/job/Advantages.h"
#include "runtime/job/Driver.h"
#include "runtime/job/JobArena.h"
#include "runtime/job/MemoryCheck.h"
#include "runtime/job/Offload.h"
#include "runtime/job/Rewards.h"
#include "runtime/job/Steps.h"
#include "runtime/model/HfModel.h"
#include "runtime/ops/Attrs.h"
#include "runtime/ops/Comm.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace hone::ops {

using namespace hone::job;

// --- objects -------------------------------------------------------------

enum class ObjKind { Model, Dataset, Reward, Buffer };

struct Object {
  ObjKind kind;
  explicit Object(ObjKind k) : kind(k) {}
  virtual ~Object() = default;
};

/// The op's hone-plan-memory placements (its `arena` attribute) for the
/// models it runs, while the scope lives (runtime/job/JobArena.h).
struct ArenaScope : hone::job::PlacementScope {
  explicit ArenaScope(const std::optional<std::vector<int64_t>> &arena)
      : PlacementScope(arena ? &*arena : nullptr) {}
};

struct ModelObj : Object {
  ModelObj() : Object(ObjKind::Model) {}
  std::unique_ptr<Transformer<float>> model;
  std::unique_ptr<AdamW<float>> opt; // while a stage trains it
  /// Where opt's moments wait between updates when the stage offloads them
  /// (hone.exec.stage_begin's offload_moments): RUN/offload/NAME.moments.
  std::shared_ptr<hone::job::OffloadFile> offload;
  std::string name;                  // "m<creation index>"
  /// The spec's model name (hone.model.init/load/new_head/lora's `name`; a
  /// snapshot takes its source's), and the model it is a snapshot or LoRA
  /// view of (null: none): the report's measured work is by lineage, named
  /// as the stage names one of its models (hone_rt_stage_begin's `models`).
  std::string specName;
  ModelObj *source = nullptr;
  bool mergeOnSave = false;          // LoRA: saves also write merged weights
  // The tokens of the last hone.value forward whose activations the model
  // keeps (forward number keptForward), for a train step's kept_forwards.
  const void *keptTokens = nullptr;
  uint64_t keptForward = 0;
  // Its rows' lengths when that forward was packed (empty: padded).
  std::vector<int32_t> keptLengths;
  /// Held by a stream worker's forward (a streamed reference read,
  /// runtime/ops/Streams.cpp): two steps' workers may overlap where
  /// rollouts run ahead, and a model computes one forward at a time.
  std::mutex streamMu;
  // hone.generate calls on it and the tokens they generated (prompts
  // excluded; each row up to its stop), for the report's measured work.
  int64_t generates = 0;
  double generatedTokens = 0;
};

struct DatasetObj : Object {
  DatasetObj() : Object(ObjKind::Dataset) {}
  std::unique_ptr<DataLoader> data;
  /// The evaluation split (eval_path, or the eval_fraction tail of the
  /// file); evaluations read it when present.
  std::unique_ptr<DataLoader> evalData;
  std::string name; // "d<creation index>"
  std::string path;
  int64_t index = 0;
  // Training rows read, and those left without a trainable token (a prompt
  // that fills the sequence): reported with counts at the stage's end.
  int64_t rowsRead = 0, rowsUntrained = 0;
  size_t firstUntrainedLine = 0;
  bool untrainedPairs = false; // the rows counted are preference pairs
};

struct RewardObj : Object {
  RewardObj() : Object(ObjKind::Reward) {}
  enum class Kind { Verifier, Length, Model, External, Combine } kind;
  std::optional<Verifier> verifier;
  int64_t maxLength = 0, cacheLength = 0;
  double penalty = 1.0; // length: the penalty at and beyond max_length
  ModelObj *model = nullptr;
  std::unique_ptr<ExternalReward> external;
  std::vector<RewardObj *> parts;
  std::vector<double> weights;
};

struct BufferObj : Object {
  BufferObj() : Object(ObjKind::Buffer) {}
  std::deque<int64_t> ids;
  int64_t capacity = 0; // 0: unbounded
};

/// Rows of one hone.generate handed to scoring as they finish
/// (runtime/ops/Streams.cpp).
struct RowStream;

// Record ids crossing the ABI name their dataset: (dataset << 40) | record.
constexpr int kIdShift = 40;
constexpr int64_t kIdMask = (int64_t(1) << kIdShift) - 1;

} // namespace hone::ops

struct hone_job {
  hone::job::JobArgs args;
  hone::json::Value config;
  /// `config` decoded and checked once by hone_rt_begin
  /// (runtime/abi/settings.inl's `run` row; its pointers point into config).
  hone::ops::Setting<hone::abi::SettingsId::run> run;
  std::unique_ptr<hone::job::Job> job;
  std::optional<hone::Tokenizer> tokenizer;
  hone::job::TextFormat fmt;
  uint64_t seed = 0;
  bool rollback = false; // on_nan
  bool abortOnNan = false; // on_nan = abort
  // Skipped steps that end the job (checkpointing.max_skipped_*: set from
  // the config by hone_rt_begin, no default here), and the counts of the
  // open stage.
  double maxSkippedFraction = 0;
  int64_t maxSkippedInARow = 0;
  int64_t stageSkipped = 0, skippedInARow = 0;
  std::vector<std::string> argv;  // to restart the job for a rollback
  std::set<int64_t> nanSteps;     // steps that failed before a rollback: skipped
  std::set<int64_t> injectNan;    // HONE_INJECT_NAN_STEPS (fault injection)
  // Lanes (hone_rt_event): null when every step runs inline. Declared
  // before the objects: models compute with the lane kernels, which must
  // outlive them.
  std::unique_ptr<hone::exec::Scheduler> sched;
  std::unique_ptr<hone::Kernels<float>> laneKernels[hone::exec::kNumLanes];
  std::vector<std::unique_ptr<hone::ops::Object>> objects;
  std::vector<hone::ops::ModelObj *> models;
  std::vector<hone::ops::DatasetObj *> datasets;
  std::vector<hone::ops::BufferObj *> buffers;
  bool inStage = false;
  std::string stageName;
  int64_t stageSteps = 0;
  hone::json::Value stageOptimizer; // attrs "optimizer" of the open stage
  /// The step's metrics, each with the call sequence number of the op that
  /// logged it: lanes log concurrently, step_end sorts them into program
  /// order (so metrics.jsonl does not depend on the interleaving).
  std::vector<std::pair<uint64_t, hone::observe::MetricValues::value_type>>
      stepMetrics;
  int64_t stepTokens = 0;
  /// Metrics of ops that ran ahead of their step (the "ahead" attribute of
  /// a pipelined rollout), with the stepEnds count of the step they belong to.
  std::vector<std::pair<int64_t, decltype(stepMetrics)::value_type>> deferred;
  int64_t stepEnds = 0; // hone_rt_step_end calls so far
  /// A pipelined stage that a resumed run finished before: its prologue
  /// and epilogue (outside the stage loop) run nothing.
  bool skipStage = false;
  /// A pipelined stage resumed inside: its prologue is skipped up to
  /// hone.exec.rollouts_resume, which takes the checkpoint's rollouts.
  bool skipPrologue = false;
  /// The rollouts in flight (hone.exec.rollouts_in_flight) for the next
  /// checkpoint: buffers and their bytes.
  std::vector<std::pair<const void *, size_t>> inFlight;
  /// A resumed checkpoint's rollouts in flight and deferred metrics.
  std::vector<std::string> resumedRollouts;
  hone::json::Value resumedDeferred;
  /// hone.reference_table results (precomputed reference log-probs): kept
  /// in the checkpoints of their stage (`stage`: the index it runs in); on
  /// a resume into that stage the op computes nothing and the checkpoint's
  /// bytes fill it (`pending` until then).
  struct ReferenceTable {
    void *data;
    size_t bytes;
    int stage;
    bool pending;
  };
  std::vector<ReferenceTable> referenceTables;
  // Train-step forwards taken from a hone.value's (kept_forwards).
  int64_t forwardsKept = 0;
  /// The open stage's models (spec names) and their work counts when it
  /// began, and hone_rt_step_end's count then: at its end the difference
  /// per step is the report's measured work (observe::ModelWorkRow).
  struct WorkAtStart {
    hone::Transformer<float>::WorkDone done;
    double generatedTokens = 0;
  };
  std::map<const hone::ops::ModelObj *, WorkAtStart> workAtStart;
  /// The open stage's models and the spec names its `models` gives them.
  std::map<const hone::ops::ModelObj *, std::string> stageModelNames;
  int64_t stepEndsAtStart = 0;
  std::vector<hone::observe::ModelWorkRow> measuredWork;
  std::mutex mu; // stepMetrics, deferred, stepTokens, messages
  std::chrono::steady_clock::time_point stepStart;
  std::vector<hone::exec::Event> events;
  std::vector<uint64_t> recorded; // records of each event so far
  uint64_t calls = 0;             // step calls so far (metric order)
  int cpuThreads = 1;
  /// Lanes split the cores (issue 21 item 5): a lane task that runs a
  /// model takes cpuThreads / (lanes running a model now, itself included)
  /// OpenMP threads, so two busy lanes' teams do not over-subscribe the
  /// cores; results do not depend on the thread count (kernels/cpu slice
  /// by shape). HONE_LANE_CORES=shared gives every task cpuThreads (A/B).
  bool splitLaneCores = true;
  std::atomic<int> lanesComputing{0};
  /// An inline hone.generate with `stream_rows` and the ops consuming its
  /// stream submitted right after it, held until another call
  /// (runtime/ops/Lanes.cpp, submit): run in order by drainLanes or the
  /// next submit that is not such a consumer.
  std::vector<std::function<void()>> heldInline;
  const hone::ops::RowStream *heldStream = nullptr;
  std::thread::id mainThread;
  hone::dist::Comm comm; // data-parallel ranks (mpirun); one rank otherwise
  void *arenaBlock = nullptr; // hone_rt_arena's allocation (freed at the end)
  /// The memory plan's one arena (mapped by hone_rt_begin when the job has
  /// a plan): step tensors and the models' placed work buffers.
  std::shared_ptr<hone::job::JobArena> arena =
      std::make_shared<hone::job::JobArena>();
  std::shared_ptr<void> stepLease; // the step tensors' bytes in `arena`
  double arenaPopulateSeconds = 0;  // populating stages' placed buffers
  // Offloaded AdamW moments (hone-plan-memory's decision 5): bytes read
  // back and written out over the job, and how (OffloadFile::mode).
  int64_t offloadRead = 0, offloadWritten = 0;
  std::string offloadMode;
  hone::job::MemoryCheck memory;           // the compiled plan vs the resident peak
  std::vector<char> injected;   // HONE_INJECT_UNPLANNED_BYTES (tests)
  /// Held while a reward object scores (lanes and stream workers may
  /// share one: an external process answers one request at a time).
  std::mutex scoreMu;
  /// CPU kernels objects of finished stream workers, for the next ones:
  /// a fresh one allocates its scratch and warms up on its first forward,
  /// which would fall on a step's first finished row (Streams.cpp).
  std::mutex streamKernelsMu;
  std::vector<std::unique_ptr<hone::Kernels<float>>> streamKernels;
  /// The threads that run streamed consumers, kept for the whole job
  /// (runtime/ops/Streams.cpp). Declared before `streams`, whose consumers
  /// they run: they go after every stream has waited for its consumers.
  hone::exec::WorkerPool streamWorkers;
  /// Streaming scores (hone-stream-scores): the stream of the latest
  /// hone.generate submitted with `stream_rows`, by its tokens buffer; a
  /// hone.score with `stream` submitted after it on those tokens consumes
  /// it (runtime/ops/Streams.cpp). Declared last: its workers are joined
  /// before the objects they score with go.
  std::map<const void *, std::shared_ptr<hone::ops::RowStream>> streams;
};

namespace hone::ops {

// --- errors, JSON, tensors (runtime/ops/Common.cpp) --------------------------

/// fail()'s `loc` for a message that is located already ("FILE: error: ...").
inline constexpr char kLocated[] = "";

[[noreturn]] void fail(hone_job *j, const char *loc, const std::string &what);
[[noreturn]] void rollbackAndRestart(hone_job *j, const char *loc,
                                     int64_t step, const std::string &why);
void check(hone_job *j, const char *loc, const Status &s);
template <typename T> T take(hone_job *j, const char *loc, Expected<T> e) {
  if (!e)
    check(j, loc, e.status());
  return e.take();
}
json::Value parseJson(hone_job *j, const char *loc, const char *text,
                      const char *what);
const json::Value *get(const json::Value &o, const char *key);
/// Quoted input in a message, cut to a readable length.
std::string clip(const std::string &s, size_t max = 200);
const char *dtypeName(int32_t d);
size_t dtypeSize(int32_t d);
std::string shapeStr(const hone_tensor &t);
int64_t numel(const hone_tensor &t);
double asF64(const json::Value &v);

/// A settings object (a typed attribute of dialect/HoneSettings.td as JSON)
/// as its struct (runtime/ops/Attrs.h). The compiler writes every member, so
/// a missing, mistyped or unlisted one fails the job at `loc`, never a
/// default.
template <abi::SettingsId Id>
Setting<Id> settingsOf(hone_job *j, const std::string &loc,
                       const json::Value *o) {
  const char *attr = abi::settingsRow(Id).attr;
  if (!o || !o->isObject())
    fail(j, loc.c_str(), std::string(attr) + ": expected an object");
  if (std::string bad = abi::checkSettings(Id, *o); !bad.empty())
    fail(j, loc.c_str(), std::string(attr) + ": " + bad);
  return decodeSetting<Id>(*o);
}

std::string checkAttrs(const abi::OpRow &row, const json::Value &attrs);

struct OpCtx {
  hone_job *j;
  const char *loc;
  std::string op;
  json::Value attrs;
  int32_t nObjs;
  void **objs;
  int32_t nIn;
  const hone_tensor *in;
  int32_t nOut;
  hone_tensor *out;
  uint64_t seq = 0; // call order (metrics are sorted by it)
  hone_loss_fn kernel = nullptr; // train_step
  int32_t nTokens = 0;           // train_step
  const abi::OpRow *row = nullptr; // the op's row (attributes checked)
  // The attributes every step row accepts (AbiTable.h kLaneAttr,
  // kAheadAttr), decoded with the row's: the lane hone-assign-lanes chose
  // (absent: the host lane) and the steps ahead of the current one whose
  // row the op's metrics belong to (absent: 0).
  std::optional<std::string> lane;
  int64_t ahead = 0;
  void *made = nullptr;            // an object op's result
  /// hone.generate with `stream_rows`: the stream its rows go to as they
  /// finish; hone.score or hone.logprob with `stream`: the stream it
  /// consumes (null: the op runs unstreamed).
  std::shared_ptr<hone::ops::RowStream> stream;

  [[noreturn]] void err(const std::string &m) const {
    fail(j, loc, "hone." + op + ": " + m);
  }

  /// The op's attributes as its row of runtime/abi/step_ops.inl types them
  /// (runtime/ops/Attrs.h). The call's JSON was checked against the row
  /// before the handler ran.
  template <abi::OpId Id> Attrs<Id> typed() const {
    if (!row || row->id != Id)
      err(std::string("the runtime reads the attributes of hone.") +
          abi::row(Id).name + " from this op");
    return decodeAttrs<Id>(attrs);
  }
  /// The call's counts and arrays agree (a count > 0 has an array).
  void checkArrays() const {
    if (nObjs < 0 || nIn < 0 || nOut < 0 || (nObjs && !objs) ||
        (nIn && !in) || (nOut && !out))
      err("bad operand arrays");
  }
  void counts(int objsLo, int objsHi, int inLo, int inHi, int outLo,
              int outHi) const {
    auto one = [&](const char *what, int n, int lo, int hi) {
      if (n < lo || n > hi)
        err(std::string("expected ") +
            (lo == hi ? std::to_string(lo)
                      : std::to_string(lo) + ".." + std::to_string(hi)) +
            " " + what + ", got " + std::to_string(n));
    };
    one("objects", nObjs, objsLo, objsHi);
    one("inputs", nIn, inLo, inHi);
    one("results", nOut, outLo, outHi);
  }
  // Checks a tensor: dtype (-1: f32 or f64), rank, dims (-1: any).
  const hone_tensor &tensor(const hone_tensor *ts, int i, const char *role,
                            const char *name, int dtype, int rank,
                            int64_t d0 = -1, int64_t d1 = -1) const {
    const hone_tensor &t = ts[i];
    std::string what = std::string(role) + " " + std::to_string(i) + " (" +
                       name + ")";
    if (!t.data && numel(t) > 0)
      err(what + ": null data");
    bool dtOk = dtype >= 0 ? t.dtype == dtype
                           : (t.dtype == HONE_F32 || t.dtype == HONE_F64);
    if (!dtOk)
      err(what + ": expected element type " +
          (dtype >= 0 ? std::string(dtypeName(dtype)) : "f32 or f64") +
          ", got " + shapeStr(t));
    if (t.rank != rank)
      err(what + ": expected rank " + std::to_string(rank) + ", got " +
          shapeStr(t));
    if ((rank >= 1 && d0 >= 0 && t.shape[0] != d0) ||
        (rank >= 2 && d1 >= 0 && t.shape[1] != d1)) {
      std::string want = "tensor<";
      want += (d0 >= 0 ? std::to_string(d0) : "?");
      if (rank == 2)
        want += "x" + (d1 >= 0 ? std::to_string(d1) : std::string("?"));
      err(what + ": expected shape " + want + "x...>, got " + shapeStr(t));
    }
    for (int k = 0; k < rank; ++k)
      if (t.shape[k] < 0)
        err(what + ": negative dimension");
    return t;
  }
  const hone_tensor &input(int i, const char *name, int dtype, int rank,
                           int64_t d0 = -1, int64_t d1 = -1) const {
    return tensor(in, i, "input", name, dtype, rank, d0, d1);
  }
  const hone_tensor &output(int i, const char *name, int dtype, int rank,
                            int64_t d0 = -1, int64_t d1 = -1) const {
    return tensor(out, i, "result", name, dtype, rank, d0, d1);
  }
  template <typename O> O *obj(int i, ObjKind k, const char *name) const {
    if (i >= nObjs || !objs[i])
      err(std::string("object ") + std::to_string(i) + " (" + name +
          ") is missing");
    auto *o = static_cast<Object *>(objs[i]);
    if (o->kind != k)
      err(std::string("object ") + std::to_string(i) + " is not a " + name);
    return static_cast<O *>(o);
  }
};

double rd(const hone_tensor &t, int64_t i);
void wr(hone_tensor &t, int64_t i, double v);
std::vector<float> toF(const hone_tensor &t);
void fromF(hone_tensor &t, const std::vector<float> &v);
int64_t i64At(const hone_tensor &t, int64_t i);
std::vector<int32_t> rowLengths(const hone_job *j, const int32_t *tok,
                                int64_t B, int64_t T);
/// Each row's length up to its last nonzero of `mask` [B, T] (at least 1),
/// into len[0..B): the rows of a read hone-pack-sequences packed to a loss
/// mask (train-step reads, hone.logprob, hone.value).
void maskedLengths(const hone_tensor &mask, int32_t *len);
void checkTokens(const OpCtx &c, const hone_tensor &t, const ModelObj *m);
/// hone-plan-memory's recompute_layers for model m's forwards in this op
/// (Transformer::setRecomputeLayers; absent: 0, every layer kept); an error
/// naming `what` outside [0, layers].
void setRecompute(const OpCtx &c, ModelObj &m, std::optional<int64_t> layers,
                  const std::string &what = "recompute_layers");

void setupTokenizer(hone_job *j);
std::string decodeResponse(hone_job *j, const int32_t *tok, const float *mask,
                           int64_t T, int64_t *ntok);

AdamWConfig optimizerConfig(hone_job *j, const std::string &loc,
                            const json::Value &o, int64_t steps);
void addMetric(const OpCtx &c, std::string name, double v);
void addTokens(hone_job *j, int64_t n, bool onlyIfNone = false);
void say(hone_job *j, const std::string &line);
void warn(hone_job *j, const std::string &line);
void checkSkipLimits(hone_job *j, const char *loc, int64_t stepNo,
                     const std::string &why);

// --- data (runtime/ops/DataOps.cpp) ------------------------------------------

/// Which tokens of a sequence a loss trains on (TRL's completion_only_loss
/// and assistant_only_loss).
struct LossMasks {
  bool completionOnly, assistantOnly;
};
/// The evaluation's NLL (eval_step) is over completions and assistant
/// turns, what the preference and RL stages train on.
inline constexpr LossMasks kEvalMasks{true, true};

Sequence seqOf(hone_job *j, const OpCtx &c, const DataLoader &dl,
               const Example &ex, int64_t T, LossMasks masks);
/// A preference record's chosen and rejected sequences as hone.data.next
/// `pairs` tokenizes them, cut to T tokens.
std::pair<Sequence, Sequence> pairOf(hone_job *j, const OpCtx &c,
                                     const DataLoader &dl, const Example &ex,
                                     int64_t T);
void opDataNext(OpCtx &c);
void opDataFetch(OpCtx &c);

// --- model reads (runtime/ops/ReadOps.cpp) -----------------------------------

void setStopStrings(hone_job *j, SamplingConfig &sc,
                    const std::vector<std::string> &stop);
void opGenerate(OpCtx &c);
void opLogprob(OpCtx &c);
void opReferenceTable(OpCtx &c);
void opReferenceRows(OpCtx &c);
void opValue(OpCtx &c);

// --- rewards (runtime/ops/RewardOps.cpp) -------------------------------------

struct ScoreRow {
  RewardInput in;
  const int32_t *tokens;
  const float *mask;
};

std::vector<double> scoreRows(hone_job *j, const OpCtx &c, RewardObj *r,
                              const std::vector<ScoreRow> &rows, int64_t T);
/// Row b of a hone.score's batch (B sequences of T tokens, `mask` that
/// row's T mask values): its prompt, answer and record (from ids, one per
/// sequence or per group) and the decoded response.
ScoreRow scoreRowOf(hone_job *j, const OpCtx &c, const int32_t *tokens,
                    const float *mask, int64_t b, int64_t B, int64_t T,
                    const hone_tensor &ids);
void opScore(OpCtx &c);
void opShapeReward(OpCtx &c);
void opAdvantage(OpCtx &c);
void opGroupAccuracy(OpCtx &c);
void opIndicator(OpCtx &c);
void opGroupFilter(OpCtx &c);

// --- the stage's state and periodic ops (runtime/ops/StageOps.cpp) -----------

StageObjects stageObjects(hone_job *j);
void opBufferPush(OpCtx &c);
void opBufferPop(OpCtx &c);
void opSchedule(OpCtx &c);
void opSave(OpCtx &c);
void opEvalStep(OpCtx &c);
void opSyncWeights(OpCtx &c);
void opRolloutsInFlight(OpCtx &c);
void opRolloutsResume(OpCtx &c);

// --- the train step (runtime/ops/TrainStep.cpp) ------------------------------

void runTrainStep(OpCtx &c);

// --- streaming scores (runtime/ops/Streams.cpp) ------------------------------

/// A reward model scores a batch in groups of this many consecutive rows
/// (one forward each; 1 by default), streamed or not: a streamed score
/// computes a group when its last row is published, so both orders run the
/// same forwards. HONE_RM_SCORE_ROWS=N sets it for a job (A/B measurements,
/// bench/overlap; the scores change by float rounding with it). One row:
/// the first finished row's score waits for one forward, not for the rest
/// of its group (10 % of a generation against 87 % with 8 rows, and the
/// same step time, on 2 cores: bench/RESULTS.md).
int64_t modelScoreRows();

/// The rows of each forward of a hone.logprob: its `row_group` (set by
/// hone-stream-scores on reference reads, streamed or not), at most its
/// `micro_batch`; 0 (all rows at once) without either.
int64_t logprobRowGroup(const OpCtx &c);

/// At submission, in program order (hone-stream-scores marked them): a
/// hone.generate with `stream_rows` opens a stream on its tokens buffer; a
/// hone.score or hone.logprob with `stream` whose tokens are that buffer
/// attaches to it and starts a worker that scores (or reads) rows as
/// generate publishes them. Either side without its partner runs
/// unstreamed.
void openStreams(OpCtx &c);
/// hone.generate: row `row` of its results is written (tokens, mask).
void publishRow(RowStream &s, int64_t row);
/// hone.generate: every row is published (or it failed).
void closeStream(RowStream &s);
/// hone.generate: the OpenMP threads it decodes with (before it runs).
void noteDecodeThreads(RowStream &s, int threads);
/// hone.score: waits for its worker and returns the row scores, in row
/// order, each computed by scoreRows on that row alone (so equal to the
/// unstreamed scores for rewards that score rows independently).
std::vector<double> streamedScores(OpCtx &c, int64_t B);
/// hone.logprob: waits for its worker and returns the log-probs [B, T],
/// each group of logprobRowGroup(c) rows from one forward, as the
/// unstreamed op computes them.
std::vector<float> streamedLogprobs(OpCtx &c, int64_t B, int64_t T);

// --- lanes (runtime/ops/Lanes.cpp) -------------------------------------------

/// Runs a held inline op (a streaming generate, see submit), then waits
/// until every lane is idle: the host's view of every buffer is complete.
void drainLanes(hone_job *j, const char *loc);
std::optional<exec::Lane> laneByName(const std::string &name);
void submit(OpCtx c, void (*body)(OpCtx &));

// --- object ops (runtime/ops/Objects.cpp) ------------------------------------

void objModelInit(OpCtx &c);
void objModelLoad(OpCtx &c);
void objModelNewHead(OpCtx &c);
void objModelLora(OpCtx &c);
void objSnapshot(OpCtx &c);
void objDataset(OpCtx &c);
void objBufferInit(OpCtx &c);
void objRewardVerifier(OpCtx &c);
void objRewardModel(OpCtx &c);
void objRewardExternal(OpCtx &c);
void objRewardCombine(OpCtx &c);

} // namespace hone::ops
