//===- AssignLanes.cpp - step ops on lanes, events between them -----------===//
//
// Every step op runs on a lane (a worker thread on the CPU, a stream on a
// GPU); each lane runs its ops in program order. An op that depends on an op
// of another lane waits for an event recorded right after that op. The
// dependences are the SSA operands, the objects (every use of a runtime
// object is ordered after its previous use) and the arena (bytes that the
// planner reuses). A segment is a run of ops between two points where the
// host drains every lane (stage brackets, object ops, host ops, syncs).
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/DenseMap.h"

#include <array>

namespace mlir::hone {
#define GEN_PASS_DEF_ASSIGNLANES
#include "passes/Passes.h.inc"
} // namespace mlir::hone

using namespace mlir;
using namespace mlir::hone;

namespace {

enum Lane { Rollout = 0, Learn = 1, Copy = 2, Comm = 3, NumLanes = 4 };
const char *const kLaneNames[NumLanes] = {"rollout", "learn", "copy", "comm"};

bool isHoneObject(Type t) {
  return isa<ModelType, DatasetType, RewardType, BufferType>(t);
}

/// Ops that the runtime runs on the host after draining every lane.
bool drainsLanes(Operation *op) {
  if (isa<ExecStageBeginOp, ExecStepEndOp, ExecStageEndOp, ExecSyncOp,
          ExecSnapshotOp>(op))
    return true;
  return isRuntimeObjectOp(op);
}

/// Step ops: hone ops that hone_rt_step or hone_rt_train_step runs.
bool isStepOp(Operation *op) {
  Dialect *d = op->getDialect();
  if (!d || d->getNamespace() != "hone" || isa<PipelineOp>(op))
    return false;
  StringRef name = op->getName().getStringRef();
  if (name.starts_with("hone.exec.") || name.starts_with("hone.loss."))
    return false;
  return !drainsLanes(op);
}

/// The lane of a step op, or -1 for the host (it has scalar results that
/// the generated code reads back).
int laneOf(Operation *op) {
  for (Value r : op->getResults())
    if (!isa<RankedTensorType>(r.getType()) && !isHoneObject(r.getType()))
      return -1;
  StringRef n = op->getName().getStringRef().drop_front(5);
  if (llvm::is_contained({"data.next", "data.fetch", "generate", "score",
                          "shape_reward", "group_accuracy", "group_filter",
                          "eval_step"},
                         n))
    return Rollout;
  if (llvm::is_contained({"sync_weights", "buffer.push", "buffer.pop", "save"},
                         n))
    return Copy;
  return Learn;
}

struct Region {
  int64_t begin, end;
  bool overlaps(const Region &o) const {
    return begin < o.end && o.begin < end;
  }
};

/// Bytes of a tensor as hone-plan-arena lays it out.
int64_t bytesOf(RankedTensorType t) {
  Type e = t.getElementType();
  int64_t elem = e.isInteger(1) ? 1 : (e.getIntOrFloatBitWidth() + 7) / 8;
  return std::max<int64_t>(t.getNumElements() * elem, 1);
}

/// The arena bytes of a tensor value, if its producer has an offset.
std::optional<Region> regionOf(Value v) {
  auto t = dyn_cast<RankedTensorType>(v.getType());
  auto r = dyn_cast<OpResult>(v);
  if (!t || !r || !t.hasStaticShape())
    return std::nullopt;
  auto offsets = r.getOwner()->getAttrOfType<DenseI64ArrayAttr>("hone.offsets");
  if (!offsets || offsets.size() != r.getOwner()->getNumResults())
    return std::nullopt;
  int64_t off = offsets[r.getResultNumber()];
  if (off < 0)
    return std::nullopt;
  return Region{off, off + bytesOf(t)};
}

struct Queued {
  Operation *op;
  int lane;
  int64_t index; // position in its lane's queue within the segment
  std::array<int64_t, NumLanes> waited; // what its lane had waited for
  SmallVector<Region> reads, writes;
  int64_t event = -1; // recorded right after it, once some op needs it
};

struct AssignLanes : public mlir::hone::impl::AssignLanesBase<AssignLanes> {
  int64_t nextEvent = 0;

  void runOnOperation() override {
    PipelineOp pipeline = getOperation();
    if (pipeline->walk([](Operation *op) {
          return isa<ExecSignalOp, ExecWaitOp>(op) ? WalkResult::interrupt()
                                                   : WalkResult::advance();
        }).wasInterrupted()) {
      pipeline.emitOpError("hone-assign-lanes: lanes are already assigned");
      return signalPassFailure();
    }
    scheduleBlock(pipeline.getBody().front());
  }

  /// The segment's state: the ops queued per lane since the last drain.
  struct Segment {
    std::vector<Queued> ops;
    llvm::DenseMap<Operation *, size_t> byOp;
    /// Object root -> per lane, its last use there (a queued op), or -1.
    /// Every use counts as a write: an op follows the last use of its
    /// objects on every other lane.
    llvm::DenseMap<Value, std::array<int64_t, NumLanes>> lastUse;
    std::array<int64_t, NumLanes> count{};
    /// waited[y][x]: lane y has waited for lane x's ops up to this index.
    std::array<std::array<int64_t, NumLanes>, NumLanes> waited;
    Segment() { clear(); }
    void clear() {
      ops.clear();
      byOp.clear();
      lastUse.clear();
      count.fill(0);
      for (auto &w : waited)
        w.fill(-1);
    }
    bool pending() const { return !ops.empty(); }
  };

