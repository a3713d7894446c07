#include "runtime/formats/Safetensors.h"

#include "runtime/base/Json.h"
#include "runtime/base/Utf8.h"
#include "runtime/formats/AtomicFile.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace hone {

namespace {
constexpr uint64_t kMaxHeaderSize = uint64_t(100) << 20; // as upstream

std::string at(const std::string &file, uint64_t offset) {
  return file + ":@" + std::to_string(offset) + ": error: ";
}

/// a * b, failing on overflow past 2^62.
bool mulChecked(uint64_t a, uint64_t b, uint64_t *out) {
  if (a != 0 && b > (uint64_t(1) << 62) / a)
    return false;
  *out = a * b;
  return true;
}
} // namespace

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

struct SafetensorsFile::Mapping {
  void *addr = nullptr;
  size_t size = 0;
  ~Mapping() {
    if (addr && addr != MAP_FAILED)
      ::munmap(addr, size);
  }
};

Expected<SafetensorsFile> SafetensorsFile::open(const std::string &path) {
  // O_NONBLOCK: opening a FIFO for reading would wait for a writer.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return Status::error(path +
                         ": error: cannot open: " + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::error(path + ": error: not a regular file");
  }
  auto size = static_cast<size_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    return Status::error(at(path, 0) + "file is " + std::to_string(size) +
                         " bytes, too small for a safetensors header");
  }
  auto mapping = std::make_shared<Mapping>();
  mapping->addr = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (mapping->addr == MAP_FAILED)
    return Status::error(path +
                         ": error: mmap failed: " + std::strerror(errno));
  mapping->size = size;
  Expected<SafetensorsFile> f =
      parse(path, static_cast<const uint8_t *>(mapping->addr), size);
  if (f)
    f->mapping_ = std::move(mapping);
  return f;
}

Expected<SafetensorsFile> SafetensorsFile::fromBuffer(std::string name,
                                                      const uint8_t *data,
                                                      size_t size) {
  return parse(std::move(name), data, size);
}

static Status parseShape(const std::string &file, const std::string &name,
                         const json::Value &v, std::vector<int64_t> &shape,
                         uint64_t *numel) {
  if (!v.isArray())
    return Status::error(at(file, v.offset()) + "tensor '" + name +
                         "': shape must be an array of integers");
  uint64_t n = 1;
  for (const json::Value &d : v.items()) {
    if (!d.isInt() || d.asInt() < 0)
      return Status::error(at(file, d.offset()) + "tensor '" + name +
                           "': shape entries must be non-negative integers");
    if (!mulChecked(n, static_cast<uint64_t>(d.asInt()), &n))
      return Status::error(at(file, d.offset()) + "tensor '" + name +
                           "': shape has too many elements (overflow)");
    shape.push_back(d.asInt());
  }
  *numel = n;
  return Status::ok();
}

