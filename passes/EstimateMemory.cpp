//===- EstimateMemory.cpp - stage-level model-state memory check ----------===//

#include "passes/Passes.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MathExtras.h"

namespace mlir::hone {
#define GEN_PASS_DEF_ESTIMATEMEMORY
#include "passes/Passes.h.inc"
} // namespace mlir::hone

using namespace mlir;
using namespace mlir::hone;

/// Bytes in the largest binary unit that keeps the number at least 1.
std::string mlir::hone::humanBytes(int64_t bytes) {
  static const char *units[] = {"bytes", "KiB", "MiB", "GiB", "TiB",
                                "PiB", "EiB"};
  if (bytes == std::numeric_limits<int64_t>::max())
    return "more than 8 EiB";
  double value = double(bytes);
  int unit = 0;
  while (value >= 1024.0 && unit < 6) {
    value /= 1024.0;
    ++unit;
  }
  if (unit == 0)
    return llvm::formatv("{0} bytes", bytes).str();
  return llvm::formatv("{0:F1} {1}", value, units[unit]).str();
}

namespace {

constexpr int64_t kTrainedBytesPerParam = 16; // weights, grads, 2 moments
constexpr int64_t kFrozenBytesPerParam = 4;   // fp32 weights
// hardware.frozen_precision bf16: frozen models (references, reward models,
// LoRA bases) are stored in bf16 (hone-schedule-stages; docs/
// runtime.md, "Frozen models in bf16").
constexpr int64_t kFrozenBf16BytesPerParam = 2;

int64_t numParams(Value model) {
  return cast<ModelType>(model.getType()).getArch().getNumParameters();
}

/// The hone.model.lora a model state descends from through training
/// stages (a LoRA stage's output trains on as LoRA), or null.
Value loraRoot(Value v) {
  while (Operation *def = v.getDefiningOp()) {
    if (isa<ModelLoraOp>(def))
      return v;
    if (!isa<SftOp, PreferenceOp, RlOp>(def) ||
        cast<OpResult>(v).getResultNumber() != 0)
      return {};
    v = def->getOperand(0);
  }
  return {};
}

/// Models read but not trained by a stage, through its reward too.
void collectFrozen(Value reward, SmallVectorImpl<Value> &frozen) {
  Operation *def = reward ? reward.getDefiningOp() : nullptr;
  if (auto model = dyn_cast_or_null<RewardModelOp>(def))
    frozen.push_back(model.getModel());
  else if (auto combine = dyn_cast_or_null<RewardCombineOp>(def))
    for (Value input : combine.getInputs())
      collectFrozen(input, frozen);
}

struct EstimateMemory
    : public mlir::hone::impl::EstimateMemoryBase<EstimateMemory> {
  using Base::Base;

  void runOnOperation() override {
    PipelineOp pipeline = getOperation();
    int64_t budget = budgetBytes;
    if (budget == 0)
      if (RunAttr run = pipeline.getRunAttr())
        budget = run.getHardware().getMemoryBudget();
    RunAttr runAttr = pipeline.getRunAttr();
    const bool bf16 = runAttr && runAttr.getHardware().getFrozenPrecision() ==
                                     Precision::bf16;

    int64_t peak = 0;
    bool overBudget = false;
    Builder b(&getContext());
    for (Operation &op : pipeline.getBody().front()) {
      SmallVector<Value> trained, frozen;
      if (auto sft = dyn_cast<SftOp>(op)) {
        trained.push_back(sft.getPolicy());
        if (sft.getRef())
          frozen.push_back(sft.getRef());
      } else if (auto rm = dyn_cast<RewardModelTrainOp>(op)) {
        trained.push_back(rm.getBase());
      } else if (auto pref = dyn_cast<PreferenceOp>(op)) {
        trained.push_back(pref.getPolicy());
        // hone-precompute-reference reads it once before the stage: not
        // resident while training.
        if (pref.getRef() &&
            !(precomputeReference && precomputesReference(pref)))
          frozen.push_back(pref.getRef());
      } else if (auto rl = dyn_cast<RlOp>(op)) {
        trained.push_back(rl.getPolicy());
        if (rl.getCritic())
          trained.push_back(rl.getCritic());
        if (rl.getRef())
          frozen.push_back(rl.getRef());
        collectFrozen(rl.getReward(), frozen);
      } else if (auto eval = dyn_cast<EvalOp>(op)) {
        frozen.push_back(eval.getModel());
        collectFrozen(eval.getReward(), frozen);
      } else {
        continue;
      }

      // A model both trained and read (ref == policy) is resident twice:
      // hone-schedule-stages reads the reference from a frozen snapshot.
      // Saturating: 2^62 layers must not wrap to a size under the budget.
      uint64_t total = 0;
      llvm::SmallPtrSet<void *, 8> seen, seenFrozen;
      // Each model's share, by its spec name, for the over-budget message.
      std::string byModel;
      auto add = [&](Value v, uint64_t bytesPerParam, uint64_t params,
                     StringRef how) {
        uint64_t share =
            llvm::SaturatingMultiply<uint64_t>(bytesPerParam, params);
        total = llvm::SaturatingAdd<uint64_t>(total, share);
        byModel += (byModel.empty() ? "" : ", ") + modelName(v) + " " +
                   humanBytes(int64_t(std::min<uint64_t>(
                       share, std::numeric_limits<int64_t>::max()))) +
                   " " + how.str();
      };
      // A LoRA model trains its adapters only; its base is read, frozen.
      SmallVector<Value> trainedModels;
      llvm::SmallPtrSet<void *, 4> loraBases;
      for (Value v : trained) {
        Value root = loraRoot(v);
        if (auto lora = root ? root.getDefiningOp<ModelLoraOp>() : nullptr) {
          if (seen.insert(v.getAsOpaquePointer()).second)
            add(v, kTrainedBytesPerParam,
                lora.getLora().getNumAdapterParameters(
                    cast<ModelType>(v.getType()).getArch()),
                "adapters");
          frozen.push_back(lora.getBase());
          loraBases.insert(lora.getBase().getAsOpaquePointer());
        } else {
          trainedModels.push_back(v);
        }
      }
      for (Value v : trainedModels)
        if (seen.insert(v.getAsOpaquePointer()).second)
          add(v, kTrainedBytesPerParam, numParams(v), "trained");
      // A LoRA base is stored in bf16 when it is loaded or initialised
      // (hone-schedule-stages marks a hone.model.load or hone.model.init
      // that only carries adapters and is read).
      for (Value v : frozen)
        if (seenFrozen.insert(v.getAsOpaquePointer()).second)
          add(v,
              bf16 && (!loraBases.count(v.getAsOpaquePointer()) ||
                       v.getDefiningOp<ModelLoadOp>() ||
                       v.getDefiningOp<ModelInitOp>())
                  ? kFrozenBf16BytesPerParam
                  : kFrozenBytesPerParam,
              numParams(v), "frozen");
      int64_t bytes = int64_t(
          std::min<uint64_t>(total, std::numeric_limits<int64_t>::max()));

      op.setAttr("hone.state_bytes", b.getI64IntegerAttr(bytes));
      peak = std::max(peak, bytes);
      if (budget > 0 && bytes > budget) {
        InFlightDiagnostic diag =
            op.emitError() << "stage needs " << humanBytes(bytes)
                           << " of model state (weights, gradients, AdamW "
                              "moments), over the memory budget of "
                           << humanBytes(budget) << " (" << byModel << ")";
        diag.attachNote() << "hint: raise hardware.memory_budget, use a "
                             "smaller model, or drop the frozen reference "
                             "(kl_coef = 0)";
        overBudget = true;
      }
    }
    pipeline->setAttr("hone.peak_state_bytes", b.getI64IntegerAttr(peak));
    if (overBudget)
      signalPassFailure();
  }
};

} // namespace
