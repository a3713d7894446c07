#include "runtime/job/Driver.h"

#include "kernels/backend/Backend.h"
#include "kernels/cpu/CpuKernels.h"
#include "runtime/checkpoint/CheckpointDir.h"
#include "runtime/formats/HfConfig.h"
#include "runtime/model/HfModel.h"
#include "runtime/observe/Report.h"
#include "runtime/observe/Trace.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <pthread.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <system_error>
#include <thread>
#include <time.h>
#include <unistd.h>

namespace hone::job {

namespace {
double nowSec() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Status mkdirs(const std::string &path) {
  std::string cur;
  for (size_t i = 0; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      if (!cur.empty() && ::mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST)
        return Status::error(path + ": error: cannot create directory " + cur +
                             ": " + std::strerror(errno));
      struct stat st;
      if (!cur.empty() && ::stat(cur.c_str(), &st) == 0 && !S_ISDIR(st.st_mode))
        return Status::error(path + ": error: " + cur +
                                 " exists and is not a directory",
                             "give --out a directory");
    }
    if (i < path.size())
      cur += path[i];
  }
  return Status::ok();
}

Status writeFileAtomic(const std::string &path, const std::string &data) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return Status::error(path + ": error: cannot write");
  size_t off = 0;
  while (off < data.size()) {
    ssize_t w = ::write(fd, data.data() + off, data.size() - off);
    if (w <= 0) {
      ::close(fd);
      return Status::error(path + ": error: write failed");
    }
    off += size_t(w);
  }
  ::fsync(fd);
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    return Status::error(path + ": error: rename failed");
  return Status::ok();
}

bool hasCheckpoints(const std::string &dir) {
  std::vector<std::string> skipped;
  auto f = loadLatestCheckpoint(dir, &skipped);
  return (f && *f) || !skipped.empty();
}

volatile std::sig_atomic_t gStopSignal = 0;
/// CLOCK_MONOTONIC nanoseconds of the first signal (lock-free: read and
/// written in the handler).
std::atomic<int64_t> gFirstStopNs{0};
/// A second signal this soon after the first is the same request delivered
/// twice: timeout(1) signals the job and then its whole process group, and
/// the second delivery used to end the job without its checkpoint (one run
/// in four, by when the handler ran). A person pressing Ctrl-C again is
/// slower than this.
constexpr int64_t kRepeatNs = 250'000'000;

int64_t monotonicNs() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts); // async-signal-safe
  return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void onStopSignal(int sig) {
  const int64_t now = monotonicNs();
  if (gStopSignal) {
    if (now - gFirstStopNs.load() < kRepeatNs)
      return;
    // A second request: the default action, once this handler returns
    // (the signal is blocked while it runs).
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    ::sigaction(sig, &dfl, nullptr);
    ::raise(sig);
    return;
  }
  gFirstStopNs.store(now);
  gStopSignal = sig;
  ::alarm(kStopGraceSeconds); // SIGALRM's default action ends a stuck step
  const char msg[] = "\nsignal received: stopping after this step with a "
                     "checkpoint (send it again to stop at once)\n";
  ssize_t w = ::write(2, msg, sizeof(msg) - 1);
  (void)w;
}

sigset_t stopSignals() {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGTERM);
  sigaddset(&s, SIGINT);
  return s;
}