Expected<SafetensorsFile>
SafetensorsFile::parse(std::string file, const uint8_t *data, size_t size) {
  if (size < 8)
    return Status::error(at(file, 0) + "file is " + std::to_string(size) +
                         " bytes, too small for a safetensors header");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i)
    n = (n << 8) | data[i];
  if (n > kMaxHeaderSize)
    return Status::error(at(file, 0) + "header size " + std::to_string(n) +
                             " is larger than the 100 MiB limit",
                         "the file is probably not safetensors or is corrupt");
  if (n > size - 8)
    return Status::error(at(file, 0) + "header size " + std::to_string(n) +
                             " runs past the end of the file (" +
                             std::to_string(size) + " bytes)",
                         "the file is truncated or not safetensors");
  if (n < 2 || data[8] != '{')
    return Status::error(at(file, 8) + "header does not start with '{'",
                         "the file is probably not safetensors");
  std::string_view headerText(reinterpret_cast<const char *>(data + 8),
                              static_cast<size_t>(n));
  json::ParseOptions po;
  po.sourceName = file;
  po.baseOffset = 8;
  po.maxDepth = 64;
  Expected<json::Value> header = json::parse(headerText, po);
  if (!header)
    return Status::error(header.status().message() + " in the JSON header");
  if (!header->isObject())
    return Status::error(at(file, 8) + "header is not a JSON object");

  SafetensorsFile out;
  out.path_ = file;
  out.headerSize_ = n;
  out.dataStart_ = data + 8 + n;
  const uint64_t dataSize = size - 8 - n;

  for (const auto &[name, entry] : header->members()) {
    if (name == "__metadata__") {
      if (!entry.isObject())
        return Status::error(at(file, entry.offset()) +
                             "__metadata__ must be an object of strings");
      for (const auto &[k, v] : entry.members()) {
        if (!v.isString())
          return Status::error(at(file, v.offset()) + "__metadata__ value '" +
                               k + "' is " + json::kindName(v.kind()) +
                               ", expected a string");
        out.metadata_[k] = v.asString();
      }
      continue;
    }
    if (!entry.isObject())
      return Status::error(at(file, entry.offset()) + "tensor '" + name +
                           "' is " + json::kindName(entry.kind()) +
                           ", expected an object");
    TensorInfo t;
    t.name = name;
    const json::Value *dtype = nullptr, *shape = nullptr, *offsets = nullptr;
    for (const auto &[k, v] : entry.members()) {
      if (k == "dtype")
        dtype = &v;
      else if (k == "shape")
        shape = &v;
      else if (k == "data_offsets")
        offsets = &v;
      else
        return Status::error(at(file, v.offset()) + "tensor '" + name +
                             "' has unknown field '" + k + "'");
    }
    if (!dtype || !shape || !offsets)
      return Status::error(at(file, entry.offset()) + "tensor '" + name +
                           "' lacks " +
                           (!dtype   ? "dtype"
                            : !shape ? "shape"
                                     : "data_offsets"));
    if (!dtype->isString())
      return Status::error(at(file, dtype->offset()) + "tensor '" + name +
                           "': dtype must be a string");
    std::optional<DType> dt = parseDType(dtype->asString());
    if (!dt)
      return Status::error(at(file, dtype->offset()) + "tensor '" + name +
                           "': unknown dtype '" + dtype->asString() + "'");
    t.dtype = *dt;
    uint64_t numel = 0;
    HONE_TRY(parseShape(file, name, *shape, t.shape, &numel));
    if (!offsets->isArray() || offsets->size() != 2 ||
        !offsets->items()[0].isInt() || !offsets->items()[1].isInt() ||
        offsets->items()[0].asInt() < 0 || offsets->items()[1].asInt() < 0)
      return Status::error(at(file, offsets->offset()) + "tensor '" + name +
                           "': data_offsets must be [begin, end] with "
                           "non-negative integers");
    t.begin = static_cast<uint64_t>(offsets->items()[0].asInt());
    t.end = static_cast<uint64_t>(offsets->items()[1].asInt());
    if (t.end < t.begin)
      return Status::error(at(file, offsets->offset()) + "tensor '" + name +
                           "': data_offsets end " + std::to_string(t.end) +
                           " is before begin " + std::to_string(t.begin));
    uint64_t bytes = 0;
    if (!mulChecked(numel, dtypeSize(t.dtype), &bytes) ||
        bytes != t.end - t.begin)
      return Status::error(
          at(file, offsets->offset()) + "tensor '" + name +
          "': " + dtypeName(t.dtype) + " shape holds " + std::to_string(numel) +
          " elements (" + std::to_string(bytes) + " bytes) but data_offsets " +
          "span " + std::to_string(t.end - t.begin) + " bytes");
    if (t.end > dataSize)
      return Status::error(at(file, offsets->offset()) + "tensor '" + name +
                               "': data_offsets end " + std::to_string(t.end) +
                               " is past the end of the data (" +
                               std::to_string(dataSize) + " bytes)",
                           "the file is truncated");
    out.tensors_.push_back(std::move(t));
  }

  // Sorted by offset, the tensors must tile the data section exactly.
  std::stable_sort(out.tensors_.begin(), out.tensors_.end(),
                   [](const TensorInfo &a, const TensorInfo &b) {
                     return a.begin != b.begin ? a.begin < b.begin
                                               : a.end < b.end;
                   });
  uint64_t expect = 0;
  for (const TensorInfo &t : out.tensors_) {
    if (t.begin != expect)
      return Status::error(
          at(file, 8 + n + t.begin) + "tensor '" + t.name +
          "' starts at data " + "offset " + std::to_string(t.begin) +
          ", expected " + std::to_string(expect) +
          (t.begin < expect ? " (overlaps the previous tensor)"
                            : " (gap after the previous tensor)"));
    expect = t.end;
  }
  if (expect != dataSize)
    return Status::error(at(file, 8 + n + expect) + "data section has " +
                         std::to_string(dataSize - expect) +
                         " bytes not covered by any tensor");

  out.byName_.resize(out.tensors_.size());
  for (size_t i = 0; i < out.byName_.size(); ++i)
    out.byName_[i] = i;
  std::sort(out.byName_.begin(), out.byName_.end(), [&](size_t a, size_t b) {
    return out.tensors_[a].name < out.tensors_[b].name;
  });
  return out;
}

