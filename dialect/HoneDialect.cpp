//===- HoneDialect.cpp - the hone dialect ---------------------------------===//

#include "dialect/HoneDialect.h"
#include "dialect/HoneOps.h"
#include "mlir/IR/OpImplementation.h"

using namespace mlir;
using namespace mlir::hone;

#include "dialect/HoneDialect.cpp.inc"

namespace {
/// Short aliases keep stage IR readable: every op of a pipeline names the
/// same architecture, so it is printed once as `#arch = #hone.arch<…>` and
/// models as `!model = !hone.model<#arch>`.
struct HoneOpAsmInterface : public OpAsmDialectInterface {
  using OpAsmDialectInterface::OpAsmDialectInterface;

  AliasResult getAlias(Attribute attr, raw_ostream &os) const override {
    if (isa<ArchAttr>(attr)) {
      os << "arch";
      return AliasResult::OverridableAlias;
    }
    return AliasResult::NoAlias;
  }

  AliasResult getAlias(Type type, raw_ostream &os) const override {
    if (auto model = dyn_cast<ModelType>(type)) {
      os << (model.hasLMHead() ? "model" : "scalar_model");
      return AliasResult::OverridableAlias;
    }
    return AliasResult::NoAlias;
  }
};
} // namespace

void HoneDialect::initialize() {
  registerAttributes();
  registerTypes();
  addOperations<
#define GET_OP_LIST
#include "dialect/HoneOps.cpp.inc"
      >();
  addInterfaces<HoneOpAsmInterface>();
}