/// The stop signals' handler runs on a thread of its own, never on one
/// that computes: oneDNN 2.x's JIT GEMM kernels point the stack pointer
/// into a heap buffer while they run (oneDNN issue 4845, fixed in 3.11),
/// so a handler run on such a thread wrote its signal frame into the heap,
/// and the job later died in free() ("corrupted size vs. prev_size"; 3 of
/// 21 runs of examples/arith stopped by timeout(1)). The
/// signals are blocked on the main thread before the job starts any other
/// (the OpenMP team is started by the first kernel, later; lanes too), so
/// every thread it starts inherits the mask, and unblocked on the handler's
/// thread, which only waits. (Starting the team here to block them would
/// put its stacks in the memory check's baseline, outside the plan's
/// runtime.threads row.) Threads that libraries started before (OpenBLAS's
/// pool) keep them unblocked: they run no JIT code.
void installStopHandlers() {
  const sigset_t stop = stopSignals();
  ::pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  struct sigaction sa {};
  sa.sa_handler = onStopSignal;
  sa.sa_mask = stop; // never nested: the second sees the first's flag
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  static std::once_flag started;
  static bool running = false;
  std::call_once(started, [] {
    try {
      std::thread([] {
        const sigset_t s = stopSignals();
        ::pthread_sigmask(SIG_UNBLOCK, &s, nullptr);
        for (;;)
          ::pause();
      }).detach();
      running = true;
    } catch (const std::system_error &) {
      // No thread to spare (RLIMIT_NPROC): the signals reach the main
      // thread as before, rather than never.
    }
  });
  if (!running)
    ::pthread_sigmask(SIG_UNBLOCK, &stop, nullptr);
}

// One job per run directory: an advisory lock on RUN/job.lock, held while
// the job lives (the kernel drops it when the process ends, however it
// ends; O_CLOEXEC drops it across the rollback's exec). The file names the
// holder's pid for the second job's message.
Expected<int> lockRunDir(const std::string &dir) {
  std::string path = dir + "/job.lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return Status::error(path + ": error: cannot open the run directory's "
                                "lock: " +
                         std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    char buf[32] = {0};
    ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
    ::close(fd);
    if (err != EWOULDBLOCK)
      return Status::error(path + ": error: cannot lock the run directory: " +
                           std::strerror(err));
    long holder = n > 0 ? std::strtol(buf, nullptr, 10) : 0;
    return Status::error("error: " + dir + " is in use by another job" +
                             (holder > 0
                                  ? " (pid " + std::to_string(holder) + ")"
                                  : std::string()),
                         "wait for it to end, or pass --out NEWDIR");
  }
  std::string pid = std::to_string(long(::getpid())) + "\n";
  if (::ftruncate(fd, 0) != 0 ||
      ::pwrite(fd, pid.data(), pid.size(), 0) != ssize_t(pid.size())) {
    ::close(fd);
    return Status::error(path + ": error: cannot write the lock file: " +
                         std::strerror(errno));
  }
  return fd;
}

std::vector<FlatTensor> flatParams(const Transformer<float> &m,
                                   const std::string &prefix = "",
                                   const float *base = nullptr) {
  std::vector<FlatTensor> out;
  if (base) { // optimiser moments: laid out like the trainable tensors
    for (const ParamInfo &p : m.trainableParams())
      out.push_back({prefix + p.name, p.shape, base + p.offset, p.numel});
    return out;
  }
  // A LoRA model's base weights belong to (and are saved with) the model it
  // was made from; it adds its adapters, under PEFT's names.
  if (m.frozenBf16()) // bf16 matrices as they are stored
    for (const ParamInfo &p : m.params())
      out.push_back({prefix + p.name, p.shape,
                     p.shape.size() == 1 ? m.vecParam(p) : nullptr, p.numel,
                     p.shape.size() == 1 ? nullptr : m.bf16Param(p)});
  else if (!m.hasLora())
    for (const ParamInfo &p : m.params())
      out.push_back({prefix + p.name, p.shape, m.paramData() + p.offset,
                     p.numel});
  for (const ParamInfo &p : m.loraParams())
    out.push_back({prefix + p.name, p.shape, m.loraData() + p.offset,
                   p.numel});
  return out;
}
} // namespace

bool stopRequested() { return gStopSignal != 0; }
void requestStop() {
  if (!gStopSignal)
    gStopSignal = SIGTERM;
}

std::string jobUsage(const std::string &argv0) {
  return "usage: " + argv0 +
         " [--device cpu|cuda|auto] [--out DIR] [--resume]\n"
         "       [--progress auto|bar|lines|off] [--threads N]\n"
         "       [--lanes auto|on|off] [--trace]\n"
         "  --trace  record every step op (lane, start, end, output bytes) "
         "as RUN/trace.json\n"
         "           (Chrome trace-event format; drawn in report.html)\n";
}

