// The stage's state and its periodic ops: replay buffers (push, pop), the
// mixing schedule, saves, evaluations, weight syncs and the pipelined
// stage's rollouts in flight; what a checkpoint keeps beyond models,
// optimizers and data cursors.
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

namespace {

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
  // The open stage's reference tables (hone.reference_table).
  json::Value tables = json::Value::array();
  for (const auto &t : j->referenceTables)
    if (t.stage == j->job->stagesBegun() - 1)
      tables.push(json::Value(toHex(t.data, t.bytes)));
  if (j->inFlight.empty() && tables.size() == 0)
    return a;
  json::Value o = json::Value::object();
  o.set("buffers", std::move(a));
  if (tables.size() > 0)
    o.set("reference_tables", std::move(tables));
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
    json::Value none = json::Value::array();
    if (!r && !d && saved.find("reference_tables"))
      r = d = &none; // reference tables without rollouts in flight
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
  // The reference tables of the stage resumed in, computed by no op of
  // this process (runtime/ops/ReadOps.cpp opReferenceTable).
  std::vector<hone_job::ReferenceTable *> pending;
  for (auto &t : j->referenceTables)
    if (t.pending)
      pending.push_back(&t);
  const json::Value *tables =
      saved.isObject() ? saved.find("reference_tables") : nullptr;
  size_t have = tables && tables->isArray() ? tables->size() : 0;
  if (have != pending.size())
    return Status::error("error: checkpoint: " + std::to_string(have) +
                         " reference tables, the program's stage has " +
                         std::to_string(pending.size()) +
                         " (hint: resume with the binary that wrote it)");
  for (size_t i = 0; i < pending.size(); ++i) {
    std::string bytes;
    const json::Value &x = tables->items()[i];
    if (!x.isString() || !fromHex(x.asString(), bytes) ||
        bytes.size() != pending[i]->bytes)
      return Status::error("error: checkpoint: malformed reference table");
    std::memcpy(pending[i]->data, bytes.data(), bytes.size());
    pending[i]->pending = false;
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

} // namespace

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

namespace {

bool skipOutsideStage(hone_job *j) {
  // An op between stages already ran when a later stage has a checkpoint.
  return !j->inStage && j->job->resumeStage() >= j->job->stagesBegun();
}

} // namespace

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
  const auto a = c.typed<abi::OpId::schedule>();
  const std::string &kind = a.kind;
  double start = a.start, end = a.end;
  int64_t warm = a.warmup, total = a.total;
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
  std::string path = c.typed<abi::OpId::save>().path;
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
  const auto a = c.typed<abi::OpId::eval_step>();
  ArenaScope placed(a.arena); // the KV cache and workspace where planned
  const std::string &name = a.name;
  // The evaluation's settings (#hone.eval_settings): every one present.
  auto es = settingsOf<abi::SettingsId::eval_settings>(j, c.loc, a.settings);
  auto gs = settingsOf<abi::SettingsId::generation>(j, c.loc, es.generation);
  // The dataset's evaluation split when it has one, else its records.
  const DataLoader &dl = d->evalData ? *d->evalData : *d->data;
  // max_records: at most that many prompts; 0 all of them.
  int64_t limit = es.max_records;
  size_t n = limit > 0 ? std::min<size_t>(dl.size(), size_t(limit)) : dl.size();
  observe::MetricValues mv;
  std::string line = name + ":";
  if (r && m->model->config().head == HeadKind::LM && n > 0) {
    double sum = 0, correct = 0;
    const int64_t bs = 16;
    int64_t maxNew = gs.max_new_tokens;
    for (size_t i0 = 0; i0 < n; i0 += bs) {
      std::vector<size_t> idx;
      for (size_t i = i0; i < std::min(n, i0 + size_t(bs)); ++i)
        idx.push_back(i);
      auto pb = makePromptBatch(j->fmt, dl, idx, 1);
      if (!pb)
        c.err(pb.status().message());
      SamplingConfig sc;
      double temp = gs.temperature;
      sc.topK = gs.top_k;
      sc.topP = gs.top_p;
      sc.greedy = temp <= 0;
      sc.temperature = temp > 0 ? temp : 1.0;
      sc.maxNewTokens = maxNew;
      sc.seed = j->seed;
      if (j->fmt.eosToken >= 0)
        sc.stopTokens = {j->fmt.eosToken};
      setStopStrings(j, sc, gs.stop);
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
  float *w = nullptr; // the refreshed snapshot's values
  size_t n = 0;
  if (src.hasLora()) {
    if (src.numTrainable() != dst.numTrainable())
      c.err("sync_weights: the LoRA adapters differ in size");
    src.kernels().copy(dst.loraData(), src.loraData(), src.numTrainable());
    w = dst.loraData();
    n = size_t(dst.numTrainable());
  } else {
    check(c.j, c.loc, copyWeights(src, dst));
    w = dst.paramData();
    n = size_t(dst.numParams());
  }
  // On several ranks (mpirun, the CPU) the rollout weights are rank 0's:
  // a broadcast, so every rank generates from the same snapshot (data-
  // parallel ranks hold the same policy bits already; this keeps them so
  // when they would not, and is where separate rollout ranks will receive
  // their weights). HONE_INJECT_SNAPSHOT_RANK=R perturbs rank R's copy
  // first (tests: the broadcast must undo it).
  hone_job *j = c.j;
  if (j->comm.size > 1 && w && n > 0) {
    if (const char *r = std::getenv("HONE_INJECT_SNAPSHOT_RANK");
        r && std::atoi(r) == j->comm.rank)
      w[0] += 1e-3f;
    j->comm.broadcast(w, n);
  }
}

namespace {

size_t tensorBytes(const hone_tensor &t) {
  static const size_t kDtypeBytes[] = {4, 8, 4, 8, 1}; // enum hone_dtype
  size_t n = t.dtype >= 0 && t.dtype < 5 ? kDtypeBytes[t.dtype] : 0;
  for (int d = 0; d < t.rank && d < 2; ++d)
    n *= size_t(std::max<int64_t>(t.shape[d], 0));
  return n;
}

} // namespace


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

} // namespace hone::ops
