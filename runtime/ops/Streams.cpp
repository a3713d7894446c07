// Streaming scores within an iteration (issue 21 item 3, RLHFuse-style):
// rows of a hone.generate that finish early are scored while the rest of
// the batch still decodes.
//
// hone-stream-scores (passes/StreamScores.cpp) marks a hone.generate
// `stream_rows` and each hone.score that reads its tokens and mask with a
// reward that scores rows independently (verifiers, length shaping,
// external processes, and weighted sums of those) `stream`. The host
// submits ops in program order, so when such a score is submitted, the
// stream opened by the latest generate on its tokens buffer is its
// producer's, whatever the lanes are doing (inline, without lanes, the host
// holds the generate until the next call: runtime/ops/Lanes.cpp). Each row is scored as generate
// publishes it (in place on the generating thread for verifiers, on the
// score's worker thread for an external process, whose latency decoding
// then hides), calling scoreRows on that row alone: for these rewards a row's score does not depend on the other rows
// (an external process is asked one completion at a time either way), so
// the scores, and everything computed from them, are those of the
// unstreamed order. The score op itself then only waits for the worker.
//
// A reward model (alone or in a sum) scores in fixed groups of
// modelScoreRows() consecutive batch rows (one by default), streamed or not
// (scoreRows): a
// streamed score computes a group's forward as soon as the group's last row
// is published, on its worker thread with a kernels object of its own, so
// the forwards, and the scores, are those of the unstreamed op by
// construction (a forward over other rows could round differently: the
// GEMM kernel is chosen by shape, test/unit/GemmRows.h). On the CPU only.
//
// Reference log-probs (a frozen model's hone.logprob of the generate's
// tokens, marked `stream` with its `row_group` by hone-stream-scores) go
// the same way: the read's worker runs the forward of each group of
// logprobRowGroup() consecutive rows as soon as the group's last row is
// published, into a buffer of its own (the op's result buffer may hold
// other live values until the op runs: hone-plan-arena lays it out from
// the op on), and the op copies the results when it runs. The unstreamed
// op runs the same groups (opLogprob), so the results are the same bits.
#include "runtime/ops/Ops.h"

#include <algorithm>
#include <cstdlib>
#include <condition_variable>

