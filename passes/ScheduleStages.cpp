//===- ScheduleStages.cpp - snapshots and stage brackets ------------------===//

#include "passes/Passes.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Dominance.h"

namespace mlir::hone {
#define GEN_PASS_DEF_SCHEDULESTAGES
#include "passes/Passes.h.inc"
} // namespace mlir::hone

using namespace mlir;
using namespace mlir::hone;

namespace {

/// "grpo" from NameLoc("grpo", …), else "stage<N>".
std::string stageName(Location loc, unsigned index) {
  if (auto named = dyn_cast<NameLoc>(loc))
    return named.getName().str();
  if (auto fused = dyn_cast<FusedLoc>(loc))
    for (Location inner : fused.getLocations())
      if (auto named = dyn_cast<NameLoc>(inner))
        return named.getName().str();
  return "stage" + std::to_string(index);
}

struct ScheduleStages
    : public mlir::hone::impl::ScheduleStagesBase<ScheduleStages> {
  void runOnOperation() override {
    PipelineOp pipeline = getOperation();
    Block &body = pipeline.getBody().front();
    SmallVector<scf::ForOp> loops;
    for (Operation &op : body)
      if (auto loop = dyn_cast<scf::ForOp>(op))
        loops.push_back(loop);

    unsigned index = 0;
    for (scf::ForOp loop : loops) {
      if (failed(snapshotFrozenInits(loop)) ||
          failed(bracket(loop, index++)))
        return signalPassFailure();
    }
    // Snapshots are new model uses: name them too.
    annotateModelNames(pipeline);
    markFrozenStorage(pipeline);
  }

  /// Whether model state `v` carries LoRA adapters: made by hone.model.lora,
  /// possibly through stage loops that train it.
  static bool fromLora(Value v) {
    for (int guard = 0; guard < 1000; ++guard) {
      if (auto arg = dyn_cast<BlockArgument>(v)) {
        auto loop = dyn_cast<scf::ForOp>(arg.getOwner()->getParentOp());
        if (!loop || arg.getArgNumber() < loop.getNumInductionVars())
          return false;
        v = loop.getInitArgs()[arg.getArgNumber() - loop.getNumInductionVars()];
        continue;
      }
      Operation *def = v.getDefiningOp();
      if (!def)
        return false;
      if (isa<ModelLoraOp>(def))
        return true;
      if (auto loop = dyn_cast<scf::ForOp>(def)) {
        v = loop.getInitArgs()[cast<OpResult>(v).getResultNumber()];
        continue;
      }
      if (isa<ExecSnapshotOp>(def)) {
        v = def->getOperand(0);
        continue;
      }
      // A stage op (hone.sft, ...) yields the state it trained.
      if (def->getNumOperands() &&
          isa<ModelType>(def->getOperand(0).getType()) &&
          !isa<ModelNewHeadOp>(def)) {
        v = def->getOperand(0);
        continue;
      }
      return false;
    }
    return false;
  }

  /// hardware.frozen_precision bf16 (the frontend's default when
  /// `precision` is bf16): a model no stage trains or copies (a snapshot,
  /// or a loaded model that is only read: reference, reward model) is kept
  /// in bf16 (docs/runtime.md, "Frozen models in bf16"). The discardable
  /// attribute "storage" = "bf16" tells the runtime (runtime/abi/
  /// step_ops.inl) and hone-plan-memory. Only readers that run forward
  /// passes and LoRA adapters on it (hone.model.lora: the base stays
  /// frozen, the adapters train in fp32) qualify; any other use (a loop
  /// that trains it, a copy) keeps the model in fp32.
  void markFrozenStorage(PipelineOp pipeline) {
    RunAttr run = pipeline.getRunAttr();
    if (!run || run.getHardware().getFrozenPrecision() != Precision::bf16)
      return;
    pipeline.walk([&](Operation *op) {
      if (!isa<ModelLoadOp, ExecSnapshotOp>(op))
        return;
      // A LoRA model's snapshot copies its adapters and shares its base.
      if (isa<ExecSnapshotOp>(op) && fromLora(op->getOperand(0)))
        return;
      for (Operation *user : op->getResult(0).getUsers())
        if (!isa<LogprobOp, ValueOp, ScoreOp, GenerateOp, RewardModelOp, SaveOp,
                 EvalStepOp, ModelLoraOp>(user))
          return;
      op->setAttr("storage", StringAttr::get(op->getContext(), "bf16"));
    });
  }

  /// A model the loop trains in place (an iter_arg's initial value) that is
  /// read inside or after the loop gets a snapshot for those readers.
  LogicalResult snapshotFrozenInits(scf::ForOp loop) {
    OpBuilder b(loop);
    for (OpOperand &init : loop.getInitArgsMutable()) {
      Value state = init.get();
      if (!isa<ModelType>(state.getType()))
        continue;
      SmallVector<OpOperand *> readers;
      for (OpOperand &use : state.getUses()) {
        if (&use == &init)
          continue;
        Operation *user = use.getOwner();
        // Readers before the loop see the state before training: fine.
        bool inside = loop->isAncestor(user);
        bool after = user->getBlock() == loop->getBlock() &&
                     loop->isBeforeInBlock(user);
        if (!inside && !after) {
          Operation *anc = loop->getBlock()->findAncestorOpInBlock(*user);
          after = anc && loop->isBeforeInBlock(anc);
        }
        if (inside || after)
          readers.push_back(&use);
      }
      if (readers.empty())
        continue;
      auto snap = ExecSnapshotOp::create(b, loop.getLoc(), state);
      for (OpOperand *use : readers)
        use->set(snap.getResult());
    }
    return success();
  }

  LogicalResult bracket(scf::ForOp loop, unsigned index) {
    auto ub = loop.getUpperBound().getDefiningOp<arith::ConstantIndexOp>();
    auto lb = loop.getLowerBound().getDefiningOp<arith::ConstantIndexOp>();
    auto stepOp = loop.getStep().getDefiningOp<arith::ConstantIndexOp>();
    if (!ub || !lb || lb.value() != 0 || !stepOp || stepOp.value() != 1)
      return loop.emitError("hone-schedule-stages: a stage loop must run "
                            "from 0 by 1 to a constant step count");
    OpBuilder b(loop);
    Location loc = loop.getLoc();
    auto begin = ExecStageBeginOp::create(
        b, loc, b.getIndexType(), b.getStringAttr(stageName(loc, index)),
        b.getI64IntegerAttr(ub.value()));
    loop.getLowerBoundMutable().assign(begin.getFirst());

    Operation *yield = loop.getBody()->getTerminator();
    b.setInsertionPoint(yield);
    ExecStepEndOp::create(b, loc, loop.getInductionVar());

    b.setInsertionPointAfter(loop);
    ExecStageEndOp::create(b, loc);
    return success();
  }
};

} // namespace
