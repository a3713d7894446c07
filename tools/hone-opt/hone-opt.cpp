//===- hone-opt.cpp - mlir-opt for Hone -----------------------------------===//
//
// Parses, verifies, transforms and prints Hone IR. Knows the hone dialect,
// Hone's passes and named pipelines, the upstream dialects Hone lowers
// through and the upstream passes; loads more with --load-pass-plugin and
// --load-dialect-plugin. Pass plugins are loaded before the command line is
// parsed, so their passes are flags too:
//   hone-opt --load-pass-plugin=P.so --my-pass='opt=1' in.mlir
//
//===----------------------------------------------------------------------===//

#include "dialect/HoneDialect.h"
#include "passes/Passes.h"
#include "passes/Pipelines.h"
#include "tools/PluginLoader.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

#include "mlir/Tools/Plugins/DialectPlugin.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <cctype>
#include <string>
#include <sys/mman.h>
#include <unistd.h>

namespace {
/// Bracket nesting ((, [, {, <) the parser may recurse through: deeper
/// input overflowed the stack (20,000 levels crashed hone-opt). About 500
/// op levels in generic form; Hone's IR nests a few dozen.
constexpr int kMaxNesting = 1000;

/// The largest result number in a use `%name#N`: MLIR's parser makes room
/// for N results of a forward reference (2^31 aborted out of memory).
constexpr unsigned long long kMaxResultNumber = 1 << 16;

/// The line:column where `text` first nests deeper than kMaxNesting (or
/// names a result past kMaxResultNumber), or {0, 0}. Strings and //
/// comments are skipped; '->' closes nothing.
std::pair<int, int> tooDeep(llvm::StringRef text) {
  int depth = 0, line = 1, col = 0;
  bool inValueName = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    ++col;
    if (c == '%') {
      inValueName = true;
      continue;
    }
    if (inValueName && c == '#') {
      unsigned long long n = 0;
      size_t k = i + 1;
      for (; k < text.size() && k < i + 24 && std::isdigit((unsigned char)text[k]); ++k)
        n = n * 10 + unsigned(text[k] - '0');
      if (n > kMaxResultNumber || (k == i + 24))
        return {line, col};
    }
    if (!(std::isalnum((unsigned char)c) || c == '_' || c == '$' || c == '.' ||
          c == '-'))
      inValueName = false;
    if (c == '\n') {
      ++line;
      col = 0;
    } else if (c == '"') {
      for (++i, ++col; i < text.size() && text[i] != '"' && text[i] != '\n';
           ++i, ++col)
        if (text[i] == '\\')
          ++i, ++col;
    } else if (c == '/' && i + 1 < text.size() && text[i + 1] == '/') {
      while (i + 1 < text.size() && text[i + 1] != '\n')
        ++i;
    } else if (c == '(' || c == '[' || c == '{' || c == '<') {
      if (++depth > kMaxNesting)
        return {line, col};
    } else if (c == ')' || c == ']' || c == '}' ||
               (c == '>' && (i == 0 || text[i - 1] != '-'))) {
      depth = depth > 0 ? depth - 1 : 0;
    }
  }
  return {0, 0};
}

/// Refuses input nested too deeply with a located error (exit 1). Standard
/// input is read here and handed on through a memory file.
bool checkNesting(llvm::StringRef input) {
  // A device may never end (/dev/zero was read until memory ran out).
  llvm::sys::fs::file_status st;
  if (input != "-" && !llvm::sys::fs::status(input, st) &&
      (st.type() == llvm::sys::fs::file_type::character_file ||
       st.type() == llvm::sys::fs::file_type::block_file)) {
    llvm::errs() << input << ": error: the input is a device, not a file\n";
    return false;
  }
  auto buf = input == "-" ? llvm::MemoryBuffer::getSTDIN()
                          : llvm::MemoryBuffer::getFile(input);
  if (!buf)
    return true; // MlirOptMain reports it
  auto [line, col] = tooDeep((*buf)->getBuffer());
  if (line > 0) {
    llvm::errs() << (input == "-" ? "<stdin>" : input) << ":" << line << ":"
                 << col << ": error: the IR nests more than " << kMaxNesting
                 << " brackets deep, or names a result number past "
                 << kMaxResultNumber
                 << "\n  hint: hone-opt refuses such input (the parser "
                    "would overflow its stack or run out of memory)\n";
    return false;
  }
  if (input == "-") {
    int fd = ::memfd_create("stdin", 0);
    llvm::StringRef b = (*buf)->getBuffer();
    if (fd < 0 || ::write(fd, b.data(), b.size()) != ssize_t(b.size()) ||
        ::lseek(fd, 0, SEEK_SET) != 0 || ::dup2(fd, 0) < 0) {
      llvm::errs() << "error: cannot buffer standard input\n";
      return false;
    }
    ::close(fd);
  }
  return true;
}
} // namespace

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  registry.insert<mlir::hone::HoneDialect, mlir::arith::ArithDialect,
                  mlir::bufferization::BufferizationDialect,
                  mlir::cf::ControlFlowDialect, mlir::func::FuncDialect,
                  mlir::gpu::GPUDialect, mlir::LLVM::LLVMDialect,
                  mlir::NVVM::NVVMDialect, mlir::linalg::LinalgDialect,
                  mlir::math::MathDialect, mlir::memref::MemRefDialect,
                  mlir::scf::SCFDialect, mlir::tensor::TensorDialect>();

  mlir::registerTransformsPasses();
  mlir::registerConversionPasses();
  mlir::hone::registerHonePasses();
  mlir::hone::registerPipelines();

  // MlirOptMain builds one flag per registered pass when it parses the
  // command line; plugins loaded while parsing would come too late for that.
  std::vector<char *> args(argv, argv + argc);
  if (!hone::tools::preloadPassPlugins("hone-opt", args))
    return 1;
  // MlirOptMain ignores a dialect plugin it cannot load ("Request
  // ignored.") and goes on: the IR would then fail to parse, or pass
  // without the plugin's checks, with exit 0.
  for (size_t i = 1; i < args.size(); ++i) {
    llvm::StringRef a = llvm::StringRef(args[i]).ltrim('-');
    if (!a.consume_front("load-dialect-plugin"))
      continue;
    std::string path = a.consume_front("=")               ? a.str()
                       : a.empty() && i + 1 < args.size() ? args[i + 1]
                                                          : "";
    auto plugin = mlir::DialectPlugin::load(path);
    if (!plugin) {
      llvm::errs() << "hone-opt: error: cannot load dialect plugin '" << path
                   << "': " << llvm::toString(plugin.takeError()) << "\n";
      return 1;
    }
  }
  // Diagnostics are one located line: the op they are about is not printed
  // with them unless --mlir-print-op-on-diagnostic asks for it.
  bool opOnDiag = llvm::any_of(args, [](const char *a) {
    return llvm::StringRef(a).contains("mlir-print-op-on-diagnostic");
  });
  static char noOpOnDiag[] = "--mlir-print-op-on-diagnostic=false";
  if (!opOnDiag)
    args.insert(args.begin() + 1, noOpOnDiag);
  int n = static_cast<int>(args.size());
  char **v = args.data();
  auto [input, output] = mlir::registerAndParseCLIOptions(
      n, v, "Hone optimizer driver: passes and pipelines on Hone IR\n",
      registry);
  if (!checkNesting(input))
    return 1;
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(n, v, input, output, registry));
}
