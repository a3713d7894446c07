#include "runtime/checkpoint/CheckpointDir.h"

#include "runtime/checkpoint/Sha256.h"
#include "runtime/formats/AtomicFile.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace hone::checkpoint {

namespace {

constexpr const char *kFormat = "hone-checkpoint";
constexpr int kVersion = 1;

std::string err(const std::string &path, const std::string &what) {
  return path + ": error: " + what;
}
std::string errnoText() { return std::strerror(errno); }

bool isDir(const std::string &path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Status fsyncPath(const std::string &path, bool directory) {
  int fd = ::open(path.c_str(),
                  O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : 0));
  if (fd < 0)
    return Status::error(err(path, "cannot open for fsync: " + errnoText()));
  int rc = ::fsync(fd);
  int e = errno;
  ::close(fd);
  if (rc != 0)
    return Status::error(err(path, std::string("fsync failed: ") +
                                       std::strerror(e)));
  return Status::ok();
}

/// Writes the parts in order to a new file, fsynced.
Status writeDurableParts(const std::string &path,
                         const std::vector<std::string_view> &parts) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    return Status::error(err(path, "cannot create: " + errnoText()));
  for (std::string_view bytes : parts) {
    const char *p = bytes.data();
    size_t left = bytes.size();
    while (left > 0) {
      ssize_t w = ::write(fd, p, std::min(left, size_t(1) << 30));
      if (w < 0) {
        if (errno == EINTR)
          continue;
        const bool full = errno == ENOSPC || errno == EDQUOT;
        std::string e = errnoText();
        ::close(fd);
        if (full) // the partial checkpoint's directory is removed
          return Status::error(
              err(path, "write failed: " + e +
                            " (hint: free space on the run directory's file "
                            "system, or keep fewer checkpoints: "
                            "checkpointing.keep_last; then --resume)"));
        return Status::error(err(path, "write failed: " + e));
      }
      p += w;
      left -= static_cast<size_t>(w);
    }
  }
  if (::fsync(fd) != 0) {
    std::string e = errnoText();
    ::close(fd);
    return Status::error(err(path, "fsync failed: " + e));
  }
  if (::close(fd) != 0)
    return Status::error(err(path, "close failed: " + errnoText()));
  return Status::ok();
}

Status writeDurable(const std::string &path, std::string_view bytes) {
  return writeDurableParts(path, {bytes});
}

Status removeTree(const std::string &path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0)
    return errno == ENOENT ? Status::ok()
                           : Status::error(err(path, "stat: " + errnoText()));
  if (S_ISDIR(st.st_mode)) {
    DIR *d = ::opendir(path.c_str());
    if (!d)
      return Status::error(err(path, "cannot open: " + errnoText()));
    std::vector<std::string> names;
    while (dirent *e = ::readdir(d))
      if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, ".."))
        names.push_back(e->d_name);
    ::closedir(d);
    for (const std::string &n : names)
      HONE_TRY(removeTree(path + "/" + n));
    if (::rmdir(path.c_str()) != 0)
      return Status::error(err(path, "rmdir: " + errnoText()));
  } else if (::unlink(path.c_str()) != 0) {
    return Status::error(err(path, "unlink: " + errnoText()));
  }
  return Status::ok();
}

/// Parses "checkpoint-<digits>" (no sign, no leading zeros except "0").
bool parseStep(const std::string &name, const char *prefix, int64_t *step) {
  size_t n = std::strlen(prefix);
  if (name.compare(0, n, prefix) != 0 || name.size() == n ||
      name.size() - n > 18)
    return false;
  int64_t v = 0;
  for (size_t i = n; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9')
      return false;
    v = v * 10 + (name[i] - '0');
  }
  if (name[n] == '0' && name.size() > n + 1)
    return false;
  *step = v;
  return true;
}

struct Entry {
  int64_t step;
  std::string name;
};

