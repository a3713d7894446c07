// The C ABI in hone_runtime.h (docs/abi.md), the shim over the op bodies in
// runtime/ops/: start-up (arguments, configuration, MPI ranks, the NaN
// policy, lanes), the step-tensor arena, the job's end (planned vs measured
// memory, the report), and dispatch of every object, step and train op to
// its handler through the op table (runtime/abi/step_ops.inl). Stages and
// the step's end are in runtime/abi/Stages.cpp. CPU, float32.
#include "kernels/cpu/BlasCore.h"
#include "kernels/cpu/LmHeadScratch.h"
#include "runtime/abi/AbiTable.h"
#include "runtime/abi/hone_runtime.h"
#include "runtime/ops/Ops.h"

#include "runtime/model/RuntimeSizes.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <malloc.h>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <strings.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace hone;
using namespace hone::job;
using namespace hone::ops;

namespace {

// --- dispatch: one handler per row of runtime/abi/step_ops.inl ---------------

struct Handler {
  abi::OpId op;
  void (*run)(OpCtx &);
};
constexpr Handler kHandlers[] = {
    {abi::OpId::model_init, objModelInit},
    {abi::OpId::model_load, objModelLoad},
    {abi::OpId::model_new_head, objModelNewHead},
    {abi::OpId::model_lora, objModelLora},
    {abi::OpId::exec_snapshot, objSnapshot},
    {abi::OpId::dataset, objDataset},
    {abi::OpId::reward_verifier, objRewardVerifier},
    {abi::OpId::reward_model, objRewardModel},
    {abi::OpId::reward_external, objRewardExternal},
    {abi::OpId::reward_combine, objRewardCombine},
    {abi::OpId::buffer_init, objBufferInit},
    {abi::OpId::data_next, opDataNext},
    {abi::OpId::data_fetch, opDataFetch},
    {abi::OpId::generate, opGenerate},
    {abi::OpId::logprob, opLogprob},
    {abi::OpId::reference_table, opReferenceTable},
    {abi::OpId::reference_rows, opReferenceRows},
    {abi::OpId::value, opValue},
    {abi::OpId::score, opScore},
    {abi::OpId::shape_reward, opShapeReward},
    {abi::OpId::advantage, opAdvantage},
    {abi::OpId::group_accuracy, opGroupAccuracy},
    {abi::OpId::indicator, opIndicator},
    {abi::OpId::group_filter, opGroupFilter},
    {abi::OpId::buffer_push, opBufferPush},
    {abi::OpId::buffer_pop, opBufferPop},
    {abi::OpId::schedule, opSchedule},
    {abi::OpId::sync_weights, opSyncWeights},
    {abi::OpId::exec_rollouts_resume, opRolloutsResume},
    {abi::OpId::exec_rollouts_in_flight, opRolloutsInFlight},
    {abi::OpId::eval_step, opEvalStep},
    {abi::OpId::save, opSave},
    {abi::OpId::train_step, runTrainStep},
};

/// Every row but the stage's has exactly one handler (checked at compile
/// time: a new row without a handler does not build).
constexpr bool everyRowHasOneHandler() {
  for (const abi::OpRow &r : abi::kOps) {
    int n = 0;
    for (const Handler &h : kHandlers)
      n += h.op == r.id;
    if (n != (r.call == abi::Call::Stage ? 0 : 1))
      return false;
  }
  return true;
}
static_assert(everyRowHasOneHandler(),
              "runtime/abi/step_ops.inl: every object, step and train row "
              "needs one entry in kHandlers");

const char *callName(abi::Call k) {
  switch (k) {
  case abi::Call::Object: return "object";
  case abi::Call::Step: return "step";
  case abi::Call::Train: return "train";
  case abi::Call::Stage: return "stage";
  }
  return "?";
}

const char *entryName(abi::Call k) {
  switch (k) {
  case abi::Call::Object: return "hone_rt_object";
  case abi::Call::Step: return "hone_rt_step";
  case abi::Call::Train: return "hone_rt_train_step";
  case abi::Call::Stage: return "hone_rt_stage_begin";
  }
  return "?";
}

/// The row of the call's op (which must be carried by `call`), its
/// attributes parsed and checked against the row, and its handler. Any
/// disagreement is a one-line error at the op's location.
void (*lookUp(OpCtx &c, const char *attrsJson, abi::Call call))(OpCtx &) {
  const abi::OpRow *row = abi::findOp(c.op);
  if (!row)
    fail(c.j, c.loc,
         std::string("unknown ") + callName(call) + " op 'hone." + c.op +
             "' (runtime/abi/step_ops.inl lists the ops the runtime "
             "implements)");
  if (row->call != call)
    c.err(std::string(row->call == abi::Call::Object ? "an " : "a ") +
          callName(row->call) + " op, called through " +
          entryName(call));
  c.row = row;
  c.attrs = parseJson(c.j, c.loc, attrsJson, ("hone." + c.op).c_str());
  std::string bad = checkAttrs(*row, c.attrs);
  if (!bad.empty())
    c.err(bad);
  StepAttrs common; // lane and ahead (checked above: absent on object rows)
  attrs_detail::common(c.attrs, common);
  c.lane = common.lane;
  c.ahead = common.ahead ? *common.ahead : 0;
  for (const Handler &h : kHandlers)
    if (h.op == row->id)
      return h.run;
  c.err("no runtime handler"); // excluded by the static_assert
}

} // namespace

