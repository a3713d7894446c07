// Object ops (hone_rt_object): models (init, load, a new head, LoRA, a
// snapshot), datasets, buffers and rewards.
#include "runtime/ops/Ops.h"

#include "runtime/checkpoint/Sha256.h"
#include "runtime/data/HeldBytes.h"

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

// --- model configuration ------------------------------------------------------

ModelConfig archConfig(hone_job *j, const char *loc, const json::Value *arch,
                       const std::string &head) {
  // #hone.arch (dialect/HoneAttrs.td) with every field: none is defaulted
  // here (passes/AttrToJson.cpp writes them all).
  auto s = settingsOf<abi::SettingsId::arch>(j, loc, arch);
  ModelConfig c;
  if (std::optional<ModelFamily> f = familyFromKeyword(s.family))
    c.family = *f;
  else
    fail(j, loc, "unknown model family '" + s.family + "' (gpt2, llama)");
  c.vocabSize = s.vocab;
  c.dModel = s.d_model;
  c.nLayers = s.layers;
  c.nHeads = s.heads;
  c.nKvHeads = s.kv_heads;
  c.dFf = s.ffn;
  c.maxSeqLen = s.max_seq;
  c.normEps = s.norm_eps;
  c.ropeTheta = s.rope_theta;
  if (!(c.normEps > 0) || !(c.ropeTheta > 0))
    fail(j, loc, "arch: norm_eps and rope_theta must be positive");
  c.tieEmbeddings = s.tied;
  c.qkvBias = s.qkv_bias;
  c.headDimension = s.head_dim;
  c.qkNorm = s.qk_norm;
  if (std::optional<RopeScaling> r =
          enumFromKeyword(kRopeScalings, s.rope_scaling))
    c.ropeScaling = *r;
  else
    fail(j, loc,
         "unknown rope_scaling '" + s.rope_scaling + "' (linear, llama3)");
  c.ropeFactor = s.rope_factor;
  c.ropeLowFreqFactor = s.rope_low_freq;
  c.ropeHighFreqFactor = s.rope_high_freq;
  c.ropeOriginalMaxPos = s.rope_original_max;
  if (c.family == ModelFamily::GPT2)
    c.nKvHeads = c.nHeads;
  if (std::optional<HeadKind> h = enumFromKeyword(kHeadKinds, head))
    c.head = *h;
  else
    fail(j, loc, "unknown head '" + head + "' (lm, scalar)");
  check(j, loc, validateModelConfig(c));
  return c;
}

/// The placer of the model newModel() is about to register, for the
/// memory plan's id `planId` (`plan_model`): its weights, gradients,
/// moments, activations, KV cache and decode workspace go where the plan
/// puts them. Null without a plan id.
std::shared_ptr<WorkPlacer> placerFor(hone_job *j,
                                      std::optional<int64_t> planId) {
  if (!planId)
    return nullptr;
  return std::make_shared<ModelPlacer>(j->arena, *planId,
                                       "m" + std::to_string(j->models.size()));
}

/// planId: the memory plan's id of the model (`plan_model`), as for
/// placerFor (a model created with that placer keeps it).
ModelObj *newModel(hone_job *j, std::unique_ptr<Transformer<float>> m,
                   std::optional<int64_t> planId, std::string specName) {
  auto o = std::make_unique<ModelObj>();
  o->model = std::move(m);
  o->specName = std::move(specName);
  o->name = "m" + std::to_string(j->models.size());
  if (planId && !o->model->placer())
    o->model->setPlacer(
        std::make_shared<ModelPlacer>(j->arena, *planId, o->name));
  ModelObj *p = o.get();
  j->models.push_back(p);
  j->objects.push_back(std::move(o));
  return p;
}

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

} // namespace

namespace {

/// The discardable "storage" attribute hone-schedule-stages sets on a model
/// that is never trained: "bf16" keeps it in bf16 (Transformer::
/// createFrozenBf16; docs/runtime.md, "Frozen models in bf16").
bool frozenBf16Storage(const OpCtx &c,
                       const std::optional<std::string> &storage) {
  if (!storage)
    return false;
  const std::string &s = *storage;
  if (s != "bf16" && s != "fp32")
    c.err("storage '" + s + "' is neither bf16 nor fp32");
  // The CUDA backend runs bf16 weights only through a widened copy per call
  // (Kernels.h's defaults): not used there yet.
  return s == "bf16" && c.j->args.device != "cuda";
}

} // namespace