Expected<JobArgs> parseJobArgs(int argc, const char *const *argv) {
  JobArgs a;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i], val;
    bool hasVal = false;
    size_t eq = arg.find('=');
    if (arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      val = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      hasVal = true;
    }
    auto value = [&](std::string &out) -> Status {
      if (hasVal) {
        out = val;
        return Status::ok();
      }
      if (i + 1 >= argc)
        return Status::error("error: " + arg + " needs a value");
      out = argv[++i];
      return Status::ok();
    };
    auto integer = [&](const std::string &s, int64_t &out) -> Status {
      char *end = nullptr;
      errno = 0;
      long long v = std::strtoll(s.c_str(), &end, 10);
      if (s.empty() || *end || errno || v < 0)
        return Status::error("error: " + arg + ": '" + s +
                             "' is not a non-negative integer");
      out = v;
      return Status::ok();
    };
    if (arg == "--help" || arg == "-h") {
      a.help = true;
    } else if (arg == "--resume" && !hasVal) {
      a.resume = true;
    } else if (arg == "--trace" && !hasVal) {
      a.trace = true;
    } else if (arg == "--device") {
      HONE_TRY(value(a.device));
      if (a.device != "cpu" && a.device != "cuda" && a.device != "auto")
        return Status::error("error: --device: unknown device '" + a.device +
                             "'",
                             "use cpu, cuda or auto");
    } else if (arg == "--out") {
      HONE_TRY(value(a.outDir));
      if (a.outDir.empty())
        return Status::error("error: --out: empty directory name");
    } else if (arg == "--progress") {
      HONE_TRY(value(a.progress));
      if (a.progress != "auto" && a.progress != "bar" &&
          a.progress != "lines" && a.progress != "off")
        return Status::error("error: --progress: unknown mode '" + a.progress +
                             "'",
                             "use auto, bar, lines or off");
    } else if (arg == "--lanes") {
      std::string v;
      HONE_TRY(value(v));
      if (v != "auto" && v != "on" && v != "off")
        return Status::error("error: --lanes: unknown mode '" + v + "'",
                             "use on (steps on lane threads), off (every "
                             "step in order on the main thread) or auto");
      a.lanes = v;
    } else if (arg == "--threads") {
      std::string v;
      HONE_TRY(value(v));
      int64_t n = 0;
      HONE_TRY(integer(v, n));
      if (n > kMaxThreads)
        return Status::error("error: --threads: " + v + " is more than " +
                                 std::to_string(kMaxThreads),
                             "use 0 for all cores, or at most " +
                                 std::to_string(kMaxThreads));
      a.threads = int(n);
    } else if (arg == "--steps-override") {
      std::string v;
      HONE_TRY(value(v));
      std::string stage;
      size_t e = v.find('=');
      if (e != std::string::npos) {
        stage = v.substr(0, e);
        v = v.substr(e + 1);
      }
      int64_t n = 0;
      HONE_TRY(integer(v, n));
      a.stepsOverride.push_back({stage, n});
    } else {
      return Status::error("error: unknown option '" + std::string(argv[i]) +
                               "'",
                           "run with --help for the options");
    }
  }
  return a;
}

Job::~Job() {
  if (lockFd_ >= 0)
    ::close(lockFd_);
}