namespace hone::ops {

int64_t modelScoreRows() {
  static const int64_t rows = [] {
    const char *v = std::getenv("HONE_RM_SCORE_ROWS");
    long n = v ? std::atol(v) : 0;
    return n >= 1 && n <= 4096 ? int64_t(n) : int64_t(1);
  }();
  return rows;
}

namespace {

struct Consumer {
  OpCtx c;                  // the hone.score call; arrays below
  std::vector<void *> objs;
  std::vector<hone_tensor> in;
  RewardObj *reward = nullptr;
  std::vector<double> scores;
  /// Rewards computed in place (verifiers, length shaping: microseconds a
  /// row) score on the thread that publishes the row, between decode
  /// steps; one that asks an external process has a worker thread, so
  /// that decoding goes on while the process answers.
  bool inPlace = false;
  size_t next = 0; // in-place: published rows scored so far
  /// A reward model inside: rows are scored by groups of modelScoreRows()
  /// consecutive batch rows, each when its last row is published, with
  /// this kernels object and `threads` OpenMP threads.
  bool grouped = false;
  int64_t G = 1;                  // rows a group
  std::vector<int64_t> groupLeft; // rows of each group not yet published
  /// A hone.logprob (reference log-probs): each group's forward writes its
  /// rows of `logprobs` [B, T]; an error is kept for the op to report.
  bool logprob = false;
  bool packed = false;
  double temperature = 1.0;
  std::vector<float> logprobs;
  std::string error;
  std::unique_ptr<Kernels<float>> kernels;
  std::vector<ModelObj *> models;
  int threads = 1, allThreads = 1;
  /// The score op's `arena` placements (hone-plan-memory): the reward
  /// models' activations go where the plan put them, on this worker's
  /// thread as on the op's.
  std::optional<std::vector<int64_t>> arena;
  /// Scored on a worker thread (the job's streamWorkers, runtime/exec/WorkerPool.h) until
  /// it sets `finished` (under the stream's mutex).
  bool onWorker = false, finished = false;
  ~Consumer() { // the kernels object serves the next stream's worker
    if (kernels && c.j) {
      std::lock_guard<std::mutex> g(c.j->streamKernelsMu);
      c.j->streamKernels.push_back(std::move(kernels));
    }
  }
  // Trace clock (µs): when the first published row was published and
  // scored, and when the last row was scored.
  uint64_t firstReadyUs = 0, firstScoredUs = 0, lastScoredUs = 0;
  /// Records rows that were ready at `readyUs` as scored at `doneUs` (the
  /// trace's first-row latency and scoring span).
  void scored(uint64_t readyUs, uint64_t doneUs) {
    if (!any) {
      any = true;
      firstReadyUs = readyUs;
      firstScoredUs = doneUs;
    }
    lastScoredUs = doneUs;
  }
  bool any = false;
};

/// A CPU kernels object for a stream worker: one a finished worker left
/// (its scratch allocated, warm), or a new one.
std::unique_ptr<Kernels<float>> workerKernels(hone_job *j) {
  {
    std::lock_guard<std::mutex> g(j->streamKernelsMu);
    if (!j->streamKernels.empty()) {
      auto k = std::move(j->streamKernels.back());
      j->streamKernels.pop_back();
      return k;
    }
  }
  return makeKernels("cpu").take();
}

/// True when `r` asks an external process (itself or through a sum).
bool asksProcess(const RewardObj *r) {
  if (r->kind == RewardObj::Kind::External)
    return true;
  for (const RewardObj *p : r->parts)
    if (asksProcess(p))
      return true;
  return false;
}

/// The reward models inside `r` (none: it scores each row on its own).
void rewardModels(RewardObj *r, std::vector<ModelObj *> &out) {
  if (r->kind == RewardObj::Kind::Model && r->model)
    out.push_back(r->model);
  for (RewardObj *p : r->parts)
    rewardModels(p, out);
}

} // namespace

struct RowStream {
  hone_job *j = nullptr;
  observe::TraceRecorder *trace = nullptr;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int64_t> ready;    // rows in the order they finished
  std::vector<uint64_t> readyUs; // and when (trace clock; 0 without --trace)
  bool closed = false;
  std::vector<std::unique_ptr<Consumer>> consumers;
  const void *maskData = nullptr; // the generate's mask result
  /// Threads of the team that decodes (noteDecodeThreads).
  std::atomic<int> decodeThreads{0};

  uint64_t now() const { return trace ? trace->nowUs() : 0; }

  /// Scores batch rows `rs` (ascending) for consumer `k` in one call of
  /// scoreRows; `at` is when the earliest of them was published.
  void score(Consumer *k, const std::vector<int64_t> &rs, uint64_t at) {
    const hone_tensor &tok = k->in[0], &mk = k->in[1], &ids = k->in[2];
    int64_t B = tok.shape[0], T = tok.shape[1], rows = ids.shape[0];
    // A malformed call is reported by the score op itself (its checks run
    // before it takes these scores).
    if (rows <= 0 || B % rows != 0)
      return;
    std::vector<float> mask(rs.size() * size_t(T));
    std::vector<ScoreRow> sr;
    for (size_t i = 0; i < rs.size(); ++i) {
      int64_t row = rs[i];
      if (row < 0 || row >= B)
        return;
      for (int64_t t = 0; t < T; ++t)
        mask[i * size_t(T) + size_t(t)] = float(rd(mk, row * T + t));
      const int32_t *tp = static_cast<const int32_t *>(tok.data) + row * T;
      sr.push_back(scoreRowOf(j, k->c, tp, mask.data() + i * size_t(T), row,
                              B, T, ids));
    }
    std::vector<double> v;
    {
      std::lock_guard<std::mutex> g(j->scoreMu);
      // This worker's scratch, for this call only (the kernels object
      // ends with the stream; other ops set their own).
      std::vector<Kernels<float> *> saved;
      for (ModelObj *m : k->models) {
        saved.push_back(&m->model->kernels());
        m->model->setKernels(k->kernels.get());
      }
      ArenaScope placed(k->arena); // this thread's placements
      v = scoreRows(j, k->c, k->reward, sr, T);
      for (size_t i = 0; i < k->models.size(); ++i)
        k->models[i]->model->setKernels(saved[i]);
    }
    for (size_t i = 0; i < rs.size(); ++i)
      k->scores[size_t(rs[i])] = v[i];
    k->scored(at, now());
  }