/// checkpoint-<step> directories sorted by step, newest first, plus the
/// names of leftover temporary / deletion directories.
Status scan(const std::string &runDir, std::vector<Entry> *ckpts,
            std::vector<std::string> *leftovers) {
  DIR *d = ::opendir(runDir.c_str());
  if (!d) {
    if (errno == ENOENT)
      return Status::ok();
    return Status::error(err(runDir, "cannot list: " + errnoText()));
  }
  while (dirent *e = ::readdir(d)) {
    std::string name = e->d_name;
    int64_t step;
    if (parseStep(name, "checkpoint-", &step)) {
      if (isDir(runDir + "/" + name))
        ckpts->push_back({step, name});
    } else if (name.rfind(".checkpoint-", 0) == 0 &&
               (name.find(".tmp-") != std::string::npos ||
                name.find(".del-") != std::string::npos)) {
      if (leftovers)
        leftovers->push_back(name);
    }
  }
  ::closedir(d);
  std::sort(ckpts->begin(), ckpts->end(),
            [](const Entry &a, const Entry &b) { return a.step > b.step; });
  if (leftovers)
    std::sort(leftovers->begin(), leftovers->end());
  return Status::ok();
}

bool flatName(const std::string &n) {
  return !n.empty() && n != "." && n != ".." &&
         n.find('/') == std::string::npos && n.find('\0') == std::string::npos;
}

std::string stripRunDir(const std::string &dir) {
  size_t slash = dir.find_last_not_of('/');
  std::string d = dir.substr(0, slash + 1);
  size_t s = d.rfind('/');
  return s == std::string::npos ? d : d.substr(s + 1);
}

} // namespace

std::string dirName(int64_t step) {
  return "checkpoint-" + std::to_string(step);
}

