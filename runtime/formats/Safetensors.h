// safetensors (https://github.com/huggingface/safetensors) read and write,
// single files and sharded checkpoints (model.safetensors.index.json).
//
// Reading maps the file and checks every bound the format defines before
// any tensor is touched: an 8-byte little-endian header size that is sane
// (<= 100 MiB) and inside the file; a JSON header that is an object of
// tensor entries {dtype, shape, data_offsets} plus an optional
// "__metadata__" string→string map; a known dtype; non-negative dims whose
// product times the dtype size equals end - begin without overflow; offsets
// that, sorted, start at 0, are contiguous and non-overlapping and end
// exactly at the end of the file; no duplicate names. Errors name the file
// and the byte offset (or line:col inside the header).
#pragma once

#include "runtime/base/DType.h"
#include "runtime/base/Status.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace hone {

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  /// Byte range relative to the start of the data section.
  uint64_t begin = 0, end = 0;

  int64_t numel() const;
  uint64_t byteSize() const { return end - begin; }
};

/// One safetensors file, memory-mapped (or a borrowed buffer).
class SafetensorsFile {
public:
  /// Maps and validates `path`.
  static Expected<SafetensorsFile> open(const std::string &path);
  /// Validates a buffer the caller keeps alive (fuzzing, tests).
  static Expected<SafetensorsFile> fromBuffer(std::string name,
                                              const uint8_t *data, size_t size);

  const std::string &path() const { return path_; }
  /// Tensors in file (offset) order.
  const std::vector<TensorInfo> &tensors() const { return tensors_; }
  const TensorInfo *find(std::string_view name) const;
  const std::map<std::string, std::string> &metadata() const {
    return metadata_;
  }
  /// Size of the JSON header in bytes (without the 8-byte length).
  uint64_t headerSize() const { return headerSize_; }

  /// Raw little-endian bytes of a tensor (not necessarily aligned).
  const uint8_t *data(const TensorInfo &t) const {
    return dataStart_ + t.begin;
  }

  /// Converts a tensor (any dtype) to fp32 into out[0 .. numel).
  Status readF32(const TensorInfo &t, float *out, size_t outElems) const;
  Expected<std::vector<float>> readF32(std::string_view name) const;

private:
  struct Mapping;
  std::string path_;
  std::shared_ptr<Mapping> mapping_;
  const uint8_t *dataStart_ = nullptr;
  uint64_t headerSize_ = 0;
  std::vector<TensorInfo> tensors_;
  std::vector<size_t> byName_; // indices into tensors_, sorted by name
  std::map<std::string, std::string> metadata_;

  static Expected<SafetensorsFile> parse(std::string name, const uint8_t *data,
                                         size_t size);
};

/// A tensor to write: `data` holds byteSize little-endian bytes.
struct TensorWrite {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void *data = nullptr;
  size_t byteSize = 0;
};

/// Serializes tensors (in the given order) into the safetensors layout; the
/// header is padded with spaces to a multiple of 8 bytes so data is aligned.
Expected<std::string>
serializeSafetensors(const std::vector<TensorWrite> &tensors,
                     const std::map<std::string, std::string> &metadata = {});

/// The bytes serializeSafetensors writes before the tensors' data (the
/// 8-byte length and the padded JSON header), validated: writers that
/// stream the data after it (checkpoints) hold no copy of the tensors.
Expected<std::string>
safetensorsHeader(const std::vector<TensorWrite> &tensors,
                  const std::map<std::string, std::string> &metadata = {});

/// Writes a safetensors file atomically (temp file, fsync, rename).
Status
writeSafetensors(const std::string &path,
                 const std::vector<TensorWrite> &tensors,
                 const std::map<std::string, std::string> &metadata = {});

/// A checkpoint: one safetensors file or a sharded set with an index.
class Checkpoint {
public:
  /// `path` is a .safetensors file, a *.safetensors.index.json file, or a
  /// directory holding model.safetensors or model.safetensors.index.json.
  static Expected<Checkpoint> open(const std::string &path);

  /// All tensor names, sorted.
  std::vector<std::string> names() const;
  size_t size() const { return entries_.size(); }
  /// The tensor and the file holding it, or nullptr.
  const TensorInfo *find(std::string_view name,
                         const SafetensorsFile **file = nullptr) const;
  Expected<std::vector<float>> readF32(std::string_view name) const;
  const std::vector<SafetensorsFile> &shards() const { return shards_; }
  /// Metadata of the first shard (the index's "metadata" is not a string map).
  const std::map<std::string, std::string> &metadata() const;

private:
  std::vector<SafetensorsFile> shards_;
  std::map<std::string, std::pair<size_t, const TensorInfo *>, std::less<>>
      entries_;
};

/// Writes `tensors` into directory `dir` as `<base>.safetensors` when they
/// fit in maxShardBytes, else as `<base>-0000i-of-0000N.safetensors` plus
/// `<base>.safetensors.index.json` ({"metadata": {"total_size": N},
/// "weight_map": {name: file}}), every file written atomically. A tensor
/// larger than maxShardBytes gets a shard of its own. Stale single-file or
/// index files of the other form are removed.
Status writeCheckpoint(const std::string &dir,
                       const std::vector<TensorWrite> &tensors,
                       uint64_t maxShardBytes = uint64_t(5) << 30,
                       const std::map<std::string, std::string> &metadata = {},
                       const std::string &base = "model");

} // namespace hone
