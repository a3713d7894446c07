// The C ABI's stage and step boundaries (hone_runtime.h, docs/abi.md):
// hone_rt_stage_begin (objects, checkpoints and resume), hone_rt_step_end
// (metrics, the ranks' agreement, checkpoints) and hone_rt_stage_end (the
// stage's measured model work, the memory it held, what it frees). The rest
// of the shim is runtime/abi/HoneRuntime.cpp.
#include "runtime/abi/AbiTable.h"
#include "runtime/abi/hone_runtime.h"
#include "runtime/ops/Ops.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

using namespace hone;
using namespace hone::job;
using namespace hone::ops;

extern "C" {

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
  const auto a = c.typed<abi::OpId::exec_stage_begin>();
  j->stageName = name ? name : "stage";
  j->stageSteps = steps;
  j->stageSkipped = j->skippedInARow = 0;
  // A stage without an optimizer trains nothing (its train steps carry
  // their own).
  j->stageOptimizer = a.optimizer ? *a.optimizer : json::Value::object();
  for (ModelObj *m : j->models)
    m->opt.reset();
  ArenaScope placed(a.arena); // the optimiser moments where planned
  // hone-plan-memory's offload (decision 5): these models' moments wait in
  // the host tier between updates, a file in the run directory on the CPU
  // (runtime/job/Offload.h), zeros from here; the train steps read them
  // back for their updates.
  std::set<int64_t> offloaded;
  if (a.offload_moments)
    for (int64_t i : *a.offload_moments) {
      if (i < 0 || i >= n_models)
        fail(j, loc,
             "hone.exec.stage_begin: offload_moments names model " +
                 std::to_string(i) + " of " + std::to_string(n_models));
      offloaded.insert(i);
    }
  if (!offloaded.empty() && j->job->kernels().device() != Device::CPU)
    fail(j, loc,
         "hone.exec.stage_begin: the memory plan offloads optimiser moments "
         "to host memory, which is not yet done on a " +
             std::string(j->job->kernels().name()) +
             " device; compile with hardware.device: cuda (the compiler then "
             "never offloads) or raise hardware.memory_budget");
  for (int i = 0; i < n_models; ++i) {
    auto *o = static_cast<Object *>(models[i]);
    if (!o || o->kind != ObjKind::Model)
      fail(j, loc, "hone.exec.stage_begin: object " + std::to_string(i) +
                       " is not a model");
    auto *m = static_cast<ModelObj *>(o);
    // The stage's optimizer (its train steps'); a stage without train
    // steps has none and trains nothing.
    if (!m->opt && a.optimizer) {
      const bool off = offloaded.count(i) > 0;
      m->opt = std::make_unique<AdamW<float>>(
          *m->model, optimizerConfig(j, loc, j->stageOptimizer, steps), !off);
      if (off) {
        // One file per rank (ranks may share a run directory).
        std::string file_name = m->name;
        if (j->comm.size > 1)
          file_name += ".rank" + std::to_string(j->comm.rank);
        auto file =
            OffloadFile::create(j->job->runDir() + "/offload", file_name,
                                2 * m->opt->momentBytes(), j->arena);
        if (!file)
          fail(j, loc, file.status().toString());
        m->offload = *file;
        m->opt->setStore(m->offload);
      }
    }
  }
  // The plan's placed buffers of this stage (runtime/job/JobArena.h):
  // resident from here on, so the arena holds the plan's bytes and their
  // page faults come now, not inside the first step's ops.
  if (j->arena->active()) {
    auto t0 = std::chrono::steady_clock::now();
    for (auto [offset, bytes] : j->memory.placedInStage(j->stageName))
      j->arena->populate(offset, bytes);
    j->arenaPopulateSeconds += std::chrono::duration<double>(
                                   std::chrono::steady_clock::now() - t0)
                                   .count();
    j->memory.sample();
  }
  auto first = j->job->beginStage(j->stageName, steps, stageObjects(j));
  if (!first)
    fail(j, loc, first.status().toString());
  // A pipelined RL stage (hone-pipeline-rollouts) holds rollouts generated
  // ahead in flight, which checkpoints do not keep yet: it resumes from
  // its start or not at all. Done before the checkpoint: its prologue and
  // epilogue ops are skipped.
  int64_t staleness = a.staleness ? *a.staleness : 0;
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
  j->job->setStageModels(a.models);
  // Every model's work so far (the stage's measured work is what it adds;
  // frozen references included, by their source's spec name).
  j->workAtStart.clear();
  for (ModelObj *m : j->models)
    j->workAtStart[m] = {m->model->workDone(), m->generatedTokens};
  j->stepEndsAtStart = j->stepEnds;
  j->stageModelNames.clear();
  for (int i = 0; i < n_models && size_t(i) < a.models.size(); ++i)
    j->stageModelNames[static_cast<ModelObj *>(models[i])] = a.models[size_t(i)];
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
  // hone-plan-memory's release_at_step_end: this stage's models free their
  // activations, KV caches and decode workspaces now (every lane is
  // drained) and allocate them again next step, as the plan assumes.
  if (j->memory.releasesAtStepEnd(j->stageName)) {
    j->memory.sample();
    for (ModelObj *m : j->models)
      m->model->releaseWorkspaces();
  }
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
    removeAllOffloadFiles();
    j->comm.finalize();
    std::fflush(nullptr);
    std::_Exit(0);
  }
  j->stepMetrics.clear();
  j->stepTokens = 0;
  j->stepStart = std::chrono::steady_clock::now();
}

