//===- honec.cpp - the Hone compiler driver -------------------------------===//
//
// honec SPEC [key.path=value ...] [--compile-to=stage|step|scheduled|llvm|
//       object|exe] [-o FILE] [--timings] [--load-pass-plugin=LIB]
//       [--stage-passes=PIPELINE] [--step-passes=PIPELINE]
//       [--emit-resolved-spec=FILE] [--verify-diagnostics]
//
// Phases (each prints or writes its result and stops when it is the target):
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
#include "tools/honec/Emit.h"
#include "frontend/SpecDiagnostics.h"
#include "frontend/ToStageIR.h"
#include "passes/Pipelines.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Tools/Plugins/PassPlugin.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Timer.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"

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
    "compile-to", cl::desc("Stop after this phase and print its result"),
    cl::init(CompileTo::Stage),
    cl::values(clEnumValN(CompileTo::Stage, "stage", "stage IR"),
               clEnumValN(CompileTo::Step, "step", "step IR"),
               clEnumValN(CompileTo::Scheduled, "scheduled", "scheduled IR"),
               clEnumValN(CompileTo::Llvm, "llvm", "LLVM IR"),
               clEnumValN(CompileTo::Object, "object", "an object file"),
               clEnumValN(CompileTo::Exe, "exe", "the job executable")),
    cl::cat(honecCategory));
cl::opt<std::string> outputFile("o", cl::desc("Output file"),
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
cl::opt<bool> noFileChecks(
    "no-file-checks",
    cl::desc("Do not look at datasets, model directories or tokenizer files"),
    cl::init(false), cl::cat(honecCategory));

/// Path of this executable, for <dir>/../lib/hone-link.txt.
std::string honecPath;

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

/// Runs the named pipelines of passes/Pipelines.h up to `target`, so that
/// `hone-opt --hone-stage-pipeline --hone-step-pipeline
/// --hone-scheduled-pipeline --hone-to-llvm` reproduces honec.
LogicalResult runPhases(ModuleOp module, CompileTo target) {
  if (target == CompileTo::Stage)
    return success();
  if (!stagePasses.empty() &&
      failed(runPhase(module, "stage passes (plugins)", [](OpPassManager &pm) {
        return parseExtra(pm, stagePasses);
      })))
    return failure();
  if (failed(runPhase(module, "step (hone-stage-pipeline, hone-step-pipeline)",
                      [](OpPassManager &pm) {
                        mlir::hone::buildStagePipeline(pm, {});
                        mlir::hone::buildStepPipeline(pm, {});
                        return success();
                      })))
    return failure();
  if (!stepPasses.empty() &&
      failed(runPhase(module, "step passes (plugins)", [](OpPassManager &pm) {
        return parseExtra(pm, stepPasses);
      })))
    return failure();
  if (target == CompileTo::Step)
    return success();
  if (failed(runPhase(module, "scheduled (hone-scheduled-pipeline)",
                      [](OpPassManager &pm) {
                        mlir::hone::buildScheduledPipeline(pm);
                        return success();
                      })))
    return failure();
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
           << " needs an output file (-o FILE)";
  std::string object = outputFile;
  llvm::SmallString<128> temp;
  if (compileTo == CompileTo::Exe) {
    if (std::error_code ec =
            llvm::sys::fs::createTemporaryFile("honec-job", "o", temp))
      return emitError(module.getLoc())
             << "cannot create a temporary object file: " << ec.message();
    object = std::string(temp);
  }
  llvm::Timer *t = phaseTimer->start("object (LLVM O2, codegen)");
  LogicalResult r = honec::emitObject(module, object);
  phaseTimer->stop(t);
  if (failed(r) || compileTo == CompileTo::Object)
    return r;
  t = phaseTimer->start("exe (link with hone_runtime)");
  r = honec::linkExecutable(*module.getContext(), honecPath, object,
                            outputFile);
  phaseTimer->stop(t);
  llvm::sys::fs::remove(object);
  return r;
}

LogicalResult compile(MLIRContext &ctx, llvm::raw_ostream &os) {
  ::hone::spec::LoadOptions options;
  options.checkFiles = !noFileChecks;
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
  if (compileTo.getValue() >= CompileTo::Llvm)
    module->walk([&](mlir::hone::PipelineOp p) {
      p->setAttr("hone.spec_text", StringAttr::get(&ctx, resolved));
    });
  if (failed(runPhases(*module, compileTo)))
    return failure();
  if (compileTo.getValue() >= CompileTo::Llvm)
    return emit(*module, os);
  module->print(os, OpPrintingFlags());
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
  cl::HideUnrelatedOptions(honecCategory);
  cl::ParseCommandLineOptions(argc, argv,
                              "Hone: compile a post-training pipeline spec\n");

  honecPath = llvm::sys::fs::getMainExecutable(argv[0], (void *)&main);
  PhaseTimer timer;
  phaseTimer = &timer;

  for (const std::string &path : passPlugins) {
    auto plugin = PassPlugin::load(path);
    if (!plugin) {
      llvm::errs() << "honec: cannot load pass plugin " << path << ": "
                   << llvm::toString(plugin.takeError()) << "\n";
      return 1;
    }
    plugin->registerPassRegistryCallbacks();
  }
  mlir::hone::registerPipelines();

  DialectRegistry registry;
  registry.insert<mlir::hone::HoneDialect>();
  MLIRContext ctx(registry);
  ctx.loadAllAvailableDialects();
  honec::registerTranslations(ctx);

  std::string error;
  auto output = openOutputFile(outputFile, &error);
  if (!output) {
    llvm::errs() << "honec: " << error << "\n";
    return 1;
  }

  // The spec is in the source manager so that diagnostics show its lines and
  // the verifier finds expected-* markers in it.
  llvm::SourceMgr sourceMgr;
  auto buffer = llvm::MemoryBuffer::getFile(specPath, /*IsText=*/true);
  if (buffer)
    sourceMgr.AddNewSourceBuffer(std::move(*buffer), llvm::SMLoc());

  if (verifyDiagnostics) {
    SourceMgrDiagnosticVerifierHandler handler(sourceMgr, &ctx);
    (void)compile(ctx, output->os());
    if (failed(handler.verify()))
      return 1;
    output->keep();
    return 0;
  }
  SourceMgrDiagnosticHandler handler(sourceMgr, &ctx);
  if (failed(compile(ctx, output->os())))
    return 1;
  output->keep();
  return 0;
}
