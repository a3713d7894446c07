// Object ops (hone_rt_object): models (init, load, a new head, LoRA, a
// snapshot), datasets, buffers and rewards.
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

void objModelInit(OpCtx &c) {
  hone_job *j = c.j;
  wantObjs(c, 0, 0);
  ModelConfig cfg = archConfig(j, c.loc, c.attrs);
  auto m = take(j, c.loc, Transformer<float>::create(cfg, &j->job->kernels()));
  m->initRandom(uint64_t(c.i64("seed")));
  c.made = newModel(j, std::move(m));
}

namespace {

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

} // namespace

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
  lc.dropout = s.f64("dropout"); // in training forwards only (trainForward)
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

namespace {

void keepReward(OpCtx &c, std::unique_ptr<RewardObj> o) {
  c.made = o.get();
  c.j->objects.push_back(std::move(o));
}

} // namespace

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

} // namespace hone::ops