/// Brings up what the CPU backend keeps for the whole job, so that the
/// memory check measures it at start-up: the OpenMP team (a parallel
/// region), OpenBLAS's threads and packing buffers (a small GEMM) and
/// oneDNN's state and generated GEMM kernels (a GEMM with m >= 512, the
/// shape class it takes: docs/job.md). Nothing for another backend.
static void warmUpCpuLibraries(Kernels<float> &k) {
  if (k.device() != Device::CPU)
    return;
  for (int64_t m : {int64_t(64)}) {
    const int64_t n = 64, kk = 64;
    DeviceArray<float> a(&k, m * kk), b(&k, kk * n), c(&k, m * n);
    if (a.data() && b.data() && c.data())
      k.gemm(false, false, m, n, kk, 1.f, a.data(), kk, b.data(), n, 0.f,
             c.data(), n);
  }
}

/// Settings the CPU libraries read once, when they are loaded, so a job
/// sets them by re-executing itself before any work (argv, pid and open
/// files stay). Only a real ./job re-executes (argv[0] is this executable),
/// never a program that calls hone_rt_begin itself.
/// - OMP_WAIT_POLICY=passive: idle OpenMP threads sleep instead of
///   spinning. libgomp spins ~0.3 s by default after each parallel region,
///   and on a small (or shared) machine the spinning thread takes the core
///   the next serial step needs (the README example ran 10-19x slower on 2
///   busy cores; bench/RESULTS.md). A policy set by the user is kept.
/// - OPENBLAS_CORETYPE: OpenBLAS's AVX-512 kernels where it loaded older
///   ones on a CPU with AVX-512 (a CPU newer than the library: Zen 5 for
///   Debian's 0.3.21 runs its AVX2 kernels at about half the rate), or the
///   core HONE_OPENBLAS_CORE names; HONE_OPENBLAS_CORE=keep, or
///   OPENBLAS_CORETYPE set by the user, keeps OpenBLAS's own choice. The
///   kernels forced are checked against a float64 reference on the spot;
///   kernels that are not the ones asked for, or that fail the check, are
///   replaced by OpenBLAS's own choice with a note (docs/job.md,
///   "OpenBLAS's kernels"; kernels/cpu/BlasCore.h).
static void restartWithLibrarySettings(int argc, char **argv) {
  if (argc <= 0 || !argv[0])
    return;
  char self[4096], *arg0 = realpath(argv[0], nullptr);
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  bool isSelf = arg0 && n > 0 && (self[n] = 0, std::strcmp(arg0, self) == 0);
  std::free(arg0);
  if (!isSelf)
    return;
  // Set by the restart that forced a core: the core OpenBLAS chose itself.
  static const char *kDetected = "HONE_OPENBLAS_DETECTED";
  bool restart = false;
  if (const char *detected = std::getenv(kDetected)) {
    const char *asked = std::getenv("OPENBLAS_CORETYPE");
    std::string loaded = cpu::openBlasCore(), why;
    if (!asked || strcasecmp(loaded.c_str(), asked) != 0)
      why = "OpenBLAS loaded " + loaded + " instead";
    else
      why = cpu::checkOpenBlasSgemm();
    if (why.empty()) {
      std::fprintf(stderr,
                   "note: OpenBLAS runs its %s kernels (it chose %s on this "
                   "CPU; checked against a float64 reference; "
                   "HONE_OPENBLAS_CORE=keep keeps its choice)\n",
                   loaded.c_str(), detected);
      unsetenv(kDetected);
    } else {
      std::fprintf(stderr,
                   "note: OpenBLAS's %s kernels are not usable here (%s); "
                   "running its own choice, %s\n",
                   asked ? asked : "?", why.c_str(), detected);
      setenv("OPENBLAS_CORETYPE", detected, 1);
      setenv("HONE_OPENBLAS_CORE", "keep", 1);
      unsetenv(kDetected);
      restart = true;
    }
  } else {
    const char *want = std::getenv("HONE_OPENBLAS_CORE");
    std::string loaded = cpu::openBlasCore(), force;
    if (want && *want && std::strcmp(want, "keep") != 0 &&
        std::strcmp(want, "auto") != 0)
      force = strcasecmp(want, loaded.c_str()) == 0 ? "" : want;
    else if (!(want && std::strcmp(want, "keep") == 0) &&
             !std::getenv("OPENBLAS_CORETYPE") && cpu::openBlasDynamic())
      force = cpu::openBlasUpgrade(loaded, cpu::blasIsa());
    if (!force.empty() && !loaded.empty()) {
      setenv("OPENBLAS_CORETYPE", force.c_str(), 1);
      setenv(kDetected, loaded.c_str(), 1);
      restart = true;
    }
  }
  if (!std::getenv("OMP_WAIT_POLICY") && !std::getenv("GOMP_SPINCOUNT")) {
    setenv("OMP_WAIT_POLICY", "passive", 1);
    restart = true;
  }
  if (restart)
    execv("/proc/self/exe", argv); // returns only on failure: run as is
}

