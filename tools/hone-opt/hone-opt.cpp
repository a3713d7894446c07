//===- hone-opt.cpp - mlir-opt for Hone -----------------------------------===//
//
// Parses, verifies, transforms and prints Hone IR. Knows the hone dialect,
// Hone's passes and named pipelines, the upstream dialects Hone lowers
// through and the upstream passes; loads more with --load-pass-plugin and
// --load-dialect-plugin.
//
//===----------------------------------------------------------------------===//

#include "dialect/HoneDialect.h"
#include "passes/Passes.h"
#include "passes/Pipelines.h"

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

#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <string>
#include <sys/mman.h>
#include <unistd.h>

namespace {
/// Bracket nesting ((, [, {, <) the parser may recurse through: deeper
/// input overflowed the stack (20,000 levels crashed hone-opt). About 500
/// op levels in generic form; Hone's IR nests a few dozen.
constexpr int kMaxNesting = 1000;

/// The line:column where `text` first nests deeper than kMaxNesting, or
/// {0, 0}. Strings and // comments are skipped; '->' closes nothing.
std::pair<int, int> tooDeep(llvm::StringRef text) {
  int depth = 0, line = 1, col = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    ++col;
    if (c == '\n') {
      ++line;
      col = 0;
    } else if (c == '"') {
      for (++i; i < text.size() && text[i] != '"' && text[i] != '\n'; ++i)
        if (text[i] == '\\')
          ++i;
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
  auto buf = input == "-" ? llvm::MemoryBuffer::getSTDIN()
                          : llvm::MemoryBuffer::getFile(input);
  if (!buf)
    return true; // MlirOptMain reports it
  auto [line, col] = tooDeep((*buf)->getBuffer());
  if (line > 0) {
    llvm::errs() << (input == "-" ? "<stdin>" : input) << ":" << line << ":"
                 << col << ": error: the IR nests more than " << kMaxNesting
                 << " brackets deep\n  hint: hone-opt refuses deeper input "
                    "(the parser would overflow its stack)\n";
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

  auto [input, output] = mlir::registerAndParseCLIOptions(
      argc, argv, "Hone optimizer driver: passes and pipelines on Hone IR\n",
      registry);
  if (!checkNesting(input))
    return 1;
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, input, output, registry));
}
