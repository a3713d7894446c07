#include "runtime/job/Offload.h"

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace hone::job {

namespace {

constexpr int64_t kPage = 4096;
constexpr int kMaxFiles = 64;

// The files open now, for removal on exit paths that run no destructors
// (fixed slots: removeAllOffloadFiles may run from a signal's exit).
char gPaths[kMaxFiles][4096];
std::atomic<bool> gUsed[kMaxFiles];
char gDir[4096];
std::mutex gMu;

void atExit() { removeAllOffloadFiles(); }

int registerPath(const std::string &path, const std::string &dir) {
  std::lock_guard<std::mutex> g(gMu);
  static bool hooked = (std::atexit(atExit), true);
  (void)hooked;
  if (path.size() >= sizeof gPaths[0] || dir.size() >= sizeof gDir)
    return -1;
  std::memcpy(gDir, dir.c_str(), dir.size() + 1);
  for (int i = 0; i < kMaxFiles; ++i)
    if (!gUsed[i].load()) {
      std::memcpy(gPaths[i], path.c_str(), path.size() + 1);
      gUsed[i].store(true);
      return i;
    }
  return -1;
}

void unregisterPath(const std::string &path) {
  std::lock_guard<std::mutex> g(gMu);
  for (int i = 0; i < kMaxFiles; ++i)
    if (gUsed[i].load() && path == gPaths[i])
      gUsed[i].store(false);
}

std::string errnoText() { return std::strerror(errno); }

Status ioError(const std::string &path, const std::string &what) {
  return Status::error(path + ": offloaded optimiser moments: " + what,
                       "the job keeps its AdamW moments in this file "
                       "between updates (hone-plan-memory's offload under "
                       "the memory budget): leave the run directory's "
                       "offload folder alone and make room on its file "
                       "system, or raise hardware.memory_budget");
}

} // namespace

void removeAllOffloadFiles() {
  for (int i = 0; i < kMaxFiles; ++i)
    if (gUsed[i].load()) {
      ::unlink(gPaths[i]);
      gUsed[i].store(false);
    }
  if (gDir[0])
    ::rmdir(gDir); // fails, harmlessly, while another file is there
}

Expected<std::shared_ptr<OffloadFile>>
OffloadFile::create(const std::string &dir, const std::string &name,
                    int64_t bytes, std::shared_ptr<JobArena> arena) {
  std::shared_ptr<OffloadFile> f(new OffloadFile());
  f->path_ = dir + "/" + name + ".moments";
  f->arena_ = std::move(arena);
  f->size_ = (std::max<int64_t>(bytes, 1) + kPage - 1) / kPage * kPage;
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
    return ioError(dir, "cannot create the folder: " + errnoText());
  registerPath(f->path_, dir);
  f->fd_ = ::open(f->path_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
                  0600);
  if (f->fd_ < 0)
    return ioError(f->path_, "cannot create: " + errnoText());
  if (::ftruncate(f->fd_, f->size_) != 0)
    return ioError(f->path_, "cannot size to " + std::to_string(f->size_) +
                                 " bytes: " + errnoText());
  // Direct I/O where the file system takes it (tmpfs does not), unless
  // HONE_OFFLOAD_DIRECT=off.
  const char *env = std::getenv("HONE_OFFLOAD_DIRECT");
  if (!(env && std::strcmp(env, "off") == 0))
    f->direct_ = ::open(f->path_.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC);
  return f;
}

OffloadFile::~OffloadFile() {
  if (direct_ >= 0)
    ::close(direct_);
  if (fd_ >= 0)
    ::close(fd_);
  ::unlink(path_.c_str());
  unregisterPath(path_);
  ::rmdir(path_.substr(0, path_.rfind('/')).c_str()); // when empty
}

std::string OffloadFile::mode() const {
  return direct_ >= 0 && !buffered_ ? "O_DIRECT" : "write+fdatasync+fadvise";
}

Status OffloadFile::checkWhole(const char *what) const {
  struct stat st;
  if (::fstat(fd_, &st) != 0)
    return ioError(path_, std::string("cannot ") + what + ": " + errnoText());
  if (st.st_nlink == 0)
    return ioError(path_, std::string("the file was removed before the ") +
                              what + " (the moments in it are lost)");
  if (int64_t(st.st_size) < size_)
    return ioError(path_, std::string("the file was truncated to ") +
                              std::to_string(st.st_size) + " of its " +
                              std::to_string(size_) + " bytes before the " +
                              what);
  return Status::ok();
}

Status OffloadFile::load(int64_t at, void *dst, int64_t bytes) {
  HONE_TRY(checkWhole("read"));
  if (at < 0 || bytes < 0 || at + bytes > size_)
    return ioError(path_, "a read of " + std::to_string(bytes) +
                              " bytes at " + std::to_string(at) +
                              " leaves the file");
  const bool direct = direct_ >= 0 && at % kPage == 0 && bytes % kPage == 0 &&
                      reinterpret_cast<uintptr_t>(dst) % kPage == 0;
  if (!direct)
    buffered_ = true;
  char *p = static_cast<char *>(dst);
  for (int64_t done = 0; done < bytes;) {
    ssize_t n = ::pread(direct ? direct_ : fd_, p + done,
                        size_t(bytes - done), off_t(at + done));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return ioError(path_, "read " + std::to_string(done) + " of " +
                                std::to_string(bytes) + " bytes at " +
                                std::to_string(at) + ": " +
                                (n < 0 ? errnoText() : "end of file"));
    done += n;
  }
  if (!direct) // what the read brought into the page cache goes
    ::posix_fadvise(fd_, off_t(at), off_t(bytes), POSIX_FADV_DONTNEED);
  read_ += bytes;
  return Status::ok();
}

Status OffloadFile::save(int64_t at, const void *src, int64_t bytes) {
  HONE_TRY(checkWhole("write"));
  if (at < 0 || bytes < 0 || at + bytes > size_)
    return ioError(path_, "a write of " + std::to_string(bytes) +
                              " bytes at " + std::to_string(at) +
                              " leaves the file");
  const bool direct = direct_ >= 0 && at % kPage == 0 && bytes % kPage == 0 &&
                      reinterpret_cast<uintptr_t>(src) % kPage == 0;
  if (!direct)
    buffered_ = true;
  const char *p = static_cast<const char *>(src);
  for (int64_t done = 0; done < bytes;) {
    ssize_t n = ::pwrite(direct ? direct_ : fd_, p + done,
                         size_t(bytes - done), off_t(at + done));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return ioError(path_, "wrote " + std::to_string(done) + " of " +
                                std::to_string(bytes) + " bytes at " +
                                std::to_string(at) + ": " +
                                (n < 0 ? errnoText() : "no progress"));
    done += n;
  }
  // On the device before the memory goes (a direct write may still sit in
  // the drive's cache; fdatasync covers both), then out of the page cache.
  if (::fdatasync(direct ? direct_ : fd_) != 0)
    return ioError(path_, "fdatasync: " + errnoText());
  if (!direct)
    ::posix_fadvise(fd_, off_t(at), off_t(bytes), POSIX_FADV_DONTNEED);
  written_ += bytes;
  return Status::ok();
}

Expected<std::shared_ptr<char>> OffloadFile::map(bool write) {
  HONE_TRY(checkWhole(write ? "resume's read" : "checkpoint"));
  void *m = ::mmap(nullptr, size_t(size_), PROT_READ | (write ? PROT_WRITE : 0),
                   MAP_SHARED, fd_, 0);
  if (m == MAP_FAILED)
    return ioError(path_, "cannot map: " + errnoText());
  const int fd = fd_;
  const int64_t size = size_;
  // File-backed pages, not the job's anonymous memory: written back and
  // dropped from the cache when the holder goes.
  return std::shared_ptr<char>(static_cast<char *>(m),
                               [fd, size, write](char *p) {
                                 if (write)
                                   ::msync(p, size_t(size), MS_SYNC);
                                 ::munmap(p, size_t(size));
                                 if (write)
                                   ::fdatasync(fd);
                                 ::posix_fadvise(fd, 0, off_t(size),
                                                 POSIX_FADV_DONTNEED);
                               });
}

void OffloadFile::released(void *p, int64_t bytes) {
  if (!arena_ || !arena_->active())
    return;
  char *base = arena_->base();
  char *q = static_cast<char *>(p);
  if (q >= base && q + bytes <= base + arena_->size())
    arena_->dropRange(q - base, bytes);
}

} // namespace hone::job
