// The runtime side of the C ABI in hone_runtime.h (docs/abi.md): objects,
// stages with checkpoints and resume, every step op, and the train step
// around a generated loss kernel. Built on runtime/job (Job driver, batches,
// rewards, step primitives). CPU, float32.
#include "kernels/backend/Backend.h"
#include "kernels/cpu/CpuKernels.h"
#include "runtime/abi/AbiTable.h"
#include "runtime/abi/Comm.h"
#include "runtime/abi/hone_runtime.h"
#include "runtime/exec/Scheduler.h"

#include "runtime/base/Json.h"
#include "runtime/formats/AtomicFile.h"
#include "runtime/job/Advantages.h"
#include "runtime/job/Driver.h"
#include "runtime/job/MemoryCheck.h"
#include "runtime/job/Rewards.h"
#include "runtime/job/Steps.h"
#include "runtime/model/HfModel.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <set>
#include <sstream>
#include <unistd.h>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace hone;
using namespace hone::job;

namespace {

// --- objects -------------------------------------------------------------

enum class ObjKind { Model, Dataset, Reward, Buffer };

struct Object {
  ObjKind kind;
  explicit Object(ObjKind k) : kind(k) {}
  virtual ~Object() = default;
};

struct ModelObj : Object {
  ModelObj() : Object(ObjKind::Model) {}
  std::unique_ptr<Transformer<float>> model;
  std::unique_ptr<AdamW<float>> opt; // while a stage trains it
  std::string name;                  // "m<creation index>"
  bool mergeOnSave = false;          // LoRA: saves also write merged weights
  // The tokens of the last hone.value forward whose activations the model
  // keeps (forward number keptForward), for a train step's kept_forwards.
  const void *keptTokens = nullptr;
  uint64_t keptForward = 0;
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

// Record ids crossing the ABI name their dataset: (dataset << 40) | record.
constexpr int kIdShift = 40;
constexpr int64_t kIdMask = (int64_t(1) << kIdShift) - 1;

} // namespace

struct hone_job {
  JobArgs args;
  json::Value config;
  std::unique_ptr<Job> job;
  std::optional<Tokenizer> tokenizer;
  TextFormat fmt;
  uint64_t seed = 0;
  bool rollback = false; // on_nan
  bool abortOnNan = false; // on_nan = abort
  // Skipped steps that end the job (checkpointing.max_skipped_*), and the
  // counts of the open stage.
  double maxSkippedFraction = 0.1;
  int64_t maxSkippedInARow = 20;
  int64_t stageSkipped = 0, skippedInARow = 0;
  std::vector<std::string> argv;  // to restart the job for a rollback
  std::set<int64_t> nanSteps;     // steps that failed before a rollback: skipped
  std::set<int64_t> injectNan;    // HONE_INJECT_NAN_STEPS (fault injection)
  // Lanes (hone_rt_event): null when every step runs inline. Declared
  // before the objects: models compute with the lane kernels, which must
  // outlive them.
  std::unique_ptr<exec::Scheduler> sched;
  std::unique_ptr<Kernels<float>> laneKernels[exec::kNumLanes];
  std::vector<std::unique_ptr<Object>> objects;
  std::vector<ModelObj *> models;
  std::vector<DatasetObj *> datasets;
  std::vector<BufferObj *> buffers;
  bool inStage = false;
  std::string stageName;
  int64_t stageSteps = 0;
  json::Value stageOptimizer; // attrs "optimizer" of the open stage
  /// The step's metrics, each with the call sequence number of the op that
  /// logged it: lanes log concurrently, step_end sorts them into program
  /// order (so metrics.jsonl does not depend on the interleaving).
  std::vector<std::pair<uint64_t, observe::MetricValues::value_type>>
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
  json::Value resumedDeferred;
  // Train-step forwards taken from a hone.value's (kept_forwards).
  int64_t forwardsKept = 0;
  std::mutex mu; // stepMetrics, deferred, stepTokens, messages
  std::chrono::steady_clock::time_point stepStart;
  std::vector<exec::Event> events;
  std::vector<uint64_t> recorded; // records of each event so far
  uint64_t calls = 0;             // step calls so far (metric order)
  int cpuThreads = 1;
  std::thread::id mainThread;
  dist::Comm comm; // data-parallel ranks (mpirun); one rank otherwise
  void *arenaBlock = nullptr; // hone_rt_arena's allocation (freed at the end)
  MemoryCheck memory;           // the compiled plan vs the resident peak
  std::vector<char> injected;   // HONE_INJECT_UNPLANNED_BYTES (tests)
};

namespace {

/// fail()'s `loc` for a message that is located already ("FILE: error: ...").
const char kLocated[] = "";

[[noreturn]] void fail(hone_job *j, const char *loc, const std::string &what) {
  std::string w = boundMessage(what);
  if (w.rfind("error: ", 0) == 0)
    w = w.substr(7);
  if (loc == kLocated)
    std::fprintf(stderr, "%s\n", w.c_str());
  else
    std::fprintf(stderr, "%s: error: %s\n", loc && *loc ? loc : "<unknown>",
                 w.c_str());
  std::fflush(stderr);
  // Metrics are written line by line (flushed per step). From a lane
  // thread the process ends without exit handlers: the main thread may be
  // inside the runtime.
  if (j && j->comm.size > 1) { // the other ranks must not wait for this one
    std::fflush(nullptr);
    j->comm.abort(1);
  }
  if (j && std::this_thread::get_id() != j->mainThread) {
    std::fflush(nullptr);
    std::_Exit(1);
  }
  std::exit(1);
}

/// on_nan = rollback: records `step` as one to skip, then restarts this
/// executable with --resume, which continues from the newest complete
/// checkpoint (or the start) and skips the recorded steps. The replay is
/// deterministic, so without the skip the same step would fail again.
[[noreturn]] void rollbackAndRestart(hone_job *j, const char *loc,
                                     int64_t step, const std::string &why) {
  constexpr size_t kMaxRollbacks = 16;
  j->nanSteps.insert(step);
  if (j->nanSteps.size() > kMaxRollbacks)
    fail(j, loc,
         "hone.train_step: " + why + " at step " + std::to_string(step) +
             ": more than " + std::to_string(kMaxRollbacks) +
             " rollbacks in this run, giving up (lower the learning rate or "
             "check the data)");
  json::Value steps = json::Value::array();
  for (int64_t s : j->nanSteps)
    steps.push(json::Value(s));
  std::string path = j->job->runDir() + "/nan_steps.json";
  Status st = writeFileAtomic(path, json::serialize(steps) + "\n");
  if (!st.ok())
    fail(j, loc, "hone.train_step: on_nan = rollback: " + st.message());
  j->job->warn(j->stageName + ": step " + std::to_string(step) + ": " +
               why + "; rolling back to the last checkpoint (on_nan = "
                        "rollback), the step will be skipped");
  // Child reward processes must see their pipes close.
  for (auto &o : j->objects)
    if (o->kind == ObjKind::Reward)
      static_cast<RewardObj *>(o.get())->external.reset();
  std::vector<std::string> args = j->argv;
  if (std::find(args.begin(), args.end(), "--resume") == args.end())
    args.push_back("--resume");
  std::vector<char *> cargs;
  for (std::string &a : args)
    cargs.push_back(a.data());
  cargs.push_back(nullptr);
  std::fflush(nullptr);
  ::execv("/proc/self/exe", cargs.data());
  fail(j, loc, std::string("hone.train_step: on_nan = rollback: cannot "
                           "restart the job: ") + std::strerror(errno));
}

void check(hone_job *j, const char *loc, const Status &s) {
  if (!s)
    fail(j, loc, s.message() + (s.hint().empty() ? "" : " (" + s.hint() + ")"));
}

template <typename T> T take(hone_job *j, const char *loc, Expected<T> e) {
  if (!e)
    check(j, loc, e.status());
  return e.take();
}

json::Value parseJson(hone_job *j, const char *loc, const char *text,
                      const char *what) {
  if (!text || !*text)
    return json::Value::object();
  auto v = json::parse(text);
  if (!v)
    fail(j, loc, std::string(what) + ": invalid JSON: " + v.status().message());
  if (!v->isObject())
    fail(j, loc, std::string(what) + ": expected a JSON object");
  return v.take();
}

const json::Value *get(const json::Value &o, const char *key) {
  const json::Value *v = o.isObject() ? o.find(key) : nullptr;
  return v && !v->isNull() ? v : nullptr;
}
/// Quoted input in a message, cut to a readable length.
std::string clip(const std::string &s, size_t max = 200) {
  if (s.size() <= max)
    return s;
  return s.substr(0, max) + "... (" + std::to_string(s.size()) + " bytes)";
}

double num(const json::Value &o, const char *key, double def) {
  const json::Value *v = get(o, key);
  if (v && v->isNumber())
    return v->asDouble();
  if (v && v->isString()) { // "inf"/"-inf"/"nan" as honec writes them
    const std::string &s = v->asString();
    if (s == "inf")
      return INFINITY;
    if (s == "-inf")
      return -INFINITY;
    if (s == "nan")
      return NAN;
  }
  return def;
}
int64_t integer(const json::Value &o, const char *key, int64_t def) {
  const json::Value *v = get(o, key);
  if (v && v->isNumber())
    return v->isInt() ? v->asInt() : int64_t(v->asDouble());
  return def;
}
std::string str(const json::Value &o, const char *key,
                const std::string &def = "") {
  const json::Value *v = get(o, key);
  return v && v->isString() ? v->asString() : def;
}
bool flag(const json::Value &o, const char *key) {
  const json::Value *v = get(o, key);
  if (!v)
    return false;
  if (v->isBool())
    return v->asBool();
  return !v->isNumber() || v->asDouble() != 0; // unit attributes
}

// --- tensors ---------------------------------------------------------------

const char *dtypeName(int32_t d) {
  switch (d) {
  case HONE_F32: return "f32";
  case HONE_F64: return "f64";
  case HONE_I32: return "i32";
  case HONE_I64: return "i64";
  case HONE_I1: return "i1";
  }
  return "?";
}
size_t dtypeSize(int32_t d) {
  switch (d) {
  case HONE_F32: case HONE_I32: return 4;
  case HONE_F64: case HONE_I64: return 8;
  default: return 1;
  }
}
std::string shapeStr(const hone_tensor &t) {
  std::string s = "tensor<";
  for (int i = 0; i < t.rank && i < 2; ++i)
    s += std::to_string(t.shape[i]) + "x";
  return s + dtypeName(t.dtype) + ">";
}
int64_t numel(const hone_tensor &t) {
  int64_t n = 1;
  for (int i = 0; i < t.rank && i < 2; ++i)
    n *= t.shape[i];
  return n;
}

/// A number as honec writes it: a JSON number, or "nan", "inf", "-inf".
double asF64(const json::Value &v) {
  if (v.isNumber())
    return v.asDouble();
  const std::string &s = v.asString();
  return s == "inf" ? INFINITY : s == "-inf" ? -INFINITY : NAN;
}

/// A typed settings object (dialect/HoneSettings.td) as JSON: the compiler
/// writes every setting, so a missing or mistyped one is an error naming
/// it, never a default.
struct Settings {
  hone_job *j;
  std::string loc;
  const char *what;
  const json::Value &o;
  const json::Value &need(const char *key) const;
  double f64(const char *key) const { return asF64(need(key)); }
  int64_t i64(const char *key) const;
  std::string text(const char *key) const;
  bool boolean(const char *key) const;
  const json::Value &object(const char *key) const;
};

/// Whether `v` is a JSON value of kind `k`.
bool isKind(const json::Value &v, abi::Kind k) {
  auto isF64 = [](const json::Value &x) {
    return x.isNumber() ||
           (x.isString() && (x.asString() == "nan" || x.asString() == "inf" ||
                             x.asString() == "-inf"));
  };
  auto all = [&](auto pred) {
    if (!v.isArray())
      return false;
    for (const json::Value &x : v.items())
      if (!pred(x))
        return false;
    return true;
  };
  switch (k) {
  case abi::Kind::I64: return v.isInt();
  case abi::Kind::F64: return isF64(v);
  case abi::Kind::Bool:
  case abi::Kind::Unit: return v.isBool();
  case abi::Kind::Str: return v.isString();
  case abi::Kind::Strs:
    return all([](const json::Value &x) { return x.isString(); });
  case abi::Kind::I64s:
    return all([](const json::Value &x) { return x.isInt(); });
  case abi::Kind::F64s: return all(isF64);
  case abi::Kind::Obj: return v.isObject();
  }
  return false;
}

/// Checks `attrs` against the op's row of runtime/abi/step_ops.inl: every
/// required attribute present with its kind, optional ones of their kind,
/// nothing the row does not list. Returns the first disagreement, or "".
std::string checkAttrs(const abi::OpRow &row, const json::Value &attrs) {
  for (const abi::AttrRow &a : abi::kAttrs) {
    if (a.op != row.id)
      continue;
    const json::Value *v = get(attrs, a.name);
    if (!v) {
      if (a.need == abi::Need::Required)
        return std::string("missing attribute '") + a.name + "' (" +
               abi::kindName(a.kind) + ")";
      continue;
    }
    if (!isKind(*v, a.kind)) {
      std::string got = json::serialize(*v);
      if (got.size() > 40)
        got = got.substr(0, 37) + "...";
      return std::string("attribute '") + a.name + "' must be " +
             abi::kindName(a.kind) + ", got " + got;
    }
  }
  for (const auto &[k, v] : attrs.members()) {
    const abi::AttrRow *a = abi::findAttr(row, k);
    if (!a)
      return "unknown attribute '" + k +
             "' (runtime/abi/step_ops.inl lists the op's attributes)";
    if (a == &abi::kLaneAttr && !v.isNull() && !isKind(v, a->kind))
      return "attribute 'lane' must be a string";
  }
  return "";
}

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
  void *made = nullptr;            // an object op's result

  [[noreturn]] void err(const std::string &m) const {
    fail(j, loc, "hone." + op + ": " + m);
  }