const TensorInfo *SafetensorsFile::find(std::string_view name) const {
  auto it = std::lower_bound(
      byName_.begin(), byName_.end(), name,
      [&](size_t i, std::string_view n) { return tensors_[i].name < n; });
  if (it == byName_.end() || tensors_[*it].name != name)
    return nullptr;
  return &tensors_[*it];
}

Status SafetensorsFile::readF32(const TensorInfo &t, float *out,
                                size_t outElems) const {
  auto n = static_cast<size_t>(t.numel());
  if (outElems < n)
    return Status::error(path_ + ": error: tensor '" + t.name + "' has " +
                         std::to_string(n) + " elements, buffer holds " +
                         std::to_string(outElems));
  convertToF32(t.dtype, data(t), n, out);
  return Status::ok();
}

Expected<std::vector<float>>
SafetensorsFile::readF32(std::string_view name) const {
  const TensorInfo *t = find(name);
  if (!t)
    return Status::error(path_ + ": error: no tensor named '" +
                         std::string(name) + "'");
  std::vector<float> out(static_cast<size_t>(t->numel()));
  HONE_TRY(readF32(*t, out.data(), out.size()));
  return out;
}

// ---------------------------------------------------------------------------
// Writing

/// The 8-byte length plus the padded JSON header for `tensors`, validated.
static Expected<std::string>
buildHeader(const std::vector<TensorWrite> &tensors,
            const std::map<std::string, std::string> &metadata) {
  json::Value header = json::Value::object();
  if (!metadata.empty()) {
    json::Value meta = json::Value::object();
    for (const auto &[k, v] : metadata) {
      if (!isValidUtf8(k) || !isValidUtf8(v))
        return Status::error("error: metadata is not valid UTF-8");
      meta.members().emplace_back(k, json::Value(v));
    }
    header.members().emplace_back("__metadata__", std::move(meta));
  }
  std::vector<std::string_view> names;
  uint64_t offset = 0;
  for (const TensorWrite &t : tensors) {
    if (t.name == "__metadata__")
      return Status::error("error: '__metadata__' is not a valid tensor name");
    if (!isValidUtf8(t.name))
      return Status::error("error: tensor name is not valid UTF-8");
    uint64_t numel = 1;
    for (int64_t d : t.shape) {
      if (d < 0 || !mulChecked(numel, static_cast<uint64_t>(d), &numel))
        return Status::error("error: tensor '" + t.name + "' has a bad shape");
    }
    uint64_t bytes = 0;
    if (!mulChecked(numel, dtypeSize(t.dtype), &bytes) || bytes != t.byteSize)
      return Status::error("error: tensor '" + t.name + "': shape x " +
                           dtypeName(t.dtype) + " is " + std::to_string(bytes) +
                           " bytes but " + std::to_string(t.byteSize) +
                           " were given");
    if (bytes && !t.data)
      return Status::error("error: tensor '" + t.name + "' has no data");
    names.push_back(t.name);
    json::Value e = json::Value::object();
    e.members().emplace_back("dtype", json::Value(dtypeName(t.dtype)));
    json::Value shape = json::Value::array();
    for (int64_t d : t.shape)
      shape.push(json::Value(d));
    e.members().emplace_back("shape", std::move(shape));
    json::Value offs = json::Value::array();
    offs.push(json::Value(static_cast<int64_t>(offset)));
    offs.push(json::Value(static_cast<int64_t>(offset + bytes)));
    e.members().emplace_back("data_offsets", std::move(offs));
    header.members().emplace_back(t.name, std::move(e));
    offset += bytes;
  }
  std::sort(names.begin(), names.end());
  for (size_t i = 1; i < names.size(); ++i)
    if (names[i] == names[i - 1])
      return Status::error("error: duplicate tensor name '" +
                           std::string(names[i]) + "'");

  std::string text = json::serialize(header);
  while (text.size() % 8)
    text += ' ';
  std::string out;
  uint64_t hn = text.size();
  for (int i = 0; i < 8; ++i)
    out += static_cast<char>((hn >> (8 * i)) & 0xFF);
  out += text;
  return out;
}

