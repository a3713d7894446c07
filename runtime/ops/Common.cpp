// What every op body shares (runtime/ops/Ops.h): located errors and the
// on_nan rollback, JSON and attribute reads, tensor views, typed settings,
// the job's tokenizer and text, metrics and messages.
#include "runtime/ops/Ops.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace hone::ops {

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
    hone::job::removeAllOffloadFiles(); // no exit handlers run
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
std::string clip(const std::string &s, size_t max) {
  if (s.size() <= max)
    return s;
  return s.substr(0, max) + "... (" + std::to_string(s.size()) + " bytes)";
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
    if (!abi::isKind(*v, a.kind)) {
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
    if (a == &abi::kLaneAttr && !v.isNull() && !abi::isKind(v, a->kind))
      return "attribute 'lane' must be a string";
  }
  return "";
}

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

void maskedLengths(const hone_tensor &mask, int32_t *len) {
  const int64_t B = mask.shape[0], T = mask.shape[1];
  for (int64_t b = 0; b < B; ++b) {
    int64_t n = T;
    while (n > 1 && rd(mask, b * T + n - 1) == 0.0)
      --n;
    len[b] = int32_t(n);
  }
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

void setRecompute(const OpCtx &c, ModelObj &m, std::optional<int64_t> layers,
                  const std::string &what) {
  const int64_t L = m.model->config().nLayers, r = layers.value_or(0);
  if (r < 0 || r > L)
    c.err(what + " = " + std::to_string(r) + " is outside [0, " +
          std::to_string(L) + "] (the model's layers)");
  m.model->setRecomputeLayers(r);
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

// --- tokenizer and text -----------------------------------------------------

void setupTokenizer(hone_job *j) {
  const char *loc = "config";
  // `#hone.tokenizer` (dialect/HoneSettings.td): exactly one of chars and
  // file, and a chat template; nothing here has a default.
  auto t = settingsOf<abi::SettingsId::tokenizer>(j, loc, j->run.tokenizer);
  if ((t.chars != nullptr) == t.file.has_value())
    fail(j, loc, "tokenizer: expected exactly one of 'chars' and 'file'");
  if (t.chars) {
    auto chars = settingsOf<abi::SettingsId::char_vocab>(j, loc, t.chars);
    j->tokenizer.emplace(take(
        j, loc, Tokenizer::character(chars.alphabet, chars.special)));
  } else {
    j->tokenizer.emplace(take(j, loc, Tokenizer::loadHfJson(*t.file)));
  }
  // EOS, padding and the chat template as the compiler measured the rows
  // with (runtime/data/Sequences.h); from_model reads the template beside
  // tokenizer.json (docs/formats.md).
  std::string dir = ".";
  if (t.file)
    if (size_t slash = t.file->rfind('/'); slash != std::string::npos)
      dir = t.file->substr(0, slash);
  j->fmt = take(j, loc,
                textFormatFor(*j->tokenizer, t.chat_template, dir,
                              t.chat_template_kwargs));
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

// --- the open stage ---------------------------------------------------------


AdamWConfig optimizerConfig(hone_job *j, const std::string &loc,
                            const json::Value &o, int64_t steps) {
  auto opt = settingsOf<abi::SettingsId::optimizer>(j, loc, &o);
  AdamWConfig c;
  c.lr = opt.lr;
  c.beta1 = opt.beta1;
  c.beta2 = opt.beta2;
  c.eps = opt.eps;
  c.weightDecay = opt.weight_decay;
  c.maxGradNorm = opt.max_grad_norm;
  const std::string &s = opt.schedule;
  if (s == "linear_decay")
    c.schedule.kind = LrSchedule::Kind::Linear;
  else if (s == "cosine_decay")
    c.schedule.kind = LrSchedule::Kind::Cosine;
  else if (s == "constant_lr")
    c.schedule.kind = LrSchedule::Kind::Constant;
  else
    fail(j, loc.c_str(), "optimizer: unknown schedule '" + s +
                     "' (constant_lr, linear_decay, cosine_decay)");
  c.schedule.warmupSteps = opt.warmup_steps;
  c.schedule.minLrRatio = opt.min_lr_ratio;
  c.schedule.totalSteps = std::max<int64_t>(steps, 1);
  return c;
}

// --- step ops ---------------------------------------------------------------

/// Lanes log concurrently: metrics carry their op's call order.
void addMetric(const OpCtx &c, std::string name, double v) {
  int64_t ahead = c.ahead;
  std::lock_guard<std::mutex> g(c.j->mu);
  if (ahead > 0)
    c.j->deferred.push_back(
        {c.j->stepEnds + ahead, {c.seq, {std::move(name), v}}});
  else
    c.j->stepMetrics.push_back({c.seq, {std::move(name), v}});
}
void addTokens(hone_job *j, int64_t n, bool onlyIfNone) {
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

} // namespace hone::ops