Expected<std::string> save(const std::string &runDir, const SaveRequest &req) {
  if (req.step < 0)
    return Status::error(err(runDir, "checkpoint step is negative"));
  if (::mkdir(runDir.c_str(), 0755) != 0 && errno != EEXIST)
    return Status::error(err(runDir, "cannot create: " + errnoText()));
  // Leftovers of interrupted saves or deletions (this process is the run
  // directory's only writer).
  {
    std::vector<Entry> ignored;
    std::vector<std::string> leftovers;
    HONE_TRY(scan(runDir, &ignored, &leftovers));
    for (const std::string &l : leftovers)
      HONE_TRY(removeTree(runDir + "/" + l));
  }
  std::string finalDir = runDir + "/" + dirName(req.step);
  std::string tmpDir = runDir + "/." + dirName(req.step) + ".tmp-" +
                       std::to_string(::getpid());
  if (::mkdir(tmpDir.c_str(), 0755) != 0)
    return Status::error(err(tmpDir, "cannot create: " + errnoText()));

  json::Value files = json::Value::array();
  // A file from parts written in order (its size and hash over all).
  auto putParts = [&](const std::string &name,
                      const std::vector<std::string_view> &parts) -> Status {
    if (!flatName(name) || name == "manifest.json")
      return Status::error(
          err(finalDir, "bad checkpoint file name '" + name + "'"));
    HONE_TRY(writeDurableParts(tmpDir + "/" + name, parts));
    Sha256 h;
    int64_t size = 0;
    for (std::string_view p : parts) {
      h.update(p);
      size += static_cast<int64_t>(p.size());
    }
    json::Value f = json::Value::object();
    f.set("name", name);
    f.set("size", json::Value(size));
    f.set("sha256", Sha256::hex(h.finish()));
    files.push(std::move(f));
    return Status::ok();
  };
  auto put = [&](const std::string &name, std::string_view bytes) {
    return putParts(name, {bytes});
  };
  // A safetensors file streamed from the tensors: its header, then each
  // tensor's bytes where they are (what serializeSafetensors would hold).
  auto putTensors =
      [&](const std::string &name, const std::vector<TensorWrite> &tensors,
          const std::map<std::string, std::string> &meta) -> Status {
    Expected<std::string> header = safetensorsHeader(tensors, meta);
    if (!header)
      return header.status();
    std::vector<std::string_view> parts = {*header};
    for (const TensorWrite &t : tensors)
      if (t.byteSize)
        parts.push_back({static_cast<const char *>(t.data), t.byteSize});
    return putParts(name, parts);
  };
  auto body = [&]() -> Status {
    std::map<std::string, std::string> meta = req.modelMetadata;
    if (meta.empty())
      meta["format"] = "pt";
    HONE_TRY(putTensors("model.safetensors", req.model, meta));
    if (!req.config.isNull())
      HONE_TRY(put("config.json", json::serialize(req.config, 2) + "\n"));
    if (!req.optimizer.empty())
      HONE_TRY(putTensors("optimizer.safetensors", req.optimizer, {}));
    json::Value state = req.state.isObject() ? req.state : json::Value::object();
    if (!req.state.isObject() && !req.state.isNull())
      return Status::error(err(finalDir, "state.json must be an object"));
    // "step" first, then the caller's keys in order.
    json::Value ordered = json::Value::object();
    ordered.set("step", json::Value(req.step));
    for (auto &[k, v] : state.members())
      if (k != "step")
        ordered.set(k, v);
    HONE_TRY(put("state.json", json::serialize(ordered, 2) + "\n"));
    for (const auto &[name, bytes] : req.extraFiles) {
      if (name == "model.safetensors" || name == "config.json" ||
          name == "optimizer.safetensors" || name == "state.json")
        return Status::error(
            err(finalDir, "extra file '" + name + "' clashes with a "
                          "checkpoint file"));
      HONE_TRY(put(name, bytes));
    }
    for (const auto &[model, tensors] : req.extraModels) {
      std::string name = model + ".safetensors";
      for (const auto &[other, bytes] : req.extraFiles)
        if (other == name)
          return Status::error(err(finalDir, "extra model '" + model +
                                                 "' clashes with an "
                                                 "extra file"));
      if (name == "model.safetensors" || name == "optimizer.safetensors")
        return Status::error(err(finalDir, "extra model '" + model +
                                               "' clashes with a "
                                               "checkpoint file"));
      HONE_TRY(putTensors(name, tensors, {{"format", "pt"}}));
    }
    json::Value manifest = json::Value::object();
    manifest.set("format", kFormat);
    manifest.set("version", kVersion);
    manifest.set("step", json::Value(req.step));
    manifest.set("files", std::move(files));
    HONE_TRY(writeDurable(tmpDir + "/manifest.json",
                          json::serialize(manifest, 2) + "\n"));
    HONE_TRY(fsyncPath(tmpDir, true));
    if (::rename(tmpDir.c_str(), finalDir.c_str()) != 0) {
      if (errno != EEXIST && errno != ENOTEMPTY)
        return Status::error(err(finalDir, "rename failed: " + errnoText()));
      // Same step saved again: swap atomically, then drop the old one.
      if (::renameat2(AT_FDCWD, tmpDir.c_str(), AT_FDCWD, finalDir.c_str(),
                      RENAME_EXCHANGE) != 0)
        return Status::error(
            err(finalDir, "rename (exchange) failed: " + errnoText()));
      std::string del = runDir + "/." + dirName(req.step) + ".del-" +
                        std::to_string(::getpid());
      if (::rename(tmpDir.c_str(), del.c_str()) == 0)
        (void)removeTree(del);
    }
    return fsyncPath(runDir, true);
  };
  Status s = body();
  if (!s.isOk()) {
    (void)removeTree(tmpDir);
    return s;
  }
  return finalDir;
}