extern "C" {

hone_job *hone_rt_begin(int32_t abi_version, int32_t argc, char **argv,
                        const char *pipeline_name, const char *config_json,
                        const char *spec_text, const char *ir_text) {
  if (abi_version != HONE_RT_ABI_VERSION) {
    std::fprintf(stderr,
                 "error: this executable was compiled for runtime ABI v%d, "
                 "the runtime is v%d (recompile with this honec)\n",
                 int(abi_version), HONE_RT_ABI_VERSION);
    std::exit(1);
  }
  // glibc raises its mmap threshold to the size of each mapped block freed
  // (up to 32 MiB); blocks below it then come from the heap and, freed,
  // stay resident unless at its top: buffers the memory plan frees (stage
  // ends, frozen reads' activations) stayed in the resident set and new
  // ones went elsewhere (DPO measured 1.37x its plan, KTO 1.43x). glibc's
  // initial threshold, set explicitly, is never raised: large buffers are
  // mapped and unmapped, as the plan assumes (docs/runtime.md); oneDNN's
  // per-call packing buffers excepted (setCpuMmapThreshold).
  setCpuMmapThreshold(128 * 1024);
  std::string argv0 = argc > 0 && argv[0] ? argv[0] : "job";
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--version") == 0) {
      std::printf("%s (hone runtime ABI v%d)\n",
                  pipeline_name ? pipeline_name : "job", HONE_RT_ABI_VERSION);
      return nullptr;
    }
  auto args = parseJobArgs(argc, argv);
  if (args && !args->stepsOverride.empty()) // it used to be ignored
    args = Status::error("error: --steps-override: a compiled job's loop "
                         "bounds are compiled in",
                         "compile again with the steps as an override, e.g. "
                         "honec SPEC stages[0].sft.loop.steps=N");
  if (!args) {
    std::fprintf(stderr, "%s\n", args.status().toString().c_str());
    std::exit(1);
  }
  if (args->help) {
    std::printf("%s", jobUsage(argv0).c_str());
    std::printf("runs the compiled pipeline '%s'\n",
                pipeline_name ? pipeline_name : "job");
    return nullptr;
  }
  restartWithLibrarySettings(argc, argv);
  auto *j = new hone_job();
  j->mainThread = std::this_thread::get_id();
  j->args = *args;
  j->argv.assign(argv, argv + argc);
  // Fault injection for tests: the loss of these (1-based) training steps
  // reads as NaN, e.g. HONE_INJECT_NAN_STEPS=5,9.
  if (const char *inj = std::getenv("HONE_INJECT_NAN_STEPS")) {
    std::stringstream ss(inj);
    for (std::string t; std::getline(ss, t, ',');)
      if (!t.empty())
        j->injectNan.insert(std::atoll(t.c_str()));
  }
  j->config = parseJson(j, "config", config_json, "pipeline config");
  if (j->args.device == "cuda" && !haveCudaBackend()) {
    std::fprintf(stderr, "error: --device cuda: this runtime has no CUDA "
                         "backend yet (run with --device cpu)\n");
    std::exit(1);
  }
  JobConfig jc;
  jc.name = pipeline_name ? pipeline_name : "job";
  jc.specText = spec_text ? spec_text : "";
  // The run's settings as the frontend resolved them (every one present:
  // frontend/Defaults.cpp); a missing one is an error, never a default.
  j->run = settingsOf<abi::SettingsId::run>(j, "config", &j->config);
  const auto &cfg = j->run;
  auto hw = settingsOf<abi::SettingsId::hardware>(j, "config", cfg.hardware);
  auto ck =
      settingsOf<abi::SettingsId::checkpointing>(j, "config", cfg.checkpointing);
  jc.defaultOutDir = cfg.output_dir;
  // Data-parallel ranks: the spec's hardware.ranks processes, started by
  // mpirun. Each rank trains on its own share of every batch; gradients are
  // averaged over the ranks before each optimiser step, so the weights stay
  // identical. Rank 0 writes the run directory; rank r > 0 writes its own
  // copy below it (rank-<r>/: checkpoints for its resume, metrics), quietly.
  {
    const char *why = nullptr;
    if (!j->comm.init(&argc, &argv, &why))
      fail(j, "job", why);
    int64_t ranks = hw.ranks;
    j->comm.timeoutSec = hw.collective_timeout_s;
    if (ranks != j->comm.size)
      fail(j, "job",
           "the spec asks for " + std::to_string(ranks) +
               " rank(s), this job runs as " + std::to_string(j->comm.size) +
               " (start it with: mpirun -np " + std::to_string(ranks) + " " +
               argv0 + ")");
    if (j->comm.size > 1) {
      if (j->args.device == "cuda")
        fail(j, "job", "ranks > 1 run on the CPU only (use --device cpu)");
      if (j->comm.rank > 0) {
        std::string out =
            j->args.outDir.empty() ? jc.defaultOutDir : j->args.outDir;
        j->args.outDir = out + "/rank-" + std::to_string(j->comm.rank);
        j->args.progress = "off";
      }
    }
  }
  jc.seed = uint64_t(cfg.seed);
  j->seed = jc.seed;
  {
    jc.checkpointEvery = ck.every_steps;
    jc.keepLast = int(ck.keep_last);
    jc.checkpointSubdir = ck.dir;
    const std::string &nan = ck.on_nan;
    if (nan != "skip" && nan != "rollback" && nan != "abort")
      fail(j, "config", "checkpointing.on_nan: unknown policy '" + nan +
                            "' (skip, rollback, abort)");
    j->rollback = nan == "rollback";
    j->abortOnNan = nan == "abort";
    j->maxSkippedFraction = ck.max_skipped_fraction;
    j->maxSkippedInARow = ck.max_skipped_in_a_row;
    if (j->rollback && j->comm.size > 1)
      fail(j, "config",
           "checkpointing.on_nan: rollback restarts the process, which "
           "ranks > 1 cannot do yet (use on_nan: skip)");
  }
  {
    if (j->args.threads == 0)
      j->args.threads = int(std::clamp<int64_t>(hw.threads, -1,
                                                kMaxThreads + 1));
    // The spec's device unless --device names one (auto defers to it).
    const std::string &d = hw.device;
    if (j->args.device == "auto" && (d == "cpu" || d == "cuda"))
      j->args.device = d;
    // precision bf16 on the CPU: bf16 GEMMs where this CPU (not the one
    // that compiled the job) has AVX-512 BF16 or AMX, else fp32 and a note.
    if (hw.precision == "bf16" &&
        j->args.device != "cuda" && !setCpuBf16Gemm(true))
      std::fprintf(stderr,
                   "note: hardware.precision bf16: %s; training in fp32 "
                   "(frozen models stay stored in bf16, widened to fp32 in "
                   "each product)\n",
                   cpuBf16Unsupported().c_str());
  }
  setupTokenizer(j);
  if (j->comm.size > 1) // every rank's value through one sum (steps < 2^53)
    jc.allRanks = [j](int64_t v) {
      std::vector<double> all(size_t(j->comm.size), 0.0);
      all[size_t(j->comm.rank)] = double(v);
      j->comm.sum(all.data(), all.size());
      return std::vector<int64_t>(all.begin(), all.end());
    };
  auto job = Job::open(j->args, jc);
  if (!job) // "RUN: error: ..." is located already
    fail(j,
         job.status().message().find(": error: ") == std::string::npos
             ? "job"
             : kLocated,
         job.status().toString());
  j->job = job.take();
  if (j->comm.size > 1) {
    // Every rank must continue from the same step (each reads its own
    // checkpoints; Job::open agreed on the newest one all ranks have).
    double s = double(j->job->resumedStep().value_or(-1));
    if (!j->comm.same(s))
      fail(j, "job",
           "the ranks would resume from different checkpoints (this rank: " +
               (s < 0 ? std::string("none") : std::to_string(int64_t(s))) +
               "); remove the newer checkpoint-* directories so that every "
               "rank's newest complete one is the same step");
  }
  // Lanes as worker threads on the CPU; the CUDA backend (and --lanes off)
  // runs every step inline for now. auto: on with 4 or more hardware
  // threads. With 2, two busy lanes' OpenMP teams contend for the same two
  // cores and the job ran 5-10 % slower than inline (bench/lanes), unless
  // the compiler found a score that waits for an external process beside
  // other work ("lanes_pay": streamed or generated ahead), which leaves
  // the cores idle (bench/RESULTS.md, "Streaming scores").
  // With ranks > 1, every step runs on the thread that joined MPI.
  bool lanes = j->comm.size == 1 &&
               (j->args.lanes == "on" ||
                (j->args.lanes == "auto" &&
                 (std::thread::hardware_concurrency() >= 4 ||
                  cfg.lanes_pay.value_or(false))));
  if (lanes && j->args.device != "cuda") {
    j->cpuThreads = cpuThreads();
    if (const char *v = std::getenv("HONE_LANE_CORES"))
      j->splitLaneCores = std::string(v) != "shared";
    j->sched = std::make_unique<exec::Scheduler>();
    for (auto &k : j->laneKernels)
      k = makeKernels("cpu").take(); // the CPU backend is always there
  }
  // Steps that gave a non-finite loss before a rollback are skipped now.
  if (j->args.resume)
    if (auto text = readFile(j->job->runDir() + "/nan_steps.json")) {
      auto v = json::parse(*text);
      if (v && v->isArray())
        for (const json::Value &e : v->items())
          if (e.isInt())
            j->nanSteps.insert(e.asInt());
    }
  // The compiled lane plan, drawn next to the measured schedule.
  if (const json::Value *lp = cfg.lane_plan) {
    auto plan = observe::parseLanePlan(*lp);
    if (!plan)
      fail(j, "config", plan.status().message());
    j->job->setLanePlan(plan.take());
  }
  // The plan is for steps run inline at the spec's thread count (1 when
  // unset). A job that runs them on lanes holds its lane threads' own
  // memory too (malloc arenas, OpenMP teams' stacks): a row
  // `runtime.lanes` for the plan's lanes at this run's thread count
  // (memsize::laneRuntimeBytes). A job running more OpenMP threads than
  // the plan's `runtime` row was sized for adds the difference
  // (memsize::runtimeBytes): a row `runtime.threads`. Both live for the
  // whole job, outside the arena, so the planned peak grows by them. The
  // arena keeps the compiled size (its offsets).
  const json::Value *plan = cfg.memory_plan;
  json::Value withRuntime;
  int64_t arenaBytes = 0;
  if (plan && plan->isObject()) {
    const json::Value *pk = plan->find("peak_bytes");
    const json::Value *pts = plan->find("points");
    const json::Value *nl = plan->find("lanes");
    const json::Value *bufs = plan->find("buffers");
    if (pk && pk->isInt())
      arenaBytes = pk->asInt();
    std::vector<std::pair<std::string, int64_t>> rows;
    if (j->sched && nl && nl->isInt())
      rows.push_back({"runtime.lanes",
                      memsize::laneRuntimeBytes(nl->asInt(), cpuThreads())});
    if (bufs && bufs->isArray())
      for (const json::Value &b : bufs->items()) {
        const json::Value *n = b.isObject() ? b.find("name") : nullptr;
        const json::Value *by = b.isObject() ? b.find("bytes") : nullptr;
        if (n && n->isString() && n->asString() == "runtime" && by &&
            by->isInt()) {
          rows.push_back({"runtime.threads",
                          memsize::runtimeBytes(cpuThreads()) - by->asInt()});
          break;
        }
      }
    if (arenaBytes > 0 && pts && pts->isInt() && pts->asInt() > 0 && bufs &&
        bufs->isArray()) {
      int64_t added = 0;
      for (auto &[name, bytes] : rows) {
        if (bytes <= 0)
          continue;
        if (!added)
          withRuntime = *plan;
        json::Value row = json::Value::object();
        row.set("name", json::Value(name));
        row.set("kind", json::Value("runtime"));
        row.set("bytes", json::Value(bytes));
        row.set("offset", json::Value(arenaBytes + added)); // outside the arena
        row.set("first", json::Value(int64_t(0)));
        row.set("last", json::Value(pts->asInt() - 1));
        withRuntime.find("buffers")->push(std::move(row));
        added += bytes;
      }
      if (added) {
        withRuntime.set("peak_bytes", json::Value(arenaBytes + added));
        plan = &withRuntime;
      }
    }
  }
  // The memory plan's baseline: the resident set after start-up.
  if (std::string bad = j->memory.begin(plan); !bad.empty())
    fail(j, "config", bad);
  // The plan's one arena: the step tensors and the models' placed work
  // buffers at the plan's offsets (mapped, resident only where touched).
  // On CUDA: one device allocation (cudaMalloc) of the peak.
  if (j->memory.planned() && arenaBytes > 0)
    if (std::string bad =
            j->job->kernels().device() == Device::CUDA
                ? j->arena->createOnDevice(&j->job->kernels(), arenaBytes)
                : j->arena->create(arenaBytes);
        !bad.empty())
      fail(j, "job", bad);
  // The fused LM head's chunk of logits: each lane's kernels take the
  // plan's lm_head_scratch.LANE slot, held for the whole job ("host": the
  // job's own kernels). Steps run inline all use the job's kernels: they
  // take the largest slot. A chunk larger than its slot (none should be:
  // memsize::lmHeadScratchBytes mirrors the kernels) uses the kernels' own
  // vector, as without a plan.
  if (j->arena->active() && j->job->kernels().device() == Device::CPU) {
    const std::string pre = "lm_head_scratch.";
    std::vector<std::pair<const observe::MemoryBuffer *, Kernels<float> *>>
        give;
    for (const observe::MemoryBuffer &b : j->memory.buffers()) {
      if (b.kind != "workspace" || b.name.rfind(pre, 0) != 0 ||
          b.size < sizeof(float) || b.offset % 64 != 0)
        continue;
      if (!j->sched) {
        if (give.empty())
          give.push_back({&b, &j->job->kernels()});
        else if (b.size > give[0].first->size)
          give[0].first = &b;
        continue;
      }
      std::string lane = b.name.substr(pre.size());
      Kernels<float> *k = lane == "host" ? &j->job->kernels() : nullptr;
      for (int l = 0; l < exec::kNumLanes; ++l)
        if (lane == exec::laneName(exec::Lane(l)))
          k = j->laneKernels[l].get();
      if (k)
        give.push_back({&b, k});
    }
    for (auto [b, k] : give) {
      bool fresh = true;
      if (auto lease = j->arena->lease(int64_t(b->offset), int64_t(b->size),
                                       ~uint64_t(0) - 1, b->name, &fresh))
        setCpuLmHeadScratch(k, std::move(lease),
                            int64_t(b->size / sizeof(float)));
    }
  }
  // The runtime's own memory above it, measured now: the plan's "runtime"
  // row (memsize::runtimeBytes) is checked against it.
  j->memory.measureStartup([&] { warmUpCpuLibraries(j->job->kernels()); });
  // The compiled IR next to the spec.
  std::string irPath = j->job->runDir() + "/program.mlir";
  if (FILE *f = std::fopen(irPath.c_str(), "w")) {
    if (ir_text)
      std::fputs(ir_text, f);
    std::fclose(f);
  } else { // the run's record: said, not silently missing
    std::fprintf(stderr, "warning: cannot write %s: %s\n", irPath.c_str(),
                 std::strerror(errno));
  }
  return j;
}

