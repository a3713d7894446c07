//===- honec.cpp - the Hone compiler driver -------------------------------===//
//
// honec SPEC [key.path=value ...] [--compile-to=stage] [-o FILE]
//       [--emit-resolved-spec=FILE] [--verify-diagnostics]
//
// Thin on purpose (the IREE/firtool pattern): spec loading and lowering live
// in frontend/, pass pipelines in passes/Pipelines.h; this file parses the
// command line and sequences them.
//
//===----------------------------------------------------------------------===//

#include "dialect/HoneDialect.h"
#include "frontend/SpecDiagnostics.h"
#include "frontend/ToStageIR.h"
#include "passes/Pipelines.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
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
cl::opt<bool> noFileChecks(
    "no-file-checks",
    cl::desc("Do not look at datasets, model directories or tokenizer files"),
    cl::init(false), cl::cat(honecCategory));

/// Runs the phases after the stage IR. Pipelines come from passes/ once they
/// land (passes/Pipelines.h); honec only sequences them.
/// Runs the named pipelines of passes/Pipelines.h up to `target`, so that
/// `hone-opt --hone-stage-pipeline --hone-step-pipeline` reproduces honec.
LogicalResult runPhases(ModuleOp module, CompileTo target) {
  if (target == CompileTo::Stage)
    return success();
  PassManager pm(module.getContext());
  if (failed(applyPassManagerCLOptions(pm)))
    return failure();
  mlir::hone::buildStagePipeline(pm, {});
  mlir::hone::buildStepPipeline(pm, {});
  if (failed(pm.run(module)))
    return failure();
  if (target == CompileTo::Step)
    return success();
  PassManager scheduled(module.getContext());
  if (failed(applyPassManagerCLOptions(scheduled)))
    return failure();
  mlir::hone::buildScheduledPipeline(scheduled);
  if (failed(scheduled.run(module)))
    return failure();
  if (target == CompileTo::Scheduled)
    return success();
  return emitError(module.getLoc())
         << "--compile-to=" << (target == CompileTo::Llvm   ? "llvm"
                                : target == CompileTo::Object ? "object"
                                                              : "exe")
         << " is not implemented yet (issue 6); --compile-to=scheduled is "
            "the furthest level today";
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
  OwningOpRef<ModuleOp> module = mlir::hone::lowerSpecToStageIR(*spec, ctx);
  if (!module || failed(runPhases(*module, compileTo)))
    return failure();
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

  DialectRegistry registry;
  registry.insert<mlir::hone::HoneDialect>();
  MLIRContext ctx(registry);
  ctx.loadAllAvailableDialects();

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