  /// A hone.logprob consumer: the forward over batch rows `rs` (ascending,
  /// consecutive: one group) as the unstreamed op computes that group.
  void read(Consumer *k, const std::vector<int64_t> &rs, uint64_t at) {
    const hone_tensor &tok = k->in[0];
    int64_t B = tok.shape[0], T = tok.shape[1], n = int64_t(rs.size());
    if (rs.empty() || rs.front() < 0 || rs.back() >= B || !k->error.empty())
      return;
    std::vector<int32_t> len(static_cast<size_t>(n), static_cast<int32_t>(T));
    if (k->packed) // up to each row's last masked token, as maskedLengths
      for (int64_t i = 0; i < n; ++i) {
        int64_t m = T;
        while (m > 1 && rd(k->in[1], (rs[0] + i) * T + m - 1) == 0.0)
          --m;
        len[size_t(i)] = int32_t(m);
      }
    TokenBatch tb{n, T, static_cast<const int32_t *>(tok.data) + rs[0] * T,
                  len.data()};
    Transformer<float> &m = *k->models[0]->model;
    Expected<std::vector<float>> lp = std::vector<float>();
    {
      // One forward of the model at a time (another step's worker may be
      // reading where rollouts run ahead); not scoreMu: a reward model's
      // forward for a first finished row does not wait behind it.
      std::lock_guard<std::mutex> g(k->models[0]->streamMu);
      Kernels<float> *saved = &m.kernels();
      m.setKernels(k->kernels.get());
      lp = computeLogprobs(m, tb, 0, k->temperature, nullptr, k->packed);
      m.setKernels(saved);
    }
    if (!lp) {
      k->error = lp.status().message();
      return;
    }
    std::copy(lp->begin(), lp->end(),
              k->logprobs.begin() + size_t(rs[0] * T));
    k->scored(at, now());
  }

  /// An in-place consumer: scores the rows published so far that it has
  /// not. Only one thread at a time runs this for a consumer: the
  /// generating one while it publishes, the score op's after it closed.
  void catchUp(Consumer *k) {
    for (;;) {
      int64_t row;
      uint64_t at;
      {
        std::lock_guard<std::mutex> l(mu);
        if (k->next == ready.size())
          return;
        row = ready[k->next];
        at = readyUs[k->next];
        ++k->next;
      }
      score(k, {row}, at);
    }
  }

