//===- Emit.cpp - LLVM IR, object files and linking for honec -------------===//
//
// The one translation unit with LLVM's target and translation registration
// (docs/design.md, "Rules": heavy registration headers in one place).
//
//===----------------------------------------------------------------------===//

#include "tools/honec/Emit.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/StringSaver.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/Triple.h"

#ifndef HONE_CXX_COMPILER
#define HONE_CXX_COMPILER "c++"
#endif

using namespace mlir;

void honec::registerTranslations(MLIRContext &ctx) {
  registerBuiltinDialectTranslation(ctx);
  registerLLVMDialectTranslation(ctx);
}

LogicalResult honec::printLLVMIR(ModuleOp module, llvm::raw_ostream &os) {
  llvm::LLVMContext llvmCtx;
  auto llvmModule = translateModuleToLLVMIR(module, llvmCtx, "job");
  if (!llvmModule)
    return emitError(module.getLoc(), "translation to LLVM IR failed");
  llvmModule->print(os, nullptr);
  return success();
}

namespace {
std::unique_ptr<llvm::TargetMachine> hostMachine(std::string &error) {
  static bool initialised = [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    return true;
  }();
  (void)initialised;
  llvm::Triple triple(llvm::sys::getDefaultTargetTriple());
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return nullptr;
  // Generic CPU: the job may run on another machine of the same kind.
  return std::unique_ptr<llvm::TargetMachine>(target->createTargetMachine(
      triple, "generic", "", llvm::TargetOptions(), llvm::Reloc::PIC_));
}
} // namespace

LogicalResult honec::emitObject(ModuleOp module, llvm::StringRef path) {
  std::string error;
  auto tm = hostMachine(error);
  if (!tm)
    return emitError(module.getLoc(), "no LLVM target for the host: ")
           << error;
  llvm::LLVMContext llvmCtx;
  auto llvmModule = translateModuleToLLVMIR(module, llvmCtx, "job");
  if (!llvmModule)
    return emitError(module.getLoc(), "translation to LLVM IR failed");
  llvmModule->setTargetTriple(tm->getTargetTriple());
  llvmModule->setDataLayout(tm->createDataLayout());

  {
    llvm::LoopAnalysisManager lam;
    llvm::FunctionAnalysisManager fam;
    llvm::CGSCCAnalysisManager cgam;
    llvm::ModuleAnalysisManager mam;
    llvm::PassBuilder pb(tm.get());
    pb.registerModuleAnalyses(mam);
    pb.registerCGSCCAnalyses(cgam);
    pb.registerFunctionAnalyses(fam);
    pb.registerLoopAnalyses(lam);
    pb.crossRegisterProxies(lam, fam, cgam, mam);
    llvm::ModulePassManager mpm =
        pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O2);
    mpm.run(*llvmModule, mam);
  }

  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_None);
  if (ec)
    return emitError(module.getLoc(), "cannot write ") << path << ": "
                                                       << ec.message();
  llvm::legacy::PassManager pm;
  if (tm->addPassesToEmitFile(pm, os, nullptr,
                              llvm::CodeGenFileType::ObjectFile))
    return emitError(module.getLoc(), "the host target cannot emit objects");
  pm.run(*llvmModule);
  os.flush();
  return success();
}

LogicalResult honec::linkExecutable(MLIRContext &ctx, llvm::StringRef honecPath,
                                    llvm::StringRef object,
                                    llvm::StringRef output) {
  Location loc = UnknownLoc::get(&ctx);
  // Said before the linker says it among a page of its command line.
  llvm::StringRef outDir = llvm::sys::path::parent_path(output);
  if (llvm::sys::fs::is_directory(output))
    return emitError(loc, "cannot write the job to ")
           << output << ": it is a directory";
  if (!outDir.empty() && !llvm::sys::fs::is_directory(outDir))
    return emitError(loc, "cannot write the job to ")
           << output << ": there is no directory " << outDir;
  llvm::SmallString<256> linkFile(llvm::sys::path::parent_path(honecPath));
  llvm::sys::path::append(linkFile, "..", "lib", "hone-link.txt");
  auto buffer = llvm::MemoryBuffer::getFile(linkFile, /*IsText=*/true);
  if (!buffer)
    return emitError(loc, "cannot link the job: ")
           << linkFile
           << " is missing (it comes with the hone_runtime library: build "
              "the runtime in this build directory, or stop earlier with "
              "--compile-to=object)";
  llvm::BumpPtrAllocator alloc;
  llvm::StringSaver saver(alloc);
  SmallVector<const char *> tokens;
  llvm::cl::TokenizeGNUCommandLine((*buffer)->getBuffer(), saver, tokens);

  std::string compiler = HONE_CXX_COMPILER;
  SmallVector<llvm::StringRef> args{compiler, object};
  // An installed hone-link.txt names Hone's archives relative to itself.
  llvm::StringRef linkDir = llvm::sys::path::parent_path(linkFile);
  for (const char *t : tokens) {
    llvm::StringRef arg(t);
    llvm::SmallString<256> beside(linkDir);
    llvm::sys::path::append(beside, arg);
    if (!arg.starts_with("-") && llvm::sys::path::is_relative(arg) &&
        llvm::sys::fs::exists(beside))
      arg = saver.save(beside.str());
    args.push_back(arg);
  }
  args.push_back("-o");
  args.push_back(output);
  std::string error;
  int rc = llvm::sys::ExecuteAndWait(compiler, args, std::nullopt, {}, 0, 0,
                                     &error);
  if (rc != 0) {
    std::string line;
    for (llvm::StringRef a : args)
      line += (a + " ").str();
    return emitError(loc, "linking the job failed")
           << (error.empty() ? "" : ": " + error) << " (exit " << rc
           << "): " << line;
  }
  return success();
}
