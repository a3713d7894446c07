//===- honec.cpp - the Hone compiler driver -------------------------------===//
//
// honec SPEC [key.path=value ...] [-o FILE] [--compile-to=stage|step|
//       scheduled|llvm|object|exe] [--timings] [--load-pass-plugin=LIB]
//       [--stage-passes=PIPELINE] [--step-passes=PIPELINE]
//       [--emit-resolved-spec=FILE] [--verify-diagnostics] [--report]
//       [--no-fuse-forwards] [--no-precompute-reference] [--no-pack-sequences]
//       [--no-stream-scores] [--stream-logprobs]
//       [--no-release-at-step-end] [--no-split-train-steps]
//       [--no-offload] [--no-generation-batch] [--no-micro-batch]
//
// Like every compiler, honec makes the final artifact (the job executable,
// `a.out` without -o) unless --compile-to stops it early. Phases (the target
// prints its result to stdout or writes it to -o FILE):
//   stage      frontend: spec -> stage IR
//   step       hone-stage-pipeline, hone-step-pipeline
//   scheduled  hone-scheduled-pipeline
//   llvm       hone-to-llvm, then translation to LLVM IR (printed)
//   object     the same, then an object file for the host (LLVM O2)
//   exe        the object linked with hone_runtime by the system C++ compiler
//
// Thin on purpose (the IREE/firtool pattern): spec loading and lowering live
// in frontend/, pass pipelines in passes/Pipelines.h; this file parses the
// command line and sequences them.
//
//===----------------------------------------------------------------------===//

#include "dialect/HoneDialect.h"
#include "dialect/HoneOps.h"
#include "dialect/HoneForwards.h"
#include "tools/honec/Emit.h"
#include "tools/PluginLoader.h"
#include "frontend/SpecDiagnostics.h"
#include "frontend/ToStageIR.h"
#include "passes/Passes.h"
#include "passes/Pipelines.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Tools/Plugins/PassPlugin.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/Support/Signals.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Timer.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"

#include <map>

using namespace mlir;
namespace cl = llvm::cl;