Expected<std::unique_ptr<Job>> Job::open(const JobArgs &args,
                                         const JobConfig &config) {
  std::unique_ptr<Job> j(new Job());
  j->args_ = args;
  j->cfg_ = config;
  j->startTime_ = nowSec();
  if (args.trace)
    j->trace_ = std::make_unique<observe::TraceRecorder>();
  if (args.threads < 0 || args.threads > kMaxThreads)
    return Status::error("error: hardware.threads: " +
                             std::to_string(args.threads) +
                             " is not in [0, " + std::to_string(kMaxThreads) +
                             "]",
                         "use 0 for all cores");
  if (args.threads > 0)
    setCpuThreads(args.threads);
  // cuda: the CUDA backend on device 0. auto stays on the CPU until the job
  // is device-clean: checkpoint save/resume still read and write model and
  // optimizer memory from the host (flatParams, resume reads), which device
  // memory does not allow (docs/cuda.md).
  auto kernels = makeKernels(args.device == "cuda" ? "cuda" : "cpu");
  if (!kernels)
    return Status::error("error: --device " + args.device + ": " +
                             kernels.status().message(),
                         kernels.status().hint());
  j->kernels_ = kernels.take();
  j->runDir_ = args.outDir.empty() ? config.defaultOutDir : args.outDir;
  HONE_TRY(mkdirs(j->runDir_));
  auto lock = lockRunDir(j->runDir_);
  if (!lock)
    return lock.status();
  j->lockFd_ = *lock;
  installStopHandlers();
  j->checkpointDir_ = config.checkpointSubdir.empty()
                          ? j->runDir_
                          : j->runDir_ + "/" + config.checkpointSubdir;
  HONE_TRY(mkdirs(j->checkpointDir_));

  std::optional<int64_t> resumeStep;
  if (args.resume) {
    std::vector<std::string> skipped;
    // With ranks, each has its own checkpoints (a kill can land between
    // two ranks' saves): all continue from the newest step every rank has.
    // Each round every rank proposes its newest step up to the smallest
    // proposal of the round before; they agree when all proposals match.
    int64_t bound = INT64_MAX;
    std::vector<int64_t> first;
    while (config.allRanks) {
      auto mine = latestCheckpointStep(
          j->checkpointDir_, first.empty() ? &skipped : nullptr, bound);
      if (!mine)
        return mine.status();
      // -2: this rank has checkpoints and every one is damaged (the first
      // round only), which every rank then refuses alike.
      if (first.empty() && *mine < 0) {
        auto dirs = checkpoint::countCheckpointDirs(j->checkpointDir_);
        if (!dirs)
          return dirs.status();
        if (*dirs > 0)
          mine = int64_t(-2);
      }
      std::vector<int64_t> all = config.allRanks(*mine);
      if (first.empty()) {
        first = all;
        for (size_t r = 0; r < all.size(); ++r)
          if (all[r] == -2) {
            for (const std::string &s : skipped)
              std::fprintf(stderr, "%s\n", s.c_str());
            return Status::error(
                "error: rank " + std::to_string(r) +
                    ": none of its checkpoints can be resumed (each is "
                    "damaged; that rank's lines above say why)",
                "remove the damaged checkpoint-<step> directories of "
                "every rank to start this run afresh in it, or --out "
                "NEWDIR");
          }
      }
      bound = *std::min_element(all.begin(), all.end());
      if (bound == *std::max_element(all.begin(), all.end()))
        break;
    }
    auto found = loadLatestCheckpoint(
        j->checkpointDir_, first.empty() ? &skipped : nullptr, bound);
    if (!found)
      return found.status();
    for (const std::string &s : skipped)
      std::fprintf(stderr, "%s\n", s.c_str());
    std::string differ; // said on the one line below
    if (!first.empty() &&
        *std::max_element(first.begin(), first.end()) > bound) {
      for (int64_t s : first)
        differ += (differ.empty() ? "" : ", ") +
                  (s < 0 ? std::string("none") : std::to_string(s));
      differ = "the newest step all " + std::to_string(first.size()) +
               " ranks have (each rank's newest: " + differ + ")";
    }
    if (*found) {
      j->resume_ = std::move(**found);
      const json::Value &st = j->resume_->state();
      const json::Value *stage = st.find("stage"),
                        *stageStep = st.find("stage_step"),
                        *global = st.find("global_step");
      if (!stage || !stage->isInt() || !stageStep || !stageStep->isInt() ||
          !global || !global->isInt())
        return Status::error(j->resume_->path() +
                             "/state.json: error: missing stage, stage_step "
                             "or global_step");
      if (stage->asInt() < 0 || stageStep->asInt() < 0 ||
          global->asInt() != j->resume_->step())
        return Status::error(
            j->resume_->path() + "/state.json: error: stage " +
                std::to_string(stage->asInt()) + ", stage_step " +
                std::to_string(stageStep->asInt()) + " or global_step " +
                std::to_string(global->asInt()) +
                " does not fit a checkpoint of step " +
                std::to_string(j->resume_->step()),
            "remove this checkpoint directory to resume from an older one");
      j->resumeStage_ = stage->asInt();
      j->resumeStageStep_ = stageStep->asInt();
      resumeStep = j->resume_->step();
      std::fprintf(stderr, "resuming from %s (step %lld)%s%s\n",
                   j->resume_->path().c_str(), (long long)*resumeStep,
                   differ.empty() ? "" : ", ", differ.c_str());
    } else if (!differ.empty()) {
      std::fprintf(stderr,
                   "no checkpoint every rank has in %s (%s): "
                   "starting fresh\n",
                   j->checkpointDir_.c_str(),
                   differ
                       .substr(differ.find('(') + 1,
                               differ.size() - differ.find('(') - 2)
                       .c_str());
    } else {
      // Every checkpoint there failed to verify: starting fresh would
      // overwrite the run's metrics and exports with a new run's, so the
      // user decides (a directory without checkpoints, or with only an
      // interrupted first save, starts fresh).
      auto dirs = checkpoint::countCheckpointDirs(j->checkpointDir_);
      if (!dirs)
        return dirs.status();
      if (*dirs > 0)
        return Status::error(
            "error: " + j->checkpointDir_ + ": none of its " +
                std::to_string(*dirs) +
                " checkpoint(s) can be resumed (each is damaged: see the "
                "lines above)",
            "remove the damaged checkpoint-<step> directories to start "
            "this run afresh in it, or --out NEWDIR");
      std::fprintf(stderr, "no complete checkpoint in %s: starting fresh\n",
                   j->checkpointDir_.c_str());
    }
  } else if (hasCheckpoints(j->checkpointDir_)) {
    return Status::error("error: " + j->checkpointDir_ +
                             " already holds checkpoints of another run",
                         "pass --resume to continue it, or --out NEWDIR");
  }
  HONE_TRY(writeFileAtomic(j->runDir_ + "/spec.resolved.textproto",
                           config.specText));
  observe::MetricsOptions mo;
  if (resumeStep) {
    mo.resumeStep = *resumeStep;
    if (const json::Value *b = j->resume_->state().find("metrics_bytes");
        b && b->isInt())
      mo.resumeBytes = b->asInt();
  } else {
    mo.resumeStep = 0; // a fresh run keeps nothing of an old file
  }
  auto m = observe::MetricsLogger::open(j->runDir_, mo);
  if (!m)
    return m.status();
  j->metrics_.emplace(m.take());
  return j;
}

