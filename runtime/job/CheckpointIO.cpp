#include "runtime/job/CheckpointIO.h"

#include "runtime/checkpoint/CheckpointDir.h"

#include <map>

namespace hone::job {

namespace {
std::vector<TensorWrite> writes(const std::vector<FlatTensor> &ts) {
  std::vector<TensorWrite> out;
  for (const FlatTensor &t : ts)
    if (t.bf16)
      out.push_back(
          {t.name, DType::BF16, t.shape, t.bf16, size_t(t.numel) * 2});
    else
      out.push_back({t.name, DType::F32, t.shape, t.data,
                     size_t(t.numel) * sizeof(float)});
  return out;
}
} // namespace

Expected<std::string> writeCheckpointDir(const std::string &runDir,
                                         const CheckpointContents &c,
                                         int keepLast) {
  checkpoint::SaveRequest req;
  req.step = c.step;
  req.model = writes(c.model);
  req.config = c.config;
  req.optimizer = writes(c.optimizer);
  req.state = c.state;
  req.extraFiles = c.extraFiles;
  // Streamed from the models' memory (no serialized copy).
  for (const auto &[name, ts] : c.extraModels)
    req.extraModels.push_back({name, writes(ts)});
  auto path = checkpoint::save(runDir, req);
  if (!path)
    return path.status();
  if (keepLast > 0)
    HONE_TRY(checkpoint::rotate(runDir, keepLast, c.step));
  return path;
}

struct LoadedCheckpoint::Impl {
  checkpoint::Loaded loaded;
  std::map<std::string, SafetensorsFile> extra;
};

LoadedCheckpoint::LoadedCheckpoint() : impl_(new Impl) {}
LoadedCheckpoint::~LoadedCheckpoint() = default;
int64_t LoadedCheckpoint::step() const { return impl_->loaded.step; }
const std::string &LoadedCheckpoint::path() const {
  return impl_->loaded.path;
}
const json::Value &LoadedCheckpoint::state() const {
  return impl_->loaded.state;
}

Status LoadedCheckpoint::read(const std::string &file, const std::string &name,
                              const std::vector<int64_t> &shape,
                              float *out) const {
  const SafetensorsFile *f = nullptr;
  if (file.empty()) {
    f = &impl_->loaded.model;
  } else if (file == "optimizer") {
    if (!impl_->loaded.optimizer)
      return Status::error(impl_->loaded.path +
                           ": error: no optimizer.safetensors");
    f = &*impl_->loaded.optimizer;
  } else {
    auto it = impl_->extra.find(file);
    if (it == impl_->extra.end()) {
      auto sf = SafetensorsFile::open(impl_->loaded.path + "/" + file +
                                      ".safetensors");
      if (!sf)
        return sf.status();
      it = impl_->extra.emplace(file, sf.take()).first;
    }
    f = &it->second;
  }
  const TensorInfo *t = f->find(name);
  if (!t)
    return Status::error(f->path() + ": error: no tensor '" + name + "'");
  if (t->shape != shape)
    return Status::error(f->path() + ": error: tensor '" + name +
                         "' has a different shape than the model's");
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return f->readF32(*t, out, size_t(n));
}

Expected<std::optional<std::unique_ptr<LoadedCheckpoint>>>
loadLatestCheckpoint(const std::string &runDir,
                     std::vector<std::string> *skipped, int64_t maxStep) {
  auto found = checkpoint::latestComplete(runDir, skipped, maxStep);
  if (!found)
    return found.status();
  if (!*found)
    return std::optional<std::unique_ptr<LoadedCheckpoint>>();
  auto l = checkpoint::load((*found)->path);
  if (!l)
    return l.status();
  std::unique_ptr<LoadedCheckpoint> c(new LoadedCheckpoint());
  c->impl_->loaded = l.take();
  return std::optional<std::unique_ptr<LoadedCheckpoint>>(std::move(c));
}

Expected<int64_t> latestCheckpointStep(const std::string &runDir,
                                       std::vector<std::string> *skipped,
                                       int64_t maxStep) {
  auto found = checkpoint::latestComplete(runDir, skipped, maxStep);
  if (!found)
    return found.status();
  return *found ? (*found)->step : int64_t(-1);
}

} // namespace hone::job