Status verify(const std::string &dir) {
  std::string mpath = dir + "/manifest.json";
  struct stat st;
  if (::stat(mpath.c_str(), &st) != 0)
    return Status::error(err(dir, "missing manifest.json (incomplete or "
                                  "not a Hone checkpoint)"));
  Expected<std::string> text = readFile(mpath, size_t(16) << 20);
  if (!text)
    return text.status();
  json::ParseOptions po;
  po.sourceName = mpath;
  Expected<json::Value> m = json::parse(*text, po);
  if (!m)
    return m.status();
  const json::Value *format = m->find("format");
  const json::Value *version = m->find("version");
  const json::Value *step = m->find("step");
  const json::Value *files = m->find("files");
  if (!m->isObject() || !format || !format->isString() ||
      format->asString() != kFormat || !version || !version->isInt() ||
      !step || !step->isInt() || !files || !files->isArray())
    return Status::error(err(mpath, "not a hone-checkpoint manifest"));
  if (version->asInt() != kVersion)
    return Status::error(err(mpath, "unsupported manifest version " +
                                        std::to_string(version->asInt())));
  int64_t dirStep;
  if (parseStep(stripRunDir(dir), "checkpoint-", &dirStep) &&
      dirStep != step->asInt())
    return Status::error(err(mpath, "manifest is for step " +
                                        std::to_string(step->asInt()) +
                                        ", directory for step " +
                                        std::to_string(dirStep)));
  bool haveModel = false, haveState = false;
  for (const json::Value &f : files->items()) {
    const json::Value *name = f.find("name");
    const json::Value *size = f.find("size");
    const json::Value *sha = f.find("sha256");
    if (!f.isObject() || !name || !name->isString() || !size ||
        !size->isInt() || !sha || !sha->isString() ||
        !flatName(name->asString()))
      return Status::error(err(mpath, "bad file entry"));
    const std::string &n = name->asString();
    haveModel |= n == "model.safetensors";
    haveState |= n == "state.json";
    std::string path = dir + "/" + n;
    struct stat fst;
    if (::stat(path.c_str(), &fst) != 0)
      return Status::error(err(dir, n + " is missing"));
    if (!S_ISREG(fst.st_mode))
      return Status::error(
          err(dir, n + " is not a regular file (" +
                       (S_ISDIR(fst.st_mode)    ? "a directory"
                        : S_ISFIFO(fst.st_mode) ? "a FIFO"
                                                : "a device or socket") +
                       "; a checkpoint holds the files it wrote)"));
    if (static_cast<int64_t>(fst.st_size) != size->asInt())
      return Status::error(err(dir, n + " has " + std::to_string(fst.st_size) +
                                        " bytes, manifest says " +
                                        std::to_string(size->asInt()) +
                                        " (truncated or rewritten)"));
    Expected<FileDigest> d = digestFile(path);
    if (!d)
      return d.status();
    if (d->sha256 != sha->asString())
      return Status::error(err(dir, n + " SHA-256 mismatch (corrupt): "
                                        "manifest " +
                                        sha->asString().substr(0, 12) +
                                        "…, file " + d->sha256.substr(0, 12) +
                                        "…"));
  }
  if (!haveModel || !haveState)
    return Status::error(
        err(mpath, "manifest lacks model.safetensors or state.json"));
  return Status::ok();
}