std::optional<int64_t> Job::resumedStep() const {
  if (!resume_)
    return std::nullopt;
  return resume_->step();
}

int64_t Job::stageSteps(const std::string &stage, int64_t steps) const {
  for (const auto &[name, n] : args_.stepsOverride)
    if (name.empty() || name == stage)
      steps = n;
  return steps;
}

Status Job::restore(const StageObjects &objs) {
  const LoadedCheckpoint &c = *resume_;
  bool first = true;
  for (const auto &[name, m] : objs.models) {
    if (m->frozenBf16()) // read widened, stored rounded (exact: bf16 values)
      for (const ParamInfo &p : m->params()) {
        std::vector<float> tmp(size_t(p.numel));
        HONE_TRY(c.read(first ? "" : name, p.name, p.shape, tmp.data()));
        HONE_TRY(
            m->setParam(p.name, Tensor::view(tmp.data(), p.shape, DType::F32)));
      }
    else if (!m->hasLora()) // a LoRA model's base is its base model's
      for (const ParamInfo &p : m->params())
        HONE_TRY(c.read(first ? "" : name, p.name, p.shape, m->param(p)));
    for (const ParamInfo &p : m->loraParams())
      HONE_TRY(c.read(first ? "" : name, p.name, p.shape,
                      m->loraData() + p.offset));
    first = false;
  }
  const json::Value &st = c.state();
  for (const auto &[name, opt] : objs.optimizers) {
    // the optimizer's model is found through its moments' layout
    const json::Value *steps = st.find("optimizers");
    const json::Value *t = steps ? steps->find(name) : nullptr;
    if (!t || !t->isInt())
      return Status::error(c.path() + "/state.json: error: no step count of "
                                      "optimizer '" +
                           name + "'");
    opt->setStepCount(t->asInt());
  }
  const json::Value *cursors = st.find("data");
  for (const auto &[name, dl] : objs.loaders) {
    const json::Value *cur = cursors ? cursors->find(name) : nullptr;
    if (!cur)
      return Status::error(c.path() + "/state.json: error: no cursor of "
                                      "dataset '" +
                           name + "'");
    HONE_TRY(dl->setCursorJson(*cur));
  }
  if (objs.restoreExtra) {
    const json::Value *extra = st.find("extra");
    if (!extra)
      return Status::error(c.path() + "/state.json: error: no extra state");
    HONE_TRY(objs.restoreExtra(*extra));
  }
  const json::Value *g = st.find("global_step");
  globalStep_ = g->asInt();
  return Status::ok();
}

