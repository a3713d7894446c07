// Training checkpoints as `checkpoint-<step>/` directories in a run
// directory:
//
//   checkpoint-<step>/
//     model.safetensors      weights (loadable by transformers)
//     config.json            Hugging Face config (optional)
//     optimizer.safetensors  optimizer moments etc. (optional)
//     state.json             run state: {"step": N, ...caller's keys}
//     <extra files>          e.g. tokenizer.json, the resolved spec
//     manifest.json          every other file with its size and SHA-256
//
// Writing is crash-safe: files go into `.checkpoint-<step>.tmp-<pid>/`, each
// is fsynced, manifest.json is written last, the directory is fsynced and
// renamed to `checkpoint-<step>` (atomically exchanged with an existing one
// of the same step), then the run directory is fsynced. A reader trusts only
// a directory whose manifest verifies: a partial or corrupt checkpoint is
// skipped with a one-line message and never loaded.
#pragma once

#include "runtime/base/Json.h"
#include "runtime/base/Status.h"
#include "runtime/formats/Safetensors.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace hone::checkpoint {

struct SaveRequest {
  int64_t step = 0;
  std::vector<TensorWrite> model;
  /// safetensors __metadata__ of model.safetensors (transformers expects
  /// {"format": "pt"}, the default when empty).
  std::map<std::string, std::string> modelMetadata;
  /// config.json contents (e.g. modelConfigToHfJson(config)); omitted if
  /// null.
  json::Value config;
  /// optimizer.safetensors; omitted if empty.
  std::vector<TensorWrite> optimizer;
  /// state.json: an object (or null for {}); "step" is set to `step`.
  /// JSON numbers are doubles or int64: write uint64 RNG keys as strings.
  json::Value state;
  /// Further files (flat names, no '/'), name -> bytes.
  std::vector<std::pair<std::string, std::string>> extraFiles;
  /// Further models, written after extraFiles as NAME.safetensors
  /// ({"format": "pt"} metadata). Like model.safetensors and
  /// optimizer.safetensors they are streamed from the tensors' memory: a
  /// checkpoint holds no serialized copy of any tensor (the compiler's
  /// memory plan counts none: passes/PlanMemory.cpp).
  std::vector<std::pair<std::string, std::vector<TensorWrite>>> extraModels;
};

/// "checkpoint-<step>".
std::string dirName(int64_t step);

/// Writes runDir/checkpoint-<step> as described above (creating runDir if
/// needed, removing temporary directories that interrupted saves left) and
/// returns its path.
Expected<std::string> save(const std::string &runDir, const SaveRequest &req);

/// Checks dir/manifest.json against the files: present, format and step
/// right, every listed file present with the listed size and SHA-256,
/// model.safetensors and state.json listed. The error says what is wrong.
Status verify(const std::string &dir);

struct Found {
  int64_t step = 0;
  std::string path;
};

/// The newest checkpoint-<step> in runDir whose manifest verifies, or
/// nullopt when there is none (or runDir does not exist). Every newer
/// directory that failed, and every leftover temporary directory, adds one
/// line to *skipped: "skipping RUNDIR/NAME: WHY". Directories of a step
/// above maxStep are passed over without a line (ranks agreeing on a step
/// all of them have).
Expected<std::optional<Found>>
latestComplete(const std::string &runDir,
               std::vector<std::string> *skipped = nullptr,
               int64_t maxStep = INT64_MAX);

/// How many checkpoint-<step> directories runDir holds, whether or not
/// they verify (0 when runDir does not exist).
Expected<int64_t> countCheckpointDirs(const std::string &runDir);

struct Loaded {
  int64_t step = 0;
  std::string path;
  SafetensorsFile model;
  std::optional<SafetensorsFile> optimizer;
  json::Value state;
  json::Value config; // null when absent
};

/// Verifies and opens a checkpoint directory.
Expected<Loaded> load(const std::string &dir);

/// Keep-last-K rotation: among checkpoint-<s> with s <= newestGoodStep keeps
/// the newest `keepLast` (at least 1, so newestGoodStep itself is always
/// kept) and deletes the rest; directories newer than newestGoodStep are
/// left alone. Deletion renames a directory away before removing it, so a
/// crash never leaves a half-deleted checkpoint-<s>. Names of removed
/// directories go to *removed.
Status rotate(const std::string &runDir, int keepLast, int64_t newestGoodStep,
              std::vector<std::string> *removed = nullptr);
/// Same, with newestGoodStep found by latestComplete (nothing is deleted
/// when no checkpoint verifies).
Status rotate(const std::string &runDir, int keepLast,
              std::vector<std::string> *removed = nullptr);

} // namespace hone::checkpoint