Expected<std::string>
serializeSafetensors(const std::vector<TensorWrite> &tensors,
                     const std::map<std::string, std::string> &metadata) {
  Expected<std::string> out = buildHeader(tensors, metadata);
  if (!out)
    return out;
  for (const TensorWrite &t : tensors)
    if (t.byteSize)
      out->append(static_cast<const char *>(t.data), t.byteSize);
  return out;
}

Expected<std::string>
safetensorsHeader(const std::vector<TensorWrite> &tensors,
                  const std::map<std::string, std::string> &metadata) {
  return buildHeader(tensors, metadata);
}

Status writeSafetensors(const std::string &path,
                        const std::vector<TensorWrite> &tensors,
                        const std::map<std::string, std::string> &metadata) {
  Expected<std::string> header = buildHeader(tensors, metadata);
  if (!header)
    return Status::error(path + ": " + header.status().message());
  Expected<AtomicFile> f = AtomicFile::create(path);
  if (!f)
    return f.status();
  HONE_TRY(f->write(*header));
  for (const TensorWrite &t : tensors)
    if (t.byteSize)
      HONE_TRY(f->write(t.data, t.byteSize));
  return f->commit();
}

// ---------------------------------------------------------------------------
// Checkpoints (single file or sharded)

static bool isDir(const std::string &p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
static bool isFile(const std::string &p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}
static bool endsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.substr(s.size() - suffix.size()) == suffix;
}
static std::string dirName(const std::string &path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

Expected<Checkpoint> Checkpoint::open(const std::string &path) {
  std::string file = path;
  if (isDir(path)) {
    std::string single = path + "/model.safetensors";
    std::string index = path + "/model.safetensors.index.json";
    if (isFile(index))
      file = index;
    else if (isFile(single))
      file = single;
    else
      return Status::error(path + ": error: directory has neither "
                                  "model.safetensors nor "
                                  "model.safetensors.index.json");
  }
  Checkpoint ck;
  if (!endsWith(file, ".json")) {
    Expected<SafetensorsFile> f = SafetensorsFile::open(file);
    if (!f)
      return f.status();
    ck.shards_.push_back(f.take());
  } else {
    Expected<std::string> text = readFile(file, size_t(256) << 20);
    if (!text)
      return text.status();
    json::ParseOptions po;
    po.sourceName = file;
    Expected<json::Value> index = json::parse(*text, po);
    if (!index)
      return index.status();
    const json::Value *wm =
        index->isObject() ? index->find("weight_map") : nullptr;
    if (!wm || !wm->isObject()) {
      json::Location loc = json::locate(*text, wm ? wm->offset() : 0);
      return Status::error(file + ":" + std::to_string(loc.line) + ":" +
                           std::to_string(loc.column) +
                           ": error: index needs a \"weight_map\" object of "
                           "tensor name -> shard file");
    }
    std::map<std::string, size_t> shardIndex;
    std::vector<std::pair<std::string, size_t>> wanted;
    for (const auto &[name, shard] : wm->members()) {
      json::Location loc = json::locate(*text, shard.offset());
      std::string where = file + ":" + std::to_string(loc.line) + ":" +
                          std::to_string(loc.column) + ": error: ";
      if (!shard.isString())
        return Status::error(where + "weight_map value for '" + name +
                             "' must be a file name string");
      const std::string &s = shard.asString();
      if (s.empty() || s.find('/') != std::string::npos || s == "." ||
          s == ".." || s.find('\\') != std::string::npos)
        return Status::error(where + "shard file '" + s +
                             "' must be a plain file name in the index's "
                             "directory");
      auto [it, inserted] = shardIndex.emplace(s, ck.shards_.size());
      if (inserted) {
        Expected<SafetensorsFile> f =
            SafetensorsFile::open(dirName(file) + "/" + s);
        if (!f)
          return f.status();
        ck.shards_.push_back(f.take());
      }
      wanted.emplace_back(name, it->second);
    }
    for (const auto &[name, idx] : wanted) {
      const TensorInfo *t = ck.shards_[idx].find(name);
      if (!t)
        return Status::error(file + ": error: weight_map says '" + name +
                             "' is in " + ck.shards_[idx].path() +
                             ", which has no such tensor");
      ck.entries_.emplace(name, std::make_pair(idx, t));
    }
    for (size_t i = 0; i < ck.shards_.size(); ++i)
      for (const TensorInfo &t : ck.shards_[i].tensors()) {
        auto it = ck.entries_.find(t.name);
        if (it == ck.entries_.end() || it->second.first != i)
          return Status::error(ck.shards_[i].path() + ": error: tensor '" +
                               t.name + "' is not listed for this shard in " +
                               file);
      }
    return ck;
  }
  for (const TensorInfo &t : ck.shards_[0].tensors())
    ck.entries_.emplace(t.name, std::make_pair(size_t(0), &t));
  return ck;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto &e : entries_)
    out.push_back(e.first);
  return out;
}