  /// A worker consumer's thread: scores rows as they are published until
  /// the stream is closed and every row is scored (a model's by groups,
  /// each when its last row is published).
  void run(Consumer *k) {
    // A model's forwards: half the cores while the batch decodes beside
    // them; once decoding has ended, the groups left take every core (the
    // op waiting for them has nothing else to do; results do not depend
    // on the thread count). A reference read, which nothing waits for
    // before the batch ends, computes while decoding only where cores are
    // idle (decoding's team and this worker's fit in the job's threads and
    // no other lane computes); otherwise its groups wait for the end of
    // decoding, where they run on every core as the unstreamed read would,
    // instead of slowing decoding down (bench/RESULTS.md).
    int threads = k->grouped ? k->threads : 0;
    if (threads)
      setCpuThreads(threads);
    size_t next = 0;
    const int64_t G = k->G, B = k->in[0].shape[0];
    std::vector<uint64_t> groupAt(k->groupLeft.size(), 0);
    std::vector<size_t> deferred;
    auto compute = [&](size_t g) {
      std::vector<int64_t> rs;
      for (int64_t r = int64_t(g) * G; r < std::min(B, int64_t(g + 1) * G);
           ++r)
        rs.push_back(r);
      if (k->logprob)
        read(k, rs, groupAt[g]);
      else
        score(k, rs, groupAt[g]);
    };
    auto allCores = [&] {
      if (threads && threads < k->allThreads)
        setCpuThreads(threads = k->allThreads);
      for (size_t g : deferred)
        compute(g);
      deferred.clear();
    };
    for (;;) {
      int64_t row;
      uint64_t at;
      bool decoded;
      {
        std::unique_lock<std::mutex> l(mu);
        cv.wait(l, [&] { return next < ready.size() || closed; });
        if (next == ready.size()) {
          l.unlock();
          allCores(); // closed: the groups that waited for the end
          return;     // every published row scored
        }
        row = ready[next];
        at = readyUs[next];
        decoded = closed;
        ++next;
      }
      if (decoded)
        allCores();
      if (!k->grouped) {
        score(k, {row}, at);
        continue;
      }
      size_t g = size_t(row / G);
      if (g >= k->groupLeft.size())
        continue; // the score op reports the bad shape
      if (!groupAt[g])
        groupAt[g] = at ? at : 1;
      if (--k->groupLeft[g] > 0)
        continue;
      if (k->logprob && !decoded &&
          (decodeThreads.load() + threads > k->allThreads ||
           j->lanesComputing.load() > 1)) {
        deferred.push_back(g);
        continue;
      }
      compute(g);
    }
  }

  void close() {
    {
      std::lock_guard<std::mutex> l(mu);
      closed = true;
    }
    cv.notify_all();
  }

  /// The worker thread's task for consumer `k`: run, then say so. The
  /// notification is sent under the lock, so the stream (and this
  /// condition variable) outlives it even when a waiter destroys the
  /// stream right after.
  void work(Consumer *k) {
    run(k);
    std::lock_guard<std::mutex> l(mu);
    k->finished = true;
    cv.notify_all();
  }

  /// Waits until consumer `k`'s worker has scored every row.
  void waitFor(Consumer *k) {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return !k->onWorker || k->finished; });
  }

  ~RowStream() {
    close();
    for (auto &k : consumers)
      waitFor(k.get());
  }
};

int64_t logprobRowGroup(const OpCtx &c) {
  const auto a = c.typed<abi::OpId::logprob>();
  int64_t g = a.row_group ? std::max<int64_t>(1, *a.row_group) : 0;
  if (a.micro_batch && *a.micro_batch >= 1)
    g = g ? std::min(g, *a.micro_batch) : *a.micro_batch;
  return g;
}

namespace {

/// Starts consumer `k`'s worker (unless it scores in place) and attaches
/// it to stream `s`.
void attach(OpCtx &c, const std::shared_ptr<RowStream> &s,
            std::unique_ptr<Consumer> k) {
  Consumer *raw = k.get();
  raw->onWorker = !raw->inPlace;
  {
    std::lock_guard<std::mutex> l(s->mu);
    s->consumers.push_back(std::move(k));
  }
  if (raw->onWorker)
    c.j->streamWorkers.run([s = s.get(), raw] { s->work(raw); });
  c.stream = s;
}

/// A copy of the call's arrays that the consumer keeps (generated code
/// reuses its stack); no results (the op writes them when it runs).
std::unique_ptr<Consumer> consumerOf(const OpCtx &c) {
  auto k = std::make_unique<Consumer>();
  k->c = c;
  k->objs.assign(c.objs, c.objs + c.nObjs);
  k->in.assign(c.in, c.in + c.nIn);
  k->c.objs = k->objs.data();
  k->c.in = k->in.data();
  k->c.nOut = 0;
  k->c.out = nullptr;
  return k;
}

/// A streamed hone.logprob: one token batch (and its packed mask), a
/// frozen model with an LM head, on the CPU; anything else runs
/// unstreamed (and the op reports what is wrong with it).
void openLogprob(OpCtx &c, const std::shared_ptr<RowStream> &s) {
  const auto a = c.typed<abi::OpId::logprob>();
  if (a.entropy || c.nObjs != 1 || c.nIn != (a.packed ? 2 : 1) ||
      c.in[0].rank != 2 || c.in[0].dtype != HONE_I32 ||
      c.j->args.device == "cuda")
    return;
  auto *o = static_cast<Object *>(c.objs[0]);
  if (!o || o->kind != ObjKind::Model)
    return;
  auto *m = static_cast<ModelObj *>(o);
  if (!m->model || m->model->config().head != HeadKind::LM)
    return;
  int64_t B = c.in[0].shape[0], T = c.in[0].shape[1];
  if (a.packed && (c.in[1].rank != 2 || c.in[1].shape[0] != B ||
                   c.in[1].shape[1] != T || c.in[1].data != s->maskData))
    return;
  auto k = consumerOf(c);
  k->logprob = true;
  k->grouped = true;
  k->packed = a.packed;
  k->temperature = a.temperature;
  k->models = {m};
  k->kernels = workerKernels(c.j);
  k->threads = std::max(1, cpuThreads() / 2);
    k->allThreads = std::max(1, c.j->cpuThreads);
  k->logprobs.assign(size_t(B * T), 0.0f);
  int64_t G = logprobRowGroup(c);
  k->G = G >= 1 ? G : B;
  k->groupLeft.assign(size_t((B + k->G - 1) / k->G), k->G);
  if (B % k->G)
    k->groupLeft.back() = B % k->G;
  attach(c, s, std::move(k));
}

} // namespace

