#include "runtime/job/JobArena.h"

#include "runtime/base/HugePages.h"

#include <sys/mman.h>
#include <unistd.h>

namespace hone::job {

namespace {
thread_local const std::vector<int64_t> *tPlacements = nullptr;

constexpr const char *kKindNames[] = {"activations", "kv_cache",  "workspace",
                                      "weights",     "gradients", "moments",
                                      "logits"};
static_assert(sizeof(kKindNames) / sizeof(kKindNames[0]) ==
              size_t(WorkPlacer::kKinds));
} // namespace

struct JobArena::State {
  std::mutex mu;
  char *base = nullptr;
  size_t mapped = 0;
  int64_t size = 0;
  bool huge = false;
  struct Range {
    int64_t end = 0;
    uint64_t tag = 0;
  };
  std::map<int64_t, Range> held; // by offset: leases held now
  std::map<int64_t, Range> last; // by offset: the last holder of bytes
  int64_t heldBytes = 0, peakHeld = 0;
  std::atomic<int64_t> placements{0}, misses{0};
  std::string firstMiss;

  Kernels<float> *device = nullptr; // createOnDevice: the allocator

  ~State() {
    if (base && device)
      device->freeBytes(base);
    else if (base)
      munmap(base, mapped);
  }
  void release(int64_t off) {
    std::lock_guard<std::mutex> g(mu);
    auto it = held.find(off);
    if (it != held.end()) {
      heldBytes -= it->second.end - off;
      held.erase(it);
    }
  }
};

JobArena::JobArena() : st_(std::make_shared<State>()) {}
JobArena::~JobArena() = default;

std::string JobArena::create(int64_t bytes) {
  if (bytes <= 0 || uint64_t(bytes) >= (uint64_t(1) << 46))
    return "the memory plan's arena of " + std::to_string(bytes) +
           " bytes cannot be mapped";
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  const size_t len = (size_t(bytes) + page - 1) / page * page;
  void *m = mmap(nullptr, len, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED)
    return "cannot map the memory plan's arena (" + std::to_string(bytes) +
           " bytes): " + std::strerror(errno);
  std::lock_guard<std::mutex> g(st_->mu);
  st_->base = static_cast<char *>(m);
  st_->mapped = len;
  st_->size = bytes;
  st_->huge = hugePagesOn();
  return "";
}

std::string JobArena::createOnDevice(Kernels<float> *k, int64_t bytes) {
  if (!k || bytes <= 0 || uint64_t(bytes) >= (uint64_t(1) << 46))
    return "the memory plan's arena of " + std::to_string(bytes) +
           " bytes cannot be allocated on the device";
  void *m = k->allocBytes(size_t(bytes));
  if (!m)
    return "cannot allocate the memory plan's arena (" +
           std::to_string(bytes) + " bytes) on the " + k->name() +
           " device: lower the batch size or set a memory budget";
  std::lock_guard<std::mutex> g(st_->mu);
  st_->base = static_cast<char *>(m);
  st_->mapped = size_t(bytes);
  st_->size = bytes;
  st_->device = k;
  return "";
}

bool JobArena::active() const { return st_->base != nullptr; }
char *JobArena::base() const { return st_->base; }
int64_t JobArena::size() const { return st_->size; }

std::shared_ptr<void> JobArena::lease(int64_t offset, int64_t bytes,
                                      uint64_t tag, const std::string &what,
                                      bool *fresh) {
  State &s = *st_;
  if (!s.base || offset < 0 || bytes < 0 || offset > s.size ||
      bytes > s.size - offset) {
    noteMiss(what + ": " + std::to_string(bytes) + " bytes at offset " +
             std::to_string(offset) + " leave the arena");
    return nullptr;
  }
  const int64_t end = offset + std::max<int64_t>(bytes, 1);
  {
    std::lock_guard<std::mutex> g(s.mu);
    // The first lease held now that overlaps [offset, end), if any.
    auto it = s.held.upper_bound(offset);
    if (it != s.held.begin() && std::prev(it)->second.end > offset)
      --it;
    if (it != s.held.end() && it->first < end) {
      std::string why = what + ": its planned bytes [" +
                        std::to_string(offset) + ", " + std::to_string(end) +
                        ") overlap a buffer held now (at offset " +
                        std::to_string(it->first) + ")";
      s.misses.fetch_add(1);
      if (s.firstMiss.empty())
        s.firstMiss = why;
      return nullptr;
    }
    auto l = s.last.find(offset);
    *fresh = !(l != s.last.end() && l->second.end == end &&
               l->second.tag == tag);
    if (*fresh) {
      // Forget the holders these bytes overwrite, then remember this one.
      auto it = s.last.upper_bound(offset);
      if (it != s.last.begin() && std::prev(it)->second.end > offset)
        --it;
      while (it != s.last.end() && it->first < end)
        it = s.last.erase(it);
      s.last[offset] = {end, tag};
    }
    s.held[offset] = {end, tag};
    s.heldBytes += end - offset;
    s.peakHeld = std::max(s.peakHeld, s.heldBytes);
  }
  s.placements.fetch_add(1);
  // Large buffers on transparent huge pages, as the CPU backend's own
  // (kernels/cpu/CpuKernels.cpp): faulted 2 MiB at a time the first time.
  if (s.device) { // device memory: no page advice
    std::shared_ptr<State> keep = st_;
    return std::shared_ptr<void>(s.base + offset, [keep, offset](void *) {
      keep->release(offset);
    });
  }
  constexpr int64_t kBig = int64_t(kBigBufferBytes);
  constexpr int64_t kHuge = int64_t(kHugePageBytes);
  if (*fresh && s.huge && bytes >= kBig) {
    uintptr_t lo = (reinterpret_cast<uintptr_t>(s.base + offset) + kHuge - 1) /
                   kHuge * kHuge;
    uintptr_t hi = reinterpret_cast<uintptr_t>(s.base + end) / kHuge * kHuge;
    if (hi > lo)
      madvise(reinterpret_cast<void *>(lo), hi - lo, MADV_HUGEPAGE);
  }
  // Resident from the lease on, like the kernels' allocations (populated
  // or cleared when allocated): the plan counts a placed buffer whole, and
  // the faults come here once, not inside the model's first use. Bytes a
  // buffer of the same tag had last are resident already. Kernels before
  // Linux 5.14 (no MADV_POPULATE_WRITE) fault them in on first touch.
  if (*fresh) {
    const uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
    uintptr_t lo = reinterpret_cast<uintptr_t>(s.base + offset) / page * page;
    uintptr_t hi = (reinterpret_cast<uintptr_t>(s.base + end) + page - 1) /
                   page * page;
    madvise(reinterpret_cast<void *>(lo), hi - lo, kMadvPopulateWrite);
  }
  std::shared_ptr<State> keep = st_;
  return std::shared_ptr<void>(s.base + offset, [keep, offset](void *) {
    keep->release(offset);
  });
}

void JobArena::noteMiss(const std::string &why) {
  st_->misses.fetch_add(1);
  std::lock_guard<std::mutex> g(st_->mu);
  if (st_->firstMiss.empty())
    st_->firstMiss = why;
}

void JobArena::populate(int64_t offset, int64_t bytes) {
  State &s = *st_;
  if (!s.base || offset < 0 || bytes <= 0 || offset >= s.size)
    return;
  const int64_t end = offset + std::min(bytes, s.size - offset);
  constexpr int64_t kHuge = int64_t(kHugePageBytes);
  if (s.huge && end - offset >= int64_t(kBigBufferBytes)) {
    uintptr_t lo = (reinterpret_cast<uintptr_t>(s.base + offset) + kHuge - 1) /
                   kHuge * kHuge;
    uintptr_t hi = reinterpret_cast<uintptr_t>(s.base + end) / kHuge * kHuge;
    if (hi > lo)
      madvise(reinterpret_cast<void *>(lo), hi - lo, MADV_HUGEPAGE);
  }
  const uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
  uintptr_t lo = reinterpret_cast<uintptr_t>(s.base + offset) / page * page;
  uintptr_t hi =
      (reinterpret_cast<uintptr_t>(s.base + end) + page - 1) / page * page;
  // Kernels before Linux 5.14 (no MADV_POPULATE_WRITE): write each page's
  // first byte back to itself (a held lease's contents stay).
  if (madvise(reinterpret_cast<void *>(lo), hi - lo, kMadvPopulateWrite) != 0)
    for (uintptr_t p = lo; p < hi; p += page) {
      volatile char *q = reinterpret_cast<volatile char *>(p);
      *q = *q;
    }
}

void JobArena::dropFree() {
  State &s = *st_;
  if (!s.base || s.device)
    return;
  std::lock_guard<std::mutex> g(s.mu);
  const int64_t page = int64_t(sysconf(_SC_PAGESIZE));
  auto drop = [&](int64_t lo, int64_t hi) {
    lo = (lo + page - 1) / page * page;
    hi = std::min<int64_t>(hi / page * page, int64_t(s.mapped));
    if (hi > lo)
      madvise(s.base + lo, size_t(hi - lo), MADV_DONTNEED);
  };
  int64_t at = 0;
  for (const auto &[off, r] : s.held) {
    drop(at, off);
    at = std::max(at, r.end);
  }
  drop(at, int64_t(s.mapped));
  // Dropped pages read as zero: what they held is gone.
  for (auto it = s.last.begin(); it != s.last.end();)
    it = s.held.count(it->first) ? std::next(it) : s.last.erase(it);
}

int64_t JobArena::dropRange(int64_t offset, int64_t bytes) {
  State &s = *st_;
  if (!s.base || s.device || offset < 0 || bytes <= 0 || offset >= s.size)
    return 0;
  std::lock_guard<std::mutex> g(s.mu);
  const int64_t page = int64_t(sysconf(_SC_PAGESIZE));
  const int64_t end = std::min(offset + bytes, s.size);
  int64_t dropped = 0;
  auto drop = [&](int64_t lo, int64_t hi) {
    lo = (std::max(lo, offset) + page - 1) / page * page;
    hi = std::min<int64_t>(std::min(hi, end) / page * page,
                           int64_t(s.mapped));
    if (hi > lo && madvise(s.base + lo, size_t(hi - lo), MADV_DONTNEED) == 0)
      dropped += hi - lo;
  };
  int64_t at = offset;
  for (const auto &[off, r] : s.held) {
    if (r.end <= offset || off >= end)
      continue;
    drop(at, off);
    at = std::max(at, r.end);
  }
  drop(at, end);
  // Dropped pages read as zero: the holders of these bytes are gone.
  for (auto it = s.last.begin(); it != s.last.end();)
    it = !s.held.count(it->first) && it->first < end &&
                 it->second.end > offset
             ? s.last.erase(it)
             : std::next(it);
  return dropped;
}

int64_t JobArena::placements() const { return st_->placements.load(); }
int64_t JobArena::misses() const { return st_->misses.load(); }
std::string JobArena::firstMiss() const {
  std::lock_guard<std::mutex> g(st_->mu);
  return st_->firstMiss;
}
int64_t JobArena::peakHeldBytes() const {
  std::lock_guard<std::mutex> g(st_->mu);
  return st_->peakHeld;
}
int64_t JobArena::heldBytes() const {
  std::lock_guard<std::mutex> g(st_->mu);
  return st_->heldBytes;
}

PlacementScope::PlacementScope(const std::vector<int64_t> *placements)
    : prev_(tPlacements) {
  tPlacements = placements;
}
PlacementScope::~PlacementScope() { tPlacements = prev_; }
const std::vector<int64_t> *PlacementScope::current() { return tPlacements; }

WorkPlacer::Slot ModelPlacer::slot(Kind kind) {
  const std::vector<int64_t> *p = PlacementScope::current();
  if (!p || !arena_->active())
    return {};
  for (size_t i = 0; i + 3 < p->size(); i += 4)
    if ((*p)[i] == id_ && (*p)[i + 1] == int64_t(kind)) {
      int64_t off = (*p)[i + 2], bytes = (*p)[i + 3];
      if (off < 0 || bytes <= 0 || off > arena_->size() ||
          bytes > arena_->size() - off) {
        arena_->noteMiss(name_ + " " + kKindNames[kind] +
                         ": its placement lies outside the arena");
        return {};
      }
      return {arena_->base() + off, bytes};
    }
  return {};
}

std::shared_ptr<void> ModelPlacer::take(Kind kind, Slot s, int64_t bytes,
                                        bool *fresh) {
  std::string what = name_ + " " + kKindNames[kind];
  if (!s.p || bytes > s.bytes) {
    arena_->noteMiss(what + ": needs " + std::to_string(bytes) +
                     " bytes, its planned slot holds " +
                     std::to_string(s.bytes));
    return nullptr;
  }
  return arena_->lease(static_cast<char *>(s.p) - arena_->base(), bytes,
                       uint64_t(id_) * uint64_t(kKinds) + uint64_t(kind), what,
                       fresh);
}

void ModelPlacer::unplaced(Kind kind, int64_t bytes) {
  // A planned model's state (or generation's logits) outside the plan: the
  // op running now has no slot for it (work buffers without one are the
  // model's own, as before).
  if (!arena_->active() || kind < Weights)
    return;
  arena_->noteMiss(name_ + " " + kKindNames[kind] + ": " +
                   std::to_string(bytes) +
                   " bytes with no planned slot at this op");
}

} // namespace hone::job
