//===- hone-doc-tblgen.cpp - C++ accessors in the dialect docs ------------===//
//
// mlir-tblgen's -gen-dialect-doc gives each op's ODS types; a pass author
// needs the C++ the generated classes offer (`getSteps()` returns
// `uint64_t`, `getPolicy()` a `TypedValue<ModelType>`). This TableGen
// backend reads the same .td files and inserts, into mlir-tblgen's markdown
// (--dialect-md), a "C++ accessors" table after each op's section:
//
//   hone-doc-tblgen HoneOps.td -I... --dialect-md=HoneDialect.md -o out.md
//
// The table is derived from ODS alone, so it stays current with the ops.
//
//===----------------------------------------------------------------------===//

#include "mlir/TableGen/Argument.h"
#include "mlir/TableGen/Attribute.h"
#include "mlir/TableGen/Operator.h"
#include "mlir/TableGen/Property.h"
#include "mlir/TableGen/Region.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/TableGen/Main.h"
#include "llvm/TableGen/Record.h"

#include <string>

using namespace llvm;
using namespace mlir::tblgen;

static cl::opt<std::string>
    dialectMd("dialect-md", cl::desc("mlir-tblgen -gen-dialect-doc output"),
              cl::value_desc("file"), cl::Required);

/// `::mlir::hone::ModelType` -> `ModelType` etc.: shorter, still exact for a
/// reader who has `using namespace mlir` and `mlir::hone`.
static std::string shortType(StringRef t) {
  std::string s = t.trim().str();
  for (StringRef ns : {"::mlir::hone::", "::mlir::", "::llvm::", "mlir::"})
    for (size_t p; (p = s.find(ns.str())) != std::string::npos;)
      s.erase(p, ns.size());
  for (size_t p; (p = s.find("::std::")) != std::string::npos;)
    s.erase(p, 2);
  for (const char *space : {"< ", " >"})
    for (size_t p; (p = s.find(space)) != std::string::npos;)
      s.erase(space[0] == ' ' ? p : p + 1, 1);
  return s;
}

static std::string valueType(const NamedTypeConstraint &v, bool operand) {
  if (v.isVariadic())
    return operand ? "Operation::operand_range" : "Operation::result_range";
  StringRef cpp = v.constraint.getCppType();
  std::string one = cpp.empty() || cpp == "::mlir::Type"
                        ? std::string("Value")
                        : "TypedValue<" + shortType(cpp) + ">";
  return v.isOptional() ? one + " (null when absent)" : one;
}

static void row(raw_ostream &os, StringRef call, StringRef type,
                StringRef what) {
  os << "| `" << call << "` | `" << type << "` | " << what << " |\n";
}

/// The accessor table of one op.
static void emitAccessors(const Operator &op, raw_ostream &os) {
  os << "#### C++ accessors\n\n"
     << "`" << op.getQualCppClassName() << "` (from `dialect/HoneOps.h`):\n\n"
     << "| call | C++ type | |\n|---|---|---|\n";
  for (int i = 0, e = op.getNumOperands(); i < e; ++i) {
    const NamedTypeConstraint &v = op.getOperand(i);
    if (v.name.empty())
      continue;
    row(os, op.getGetterName(v.name) + "()", valueType(v, true), "operand");
  }
  for (const NamedAttribute &na : op.getAttributes()) {
    const Attribute &a = na.attr;
    std::string get = op.getGetterName(na.name);
    std::string ret = shortType(a.getReturnType());
    bool optional = a.isOptional() && !a.isDerivedAttr();
    std::string what = a.isDerivedAttr() ? "attribute (derived)"
                       : optional        ? "attribute (optional)"
                       : !a.getDefaultValue().empty()
                           ? ("attribute (default " +
                              a.getDefaultValue().trim() + ")")
                                 .str()
                           : std::string("attribute");
    row(os, get + "()", ret, what);
    if (a.isDerivedAttr())
      continue;
    row(os, get + "Attr()", shortType(a.getStorageType()), "the attribute");
    row(os, op.getSetterName(na.name) + "(" + ret + ")", "void",
        "changes it in place");
  }
  for (const NamedProperty &np : op.getProperties())
    row(os, op.getGetterName(np.name) + "()",
        shortType(np.prop.getInterfaceType()), "property");
  for (const NamedRegion &r : op.getRegions())
    if (!r.name.empty())
      row(os, op.getGetterName(r.name) + "()",
          r.isVariadic() ? "MutableArrayRef<Region>" : "Region &", "region");
  for (int i = 0, e = op.getNumResults(); i < e; ++i) {
    const NamedTypeConstraint &v = op.getResult(i);
    if (v.name.empty())
      continue;
    row(os, op.getGetterName(v.name) + "()", valueType(v, false), "result");
  }
  os << "\n";
}

static bool generate(raw_ostream &os, const RecordKeeper &records) {
  // Accessor tables by the op's section heading in mlir-tblgen's output.
  StringMap<std::string> tables;
  for (const Record *def : records.getAllDerivedDefinitions("Op")) {
    Operator op(def);
    if (op.getDialectName() != "hone")
      continue;
    std::string text;
    raw_string_ostream ts(text);
    emitAccessors(op, ts);
    tables["### `" + op.getOperationName() + "` (" +
           op.getQualCppClassName().substr(std::string("::mlir::").size()) +
           ")"] = text;
  }
  auto md = MemoryBuffer::getFile(dialectMd, /*IsText=*/true);
  if (!md) {
    errs() << "hone-doc-tblgen: cannot read " << dialectMd << "\n";
    return true;
  }
  // Insert each table at the end of its op's section (before the next
  // heading of the same or a higher level).
  SmallVector<StringRef> lines;
  (*md)->getBuffer().split(lines, '\n');
  std::string pending;
  size_t used = 0;
  if (!lines.empty() && lines.back().empty())
    lines.pop_back(); // the text after the final newline
  for (StringRef line : lines) {
    bool heading = line.starts_with("### ") || line.starts_with("## ") ||
                   line.starts_with("# ");
    if (heading && !pending.empty()) {
      os << pending;
      pending.clear();
    }
    if (line.starts_with("### ")) {
      auto it = tables.find(line.rtrim());
      if (it != tables.end()) {
        pending = it->second;
        ++used;
      }
    }
    os << line << "\n";
  }
  os << pending;
  if (used != tables.size()) {
    errs() << "hone-doc-tblgen: " << tables.size() - used
           << " ops have no section in " << dialectMd << "\n";
    return true;
  }
  return false;
}

int main(int argc, char **argv) {
  InitLLVM y(argc, argv);
  cl::ParseCommandLineOptions(argc, argv);
  return TableGenMain(argv[0], TableGenMainFn(generate));
}
