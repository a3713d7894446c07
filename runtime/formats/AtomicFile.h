// Crash-safe file replacement: write to a temporary file in the target's
// directory, fsync it, rename it over the target, fsync the directory. A
// reader sees either the old file or the complete new one, never a torn one.
#pragma once

#include "runtime/base/Status.h"

#include <string>
#include <string_view>

namespace hone {

class AtomicFile {
public:
  /// Creates the temporary file next to `path`.
  static Expected<AtomicFile> create(const std::string &path);
  AtomicFile(AtomicFile &&other) noexcept;
  AtomicFile &operator=(AtomicFile &&) = delete;
  AtomicFile(const AtomicFile &) = delete;
  /// Removes the temporary file unless commit() succeeded.
  ~AtomicFile();

  Status write(const void *data, size_t size);
  Status write(std::string_view s) { return write(s.data(), s.size()); }
  /// fsync, rename over the target, fsync the directory.
  Status commit();

private:
  AtomicFile(std::string path, std::string tmp, int fd)
      : path_(std::move(path)), tmp_(std::move(tmp)), fd_(fd) {}
  std::string path_, tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

/// Writes `contents` to `path` atomically.
Status writeFileAtomic(const std::string &path, std::string_view contents);

/// Reads a whole file (for small files: configs, tokenizer.json, indexes).
Expected<std::string> readFile(const std::string &path,
                               size_t maxBytes = size_t(1) << 31);

} // namespace hone
