#include "runtime/model/HfModel.h"

#include "runtime/formats/AtomicFile.h"
#include "runtime/formats/HfConfig.h"
#include "runtime/formats/HfTensorNames.h"
#include "runtime/formats/Safetensors.h"

#include "runtime/base/Json.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <sys/stat.h>

namespace hone {

static Status makeDirs(const std::string &dir) {
  std::string path;
  for (size_t i = 0; i <= dir.size(); ++i) {
    if (i == dir.size() || dir[i] == '/') {
      path = dir.substr(0, i);
      if (!path.empty() && ::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST)
        return Status::error(path + ": error: cannot create directory: " +
                             std::strerror(errno));
    }
  }
  return Status::ok();
}

Status saveHfModel(const Transformer<float> &model, const std::string &dir,
                   bool mergeLora) {
  HONE_TRY(makeDirs(dir));
  std::vector<Tensor> owned;
  std::vector<TensorWrite> writes;
  owned.reserve(model.params().size());
  for (const ParamInfo &p : model.params()) {
    auto t = mergeLora ? model.getMergedParam(p.name, DType::F32)
                       : model.getParam(p.name, DType::F32);
    if (!t)
      return t.status();
    owned.push_back(t.take());
    const Tensor &w = owned.back();
    writes.push_back({p.name, DType::F32, w.shape(), w.raw(), w.nbytes()});
  }
  HONE_TRY(writeCheckpoint(dir, writes, uint64_t(5) << 30, {{"format", "pt"}}));
  return saveHfConfig(dir + "/config.json", model.config());
}

Expected<std::unique_ptr<Transformer<float>>>
loadHfModel(const std::string &dir, Kernels<float> *kernels, bool frozenBf16,
            std::shared_ptr<WorkPlacer> placer) {
  auto cfg = loadHfConfig(dir);
  if (!cfg)
    return cfg.status();
  auto ck = Checkpoint::open(dir);
  if (!ck)
    return ck.status();
  HONE_TRY(checkCheckpointLayout(*ck, *cfg));
  auto model =
      frozenBf16
          ? Transformer<float>::createFrozenBf16(*cfg, kernels, std::move(placer))
          : Transformer<float>::create(*cfg, kernels, std::move(placer));
  if (!model)
    return model.status();
  // Hone names GPT-2 tensors as GPT2Model does; GPT2LMHeadModel checkpoints
  // add "transformer.".
  const std::string prefix = "transformer.";
  for (const std::string &name : ck->names()) {
    const ParamInfo *p = (*model)->findParam(name);
    if (!p && name.rfind(prefix, 0) == 0)
      p = (*model)->findParam(name.substr(prefix.size()));
    if (!p)
      continue; // buffers such as GPT-2's attn.bias; a tied lm_head
    const SafetensorsFile *file = nullptr;
    const TensorInfo *info = ck->find(name, &file);
    if (info && file && isFloating(info->dtype) &&
        info->numel() == p->numel) {
      // Straight from the mapped file into the model's storage (setParam
      // converts a chunk at a time): no host copy of the tensor, which
      // the memory plan does not hold.
      Tensor view = Tensor::view(const_cast<uint8_t *>(file->data(*info)),
                                 p->shape, info->dtype);
      HONE_TRY((*model)->setParam(p->name, view));
      continue;
    }
    auto data = ck->readF32(name);
    if (!data)
      return data.status();
    Tensor view = Tensor::view(data->data(), p->shape, DType::F32);
    HONE_TRY((*model)->setParam(p->name, view));
  }
  return model;
}

static const char *kPeftPrefix = "base_model.model.";

Expected<std::vector<std::pair<std::string, std::string>>>
loraAdapterFiles(const Transformer<float> &model,
                 const std::string &baseModel) {
  if (!model.hasLora())
    return Status::error("error: the model has no LoRA adapters to save");
  const float *base = model.loraData();
  std::vector<float> host;
  std::vector<TensorWrite> writes;
  for (const ParamInfo &p : model.loraParams())
    writes.push_back({kPeftPrefix + p.name, DType::F32, p.shape, nullptr,
                      size_t(p.numel) * sizeof(float)});
  // One host copy of the adapter buffer; writes point into it.
  int64_t n = 0;
  for (const ParamInfo &p : model.loraParams())
    n = std::max(n, p.offset + p.numel);
  host = model.toHost(base, n);
  for (size_t i = 0; i < writes.size(); ++i)
    writes[i].data = host.data() + model.loraParams()[i].offset;
  auto weights = serializeSafetensors(writes, {{"format", "pt"}});
  if (!weights)
    return weights.status();
  const LoraConfig &lc = model.lora();
  json::Value c = json::Value::object();
  json::Value targets = json::Value::array();
  for (const std::string &t : lc.targets)
    targets.push(t);
  c.set("peft_type", "LORA");
  c.set("task_type", "CAUSAL_LM");
  c.set("base_model_name_or_path", baseModel);
  c.set("r", lc.rank);
  c.set("lora_alpha", lc.alpha);
  c.set("lora_dropout", lc.dropout);
  c.set("target_modules", std::move(targets));
  c.set("bias", "none");
  c.set("fan_in_fan_out", false);
  c.set("use_rslora", false);
  c.set("use_dora", false);
  c.set("init_lora_weights", true);
  c.set("inference_mode", true);
  c.set("modules_to_save", nullptr);
  c.set("layers_to_transform", nullptr);
  c.set("rank_pattern", json::Value::object());
  c.set("alpha_pattern", json::Value::object());
  std::vector<std::pair<std::string, std::string>> files;
  files.emplace_back("adapter_model.safetensors", weights.take());
  files.emplace_back("adapter_config.json", json::serialize(c, 2) + "\n");
  return files;
}

Status saveLoraAdapter(const Transformer<float> &model, const std::string &dir,
                       const std::string &baseModel) {
  auto files = loraAdapterFiles(model, baseModel);
  if (!files)
    return Status::error(dir + ": " + files.status().message());
  HONE_TRY(makeDirs(dir));
  for (const auto &[name, bytes] : *files)
    HONE_TRY(writeFileAtomic(dir + "/" + name, bytes));
  return Status::ok();
}

Status loadLoraAdapter(Transformer<float> &model, const std::string &dir) {
  const std::string cpath = dir + "/adapter_config.json";
  auto text = readFile(cpath);
  if (!text)
    return text.status();
  auto cfg = json::parse(*text);
  if (!cfg || !cfg->isObject())
    return Status::error(cpath + ": error: not a JSON object");
  auto bad = [&](const std::string &what) {
    return Status::error(cpath + ": error: " + what);
  };
  const json::Value &c = *cfg;
  auto str = [&](const char *k) -> std::string {
    const json::Value *v = c.find(k);
    return v && v->isString() ? v->asString() : std::string();
  };
  auto truthy = [&](const char *k) {
    const json::Value *v = c.find(k);
    return v && v->isBool() && v->asBool();
  };
  auto nonEmpty = [&](const char *k) {
    const json::Value *v = c.find(k);
    return v && !v->isNull() && !(v->isObject() && v->size() == 0) &&
           !(v->isArray() && v->size() == 0);
  };
  if (str("peft_type") != "LORA")
    return bad("peft_type is '" + str("peft_type") + "', not LORA");
  if (truthy("use_dora") || truthy("use_rslora"))
    return bad("DoRA and rsLoRA adapters are not supported");
  if (!str("bias").empty() && str("bias") != "none")
    return bad("adapter biases (bias = '" + str("bias") +
               "') are not supported");
  for (const char *k : {"rank_pattern", "alpha_pattern", "layers_to_transform",
                        "modules_to_save"})
    if (nonEmpty(k))
      return bad(std::string(k) + " is not supported (one rank and alpha "
                                  "for every targeted module)");
  const json::Value *r = c.find("r"), *alpha = c.find("lora_alpha");
  const json::Value *targets = c.find("target_modules");
  if (!r || !r->isInt() || !alpha || !alpha->isNumber())
    return bad("needs an integer r and a numeric lora_alpha");
  if (!targets || !targets->isArray())
    return bad("target_modules must be a list of module names (a regex "
               "string is not supported)");
  LoraConfig lc;
  lc.rank = r->asInt();
  lc.alpha = alpha->asDouble();
  if (const json::Value *d = c.find("lora_dropout"); d && d->isNumber())
    lc.dropout = d->asDouble(); // training forwards only
  for (const json::Value &t : targets->items()) {
    if (!t.isString())
      return bad("target_modules must hold strings");
    lc.targets.push_back(t.asString());
  }
  // Fixed order (the model's), so a round trip writes the same config.
  std::vector<std::string> ordered;
  for (const std::string &t : loraTargetsOf(model.config()))
    if (std::find(lc.targets.begin(), lc.targets.end(), t) != lc.targets.end())
      ordered.push_back(t);
  if (ordered.size() != lc.targets.size()) {
    for (const std::string &t : lc.targets)
      if (std::find(ordered.begin(), ordered.end(), t) == ordered.end())
        return bad("target module '" + t + "' is not one this model has");
    return bad("target_modules names a module twice");
  }
  lc.targets = ordered;
  if (Status s = model.addLora(lc, 0); !s.isOk())
    return bad(s.message());
  const std::string wpath = dir + "/adapter_model.safetensors";
  auto f = SafetensorsFile::open(wpath);
  if (!f)
    return f.status();
  size_t seen = 0;
  for (const TensorInfo &t : f->tensors()) {
    std::string name = t.name;
    if (name.rfind(kPeftPrefix, 0) == 0)
      name = name.substr(std::string(kPeftPrefix).size());
    // Older PEFT kept the adapter name: ".lora_A.default.weight".
    size_t d = name.find(".default.weight");
    if (d != std::string::npos)
      name = name.substr(0, d) + ".weight";
    const ParamInfo *p = nullptr;
    for (const ParamInfo &q : model.loraParams())
      if (q.name == name)
        p = &q;
    if (!p)
      return Status::error(wpath + ": error: tensor '" + t.name +
                           "' is no adapter of this model");
    auto data = f->readF32(t.name);
    if (!data)
      return data.status();
    if (int64_t(data->size()) != p->numel)
      return Status::error(wpath + ": error: tensor '" + t.name + "' has " +
                           std::to_string(data->size()) +
                           " elements, the adapter " + shapeToString(p->shape));
    HONE_TRY(model.setParam(
        p->name, Tensor::view(data->data(), p->shape, DType::F32)));
    ++seen;
  }
  if (seen != model.loraParams().size())
    return Status::error(wpath + ": error: holds " + std::to_string(seen) +
                         " of the " +
                         std::to_string(model.loraParams().size()) +
                         " adapter tensors its config describes");
  return Status::ok();
}

} // namespace hone