void openStreams(OpCtx &c) {
  hone_job *j = c.j;
  bool isGenerate = c.row && c.row->id == abi::OpId::generate;
  bool isScore = c.row && c.row->id == abi::OpId::score;
  bool isLogprob = c.row && c.row->id == abi::OpId::logprob;
  // Reference reads are marked only under honec --stream-logprobs: on 2
  // cores the worker's reads cost more than they overlap (the README
  // example's read took 53 ms a step streamed against 25 ms unstreamed,
  // bench/RESULTS.md). Unstreamed, the read runs the same row groups, so
  // the results do not depend on it.
  if (isLogprob && c.typed<abi::OpId::logprob>().stream && c.nIn >= 1) {
    auto it = j->streams.find(c.in[0].data);
    if (it != j->streams.end())
      openLogprob(c, it->second);
    return;
  }
  if (isGenerate && c.typed<abi::OpId::generate>().stream_rows &&
      c.nOut > 0 && c.nIn == 3) {
    auto s = std::make_shared<RowStream>();
    s->j = j;
    s->trace = j->job->trace();
    s->maskData = c.nOut > 1 ? c.out[1].data : nullptr;
    j->streams[c.out[0].data] = s;
    c.stream = s;
    return;
  }
  if (isGenerate && c.nOut > 0) {
    // An unmarked generate reusing a marked one's tokens buffer: a score
    // on that buffer must not take the old stream.
    j->streams.erase(c.out[0].data);
    return;
  }
  if (!isScore || !c.typed<abi::OpId::score>().stream || c.nIn != 3 ||
      c.nObjs != 1 || c.in[0].rank != 2)
    return;
  auto it = j->streams.find(c.in[0].data);
  if (it == j->streams.end())
    return;
  auto *r = static_cast<Object *>(c.objs[0]);
  if (!r || r->kind != ObjKind::Reward)
    return;
  std::vector<ModelObj *> models;
  rewardModels(static_cast<RewardObj *>(r), models);
  if (!models.empty() && j->args.device == "cuda")
    return; // a worker's kernels object is the CPU's
  std::shared_ptr<RowStream> s = it->second;
  auto k = consumerOf(c);
  k->reward = static_cast<RewardObj *>(r);
  int64_t B = c.in[0].shape[0];
  k->scores.assign(size_t(B), 0.0);
  k->inPlace = models.empty() && !asksProcess(k->reward);
  if (!models.empty()) {
    // A forward per group beside decoding: half the cores each.
    k->grouped = true;
    k->models = models;
    k->kernels = workerKernels(c.j);
    k->threads = std::max(1, cpuThreads() / 2);
    k->allThreads = std::max(1, c.j->cpuThreads);
    int64_t G = k->G = modelScoreRows();
    k->arena = c.typed<abi::OpId::score>().arena;
    k->groupLeft.assign(size_t((B + G - 1) / G), G);
    if (B % G)
      k->groupLeft.back() = B % G;
  }
  attach(c, s, std::move(k));
}