Expected<int64_t> Job::beginStage(const std::string &name, int64_t steps,
                                  StageObjects objects) {
  ++stage_;
  stageName_ = name;
  stageTotal_ = steps;
  objects_ = std::move(objects);
  int64_t start = 0;
  if (resume_ && resumeStage_ > stage_) {
    start = steps; // a later stage's checkpoint exists: this one is done
  } else if (resume_ && resumeStage_ == stage_) {
    const json::Value *was = resume_->state().find("stage_name");
    if (was && was->isString() && was->asString() != name)
      return Status::error(resume_->path() +
                               "/state.json: error: the checkpoint is of "
                               "stage '" +
                               was->asString() + "', this stage is '" + name +
                               "'",
                           "resume with the spec the run started with");
    if (resumeStageStep_ > steps)
      return Status::error(
          resume_->path() + "/state.json: error: the checkpoint is at step " +
              std::to_string(resumeStageStep_) + " of stage '" + name +
              "', which has " + std::to_string(steps) + " steps",
          "resume with the spec the run started with");
    HONE_TRY(restore(objects_));
    // optimizer moments
    for (const auto &[oname, opt] : objects_.optimizers) {
      Transformer<float> *model = nullptr;
      for (const auto &[mname, m] : objects_.models)
        if (mname == oname)
          model = m;
      if (!model)
        return Status::error("error: optimizer '" + oname +
                             "' has no model of the same name");
      // Offloaded moments are read into their file, mapped.
      std::shared_ptr<void> hold;
      auto mv = opt->momentsForIO(true, &hold);
      if (!mv)
        return mv.status();
      for (const ParamInfo &p : model->trainableParams()) {
        HONE_TRY(resume_->read("optimizer", oname + ".m." + p.name, p.shape,
                               mv->first + p.offset));
        HONE_TRY(resume_->read("optimizer", oname + ".v." + p.name, p.shape,
                               mv->second + p.offset));
      }
    }
    start = resumeStageStep_;
  }
  observe::ProgressOptions po;
  po.totalSteps = steps;
  po.label = name;
  po.logInterval = cfg_.logEvery;
  po.mode = args_.progress == "bar"     ? observe::ProgressOptions::Mode::Bar
            : args_.progress == "lines" ? observe::ProgressOptions::Mode::Lines
            : args_.progress == "off"   ? observe::ProgressOptions::Mode::Off
                                        : observe::ProgressOptions::Mode::Auto;
  progress_ = std::make_unique<observe::Progress>(po);
  stageDone_ = std::min(start, steps);
  return stageDone_;
}