/// A model initialised that no stage trains (a LoRA base, or a model only
/// read) is created in bf16 under "storage" = "bf16": the same random fp32
/// values rounded to bf16 (Transformer::initRandom on a frozen bf16 model).
void objModelInit(OpCtx &c) {
  hone_job *j = c.j;
  wantObjs(c, 0, 0);
  const auto a = c.typed<abi::OpId::model_init>();
  ArenaScope placed(a.arena); // the weights where planned
  ModelConfig cfg = archConfig(j, c.loc, a.arch, a.head);
  auto m = take(j, c.loc,
                frozenBf16Storage(c, a.storage)
                    ? Transformer<float>::createFrozenBf16(
                          cfg, &j->job->kernels(), placerFor(j, a.plan_model))
                    : Transformer<float>::create(cfg, &j->job->kernels(),
                                                 placerFor(j, a.plan_model)));
  m->initRandom(uint64_t(a.seed));
  c.made = newModel(j, std::move(m), a.plan_model, a.name);
}

void objModelLoad(OpCtx &c) {
  hone_job *j = c.j;
  wantObjs(c, 0, 0);
  const auto a = c.typed<abi::OpId::model_load>();
  ArenaScope placed(a.arena); // the weights where planned
  const std::string &path = a.path;
  if (path.empty())
    c.err("no path");
  auto m = take(j, c.loc,
                loadHfModel(path, &j->job->kernels(),
                            frozenBf16Storage(c, a.storage),
                            placerFor(j, a.plan_model)));
  ModelConfig want = archConfig(j, c.loc, a.arch, a.head);
  const ModelConfig &got = m->config();
  if (want.vocabSize != got.vocabSize || want.dModel != got.dModel ||
      want.nLayers != got.nLayers || want.nHeads != got.nHeads ||
        want.headDim() != got.headDim() || want.qkNorm != got.qkNorm ||
        want.ropeScaling != got.ropeScaling)
    c.err(path + ": the model's config.json differs from the compiled arch");
  c.made = newModel(j, std::move(m), a.plan_model, a.name);
}

void objModelNewHead(OpCtx &c) {
  hone_job *j = c.j;
  wantObjs(c, 1, 1);
  ModelObj *base = modelArg(c, 0);
  const auto a = c.typed<abi::OpId::model_new_head>();
  ArenaScope placed(a.arena); // the weights where planned
  ModelConfig cfg = archConfig(j, c.loc, a.arch, a.head);
  auto m = take(j, c.loc,
                Transformer<float>::create(cfg, &j->job->kernels(),
                                           placerFor(j, a.plan_model)));
  m->initRandom(uint64_t(a.seed));
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
  c.made = newModel(j, std::move(m), a.plan_model, a.name);
}

/// hone.model.lora: a model reading base's weights (no copy) with fresh
/// adapters; only they train, so base stays the frozen reference.
void objModelLora(OpCtx &c) {
  hone_job *j = c.j;
  wantObjs(c, 1, 1);
  ModelObj *base = modelArg(c, 0);
  const auto a = c.typed<abi::OpId::model_lora>();
  auto s = settingsOf<abi::SettingsId::lora>(j, c.loc, a.lora);
  LoraConfig lc;
  lc.rank = s.rank;
  lc.alpha = s.alpha;
  lc.dropout = s.dropout; // in training forwards only (trainForward)
  lc.targets = s.target_modules;
  if (base->model->hasLora())
    c.err("the base model already carries adapters");
  ArenaScope placed(a.arena); // the adapters where planned
  auto m = take(j, c.loc, base->model->baseView());
  m->setPlacer(placerFor(j, a.plan_model));
  check(j, c.loc, m->addLora(lc, uint64_t(a.seed)));
  ModelObj *o = newModel(j, std::move(m), a.plan_model, a.name);
  o->source = base;
  o->mergeOnSave = s.merge_on_save;
  c.made = o;
}