namespace {
/// The name the report gives `m`'s measured work in the open stage: the
/// stage's name for a model of its lineage (snapshots and LoRA views of one
/// model, linked by ModelObj::source; a frozen reference is counted with
/// the model it was taken from, as honec --report counts it), else its
/// spec name.
std::string measuredName(const hone_job *j, const ModelObj *m) {
  auto root = [](const ModelObj *x) {
    while (x->source)
      x = x->source;
    return x;
  };
  if (auto it = j->stageModelNames.find(m); it != j->stageModelNames.end())
    return it->second;
  for (const auto &[o, name] : j->stageModelNames)
    if (root(o) == root(m))
      return name;
  return m->specName.empty() ? m->name : m->specName;
}
} // namespace

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
          (d->untrainedPairs ? "; a pair counts when either side has none"
                             : "") +
          "); they add nothing to the loss (raise max_seq_len or max_length, "
          "or shorten the prompts)");
    d->rowsRead = d->rowsUntrained = 0;
  }
  // The stage's measured model work per step run, per spec name (a
  // model and its frozen snapshots together, as the compiler counts them;
  // a model created in the stage from nothing). None: a resumed stage
  // that had finished, or 0 steps.
  if (int64_t ran = j->stepEnds - j->stepEndsAtStart; ran > 0) {
    // Per model (in j->models' order, the same on every rank): forwards,
    // backwards, rows, generated tokens, GFLOP, and whether it ran at all;
    // summed over the ranks (each runs its own rows: the job's work is
    // theirs together), so that every rank holds the totals.
    constexpr size_t kVals = 6;
    std::vector<double> vals(j->models.size() * kVals, 0.0);
    for (size_t i = 0; i < j->models.size(); ++i) {
      ModelObj *m = j->models[i];
      const Transformer<float> &t = *m->model;
      Transformer<float>::WorkDone d = t.workDone(), s;
      double gen0 = 0;
      if (auto it = j->workAtStart.find(m); it != j->workAtStart.end())
        s = it->second.done, gen0 = it->second.generatedTokens;
      d.forwards -= s.forwards;
      d.backwards -= s.backwards;
      d.rows -= s.rows;
      d.squares -= s.squares;
      d.backwardRows -= s.backwardRows;
      d.backwardSquares -= s.backwardSquares;
      d.recomputedRows -= s.recomputedRows;
      d.recomputedSquares -= s.recomputedSquares;
      d.cachedRows -= s.cachedRows;
      d.cachedAttended -= s.cachedAttended;
      double *v = vals.data() + i * kVals;
      v[0] = double(d.forwards);
      v[1] = double(d.backwards);
      v[2] = d.rows;
      v[3] = m->generatedTokens - gen0;
      v[4] = t.flopsOf(d) * 1e-9;
      v[5] = d.forwards == 0 && d.backwards == 0 && d.cachedRows == 0 ? 0 : 1;
    }
    if (j->comm.size > 1)
      j->comm.sum(vals.data(), vals.size());
    std::vector<observe::ModelWorkRow> rows;
    for (size_t i = 0; i < j->models.size(); ++i) {
      const double *v = vals.data() + i * kVals;
      if (v[5] == 0)
        continue;
      const std::string name = measuredName(j, j->models[i]);
      auto it = std::find_if(rows.begin(), rows.end(),
                             [&](const auto &r) { return r.model == name; });
      if (it == rows.end()) {
        it = rows.insert(rows.end(), observe::ModelWorkRow{});
        it->stage = j->stageName;
        it->model = name;
        it->measured = true;
        it->estimated = false;
        it->ranks = j->comm.size;
      }
      const double n = double(ran);
      it->runForwards += v[0] / n;
      it->runBackwards += v[1] / n;
      it->runRows += v[2] / n;
      it->runGenerated += v[3] / n;
      it->runGflop += v[4] / n;
    }
    for (auto &r : rows)
      j->measuredWork.push_back(std::move(r));
  }
  j->workAtStart.clear();
  j->job->endStage();
  j->inStage = false;
  j->skipStage = j->skipPrologue = false;
  j->deferred.clear();
  j->inFlight.clear();
  // The plan frees each model's per-stage buffers here: check them against
  // it, then free them (the next stage sizes its own).
  j->memory.sample();
  for (ModelObj *m : j->models) {
    Transformer<float> &t = *m->model;
    if (!t.hasLora()) // a LoRA model's base is its base model's
      j->memory.noteHeld(m->name, "weights", t.weightBytesHeld());
    j->memory.noteHeld(m->name, "gradients", t.gradientBytesHeld());
    j->memory.noteHeld(m->name, "activations", t.activationBytesHeld());
    j->memory.noteHeld(m->name, "kv_cache", t.kvCacheBytesHeld());
    j->memory.noteHeld(m->name, "workspace", t.decodeWorkspaceBytesHeld());
    t.releaseWorkspaces();
    t.releaseGradients(); // planned per stage, like the moments
    m->opt.reset();
    if (m->offload) { // the file goes with the stage's moments
      j->offloadRead += m->offload->bytesRead();
      j->offloadWritten += m->offload->bytesWritten();
      j->offloadMode =
          j->offloadMode.empty() || j->offloadMode == m->offload->mode()
              ? m->offload->mode()
              : "mixed";
      m->offload.reset();
    }
  }
  // What this stage touched in the arena and no buffer holds now goes
  // back: the next stage's buffers fault their pages in again.
  j->arena->dropFree();
  // Fault injection for tests: an allocation outside the plan, touched.
  if (const char *inj = std::getenv("HONE_INJECT_UNPLANNED_BYTES")) {
    j->injected.assign(size_t(std::max<long long>(0, std::atoll(inj))), 1);
    j->memory.noteHeld("injected", "workspace", int64_t(j->injected.size()));
  }
}

} // extern "C"
