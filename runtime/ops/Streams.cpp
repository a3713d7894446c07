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
  std::vector<int64_t> groupLeft; // rows of each group not yet published
  std::unique_ptr<Kernels<float>> kernels;
  std::vector<ModelObj *> models;
  int threads = 1;
  /// The score op's `arena` placements (hone-plan-memory): the reward
  /// models' activations go where the plan put them, on this worker's
  /// thread as on the op's.
  std::optional<std::vector<int64_t>> arena;
  std::thread worker;
  // Trace clock (µs): when the first published row was published and
  // scored, and when the last row was scored.
  uint64_t firstReadyUs = 0, firstScoredUs = 0, lastScoredUs = 0;
  bool any = false;
};

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
    uint64_t done = now();
    if (!k->any) {
      k->any = true;
      k->firstReadyUs = at;
      k->firstScoredUs = done;
    }
    k->lastScoredUs = done;
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
  /// the stream is closed and every row is scored (a reward model's by
  /// groups, each when its last row is published).
  void run(Consumer *k) {
    if (k->grouped) // a reward model's forwards: half the cores
      setCpuThreads(k->threads);
    size_t next = 0;
    int64_t G = modelScoreRows();
    std::vector<uint64_t> groupAt(k->groupLeft.size(), 0);
    for (;;) {
      int64_t row;
      uint64_t at;
      {
        std::unique_lock<std::mutex> l(mu);
        cv.wait(l, [&] { return next < ready.size() || closed; });
        if (next == ready.size())
          return; // closed, every published row scored
        row = ready[next];
        at = readyUs[next];
        ++next;
      }
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
      std::vector<int64_t> rs;
      int64_t B = int64_t(k->scores.size());
      for (int64_t r = int64_t(g) * G; r < std::min(B, int64_t(g + 1) * G);
           ++r)
        rs.push_back(r);
      score(k, rs, groupAt[g]);
    }
  }

  void close() {
    {
      std::lock_guard<std::mutex> l(mu);
      closed = true;
    }
    cv.notify_all();
  }

  ~RowStream() {
    close();
    for (auto &k : consumers)
      if (k->worker.joinable())
        k->worker.join();
  }
};

void openStreams(OpCtx &c) {
  hone_job *j = c.j;
  bool isGenerate = c.row && c.row->id == abi::OpId::generate;
  bool isScore = c.row && c.row->id == abi::OpId::score;
  if (isGenerate && c.typed<abi::OpId::generate>().stream_rows &&
      c.nOut > 0 && c.nIn == 3) {
    auto s = std::make_shared<RowStream>();
    s->j = j;
    s->trace = j->job->trace();
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
  auto k = std::make_unique<Consumer>();
  k->c = c;
  k->objs.assign(c.objs, c.objs + c.nObjs);
  k->in.assign(c.in, c.in + c.nIn);
  k->c.objs = k->objs.data();
  k->c.in = k->in.data();
  k->c.nOut = 0;
  k->c.out = nullptr;
  k->reward = static_cast<RewardObj *>(r);
  int64_t B = c.in[0].shape[0];
  k->scores.assign(size_t(B), 0.0);
  k->inPlace = models.empty() && !asksProcess(k->reward);
  if (!models.empty()) {
    // A forward per group beside decoding: half the cores each.
    k->grouped = true;
    k->models = models;
    k->kernels = makeKernels("cpu").take();
    k->threads = std::max(1, cpuThreads() / 2);
    int64_t G = modelScoreRows();
    k->arena = c.typed<abi::OpId::score>().arena;
    k->groupLeft.assign(size_t((B + G - 1) / G), G);
    if (B % G)
      k->groupLeft.back() = B % G;
  }
  Consumer *raw = k.get();
  if (!raw->inPlace)
    raw->worker = std::thread([s = s.get(), raw] { s->run(raw); });
  {
    std::lock_guard<std::mutex> l(s->mu);
    s->consumers.push_back(std::move(k));
  }
  c.stream = s;
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

std::vector<double> streamedScores(OpCtx &c, int64_t B) {
  RowStream &s = *c.stream;
  Consumer *k = nullptr;
  {
    std::lock_guard<std::mutex> l(s.mu);
    for (auto &x : s.consumers)
      if (x->c.seq == c.seq)
        k = x.get();
  }
  if (!k)
    c.err("streamed score without its worker (runtime/ops/Streams.cpp)");
  // The producing generate ran before this op on its lane (or inline), so
  // the stream is closed and the worker ends after the last row; an
  // in-place consumer attached late scores what it has not.
  if (k->worker.joinable())
    k->worker.join();
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