Status Job::endStep(int64_t stageStep, const observe::MetricValues &values,
                    int64_t tokens) {
  ++globalStep_;
  stageDone_ = stageStep;
  observe::MetricValues v = values;
  v.push_back({"stage", double(stage_)});
  HONE_TRY(metrics_->log(globalStep_, v, {stageName_, stageModels_}));
  if (progress_)
    progress_->update(stageStep, values, tokens);
  bool due = stageStep == stageTotal_ ||
             (cfg_.checkpointEvery > 0 && stageStep % cfg_.checkpointEvery == 0);
  if (stopRequested()) {
    // Due or not: a due step's save below is never reached from here (a
    // signal at a checkpoint step used to write none, yet say it had).
    HONE_TRY(saveCheckpoint(stageStep));
    ::alarm(0);
    HONE_TRY(writeTrace());
    stopped_ = true;
    warn("stopped by a signal after step " + std::to_string(globalStep_) +
         ": checkpoint written to " + checkpointDir_ +
         "; continue with --resume");
    return Status::ok();
  }
  if (due)
    HONE_TRY(saveCheckpoint(stageStep));
  return Status::ok();
}

Status Job::saveCheckpoint(int64_t stageStep) {
  CheckpointContents c;
  c.step = globalStep_;
  bool first = true, peftWritten = false;
  for (const auto &[name, m] : objects_.models) {
    if (first) {
      c.model = flatParams(*m);
      c.config = modelConfigToHfJson(m->config());
    } else {
      c.extraModels.push_back({name, flatParams(*m)});
    }
    first = false;
    if (m->hasLora() && !peftWritten) {
      // PEFT's files of the (first) LoRA model, as TRL's checkpoints have.
      auto files = loraAdapterFiles(*m);
      if (!files)
        return files.status();
      for (auto &f : *files)
        c.extraFiles.push_back(std::move(f));
      peftWritten = true;
    }
  }
  json::Value opts = json::Value::object();
  // Offloaded moments: their file mapped while the checkpoint is written.
  std::vector<std::shared_ptr<void>> holds;
  for (const auto &[oname, opt] : objects_.optimizers) {
    for (const auto &[mname, m] : objects_.models)
      if (mname == oname) {
        holds.emplace_back();
        auto mv = opt->momentsForIO(false, &holds.back());
        if (!mv)
          return mv.status();
        auto mt = flatParams(*m, oname + ".m.", mv->first);
        auto vt = flatParams(*m, oname + ".v.", mv->second);
        c.optimizer.insert(c.optimizer.end(), mt.begin(), mt.end());
        c.optimizer.insert(c.optimizer.end(), vt.begin(), vt.end());
      }
    opts.set(oname, opt->stepCount());
  }
  json::Value data = json::Value::object();
  for (const auto &[name, dl] : objects_.loaders)
    data.set(name, dl->cursorJson());
  json::Value st = json::Value::object();
  st.set("stage", int64_t(stage_));
  st.set("stage_name", stageName_);
  st.set("stage_step", stageStep);
  st.set("global_step", globalStep_);
  // The metrics rows up to this checkpoint: a resume keeps these and drops
  // rows of this step written after it, which it writes again.
  if (metrics_)
    if (int64_t bytes = metrics_->jsonlBytes(); bytes >= 0)
      st.set("metrics_bytes", bytes);
  st.set("optimizers", std::move(opts));
  st.set("data", std::move(data));
  if (objects_.saveExtra)
    st.set("extra", objects_.saveExtra());
  json::Value rng = json::Value::object();
  rng.set("seed", std::to_string(cfg_.seed));
  rng.set("step", globalStep_);
  st.set("rng", std::move(rng));
  c.state = std::move(st);
  c.extraFiles.push_back({"spec.resolved.textproto", cfg_.specText});
  auto p = writeCheckpointDir(checkpointDir_, c, cfg_.keepLast);
  if (!p)
    return p.status();
  return Status::ok();
}

void Job::endStage() {
  if (progress_)
    progress_->finish();
  progress_.reset();
}

