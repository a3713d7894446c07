#include "runtime/formats/AtomicFile.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace hone {

static std::string errnoText() { return std::strerror(errno); }

static std::string dirOf(const std::string &path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos)
    return ".";
  if (slash == 0)
    return "/";
  return path.substr(0, slash);
}

Expected<AtomicFile> AtomicFile::create(const std::string &path) {
  std::string tmpl = path + ".tmp-XXXXXX";
  int fd = ::mkstemp(tmpl.data());
  if (fd < 0)
    return Status::error(
        path + ": error: cannot create a temporary file: " + errnoText());
  ::fchmod(fd, 0644);
  return AtomicFile(path, tmpl, fd);
}

AtomicFile::AtomicFile(AtomicFile &&o) noexcept
    : path_(std::move(o.path_)), tmp_(std::move(o.tmp_)), fd_(o.fd_),
      committed_(o.committed_) {
  o.fd_ = -1;
  o.committed_ = true;
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0)
    ::close(fd_);
  if (!committed_ && !tmp_.empty())
    ::unlink(tmp_.c_str());
}

Status AtomicFile::write(const void *data, size_t size) {
  if (fd_ < 0)
    return Status::error(path_ + ": error: write after commit");
  const char *p = static_cast<const char *>(data);
  while (size > 0) {
    size_t chunk = size < (size_t(1) << 30) ? size : (size_t(1) << 30);
    ssize_t w = ::write(fd_, p, chunk);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return Status::error(path_ + ": error: write failed: " + errnoText());
    }
    p += w;
    size -= static_cast<size_t>(w);
  }
  return Status::ok();
}

Status AtomicFile::commit() {
  if (fd_ < 0)
    return Status::error(path_ + ": error: file already committed");
  if (::fsync(fd_) != 0)
    return Status::error(path_ + ": error: fsync failed: " + errnoText());
  int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0)
    return Status::error(path_ + ": error: close failed: " + errnoText());
  if (::rename(tmp_.c_str(), path_.c_str()) != 0)
    return Status::error(path_ + ": error: rename failed: " + errnoText());
  committed_ = true;
  int dfd = ::open(dirOf(path_).c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::ok();
}

Status writeFileAtomic(const std::string &path, std::string_view contents) {
  Expected<AtomicFile> f = AtomicFile::create(path);
  if (!f)
    return f.status();
  HONE_TRY(f->write(contents));
  return f->commit();
}

Expected<std::string> readFile(const std::string &path, size_t maxBytes) {
  // O_NONBLOCK: opening a FIFO for reading would wait for a writer.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return Status::error(path + ": error: cannot open: " + errnoText());
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::error(path + ": error: not a regular file");
  }
  if (static_cast<uint64_t>(st.st_size) > maxBytes) {
    ::close(fd);
    return Status::error(path + ": error: file is too large (" +
                         std::to_string(st.st_size) + " bytes)");
  }
  std::string out;
  out.resize(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < out.size()) {
    ssize_t r = ::read(fd, out.data() + got, out.size() - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    got += static_cast<size_t>(r);
  }
  ::close(fd);
  out.resize(got);
  return out;
}

} // namespace hone