void publishRow(RowStream &s, int64_t row) {
  uint64_t at = s.now();
  std::vector<Consumer *> inPlace;
  {
    std::lock_guard<std::mutex> l(s.mu);
    s.ready.push_back(row);
    s.readyUs.push_back(at);
    for (auto &k : s.consumers)
      if (k->inPlace)
        inPlace.push_back(k.get());
  }
  s.cv.notify_all();
  for (Consumer *k : inPlace)
    s.catchUp(k);
}

void closeStream(RowStream &s) { s.close(); }

void noteDecodeThreads(RowStream &s, int threads) {
  s.decodeThreads.store(threads);
}

namespace {
/// The call's consumer of its stream (attached at its submission).
Consumer *consumerFor(OpCtx &c) {
  RowStream &s = *c.stream;
  std::lock_guard<std::mutex> l(s.mu);
  for (auto &x : s.consumers)
    if (x->c.seq == c.seq)
      return x.get();
  return nullptr;
}
} // namespace

std::vector<float> streamedLogprobs(OpCtx &c, int64_t B, int64_t T) {
  RowStream &s = *c.stream;
  Consumer *k = consumerFor(c);
  if (!k || !k->logprob)
    c.err("streamed log-probs without their worker "
          "(runtime/ops/Streams.cpp)");
  // The producing generate ran before this op (on its lane, or held
  // inline before it), so the stream is closed and the worker ends after
  // the last group.
  s.waitFor(k);
  if (!k->error.empty())
    c.err(k->error);
  if (int64_t(k->logprobs.size()) != B * T)
    c.err("streamed log-probs: " + std::to_string(k->logprobs.size()) +
          " values, " + std::to_string(B * T) + " expected");
  for (int64_t left : k->groupLeft)
    if (left > 0)
      c.err("streamed log-probs: the generate did not publish every row");
  if (s.trace && k->any) {
    s.trace->record("stream", "logprob.first_group", k->firstReadyUs,
                    k->firstScoredUs);
    s.trace->record("stream", "logprob.rows", k->firstReadyUs,
                    k->lastScoredUs);
  }
  return std::move(k->logprobs);
}

std::vector<double> streamedScores(OpCtx &c, int64_t B) {
  RowStream &s = *c.stream;
  Consumer *k = consumerFor(c);
  if (!k)
    c.err("streamed score without its worker (runtime/ops/Streams.cpp)");
  // The producing generate ran before this op on its lane (or inline), so
  // the stream is closed and the worker ends after the last row; an
  // in-place consumer attached late scores what it has not.
  s.waitFor(k);
  // The worker ran the reward models on its own kernels object, which ends
  // with the stream: activations it allocated there (not placed: the worker
  // carries no placements) go now, while it lives, not at the stage's end
  // through a freed kernels object (a use after free that crashed
  // e2e.compiled.stream_scores_exact once the models' state left the heap).
  if (!k->models.empty()) {
    std::lock_guard<std::mutex> g(c.j->scoreMu);
    for (ModelObj *m : k->models)
      if (!m->model->activationsPlaced())
        m->model->releaseActivations();
  }
  if (k->inPlace)
    s.catchUp(k);
  if (int64_t(k->scores.size()) != B)
    c.err("streamed score: " + std::to_string(k->scores.size()) +
          " rows scored, " + std::to_string(B) + " expected");
  if (s.trace && k->any) {
    // Latency of streaming: the first finished row's wait for its score,
    // and the whole span over which rows were scored (docs/runtime.md).
    s.trace->record("stream", "score.first_row", k->firstReadyUs,
                    k->firstScoredUs);
    s.trace->record("stream", "score.rows", k->firstReadyUs, k->lastScoredUs);
  }
  return k->scores;
}

} // namespace hone::ops