  // Attributes, as the op's row lists them. The call's JSON was checked
  // against the row before the handler ran; these getters have no default:
  // reading an attribute the row does not list, or a required read of an
  // optional one that is absent, is an error naming it.
  const abi::AttrRow &listed(const char *name, abi::Kind k) const {
    const abi::AttrRow *a = row ? abi::findAttr(*row, name) : nullptr;
    if (!a || a->kind != k)
      err(std::string("the runtime reads attribute '") + name + "' as " +
          abi::kindName(k) +
          ", which runtime/abi/step_ops.inl does not list for this op");
    return *a;
  }
  /// The attribute's value if the call has it (an OPT attribute).
  const json::Value *opt(const char *name, abi::Kind k) const {
    listed(name, k);
    return get(attrs, name);
  }
  bool has(const char *name) const {
    return row && abi::findAttr(*row, name) && get(attrs, name);
  }
  const json::Value &need(const char *name, abi::Kind k) const {
    listed(name, k);
    const json::Value *v = get(attrs, name);
    if (!v)
      err(std::string("missing attribute '") + name + "' (" +
          abi::kindName(k) + ")");
    return *v;
  }
  int64_t i64(const char *name) const {
    return need(name, abi::Kind::I64).asInt();
  }
  double f64(const char *name) const {
    return asF64(need(name, abi::Kind::F64));
  }
  /// A BOOL or UNIT attribute.
  bool boolean(const char *name) const {
    const abi::AttrRow *a = row ? abi::findAttr(*row, name) : nullptr;
    return need(name, a && a->kind == abi::Kind::Unit ? abi::Kind::Unit
                                                      : abi::Kind::Bool)
        .asBool();
  }
  std::string text(const char *name) const {
    return need(name, abi::Kind::Str).asString();
  }
  std::vector<std::string> texts(const char *name) const {
    std::vector<std::string> out;
    for (const json::Value &x : need(name, abi::Kind::Strs).items())
      out.push_back(x.asString());
    return out;
  }
  std::vector<int64_t> i64s(const char *name) const {
    std::vector<int64_t> out;
    for (const json::Value &x : need(name, abi::Kind::I64s).items())
      out.push_back(x.asInt());
    return out;
  }
  std::vector<double> f64s(const char *name) const {
    std::vector<double> out;
    const json::Value &a = need(name, abi::Kind::F64s);
    for (const json::Value &x : a.items())
      out.push_back(asF64(x));
    return out;
  }
  const json::Value &object(const char *name) const {
    return need(name, abi::Kind::Obj);
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

// Reads element i of a float tensor as double; writes likewise.
double rd(const hone_tensor &t, int64_t i) {
  switch (t.dtype) {
  case HONE_F32: return static_cast<const float *>(t.data)[i];
  case HONE_F64: return static_cast<const double *>(t.data)[i];
  case HONE_I32: return static_cast<const int32_t *>(t.data)[i];
  case HONE_I64: return double(static_cast<const int64_t *>(t.data)[i]);
  default: return static_cast<const uint8_t *>(t.data)[i];
  }
}
void wr(hone_tensor &t, int64_t i, double v) {
  switch (t.dtype) {
  case HONE_F32: static_cast<float *>(t.data)[i] = float(v); break;
  case HONE_F64: static_cast<double *>(t.data)[i] = v; break;
  case HONE_I32: static_cast<int32_t *>(t.data)[i] = int32_t(v); break;
  case HONE_I64: static_cast<int64_t *>(t.data)[i] = int64_t(v); break;
  default: static_cast<uint8_t *>(t.data)[i] = v != 0; break;
  }
}
std::vector<float> toF(const hone_tensor &t) {
  std::vector<float> v(size_t(numel(t)));
  for (int64_t i = 0; i < numel(t); ++i)
    v[size_t(i)] = float(rd(t, i));
  return v;
}
void fromF(hone_tensor &t, const std::vector<float> &v) {
  for (int64_t i = 0; i < numel(t) && i < int64_t(v.size()); ++i)
    wr(t, i, v[size_t(i)]);
}
int64_t i64At(const hone_tensor &t, int64_t i) {
  return t.dtype == HONE_I64 ? static_cast<const int64_t *>(t.data)[i]
                             : int64_t(rd(t, i));
}

// Lengths of right-padded token rows: the last non-pad token + 1 (>= 1).
std::vector<int32_t> rowLengths(const hone_job *j, const int32_t *tok,
                                int64_t B, int64_t T) {
  std::vector<int32_t> len(static_cast<size_t>(B), static_cast<int32_t>(T));
  for (int64_t b = 0; b < B; ++b) {
    int64_t n = T;
    while (n > 1 && tok[b * T + n - 1] == j->fmt.padToken)
      --n;
    len[size_t(b)] = int32_t(n);
  }
  return len;
}

void checkTokens(const OpCtx &c, const hone_tensor &t, const ModelObj *m) {
  const int32_t *p = static_cast<const int32_t *>(t.data);
  int64_t V = m->model->config().vocabSize;
  if (t.shape[1] > m->model->config().maxSeqLen)
    c.err("sequence length " + std::to_string(t.shape[1]) +
          " exceeds the model's max_seq " +
          std::to_string(m->model->config().maxSeqLen));
  for (int64_t i = 0; i < numel(t); ++i)
    if (p[i] < 0 || p[i] >= V)
      c.err("token id " + std::to_string(p[i]) + " out of the vocabulary [0," +
            std::to_string(V) + ")");
}

// --- model configuration ------------------------------------------------------

ModelConfig archConfig(hone_job *j, const char *loc, const json::Value &attrs) {
  const json::Value *a = get(attrs, "arch");
  if (!a || !a->isObject())
    fail(j, loc, "model op without an \"arch\" object in its attributes");
  // #hone.arch (dialect/HoneAttrs.td) with every field: none is defaulted
  // here (passes/AttrToJson.cpp writes them all).
  Settings s{j, loc, "arch", *a};
  ModelConfig c;
  std::string fam = s.text("family");
  if (fam == "gpt2")
    c.family = ModelFamily::GPT2;
  else if (fam == "llama" || fam == "qwen2")
    c.family = ModelFamily::Llama;
  else
    fail(j, loc, "unknown model family '" + fam + "' (gpt2, llama)");
  c.vocabSize = s.i64("vocab");
  c.dModel = s.i64("d_model");
  c.nLayers = s.i64("layers");
  c.nHeads = s.i64("heads");
  c.nKvHeads = s.i64("kv_heads");
  c.dFf = s.i64("ffn");
  c.maxSeqLen = s.i64("max_seq");
  c.normEps = s.f64("norm_eps");
  c.ropeTheta = s.f64("rope_theta");
  if (!(c.normEps > 0) || !(c.ropeTheta > 0))
    fail(j, loc, "arch: norm_eps and rope_theta must be positive");
  c.tieEmbeddings = s.boolean("tied");
  c.qkvBias = s.boolean("qkv_bias");
  c.headDimension = s.i64("head_dim");
  c.qkNorm = s.boolean("qk_norm");
  std::string scaling = s.text("rope_scaling");
  if (scaling == "llama3")
    c.ropeScaling = ModelConfig::RopeScaling::Llama3;
  else if (scaling == "linear")
    c.ropeScaling = ModelConfig::RopeScaling::Linear;
  else if (scaling != "none")
    fail(j, loc, "unknown rope_scaling '" + scaling + "' (linear, llama3)");
  c.ropeFactor = s.f64("rope_factor");
  c.ropeLowFreqFactor = s.f64("rope_low_freq");
  c.ropeHighFreqFactor = s.f64("rope_high_freq");
  c.ropeOriginalMaxPos = s.i64("rope_original_max");
  if (c.family == ModelFamily::GPT2)
    c.nKvHeads = c.nHeads;
  std::string head = str(attrs, "head", "lm");
  if (head == "scalar")
    c.head = HeadKind::Scalar;
  else if (head == "lm")
    c.head = HeadKind::LM;
  else
    fail(j, loc, "unknown head '" + head + "' (lm, scalar)");
  check(j, loc, validateModelConfig(c));
  return c;
}

ModelObj *newModel(hone_job *j, std::unique_ptr<Transformer<float>> m) {
  auto o = std::make_unique<ModelObj>();
  o->model = std::move(m);
  o->name = "m" + std::to_string(j->models.size());
  ModelObj *p = o.get();
  j->models.push_back(p);
  j->objects.push_back(std::move(o));
  return p;
}

// --- tokenizer and text -----------------------------------------------------

void setupTokenizer(hone_job *j) {
  const char *loc = "config";
  // `#hone.tokenizer` (dialect/HoneSettings.td): exactly one of chars and
  // file, and a chat template; nothing here has a default.
  Settings cfg{j, loc, "config", j->config};
  Settings t{j, loc, "tokenizer", cfg.object("tokenizer")};
  if (get(t.o, "chars")) {
    Settings chars{j, loc, "tokenizer.chars", t.object("chars")};
    std::vector<std::string> specials;
    const json::Value &s = chars.need("special");
    if (!isKind(s, abi::Kind::Strs))
      fail(j, loc, "tokenizer.chars.special is not a list of strings");
    for (const json::Value &x : s.items())
      specials.push_back(x.asString());
    j->tokenizer.emplace(take(j, loc, Tokenizer::character(
                                          chars.text("alphabet"), specials)));
  } else {
    j->tokenizer.emplace(take(j, loc, Tokenizer::loadHfJson(t.text("file"))));
  }
  // EOS, padding and the chat template as the compiler measured the rows
  // with (runtime/data/Sequences.h); from_model reads the template beside
  // tokenizer.json (docs/formats.md).
  std::string file = get(t.o, "file") ? t.text("file") : "";
  size_t slash = file.rfind('/');
  std::string dir = slash == std::string::npos ? "." : file.substr(0, slash);
  j->fmt = take(j, loc,
                textFormatFor(*j->tokenizer, t.text("chat_template"), dir));
}

std::string decodeResponse(hone_job *j, const int32_t *tok, const float *mask,
                           int64_t T, int64_t *ntok) {
  std::vector<int32_t> ids;
  for (int64_t t = 0; t < T; ++t)
    if (mask[t] > 0 && tok[t] != j->fmt.eosToken && tok[t] != j->fmt.padToken)
      ids.push_back(tok[t]);
  int64_t n = 0;
  for (int64_t t = 0; t < T; ++t)
    n += mask[t] > 0;
  if (ntok)
    *ntok = n;
  auto s = j->tokenizer->decode(ids, true);
  return s ? *s : std::string();
}

// Writes right-padded sequences into [B,T] tokens and mask tensors.
void putSeqs(hone_job *j, const std::vector<Sequence> &seqs, hone_tensor &tok,
             hone_tensor &mask) {
  int64_t T = tok.shape[1];
  auto *tp = static_cast<int32_t *>(tok.data);
  for (size_t b = 0; b < seqs.size(); ++b)
    for (int64_t t = 0; t < T; ++t) {
      bool in = t < int64_t(seqs[b].ids.size());
      tp[int64_t(b) * T + t] = in ? seqs[b].ids[size_t(t)] : j->fmt.padToken;
      wr(mask, int64_t(b) * T + t, in ? double(seqs[b].mask[size_t(t)]) : 0.0);
    }
}

/// A record that cannot be tokenized, at the record: "FILE:LINE: WHAT".
[[noreturn]] void recordErr(const OpCtx &c, const DataLoader &dl,
                            const Example &ex, const Status &s) {
  std::string m = s.message();
  c.err(dl.where(ex) + ": " + (m.rfind("error: ", 0) == 0 ? m.substr(7) : m));
}

/// Which tokens of a sequence a loss trains on (TRL's completion_only_loss
/// and assistant_only_loss).
struct LossMasks {
  bool completionOnly, assistantOnly;
};
/// A data.next / data.fetch op's masks: an SFT stage's spec settings, true
/// for both in preference and RL stages; always sent (runtime/abi/step_ops.inl).
LossMasks masksOf(const OpCtx &c) {
  return {c.boolean("completion_only_loss"), c.boolean("assistant_only_loss")};
}
/// The evaluation's NLL (eval_step) is over completions and assistant
/// turns, what the preference and RL stages train on.
constexpr LossMasks kEvalMasks{true, true};

Sequence seqOf(hone_job *j, const OpCtx &c, const DataLoader &dl,
               const Example &ex, int64_t T, LossMasks masks) {
  TextFormat f = j->fmt;
  f.maxSeqLen = T;
  f.completionOnlyLoss = masks.completionOnly;
  f.assistantOnlyLoss = masks.assistantOnly;
  auto s = tokenizeExample(f, ex);
  if (!s)
    recordErr(c, dl, ex, s.status());
  Sequence q = s.take();
  if (int64_t(q.ids.size()) > T) {
    q.ids.resize(size_t(T));
    q.mask.resize(size_t(T));
  }
  return q;
}

/// Rows whose mask is empty after truncation to T tokens (the first token
/// is never predicted) train nothing. Counted for the stage's end; a first
/// batch with no trainable token at all ends the job, which would otherwise
/// train on nothing with loss 0 and exit 0.
void countUntrained(const OpCtx &c, DatasetObj &d,
                    const std::vector<size_t> &idx,
                    const std::vector<Sequence> &seqs, int64_t T) {
  int64_t none = 0;
  for (size_t k = 0; k < seqs.size(); ++k) {
    bool any = false;
    for (size_t t = 1; t < seqs[k].mask.size() && !any; ++t)
      any = seqs[k].mask[t] > 0;
    if (any)
      continue;
    ++none;
    if (d.rowsUntrained++ == 0)
      d.firstUntrainedLine = d.data->example(idx[k]).line;
  }
  bool first = d.rowsRead == 0;
  d.rowsRead += int64_t(seqs.size());
  if (first && none == int64_t(seqs.size()) && none > 0)
    c.err(d.path + ":" + std::to_string(d.firstUntrainedLine) +
          ": no row of the first batch (" + std::to_string(none) +
          ") has a trainable token within " + std::to_string(T) +
          " tokens: the prompts fill the sequence (hint: raise max_seq_len "
          "or max_length, or shorten the prompts)");
}

// --- rewards ----------------------------------------------------------------

struct ScoreRow {
  RewardInput in;
  const int32_t *tokens;
  const float *mask;
};

std::vector<double> scoreRows(hone_job *j, const OpCtx &c, RewardObj *r,
                              const std::vector<ScoreRow> &rows, int64_t T) {
  std::vector<double> out(rows.size(), 0.0);
  switch (r->kind) {
  case RewardObj::Kind::Verifier:
    for (size_t i = 0; i < rows.size(); ++i)
      out[i] = r->verifier->score(rows[i].in);
    break;
  case RewardObj::Kind::Length:
    for (size_t i = 0; i < rows.size(); ++i)
      out[i] = r->penalty * overlongPenalty(rows[i].in.completionTokens,
                                            r->maxLength, r->cacheLength);
    break;
  case RewardObj::Kind::Model: {
    auto &m = *r->model->model;
    std::vector<int32_t> tok, len;
    for (const ScoreRow &s : rows) {
      tok.insert(tok.end(), s.tokens, s.tokens + T);
      int64_t last = 0;
      for (int64_t t = 0; t < T; ++t)
        if (s.mask[t] > 0)
          last = t;
      len.push_back(int32_t(std::max<int64_t>(last + 1, 1)));
    }
    TokenBatch tb{int64_t(rows.size()), T, tok.data(), len.data()};
    auto v = rewardModelScores(m, tb);
    if (!v)
      c.err(v.status().message());
    for (size_t i = 0; i < rows.size(); ++i)
      out[i] = (*v)[i];
    break;
  }
  case RewardObj::Kind::External: {
    std::vector<RewardInput> ins;
    for (const ScoreRow &s : rows)
      ins.push_back(s.in);
    auto v = r->external->score(ins);
    if (!v)
      c.err(v.status().message());
    out = v.take();
    break;
  }
  case RewardObj::Kind::Combine:
    for (size_t p = 0; p < r->parts.size(); ++p) {
      auto v = scoreRows(j, c, r->parts[p], rows, T);
      for (size_t i = 0; i < rows.size(); ++i)
        out[i] += r->weights[p] * v[i];
    }
    break;
  }
  return out;
}

const DataLoader *datasetOfId(hone_job *j, const OpCtx &c, int64_t id,
                              size_t *rec) {
  int64_t d = id >> kIdShift, r = id & kIdMask;
  if (id < 0 || d >= int64_t(j->datasets.size()))
    c.err("record id " + std::to_string(id) + " names no dataset");
  const DataLoader *dl = j->datasets[size_t(d)]->data.get();
  if (r >= int64_t(dl->size()))
    c.err("record id " + std::to_string(id) + " out of range");
  *rec = size_t(r);
  return dl;
}

// --- the open stage ---------------------------------------------------------

const json::Value &Settings::need(const char *key) const {
  const json::Value *v = o.isObject() ? o.find(key) : nullptr;
  if (!v || v->isNull())
    fail(j, loc.c_str(), std::string(what) + ": missing setting '" + key +
                     "' (the compiler writes every setting)");
  return *v;
}
int64_t Settings::i64(const char *key) const {
  const json::Value &v = need(key);
  if (!v.isNumber() || !v.isInt())
    fail(j, loc.c_str(), std::string(what) + ": setting '" + key +
                     "' is not an integer");
  return v.asInt();
}
std::string Settings::text(const char *key) const {
  const json::Value &v = need(key);
  if (!v.isString())
    fail(j, loc.c_str(), std::string(what) + ": setting '" + key +
                     "' is not a string");
  return v.asString();
}
bool Settings::boolean(const char *key) const {
  const json::Value &v = need(key);
  if (!v.isBool())
    fail(j, loc.c_str(), std::string(what) + ": setting '" + key +
                     "' is not true or false");
  return v.asBool();
}
const json::Value &Settings::object(const char *key) const {
  const json::Value &v = need(key);
  if (!v.isObject())
    fail(j, loc.c_str(), std::string(what) + ": setting '" + key +
                     "' is not an object");
  return v;
}

AdamWConfig optimizerConfig(hone_job *j, const std::string &loc,
                            const json::Value &o, int64_t steps) {
  Settings opt{j, loc, "optimizer", o};
  AdamWConfig c;
  c.lr = opt.f64("lr");
  c.beta1 = opt.f64("beta1");
  c.beta2 = opt.f64("beta2");
  c.eps = opt.f64("eps");
  c.weightDecay = opt.f64("weight_decay");
  c.maxGradNorm = opt.f64("max_grad_norm");
  std::string s = opt.text("schedule");
  if (s == "linear_decay")
    c.schedule.kind = LrSchedule::Kind::Linear;
  else if (s == "cosine_decay")
    c.schedule.kind = LrSchedule::Kind::Cosine;
  else if (s == "constant_lr")
    c.schedule.kind = LrSchedule::Kind::Constant;
  else
    fail(j, loc.c_str(), "optimizer: unknown schedule '" + s +
                     "' (constant_lr, linear_decay, cosine_decay)");
  c.schedule.warmupSteps = opt.i64("warmup_steps");
  c.schedule.minLrRatio = opt.f64("min_lr_ratio");
  c.schedule.totalSteps = std::max<int64_t>(steps, 1);
  return c;
}

std::string toHex(const void *p, size_t n) {
  static const char digits[] = "0123456789abcdef";
  std::string out(2 * n, '0');
  auto *b = static_cast<const unsigned char *>(p);
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = digits[b[i] >> 4];
    out[2 * i + 1] = digits[b[i] & 15];
  }
  return out;
}

bool fromHex(const std::string &s, std::string &out) {
  if (s.size() % 2)
    return false;
  out.resize(s.size() / 2);
  auto nib = [](char c) {
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                  : -1;
  };
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = nib(s[2 * i]), lo = nib(s[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return false;
    out[i] = char(hi << 4 | lo);
  }
  return true;
}

/// The run state beyond models, optimizers and data cursors: ReLIFT's
/// buffers (an array, as before pipelined stages existed) or, inside a
/// pipelined RL stage, {"buffers", "rollouts": hex bytes of each rollout in
/// flight, "deferred": [steps ahead, call order, name, hex of the double]}
/// (the metrics those rollouts logged ahead of their steps).
json::Value saveBuffers(hone_job *j) {
  json::Value a = json::Value::array();
  for (BufferObj *b : j->buffers) {
    json::Value ids = json::Value::array();
    for (int64_t id : b->ids)
      ids.push(json::Value(id));
    a.push(std::move(ids));
  }
  if (j->inFlight.empty())
    return a;
  json::Value o = json::Value::object();
  o.set("buffers", std::move(a));
  json::Value r = json::Value::array();
  for (auto [p, n] : j->inFlight)
    r.push(json::Value(toHex(p, n)));
  o.set("rollouts", std::move(r));
  json::Value d = json::Value::array();
  for (auto &[due, m] : j->deferred) {
    json::Value e = json::Value::array();
    e.push(json::Value(due - j->stepEnds));
    e.push(json::Value(std::to_string(m.first)));
    e.push(json::Value(m.second.first));
    e.push(json::Value(toHex(&m.second.second, sizeof(double))));
    d.push(std::move(e));
  }
  o.set("deferred", std::move(d));
  return o;
}

Status restoreBuffers(hone_job *j, const json::Value &saved) {
  const json::Value *buffers = &saved;
  j->resumedRollouts.clear();
  j->resumedDeferred = json::Value();
  if (saved.isObject()) {
    buffers = saved.find("buffers");
    const json::Value *r = saved.find("rollouts");
    const json::Value *d = saved.find("deferred");
    if (!buffers || !r || !r->isArray() || !d || !d->isArray())
      return Status::error("error: checkpoint: malformed rollouts in flight");
    for (const json::Value &x : r->items()) {
      std::string bytes;
      if (!x.isString() || !fromHex(x.asString(), bytes))
        return Status::error("error: checkpoint: malformed rollouts in flight");
      j->resumedRollouts.push_back(std::move(bytes));
    }
    j->resumedDeferred = *d;
  }
  const json::Value &v = *buffers;
  if (!v.isArray() || v.size() != j->buffers.size())
    return Status::error("error: checkpoint: buffers differ from the program");
  for (size_t i = 0; i < j->buffers.size(); ++i) {
    j->buffers[i]->ids.clear();
    for (const json::Value &x : v.items()[i].items())
      j->buffers[i]->ids.push_back(x.asInt());
  }
  return Status::ok();
}

StageObjects stageObjects(hone_job *j) {
  StageObjects so;
  for (ModelObj *m : j->models)
    so.models.push_back({m->name, m->model.get()});
  for (ModelObj *m : j->models)
    if (m->opt)
      so.optimizers.push_back({m->name, m->opt.get()});
  for (DatasetObj *d : j->datasets)
    so.loaders.push_back({d->name, d->data.get()});
  so.saveExtra = [j] { return saveBuffers(j); };
  so.restoreExtra = [j](const json::Value &v) { return restoreBuffers(j, v); };
  return so;
}

bool skipOutsideStage(hone_job *j) {
  // An op between stages already ran when a later stage has a checkpoint.
  return !j->inStage && j->job->resumeStage() >= j->job->stagesBegun();
}

// --- step ops ---------------------------------------------------------------

/// Lanes log concurrently: metrics carry their op's call order.
void addMetric(const OpCtx &c, std::string name, double v) {
  int64_t ahead = c.has("ahead") ? c.i64("ahead") : 0;
  std::lock_guard<std::mutex> g(c.j->mu);
  if (ahead > 0)
    c.j->deferred.push_back(
        {c.j->stepEnds + ahead, {c.seq, {std::move(name), v}}});
  else
    c.j->stepMetrics.push_back({c.seq, {std::move(name), v}});
}
void addTokens(hone_job *j, int64_t n, bool onlyIfNone = false) {
  std::lock_guard<std::mutex> g(j->mu);
  if (!onlyIfNone || j->stepTokens == 0)
    j->stepTokens += n;
}
void say(hone_job *j, const std::string &line) {
  std::lock_guard<std::mutex> g(j->mu);
  j->job->message(line);
}

void warn(hone_job *j, const std::string &line) {
  std::lock_guard<std::mutex> g(j->mu);
  j->job->warn(line);
}

/// on_nan = skip (and rollback's second try) may not hide a run that has
/// stopped learning: past the spec's limits the job ends with exit 1 before
/// anything is exported.
void checkSkipLimits(hone_job *j, const char *loc, int64_t stepNo,
                     const std::string &why) {
  ++j->stageSkipped;
  ++j->skippedInARow;
  std::string what;
  if (j->maxSkippedInARow > 0 && j->skippedInARow > j->maxSkippedInARow)
    what = std::to_string(j->skippedInARow) + " steps in a row skipped, more "
           "than checkpointing.max_skipped_in_a_row (" +
           std::to_string(j->maxSkippedInARow) + ")";
  else if (j->maxSkippedFraction < 1 &&
           double(j->stageSkipped) >
               j->maxSkippedFraction * double(std::max<int64_t>(j->stageSteps, 1)))
    what = std::to_string(j->stageSkipped) + " of the stage's " +
           std::to_string(j->stageSteps) + " steps skipped, more than "
           "checkpointing.max_skipped_fraction (" +
           json::serialize(json::Value(j->maxSkippedFraction)) + ")";
  if (!what.empty())
    fail(j, loc, "hone.train_step: step " + std::to_string(stepNo) + ": " +
                     why + ": " + what +
                     "; the run stops without exporting (hint: lower the "
                     "learning rate or check the data)");
}

/// The spec's generation `stop` strings (a JSON array), matched on the
/// completion's bytes through the job's tokenizer.
void setStopStrings(hone_job *j, SamplingConfig &sc, const json::Value *stop) {
  if (!stop || !stop->isArray() || !j->tokenizer)
    return;
  for (const json::Value &s : stop->items())
    if (s.isString() && !s.asString().empty())
      sc.stopStrings.push_back(s.asString());
  const Tokenizer *tok = &*j->tokenizer;
  if (!sc.stopStrings.empty())
    sc.tokenBytes = [tok](int32_t id) { return tok->tokenBytes(id); };
}

/// This rank's share of the next `n * ranks` rows: every rank's cursor moves
/// alike and each takes its own consecutive `n`.
std::vector<size_t> takeRows(hone_job *j, DataLoader &dl, size_t n) {
  std::vector<size_t> all = dl.take(n * size_t(j->comm.size));
  if (j->comm.size == 1)
    return all;
  auto first = all.begin() + std::ptrdiff_t(n) * j->comm.rank;
  return std::vector<size_t>(first, first + std::ptrdiff_t(n));
}

void opDataNext(OpCtx &c) {
  hone_job *j = c.j;
  auto *d = c.obj<DatasetObj>(0, ObjKind::Dataset, "dataset");
  c.counts(1, 1, 1, 1, 3, 6);
  c.input(0, "step", HONE_I64, 0);
  std::string part = c.text("part");
  DataLoader &dl = *d->data;
  auto ids = [&](int i, const std::vector<size_t> &idx) {
    hone_tensor &t = c.out[i];
    c.output(i, "ids", HONE_I64, 1, int64_t(idx.size()));
    for (size_t k = 0; k < idx.size(); ++k)
      wr(t, int64_t(k), double((d->index << kIdShift) | int64_t(idx[k])));
  };
  if (part == "sequences") {
    if (c.nOut != 3)
      c.err("part sequences yields 3 results");
    const hone_tensor &tok = c.output(0, "tokens", HONE_I32, 2);
    int64_t B = tok.shape[0], T = tok.shape[1];
    c.output(1, "mask", -1, 2, B, T);
    c.output(2, "ids", HONE_I64, 1, B);
    auto idx = takeRows(j, dl, size_t(B));
    std::vector<Sequence> seqs;
    for (size_t i : idx)
      seqs.push_back(seqOf(j, c, dl, dl.example(i), T, masksOf(c)));
    countUntrained(c, *d, idx, seqs, T);
    putSeqs(j, seqs, c.out[0], c.out[1]);
    ids(2, idx);
  } else if (part == "prompts") {
    if (c.nOut != 3)
      c.err("part prompts yields 3 results");
    const hone_tensor &tok = c.output(0, "prompt tokens", HONE_I32, 2);
    int64_t P = tok.shape[0], T = tok.shape[1];
    c.output(1, "prompt mask", -1, 2, P, T);
    c.output(2, "ids", HONE_I64, 1, P);
    auto idx = takeRows(j, dl, size_t(P));
    auto *tp = static_cast<int32_t *>(c.out[0].data);
    for (size_t k = 0; k < idx.size(); ++k) {
      auto p = tokenizePrompt(j->fmt, dl.example(idx[k]));
      if (!p)
        recordErr(c, dl, dl.example(idx[k]), p.status());
      std::vector<int32_t> ids = p.take();
      if (int64_t(ids.size()) > T) // keep the end of an over-long prompt
        ids.erase(ids.begin(), ids.end() - T);
      int64_t off = T - int64_t(ids.size()); // left-padded
      for (int64_t t = 0; t < T; ++t) {
        bool in = t >= off;
        tp[int64_t(k) * T + t] = in ? ids[size_t(t - off)] : j->fmt.padToken;
        wr(c.out[1], int64_t(k) * T + t, in ? 1.0 : 0.0);
      }
    }
    ids(2, idx);
  } else if (part == "pairs") {
    if (c.nOut != 5)
      c.err("part pairs yields 5 results");
    const hone_tensor &tok = c.output(0, "chosen tokens", HONE_I32, 2);
    int64_t B = tok.shape[0], T = tok.shape[1];
    c.output(1, "chosen mask", -1, 2, B, T);
    c.output(2, "rejected tokens", HONE_I32, 2, B, T);
    c.output(3, "rejected mask", -1, 2, B, T);
    c.output(4, "ids", HONE_I64, 1, B);
    auto idx = takeRows(j, dl, size_t(B));
    std::vector<Sequence> ch, rj;
    TextFormat f = j->fmt;
    f.maxSeqLen = T;
    for (size_t i : idx) {
      const Example &ex = dl.example(i);
      auto a = tokenizePair(f, ex, ex.chosen, ex.chosenMessages);
      auto b = tokenizePair(f, ex, ex.rejected, ex.rejectedMessages);
      if (!a || !b)
        recordErr(c, dl, ex, !a ? a.status() : b.status());
      ch.push_back(a.take());
      rj.push_back(b.take());
    }
    for (auto *v : {&ch, &rj})
      for (Sequence &s : *v)
        if (int64_t(s.ids.size()) > T) {
          s.ids.resize(size_t(T));
          s.mask.resize(size_t(T));
        }
    putSeqs(j, ch, c.out[0], c.out[1]);
    putSeqs(j, rj, c.out[2], c.out[3]);
    ids(4, idx);
  } else if (part == "labelled") {
    if (c.nOut != 6)
      c.err("part labelled yields 6 results");
    const hone_tensor &tok = c.output(0, "tokens", HONE_I32, 2);
    int64_t B = tok.shape[0], T = tok.shape[1];
    c.output(1, "mask", -1, 2, B, T);
    c.output(2, "label", -1, 1, B);
    c.output(3, "mismatched tokens", HONE_I32, 2, B, T);
    c.output(4, "mismatched mask", -1, 2, B, T);
    c.output(5, "ids", HONE_I64, 1, B);
    auto idx = takeRows(j, dl, size_t(B));
    std::vector<Sequence> s, mm;
    TextFormat f = j->fmt;
    f.maxSeqLen = T;
    for (size_t k = 0; k < idx.size(); ++k) {
      const Example &ex = dl.example(idx[k]);
      const Example &nx = dl.example(idx[(k + 1) % idx.size()]);
      s.push_back(seqOf(j, c, dl, ex, T, masksOf(c)));
      auto m = tokenizePair(f, ex, nx.completion, nx.completionMessages);
      if (!m)
        recordErr(c, dl, nx, m.status());
      Sequence q = m.take();
      if (int64_t(q.ids.size()) > T) {
        q.ids.resize(size_t(T));
        q.mask.resize(size_t(T));
      }
      mm.push_back(q);
      wr(c.out[2], int64_t(k), ex.label ? 1.0 : 0.0);
    }
    putSeqs(j, s, c.out[0], c.out[1]);
    putSeqs(j, mm, c.out[3], c.out[4]);
    ids(5, idx);
  } else {
    c.err("unknown part '" + part + "' (sequences, prompts, pairs, labelled)");
  }
}

void opDataFetch(OpCtx &c) {
  auto *d = c.obj<DatasetObj>(0, ObjKind::Dataset, "dataset");
  c.counts(1, 1, 1, 1, 2, 2);
  const hone_tensor &ids = c.input(0, "ids", HONE_I64, 1);
  int64_t n = ids.shape[0];
  const hone_tensor &tok = c.output(0, "tokens", HONE_I32, 2, n);
  c.output(1, "mask", -1, 2, n, tok.shape[1]);
  std::vector<Sequence> seqs;
  for (int64_t i = 0; i < n; ++i) {
    int64_t r = i64At(ids, i) & kIdMask; // aligned datasets: same record
    if (i64At(ids, i) < 0 || r >= int64_t(d->data->size()))
      c.err("record id " + std::to_string(i64At(ids, i)) + " out of range");
    seqs.push_back(
        seqOf(c.j, c, *d->data, d->data->example(size_t(r)), tok.shape[1],
              masksOf(c)));
  }
  putSeqs(c.j, seqs, c.out[0], c.out[1]);
}

void opGenerate(OpCtx &c) {
  hone_job *j = c.j;
  auto *m = c.obj<ModelObj>(0, ObjKind::Model, "model");
  c.counts(1, 1, 3, 6, 3, 4);
  const hone_tensor &pt = c.input(0, "prompts", HONE_I32, 2);
  int64_t P = pt.shape[0], Tp = pt.shape[1];
  const hone_tensor &pm = c.input(1, "prompt mask", -1, 2, P, Tp);
  c.input(2, "step", HONE_I64, 0);
  int64_t n = c.i64("n");
  if (n < 1)
    c.err("n must be at least 1");
  const hone_tensor &tok = c.output(0, "tokens", HONE_I32, 2, n * P);
  int64_t B = n * P, T = tok.shape[1];
  if (T <= Tp)
    c.err("result length " + std::to_string(T) +
          " leaves no room after prompts of " + std::to_string(Tp));
  c.output(1, "mask", -1, 2, B, T);
  c.output(2, "logprobs", -1, 2, B, T);
  int64_t offPolicy = c.i64("off_policy");
  const hone_tensor *demo = nullptr, *demoMask = nullptr;
  int64_t hint = -1;
  double hintFraction = -1; // hint_is_fraction: the hint as a fraction
  if (c.nIn >= 5) {
    demo = &c.input(3, "demos", HONE_I32, 2, P);
    demoMask = &c.input(4, "demo mask", -1, 2, P, demo->shape[1]);
  }
  if (c.nIn == 6) {
    c.input(5, "hint_len", -1, 0);
    double v = std::max(0.0, rd(c.in[5], 0));
    if (c.boolean("hint_is_fraction")) {
      hintFraction = std::min(v, 1.0);
      hint = 0;
    } else {
      hint = int64_t(std::llround(v));
    }
  } else if (c.nIn == 4) {
    c.err("demos need a demo mask");
  }
  bool luffy = demo && hint < 0 && offPolicy > 0;
  bool uft = demo && hint >= 0;
  if (c.nOut == 4) {
    if (!luffy && !uft)
      c.err("a 4th result needs demos with off_policy (LUFFY) or a hint");
    if (luffy)
      c.output(3, "off-policy flag", -1, 1, B);
    else
      c.output(3, "hint mask", -1, 2, B, T);
  } else if (luffy || uft) {
    c.err("demos with off_policy or a hint yield a 4th result");
  }
  if (offPolicy > n)
    c.err("off_policy exceeds n");
  checkTokens(c, pt, m);

  // Demo completions: the masked tokens of each demo row.
  std::vector<std::vector<int32_t>> demoResp(static_cast<size_t>(P)), demoFull(static_cast<size_t>(P));
  if (demo) {
    int64_t Td = demo->shape[1];
    const int32_t *dp = static_cast<const int32_t *>(demo->data);
    for (int64_t p = 0; p < P; ++p) {
      int32_t len = rowLengths(j, dp + p * Td, 1, Td)[0];
      for (int64_t t = 0; t < len; ++t) {
        demoFull[size_t(p)].push_back(dp[p * Td + t]);
        if (rd(*demoMask, p * Td + t) > 0)
          demoResp[size_t(p)].push_back(dp[p * Td + t]);
      }
    }
  }
  // Prompts without padding, each repeated n times.
  std::vector<std::vector<int32_t>> prompts;
  std::vector<int64_t> hintLen;
  const int32_t *pp = static_cast<const int32_t *>(pt.data);
  for (int64_t p = 0; p < P; ++p) {
    std::vector<int32_t> ids;
    for (int64_t t = 0; t < Tp; ++t)
      if (rd(pm, p * Tp + t) > 0)
        ids.push_back(pp[p * Tp + t]);
    if (ids.empty())
      ids.push_back(j->fmt.eosToken >= 0 ? j->fmt.eosToken : 0);
    int64_t h = 0;
    if (uft) {
      h = hintFraction >= 0
              ? int64_t(std::llround(hintFraction *
                                     double(demoResp[size_t(p)].size())))
              : hint;
      h = std::min<int64_t>(h, int64_t(demoResp[size_t(p)].size()));
      h = std::min<int64_t>(h, T - int64_t(ids.size()) - 1);
      h = std::max<int64_t>(h, 0);
      ids.insert(ids.end(), demoResp[size_t(p)].begin(),
                 demoResp[size_t(p)].begin() + h);
    }
    for (int64_t k = 0; k < n; ++k) {
      prompts.push_back(ids);
      hintLen.push_back(h);
    }
  }
  int64_t maxPrompt = 0;
  for (auto &p : prompts)
    maxPrompt = std::max<int64_t>(maxPrompt, int64_t(p.size()));
  SamplingConfig sc;
  sc.samplesPerPrompt = 1;
  sc.maxNewTokens = std::max<int64_t>(T - std::max(Tp, maxPrompt), 1);
  sc.temperature = c.f64("temperature");
  sc.topK = c.i64("top_k");
  sc.topP = c.f64("top_p");
  sc.greedy = c.boolean("greedy") || sc.temperature <= 0;
  if (sc.temperature <= 0)
    sc.temperature = 1.0;
  if (j->fmt.eosToken >= 0)
    sc.stopTokens = {j->fmt.eosToken};
  setStopStrings(j, sc, c.opt("stop", abi::Kind::Strs));
  sc.padToken = j->fmt.padToken;
  sc.seed = j->seed;
  // A rollout generated ahead (hone-pipeline-rollouts) draws the numbers of
  // the step that learns from it, as it would on-policy.
  sc.step =
      uint32_t(j->job->globalStep() + (c.has("ahead") ? c.i64("ahead") : 0));
  sc.rank = uint32_t(j->comm.rank); // each rank draws its own samples
  auto ro = generateRollout(*m->model, *j->tokenizer, prompts, sc);
  if (!ro)
    c.err(ro.status().message());
  const auto &g = ro->gen;
  auto *op = static_cast<int32_t *>(c.out[0].data);
  bool maskTruncated = c.boolean("mask_truncated");
  double lenSum = 0;
  for (int64_t b = 0; b < B; ++b) {
    bool demoRow = luffy && (b % n) >= n - offPolicy;
    int64_t plen = g.promptLengths[size_t(b)];
    // mask_truncated: a sample that ran out of room without end-of-sequence
    // gets no loss.
    int64_t glen = g.lengths[size_t(b)];
    bool truncated =
        maskTruncated && !demoRow &&
        (j->fmt.eosToken < 0 || glen <= plen ||
         g.tokens[size_t(b * g.seqLen + glen - 1)] != j->fmt.eosToken);
    for (int64_t t = 0; t < T; ++t) {
      int32_t id = j->fmt.padToken;
      double mk = 0, lp = 0;
      if (demoRow) {
        const auto &f = demoFull[size_t(b / n)];
        if (t < int64_t(f.size())) {
          id = f[size_t(t)];
          mk = rd(*demoMask, (b / n) * demo->shape[1] + t) > 0;
        }
      } else if (t < g.seqLen && t < g.lengths[size_t(b)]) {
        id = g.tokens[size_t(b * g.seqLen + t)];
        mk = truncated ? 0.0 : g.mask[size_t(b * g.seqLen + t)];
        lp = mk ? g.logprobs[size_t(b * g.seqLen + t)] : 0.0;
      }
      op[b * T + t] = id;
      wr(c.out[1], b * T + t, mk);
      wr(c.out[2], b * T + t, lp);
      if (uft)
        wr(c.out[3], b * T + t,
           (t >= plen - hintLen[size_t(b)] && t < plen) ? 1.0 : 0.0);
      lenSum += truncated ? double(t >= plen && t < glen) : mk;
    }
    if (luffy)
      wr(c.out[3], b, demoRow ? 1.0 : 0.0);
  }
  addMetric(c, "completions/mean_length", lenSum / double(B));
  int64_t tokens = 0;
  for (int64_t b = 0; b < B; ++b)
    tokens += g.lengths[size_t(b)];
  addTokens(j, tokens);
}

/// The temperature log-probs are computed at (logprob, train_step): the
/// sampling temperature where hone-expand-stages set one; absent, log-probs
/// are plain (temperature 1). Not yet an attribute every such op carries
/// (issue 12 item 5 moves temperature to one place).
/// The temperature log-probs are taken at: the lowering writes that of the
/// hone.generate that sampled the tokens (1 for data).
double logprobTemperature(const OpCtx &c) { return c.f64("temperature"); }

void opLogprob(OpCtx &c) {
  auto *m = c.obj<ModelObj>(0, ObjKind::Model, "model");
  // Several token batches of one shape (hone-fuse-forwards merged reads of
  // one frozen model): one forward over their rows concatenated, results
  // per batch (its log-probs, then its entropy when set).
  bool ent = c.boolean("entropy");
  int n = std::max(1, c.nIn), per = ent ? 2 : 1;
  c.counts(1, 1, 1, n, per * n, per * n);
  const hone_tensor &tok = c.input(0, "tokens", HONE_I32, 2);
  int64_t B = tok.shape[0], T = tok.shape[1];
  for (int k = 0; k < n; ++k) {
    c.input(k, "tokens", HONE_I32, 2, B, T);
    c.output(per * k, "logprobs", -1, 2, B, T);
    if (ent)
      c.output(per * k + 1, "entropy", -1, 2, B, T);
  }
  if (m->model->config().head != HeadKind::LM)
    c.err("log-probs need a model with an LM head");
  std::vector<int32_t> rows;
  for (int k = 0; k < n; ++k) {
    checkTokens(c, c.in[k], m);
    if (n > 1) {
      auto *p = static_cast<const int32_t *>(c.in[k].data);
      rows.insert(rows.end(), p, p + B * T);
    }
  }
  // Full rows: the model is causal, so padding after a sequence changes
  // nothing before it (and a sampled pad id inside a response stays scored).
  int64_t all = B * n;
  std::vector<int32_t> len(static_cast<size_t>(all), static_cast<int32_t>(T));
  TokenBatch tb{all, T,
                n > 1 ? rows.data() : static_cast<const int32_t *>(tok.data),
                len.data()};
  std::vector<float> h;
  // micro_batch (hone-plan-memory under a budget): the forward over that
  // many rows at a time; results bit-identical (docs/passes.md).
  int64_t micro = c.has("micro_batch") ? c.i64("micro_batch") : 0;
  if (c.has("micro_batch") && micro < 1)
    c.err("micro_batch must be at least 1 row, got " + std::to_string(micro));
  auto lp = computeLogprobs(*m->model, tb, micro, logprobTemperature(c),
                            ent ? &h : nullptr);
  if (!lp)
    c.err(lp.status().message());
  for (int k = 0; k < n; ++k)
    for (int64_t i = 0; i < B * T; ++i) {
      wr(c.out[per * k], i, (*lp)[size_t(k * B * T + i)]);
      if (ent)
        wr(c.out[per * k + 1], i, h[size_t(k * B * T + i)]);
    }
}

void opValue(OpCtx &c) {
  hone_job *j = c.j;
  auto *m = c.obj<ModelObj>(0, ObjKind::Model, "model");
  c.counts(1, 1, 1, 2, 1, 1);
  const hone_tensor &tok = c.input(0, "tokens", HONE_I32, 2);
  int64_t B = tok.shape[0], T = tok.shape[1];
  if (m->model->config().head != HeadKind::Scalar)
    c.err("values need a model with a scalar head");
  checkTokens(c, tok, m);
  auto len = rowLengths(j, static_cast<const int32_t *>(tok.data), B, T);
  TokenBatch tb{B, T, static_cast<const int32_t *>(tok.data), len.data()};
  int64_t micro = c.has("micro_batch") ? c.i64("micro_batch") : 0;
  if (c.has("micro_batch") && micro < 1)
    c.err("micro_batch must be at least 1 row, got " + std::to_string(micro));
  auto v = computeValues(*m->model, tb, micro);
  if (!v)
    c.err(v.status().message());
  // One forward over every row: its activations may serve a train step's
  // first forward on these tokens (kept_forwards).
  m->keptTokens = tok.data;
  m->keptForward = m->model->forwardCount();
  if (c.nIn == 1) {
    c.output(0, "values", -1, 2, B, T);
    fromF(c.out[0], *v);
  } else {
    const hone_tensor &mk = c.input(1, "mask", -1, 2, B, T);
    c.output(0, "values", -1, 1, B);
    for (int64_t b = 0; b < B; ++b) {
      int64_t last = len[size_t(b)] - 1;
      for (int64_t t = 0; t < T; ++t)
        if (rd(mk, b * T + t) > 0)
          last = t;
      wr(c.out[0], b, (*v)[size_t(b * T + last)]);
    }
  }
}

void opScore(OpCtx &c) {
  hone_job *j = c.j;
  auto *r = c.obj<RewardObj>(0, ObjKind::Reward, "reward");
  c.counts(1, 1, 3, 3, 1, 1);
  const hone_tensor &tok = c.input(0, "tokens", HONE_I32, 2);
  int64_t B = tok.shape[0], T = tok.shape[1];
  const hone_tensor &mk = c.input(1, "mask", -1, 2, B, T);
  const hone_tensor &ids = c.input(2, "ids", HONE_I64, 1);
  int64_t rows = ids.shape[0];
  if (rows <= 0 || B % rows != 0)
    c.err("ids has " + std::to_string(rows) + " rows, which do not divide " +
          std::to_string(B) + " sequences");
  c.output(0, "scores", -1, 1, B);
  std::vector<float> mask = toF(mk);
  const int32_t *tp = static_cast<const int32_t *>(tok.data);
  std::vector<ScoreRow> sr(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    size_t rec = 0;
    const DataLoader *dl = datasetOfId(j, c, i64At(ids, b / (B / rows)), &rec);
    const Example &ex = dl->example(rec);
    ScoreRow &s = sr[size_t(b)];
    s.tokens = tp + b * T;
    s.mask = mask.data() + b * T;
    s.in.prompt = ex.prompt;
    s.in.answer = !ex.answer.empty() ? ex.answer : ex.completion;
    s.in.completion = decodeResponse(j, s.tokens, s.mask, T,
                                     &s.in.completionTokens);
    s.in.record = &dl->record(rec);
  }
  auto v = scoreRows(j, c, r, sr, T);
  double mean = 0, sd = 0;
  for (int64_t b = 0; b < B; ++b) {
    wr(c.out[0], b, v[size_t(b)]);
    mean += v[size_t(b)];
  }
  mean /= double(B);
  for (double x : v)
    sd += (x - mean) * (x - mean);
  sd = B > 1 ? std::sqrt(sd / double(B - 1)) : 0;
  addMetric(c, "reward", mean);
  addMetric(c, "reward_std", sd);
}

void opShapeReward(OpCtx &c) {
  c.counts(0, 0, 4, 4, 1, 1);
  std::string kind = c.text("kind");
  double beta = c.f64("kl_coef");
  const hone_tensor &sc = c.input(0, "score", -1, 1);
  int64_t B = sc.shape[0];
  const hone_tensor &mk = c.input(1, "mask", -1, 2, B);
  int64_t T = mk.shape[1];
  const hone_tensor &lo = c.input(2, "l_old", -1, 2, B, T);
  const hone_tensor &lr = c.input(3, "l_ref", -1, 2, B, T);
  if (kind == "token_kl") {
    c.output(0, "reward", -1, 2, B, T);
    for (int64_t b = 0; b < B; ++b) {
      int64_t last = -1;
      for (int64_t t = 0; t < T; ++t) {
        double m = rd(mk, b * T + t);
        if (m > 0)
          last = t;
        wr(c.out[0], b * T + t,
           -beta * (rd(lo, b * T + t) - rd(lr, b * T + t)) * m);
      }
      if (last >= 0)
        wr(c.out[0], b * T + last, rd(c.out[0], b * T + last) + rd(sc, b));
    }
  } else if (kind == "seq_kl") {
    c.output(0, "reward", -1, 1, B);
    for (int64_t b = 0; b < B; ++b) {
      double kl = 0;
      for (int64_t t = 0; t < T; ++t)
        kl += rd(mk, b * T + t) * (rd(lo, b * T + t) - rd(lr, b * T + t));
      wr(c.out[0], b, rd(sc, b) - beta * kl);
    }
  } else {
    c.err("unknown kind '" + kind + "' (token_kl, seq_kl)");
  }
}

void opAdvantage(OpCtx &c) {
  std::string kind = c.text("kind");
  int64_t G = c.i64("group_size");
  double eps = c.f64("eps");
  auto groups = [&](int64_t B) {
    if (G < 1 || B % G != 0)
      c.err("group_size " + std::to_string(G) + " does not divide " +
            std::to_string(B));
  };
  if (kind == "group_norm" || kind == "group_center" ||
      kind == "leave_one_out") {
    c.counts(0, 0, 1, 1, 1, 1);
    const hone_tensor &r = c.input(0, "rewards", -1, 1);
    int64_t B = r.shape[0];
    groups(B);
    if (kind == "leave_one_out" && G < 2)
      c.err("leave_one_out needs group_size >= 2");
    c.output(0, "advantages", -1, 1, B);
    for (int64_t g0 = 0; g0 < B; g0 += G) {
      double sum = 0, sq = 0;
      for (int64_t i = 0; i < G; ++i)
        sum += rd(r, g0 + i);
      double mean = sum / double(G);
      for (int64_t i = 0; i < G; ++i)
        sq += (rd(r, g0 + i) - mean) * (rd(r, g0 + i) - mean);
      double sd = G > 1 ? std::sqrt(sq / double(G - 1)) : 0.0;
      for (int64_t i = 0; i < G; ++i) {
        double x = rd(r, g0 + i), a;
        if (kind == "group_norm")
          a = (x - mean) / (sd + eps);
        else if (kind == "group_center")
          a = x - mean;
        else
          a = x - (sum - x) / double(G - 1);
        wr(c.out[0], g0 + i, a);
      }
    }
  } else if (kind == "greedy_baseline") {
    c.counts(0, 0, 2, 2, 1, 1);
    const hone_tensor &r = c.input(0, "rewards", -1, 1);
    int64_t B = r.shape[0];
    const hone_tensor &g = c.input(1, "greedy rewards", -1, 1, B);
    c.output(0, "advantages", -1, 1, B);
    for (int64_t b = 0; b < B; ++b)
      wr(c.out[0], b, rd(r, b) - rd(g, b));
  } else if (kind == "gae") {
    c.counts(0, 0, 3, 3, 2, 2);
    const hone_tensor &r = c.input(0, "token rewards", -1, 2);
    int64_t B = r.shape[0], T = r.shape[1];
    const hone_tensor &m = c.input(1, "mask", -1, 2, B, T);
    const hone_tensor &v = c.input(2, "values", -1, 2, B, T);
    c.output(0, "advantages", -1, 2, B, T);
    c.output(1, "returns", -1, 2, B, T);
    double gamma = c.f64("gamma"), lam = c.f64("lambda");
    for (int64_t b = 0; b < B; ++b) {
      double nextV = 0, nextA = 0;
      for (int64_t t = T - 1; t >= 0; --t) {
        int64_t i = b * T + t;
        if (rd(m, i) <= 0) {
          wr(c.out[0], i, 0);
          wr(c.out[1], i, 0);
          continue;
        }
        double delta = rd(r, i) + gamma * nextV - rd(v, i);
        double a = delta + gamma * lam * nextA;
        wr(c.out[0], i, a);
        wr(c.out[1], i, a + rd(v, i));
        nextV = rd(v, i);
        nextA = a;
      }
    }
  } else if (kind == "global_norm") {
    c.counts(0, 0, 2, 2, 1, 1);
    const hone_tensor &r = c.input(0, "token rewards", -1, 2);
    int64_t B = r.shape[0], T = r.shape[1];
    const hone_tensor &m = c.input(1, "mask", -1, 2, B, T);
    c.output(0, "advantages", -1, 2, B, T);
    std::vector<double> ret(size_t(B * T), 0.0);
    double sum = 0, cnt = 0;
    for (int64_t b = 0; b < B; ++b) {
      double acc = 0;
      for (int64_t t = T - 1; t >= 0; --t) {
        int64_t i = b * T + t;
        if (rd(m, i) > 0) {
          acc += rd(r, i);
          ret[size_t(i)] = acc;
          sum += acc;
          cnt += 1;
        }
      }
    }
    double mean = cnt > 0 ? sum / cnt : 0, sq = 0;
    for (int64_t i = 0; i < B * T; ++i)
      if (rd(m, i) > 0)
        sq += (ret[size_t(i)] - mean) * (ret[size_t(i)] - mean);
    double sd = cnt > 1 ? std::sqrt(sq / (cnt - 1)) : 0;
    for (int64_t i = 0; i < B * T; ++i)
      wr(c.out[0], i,
         rd(m, i) > 0 ? (ret[size_t(i)] - mean) / (sd + eps) : 0.0);
  } else {
    c.err("unknown kind '" + kind +
          "' (gae, group_norm, group_center, leave_one_out, greedy_baseline, "
          "global_norm)");
  }
}

void opGroupAccuracy(OpCtx &c) {
  c.counts(0, 0, 1, 1, 2, 2);
  int64_t G = c.i64("group_size");
  double th = c.f64("threshold");
  const hone_tensor &r = c.input(0, "rewards", -1, 1);
  int64_t B = r.shape[0];
  if (G < 1 || B % G)
    c.err("group_size " + std::to_string(G) + " does not divide " +
          std::to_string(B));
  c.output(0, "per prompt", -1, 1, B / G);
  c.output(1, "per sample", -1, 1, B);
  for (int64_t p = 0; p < B / G; ++p) {
    double k = 0;
    for (int64_t i = 0; i < G; ++i)
      k += rd(r, p * G + i) > th;
    wr(c.out[0], p, k / double(G));
    for (int64_t i = 0; i < G; ++i)
      wr(c.out[1], p * G + i, k / double(G));
  }
}

void opIndicator(OpCtx &c) {
  c.counts(0, 0, 1, 1, 1, 1);
  const hone_tensor &x = c.input(0, "input", -1, c.in[0].rank);
  if (x.rank > 2)
    c.err("expected a tensor of rank 0 to 2");
  c.output(0, "result", x.dtype, x.rank, x.rank >= 1 ? x.shape[0] : -1,
           x.rank >= 2 ? x.shape[1] : -1);
  std::string pred = c.text("predicate");
  double v = c.f64("value");
  int64_t n = numel(x);
  for (int64_t i = 0; i < n; ++i) {
    double a = rd(x, i);
    bool on = pred == "lt"   ? a < v
              : pred == "le" ? a <= v
              : pred == "gt" ? a > v
              : pred == "ge" ? a >= v
                             : (c.err("unknown predicate '" + pred +
                                      "' (lt, le, gt, ge)"),
                                false);
    wr(c.out[0], i, on ? 1.0 : 0.0);
  }
}

void opGroupFilter(OpCtx &c) {
  if (c.nIn < 1 || c.nOut != c.nIn)
    c.err("expected the rewards and N values as inputs and N + 1 results, "
          "got " + std::to_string(c.nIn) + " inputs and " +
          std::to_string(c.nOut) + " results");
  c.counts(0, 0, 1, 64, 1, 64);
  int64_t G = c.i64("group_size");
  double th = c.f64("threshold");
  const hone_tensor &r = c.input(0, "rewards", -1, 1);
  int64_t Bp = r.shape[0];
  if (G < 1 || Bp % G)
    c.err("group_size does not divide the rewards");
  const hone_tensor &valid = c.output(c.nOut - 1, "valid", -1, 1);
  int64_t B = valid.shape[0];
  if (B % G)
    c.err("group_size does not divide the kept rows");
  std::vector<int64_t> keep;
  for (int64_t g0 = 0; g0 < Bp && int64_t(keep.size()) < B; g0 += G) {
    int64_t k = 0;
    for (int64_t i = 0; i < G; ++i)
      k += rd(r, g0 + i) > th;
    if (k > 0 && k < G)
      for (int64_t i = 0; i < G; ++i)
        keep.push_back(g0 + i);
  }
  for (int i = 1; i < c.nIn; ++i) {
    const hone_tensor &v = c.in[i];
    if (v.rank < 1 || v.shape[0] != Bp)
      c.err("input " + std::to_string(i) + ": leading dimension must be " +
            std::to_string(Bp) + ", got " + shapeStr(v));
    hone_tensor &o = c.out[i - 1];
    if (o.dtype != v.dtype || o.rank != v.rank || o.shape[0] != B ||
        (v.rank == 2 && o.shape[1] != v.shape[1]))
      c.err("result " + std::to_string(i - 1) + ": expected " +
            std::to_string(B) + " rows like input " + std::to_string(i) +
            ", got " + shapeStr(o));
    size_t row = dtypeSize(v.dtype) * size_t(v.rank == 2 ? v.shape[1] : 1);
    auto *dst = static_cast<char *>(o.data);
    std::memset(dst, 0, row * size_t(B));
    for (size_t k = 0; k < keep.size(); ++k)
      std::memcpy(dst + k * row,
                  static_cast<const char *>(v.data) + size_t(keep[k]) * row,
                  row);
  }
  for (int64_t b = 0; b < B; ++b)
    wr(c.out[c.nOut - 1], b, b < int64_t(keep.size()) ? 1.0 : 0.0);
}

void opBufferPush(OpCtx &c) {
  auto *b = c.obj<BufferObj>(0, ObjKind::Buffer, "buffer");
  c.counts(1, 1, 2, 2, 0, 0);
  const hone_tensor &ids = c.input(0, "ids", HONE_I64, 1);
  const hone_tensor &sel = c.input(1, "select", -1, 1, ids.shape[0]);
  for (int64_t i = 0; i < ids.shape[0]; ++i)
    if (rd(sel, i) != 0)
      b->ids.push_back(i64At(ids, i));
  while (b->capacity > 0 && int64_t(b->ids.size()) > b->capacity)
    b->ids.pop_front();
}

void opBufferPop(OpCtx &c) {
  auto *b = c.obj<BufferObj>(0, ObjKind::Buffer, "buffer");
  c.counts(1, 1, 0, 0, 2, 2);
  const hone_tensor &ids = c.output(0, "ids", HONE_I64, 1);
  c.output(1, "ready", HONE_I1, 0);
  int64_t n = ids.shape[0];
  bool ready = int64_t(b->ids.size()) >= n;
  if (ready)
    for (int64_t i = 0; i < n; ++i) {
      wr(c.out[0], i, double(b->ids.front()));
      b->ids.pop_front();
    }
  wr(c.out[1], 0, ready ? 1 : 0);
}

void opSchedule(OpCtx &c) {
  c.counts(0, 0, 1, 1, 1, 1);
  c.input(0, "step", HONE_I64, 0);
  c.output(0, "value", -1, 0);
  std::string kind = c.text("kind");
  double start = c.f64("start"), end = c.f64("end");
  int64_t warm = c.i64("warmup"), total = c.i64("total");
  double step = double(i64At(c.in[0], 0));
  double v;
  auto frac = [&](double s, double tot) {
    return tot > 0 ? std::min(1.0, std::max(0.0, s / tot)) : 1.0;
  };
  const double pi = 3.14159265358979323846;
  if (kind == "constant")
    v = start;
  else if (kind == "linear")
    v = start + (end - start) * frac(step, double(total));
  else if (kind == "cosine")
    v = end + (start - end) * (1 + std::cos(pi * frac(step, double(total)))) / 2;
  else if (kind == "warmup_cosine")
    v = step < double(warm)
            ? start * step / double(std::max<int64_t>(warm, 1))
            : end + (start - end) *
                        (1 + std::cos(pi * frac(step - double(warm),
                                                double(total - warm)))) /
                        2;
  else
    c.err("unknown kind '" + kind +
          "' (constant, linear, cosine, warmup_cosine)");
  wr(c.out[0], 0, v);
}

void opSave(OpCtx &c) {
  auto *m = c.obj<ModelObj>(0, ObjKind::Model, "model");
  c.counts(1, 1, 0, 0, 0, 0);
  if (skipOutsideStage(c.j))
    return;
  std::string path = c.text("path");
  if (path.empty() || path[0] == '/' ||
      ("/" + path + "/").find("/../") != std::string::npos)
    c.err("path '" + clip(path) + "' leaves the run directory (use a "
          "relative path without '..')");
  path = c.j->job->runDir() + "/" + path;
  if (m->model->hasLora()) {
    // PEFT's adapter files; the merged model beside them when asked.
    check(c.j, c.loc, saveLoraAdapter(*m->model, path));
    if (m->mergeOnSave)
      check(c.j, c.loc, saveHfModel(*m->model, path + "/merged", true));
  } else {
    check(c.j, c.loc, saveHfModel(*m->model, path));
  }
  say(c.j, "saved " + path);
}

void opEvalStep(OpCtx &c) {
  hone_job *j = c.j;
  auto *m = c.obj<ModelObj>(0, ObjKind::Model, "model");
  auto *d = c.obj<DatasetObj>(1, ObjKind::Dataset, "dataset");
  RewardObj *r = c.nObjs > 2 ? c.obj<RewardObj>(2, ObjKind::Reward, "reward")
                             : nullptr;
  c.counts(2, 3, 0, 0, 0, 0);
  if (skipOutsideStage(j))
    return;
  if (j->comm.rank > 0) // rank 0 evaluates and logs for the job
    return;
  std::string name = c.text("name");
  json::Value gen = json::Value::object();
  // The evaluation's settings (#hone.eval_settings): every one present.
  const json::Value &settings = c.object("settings");
  Settings es{j, c.loc, "eval_settings", settings};
  gen = es.object("generation");
  // The dataset's evaluation split when it has one, else its records.
  const DataLoader &dl = d->evalData ? *d->evalData : *d->data;
  // max_records: at most that many prompts; 0 all of them.
  int64_t limit = 0;
  limit = es.i64("max_records");
  size_t n = limit > 0 ? std::min<size_t>(dl.size(), size_t(limit)) : dl.size();
  observe::MetricValues mv;
  std::string line = name + ":";
  if (r && m->model->config().head == HeadKind::LM && n > 0) {
    double sum = 0, correct = 0;
    const int64_t bs = 16;
    Settings gs{j, c.loc, "eval_settings.generation", gen};
    int64_t maxNew = gs.i64("max_new_tokens");
    for (size_t i0 = 0; i0 < n; i0 += bs) {
      std::vector<size_t> idx;
      for (size_t i = i0; i < std::min(n, i0 + size_t(bs)); ++i)
        idx.push_back(i);
      auto pb = makePromptBatch(j->fmt, dl, idx, 1);
      if (!pb)
        c.err(pb.status().message());
      SamplingConfig sc;
      double temp = gs.f64("temperature");
      sc.topK = gs.i64("top_k");
      sc.topP = gs.f64("top_p");
      sc.greedy = temp <= 0;
      sc.temperature = temp > 0 ? temp : 1.0;
      sc.maxNewTokens = maxNew;
      sc.seed = j->seed;
      if (j->fmt.eosToken >= 0)
        sc.stopTokens = {j->fmt.eosToken};
      setStopStrings(j, sc, get(gen, "stop"));
      sc.padToken = j->fmt.padToken;
      for (auto &p : pb->prompts) // keep room for the answer
        if (int64_t(p.size()) + maxNew > m->model->config().maxSeqLen)
          p.erase(p.begin(),
                  p.begin() + std::min<int64_t>(int64_t(p.size()) - 1,
                                                int64_t(p.size()) + maxNew -
                                                    m->model->config().maxSeqLen));
      auto ro = generateRollout(*m->model, *j->tokenizer, pb->prompts, sc);
      if (!ro)
        c.err(ro.status().message());
      std::vector<float> mask = ro->mask;
      std::vector<ScoreRow> rows(idx.size());
      for (size_t k = 0; k < idx.size(); ++k) {
        rows[k].tokens = ro->gen.tokens.data() + k * size_t(ro->gen.seqLen);
        rows[k].mask = mask.data() + k * size_t(ro->gen.seqLen);
        rows[k].in = {pb->promptText[k], ro->completions[k], pb->answers[k],
                      ro->completionLengths[k], &dl.record(idx[k])};
      }
      auto v = scoreRows(j, c, r, rows, ro->gen.seqLen);
      for (double x : v) {
        sum += x;
        correct += x > 0;
      }
    }
    mv.push_back({name + "/reward", sum / double(n)});
    mv.push_back({name + "/accuracy", correct / double(n)});
    char buf[96];
    std::snprintf(buf, sizeof buf, " accuracy %.3f (%zu prompts), reward %.3f",
                  correct / double(n), n, sum / double(n));
    line += buf;
  }
  // Held-out loss (TRL's eval_loss): the mean NLL of the trained tokens of
  // data with completions, as SFT would count them.
  DatasetLayout layout = dl.info().layout;
  if (m->model->config().head == HeadKind::LM && n > 0 &&
      (layout == DatasetLayout::Text || layout == DatasetLayout::Messages ||
       layout == DatasetLayout::ShareGPT ||
       layout == DatasetLayout::PromptCompletion)) {
    const size_t bs = 16;
    const int64_t T = m->model->config().maxSeqLen;
    double nll = 0, tokens = 0;
    for (size_t i0 = 0; i0 < n; i0 += bs) {
      std::vector<Sequence> seqs;
      for (size_t i = i0; i < std::min(n, i0 + bs); ++i) {
        Sequence q = seqOf(j, c, dl, dl.example(i), T, kEvalMasks);
        if (!q.ids.empty())
          seqs.push_back(std::move(q));
      }
      if (seqs.empty())
        continue;
      auto sb = SeqBatch::fromSequences(seqs, j->fmt.padToken);
      if (!sb)
        c.err(sb.status().message());
      auto lp = computeLogprobs(*m->model, sb->view());
      if (!lp)
        c.err(lp.status().message());
      for (size_t k = 0; k < lp->size(); ++k) {
        nll -= double((*lp)[k]) * sb->mask[k];
        tokens += sb->mask[k];
      }
    }
    double loss = nll / std::max(tokens, 1.0);
    mv.push_back({name + "/loss", loss});
    char buf[96];
    std::snprintf(buf, sizeof buf, " loss %.4f (%zu examples, %.0f tokens)",
                  loss, n, tokens);
    line += buf;
  }
  if (mv.empty()) {
    line += " (nothing to evaluate)";
  } else {
    std::lock_guard<std::mutex> g(j->mu);
    // Inside a stage step (every_steps) the row belongs to the step being
    // completed: step_end, which counts it, comes after.
    int64_t at = j->job->globalStep() + (j->inStage ? 1 : 0);
    check(j, c.loc, j->job->metrics().log(at, mv));
  }
  say(j, line);
}

// --- the train step ---------------------------------------------------------

struct Read {
  ModelObj *model;
  std::string what; // logprob | logprob+entropy | value | reward
  const hone_tensor *tokens;
  std::vector<int32_t> lengths;
  int64_t B, T;
  /// Padding-free forwards over `lengths` (hone-pack-sequences' `packed`).
  bool packed = false;
  std::vector<float> out0, out1; // l/V/r, H
  std::vector<float> grad0, grad1;
};

Status forwardRows(Read &r, int64_t b0, int64_t n, double temp) {
  TokenBatch tb{n, r.T, static_cast<const int32_t *>(r.tokens->data) + b0 * r.T,
                r.lengths.data() + b0};
  ForwardOptions fo;
  fo.temperature = temp;
  fo.pack = r.packed;
  return r.model->model->forward(tb, fo);
}

/// Reads that run as one forward and one backward (hone-fuse-forwards'
/// fused_reads): micro-batch k of every member (its own rows split into
/// `mini_batches` as alone), concatenated in member order. A group of one
/// is the read alone, without a copy.
struct ReadGroup {
  std::vector<Read *> members;
  std::vector<int32_t> tokens, lengths; // the concatenation (2+ members)
  /// Member q's rows in the current micro-batch: [first[q], first[q] + n[q])
  /// of its mini-batch (which starts at row lo[q] of its tokens).
  std::vector<int64_t> lo, first, n;
  /// Micro-batches per optimiser step: the most any member needs.
  int64_t chunks = 0;

  void plan(int64_t updates, int64_t mini, int64_t u) {
    lo.assign(members.size(), 0);
    chunks = 0;
    for (size_t q = 0; q < members.size(); ++q) {
      int64_t rows = members[q]->B / updates, mb = (rows + mini - 1) / mini;
      lo[q] = u * rows;
      chunks = std::max(chunks, (rows + mb - 1) / mb);
    }
  }
  /// Selects micro-batch k; returns the rows of all members together.
  int64_t select(int64_t k, int64_t updates, int64_t mini) {
    first.assign(members.size(), 0);
    n.assign(members.size(), 0);
    int64_t all = 0;
    for (size_t q = 0; q < members.size(); ++q) {
      int64_t rows = members[q]->B / updates, mb = (rows + mini - 1) / mini;
      first[q] = std::min(rows, k * mb);
      n[q] = std::min(rows, first[q] + mb) - first[q];
      all += n[q];
    }
    return all;
  }
};

Status forwardGroup(ReadGroup &g, double temp) {
  Read &r0 = *g.members[0];
  if (g.members.size() == 1)
    return forwardRows(r0, g.lo[0] + g.first[0], g.n[0], temp);
  g.tokens.clear();
  g.lengths.clear();
  for (size_t q = 0; q < g.members.size(); ++q) {
    Read *r = g.members[q];
    int64_t b0 = g.lo[q] + g.first[q], n = g.n[q];
    const int32_t *t = static_cast<const int32_t *>(r->tokens->data);
    g.tokens.insert(g.tokens.end(), t + b0 * r->T, t + (b0 + n) * r->T);
    g.lengths.insert(g.lengths.end(), r->lengths.begin() + b0,
                     r->lengths.begin() + b0 + n);
  }
  TokenBatch tb{int64_t(g.lengths.size()), r0.T, g.tokens.data(),
                g.lengths.data()};
  ForwardOptions fo;
  fo.temperature = temp;
  // Packed when every member is; a padded forward over shorter lengths is
  // exact as well (positions past a row's length are read nowhere).
  fo.pack = std::all_of(g.members.begin(), g.members.end(),
                        [](const Read *r) { return r->packed; });
  return r0.model->model->forward(tb, fo);
}

} // namespace

// --- the ABI ------------------------------------------------------------------

/// hone.sync_weights: without a target generation reads the policy itself
/// (one copy of the weights on the CPU); with one (hone-pipeline-rollouts'
/// rollout weights) the policy's weights, or its LoRA adapters over a shared
/// base, are copied into it.
void opSyncWeights(OpCtx &c) {
  c.counts(1, 2, 0, 0, 0, 0);
  ModelObj *from = c.obj<ModelObj>(0, ObjKind::Model, "model");
  if (c.nObjs < 2)
    return;
  ModelObj *to = c.obj<ModelObj>(1, ObjKind::Model, "target");
  Transformer<float> &src = *from->model, &dst = *to->model;
  if (src.hasLora() != dst.hasLora())
    c.err("sync_weights: the policy and the rollout weights differ in LoRA");
  if (src.hasLora()) {
    if (src.numTrainable() != dst.numTrainable())
      c.err("sync_weights: the LoRA adapters differ in size");
    src.kernels().copy(dst.loraData(), src.loraData(), src.numTrainable());
    return;
  }
  check(c.j, c.loc, copyWeights(src, dst));
}

size_t tensorBytes(const hone_tensor &t) {
  static const size_t kDtypeBytes[] = {4, 8, 4, 8, 1}; // enum hone_dtype
  size_t n = t.dtype >= 0 && t.dtype < 5 ? kDtypeBytes[t.dtype] : 0;
  for (int d = 0; d < t.rank && d < 2; ++d)
    n *= size_t(std::max<int64_t>(t.shape[d], 0));
  return n;
}

/// hone.exec.rollouts_in_flight: what a checkpoint at the next step end
/// keeps (the buffers hold their bytes until then: the step end drains).
void opRolloutsInFlight(OpCtx &c) {
  c.counts(0, 0, 1, 1 << 20, 0, 0);
  c.j->inFlight.clear();
  for (int i = 0; i < c.nIn; ++i)
    c.j->inFlight.push_back({c.in[i].data, tensorBytes(c.in[i])});
}

/// hone.exec.rollouts_resume: the prologue's rollouts, or on a run resumed
/// inside the stage the checkpoint's (and the metrics they logged ahead).
void opRolloutsResume(OpCtx &c) {
  hone_job *j = c.j;
  c.counts(0, 0, 1, 1 << 20, c.nIn, c.nIn);
  for (int i = 0; i < c.nIn; ++i)
    if (tensorBytes(c.in[i]) != tensorBytes(c.out[i]))
      c.err("rollout " + std::to_string(i) + ": result size differs");
  if (!j->skipPrologue) {
    for (int i = 0; i < c.nIn; ++i)
      std::memcpy(c.out[i].data, c.in[i].data, tensorBytes(c.in[i]));
    return;
  }
  j->skipPrologue = false;
  if (j->resumedRollouts.size() != size_t(c.nIn))
    c.err("the checkpoint holds " + std::to_string(j->resumedRollouts.size()) +
          " rollout buffers in flight, the program " + std::to_string(c.nIn) +
          " (was it compiled with another staleness?)");
  for (int i = 0; i < c.nIn; ++i) {
    const std::string &b = j->resumedRollouts[i];
    if (b.size() != tensorBytes(c.out[i]))
      c.err("rollout buffer " + std::to_string(i) + " of the checkpoint has " +
            std::to_string(b.size()) + " bytes, the program " +
            std::to_string(tensorBytes(c.out[i])));
    std::memcpy(c.out[i].data, b.data(), b.size());
  }
  std::lock_guard<std::mutex> g(j->mu);
  for (const json::Value &e : j->resumedDeferred.items()) {
    std::string bits;
    if (!e.isArray() || e.size() != 4 || !e.items()[1].isString() ||
        !e.items()[2].isString() || !e.items()[3].isString() ||
        !fromHex(e.items()[3].asString(), bits) || bits.size() != 8)
      c.err("the checkpoint's deferred metrics are malformed");
    double v;
    std::memcpy(&v, bits.data(), sizeof v);
    j->deferred.push_back(
        {j->stepEnds + e.items()[0].asInt(),
         {std::stoull(e.items()[1].asString()), {e.items()[2].asString(), v}}});
  }
  j->resumedRollouts.clear();
}

/// hone.train_step (hone_rt_train_step's body), on a lane or inline.
void runTrainStep(OpCtx &c) {
  hone_job *j = c.j;
  const char *loc = c.loc;
  const int32_t n_models = c.nObjs, n_tokens = c.nTokens, n_in = c.nIn,
                n_out = c.nOut;
  void **models = c.objs;
  hone_loss_fn kernel = c.kernel;
  const hone_tensor *in = c.in;
  hone_tensor *out = c.out;
  (void)models;
  const int64_t stepNo = j->job->globalStep() + 1; // as logged
  if (!kernel)
    c.err("no loss kernel");
  if (n_models < 1)
    c.err("no models");
  if (n_tokens < 1 || n_tokens > n_in)
    c.err("expected 1.." + std::to_string(n_in) + " token batches, got " +
          std::to_string(n_tokens));
  std::vector<ModelObj *> ms;
  for (int i = 0; i < n_models; ++i)
    ms.push_back(c.obj<ModelObj>(i, ObjKind::Model, "model"));
  std::vector<std::string> reads = c.texts("reads");
  std::vector<int64_t> readers = c.i64s("readers");
  if (int(reads.size()) != n_tokens || int(readers.size()) != n_tokens)
    c.err("reads and readers need one entry per token batch (" +
          std::to_string(n_tokens) + ")");
  std::vector<Read> rs(static_cast<size_t>(n_tokens));
  int nOutputs = 0;
  for (int i = 0; i < n_tokens; ++i) {
    Read &r = rs[size_t(i)];
    if (readers[size_t(i)] < 0 || readers[size_t(i)] >= n_models)
      c.err("readers[" + std::to_string(i) + "] names no model");
    r.model = ms[size_t(readers[size_t(i)])];
    r.what = reads[size_t(i)];
    r.tokens = &c.input(i, "tokens", HONE_I32, 2);
    r.B = r.tokens->shape[0];
    r.T = r.tokens->shape[1];
    checkTokens(c, *r.tokens, r.model);
    // Full rows (causal model) except where the last token is read.
    r.lengths = r.what == "reward"
                    ? rowLengths(j, static_cast<const int32_t *>(r.tokens->data),
                                 r.B, r.T)
                    : std::vector<int32_t>(static_cast<size_t>(r.B),
                                           static_cast<int32_t>(r.T));
    HeadKind h = r.model->model->config().head;
    if (r.what == "logprob" || r.what == "logprob+entropy") {
      if (h != HeadKind::LM)
        c.err("reads[" + std::to_string(i) + "] = " + r.what +
              " needs an LM head");
      nOutputs += r.what == "logprob" ? 1 : 2;
    } else if (r.what == "value" || r.what == "reward") {
      if (h != HeadKind::Scalar)
        c.err("reads[" + std::to_string(i) + "] = " + r.what +
              " needs a scalar head");
      nOutputs += 1;
    } else {
      c.err("unknown read '" + r.what +
            "' (logprob, logprob+entropy, value, reward)");
    }
  }
  for (int i = n_tokens; i < n_in; ++i) {
    c.input(i, "input", HONE_F32, in[i].rank);
    if (in[i].rank < 0 || in[i].rank > 2)
      c.err("input " + std::to_string(i) + ": bad rank");
  }
  std::vector<std::string> metricNames = c.texts("metric_names");
  if (n_out < 1)
    c.err("expected the loss result");
  c.output(0, "loss", HONE_F32, 0);
  for (int i = 1; i < n_out; ++i)
    c.output(i, "metric", HONE_F32, 0);
  if (!metricNames.empty() && int(metricNames.size()) != n_out - 1)
    c.err("metric_names has " + std::to_string(metricNames.size()) +
          " names for " + std::to_string(n_out - 1) + " metric results");
  int64_t mini = std::max<int64_t>(1, c.i64("mini_batches"));
  int64_t epochs = std::max<int64_t>(1, c.i64("epochs"));
  double temp = logprobTemperature(c);
  for (ModelObj *m : ms)
    if (!m->opt)
      m->opt = std::make_unique<AdamW<float>>(
          *m->model,
          optimizerConfig(j, c.loc, c.object("optimizer"), j->stageSteps));
  // updates > 1: each pass takes one optimiser step per consecutive
  // 1/updates of the rows (PPO mini-batches); the kernel was compiled for
  // one such mini-batch.
  int64_t updates = std::max<int64_t>(1, c.i64("updates"));
  for (Read &r : rs)
    if (r.B % updates != 0)
      c.err("updates = " + std::to_string(updates) + " does not divide the " +
            std::to_string(r.B) + " rows of a token batch");
  for (int i = n_tokens; i < n_in; ++i)
    if (in[i].rank >= 1 && in[i].shape[0] % updates != 0)
      c.err("updates = " + std::to_string(updates) + " does not divide the " +
            std::to_string(in[i].shape[0]) + " rows of input " +
            std::to_string(i));
  // fused_reads[i]: the read whose forward also computes read i.
  std::vector<ReadGroup> groups;
  {
    std::vector<int64_t> lead(static_cast<size_t>(n_tokens));
    for (int i = 0; i < n_tokens; ++i)
      lead[size_t(i)] = i;
    if (c.has("fused_reads")) {
      lead = c.i64s("fused_reads");
      if (int(lead.size()) != n_tokens)
        c.err("fused_reads needs one entry per token batch");
    }
    std::vector<int> groupOf(size_t(n_tokens), -1);
    for (int i = 0; i < n_tokens; ++i) {
      int64_t l = lead[size_t(i)];
      Read &r = rs[size_t(i)];
      if (l == i) {
        groupOf[size_t(i)] = int(groups.size());
        groups.push_back({{&r}, {}, {}});
        continue;
      }
      if (l < 0 || l > i || lead[size_t(l)] != l)
        c.err("fused_reads[" + std::to_string(i) + "] = " + std::to_string(l) +
              " is not an earlier leading read");
      Read &r0 = rs[size_t(l)];
      if (r0.model != r.model || r0.what != r.what || r0.B != r.B ||
          r0.T != r.T)
        c.err("fused_reads[" + std::to_string(i) +
              "]: read of another model, kind or shape than read " +
              std::to_string(l));
      groups[size_t(groupOf[size_t(l)])].members.push_back(&r);
    }
  }
  // kept_forwards[i] >= 0: the first pass's forward of read i is the one a
  // hone.value ran on its tokens (PPO's v_old), when the model has run no
  // other forward since; otherwise it runs here as usual.
  std::vector<int64_t> kept(size_t(n_tokens), -1);
  if (c.has("kept_forwards")) {
    kept = c.i64s("kept_forwards");
    if (int(kept.size()) != n_tokens)
      c.err("kept_forwards needs one entry per token batch");
    for (int i = 0; i < n_tokens; ++i)
      if (kept[size_t(i)] != -1 &&
          (kept[size_t(i)] < 0 || kept[size_t(i)] >= n_in - n_tokens ||
           rs[size_t(i)].what != "value" || updates != 1 || mini != 1))
        c.err("kept_forwards[" + std::to_string(i) +
              "]: a value read of the whole batch, keeping an input's "
              "forward, expected");
  }
  // packed[i] (hone-pack-sequences, docs/passes.md): -1, read i runs padded;
  // k >= 0, it runs padding-free over each row's tokens up to the last
  // nonzero of input k (the loss mask through which alone the objective
  // reads it: later positions change nothing it reads, the model being
  // causal); -2, a reward read, up to the row's last token (where the
  // reward is read).
  if (c.has("packed")) {
    std::vector<int64_t> pk = c.i64s("packed");
    if (int(pk.size()) != n_tokens)
      c.err("packed needs one entry per token batch");
    for (int i = 0; i < n_tokens; ++i) {
      Read &r = rs[size_t(i)];
      int64_t k = pk[size_t(i)];
      std::string at =
          "packed[" + std::to_string(i) + "] = " + std::to_string(k) + ": ";
      if (k == -1)
        continue;
      if (k == -2) {
        if (r.what != "reward")
          c.err(at + "-2 (up to the last token) is for reward reads only");
        r.packed = true;
        continue;
      }
      if (k < 0 || k >= n_in - n_tokens)
        c.err(at + "names no input (0.." + std::to_string(n_in - n_tokens - 1) +
              ")");
      if (r.what == "reward")
        c.err(at + "a reward read packs to its rows' last tokens (-2)");
      const hone_tensor &m = in[n_tokens + k];
      if (m.rank != 2 || m.shape[0] != r.B || m.shape[1] != r.T)
        c.err(at + "the mask must be [" + std::to_string(r.B) + ", " +
              std::to_string(r.T) + "] like the read's tokens");
      for (int64_t b = 0; b < r.B; ++b) {
        int64_t n = r.T;
        while (n > 1 && rd(m, b * r.T + n - 1) == 0.0)
          --n;
        r.lengths[size_t(b)] = int32_t(n);
      }
      r.packed = true;
    }
  }
  // How often each model runs forward per optimiser step: more than once
  // means its kept activations are not those of the slice being
  // back-propagated.
  std::map<ModelObj *, int64_t> forwards;
  for (ReadGroup &g : groups) {
    g.plan(updates, mini, 0);
    forwards[g.members[0]->model] += g.chunks;
  }

  double lossSum = 0;
  std::vector<double> metricSums(size_t(n_out - 1), 0.0);
  StepStats st0;
  bool skipped = false;
  std::string why;
  for (int64_t ep = 0; ep < epochs && !skipped; ++ep)
  for (int64_t u = 0; u < updates && !skipped; ++u) {
    for (ModelObj *m : ms)
      m->model->zeroGrad();
    // Forward over the mini-batch's rows [lo, lo + rows), micro-batched,
    // into host outputs of the mini-batch.
    // A fused group's forward output holds its members' rows in member
    // order.
    for (ReadGroup &g : groups) {
      Read &r0 = *g.members[0];
      g.plan(updates, mini, u);
      const int64_t per = r0.what == "reward" ? 1 : r0.T; // values per row
      for (Read *r : g.members) {
        int64_t rows = r->B / updates;
        r->out0.assign(size_t(rows * per), 0.f);
        r->out1.assign(r->what == "logprob+entropy" ? size_t(rows * r->T) : 0,
                       0.f);
      }
      size_t read0 = size_t(&r0 - rs.data());
      bool reuse =
          ep == 0 && u == 0 && g.members.size() == 1 && g.chunks == 1 &&
          kept[read0] >= 0 && forwards[r0.model] == 1 &&
          r0.model->keptTokens == r0.tokens->data &&
          r0.model->keptForward == r0.model->model->forwardCount() &&
          r0.model->model->batch() == r0.B && r0.model->model->seqLen() == r0.T;
      if (reuse)
        j->forwardsKept += 1;
      for (int64_t k = 0; k < g.chunks; ++k) {
        int64_t all = g.select(k, updates, mini);
        if (!reuse)
          check(j, loc, forwardGroup(g, temp));
        auto &tm = *r0.model->model;
        std::vector<float> v, h;
        if (r0.what == "logprob" || r0.what == "logprob+entropy") {
          v = tm.toHost(tm.logprobs(), all * per);
          if (r0.what == "logprob+entropy") {
            if (!tm.entropy())
              c.err("the model yields no entropy");
            h = tm.toHost(tm.entropy(), all * per);
          }
        } else if (r0.what == "value") {
          v = tm.toHost(tm.values(), all * per);
        } else {
          v = tm.toHost(tm.rewards(), all);
        }
        int64_t from = 0;
        for (size_t q = 0; q < g.members.size(); ++q) {
          Read &r = *g.members[q];
          int64_t len = g.n[q] * per;
          std::copy(v.begin() + from, v.begin() + from + len,
                    r.out0.begin() + g.first[q] * per);
          if (!h.empty())
            std::copy(h.begin() + from, h.begin() + from + len,
                      r.out1.begin() + g.first[q] * per);
          from += len;
        }
      }
      for (Read *r : g.members) {
        r->grad0.assign(r->out0.size(), 0.f);
        r->grad1.assign(r->out1.size(), 0.f);
      }
    }
    // The kernel, once per optimiser step, on the mini-batch (the inputs'
    // rows of this mini-batch; scalars as they are).
    std::vector<void *> args;
    for (Read &r : rs) {
      args.push_back(r.out0.data());
      if (r.what == "logprob+entropy")
        args.push_back(r.out1.data());
    }
    for (int i = n_tokens; i < n_in; ++i) {
      int64_t row = in[i].rank == 2 ? in[i].shape[1] : 1;
      int64_t first = in[i].rank >= 1 ? u * (in[i].shape[0] / updates) : 0;
      args.push_back(static_cast<float *>(in[i].data) + first * row);
    }
    float loss = 0;
    std::vector<float> metrics(size_t(n_out - 1), 0.f);
    args.push_back(&loss);
    for (float &m : metrics)
      args.push_back(&m);
    for (Read &r : rs) {
      args.push_back(r.grad0.data());
      if (r.what == "logprob+entropy")
        args.push_back(r.grad1.data());
    }
    kernel(args.data());
    if (j->injectNan.count(stepNo))
      loss = NAN;
    if (j->comm.size > 1) {
      // The ranks' mean loss and metrics: every rank logs, and skips a
      // non-finite step, alike.
      std::vector<double> lm(1 + metrics.size());
      lm[0] = loss;
      for (size_t k = 0; k < metrics.size(); ++k)
        lm[k + 1] = metrics[k];
      j->comm.sum(lm.data(), lm.size());
      loss = float(lm[0] / j->comm.size);
      for (size_t k = 0; k < metrics.size(); ++k)
        metrics[k] = float(lm[k + 1] / j->comm.size);
    }
    lossSum += loss;
    for (size_t k = 0; k < metrics.size(); ++k)
      metricSums[k] += metrics[k];
    if (!std::isfinite(loss)) {
      skipped = true;
      why = "non-finite loss";
      break;
    }
    // Backward per micro-batch from its slice of the gradients.
    for (ReadGroup &grp : groups) {
      Read &r = *grp.members[0];
      bool recompute = forwards[r.model] > 1;
      auto &tm = *r.model->model;
      Kernels<float> &k = tm.kernels();
      const int64_t per = r.what == "reward" ? 1 : r.T;
      grp.plan(updates, mini, u);
      for (int64_t chunk = 0; chunk < grp.chunks; ++chunk) {
        int64_t all = grp.select(chunk, updates, mini);
        if (recompute)
          check(j, loc, forwardGroup(grp, temp));
        // The members' gradient slices, concatenated as their rows were.
        DeviceArray<float> d0(&k, all * per), d1;
        if (r.what == "logprob+entropy")
          d1 = DeviceArray<float>(&k, all * r.T);
        int64_t at = 0;
        for (size_t q = 0; q < grp.members.size(); ++q) {
          Read &m = *grp.members[q];
          size_t len = size_t(grp.n[q] * per);
          k.copyToDevice(d0.data() + at, m.grad0.data() + grp.first[q] * per,
                         len * sizeof(float));
          if (r.what == "logprob+entropy")
            k.copyToDevice(d1.data() + at, m.grad1.data() + grp.first[q] * r.T,
                           len * sizeof(float));
          at += int64_t(len);
        }
        OutputGrads<float> g;
        if (r.what == "logprob" || r.what == "logprob+entropy")
          g.dlogprob = d0.data();
        else if (r.what == "value")
          g.dvalue = d0.data();
        else
          g.dreward = d0.data();
        if (r.what == "logprob+entropy")
          g.dentropy = d1.data();
        check(j, loc, tm.backward(g));
      }
    }
    if (j->comm.size > 1) // data parallel: the ranks' mean gradient
      for (ModelObj *m : ms) {
        float *g = m->model->trainableGrad();
        size_t n = size_t(m->model->numTrainable());
        j->comm.sum(g, n);
        const float inv = 1.0f / float(j->comm.size);
        for (size_t i = 0; i < n; ++i)
          g[i] *= inv;
      }
    double sq = 0;
    for (ModelObj *m : ms)
      sq += m->model->kernels().sumSquares(m->model->trainableGrad(),
                                            m->model->numTrainable());
    if (!std::isfinite(sq)) {
      skipped = true;
      why = "non-finite gradient";
      break;
    }
    for (size_t i = 0; i < ms.size(); ++i) {
      auto s = ms[i]->opt->step();
      if (!s) {
        skipped = true;
        why = s.status().message();
        break;
      }
      if (i == 0 && ep == 0 && u == 0)
        st0 = *s;
    }
  }
  if (skipped) {
    for (ModelObj *m : ms)
      m->model->zeroGrad();
    if (j->abortOnNan)
      fail(j, loc, "hone.train_step: " + why + " at step " +
                       std::to_string(stepNo) +
                       " (on_nan = abort); the run stops without exporting");
    if (j->rollback && !j->nanSteps.count(stepNo))
      rollbackAndRestart(j, loc, stepNo, why);
    warn(j, j->stageName + ": step " + std::to_string(stepNo) +
                " skipped: " + why +
                (j->nanSteps.count(stepNo) ? " (again, after the rollback)"
                                           : ""));
    addMetric(c, "skipped", 1);
    checkSkipLimits(j, loc, stepNo, why);
  } else {
    j->skippedInARow = 0;
  }
  double loss = lossSum / double(epochs * updates);
  wr(out[0], 0, loss);
  addMetric(c, "loss", loss);
  addMetric(c, "grad_norm", skipped ? NAN : st0.gradNorm);
  addMetric(c, "learning_rate", st0.lr);
  for (int i = 1; i < n_out; ++i) {
    double v = metricSums[size_t(i - 1)] / double(epochs * updates);
    wr(out[i], 0, v);
    addMetric(c,
              metricNames.empty() ? "metric" + std::to_string(i - 1)
                                  : metricNames[size_t(i - 1)],
              v);
  }
  int64_t tokens = 0; // when no generation counted the step's tokens
  for (Read &r : rs)
    for (int32_t l : r.lengths)
      tokens += l;
  addTokens(j, tokens, /*onlyIfNone=*/true);
}

// --- lanes -------------------------------------------------------------------

/// Waits until every lane is idle (the host's view is then complete).
void drainLanes(hone_job *j, const char *loc) {
  if (!j->sched)
    return;
  Status s = j->sched->drain();
  if (!s.isOk())
    fail(j, loc, s.message());
}

std::optional<exec::Lane> laneByName(const std::string &name) {
  for (int l = 0; l < exec::kNumLanes; ++l)
    if (name == exec::laneName(exec::Lane(l)))
      return exec::Lane(l);
  return std::nullopt;
}

/// Models an op reaches through its objects (a learned reward's too).
void modelsOf(Object *o, std::vector<ModelObj *> &out) {
  if (!o)
    return;
  if (o->kind == ObjKind::Model)
    out.push_back(static_cast<ModelObj *>(o));
  if (o->kind == ObjKind::Reward) {
    auto *r = static_cast<RewardObj *>(o);
    if (r->model)
      out.push_back(r->model);
    for (RewardObj *p : r->parts)
      modelsOf(p, out);
  }
}

/// Bytes of an op's results (the trace's "bytes").
int64_t outputBytes(const OpCtx &c) {
  static const int64_t kDtypeBytes[] = {4, 8, 4, 8, 1}; // enum hone_dtype
  int64_t total = 0;
  for (int i = 0; i < c.nOut; ++i) {
    const hone_tensor &t = c.out[i];
    int64_t n = 1;
    for (int d = 0; d < t.rank && d < 2; ++d)
      n *= t.shape[d];
    if (t.dtype >= 0 && t.dtype < 5)
      total += n * kDtypeBytes[t.dtype];
  }
  return total;
}

/// Runs `body(c)` on the lane the op's attributes name, or inline after
/// draining every lane. On a lane the call's arrays are copied (generated
/// code reuses its stack) and the op's models compute with the lane's own
/// kernels object (a CPU kernels object keeps scratch memory and is not
/// shared between threads); events order the op against other lanes.
void submit(OpCtx c, void (*body)(OpCtx &)) {
  hone_job *j = c.j;
  if (j->skipStage || (j->skipPrologue && c.op != "exec.rollouts_resume"))
    return;
  c.seq = j->calls++;
  std::optional<exec::Lane> lane;
  if (j->sched)
    lane = laneByName(c.has("lane") ? c.text("lane") : "host");
  observe::TraceRecorder *tr = j->job->trace(); // --trace, else null
  int64_t bytes = tr ? outputBytes(c) : 0;
  if (!lane) {
    drainLanes(j, c.loc);
    uint64_t t0 = tr ? tr->nowUs() : 0;
    body(c);
    if (tr)
      tr->record("host", c.op, t0, tr->nowUs(), bytes);
    return;
  }
  struct Call {
    OpCtx c;
    std::vector<void *> objs;
    std::vector<hone_tensor> in, out;
  };
  auto call = std::make_shared<Call>();
  call->objs.assign(c.objs, c.objs + c.nObjs);
  call->in.assign(c.in, c.in + c.nIn);
  call->out.assign(c.out, c.out + c.nOut);
  call->c = std::move(c);
  call->c.objs = call->objs.data();
  call->c.in = call->in.data();
  call->c.out = call->out.data();
  Kernels<float> *k = j->laneKernels[int(*lane)].get();
  int threads = j->cpuThreads;
  const char *laneName = exec::laneName(*lane);
  j->sched->enqueue(*lane, "hone." + call->c.op, [=] {
    uint64_t t0 = tr ? tr->nowUs() : 0;
    thread_local int laneThreads = 0; // OpenMP settings are per thread
    if (laneThreads != threads) {
      setCpuThreads(threads);
      laneThreads = threads;
    }
    std::vector<ModelObj *> ms;
    for (void *o : call->objs)
      modelsOf(static_cast<Object *>(o), ms);
    for (ModelObj *m : ms)
      m->model->setKernels(k);
    body(call->c);
    if (tr)
      tr->record(laneName, call->c.op, t0, tr->nowUs(), bytes);
    return Status::ok();
  });
}

namespace {

// --- object ops (hone_rt_object) ---------------------------------------------

ModelObj *modelArg(const OpCtx &c, int i) {
  auto *o = static_cast<Object *>(c.objs[i]);
  if (!o || o->kind != ObjKind::Model)
    c.err("object " + std::to_string(i) + " is not a model");
  return static_cast<ModelObj *>(o);
}
void wantObjs(const OpCtx &c, int lo, int hi) {
  if (c.nObjs < lo || c.nObjs > hi)
    c.err("expected " + std::to_string(lo) +
          (lo == hi ? "" : ".." + std::to_string(hi)) + " objects, got " +
          std::to_string(c.nObjs));
}

void objModelInit(OpCtx &c) {
  hone_job *j = c.j;
  wantObjs(c, 0, 0);
  ModelConfig cfg = archConfig(j, c.loc, c.attrs);
  auto m = take(j, c.loc, Transformer<float>::create(cfg, &j->job->kernels()));
  m->initRandom(uint64_t(c.i64("seed")));
  c.made = newModel(j, std::move(m));
}

/// The discardable "storage" attribute hone-schedule-stages sets on a model
/// that is never trained: "bf16" keeps it in bf16 (Transformer::
/// createFrozenBf16; docs/runtime.md, "Frozen models in bf16").
bool frozenBf16Storage(const OpCtx &c) {
  if (!c.has("storage"))
    return false;
  std::string s = c.text("storage");
  if (s != "bf16" && s != "fp32")
    c.err("storage '" + s + "' is neither bf16 nor fp32");
  // The CUDA backend runs bf16 weights only through a widened copy per call
  // (Kernels.h's defaults): not used there yet.
  return s == "bf16" && c.j->args.device != "cuda";
}

void objModelLoad(OpCtx &c) {
  hone_job *j = c.j;
  wantObjs(c, 0, 0);
  std::string path = c.text("path");
  if (path.empty())
    c.err("no path");
  auto m = take(j, c.loc,
                loadHfModel(path, &j->job->kernels(), frozenBf16Storage(c)));
  ModelConfig want = archConfig(j, c.loc, c.attrs);
  const ModelConfig &got = m->config();
  if (want.vocabSize != got.vocabSize || want.dModel != got.dModel ||
      want.nLayers != got.nLayers || want.nHeads != got.nHeads ||
        want.headDim() != got.headDim() || want.qkNorm != got.qkNorm ||
        want.ropeScaling != got.ropeScaling)
    c.err(path + ": the model's config.json differs from the compiled arch");
  c.made = newModel(j, std::move(m));
}

void objModelNewHead(OpCtx &c) {
  hone_job *j = c.j;
  wantObjs(c, 1, 1);
  ModelObj *base = modelArg(c, 0);
  ModelConfig cfg = archConfig(j, c.loc, c.attrs);
  auto m = take(j, c.loc, Transformer<float>::create(cfg, &j->job->kernels()));
  m->initRandom(uint64_t(c.i64("seed")));
  for (const ParamInfo &p : m->params()) // the body, copied
    if (const ParamInfo *q = base->model->findParam(p.name))
      if (q->numel == p.numel) {
        if (base->model->frozenBf16()) { // widened (never planned so)
          auto t = base->model->getParam(p.name, DType::F32);
          check(j, c.loc, t.status());
          check(j, c.loc, m->setParam(p.name, *t));
          continue;
        }
        std::memcpy(m->param(p), base->model->param(*q),
                    size_t(p.numel) * sizeof(float));
      }
  c.made = newModel(j, std::move(m));
}

/// hone.model.lora: a model reading base's weights (no copy) with fresh
/// adapters; only they train, so base stays the frozen reference.
void objModelLora(OpCtx &c) {
  hone_job *j = c.j;
  wantObjs(c, 1, 1);
  ModelObj *base = modelArg(c, 0);
  Settings s{j, c.loc, "hone.model.lora", c.need("lora", abi::Kind::Obj)};
  LoraConfig lc;
  lc.rank = s.i64("rank");
  lc.alpha = s.f64("alpha");
  if (s.f64("dropout") != 0)
    c.err("LoRA dropout is not supported yet");
  const json::Value &targets = s.need("target_modules");
  for (const json::Value &t : targets.items())
    lc.targets.push_back(t.isString() ? t.asString() : std::string());
  if (base->model->hasLora())
    c.err("the base model already carries adapters");
  auto m = take(j, c.loc, base->model->baseView());
  check(j, c.loc, m->addLora(lc, uint64_t(c.i64("seed"))));
  ModelObj *o = newModel(j, std::move(m));
  const json::Value *merge = s.o.find("merge_on_save");
  o->mergeOnSave = merge && merge->isBool() && merge->asBool();
  c.made = o;
}

void objSnapshot(OpCtx &c) {
  hone_job *j = c.j;
  wantObjs(c, 1, 1);
  ModelObj *base = modelArg(c, 0);
  if (base->model->hasLora()) {
    // The base never changes: share it, copy the adapters only.
    const Transformer<float> &src = *base->model;
    auto m = take(j, c.loc, src.baseView());
    check(j, c.loc, m->addLora(src.lora(), 0));
    src.kernels().copy(m->loraData(), src.loraData(), src.numTrainable());
    ModelObj *o = newModel(j, std::move(m));
    o->mergeOnSave = base->mergeOnSave;
    c.made = o;
    return;
  }
  auto m = take(j, c.loc,
                frozenBf16Storage(c)
                    ? Transformer<float>::createFrozenBf16(
                          base->model->config(), &j->job->kernels())
                    : Transformer<float>::create(base->model->config(),
                                                 &j->job->kernels()));
  check(j, c.loc, copyWeights(*base->model, *m));
  c.made = newModel(j, std::move(m));
}

void objDataset(OpCtx &c) {
  hone_job *j = c.j;
  wantObjs(c, 0, 0);
  std::string path = c.text("path");
  if (path.empty())
    c.err("no path");
  // #hone.dataset_settings (dialect/HoneSettings.td): every column name,
  // the shuffle, its seed, the record cap and the held-out fraction.
  Settings s{j, c.loc, "dataset settings", c.object("settings")};
  Settings cols{j, c.loc, "dataset columns", s.object("columns")};
  bool shuffle = s.boolean("shuffle");
  std::map<std::string, std::string> columns, roles;
  for (const char *k : {"text", "messages", "role", "content", "prompt",
                        "completion", "chosen", "rejected", "label", "answer"})
    columns[k] = cols.text(k);
  for (const auto &[from, to] : cols.object("role_names").members()) {
    if (!to.isString())
      c.err("dataset columns: role_names." + from + " is not a string");
    roles[from] = to.asString();
  }
  auto options = datasetOptionsFromSpec(c.text("layout"), columns, roles);
  if (!options)
    c.err(options.status().message());
  auto dl = DataLoader::open(path, *options, uint64_t(s.i64("shuffle_seed")),
                             shuffle);
  if (!dl)
    c.err(dl.status().message());
  auto o = std::make_unique<DatasetObj>();
  o->data = std::make_unique<DataLoader>(dl.take());
  if (int64_t cap = s.i64("max_records"); cap > 0)
    o->data->keepFirst(size_t(cap));
  if (c.has("eval_path")) {
    std::string ev = c.text("eval_path");
    auto e = DataLoader::open(ev, *options, 0, false);
    if (!e)
      c.err(e.status().message());
    o->evalData = std::make_unique<DataLoader>(e.take());
  } else if (double frac = s.f64("eval_fraction"); frac > 0) {
    size_t all = o->data->size();
    size_t held = size_t(std::floor(double(all) * frac));
    if (held == 0 || held == all)
      c.err(path + ": eval_fraction " + std::to_string(frac) + " of " +
            std::to_string(all) + " records leaves " +
            (held == 0 ? "no evaluation record" : "no training record") +
            " (hint: change eval_fraction, or give eval_path)");
    o->evalData = std::make_unique<DataLoader>(o->data->splitTail(held));
  }
  o->index = int64_t(j->datasets.size());
  o->name = "d" + std::to_string(o->index);
  o->path = path;
  DatasetObj *p = o.get();
  j->datasets.push_back(p);
  j->objects.push_back(std::move(o));
  c.made = p;
}

void objBufferInit(OpCtx &c) {
  wantObjs(c, 0, 0);
  auto o = std::make_unique<BufferObj>();
  o->capacity = c.i64("capacity");
  BufferObj *p = o.get();
  c.j->buffers.push_back(p);
  c.j->objects.push_back(std::move(o));
  c.made = p;
}

void keepReward(OpCtx &c, std::unique_ptr<RewardObj> o) {
  c.made = o.get();
  c.j->objects.push_back(std::move(o));
}

void objRewardVerifier(OpCtx &c) {
  wantObjs(c, 0, 0);
  auto o = std::make_unique<RewardObj>();
  std::string vk = c.text("kind");
  // The spec message's other fields, typed per kind in the dialect
  // (#hone.exact_match, #hone.numeric_match, #hone.pattern_reward,
  // #hone.length_shaping); every one present, none defaulted here.
  Settings s{c.j, c.loc, "settings", c.object("settings")};
  if (vk == "length") {
    o->kind = RewardObj::Kind::Length;
    o->maxLength = c.i64("max_length");
    o->cacheLength = c.i64("cache_length");
    o->penalty = s.f64("penalty");
    if (o->maxLength <= 0)
      c.err("length needs max_length > 0");
  } else {
    VerifierConfig vc;
    if (vk == "exact_match") {
      vc.kind = VerifierConfig::Kind::ExactMatch;
      vc.extract = s.text("extract");
      vc.strip = s.boolean("strip");
      vc.caseSensitive = s.boolean("case_sensitive");
    } else if (vk == "numeric_match") {
      vc.kind = VerifierConfig::Kind::NumericMatch;
      vc.absTol = c.f64("tolerance");
      vc.relTol = s.f64("rel_tolerance");
      vc.extract = s.text("extract");
    } else if (vk == "regex" || vk == "format") {
      vc.kind = vk == "regex" ? VerifierConfig::Kind::Regex
                              : VerifierConfig::Kind::Format;
      vc.pattern = c.text("pattern");
    } else
      c.err("unknown verifier '" + vk +
            "' (exact_match, numeric_match, regex, format, length)");
    bool isRegex = vc.kind == VerifierConfig::Kind::Regex ||
                   vc.kind == VerifierConfig::Kind::Format;
    vc.onTrue = s.f64(isRegex ? "match" : "correct");
    vc.onFalse = s.f64(isRegex ? "no_match" : "incorrect");
    auto v = Verifier::create(vc);
    if (!v)
      c.err(v.status().message());
    o->kind = RewardObj::Kind::Verifier;
    o->verifier.emplace(v.take());
  }
  keepReward(c, std::move(o));
}

void objRewardModel(OpCtx &c) {
  wantObjs(c, 1, 1);
  auto o = std::make_unique<RewardObj>();
  o->kind = RewardObj::Kind::Model;
  o->model = modelArg(c, 0);
  if (o->model->model->config().head != HeadKind::Scalar)
    c.err("a reward model needs a scalar head");
  keepReward(c, std::move(o));
}

void objRewardExternal(OpCtx &c) {
  wantObjs(c, 0, 0);
  auto o = std::make_unique<RewardObj>();
  o->kind = RewardObj::Kind::External;
  std::vector<std::string> argv = c.texts("command");
  if (argv.empty())
    c.err("empty command");
  o->external = take(c.j, c.loc,
                     ExternalReward::start(argv, int(c.f64("timeout_s") * 1000)));
  keepReward(c, std::move(o));
}

void objRewardCombine(OpCtx &c) {
  auto o = std::make_unique<RewardObj>();
  o->kind = RewardObj::Kind::Combine;
  std::vector<double> w = c.f64s("weights");
  for (int i = 0; i < c.nObjs; ++i) {
    auto *p = static_cast<Object *>(c.objs[i]);
    if (!p || p->kind != ObjKind::Reward)
      c.err("object " + std::to_string(i) + " is not a reward");
    o->parts.push_back(static_cast<RewardObj *>(p));
  }
  if (o->parts.empty())
    c.err("no rewards to combine");
  if (w.size() != o->parts.size())
    c.err("weights has " + std::to_string(w.size()) + " entries for " +
          std::to_string(o->parts.size()) + " rewards");
  o->weights = w;
  keepReward(c, std::move(o));
}

// --- dispatch: one handler per row of runtime/abi/step_ops.inl ---------------

struct Handler {
  abi::OpId op;
  void (*run)(OpCtx &);
};
constexpr Handler kHandlers[] = {
    {abi::OpId::model_init, objModelInit},
    {abi::OpId::model_load, objModelLoad},
    {abi::OpId::model_new_head, objModelNewHead},
    {abi::OpId::model_lora, objModelLora},
    {abi::OpId::exec_snapshot, objSnapshot},
    {abi::OpId::dataset, objDataset},
    {abi::OpId::reward_verifier, objRewardVerifier},
    {abi::OpId::reward_model, objRewardModel},
    {abi::OpId::reward_external, objRewardExternal},
    {abi::OpId::reward_combine, objRewardCombine},
    {abi::OpId::buffer_init, objBufferInit},
    {abi::OpId::data_next, opDataNext},
    {abi::OpId::data_fetch, opDataFetch},
    {abi::OpId::generate, opGenerate},
    {abi::OpId::logprob, opLogprob},
    {abi::OpId::value, opValue},
    {abi::OpId::score, opScore},
    {abi::OpId::shape_reward, opShapeReward},
    {abi::OpId::advantage, opAdvantage},
    {abi::OpId::group_accuracy, opGroupAccuracy},
    {abi::OpId::indicator, opIndicator},
    {abi::OpId::group_filter, opGroupFilter},
    {abi::OpId::buffer_push, opBufferPush},
    {abi::OpId::buffer_pop, opBufferPop},
    {abi::OpId::schedule, opSchedule},
    {abi::OpId::sync_weights, opSyncWeights},
    {abi::OpId::exec_rollouts_resume, opRolloutsResume},
    {abi::OpId::exec_rollouts_in_flight, opRolloutsInFlight},
    {abi::OpId::eval_step, opEvalStep},
    {abi::OpId::save, opSave},
    {abi::OpId::train_step, runTrainStep},
};

/// Every row but the stage's has exactly one handler (checked at compile
/// time: a new row without a handler does not build).
constexpr bool everyRowHasOneHandler() {
  for (const abi::OpRow &r : abi::kOps) {
    int n = 0;
    for (const Handler &h : kHandlers)
      n += h.op == r.id;
    if (n != (r.call == abi::Call::Stage ? 0 : 1))
      return false;
  }
  return true;
}
static_assert(everyRowHasOneHandler(),
              "runtime/abi/step_ops.inl: every object, step and train row "
              "needs one entry in kHandlers");

const char *callName(abi::Call k) {
  switch (k) {
  case abi::Call::Object: return "object";
  case abi::Call::Step: return "step";
  case abi::Call::Train: return "train";
  case abi::Call::Stage: return "stage";
  }
  return "?";
}

const char *entryName(abi::Call k) {
  switch (k) {
  case abi::Call::Object: return "hone_rt_object";
  case abi::Call::Step: return "hone_rt_step";
  case abi::Call::Train: return "hone_rt_train_step";
  case abi::Call::Stage: return "hone_rt_stage_begin";
  }
  return "?";
}

/// The row of the call's op (which must be carried by `call`), its
/// attributes parsed and checked against the row, and its handler. Any
/// disagreement is a one-line error at the op's location.
void (*lookUp(OpCtx &c, const char *attrsJson, abi::Call call))(OpCtx &) {
  const abi::OpRow *row = abi::findOp(c.op);
  if (!row)
    fail(c.j, c.loc,
         std::string("unknown ") + callName(call) + " op 'hone." + c.op +
             "' (runtime/abi/step_ops.inl lists the ops the runtime "
             "implements)");
  if (row->call != call)
    c.err(std::string(row->call == abi::Call::Object ? "an " : "a ") +
          callName(row->call) + " op, called through " +
          entryName(call));
  c.row = row;
  c.attrs = parseJson(c.j, c.loc, attrsJson, ("hone." + c.op).c_str());
  std::string bad = checkAttrs(*row, c.attrs);
  if (!bad.empty())
    c.err(bad);
  for (const Handler &h : kHandlers)
    if (h.op == row->id)
      return h.run;
  c.err("no runtime handler"); // excluded by the static_assert
}

} // namespace

extern "C" {

hone_job *hone_rt_begin(int32_t abi_version, int32_t argc, char **argv,
                        const char *pipeline_name, const char *config_json,
                        const char *spec_text, const char *ir_text) {
  if (abi_version != HONE_RT_ABI_VERSION) {
    std::fprintf(stderr,
                 "error: this executable was compiled for runtime ABI v%d, "
                 "the runtime is v%d (recompile with this honec)\n",
                 int(abi_version), HONE_RT_ABI_VERSION);
    std::exit(1);
  }
  std::string argv0 = argc > 0 && argv[0] ? argv[0] : "job";
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--version") == 0) {
      std::printf("%s (hone runtime ABI v%d)\n",
                  pipeline_name ? pipeline_name : "job", HONE_RT_ABI_VERSION);
      return nullptr;
    }
  auto args = parseJobArgs(argc, argv);
  if (args && !args->stepsOverride.empty()) // it used to be ignored
    args = Status::error("error: --steps-override: a compiled job's loop "
                         "bounds are compiled in",
                         "compile again with the steps as an override, e.g. "
                         "honec SPEC stages[0].sft.loop.steps=N");
  if (!args) {
    std::fprintf(stderr, "%s\n", args.status().toString().c_str());
    std::exit(1);
  }
  if (args->help) {
    std::printf("%s", jobUsage(argv0).c_str());
    std::printf("runs the compiled pipeline '%s'\n",
                pipeline_name ? pipeline_name : "job");
    return nullptr;
  }
  // Idle OpenMP threads sleep instead of spinning: libgomp spins ~0.3 s
  // by default after each parallel region, and on a small (or shared) machine
  // the spinning thread takes the core the next serial step needs (the
  // README example ran 10-19x slower on 2 busy cores; bench/RESULTS.md).
  // libgomp reads the policy once, when it is loaded, hence the re-exec;
  // a policy set by the user is kept. Only a real ./job re-executes (argv[0]
  // is this executable), never a program that calls hone_rt_begin itself.
  if (!std::getenv("OMP_WAIT_POLICY") && !std::getenv("GOMP_SPINCOUNT") &&
      argc > 0 && argv[0]) {
    char self[4096], *arg0 = realpath(argv[0], nullptr);
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    bool isSelf = arg0 && n > 0 && (self[n] = 0, std::strcmp(arg0, self) == 0);
    std::free(arg0);
    if (isSelf) {
      setenv("OMP_WAIT_POLICY", "passive", 1);
      execv("/proc/self/exe", argv); // returns only on failure: run as is
    }
  }
  auto *j = new hone_job();
  j->mainThread = std::this_thread::get_id();
  j->args = *args;
  j->argv.assign(argv, argv + argc);
  // Fault injection for tests: the loss of these (1-based) training steps
  // reads as NaN, e.g. HONE_INJECT_NAN_STEPS=5,9.
  if (const char *inj = std::getenv("HONE_INJECT_NAN_STEPS")) {
    std::stringstream ss(inj);
    for (std::string t; std::getline(ss, t, ',');)
      if (!t.empty())
        j->injectNan.insert(std::atoll(t.c_str()));
  }
  j->config = parseJson(j, "config", config_json, "pipeline config");
  if (j->args.device == "cuda" && !haveCudaBackend()) {
    std::fprintf(stderr, "error: --device cuda: this runtime has no CUDA "
                         "backend yet (run with --device cpu)\n");
    std::exit(1);
  }
  JobConfig jc;
  jc.name = pipeline_name ? pipeline_name : "job";
  jc.specText = spec_text ? spec_text : "";
  // The run's settings as the frontend resolved them (every one present:
  // frontend/Defaults.cpp); a missing one is an error, never a default.
  Settings cfg{j, "config", "config", j->config};
  Settings hw{j, "config", "hardware", cfg.object("hardware")};
  Settings ck{j, "config", "checkpointing", cfg.object("checkpointing")};
  jc.defaultOutDir = cfg.text("output_dir");
  // Data-parallel ranks: the spec's hardware.ranks processes, started by
  // mpirun. Each rank trains on its own share of every batch; gradients are
  // averaged over the ranks before each optimiser step, so the weights stay
  // identical. Rank 0 writes the run directory; rank r > 0 writes its own
  // copy below it (rank-<r>/: checkpoints for its resume, metrics), quietly.
  {
    const char *why = nullptr;
    if (!j->comm.init(&argc, &argv, &why))
      fail(j, "job", why);
    int64_t ranks = hw.i64("ranks");
    j->comm.timeoutSec = hw.f64("collective_timeout_s");
    if (ranks != j->comm.size)
      fail(j, "job",
           "the spec asks for " + std::to_string(ranks) +
               " rank(s), this job runs as " + std::to_string(j->comm.size) +
               " (start it with: mpirun -np " + std::to_string(ranks) + " " +
               argv0 + ")");
    if (j->comm.size > 1) {
      if (j->args.device == "cuda")
        fail(j, "job", "ranks > 1 run on the CPU only (use --device cpu)");
      if (j->comm.rank > 0) {
        std::string out =
            j->args.outDir.empty() ? jc.defaultOutDir : j->args.outDir;
        j->args.outDir = out + "/rank-" + std::to_string(j->comm.rank);
        j->args.progress = "off";
      }
    }
  }
  jc.seed = uint64_t(cfg.i64("seed"));
  j->seed = jc.seed;
  {
    jc.checkpointEvery = ck.i64("every_steps");
    jc.keepLast = int(ck.i64("keep_last"));
    jc.checkpointSubdir = ck.text("dir");
    std::string nan = ck.text("on_nan");
    if (nan != "skip" && nan != "rollback" && nan != "abort")
      fail(j, "config", "checkpointing.on_nan: unknown policy '" + nan +
                            "' (skip, rollback, abort)");
    j->rollback = nan == "rollback";
    j->abortOnNan = nan == "abort";
    j->maxSkippedFraction = ck.f64("max_skipped_fraction");
    j->maxSkippedInARow = ck.i64("max_skipped_in_a_row");
    if (j->rollback && j->comm.size > 1)
      fail(j, "config",
           "checkpointing.on_nan: rollback restarts the process, which "
           "ranks > 1 cannot do yet (use on_nan: skip)");
  }
  {
    if (j->args.threads == 0)
      j->args.threads = int(std::clamp<int64_t>(hw.i64("threads"), -1,
                                                kMaxThreads + 1));
    // The spec's device unless --device names one (auto defers to it).
    std::string d = hw.text("device");
    if (j->args.device == "auto" && (d == "cpu" || d == "cuda"))
      j->args.device = d;
    // precision bf16 on the CPU: bf16 GEMMs where this CPU (not the one
    // that compiled the job) has AVX-512 BF16 or AMX, else fp32 and a note.
    if (hw.text("precision") == "bf16" &&
        j->args.device != "cuda" && !setCpuBf16Gemm(true))
      std::fprintf(stderr,
                   "note: hardware.precision bf16: %s; training in fp32 "
                   "(frozen models stay stored in bf16, widened to fp32 in "
                   "each product)\n",
                   cpuBf16Unsupported().c_str());
  }
  setupTokenizer(j);
  if (j->comm.size > 1) // every rank's value through one sum (steps < 2^53)
    jc.allRanks = [j](int64_t v) {
      std::vector<double> all(size_t(j->comm.size), 0.0);
      all[size_t(j->comm.rank)] = double(v);
      j->comm.sum(all.data(), all.size());
      return std::vector<int64_t>(all.begin(), all.end());
    };
  auto job = Job::open(j->args, jc);
  if (!job) // "RUN: error: ..." is located already
    fail(j,
         job.status().message().find(": error: ") == std::string::npos
             ? "job"
             : kLocated,
         job.status().toString());
  j->job = job.take();
  if (j->comm.size > 1) {
    // Every rank must continue from the same step (each reads its own
    // checkpoints; Job::open agreed on the newest one all ranks have).
    double s = double(j->job->resumedStep().value_or(-1));
    if (!j->comm.same(s))
      fail(j, "job",
           "the ranks would resume from different checkpoints (this rank: " +
               (s < 0 ? std::string("none") : std::to_string(int64_t(s))) +
               "); remove the newer checkpoint-* directories so that every "
               "rank's newest complete one is the same step");
  }
  // Lanes as worker threads on the CPU; the CUDA backend (and --lanes off)
  // runs every step inline for now. auto: on with 4 or more hardware
  // threads. With 2, two busy lanes' OpenMP teams contend for the same two
  // cores and the job ran 5-10 % slower than inline (bench/lanes).
  // With ranks > 1, every step runs on the thread that joined MPI.
  bool lanes = j->comm.size == 1 &&
               (j->args.lanes == "on" ||
                (j->args.lanes == "auto" &&
                 std::thread::hardware_concurrency() >= 4));
  if (lanes && j->args.device != "cuda") {
    j->cpuThreads = cpuThreads();
    j->sched = std::make_unique<exec::Scheduler>();
    for (auto &k : j->laneKernels)
      k = makeKernels("cpu").take(); // the CPU backend is always there
  }
  // Steps that gave a non-finite loss before a rollback are skipped now.
  if (j->args.resume)
    if (auto text = readFile(j->job->runDir() + "/nan_steps.json")) {
      auto v = json::parse(*text);
      if (v && v->isArray())
        for (const json::Value &e : v->items())
          if (e.isInt())
            j->nanSteps.insert(e.asInt());
    }
  // The compiled lane plan, drawn next to the measured schedule.
  if (const json::Value *lp = get(j->config, "lane_plan")) {
    auto plan = observe::parseLanePlan(*lp);
    if (!plan)
      fail(j, "config", plan.status().message());
    j->job->setLanePlan(plan.take());
  }
  // The memory plan's baseline: the resident set after start-up.
  if (std::string bad = j->memory.begin(get(j->config, "memory_plan"));
      !bad.empty())
    fail(j, "config", bad);
  // The compiled IR next to the spec.
  std::string irPath = j->job->runDir() + "/program.mlir";
  if (FILE *f = std::fopen(irPath.c_str(), "w")) {
    if (ir_text)
      std::fputs(ir_text, f);
    std::fclose(f);
  } else { // the run's record: said, not silently missing
    std::fprintf(stderr, "warning: cannot write %s: %s\n", irPath.c_str(),
                 std::strerror(errno));
  }
  return j;
}

void *hone_rt_arena(hone_job *j, int64_t bytes) {
  constexpr size_t kAlign = 64;
  // calloc: large blocks come zeroed from the kernel and take memory only as
  // pages are touched, like a static zero-initialised arena.
  void *p = bytes > 0 && uint64_t(bytes) < (uint64_t(1) << 41)
                ? std::calloc(1, size_t(bytes) + kAlign)
                : nullptr;
  if (!p)
    fail(j, "job",
         "cannot allocate the step buffers (" + std::to_string(bytes) +
             " bytes): lower the batch size or the sequence lengths");
  std::free(j->arenaBlock);
  j->arenaBlock = p;
  uintptr_t a = (reinterpret_cast<uintptr_t>(p) + kAlign - 1) & ~(kAlign - 1);
  return reinterpret_cast<void *>(a);
}

int32_t hone_rt_end(hone_job *j) {
  if (!j)
    return 0;
  drainLanes(j, "end");
  if (j->inStage)
    hone_rt_stage_end(j);
  // Planned vs measured peak: printed, logged, in the report; a peak past
  // the plan's tolerance ends the job with an error once all is written.
  std::string verdict = j->memory.verdict();
  std::vector<std::pair<std::string, std::string>> summary = {
      {"measured memory peak", formatBytes(j->memory.measuredPeak())}};
  if (j->memory.planned()) {
    summary.push_back(
        {"planned memory peak", formatBytes(j->memory.plannedPeak())});
    for (const std::string &d : j->memory.decisions())
      summary.push_back({"memory plan decision", d});
    observe::MetricValues mv = {
        {"memory/planned_peak_bytes", double(j->memory.plannedPeak())},
        {"memory/measured_peak_bytes", double(j->memory.measuredPeak())},
        {"memory/unplanned_allocations", double(j->memory.unplanned())}};
    check(j, "job", j->job->metrics().log(j->job->globalStep(), mv));
  }
  if (j->forwardsKept > 0)
    summary.push_back({"train-step forwards kept from hone.value (PPO v_old)",
                       std::to_string(j->forwardsKept)});
  // The compiler's model work per stage iteration (config "model_work",
  // dialect/HoneForwards.h), shown as a table.
  std::vector<observe::ModelWorkRow> work;
  if (const json::Value *w = get(j->config, "model_work"); w && w->isArray())
    for (const json::Value &e : w->items()) {
      const json::Value *st = get(e, "stage"), *mo = get(e, "model");
      const json::Value *fw = get(e, "forwards"), *bw = get(e, "backwards");
      const json::Value *gf = get(e, "gflop");
      auto pair = [](const json::Value *v) {
        return v && v->isArray() && v->size() == 2 &&
               v->items()[0].isNumber() && v->items()[1].isNumber();
      };
      if (!st || !st->isString() || !mo || !mo->isString() || !pair(fw) ||
          !pair(bw) || !pair(gf))
        fail(j, "config",
             "model_work: an entry without stage, model, "
             "forwards, backwards and gflop");
      observe::ModelWorkRow r;
      r.stage = st->asString();
      r.model = mo->asString();
      r.forwardsBefore = int64_t(fw->items()[0].asDouble());
      r.forwards = int64_t(fw->items()[1].asDouble());
      r.backwardsBefore = int64_t(bw->items()[0].asDouble());
      r.backwards = int64_t(bw->items()[1].asDouble());
      r.gflopBefore = gf->items()[0].asDouble();
      r.gflop = gf->items()[1].asDouble();
      if (const json::Value *g = get(e, "generates"); g && g->isNumber())
        r.generates = int64_t(g->asDouble());
      if (const json::Value *g = get(e, "generated_tokens"); g && g->isNumber())
        r.generatedTokens = int64_t(g->asDouble());
      work.push_back(std::move(r));
    }
  j->job->setModelWork(std::move(work));
  if (j->comm.rank == 0)
    j->job->message(j->memory.summary());
  j->job->setMemoryReport(j->memory.buffers(), uint64_t(j->memory.plannedPeak()),
                          uint64_t(std::max<int64_t>(0, j->memory.budget())),
                          uint64_t(j->memory.measuredPeak()));
  check(j, "job", j->job->finish(summary));
  if (!verdict.empty())
    fail(j, "job", verdict);
  j->comm.finalize();
  for (auto &o : j->objects)
    if (o->kind == ObjKind::Reward)
      static_cast<RewardObj *>(o.get())->external.reset();
  std::free(j->arenaBlock);
  delete j;
  return 0;
}

void *hone_rt_object(hone_job *j, const char *loc, const char *op,
                     const char *attrs_json, int32_t n_objs, void **objs) {
  drainLanes(j, loc);
  OpCtx c{j, loc, op ? op : "", {}, n_objs, objs, 0, nullptr, 0, nullptr};
  if (n_objs < 0 || (n_objs && !objs))
    c.err("bad operand arrays");
  void (*handler)(OpCtx &) = lookUp(c, attrs_json, abi::Call::Object);
  handler(c);
  return c.made;
}

int64_t hone_rt_stage_begin(hone_job *j, const char *loc, const char *name,
                            int64_t steps, const char *attrs_json,
                            int32_t n_models, void **models) {
  drainLanes(j, loc);
  if (j->inStage)
    fail(j, loc, "hone.exec.stage_begin: stage '" + j->stageName +
                     "' is still open");
  OpCtx c{j, loc, "exec.stage_begin", {}, n_models, models, 0, nullptr, 0,
          nullptr};
  c.checkArrays();
  c.row = abi::findOp(c.op);
  c.attrs = parseJson(j, loc, attrs_json, "hone.exec.stage_begin");
  if (std::string bad = checkAttrs(*c.row, c.attrs); !bad.empty())
    c.err(bad);
  j->stageName = name ? name : "stage";
  j->stageSteps = steps;
  j->stageSkipped = j->skippedInARow = 0;
  // A stage without an optimizer trains nothing (its train steps carry
  // their own).
  j->stageOptimizer =
      c.has("optimizer") ? c.object("optimizer") : json::Value::object();
  for (ModelObj *m : j->models)
    m->opt.reset();
  for (int i = 0; i < n_models; ++i) {
    auto *o = static_cast<Object *>(models[i]);
    if (!o || o->kind != ObjKind::Model)
      fail(j, loc, "hone.exec.stage_begin: object " + std::to_string(i) +
                       " is not a model");
    auto *m = static_cast<ModelObj *>(o);
    // The stage's optimizer (its train steps'); a stage without train
    // steps has none and trains nothing.
    if (!m->opt && c.has("optimizer"))
      m->opt = std::make_unique<AdamW<float>>(
          *m->model, optimizerConfig(j, loc, j->stageOptimizer, steps));
  }
  auto first = j->job->beginStage(j->stageName, steps, stageObjects(j));
  if (!first)
    fail(j, loc, first.status().toString());
  // A pipelined RL stage (hone-pipeline-rollouts) holds rollouts generated
  // ahead in flight, which checkpoints do not keep yet: it resumes from
  // its start or not at all. Done before the checkpoint: its prologue and
  // epilogue ops are skipped.
  int64_t staleness = c.has("staleness") ? c.i64("staleness") : 0;
  j->skipStage = staleness > 0 && *first >= steps;
  j->skipPrologue = staleness > 0 && *first > 0 && *first < steps;
  if (j->skipPrologue && j->resumedRollouts.empty())
    fail(j, loc,
         "cannot resume stage '" + j->stageName + "' at step " +
             std::to_string(*first) + ": its rollouts run " +
             std::to_string(staleness) +
             " step(s) ahead of learning (staleness), and the checkpoint "
             "holds no rollouts in flight (written by a program without "
             "staleness?); resume with the program that wrote it");
  j->job->noteStageSettings(j->stageName, c.attrs);
  j->job->setStageModels(c.texts("models"));
  j->inStage = true;
  j->stepMetrics.clear();
  j->stepTokens = 0;
  j->stepStart = std::chrono::steady_clock::now();
  return *first;
}

void hone_rt_step_end(hone_job *j, int64_t step) {
  if (j->skipStage)
    return;
  drainLanes(j, "step_end");
  if (!j->inStage)
    fail(j, "step_end", "hone.exec.step_end outside a stage");
  double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                             j->stepStart)
                   .count();
  auto bySeq = [](const auto &a, const auto &b) { return a.first < b.first; };
  std::stable_sort(j->stepMetrics.begin(), j->stepMetrics.end(), bySeq);
  // Metrics of rollouts generated ahead for this step (lanes are drained)
  // come first, in their own call order: they were logged in an earlier
  // step (or restored from a checkpoint, whose call numbers are another
  // process's).
  decltype(j->stepMetrics) ahead;
  for (auto &[due, m] : j->deferred)
    if (due == j->stepEnds)
      ahead.push_back(std::move(m));
  std::stable_sort(ahead.begin(), ahead.end(), bySeq);
  j->deferred.erase(
      std::remove_if(j->deferred.begin(), j->deferred.end(),
                     [&](const auto &d) { return d.first <= j->stepEnds; }),
      j->deferred.end());
  ++j->stepEnds;
  observe::MetricValues mv;
  for (auto &m : ahead)
    mv.push_back(m.second);
  for (auto &m : j->stepMetrics)
    mv.push_back(m.second);
  if (j->comm.size > 1) {
    // Ranks log the mean over the ranks of every step metric (a rank's
    // reward is its own batch's) and the tokens of all ranks. The ranks run
    // the same program, so their metric lists match; checked.
    if (!j->comm.same(double(mv.size())))
      fail(j, "step_end", "the ranks logged different metrics this step");
    // The last element: whether any rank got a stop signal (all stop at
    // the same step).
    std::vector<double> v(mv.size() + 2);
    for (size_t i = 0; i < mv.size(); ++i)
      v[i] = mv[i].second;
    v[mv.size()] = double(j->stepTokens);
    v.back() = stopRequested() ? 1 : 0;
    j->comm.sum(v.data(), v.size());
    for (size_t i = 0; i < mv.size(); ++i)
      mv[i].second = v[i] / j->comm.size;
    j->stepTokens = int64_t(v[mv.size()]);
    if (v.back() > 0)
      requestStop();
  }
  if (sec > 0 && j->stepTokens > 0)
    mv.push_back({"tokens_per_sec", double(j->stepTokens) / sec});
  check(j, "step_end", j->job->endStep(step + 1, mv, j->stepTokens));
  if (j->job->stopped()) { // a stop signal: the checkpoint is written
    j->comm.finalize();
    std::fflush(nullptr);
    std::_Exit(0);
  }
  j->stepMetrics.clear();
  j->stepTokens = 0;
  j->stepStart = std::chrono::steady_clock::now();
}

void hone_rt_stage_end(hone_job *j) {
  drainLanes(j, "stage_end");
  if (!j->inStage)
    fail(j, "stage_end", "hone.exec.stage_end without an open stage");
  for (DatasetObj *d : j->datasets) {
    if (d->rowsUntrained > 0)
      j->job->warn(
          "warning: " + std::to_string(d->rowsUntrained) + " of " +
          std::to_string(d->rowsRead) + " rows of " + d->path +
          " read in stage '" + j->stageName +
          "' had no trainable token after truncation (first: line " +
          std::to_string(d->firstUntrainedLine) +
          "); they add nothing to the loss (raise max_seq_len or max_length, "
          "or shorten the prompts)");
    d->rowsRead = d->rowsUntrained = 0;
  }
  j->job->endStage();
  j->inStage = false;
  j->skipStage = j->skipPrologue = false;
  j->deferred.clear();
  j->inFlight.clear();
  // The plan frees each model's per-stage buffers here: check them against
  // it, then free them (the next stage sizes its own).
  for (ModelObj *m : j->models) {
    Transformer<float> &t = *m->model;
    if (!t.hasLora()) // a LoRA model's base is its base model's
      j->memory.noteHeld(m->name, "weights", t.weightBytesHeld());
    j->memory.noteHeld(m->name, "activations", t.activationBytesHeld());
    j->memory.noteHeld(m->name, "kv_cache", t.kvCacheBytesHeld());
    j->memory.noteHeld(m->name, "workspace", t.decodeWorkspaceBytesHeld());
    t.releaseWorkspaces();
    m->opt.reset();
  }
  // Fault injection for tests: an allocation outside the plan, touched.
  if (const char *inj = std::getenv("HONE_INJECT_UNPLANNED_BYTES")) {
    j->injected.assign(size_t(std::max<long long>(0, std::atoll(inj))), 1);
    j->memory.noteHeld("injected", "workspace", int64_t(j->injected.size()));
  }
}

void hone_rt_step(hone_job *j, const char *loc, const char *op,
                  const char *attrs_json, int32_t n_objs, void **objs,
                  int32_t n_in, const hone_tensor *in, int32_t n_out,
                  hone_tensor *out) {
  OpCtx c{j, loc, op ? op : "", {}, n_objs, objs, n_in, in, n_out, out};
  c.checkArrays();
  void (*handler)(OpCtx &) = lookUp(c, attrs_json, abi::Call::Step);
  for (int i = 0; i < n_in; ++i)
    if (in[i].rank < 0 || in[i].rank > 2 || in[i].dtype < 0 || in[i].dtype > 4)
      c.err("input " + std::to_string(i) + ": bad descriptor");
  for (int i = 0; i < n_out; ++i)
    if (out[i].rank < 0 || out[i].rank > 2 || out[i].dtype < 0 ||
        out[i].dtype > 4)
      c.err("result " + std::to_string(i) + ": bad descriptor");
  submit(std::move(c), handler);
}

void hone_rt_train_step(hone_job *j, const char *loc, const char *attrs_json,
                        int32_t n_models, void **models, hone_loss_fn kernel,
                        int32_t n_tokens, int32_t n_in, const hone_tensor *in,
                        int32_t n_out, hone_tensor *out) {
  OpCtx c{j, loc, "train_step", {}, n_models, models, n_in, in, n_out, out};
  c.checkArrays();
  void (*handler)(OpCtx &) = lookUp(c, attrs_json, abi::Call::Train);
  c.kernel = kernel;
  c.nTokens = n_tokens;
  submit(std::move(c), handler);
}

void hone_rt_event(hone_job *j, const char *lane, int32_t kind,
                   int64_t event) {
  if (!j->sched)
    return;
  auto l = laneByName(lane ? lane : "");
  if (!l || (kind != 0 && kind != 1) || event < 0 || event > (int64_t(1) << 30))
    fail(j, "event", "hone_rt_event: bad lane, kind or event id");
  while (j->events.size() <= size_t(event)) {
    j->events.push_back(
        j->sched->createEvent("event " + std::to_string(j->events.size())));
    j->recorded.push_back(0);
  }
  exec::Event e = j->events[size_t(event)];
  uint64_t &n = j->recorded[size_t(event)];
  if (kind == 0)
    j->sched->enqueue(*l, "record", [] { return Status::ok(); }, {},
                      exec::EventValue{e, ++n});
  else if (n > 0) // nothing recorded yet: nothing to wait for
    j->sched->enqueue(*l, "wait", [] { return Status::ok(); },
                      {exec::EventValue{e, n}});
}

void hone_rt_sync(hone_job *j) { drainLanes(j, "sync"); }

} // extern "C"
