// Checkpoint I/O for the job driver on plain float buffers: model and
// checkpoint code (runtime/checkpoint) meet here only through float
// pointers.
#pragma once

#include "runtime/base/Json.h"
#include "runtime/base/Status.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace hone::job {

struct FlatTensor {
  std::string name;
  std::vector<int64_t> shape;
  const float *data = nullptr;
  int64_t numel = 0;
  /// Set instead of data: bf16 bits (a frozen bf16 model), written as BF16.
  const uint16_t *bf16 = nullptr;
};

struct CheckpointContents {
  int64_t step = 0;
  std::vector<FlatTensor> model;     // model.safetensors
  json::Value config;                // config.json (null: none)
  std::vector<FlatTensor> optimizer; // optimizer.safetensors
  json::Value state;                 // state.json
  /// Further models: NAME.safetensors each.
  std::vector<std::pair<std::string, std::vector<FlatTensor>>> extraModels;
  /// Further files, name -> bytes.
  std::vector<std::pair<std::string, std::string>> extraFiles;
};

/// Writes RUN/checkpoint-<step>/ atomically and keeps the newest keepLast.
Expected<std::string> writeCheckpointDir(const std::string &runDir,
                                         const CheckpointContents &c,
                                         int keepLast);

class LoadedCheckpoint {
public:
  ~LoadedCheckpoint();
  int64_t step() const;
  const std::string &path() const;
  const json::Value &state() const;
  /// Reads tensor `name` of `file` ("" = model.safetensors, "optimizer",
  /// or an extra model's NAME) into out (numel floats, shape checked).
  Status read(const std::string &file, const std::string &name,
              const std::vector<int64_t> &shape, float *out) const;

private:
  friend Expected<std::optional<std::unique_ptr<LoadedCheckpoint>>>
  loadLatestCheckpoint(const std::string &, std::vector<std::string> *,
                       int64_t);
  LoadedCheckpoint();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// The newest complete checkpoint of runDir (none: nullopt); skipped
/// (damaged, partial) ones add a line each to *skipped. Only steps up to
/// maxStep count.
Expected<std::optional<std::unique_ptr<LoadedCheckpoint>>>
loadLatestCheckpoint(const std::string &runDir,
                     std::vector<std::string> *skipped,
                     int64_t maxStep = INT64_MAX);

/// The step of the newest complete checkpoint of runDir up to maxStep, -1
/// when there is none; skipped ones as above.
Expected<int64_t> latestCheckpointStep(const std::string &runDir,
                                       std::vector<std::string> *skipped,
                                       int64_t maxStep = INT64_MAX);

} // namespace hone::job