namespace {

enum class CompileTo { Stage, Step, Scheduled, Llvm, Object, Exe };

cl::OptionCategory honecCategory("honec options");

cl::opt<std::string> specPath(cl::Positional, cl::Required,
                              cl::desc("<spec.textproto>"),
                              cl::cat(honecCategory));
cl::list<std::string>
    overrides(cl::Positional, cl::ZeroOrMore,
              cl::desc("[key.path=value ...] (e.g. stages[1].rl.steps=50)"),
              cl::cat(honecCategory));
cl::opt<CompileTo> compileTo(
    "compile-to",
    cl::desc("Stop after this phase and print its result (IR to stdout or to "
             "-o FILE); default: exe"),
    cl::init(CompileTo::Exe),
    cl::values(clEnumValN(CompileTo::Stage, "stage", "stage IR"),
               clEnumValN(CompileTo::Step, "step", "step IR"),
               clEnumValN(CompileTo::Scheduled, "scheduled", "scheduled IR"),
               clEnumValN(CompileTo::Llvm, "llvm", "LLVM IR"),
               clEnumValN(CompileTo::Object, "object", "an object file"),
               clEnumValN(CompileTo::Exe, "exe", "the job executable")),
    cl::cat(honecCategory));
cl::opt<std::string> outputFile("o",
                                cl::desc("Output file (default: a.out for "
                                         "exe, SPEC-NAME.o for object, "
                                         "stdout for IR)"),
                                cl::value_desc("file"), cl::init("-"),
                                cl::cat(honecCategory));
cl::opt<std::string> resolvedSpecFile(
    "emit-resolved-spec",
    cl::desc("Write the spec with overrides applied and every default filled "
             "in to this file"),
    cl::value_desc("file"), cl::cat(honecCategory));
cl::opt<bool> verifyDiagnostics(
    "verify-diagnostics",
    cl::desc("Check diagnostics against expected-* markers in the spec"),
    cl::init(false), cl::cat(honecCategory));
cl::opt<bool> checkOnly("check-only",
                        cl::desc("Check the spec; print nothing"),
                        cl::init(false), cl::cat(honecCategory));
cl::opt<bool> timings("timings",
                      cl::desc("Print the time each phase takes to stderr"),
                      cl::init(false), cl::cat(honecCategory));
cl::list<std::string> passPlugins(
    "load-pass-plugin", cl::desc("Load a pass plugin (as hone-opt does)"),
    cl::value_desc("library"), cl::cat(honecCategory));
cl::opt<std::string> stagePasses(
    "stage-passes",
    cl::desc("Passes run on the stage IR before hone-stage-pipeline, e.g. "
             "'hone.pipeline(example-cap-steps{max=2})'"),
    cl::init(""), cl::cat(honecCategory));
cl::opt<std::string> stepPasses(
    "step-passes",
    cl::desc("Passes run on the step IR before hone-scheduled-pipeline"),
    cl::init(""), cl::cat(honecCategory));
cl::opt<bool> noFuseForwards(
    "no-fuse-forwards",
    cl::desc("Leave out hone-fuse-forwards (one forward per read, as "
             "unfused; for benchmarks)"),
    cl::init(false), cl::cat(honecCategory));
cl::opt<bool> noPrecomputeReference(
    "no-precompute-reference",
    cl::desc("Leave out hone-precompute-reference (DPO and IPO run the "
             "reference forward in every step and keep its weights "
             "resident for the stage, as TRL without "
             "precompute_ref_log_probs)"),
    cl::init(false), cl::cat(honecCategory));
cl::opt<bool> noPackSequences(
    "no-pack-sequences",
    cl::desc("Leave out hone-pack-sequences (every train-step forward over "
             "the padded rows; for benchmarks)"),
    cl::init(false), cl::cat(honecCategory));
cl::opt<bool> noStreamScores(
    "no-stream-scores",
    cl::desc("Leave out hone-stream-scores (every score waits for its whole "
             "batch to finish generating; for benchmarks)"),
    cl::init(false), cl::cat(honecCategory));
cl::opt<bool> streamLogprobs(
    "stream-logprobs",
    cl::desc("Stream reference log-probs: read them in groups of 8 rows, "
             "each group as its rows finish generating (off by default: on "
             "2 cores it cost more than it overlapped)"),
    cl::init(false), cl::cat(honecCategory));
cl::opt<bool> noReleaseAtStepEnd(
    "no-release-at-step-end",
    cl::desc("Keep every stage's work buffers across its steps unless the "
             "memory budget needs them freed (hone-plan-memory frees them "
             "at each step's end where that lowers the peak; for "
             "benchmarks)"),
    cl::init(false), cl::cat(honecCategory));
cl::opt<bool> noSplitTrainSteps(
    "no-split-train-steps",
    cl::desc("Run every train step whole (every model's forward, the loss "
             "kernel, every backward) even where its objective separates by "
             "model (hone-plan-memory runs those model by model, one "
             "model's activations live at a time; for benchmarks)"),
    cl::init(false), cl::cat(honecCategory));
cl::opt<bool> noOffload(
    "no-offload",
    cl::desc("Never offload optimiser moments to the host tier under the "
             "memory budget (hone-plan-memory's decision 5; the plan may "
             "then stay over the budget)"),
    cl::init(false), cl::cat(honecCategory));
cl::opt<bool> noGenerationBatch(
    "no-generation-batch",
    cl::desc("Never halve a hone.generate's rows generated at once under "
             "the memory budget (hone-plan-memory's decision 4)"),
    cl::init(false), cl::cat(honecCategory));
cl::opt<bool> noMicroBatch(
    "no-micro-batch",
    cl::desc("Never halve a forward's rows (train-step mini-batches, "
             "frozen reads' micro_batch) under the memory budget "
             "(hone-plan-memory's decision 3, whose gradient accumulation "
             "and chunked GEMMs change float rounding): the decisions left "
             "keep results bit-identical"),
    cl::init(false), cl::cat(honecCategory));
cl::opt<bool> report(
    "report",
    cl::desc("Print to stderr, per stage iteration and per model, the "
             "forwards, backwards, generated tokens and FLOPs before and "
             "after fusion, then the memory plan (peak, bounds, budget, "
             "what is live at the peak per model, decisions)"),
    cl::init(false), cl::cat(honecCategory));
cl::opt<bool> noFileChecks(
    "no-file-checks",
    cl::desc("Do not look at datasets, model directories or tokenizer files"),
    cl::init(false), cl::cat(honecCategory));

/// IR written to a file keeps its locations (stage names, spec lines), so
/// that it reads back as it was made; on stdout they are left out unless
/// --mlir-print-debuginfo asks for them. An explicit
/// --mlir-print-debuginfo[=false] always wins.
bool printLocations() {
  auto &opts = cl::getRegisteredOptions();
  auto it = opts.find("mlir-print-debuginfo");
  if (it != opts.end() && it->second->getNumOccurrences() > 0)
    return static_cast<cl::opt<bool> *>(it->second)->getValue();
  return outputFile != "-";
}

/// The default output: a.out for the job (as a C compiler names it),
/// SPEC-NAME.o for an object, stdout for IR.
void defaultOutput() {
  if (outputFile.getNumOccurrences() > 0)
    return;
  if (compileTo == CompileTo::Exe)
    outputFile = "a.out";
  else if (compileTo == CompileTo::Object)
    outputFile =
        (llvm::sys::path::stem(specPath.getValue()) + ".o").str();
}

/// Path of this executable, for <dir>/../lib/hone-link.txt.
std::string honecPath;
/// The command line and the plugins loaded ("NAME VERSION (PATH)"): the
/// job's record of what made it (hone.compiled_by, in program.mlir).
std::string commandLine;
std::vector<std::string> loadedPlugins;

/// hone.compiled_by: how this IR was made, so that the run directory's
/// program.mlir says which passes and plugins changed the spec's settings.
void recordProvenance(ModuleOp module) {
  MLIRContext *ctx = module.getContext();
  Builder b(ctx);
  SmallVector<Attribute> plugins;
  for (const std::string &p : loadedPlugins)
    plugins.push_back(b.getStringAttr(p));
  SmallVector<NamedAttribute> fields{
      b.getNamedAttr("command", b.getStringAttr(commandLine)),
      b.getNamedAttr("plugins", b.getArrayAttr(plugins)),
      b.getNamedAttr("stage_passes", b.getStringAttr(stagePasses)),
      b.getNamedAttr("step_passes", b.getStringAttr(stepPasses)),
      b.getNamedAttr(
          "pipelines",
          b.getStringAttr("hone-stage-pipeline, hone-step-pipeline, "
                          "hone-scheduled-pipeline, hone-to-llvm"))};
  DictionaryAttr record = b.getDictionaryAttr(fields);
  module->walk([&](mlir::hone::PipelineOp p) {
    p->setAttr("hone.compiled_by", record);
  });
}

/// Times one phase each (--timings prints them to stderr at exit).
struct PhaseTimer {
  llvm::TimerGroup group{"honec", "honec phases"};
  std::vector<std::unique_ptr<llvm::Timer>> timers;
  llvm::Timer *start(llvm::StringRef name) {
    timers.push_back(std::make_unique<llvm::Timer>(name, name, group));
    if (timings)
      timers.back()->startTimer();
    return timers.back().get();
  }
  void stop(llvm::Timer *t) {
    if (timings && t->isRunning())
      t->stopTimer();
  }
};
PhaseTimer *phaseTimer;

/// Runs `build`'s passes on the module, as one timed phase.
LogicalResult runPhase(ModuleOp module, llvm::StringRef name,
                       llvm::function_ref<LogicalResult(OpPassManager &)> build) {
  llvm::Timer *t = phaseTimer->start(name);
  PassManager pm(module.getContext());
  if (failed(applyPassManagerCLOptions(pm)) || failed(build(pm)))
    return failure();
  LogicalResult result = pm.run(module);
  phaseTimer->stop(t);
  return result;
}

LogicalResult parseExtra(OpPassManager &pm, llvm::StringRef passes) {
  if (failed(parsePassPipeline(passes, pm, llvm::errs()))) {
    llvm::errs() << "honec: cannot parse the pass pipeline '" << passes
                 << "'\n";
    return failure();
  }
  return success();
}

/// honec --report: each train step's reads and hone-pack-sequences'
/// decision for them (docs/compiler.md "Packed sequences"), by the step's
/// location in the spec; then each hone.logprob and hone.value outside
/// train steps, packed or padded.
void printPackingReport(mlir::hone::PipelineOp p, llvm::raw_ostream &os) {
  p->walk([&](mlir::hone::TrainStepOp step) {
    auto packed = step->getAttrOfType<DenseI64ArrayAttr>("packed");
    os << "train step";
    if (auto name = step.getLoc()->findInstanceOf<NameLoc>())
      os << " of " << name.getName().getValue();
    if (auto fl = step.getLoc()->findInstanceOf<FileLineColLoc>())
      os << " at " << llvm::sys::path::filename(fl.getFilename().getValue())
         << ":" << fl.getLine();
    os << ":";
    for (auto [i, read] :
         llvm::enumerate(step.getReads().getAsValueRange<StringAttr>())) {
      int64_t e = packed && i < size_t(packed.size()) ? packed[i] : -1;
      // packed_also: further masks of the read (the last nonzero of any).
      std::string more;
      if (auto also = step->getAttrOfType<DenseI64ArrayAttr>("packed_also"))
        for (int64_t p = 0; p + 1 < also.size(); p += 2)
          if (also[p] == int64_t(i))
            more += ", " + std::to_string(also[p + 1]);
      os << (i ? "," : "") << " " << read << " "
         << (e == -2 ? std::string("packed (to the last token)")
             : e >= 0 && !more.empty()
                 ? "packed (loss mask inputs " + std::to_string(e) + more +
                       ": the last of any)"
             : e >= 0 ? "packed (loss mask input " + std::to_string(e) + ")"
                      : std::string("padded"));
    }
    os << "\n";
  });
  // Reference log-probs precomputed once per record
  // (hone-precompute-reference).
  p->walk([&](mlir::hone::ReferenceTableOp t) {
    int64_t n = cast<RankedTensorType>(t.getTable().getType()).getDimSize(0);
    os << "reference_table";
    if (auto fl = t->getLoc()->findInstanceOf<FileLineColLoc>())
      os << " at " << llvm::sys::path::filename(fl.getFilename().getValue())
         << ":" << fl.getLine();
    os << ": " << n << " pairs (" << 2 * n << " rows) once before the stage, "
       << t.getRows() << " pairs a forward";
    if (auto flops = mlir::hone::referenceTableFlops(t))
      os << llvm::format(", %.4g GFLOP", *flops * 1e-9);
    if (auto loopRows = t->getAttrOfType<IntegerAttr>("hone.loop_rows"))
      os << ", instead of " << loopRows.getInt()
         << " reference rows over the stage's steps";
    os << "\n";
  });
  // Frozen reads outside train steps: packed to a mask operand or padded.
  p->walk([&](Operation *op) {
    size_t batches, masks;
    if (auto lp = dyn_cast<mlir::hone::LogprobOp>(op)) {
      batches = lp.getTokens().size();
      masks = lp.getPackMasks().size();
    } else if (auto v = dyn_cast<mlir::hone::ValueOp>(op)) {
      batches = 1;
      masks = v.getPackMask() ? 1 : 0;
    } else {
      return;
    }
    os << op->getName().getStringRef().drop_front(5);
    if (auto fl = op->getLoc()->findInstanceOf<FileLineColLoc>())
      os << " at " << llvm::sys::path::filename(fl.getFilename().getValue())
         << ":" << fl.getLine();
    os << ": " << batches << (batches == 1 ? " batch " : " batches ")
       << (masks ? "packed (to its mask operand)" : "padded") << "\n";
  });
}

/// honec --report: the memory plan hone-plan-memory attached to the
/// pipeline (passes/PlanMemory.cpp): the peak and where it is, the packing
/// against its bounds, the budget, what is live at the peak per model (by
/// spec name) and the decisions taken under the budget.
void printMemoryReport(mlir::hone::PipelineOp p, llvm::raw_ostream &os) {
  auto plan = p->getAttrOfType<DictionaryAttr>("hone.memory_plan");
  if (!plan)
    return;
  auto i64 = [&](StringRef k) {
    auto a = plan.getAs<IntegerAttr>(k);
    return a ? a.getInt() : int64_t(0);
  };
  auto str = [&](StringRef k) {
    auto a = plan.getAs<StringAttr>(k);
    return a ? a.getValue() : StringRef();
  };
  os << "memory plan (hone-plan-memory): peak " << mlir::hone::humanBytes(i64("peak_bytes"))
     << " in stage " << str("peak_stage") << " at " << str("peak_op")
     << "; liveness lower bound " << mlir::hone::humanBytes(i64("lower_bound_bytes"))
     << ", first-fit " << mlir::hone::humanBytes(i64("first_fit_bytes")) << ", no reuse "
     << mlir::hone::humanBytes(i64("no_reuse_bytes")) << "; budget ";
  if (i64("budget_bytes") > 0)
    os << mlir::hone::humanBytes(i64("budget_bytes")) << " (" << str("budget_source") << ")\n";
  else
    os << "none\n";
  // What is live at the peak, per owner (the part of a buffer's name
  // before its first '.': a model's spec name, or step_tensors, ...).
  int64_t at = i64("peak_point");
  llvm::MapVector<StringRef, std::map<std::string, int64_t>> live;
  if (auto buffers = plan.getAs<ArrayAttr>("buffers"))
    for (auto d : buffers.getAsRange<DictionaryAttr>()) {
      auto first = d.getAs<IntegerAttr>("first"),
           last = d.getAs<IntegerAttr>("last"),
           bytes = d.getAs<IntegerAttr>("bytes");
      auto name = d.getAs<StringAttr>("name"), kind = d.getAs<StringAttr>("kind");
      if (!first || !last || !bytes || !name || !kind ||
          first.getInt() > at || last.getInt() < at)
        continue;
      live[name.getValue().split('.').first][kind.str()] += bytes.getInt();
    }
  for (auto &[owner, kinds] : live) {
    int64_t sum = 0;
    for (auto &[k, b] : kinds)
      sum += b;
    os << "  live at the peak: " << owner << " " << mlir::hone::humanBytes(sum) << " (";
    bool firstKind = true;
    for (auto &[k, b] : kinds) {
      os << (firstKind ? "" : ", ") << k << " " << mlir::hone::humanBytes(b);
      firstKind = false;
    }
    os << ")\n";
  }
  if (auto decisions = plan.getAs<ArrayAttr>("decisions"))
    for (auto d : decisions.getAsRange<StringAttr>())
      os << "  decision: " << d.getValue() << "\n";
  if (auto split = plan.getAs<ArrayAttr>("split_train_steps"))
    for (auto d : split.getAsRange<StringAttr>())
      os << "  split: " << d.getValue() << "\n";
  if (auto kept = plan.getAs<ArrayAttr>("kept_logits"))
    for (auto d : kept.getAsRange<StringAttr>())
      os << "  logits: " << d.getValue() << "\n";
}

/// Runs the named pipelines of passes/Pipelines.h up to `target`, so that
/// `hone-opt --hone-stage-pipeline --hone-step-pipeline
/// --hone-scheduled-pipeline --hone-to-llvm` reproduces honec.
LogicalResult runPhases(ModuleOp module, CompileTo target) {
  // --stage-passes belong to the stage phase: --compile-to=stage shows what
  // they made.
  if (!stagePasses.empty() &&
      failed(runPhase(module, "stage passes (plugins)", [](OpPassManager &pm) {
        return parseExtra(pm, stagePasses);
      })))
    return failure();
  if (target == CompileTo::Stage) {
    if (!stepPasses.empty())
      return emitError(module.getLoc())
             << "--step-passes run on step IR, which --compile-to=stage "
                "stops before (use --compile-to=step or later)";
    return success();
  }
  if (failed(runPhase(module, "step (hone-stage-pipeline, hone-step-pipeline)",
                      [](OpPassManager &pm) {
                        mlir::hone::StagePipelineOptions stage;
                        stage.precomputeReference = !noPrecomputeReference;
                        mlir::hone::buildStagePipeline(pm, stage);
                        mlir::hone::StepPipelineOptions step;
                        step.fuseForwards = !noFuseForwards;
                        step.precomputeReference = !noPrecomputeReference;
                        step.packSequences = !noPackSequences;
                        step.streamScores = !noStreamScores;
                        step.streamLogprobRows = streamLogprobs ? 8 : 0;
                        mlir::hone::buildStepPipeline(pm, step);
                        return success();
                      })))
    return failure();
  if (!stepPasses.empty() &&
      failed(runPhase(module, "step passes (plugins)", [](OpPassManager &pm) {
        return parseExtra(pm, stepPasses);
      })))
    return failure();
  // The model work as compiled: after the memory plan when honec goes on
  // (its decisions under the budget change it: fused reads kept apart,
  // recomputed layers, micro-batches), else of the step IR.
  auto printWork = [&] {
    if (report)
      module->walk([](mlir::hone::PipelineOp p) {
        mlir::hone::printWorkReport(p, llvm::errs());
        printPackingReport(p, llvm::errs());
      });
  };
  if (target == CompileTo::Step) {
    printWork();
    return success();
  }
  if (failed(runPhase(module, "scheduled (hone-scheduled-pipeline)",
                      [](OpPassManager &pm) {
                        mlir::hone::buildScheduledPipeline(
                            pm, !noReleaseAtStepEnd, !noSplitTrainSteps,
                            !noOffload, !noGenerationBatch, !noMicroBatch);
                        return success();
                      })))
    return failure();
  printWork();
  if (report)
    module->walk([](mlir::hone::PipelineOp p) {
      printMemoryReport(p, llvm::errs());
    });
  if (target == CompileTo::Scheduled)
    return success();
  return runPhase(module, "llvm dialect (hone-to-llvm)",
                  [](OpPassManager &pm) {
                    mlir::hone::buildToLLVMPipeline(pm);
                    return success();
                  });
}

/// The LLVM-level phases: LLVM IR, an object, an executable.
LogicalResult emit(ModuleOp module, llvm::raw_ostream &os) {
  if (compileTo == CompileTo::Llvm) {
    llvm::Timer *t = phaseTimer->start("LLVM IR (translation)");
    LogicalResult r = honec::printLLVMIR(module, os);
    phaseTimer->stop(t);
    return r;
  }
  if (outputFile == "-")
    return emitError(module.getLoc())
           << "--compile-to=" << (compileTo == CompileTo::Object ? "object"
                                                                : "exe")
           << " cannot write to stdout: name a file with -o FILE";
  std::string object = outputFile;
  llvm::SmallString<128> temp;
  if (compileTo == CompileTo::Exe) {
    if (std::error_code ec =
            llvm::sys::fs::createTemporaryFile("honec-job", "o", temp))
      return emitError(module.getLoc())
             << "cannot create a temporary object file: " << ec.message();
    object = std::string(temp);
    // Gone however honec ends: a failed emit or link, or a signal.
    llvm::sys::RemoveFileOnSignal(temp);
  }
  llvm::scope_exit removeTemp([&] {
    if (!temp.empty()) {
      llvm::sys::fs::remove(temp);
      llvm::sys::DontRemoveFileOnSignal(temp);
    }
  });
  llvm::Timer *t = phaseTimer->start("object (LLVM O2, codegen)");
  LogicalResult r = honec::emitObject(module, object);
  phaseTimer->stop(t);
  if (failed(r) || compileTo == CompileTo::Object)
    return r;
  t = phaseTimer->start("exe (link with hone_runtime)");
  r = honec::linkExecutable(*module.getContext(), honecPath, object,
                            outputFile);
  phaseTimer->stop(t);
  return r;
}

/// The spec as main read it for the source manager (nullopt: unread).
std::optional<std::string> gSpecText;

LogicalResult compile(MLIRContext &ctx, llvm::raw_ostream &os) {
  ::hone::spec::LoadOptions options;
  options.checkFiles = !noFileChecks;
  options.text = gSpecText;
  std::vector<std::string> ovr(overrides.begin(), overrides.end());
  auto spec = mlir::hone::loadSpec(ctx, specPath, ovr, options);
  if (!spec)
    return failure();
  if (!resolvedSpecFile.empty()) {
    std::string error;
    auto out = openOutputFile(resolvedSpecFile, &error);
    if (!out)
      return emitError(UnknownLoc::get(&ctx)) << error;
    out->os() << "# Resolved by honec from " << specPath << "\n"
              << ::hone::spec::printSpec(spec->pipeline);
    out->keep();
  }
  if (checkOnly)
    return success();
  llvm::Timer *t = phaseTimer->start("stage (frontend)");
  OwningOpRef<ModuleOp> module = mlir::hone::lowerSpecToStageIR(*spec, ctx);
  phaseTimer->stop(t);
  if (!module)
    return failure();
  // The resolved spec travels into the job (hone_rt_begin's spec_text).
  std::string resolved = ::hone::spec::printSpec(spec->pipeline);
  if (!stagePasses.empty() || !stepPasses.empty())
    resolved = "# Settings as the spec gives them: passes changed the "
               "compiled program after\n# this (hone.compiled_by in "
               "program.mlir; report.html shows the effective settings).\n" +
               resolved;
  if (compileTo.getValue() >= CompileTo::Llvm) {
    recordProvenance(*module);
    module->walk([&](mlir::hone::PipelineOp p) {
      p->setAttr("hone.spec_text", StringAttr::get(&ctx, resolved));
    });
  }
  if (failed(runPhases(*module, compileTo)))
    return failure();
  if (compileTo.getValue() >= CompileTo::Llvm)
    return emit(*module, os);
  OpPrintingFlags flags;
  if (printLocations())
    flags.enableDebugInfo();
  module->print(os, flags);
  os << "\n";
  return success();
}

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  registerAsmPrinterCLOptions();
  registerMLIRContextCLOptions();
  registerPassManagerCLOptions();
  // LLVM and MLIR register hundreds of options in the general category;
  // --help shows honec's own (--help-hidden lists the rest).
  if (cl::Option *debugInfo =
          cl::getRegisteredOptions().lookup("mlir-print-debuginfo")) {
    debugInfo->addCategory(honecCategory);
    debugInfo->setDescription(
        "Print source locations (loc(...)) with the IR; default: on when the "
        "IR goes to a file (-o), off on stdout");
  }
  cl::HideUnrelatedOptions(honecCategory);
  cl::ParseCommandLineOptions(argc, argv,
                              "Hone: compile a post-training pipeline spec\n");