void *hone_rt_arena(hone_job *j, int64_t bytes) {
  constexpr size_t kAlign = 64;
  // Planned: the plan's step_tensors buffer in the job's arena, held for
  // the whole job.
  if (j->arena->active() && bytes > 0)
    for (const observe::MemoryBuffer &b : j->memory.buffers())
      if (b.kind == "step_tensors" && int64_t(b.size) >= bytes &&
          b.offset % kAlign == 0) {
        bool fresh = true;
        j->stepLease = j->arena->lease(int64_t(b.offset), bytes, ~uint64_t(0),
                                       "step tensors", &fresh);
        if (!j->stepLease)
          break;
        std::free(j->arenaBlock);
        j->arenaBlock = nullptr;
        j->memory.setStepArena(j->stepLease.get(), bytes);
        return j->stepLease.get();
      }
  // calloc: large blocks come zeroed from the kernel and take memory only as
  // pages are touched, like a static zero-initialised arena.
  void *p = bytes > 0 && uint64_t(bytes) < (uint64_t(1) << 41)
                ? std::calloc(1, size_t(bytes) + kAlign)
                : nullptr;
  if (!p)
    fail(j, "job",
         "cannot allocate the step buffers (" + std::to_string(bytes) +
             " bytes): lower the batch size or the sequence lengths");
  std::free(j->arenaBlock);
  j->arenaBlock = p;
  uintptr_t a = (reinterpret_cast<uintptr_t>(p) + kAlign - 1) & ~(kAlign - 1);
  j->memory.setStepArena(reinterpret_cast<void *>(a), bytes);
  return reinterpret_cast<void *>(a);
}

