#include "runtime/job/MemoryCheck.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

namespace hone::job {

namespace {
/// A "VmXXX:   1234 kB" line of /proc/self/status, in bytes.
int64_t statusField(const char *field) {
  FILE *f = std::fopen("/proc/self/status", "r");
  if (!f)
    return 0;
  char line[256];
  int64_t kb = 0;
  size_t n = std::strlen(field);
  while (std::fgets(line, sizeof line, f))
    if (std::strncmp(line, field, n) == 0 && line[n] == ':') {
      kb = std::atoll(line + n + 1);
      break;
    }
  std::fclose(f);
  return kb * 1024;
}
} // namespace

/// Anonymous resident bytes from an open /proc/self/statm: its second field
/// (resident pages) minus its third (shared: file-backed and shmem pages).
int64_t MemoryCheck::anonymousFrom(int fd) {
  char buf[128];
  ssize_t n = fd >= 0 ? pread(fd, buf, sizeof buf - 1, 0) : -1;
  if (n <= 0)
    return 0;
  buf[n] = 0;
  long long size = 0, resident = 0, shared = 0;
  if (std::sscanf(buf, "%lld %lld %lld", &size, &resident, &shared) != 3)
    return 0;
  static const long page = sysconf(_SC_PAGESIZE);
  return std::max<int64_t>(0, int64_t(resident - shared)) * int64_t(page);
}

int64_t MemoryCheck::anonymousBytes() {
  int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  int64_t n = anonymousFrom(fd);
  if (fd >= 0)
    close(fd);
  return n;
}

MemoryCheck::~MemoryCheck() {
  stop();
  if (statmFd_ >= 0)
    close(statmFd_);
}

void MemoryCheck::sample() {
  int64_t now = anonymousFrom(statmFd_);
  int64_t peak = anonPeak_.load(std::memory_order_relaxed);
  while (now > peak &&
         !anonPeak_.compare_exchange_weak(peak, now, std::memory_order_relaxed))
    ;
}

void MemoryCheck::stop() {
  if (!sampler_.joinable())
    return;
  stop_ = true;
  sampler_.join();
  sample();
}

std::string formatBytes(int64_t bytes) {
  return observe::formatBytes(uint64_t(std::max<int64_t>(bytes, 0)));
}

int64_t MemoryCheck::residentBytes() { return statusField("VmRSS"); }
int64_t MemoryCheck::residentPeakBytes() { return statusField("VmHWM"); }

std::string MemoryCheck::begin(const json::Value *plan) {
  // The sampler first, so that its stack is part of the baseline.
  statmFd_ = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (statmFd_ >= 0 && !sampler_.joinable())
    sampler_ = std::thread([this] {
      while (!stop_) {
        sample();
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    });
  baseline_ = residentBytes();
  anonBaseline_ = anonymousFrom(statmFd_);
  sample();
  if (!plan)
    return "";
  if (!plan->isObject())
    return "memory_plan: expected an object";
  auto whole = [](const json::Value *v) { return v && v->isInt(); };
  const json::Value *peak = plan->find("peak_bytes");
  const json::Value *points = plan->find("points");
  // Schedule positions index the report's timeline: bounded.
  constexpr int64_t kMaxPoints = int64_t(1) << 20;
  if (!whole(peak) || peak->asInt() < 0 || !whole(points) ||
      points->asInt() < 0 || points->asInt() > kMaxPoints)
    return "memory_plan: peak_bytes and points must be integers >= 0 "
           "(points at most 2^20)";
  plannedPeak_ = peak->asInt();
  points_ = points->asInt();
  if (const json::Value *st = plan->find("stages"); st && st->isArray())
    for (const json::Value &e : st->items()) {
      const json::Value *n = e.isObject() ? e.find("name") : nullptr;
      const json::Value *at = e.isObject() ? e.find("point") : nullptr;
      const json::Value *end = e.isObject() ? e.find("end") : nullptr;
      if (n && n->isString() && whole(at))
        stages_.push_back({n->asString(), at->asInt(),
                           whole(end) ? end->asInt() : points_ - 1});
    }
  if (const json::Value *p = plan->find("budget_bytes"); p && p->isNumber())
    budget_ = p->asInt();
  auto num = [](const json::Value &o, const char *key) -> int64_t {
    const json::Value *v = o.find(key);
    return v && v->isInt() ? v->asInt() : -1; // missing or not whole: bad
  };
  if (const json::Value *rs = plan->find("release_at_step_end");
      rs && rs->isArray())
    for (const json::Value &r : rs->items())
      if (r.isString())
        releaseAtStepEnd_.push_back(r.asString());
  if (const json::Value *ds = plan->find("decisions"); ds && ds->isArray())
    for (const json::Value &d : ds->items())
      if (d.isString())
        decisions_.push_back(d.asString());
  if (const json::Value *bs = plan->find("buffers"); bs && bs->isArray())
    for (const json::Value &b : bs->items()) {
      const json::Value *kind = b.isObject() ? b.find("kind") : nullptr;
      const json::Value *name = b.isObject() ? b.find("name") : nullptr;
      if (!kind || !kind->isString() || !name || !name->isString())
        continue;
      int64_t bytes = num(b, "bytes"), first = num(b, "first"),
              last = num(b, "last"), offset = num(b, "offset");
      if (bytes < 0 || offset < 0 || first < 0 || last < first ||
          last >= points->asInt())
        return "memory_plan: buffer '" + name->asString() +
               "' has a negative size or offset, or a live range outside "
               "the plan's points";
      int64_t &largest = largestPlanned_[kind->asString()];
      largest = std::max(largest, bytes);
      observe::MemoryBuffer mb;
      mb.name = name->asString();
      mb.kind = kind->asString();
      mb.size = uint64_t(bytes);
      mb.offset = uint64_t(offset);
      mb.firstUse = first;
      mb.lastUse = last;
      if (const json::Value *pl = b.find("placed"); pl && pl->isBool())
        mb.placed = pl->asBool();
      buffers_.push_back(mb);
    }
  return "";
}

std::vector<std::pair<int64_t, int64_t>>
MemoryCheck::placedInStage(const std::string &stage) const {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (const StagePoints &st : stages_) {
    if (st.name != stage)
      continue;
    // Live at one of the stage's points, its begin to its end (buffers
    // of ops between stages lease their bytes when they run).
    const int64_t lo = st.begin, hi = st.end;
    for (const observe::MemoryBuffer &b : buffers_)
      if (b.placed && b.size > 0 && b.firstUse <= hi && b.lastUse >= lo)
        out.push_back({int64_t(b.offset), int64_t(b.size)});
    break;
  }
  return out;
}

int64_t MemoryCheck::measuredPeak() const {
  int64_t now = anonymousFrom(statmFd_);
  int64_t peak = std::max(now, anonPeak_.load(std::memory_order_relaxed));
  return peak > anonBaseline_ ? peak - anonBaseline_ : 0;
}

int64_t MemoryCheck::residentPeak() const {
  int64_t hwm = residentPeakBytes();
  return hwm > baseline_ ? hwm - baseline_ : 0;
}

void MemoryCheck::noteHeld(const std::string &name, const std::string &kind,
                           int64_t bytes) {
  if (!planned() || bytes <= 0)
    return;
  auto it = largestPlanned_.find(kind);
  int64_t plan = it == largestPlanned_.end() ? 0 : it->second;
  if (bytes > plan)
    unplanned_.push_back(name + " " + kind + ": " + formatBytes(bytes) +
                         " held, the plan's largest " + kind + " buffer is " +
                         formatBytes(plan));
}

std::string MemoryCheck::verdict() const {
  if (!planned())
    return "";
  if (misses_ > 0)
    return "memory: " + std::to_string(misses_) +
           " work buffer(s) could not go where the compiled plan put them "
           "(first: " + firstMiss_ +
           "): memory the plan does not hold; the plan and the runtime "
           "disagree on a buffer's size or live range";
  int64_t measured = measuredPeak();
  double limit = double(plannedPeak_) * (1 + kTolerance) + double(kSlackBytes);
  if (double(measured) <= limit)
    return "";
  std::string what =
      unplanned_.empty()
          ? "no planned buffer grew past its plan: the excess is memory "
            "outside the plan (thread stacks, library buffers)"
          : "unplanned: " + unplanned_.front() +
                (unplanned_.size() > 1
                     ? " (and " + std::to_string(unplanned_.size() - 1) +
                           " more)"
                     : "");
  return "memory: the job's anonymous resident peak " + formatBytes(measured) +
         " above its start exceeds the compiled plan's " +
         formatBytes(plannedPeak_) + " by more than 10 % + " +
         formatBytes(kSlackBytes) + "; " + what;
}

std::string MemoryCheck::summary() const {
  std::string s =
      "memory: measured peak " + formatBytes(measuredPeak()) +
      " (anonymous resident memory above the " + formatBytes(anonBaseline_) +
      " at start; whole resident "
      "set " +
      formatBytes(residentPeak()) + " above " + formatBytes(baseline_) +
      "; the runtime's threads and library buffers " + formatBytes(startup_) +
      " of it from start-up)";
  if (planned())
    s += ", planned peak " + formatBytes(plannedPeak_) + ", " +
         std::to_string(placements_) + " buffer(s) placed in its arena, " +
         std::to_string(unplanned_.size()) + " unplanned allocation(s)" +
         (unplanned_.empty() ? "" : " (first: " + unplanned_.front() + ")");
  else
    s += ", no memory plan";
  return s;
}

} // namespace hone::job