  honecPath = llvm::sys::fs::getMainExecutable(argv[0], (void *)&main);
  if (checkOnly)
    compileTo = CompileTo::Stage;
  defaultOutput();
  PhaseTimer timer;
  phaseTimer = &timer;

  for (int i = 0; i < argc; ++i)
    commandLine += (i ? " " : "") + std::string(argv[i]);
  for (const std::string &path : passPlugins) {
    std::string loaded;
    if (!::hone::tools::loadPassPlugin("honec", path, &loaded))
      return 1;
    loadedPlugins.push_back(loaded);
  }
  mlir::hone::registerPipelines();

  DialectRegistry registry;
  registry.insert<mlir::hone::HoneDialect>();
  MLIRContext ctx(registry);
  // Diagnostics are one located line (spec.textproto:LINE:COL): the op they
  // are about is printed only if --mlir-print-op-on-diagnostic asks for it.
  if (cl::Option *o =
          cl::getRegisteredOptions().lookup("mlir-print-op-on-diagnostic");
      o && o->getNumOccurrences() == 0)
    ctx.printOpOnDiagnostic(false);
  ctx.loadAllAvailableDialects();
  honec::registerTranslations(ctx);

  // Text phases print through `output`; object and exe write -o themselves
  // (the link writes the executable), so nothing is opened for them here.
  std::unique_ptr<llvm::ToolOutputFile> output;
  if (compileTo.getValue() <= CompileTo::Llvm) {
    std::string error;
    output = openOutputFile(outputFile, &error);
    if (!output) {
      llvm::errs() << "honec: " << error << "\n";
      return 1;
    }
  }
  llvm::raw_ostream &os = output ? output->os() : llvm::nulls();