int32_t hone_rt_end(hone_job *j) {
  if (!j)
    return 0;
  drainLanes(j, "end");
  if (j->inStage)
    hone_rt_stage_end(j);
  // Planned vs measured peak: printed, logged, in the report; a peak past
  // the plan's tolerance ends the job with an error once all is written.
  j->memory.stop(); // the sampling thread's last sample
  // Work buffers that could not go where the plan put them (another buffer
  // held the bytes, or they outgrew their slot) are unplanned allocations.
  if (j->arena->misses() > 0)
    j->memory.noteUnplanned(std::to_string(j->arena->misses()) +
                            " placement(s) outside the plan's arena, "
                            "first: " + j->arena->firstMiss());
  j->memory.setPlacements(j->arena->placements(), j->arena->misses(),
                          j->arena->firstMiss());
  std::string verdict = j->memory.verdict();
  std::vector<std::pair<std::string, std::string>> summary = {
      {"measured memory peak", formatBytes(j->memory.measuredPeak())}};
  if (j->memory.planned()) {
    summary.push_back(
        {"planned memory peak", formatBytes(j->memory.plannedPeak())});
    for (const std::string &d : j->memory.decisions())
      summary.push_back({"memory plan decision", d});
    observe::MetricValues mv = {
        {"memory/planned_peak_bytes", double(j->memory.plannedPeak())},
        {"memory/measured_peak_bytes", double(j->memory.measuredPeak())},
        {"memory/resident_peak_bytes", double(j->memory.residentPeak())},
        {"memory/runtime_startup_bytes", double(j->memory.startupBytes())},
        {"memory/arena_touched_bytes", double(j->arena->peakHeldBytes())},
        {"memory/arena_populate_seconds", j->arenaPopulateSeconds},
        {"memory/unplanned_allocations", double(j->memory.unplanned())}};
    check(j, "job", j->job->metrics().log(j->job->globalStep(), mv));
  }
  // On CUDA, the device allocator's peak (every CUDA backend of the job:
  // the arena, lanes' kernels, what the models allocate outside it).
  if (j->job->kernels().device() == Device::CUDA) {
    int64_t dev = deviceAllocatorPeakBytes();
    summary.push_back({"device allocator peak", formatBytes(dev)});
    observe::MetricValues dv = {
        {"memory/device_allocator_peak_bytes", double(dev)}};
    check(j, "job", j->job->metrics().log(j->job->globalStep(), dv));
  }
  if (j->offloadWritten > 0)
    summary.push_back(
        {"optimiser moments offloaded (run directory's offload/)",
         formatBytes(j->offloadRead) + " read back, " +
             formatBytes(j->offloadWritten) + " written, " + j->offloadMode});
  if (j->forwardsKept > 0)
    summary.push_back({"train-step forwards kept from hone.value (PPO v_old)",
                       std::to_string(j->forwardsKept)});
  // The compiler's model work per stage iteration (config "model_work",
  // dialect/HoneForwards.h), shown as a table.
  std::vector<observe::ModelWorkRow> work;
  const json::Value *w = j->run.model_work;
  if (w->isArray())
    for (const json::Value &e : w->items()) {
      const json::Value *st = get(e, "stage"), *mo = get(e, "model");
      const json::Value *fw = get(e, "forwards"), *bw = get(e, "backwards");
      const json::Value *gf = get(e, "gflop");
      auto pair = [](const json::Value *v) {
        return v && v->isArray() && v->size() == 2 &&
               v->items()[0].isNumber() && v->items()[1].isNumber();
      };
      if (!st || !st->isString() || !mo || !mo->isString() || !pair(fw) ||
          !pair(bw) || !pair(gf))
        fail(j, "config",
             "model_work: an entry without stage, model, "
             "forwards, backwards and gflop");
      observe::ModelWorkRow r;
      r.stage = st->asString();
      r.model = mo->asString();
      r.forwardsBefore = int64_t(fw->items()[0].asDouble());
      r.forwards = int64_t(fw->items()[1].asDouble());
      r.backwardsBefore = int64_t(bw->items()[0].asDouble());
      r.backwards = int64_t(bw->items()[1].asDouble());
      r.gflopBefore = gf->items()[0].asDouble();
      r.gflop = gf->items()[1].asDouble();
      if (const json::Value *g = get(e, "generates"); g && g->isNumber())
        r.generates = int64_t(g->asDouble());
      if (const json::Value *g = get(e, "generated_tokens"); g && g->isNumber())
        r.generatedTokens = int64_t(g->asDouble());
      // One rank's program: all ranks' work, as measured below.
      r.ranks = j->comm.size;
      const int64_t n = r.ranks;
      r.forwardsBefore *= n;
      r.forwards *= n;
      r.backwardsBefore *= n;
      r.backwards *= n;
      r.generates *= n;
      r.generatedTokens *= n;
      r.gflopBefore *= double(n);
      r.gflop *= double(n);
      work.push_back(std::move(r));
    }
  // What the job measured, beside the compiler's rows of the same stage
  // and model (a stage run twice, e.g. resumed: its last run).
  for (const observe::ModelWorkRow &m : j->measuredWork) {
    auto it = std::find_if(work.begin(), work.end(), [&](const auto &r) {
      return r.stage == m.stage && r.model == m.model;
    });
    if (it == work.end())
      it = work.insert(work.end(), m);
    it->measured = true;
    it->ranks = m.ranks;
    it->runForwards = m.runForwards;
    it->runBackwards = m.runBackwards;
    it->runRows = m.runRows;
    it->runGenerated = m.runGenerated;
    it->runGflop = m.runGflop;
  }
  j->job->setModelWork(std::move(work));
  if (j->comm.rank == 0)
    j->job->message(j->memory.summary());
  j->job->setMemoryReport(j->memory.buffers(), uint64_t(j->memory.plannedPeak()),
                          uint64_t(std::max<int64_t>(0, j->memory.budget())),
                          uint64_t(j->memory.measuredPeak()));
  check(j, "job", j->job->finish(summary));
  if (!verdict.empty())
    fail(j, "job", verdict);
  j->comm.finalize();
  for (auto &o : j->objects)
    if (o->kind == ObjKind::Reward)
      static_cast<RewardObj *>(o.get())->external.reset();
  std::free(j->arenaBlock);
  delete j;
  return 0;
}