  /// The object an object value stands for: a step op's object result is
  /// the object operand of the same type, updated in place.
  static Value rootOf(Value v) {
    while (auto r = dyn_cast<OpResult>(v)) {
      Operation *def = r.getOwner();
      if (!isStepOp(def))
        break;
      Value next;
      for (Value o : def->getOperands())
        if (o.getType() == v.getType()) {
          next = o;
          break;
        }
      if (!next)
        break;
      v = next;
    }
    return v;
  }

  void scheduleBlock(Block &block) {
    Segment seg;
    for (Operation &op : llvm::make_early_inc_range(block)) {
      if (op.hasTrait<OpTrait::IsTerminator>()) {
        // A nested region hands back to its parent with every lane idle.
        if (seg.pending() && block.getParentOp() &&
            !isa<PipelineOp>(block.getParentOp())) {
          OpBuilder b(&op);
          ExecSyncOp::create(b, op.getLoc());
        }
        break;
      }
      if (op.getNumRegions() > 0 && !isStepOp(&op)) {
        bool hasLaneWork = false;
        op.walk([&](Operation *inner) {
          if (inner != &op && isStepOp(inner) && laneOf(inner) >= 0)
            hasLaneWork = true;
        });
        if (!hasLaneWork)
          continue;
        if (seg.pending()) {
          OpBuilder b(&op);
          ExecSyncOp::create(b, op.getLoc());
        }
        seg.clear();
        for (mlir::Region &r : op.getRegions())
          for (Block &inner : r)
            scheduleBlock(inner);
        continue;
      }
      if (drainsLanes(&op)) {
        seg.clear();
        continue;
      }
      if (!isStepOp(&op))
        continue;
      int lane = laneOf(&op);
      OpBuilder b(&op);
      if (lane < 0) {
        op.setAttr("hone.lane", b.getStringAttr("host"));
        seg.clear();
        continue;
      }
      op.setAttr("hone.lane", b.getStringAttr(kLaneNames[lane]));
      schedule(seg, &op, lane);
    }
  }

  void schedule(Segment &seg, Operation *op, int lane) {
    Queued q{op, lane, seg.count[lane]++, {}, {}, {}};
    for (Value v : op->getOperands())
      if (auto r = regionOf(v))
        q.reads.push_back(*r);
    for (Value v : op->getResults())
      if (auto r = regionOf(v))
        q.writes.push_back(*r);

    // Ops of other lanes this one must follow (queue indices in seg.ops).
    SmallVector<size_t> deps;
    auto need = [&](size_t i) {
      if (seg.ops[i].lane != lane)
        deps.push_back(i);
    };
    for (Value v : op->getOperands()) {
      if (Operation *def = v.getDefiningOp())
        if (auto it = seg.byOp.find(def); it != seg.byOp.end())
          need(it->second);
      if (isHoneObject(v.getType()))
        if (auto it = seg.lastUse.find(rootOf(v)); it != seg.lastUse.end())
          for (int64_t i : it->second)
            if (i >= 0)
              need(size_t(i));
    }
    for (size_t i = 0; i < seg.ops.size(); ++i) {
      const Queued &a = seg.ops[i];
      if (a.lane == lane)
        continue;
      bool clash = false;
      for (const Region &w : q.writes) {
        for (const Region &r : a.reads)
          clash |= w.overlaps(r);
        for (const Region &r : a.writes)
          clash |= w.overlaps(r);
      }
      if (clash)
        deps.push_back(i);
    }
    // Latest first: one wait may imply the earlier ones.
    llvm::sort(deps, [](size_t a, size_t b) { return a > b; });
    for (size_t i : deps) {
      Queued &a = seg.ops[i];
      if (seg.waited[lane][a.lane] >= a.index)
        continue;
      if (a.event < 0) {
        a.event = nextEvent++;
        OpBuilder after(a.op->getContext());
        after.setInsertionPointAfter(a.op);
        ExecSignalOp::create(after, a.op->getLoc(), a.event,
                             kLaneNames[a.lane]);
      }
      OpBuilder before(op);
      ExecWaitOp::create(before, op->getLoc(), a.event, kLaneNames[lane]);
      for (int x = 0; x < NumLanes; ++x)
        seg.waited[lane][x] = std::max(seg.waited[lane][x], a.waited[x]);
      seg.waited[lane][a.lane] = a.index;
    }
    q.waited = seg.waited[lane];
    for (Value v : op->getOperands())
      if (isHoneObject(v.getType())) {
        auto [it, fresh] = seg.lastUse.try_emplace(rootOf(v));
        if (fresh)
          it->second.fill(-1);
        it->second[lane] = int64_t(seg.ops.size());
      }
    seg.byOp[op] = seg.ops.size();
    seg.ops.push_back(std::move(q));
  }
};

} // namespace