void Job::warn(const std::string &text) {
  if (progress_)
    progress_->message(text, /*warning=*/true);
  else
    std::fprintf(stderr, "%s\n", text.c_str());
}

void Job::message(const std::string &text) {
  if (progress_)
    progress_->message(text);
  else
    std::fprintf(stderr, "%s\n", text.c_str());
}

namespace {
/// Dotted-key rows of a JSON value: objects recurse, everything else is
/// printed as JSON text (strings without their quotes).
void flattenSettings(const json::Value &v, const std::string &key,
                     std::vector<std::pair<std::string, std::string>> &rows) {
  if (v.isObject() && v.size() > 0) {
    for (const auto &[k, member] : v.members())
      flattenSettings(member, key.empty() ? k : key + "." + k, rows);
    return;
  }
  rows.push_back({key, v.isString() ? v.asString() : json::serialize(v)});
}
} // namespace

void Job::noteStageSettings(const std::string &stage,
                            const json::Value &attrs) {
  observe::StageSettings s;
  s.stage = stage;
  flattenSettings(attrs, "", s.rows);
  stageSettings_.push_back(std::move(s));
}

Status Job::finish(
    const std::vector<std::pair<std::string, std::string>> &summary) {
  endStage();
  // A checkpoint of a stage this pipeline does not have skipped every
  // stage and export: it used to end with "done" and nothing written.
  if (resume_ && resumeStage_ > stage_)
    return Status::error(
        resume_->path() + "/state.json: error: the checkpoint is of stage " +
            std::to_string(resumeStage_) + ", and the pipeline has " +
            std::to_string(stage_ + 1) + " stage(s)",
        "resume with the spec the run started with");
  auto rows = observe::readMetricsJsonl(metrics_->jsonlPath());
  if (!rows)
    return rows.status();
  observe::ReportData rd;
  rd.title = cfg_.name + " report";
  rd.summary = summary;
  rd.summary.push_back({"run directory", runDir_});
  rd.summary.push_back({"steps", std::to_string(globalStep_)});
  char wall[32];
  std::snprintf(wall, sizeof(wall), "%.1f s", nowSec() - startTime_);
  rd.summary.push_back({"wall time (this process)", wall});
  rd.metrics = rows.take();
  rd.stageSettings = stageSettings_;
  rd.memory = memory_;
  rd.work = work_;
  rd.arenaBytes = memoryPeak_;
  rd.memoryBudgetBytes = memoryBudget_;
  rd.measuredPeakBytes = memoryMeasured_;
  if (trace_) {
    HONE_TRY(writeTrace());
    std::vector<observe::TraceEvent> events = trace_->events();
    rd.schedule = observe::spansFromEvents(events);
    for (const observe::PlannedStage &ps : lanePlan_)
      rd.planned.push_back({ps.stage, observe::plannedSpans(ps, events)});
  }
  HONE_TRY(observe::writeReport(runDir_ + "/report.html", rd));
  std::fprintf(stderr, "done: %s/report.html\n", runDir_.c_str());
  return Status::ok();
}

Status Job::writeTrace() {
  if (!trace_)
    return Status::ok();
  return writeFileAtomic(
      runDir_ + "/trace.json",
      observe::chromeTraceJson(trace_->events(), trace_->dropped()));
}

Status copyWeights(const Transformer<float> &src, Transformer<float> &dst) {
  if (src.numParams() != dst.numParams())
    return Status::error("error: copy weights: models differ in size");
  if (src.frozenBf16() || dst.frozenBf16()) { // one tensor at a time
    for (const ParamInfo &p : src.params()) {
      auto t =
          src.getParam(p.name, dst.frozenBf16() ? DType::BF16 : DType::F32);
      if (!t)
        return t.status();
      HONE_TRY(dst.setParam(p.name, *t));
    }
    return Status::ok();
  }
  src.kernels().copy(dst.paramData(), src.paramData(), src.numParams());
  return Status::ok();
}

} // namespace hone::job