void *hone_rt_object(hone_job *j, const char *loc, const char *op,
                     const char *attrs_json, int32_t n_objs, void **objs) {
  drainLanes(j, loc);
  OpCtx c{j, loc, op ? op : "", {}, n_objs, objs, 0, nullptr, 0, nullptr};
  if (n_objs < 0 || (n_objs && !objs))
    c.err("bad operand arrays");
  void (*handler)(OpCtx &) = lookUp(c, attrs_json, abi::Call::Object);
  handler(c);
  return c.made;
}

/// Every tensor (rank 1 or 2) of a step call lies in the planned step-tensor arena
/// (hone-plan-arena's offsets in hone_rt_arena's block): one outside it is
/// memory the plan does not hold, an error at the op.
static void checkInArena(OpCtx &c, const char *what, int32_t n,
                         const hone_tensor *ts) {
  static constexpr int64_t kSize[] = {4, 8, 4, 8, 1}; // enum hone_dtype
  for (int i = 0; i < n; ++i) {
    const hone_tensor &t = ts[i];
    // Scalars (rank 0) travel in the caller's stack slots; a bad
    // descriptor is reported by the op's own checks.
    if (t.rank < 1 || t.rank > 2 || t.dtype < 0 || t.dtype > 4)
      continue;
    int64_t numel = 1;
    for (int d = 0; d < t.rank; ++d)
      numel = t.shape[d] < 0 || t.shape[d] > (int64_t(1) << 40)
                  ? int64_t(1) << 40
                  : numel * t.shape[d];
    if (!c.j->memory.inStepArena(t.data, numel * kSize[t.dtype]))
      c.err(std::string(what) + " " + std::to_string(i) +
            ": its data lies outside the step-tensor arena (hone-plan-arena, "
            "hone_rt_arena): memory the plan does not hold");
  }
}

