//===- ConvertHoneToRuntime.cpp - scheduled IR → calls into the runtime ---===//
//
// Each hone.pipeline becomes `int main(int argc, char **argv)`:
//
//   job = hone_rt_begin(HONE_RT_ABI_VERSION, argc, argv, name, config_json,
//                       spec_text, ir_text);
//   if (!job) return 0;                      // --help / --version
//   ... the pipeline body: object ops → hone_rt_object, step ops →
//       hone_rt_step, hone.train_step → hone_rt_train_step, hone.exec.* →
//       stage brackets and snapshots, scf.for / scf.if kept ...
//   return hone_rt_end(job);
//
// Object values (models, datasets, rewards, buffers) become opaque pointers;
// tensors become pointers into one zero-initialised arena per pipeline
// (hone_rt_arena) at the offsets hone-plan-arena fixed, passed as hone_tensor
// descriptors (runtime/abi/hone_runtime.h). Scalars (index, i1, ...) cross
// as rank-0 tensors in stack slots.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"
#include "passes/RuntimeAbi.h"
#include "passes/lower/Lowering.h"
#include "runtime/abi/SettingsCheck.h"

#include "mlir/IR/Builders.h"

namespace mlir::hone {
#define GEN_PASS_DEF_CONVERTHONETORUNTIME
#include "passes/Passes.h.inc"
} // namespace mlir::hone

using namespace mlir;
using namespace mlir::hone;
using namespace mlir::hone::lower;

namespace {

struct ConvertHoneToRuntime
    : public mlir::hone::impl::ConvertHoneToRuntimeBase<ConvertHoneToRuntime> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<PipelineOp> pipelines(module.getOps<PipelineOp>());
    if (pipelines.size() > 1) {
      pipelines[1].emitOpError("convert-hone-to-runtime: one pipeline per "
                               "module (each becomes main)");
      return signalPassFailure();
    }
    for (PipelineOp p : pipelines) {
      Lowering lowering(module);
      if (failed(lowering.lowerPipeline(p)))
        return signalPassFailure();
    }
  }
};
} // namespace

/// The ops that create a runtime object (the table's Object rows must be
/// exactly these: checkAbiTable).
static bool isRuntimeObjectOpName(StringRef name) {
  return llvm::is_contained({"hone.model.init", "hone.model.load",
                             "hone.model.new_head", "hone.model.lora",
                             "hone.dataset",
                             "hone.exec.snapshot", "hone.buffer.init"},
                            name) ||
         name.starts_with("hone.reward.");
}

bool mlir::hone::isRuntimeObjectOp(Operation *op) {
  return isRuntimeObjectOpName(op->getName().getStringRef());
}

bool mlir::hone::lowersThroughAbiTable(StringRef name) {
  if (!name.consume_front("hone."))
    return false;
  return !llvm::is_contained({"pipeline", "sft", "rl", "preference",
                              "reward_model", "eval", "exec.step_end",
                              "exec.stage_end", "exec.signal", "exec.wait",
                              "exec.sync"},
                             name) &&
         !name.starts_with("loss.");
}

unsigned mlir::hone::checkAbiTable(
    MLIRContext *ctx, ArrayRef<abi::OpRow> ops, ArrayRef<abi::AttrRow> attrs,
    function_ref<void(const Twine &)> complain) {
  unsigned problems = 0;
  auto bad = [&](const Twine &what) {
    ++problems;
    complain(what);
  };
  auto expectedCall = [](StringRef name) {
    return name == "hone.train_step"         ? abi::Call::Train
           : name == "hone.exec.stage_begin" ? abi::Call::Stage
           : isRuntimeObjectOpName(name)     ? abi::Call::Object
                                             : abi::Call::Step;
  };
  for (const abi::OpRow &r : ops) {
    std::string name = (Twine("hone.") + r.name).str();
    std::optional<RegisteredOperationName> reg =
        RegisteredOperationName::lookup(name, ctx);
    if (!reg) {
      bad("row '" + Twine(r.name) + "': " + name + " is not a registered op");
      continue;
    }
    if (!lowersThroughAbiTable(name))
      bad("row '" + Twine(r.name) + "': convert-hone-to-runtime does not "
          "lower " + name + " through the table");
    else if (expectedCall(name) != r.call)
      bad("row '" + Twine(r.name) + "': the lowering calls " + name +
          " through another entry point than the row says");
    for (const abi::AttrRow &a : attrs) {
      if (a.op != r.id)
        continue;
      bool declared = llvm::any_of(reg->getAttributeNames(), [&](StringAttr n) {
        return n.getValue() == a.name;
      });
      if (a.from == abi::From::Ods && !declared)
        bad("row '" + Twine(r.name) + "': attribute '" + a.name +
            "' is ODS, but " + name + " declares no such attribute");
      if (a.from != abi::From::Ods && declared)
        bad("row '" + Twine(r.name) + "': attribute '" + a.name + "' is " +
            (a.from == abi::From::Lowering ? "LOWER" : "DISC") + ", but " +
            name + " declares it (make it ODS)");
    }
  }
  for (const abi::AttrRow &a : attrs)
    if (llvm::none_of(ops, [&](const abi::OpRow &r) { return r.id == a.op; }))
      bad("attribute '" + Twine(a.name) + "' names no row");
  Dialect *hone = ctx->getLoadedDialect("hone");
  if (!hone) {
    bad("the hone dialect is not loaded");
    return problems;
  }
  for (RegisteredOperationName op : ctx->getRegisteredOperations()) {
    if (&op.getDialect() != hone || !lowersThroughAbiTable(op.getStringRef()))
      continue;
    StringRef short_ = op.getStringRef().drop_front(5);
    if (llvm::none_of(ops, [&](const abi::OpRow &r) { return short_ == r.name; }))
      bad(op.getStringRef() + " reaches the runtime but has no row");
  }
  return problems;
}

const abi::SettingsRow *mlir::hone::settingsRowOf(Attribute a) {
  if (!a || a.getAbstractAttribute().getDialect().getNamespace() != "hone")
    return nullptr;
  return abi::findSettings(("#" + a.getAbstractAttribute().getName()).str());
}


std::string mlir::hone::checkSettingsJson(abi::SettingsId id,
                                          StringRef json) {
  return abi::checkSettingsText(id, std::string_view(json.data(), json.size()));
}
