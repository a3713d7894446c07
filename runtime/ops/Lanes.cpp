// Lanes (hone_rt_event): an op runs on the lane its attributes name, with
// the lane's own kernels object, or inline after every lane drained.
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

// --- lanes -------------------------------------------------------------------

namespace {
/// Runs the held inline ops, if any, in order.
void runHeld(hone_job *j) {
  if (j->heldInline.empty())
    return;
  std::vector<std::function<void()>> fs = std::move(j->heldInline);
  j->heldInline.clear();
  j->heldStream = nullptr;
  for (auto &f : fs)
    f();
}

/// A copy of a call that outlives the generated code's stack (its arrays).
struct Call {
  OpCtx c;
  std::vector<void *> objs;
  std::vector<hone_tensor> in, out;
};
std::shared_ptr<Call> copyCall(OpCtx c) {
  auto call = std::make_shared<Call>();
  call->objs.assign(c.objs, c.objs + c.nObjs);
  call->in.assign(c.in, c.in + c.nIn);
  call->out.assign(c.out, c.out + c.nOut);
  call->c = std::move(c);
  call->c.objs = call->objs.data();
  call->c.in = call->in.data();
  call->c.out = call->out.data();
  return call;
}
} // namespace

/// Runs a held inline op, then waits until every lane is idle (the host's
/// view is then complete).
void drainLanes(hone_job *j, const char *loc) {
  runHeld(j);
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

namespace {

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

/// Bytes of an op's results (the trace's "bytes"). sync_weights has none:
/// its bytes are the policy's weights a rollout copy receives (its
/// parameters, or its LoRA adapters), whether this job copies them (a
/// pipelined stage's rollout weights) or not (generation reads the policy
/// in place): what a rollout device of its own would be sent each step
/// (bench/overlap/project.py).
int64_t outputBytes(const OpCtx &c) {
  if (c.op == "sync_weights") {
    auto *o = c.nObjs > 0 ? static_cast<Object *>(c.objs[0]) : nullptr;
    auto *m = o && o->kind == ObjKind::Model ? static_cast<ModelObj *>(o)
                                             : nullptr;
    return m && m->model ? m->model->numTrainable() * int64_t(sizeof(float))
                         : 0;
  }
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

} // namespace

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
    lane = laneByName(c.lane ? *c.lane : "host");
  // Streaming scores pair up here, on the host, in program order
  // (runtime/ops/Streams.cpp), with lanes or without: a score attaches to
  // the stream of the generate before the generate runs.
  openStreams(c);
  // Without lanes (or on the host lane) a generate that streams its rows
  // is held, with the calls right after it that consume its stream (its
  // scores, reference log-probs), until another call: every consumer has
  // then attached by the time the generate runs, and scores (or reads)
  // each row as it finishes (in place for verifiers, an external process
  // or a model's forward on the consumer's worker thread while decoding
  // goes on); the consumers' ops then run after it, in order. Anything
  // else runs after them: the next call, or drainLanes (every host-side
  // read drains first).
  bool isGenerate = c.row && c.row->id == abi::OpId::generate;
  bool joinsHeld = !lane && !isGenerate && c.stream &&
                   c.stream.get() == j->heldStream;
  if (!joinsHeld)
    runHeld(j);
  observe::TraceRecorder *tr = j->job->trace(); // --trace, else null
  int64_t bytes = tr ? outputBytes(c) : 0;
  if (!lane) {
    drainLanes(j, c.loc);
    auto inlineRun = [j, tr, bytes](OpCtx &x, void (*f)(OpCtx &)) {
      uint64_t t0 = tr ? tr->nowUs() : 0;
      if (x.stream && x.row && x.row->id == abi::OpId::generate)
        noteDecodeThreads(*x.stream, j->cpuThreads);
      f(x);
      j->memory.sample(); // the op's buffers, before a later op frees them
      if (tr)
        tr->record("host", x.op, t0, tr->nowUs(), bytes);
    };
    if (c.stream && (isGenerate || joinsHeld)) {
      if (isGenerate)
        j->heldStream = c.stream.get();
      auto h = copyCall(std::move(c));
      j->heldInline.push_back(
          [h, body, inlineRun] { inlineRun(h->c, body); });
      return;
    }
    inlineRun(c, body);
    return;
  }
  auto call = copyCall(std::move(c));
  Kernels<float> *k = j->laneKernels[int(*lane)].get();
  int threads = j->cpuThreads;
  const char *laneName = exec::laneName(*lane);
  std::vector<ModelObj *> ms;
  // A streamed score's reward model, or a streamed read's model, runs on
  // the stream's worker, with its own kernels (runtime/ops/Streams.cpp);
  // the op itself only waits.
  bool streamedConsumer = call->c.stream && call->c.row &&
                          call->c.row->id != abi::OpId::generate;
  if (!streamedConsumer)
    for (void *o : call->objs)
      modelsOf(static_cast<Object *>(o), ms);
  // A task that runs a model computes on the cores; one that waits (an
  // external reward, data, advantages) or copies weights does not.
  bool computes = j->splitLaneCores && !ms.empty() &&
                  call->c.op != "sync_weights";
  j->sched->enqueue(*lane, "hone." + call->c.op, [=] {
    uint64_t t0 = tr ? tr->nowUs() : 0;
    // Split the cores between the lanes that compute now (item 5): the
    // team size is chosen as the task starts and kept for the task.
    int n = threads;
    if (computes)
      n = std::max(1, threads / (j->lanesComputing.fetch_add(1) + 1));
    struct Done { // also when the body throws (the scheduler's error)
      hone_job *j;
      bool on;
      ~Done() {
        if (on)
          j->lanesComputing.fetch_sub(1);
      }
    } done{j, computes};
    thread_local int laneThreads = 0; // OpenMP settings are per thread
    if (laneThreads != n) {
      setCpuThreads(n);
      laneThreads = n;
    }
    for (ModelObj *m : ms)
      m->model->setKernels(k);
    if (call->c.stream && call->c.row &&
        call->c.row->id == abi::OpId::generate)
      noteDecodeThreads(*call->c.stream, n);
    body(call->c);
    if (tr)
      tr->record(laneName, call->c.op, t0, tr->nowUs(), bytes);
    return Status::ok();
  });
}

} // namespace hone::ops
