// The host tier of a CPU job (hone-plan-memory's decision 5, offload): an
// offloaded model's AdamW moments wait between its optimiser updates in a
// file of the run directory, RUN/offload/<model>.moments, created (zeros)
// when its stage begins and removed when the stage ends, at the job's end,
// and on a failure or a stop signal (removeAllOffloadFiles). Writes go out
// of memory, not into the page cache: with O_DIRECT where the file system
// takes it (page-aligned memory and lengths: the plan page-aligns offloaded
// moments), else write + fdatasync + posix_fadvise(DONTNEED). Every read
// checks the file is still there and whole: a removed or truncated file, a
// short read or write (disk full) is an error naming the file, never
// moments silently wrong.
#pragma once

#include "runtime/job/JobArena.h"
#include "runtime/model/Optimizer.h"

#include <memory>
#include <string>

namespace hone::job {

class OffloadFile final : public MomentStore {
public:
  /// Creates `dir`/`name`.moments of `bytes` (rounded up to a page) zeros;
  /// `dir` is created when missing. `arena`: the job's arena, whose pages
  /// the moments held are dropped when they are handed back (may be null).
  static Expected<std::shared_ptr<OffloadFile>>
  create(const std::string &dir, const std::string &name, int64_t bytes,
         std::shared_ptr<JobArena> arena);
  ~OffloadFile() override; // closes and removes the file

  Status load(int64_t at, void *dst, int64_t bytes) override;
  Status save(int64_t at, const void *src, int64_t bytes) override;
  Expected<std::shared_ptr<char>> map(bool write) override;
  void released(void *p, int64_t bytes) override;

  const std::string &path() const { return path_; }
  /// "O_DIRECT" when every transfer so far went direct, else
  /// "write+fdatasync+fadvise" (buffered, then dropped from the cache).
  std::string mode() const;
  /// Bytes read and written so far.
  int64_t bytesRead() const { return read_; }
  int64_t bytesWritten() const { return written_; }

private:
  OffloadFile() = default;
  Status checkWhole(const char *what) const;
  std::string path_;
  int fd_ = -1;       // buffered
  int direct_ = -1;   // O_DIRECT, -1 when the file system refuses it
  int64_t size_ = 0;  // the file's length (page multiple)
  int64_t read_ = 0, written_ = 0;
  bool buffered_ = false; // a transfer went buffered
  std::shared_ptr<JobArena> arena_;
};

/// Removes every offload file still open (a failure's or a stop signal's
/// exit path; async-signal-safe), and their folders when empty.
void removeAllOffloadFiles();

} // namespace hone::job
