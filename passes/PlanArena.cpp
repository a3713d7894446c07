//===- PlanArena.cpp - static offsets for every step tensor ---------------===//
//
// Every tensor a step op yields is statically shaped; its buffer lives in one
// arena per pipeline at an offset fixed here. Liveness is per block (a value
// lives from its producer to the last op of the block that uses it,
// directly or inside a nested region); intervals are packed first-fit in
// definition order. A nested block (a loop body, an scf.if branch) packs
// above everything its parent block holds, so a parent's value stays intact
// while the region runs.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"
#include "llvm/Support/MathExtras.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

namespace mlir::hone {
#define GEN_PASS_DEF_PLANARENA
#include "passes/Passes.h.inc"
} // namespace mlir::hone

using namespace mlir;
using namespace mlir::hone;

namespace {
constexpr int64_t kAlign = 64;

int64_t alignTo(int64_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

/// The largest buffer (and arena) a job allocates: 1 TiB.
constexpr int64_t kMaxBufferBytes = int64_t(1) << 40;

/// Bytes of a static tensor as the runtime lays it out (i1: one byte), or
/// -1 past kMaxBufferBytes (the product of the dimensions is formed without
/// overflow).
int64_t bytesOf(RankedTensorType t) {
  Type e = t.getElementType();
  int64_t n = e.isInteger(1) ? 1 : (e.getIntOrFloatBitWidth() + 7) / 8;
  for (int64_t d : t.getShape())
    if (llvm::MulOverflow(n, d, n) || n > kMaxBufferBytes)
      return -1;
  return alignTo(std::max<int64_t>(n, 1));
}

struct Interval {
  Value value;
  unsigned start, end;
  int64_t size, offset = 0;
};

struct PlanArena : public mlir::hone::impl::PlanArenaBase<PlanArena> {
  void runOnOperation() override {
    PipelineOp pipeline = getOperation();
    int64_t peak = 0;
    if (failed(planBlock(pipeline.getBody().front(), 0, peak)))
      return signalPassFailure();
    pipeline->setAttr("hone.arena_bytes",
                      Builder(pipeline).getI64IntegerAttr(peak));
  }

  /// Packs `block`'s tensors above `base`; raises `peak` to the arena end.
  LogicalResult planBlock(Block &block, int64_t base, int64_t &peak) {
    llvm::DenseMap<Operation *, unsigned> index;
    unsigned i = 0;
    for (Operation &op : block)
      index[&op] = i++;

    SmallVector<Interval> intervals;
    for (Operation &op : block) {
      for (Value r : op.getResults()) {
        auto t = dyn_cast<RankedTensorType>(r.getType());
        if (!t)
          continue;
        if (!t.hasStaticShape())
          return op.emitOpError("hone-plan-arena: result of dynamic shape ")
                 << t << " has no static buffer";
        Interval iv{r, index[&op], index[&op], bytesOf(t)};
        if (iv.size < 0)
          return op.emitOpError("hone-plan-arena: result of type ")
                 << t << " needs more than 1 TiB";
        for (Operation *user : r.getUsers())
          if (Operation *anc = block.findAncestorOpInBlock(*user))
            iv.end = std::max(iv.end, index[anc]);
        // A pipelined stage loop (hone-pipeline-rollouts) runs its rollout
        // and learning ops at once on two lanes: bytes reused between them
        // would order one after the other (hone-assign-lanes), so nothing
        // in its body shares bytes.
        if (Operation *parent = block.getParentOp())
          if (parent->hasAttr("hone.pipelined"))
            iv.end = i - 1;
        intervals.push_back(iv);
      }
    }

    // First fit: the lowest offset free of every interval still live.
    int64_t top = 0;
    SmallVector<Interval *> placed;
    for (Interval &iv : intervals) {
      SmallVector<std::pair<int64_t, int64_t>> busy;
      for (Interval *p : placed)
        if (p->end >= iv.start)
          busy.push_back({p->offset, p->offset + p->size});
      llvm::sort(busy);
      int64_t offset = 0;
      for (auto [lo, hi] : busy) {
        if (offset + iv.size <= lo)
          break;
        offset = std::max(offset, hi);
      }
      iv.offset = offset;
      top = std::max(top, offset + iv.size);
      placed.push_back(&iv);
    }
    peak = std::max(peak, base + top);

    llvm::DenseMap<Value, int64_t> offsets;
    for (Interval &iv : intervals)
      offsets[iv.value] = base + iv.offset;
    Builder b(block.getParentOp());
    for (Operation &op : block) {
      if (llvm::any_of(op.getResultTypes(), llvm::IsaPred<RankedTensorType>)) {
        SmallVector<int64_t> offs;
        for (Value r : op.getResults())
          offs.push_back(offsets.lookup_or(r, -1));
        op.setAttr("hone.offsets", b.getDenseI64ArrayAttr(offs));
      }
      // A train step's objective is a kernel with its own buffers.
      if (isa<TrainStepOp>(op))
        continue;
      for (Region &region : op.getRegions())
        for (Block &nested : region) {
          int64_t nestedPeak = 0;
          if (failed(planBlock(nested, base + top, nestedPeak)))
            return failure();
          peak = std::max(peak, nestedPeak);
          // The arena end while this region runs: the step's peak.
          if (isa<scf::ForOp, scf::IfOp>(op)) {
            auto prev = op.getAttrOfType<IntegerAttr>("hone.arena_top");
            int64_t regionTop = std::max(nestedPeak, prev ? prev.getInt() : 0);
            op.setAttr("hone.arena_top", b.getI64IntegerAttr(regionTop));
          }
        }
    }
    return success();
  }
};
} // namespace