  // The spec is in the source manager so that diagnostics show its lines and
  // the verifier finds expected-* markers in it.
  // Read once (a FIFO, honec <(generate-spec), can be read only once: the
  // spec used to arrive empty, "declares no models"); a device not at all.
  llvm::SourceMgr sourceMgr;
  llvm::sys::fs::file_status st;
  bool device = !llvm::sys::fs::status(specPath, st) &&
                (st.type() == llvm::sys::fs::file_type::character_file ||
                 st.type() == llvm::sys::fs::file_type::block_file);
  auto buffer = device ? llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>>(
                             std::make_error_code(std::errc::invalid_argument))
                       : llvm::MemoryBuffer::getFile(specPath, /*IsText=*/true);
  if (buffer) {
    gSpecText = (*buffer)->getBuffer().str();
    sourceMgr.AddNewSourceBuffer(std::move(*buffer), llvm::SMLoc());
  }

  if (verifyDiagnostics) {
    SourceMgrDiagnosticVerifierHandler handler(sourceMgr, &ctx);
    (void)compile(ctx, os);
    if (failed(handler.verify()))
      return 1;
    if (output)
      output->keep();
    return 0;
  }
  // Diagnostics echo the spec's line under the message: a line longer than
  // kLongLine (a 10 MB name) is shown cut, with its size. A location past
  // the cut prints without the echo (line and column stay exact).
  llvm::SourceMgr shownMgr;
  if (buffer) {
    constexpr size_t kLongLine = 1000, kShown = 200;
    llvm::StringRef text = sourceMgr.getMemoryBuffer(1)->getBuffer();
    bool cut = false;
    std::string shown;
    while (!text.empty()) {
      auto [line, rest] = text.split('\n');
      if (line.size() > kLongLine) {
        size_t n = kShown;
        while (n > 0 && (static_cast<unsigned char>(line[n]) & 0xC0) == 0x80)
          --n; // not inside a UTF-8 character
        shown += line.take_front(n).str() + "...(" +
                 std::to_string(line.size()) + " bytes)";
        cut = true;
      } else {
        shown += line.str();
      }
      if (text.size() > line.size())
        shown += '\n';
      text = rest;
    }
    if (cut)
      shownMgr.AddNewSourceBuffer(
          llvm::MemoryBuffer::getMemBufferCopy(
              shown, sourceMgr.getMemoryBuffer(1)->getBufferIdentifier()),
          llvm::SMLoc());
  }
  SourceMgrDiagnosticHandler handler(
      shownMgr.getNumBuffers() ? shownMgr : sourceMgr, &ctx);
  if (failed(compile(ctx, os)))
    return 1;
  if (output)
    output->keep();
  return 0;
}