void objSnapshot(OpCtx &c) {
  hone_job *j = c.j;
  wantObjs(c, 1, 1);
  ModelObj *base = modelArg(c, 0);
  const auto a = c.typed<abi::OpId::exec_snapshot>();
  ArenaScope placed(a.arena); // the weights (adapters) where planned
  if (base->model->hasLora()) {
    // The base never changes: share it, copy the adapters only.
    const Transformer<float> &src = *base->model;
    auto m = take(j, c.loc, src.baseView());
    m->setPlacer(placerFor(j, a.plan_model));
    check(j, c.loc, m->addLora(src.lora(), 0));
    src.kernels().copy(m->loraData(), src.loraData(), src.numTrainable());
    ModelObj *o = newModel(j, std::move(m), a.plan_model, base->specName);
    o->source = base;
    o->mergeOnSave = base->mergeOnSave;
    c.made = o;
    return;
  }
  auto m = take(j, c.loc,
                frozenBf16Storage(c, a.storage)
                    ? Transformer<float>::createFrozenBf16(
                          base->model->config(), &j->job->kernels(),
                          placerFor(j, a.plan_model))
                    : Transformer<float>::create(base->model->config(),
                                                 &j->job->kernels(),
                                                 placerFor(j, a.plan_model)));
  check(j, c.loc, copyWeights(*base->model, *m));
  ModelObj *o = newModel(j, std::move(m), a.plan_model, base->specName);
  o->source = base;
  c.made = o;
}

void objDataset(OpCtx &c) {
  hone_job *j = c.j;
  wantObjs(c, 0, 0);
  const auto a = c.typed<abi::OpId::dataset>();
  const std::string &path = a.path;
  if (path.empty())
    c.err("no path");
  // #hone.dataset_settings (dialect/HoneSettings.td): every column name,
  // the shuffle, its seed, the record cap and the held-out fraction.
  auto s = settingsOf<abi::SettingsId::dataset_settings>(j, c.loc, a.settings);
  auto cols = settingsOf<abi::SettingsId::columns>(j, c.loc, s.columns);
  bool shuffle = s.shuffle;
  std::map<std::string, std::string> columns{
      {"text", cols.text},         {"messages", cols.messages},
      {"role", cols.role},         {"content", cols.content},
      {"prompt", cols.prompt},     {"completion", cols.completion},
      {"chosen", cols.chosen},     {"rejected", cols.rejected},
      {"label", cols.label},       {"answer", cols.answer}};
  std::map<std::string, std::string> roles;
  for (const auto &[from, to] : cols.role_names->members()) {
    if (!to.isString())
      c.err("dataset columns: role_names." + from + " is not a string");
    roles[from] = to.asString();
  }
  // honec read the files when it compiled the job and took its steps,
  // sequence lengths and memory plan from their contents: a file changed
  // since would run under those (rows cut at a length from the old data).
  auto unchanged = [&](const std::string &file,
                       const std::optional<std::string> &compiled) {
    if (!compiled)
      return; // compiled without reading the files (--no-file-checks)
    auto now = checkpoint::digestFile(file);
    if (!now)
      c.err(now.status().message());
    if (now->sha256 != *compiled)
      c.err(file +
            ": the dataset changed since honec compiled this job "
            "(SHA-256 " +
            compiled->substr(0, 12) + "... then, " + now->sha256.substr(0, 12) +
            "... now); its steps, sequence lengths and memory plan came "
            "from the old contents (hint: compile the spec again with "
            "honec, or restore the file)");
  };
  unchanged(path, a.sha256);
  if (a.eval_path)
    unchanged(*a.eval_path, a.eval_sha256);
  auto options = datasetOptionsFromSpec(a.layout, columns, roles);
  if (!options)
    c.err(options.status().message());
  auto dl = DataLoader::open(path, *options, uint64_t(s.shuffle_seed),
                             shuffle);
  if (!dl)
    c.err(dl.status().message());
  auto o = std::make_unique<DatasetObj>();
  o->data = std::make_unique<DataLoader>(dl.take());
  if (int64_t cap = s.max_records; cap > 0)
    o->data->keepFirst(size_t(cap));
  if (a.eval_path) {
    const std::string &ev = *a.eval_path;
    auto e = DataLoader::open(ev, *options, 0, false);
    if (!e)
      c.err(e.status().message());
    o->evalData = std::make_unique<DataLoader>(e.take());
  } else if (double frac = s.eval_fraction; frac > 0) {
    size_t all = o->data->size();
    size_t held = size_t(std::floor(double(all) * frac));
    if (held == 0 || held == all)
      c.err(path + ": eval_fraction " + std::to_string(frac) + " of " +
            std::to_string(all) + " records leaves " +
            (held == 0 ? "no evaluation record" : "no training record") +
            " (hint: change eval_fraction, or give eval_path)");
    o->evalData = std::make_unique<DataLoader>(o->data->splitTail(held));
  }
  // What the loaders hold (runtime/data/HeldBytes.h), against the plan's
  // rows: the compiler counted the files with the same code (a dataset
  // row of kind runtime, dataset.NAME).
  int64_t held = 0;
  for (const DataLoader *d : {o->data.get(), o->evalData.get()})
    if (d) {
      held += loaderArrayBytes(int64_t(d->size()));
      for (size_t i = 0; i < d->size(); ++i)
        held += heapBytes(d->example(i)) + heapBytes(d->record(i));
    }
  j->memory.noteHeld("dataset " + path, "runtime", held);
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
  o->capacity = c.typed<abi::OpId::buffer_init>().capacity;
  BufferObj *p = o.get();
  c.j->buffers.push_back(p);
  c.j->objects.push_back(std::move(o));
  c.made = p;
}