Expected<std::optional<Found>> latestComplete(const std::string &runDir,
                                              std::vector<std::string> *skipped,
                                              int64_t maxStep) {
  std::vector<Entry> ckpts;
  std::vector<std::string> leftovers;
  HONE_TRY(scan(runDir, &ckpts, &leftovers));
  if (skipped)
    for (const std::string &l : leftovers)
      skipped->push_back(
          "skipping " + runDir + "/" + l + ": " +
          (l.find(".tmp-") != std::string::npos
               ? "temporary directory of an interrupted save"
               : "directory of an interrupted deletion"));
  for (const Entry &e : ckpts) {
    if (e.step > maxStep)
      continue;
    std::string path = runDir + "/" + e.name;
    Status s = verify(path);
    if (s.isOk())
      return std::optional<Found>(Found{e.step, path});
    if (skipped) {
      // "PATH[/FILE]: error: WHY" -> "[FILE: ]WHY".
      std::string why = s.message();
      if (why.compare(0, path.size(), path) == 0)
        why = why.substr(path.size());
      if (!why.empty() && why[0] == '/')
        why = why.substr(1);
      size_t p = why.find(": error: ");
      if (p != std::string::npos)
        why = why.substr(0, p) + (p ? ": " : "") + why.substr(p + 9);
      skipped->push_back("skipping " + path + ": " + why);
    }
  }
  return std::optional<Found>();
}

Expected<int64_t> countCheckpointDirs(const std::string &runDir) {
  std::vector<Entry> ckpts;
  HONE_TRY(scan(runDir, &ckpts, nullptr));
  return int64_t(ckpts.size());
}

Expected<Loaded> load(const std::string &dir) {
  HONE_TRY(verify(dir));
  Loaded out;
  out.path = dir;
  Expected<SafetensorsFile> model =
      SafetensorsFile::open(dir + "/model.safetensors");
  if (!model)
    return model.status();
  out.model = model.take();
  struct stat st;
  if (::stat((dir + "/optimizer.safetensors").c_str(), &st) == 0) {
    Expected<SafetensorsFile> opt =
        SafetensorsFile::open(dir + "/optimizer.safetensors");
    if (!opt)
      return opt.status();
    out.optimizer = opt.take();
  }
  Expected<std::string> stateText = readFile(dir + "/state.json");
  if (!stateText)
    return stateText.status();
  std::string statePath = dir + "/state.json";
  json::ParseOptions po;
  po.sourceName = statePath;
  Expected<json::Value> state = json::parse(*stateText, po);
  if (!state)
    return state.status();
  const json::Value *step = state->find("step");
  if (!state->isObject() || !step || !step->isInt())
    return Status::error(err(statePath, "expected an object with \"step\""));
  out.step = step->asInt();
  out.state = state.take();
  if (::stat((dir + "/config.json").c_str(), &st) == 0) {
    Expected<std::string> ct = readFile(dir + "/config.json");
    if (!ct)
      return ct.status();
    std::string cpath = dir + "/config.json";
    po.sourceName = cpath;
    Expected<json::Value> c = json::parse(*ct, po);
    if (!c)
      return c.status();
    out.config = c.take();
  }
  return out;
}

Status rotate(const std::string &runDir, int keepLast, int64_t newestGoodStep,
              std::vector<std::string> *removed) {
  keepLast = std::max(keepLast, 1);
  std::vector<Entry> ckpts;
  HONE_TRY(scan(runDir, &ckpts, nullptr));
  int kept = 0;
  bool any = false;
  for (const Entry &e : ckpts) { // newest first
    if (e.step > newestGoodStep)
      continue;
    if (kept < keepLast) {
      ++kept;
      continue;
    }
    std::string from = runDir + "/" + e.name;
    std::string del = runDir + "/." + e.name + ".del-" +
                      std::to_string(::getpid());
    if (::rename(from.c_str(), del.c_str()) != 0)
      return Status::error(err(from, "cannot rename for deletion: " +
                                         errnoText()));
    any = true;
    HONE_TRY(removeTree(del));
    if (removed)
      removed->push_back(e.name);
  }
  if (any)
    HONE_TRY(fsyncPath(runDir, true));
  return Status::ok();
}

Status rotate(const std::string &runDir, int keepLast,
              std::vector<std::string> *removed) {
  Expected<std::optional<Found>> latest = latestComplete(runDir);
  if (!latest)
    return latest.status();
  if (!*latest)
    return Status::ok();
  return rotate(runDir, keepLast, (*latest)->step, removed);
}

} // namespace hone::checkpoint