const TensorInfo *Checkpoint::find(std::string_view name,
                                   const SafetensorsFile **file) const {
  auto it = entries_.find(name);
  if (it == entries_.end())
    return nullptr;
  if (file)
    *file = &shards_[it->second.first];
  return it->second.second;
}

Expected<std::vector<float>> Checkpoint::readF32(std::string_view name) const {
  const SafetensorsFile *f = nullptr;
  const TensorInfo *t = find(name, &f);
  if (!t)
    return Status::error(
        (shards_.empty() ? std::string("checkpoint") : shards_[0].path()) +
        ": error: no tensor named '" + std::string(name) + "'");
  std::vector<float> out(static_cast<size_t>(t->numel()));
  HONE_TRY(f->readF32(*t, out.data(), out.size()));
  return out;
}

const std::map<std::string, std::string> &Checkpoint::metadata() const {
  static const std::map<std::string, std::string> empty;
  return shards_.empty() ? empty : shards_[0].metadata();
}

Status writeCheckpoint(const std::string &dir,
                       const std::vector<TensorWrite> &tensors,
                       uint64_t maxShardBytes,
                       const std::map<std::string, std::string> &metadata,
                       const std::string &base) {
  if (!isDir(dir) && ::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
    return Status::error(
        dir + ": error: cannot create directory: " + std::strerror(errno));
  std::string single = dir + "/" + base + ".safetensors";
  std::string indexPath = dir + "/" + base + ".safetensors.index.json";
  // Group tensors into shards in order.
  std::vector<std::vector<TensorWrite>> shards(1);
  uint64_t current = 0, total = 0;
  for (const TensorWrite &t : tensors) {
    if (!shards.back().empty() && current + t.byteSize > maxShardBytes) {
      shards.emplace_back();
      current = 0;
    }
    shards.back().push_back(t);
    current += t.byteSize;
    total += t.byteSize;
  }
  if (shards.size() == 1) {
    HONE_TRY(writeSafetensors(single, tensors, metadata));
    ::unlink(indexPath.c_str());
    return Status::ok();
  }
  json::Value weightMap = json::Value::object();
  auto pad5 = [](size_t v) {
    std::string s = std::to_string(v);
    return std::string(s.size() < 5 ? 5 - s.size() : 0, '0') + s;
  };
  for (size_t i = 0; i < shards.size(); ++i) {
    std::string name = base + "-" + pad5(i + 1) + "-of-" + pad5(shards.size()) +
                       ".safetensors";
    HONE_TRY(writeSafetensors(dir + "/" + name, shards[i], metadata));
    for (const TensorWrite &t : shards[i])
      weightMap.members().emplace_back(t.name, json::Value(name));
  }
  json::Value index = json::Value::object();
  json::Value meta = json::Value::object();
  meta.set("total_size", json::Value(static_cast<int64_t>(total)));
  for (const auto &[k, v] : metadata)
    meta.set(k, json::Value(v));
  index.set("metadata", std::move(meta));
  index.set("weight_map", std::move(weightMap));
  HONE_TRY(writeFileAtomic(indexPath, json::serialize(index, 2) + "\n"));
  ::unlink(single.c_str());
  return Status::ok();
}

} // namespace hone
