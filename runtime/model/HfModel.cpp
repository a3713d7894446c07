#include "runtime/model/HfModel.h"

#include "runtime/formats/HfConfig.h"
#include "runtime/formats/HfTensorNames.h"
#include "runtime/formats/Safetensors.h"

#include <cerrno>
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

Status saveHfModel(const Transformer<float> &model, const std::string &dir) {
  HONE_TRY(makeDirs(dir));
  std::vector<Tensor> owned;
  std::vector<TensorWrite> writes;
  owned.reserve(model.params().size());
  for (const ParamInfo &p : model.params()) {
    auto t = model.getParam(p.name, DType::F32);
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
loadHfModel(const std::string &dir, Kernels<float> *kernels) {
  auto cfg = loadHfConfig(dir);
  if (!cfg)
    return cfg.status();
  auto ck = Checkpoint::open(dir);
  if (!ck)
    return ck.status();
  HONE_TRY(checkCheckpointLayout(*ck, *cfg));
  auto model = Transformer<float>::create(*cfg, kernels);
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
    auto data = ck->readF32(name);
    if (!data)
      return data.status();
    Tensor view = Tensor::view(data->data(), p->shape, DType::F32);
    HONE_TRY((*model)->setParam(p->name, view));
  }
  return model;
}

} // namespace hone