void hone_rt_step(hone_job *j, const char *loc, const char *op,
                  const char *attrs_json, int32_t n_objs, void **objs,
                  int32_t n_in, const hone_tensor *in, int32_t n_out,
                  hone_tensor *out) {
  OpCtx c{j, loc, op ? op : "", {}, n_objs, objs, n_in, in, n_out, out};
  c.checkArrays();
  void (*handler)(OpCtx &) = lookUp(c, attrs_json, abi::Call::Step);
  for (int i = 0; i < n_in; ++i)
    if (in[i].rank < 0 || in[i].rank > 2 || in[i].dtype < 0 || in[i].dtype > 4)
      c.err("input " + std::to_string(i) + ": bad descriptor");
  for (int i = 0; i < n_out; ++i)
    if (out[i].rank < 0 || out[i].rank > 2 || out[i].dtype < 0 ||
        out[i].dtype > 4)
      c.err("result " + std::to_string(i) + ": bad descriptor");
  checkInArena(c, "input", n_in, in);
  checkInArena(c, "result", n_out, out);
  submit(std::move(c), handler);
}

void hone_rt_train_step(hone_job *j, const char *loc, const char *attrs_json,
                        int32_t n_models, void **models, hone_loss_fn kernel,
                        int32_t n_tokens, int32_t n_in, const hone_tensor *in,
                        int32_t n_out, hone_tensor *out) {
  OpCtx c{j, loc, "train_step", {}, n_models, models, n_in, in, n_out, out};
  c.checkArrays();
  void (*handler)(OpCtx &) = lookUp(c, attrs_json, abi::Call::Train);
  c.kernel = kernel;
  c.nTokens = n_tokens;
  checkInArena(c, "input", n_in, in);
  checkInArena(c, "result", n_out, out);
  submit(std::move(c), handler);
}

void hone_rt_event(hone_job *j, const char *lane, int32_t kind,
                   int64_t event) {
  if (!j->sched)
    return;
  auto l = laneByName(lane ? lane : "");
  if (!l || (kind != 0 && kind != 1) || event < 0 || event > (int64_t(1) << 30))
    fail(j, "event", "hone_rt_event: bad lane, kind or event id");
  while (j->events.size() <= size_t(event)) {
    j->events.push_back(
        j->sched->createEvent("event " + std::to_string(j->events.size())));
    j->recorded.push_back(0);
  }
  exec::Event e = j->events[size_t(event)];
  uint64_t &n = j->recorded[size_t(event)];
  if (kind == 0)
    j->sched->enqueue(*l, "record", [] { return Status::ok(); }, {},
                      exec::EventValue{e, ++n});
  else if (n > 0) // nothing recorded yet: nothing to wait for
    j->sched->enqueue(*l, "wait", [] { return Status::ok(); },
                      {exec::EventValue{e, n}});
}

void hone_rt_sync(hone_job *j) { drainLanes(j, "sync"); }

} // extern "C"