namespace {

void keepReward(OpCtx &c, std::unique_ptr<RewardObj> o) {
  c.made = o.get();
  c.j->objects.push_back(std::move(o));
}

} // namespace

void objRewardVerifier(OpCtx &c) {
  wantObjs(c, 0, 0);
  auto o = std::make_unique<RewardObj>();
  const auto a = c.typed<abi::OpId::reward_verifier>();
  const std::string &vk = a.kind;
  // The spec message's other fields, typed per kind in the dialect
  // (#hone.exact_match, #hone.numeric_match, #hone.pattern_reward,
  // #hone.length_shaping); every one present, none defaulted here.
  // An attribute the kind needs and the op lacks is an error naming it.
  auto need = [&](const auto &v, const char *name) -> const auto & {
    if (!v)
      c.err("a " + vk + " verifier needs attribute '" + name + "'");
    return *v;
  };
  if (vk == "length") {
    auto s = settingsOf<abi::SettingsId::length_shaping>(c.j, c.loc,
                                                         a.settings);
    o->kind = RewardObj::Kind::Length;
    o->maxLength = need(a.max_length, "max_length");
    o->cacheLength = need(a.cache_length, "cache_length");
    o->penalty = s.penalty;
    if (o->maxLength <= 0)
      c.err("length needs max_length > 0");
  } else {
    VerifierConfig vc;
    if (vk == "exact_match") {
      auto s =
          settingsOf<abi::SettingsId::exact_match>(c.j, c.loc, a.settings);
      vc.kind = VerifierConfig::Kind::ExactMatch;
      vc.extract = s.extract;
      vc.strip = s.strip;
      vc.caseSensitive = s.case_sensitive;
      vc.onTrue = s.correct;
      vc.onFalse = s.incorrect;
    } else if (vk == "numeric_match") {
      auto s =
          settingsOf<abi::SettingsId::numeric_match>(c.j, c.loc, a.settings);
      vc.kind = VerifierConfig::Kind::NumericMatch;
      vc.absTol = need(a.tolerance, "tolerance");
      vc.relTol = s.rel_tolerance;
      vc.extract = s.extract;
      vc.onTrue = s.correct;
      vc.onFalse = s.incorrect;
    } else if (vk == "regex" || vk == "format") {
      auto s =
          settingsOf<abi::SettingsId::pattern_reward>(c.j, c.loc, a.settings);
      vc.kind = vk == "regex" ? VerifierConfig::Kind::Regex
                              : VerifierConfig::Kind::Format;
      vc.pattern = need(a.pattern, "pattern");
      vc.onTrue = s.match;
      vc.onFalse = s.no_match;
    } else
      c.err("unknown verifier '" + vk +
            "' (exact_match, numeric_match, regex, format, length)");
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
  const auto a = c.typed<abi::OpId::reward_external>();
  if (a.command.empty())
    c.err("empty command");
  o->external =
      take(c.j, c.loc,
           ExternalReward::start(a.command, int(a.timeout_s * 1000),
                                 int(std::clamp<int64_t>(a.workers, 0, 1025))));
  keepReward(c, std::move(o));
}

void objRewardCombine(OpCtx &c) {
  auto o = std::make_unique<RewardObj>();
  o->kind = RewardObj::Kind::Combine;
  std::vector<double> w = c.typed<abi::OpId::reward_combine>().weights;
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

} // namespace hone::ops
