//===- FuseForwardsBudget.cpp - fused reads under the memory budget -------===//
//
// hone-fuse-forwards joins a train step's reads of one model into one
// forward and one backward (`fused_reads`): the forward keeps every
// member's activations until the backward, where the unfused step runs a
// forward per read and re-runs each before its backward (its activation
// buffer sized by the largest read alone). Under a memory budget that
// trade can stop fitting. This is fusion's decision about its own
// rewrite, taken with the memory plan's sizes (memsize::activationBytes,
// the same plan() that checks the budget): when the plan is over the
// budget and a fused group's activations are live at its peak, the group
// is either kept apart (fused_reads undone for that model) or kept fused
// with per-layer recomputation (recompute_layers R, the fewest layers that
// fit), each variant with the fewest recomputed layers that fits; of
// those that fit, the one with fewer FLOPs per optimiser step:
//   apart:  4 forward-equivalents per read (forward, re-forward, backward)
//           + (R-1)/L of a forward per read when it recomputes R layers;
//   fused:  3 forward-equivalents of the group's forward (4 when it is
//           micro-batched: the runtime then re-runs it too) + (R-1)/L.
// A tie keeps it fused (one launch of each kernel instead of several).
// When neither fits, the step stays fused and the plan's own decisions
// (recompute, micro-batch) go on. hone-plan-memory calls this before its
// recomputation decision (docs/passes.md "decisions under the budget");
// the choice is a remark and a line of the plan's `decisions` (honec
// --report).
//
//===----------------------------------------------------------------------===//

#include "dialect/HoneForwards.h"
#include "passes/PlanMemoryImpl.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace mlir::hone;
using namespace mlir::hone::plan_memory;

namespace {
std::string gflop(double flops) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << llvm::format("%.4g", flops / 1e9);
  return s;
}
} // namespace

std::string Planner::fusionDecision(PipelineOp pipeline, Figures &fig,
                                    int64_t budget) {
  if (budget <= 0 || fig.planned <= budget)
    return "";
  // The first fused group whose activations are live at the peak (copied
  // out: plan() rebuilds the buffers).
  TrainStepOp step;
  Value model;
  std::string name;
  int64_t layers = 0;
  SmallVector<int64_t> old, members;
  for (const Buffer &buf : buffers) {
    if (step)
      break;
    if (buf.kind != Kind::Activations ||
        !(buf.first <= fig.peakPoint && fig.peakPoint <= buf.last))
      continue;
    for (const Source &src : buf.sources) {
      auto train = dyn_cast_or_null<TrainStepOp>(src.op);
      if (!train || !src.model || !train.getFusedReads())
        continue;
      // The model's reads, all in one fused group (a model read by a
      // group and by another forward re-runs its forwards anyway).
      SmallVector<int64_t> fused(train.getFusedReads()->begin(),
                                 train.getFusedReads()->end());
      SmallVector<int64_t> reads;
      for (auto [i, r] : llvm::enumerate(train.getReaders()))
        if (train.getModels()[r] == src.model)
          reads.push_back(int64_t(i));
      if (reads.size() < 2 || size_t(reads.back()) >= fused.size() ||
          !llvm::all_of(reads, [&](int64_t i) {
            return fused[i] == fused[reads.front()];
          }))
        continue;
      step = train, model = src.model, name = buf.name;
      layers = buf.cfg.nLayers, old = fused, members = reads;
      break;
    }
  }
  if (!step)
    return "";
  int64_t previous = recomputeOf(step, model);
  auto setApart = [&](bool apart) {
    SmallVector<int64_t> now(old);
    if (apart)
      for (int64_t i : members)
        now[i] = i;
    if (mergesReads(now))
      step.setFusedReads(now);
    else
      step.removeFusedReadsAttr();
  };
  // The fewest recomputed layers (none, then 2 .. L) with which the plan
  // fits in the variant; -1 (and the plan at L) when none does.
  auto fewest = [&](bool apart) -> std::pair<int64_t, Figures> {
    setApart(apart);
    Figures f;
    for (int64_t r = previous; r <= layers; r = std::max<int64_t>(r + 1, 2)) {
      setRecompute(step, model, r);
      f = plan(pipeline);
      if (f.planned <= budget)
        return {r, f};
    }
    return {-1, f};
  };
  auto [rFused, figFused] = fewest(false);
  auto [rApart, figApart] = fewest(true);
  auto [together, alone] = readGroupFlops(step, members);
  int64_t updates = std::max<int64_t>(1, step.getUpdates());
  double fusedFactor = step.getMiniBatches() > 1 ? 4.0 : 3.0;
  auto extra = [&](int64_t r) {
    return r >= 2 ? double(r - 1) / double(layers) : 0.0;
  };
  double costFused =
      double(updates) * together * (fusedFactor + extra(rFused));
  double costApart = double(updates) * alone * (4.0 + extra(rApart));
  if (rFused < 0 && rApart < 0) {
    // Neither fits: fused, as it was; the plan's decisions go on.
    setApart(false);
    setRecompute(step, model, previous);
    fig = plan(pipeline);
    return "";
  }
  bool apart;
  std::string why;
  if (rFused < 0)
    apart = true, why = "fused does not fit";
  else if (rApart < 0)
    apart = false, why = "apart does not fit";
  else
    apart = costApart < costFused, why = "fewer FLOPs at the same fit";
  int64_t r = apart ? rApart : rFused;
  setApart(apart);
  setRecompute(step, model, r);
  int64_t before = fig.planned;
  fig = plan(pipeline);
  auto describe = [&](int64_t rr, const Figures &f, double cost,
                      const char *what) {
    if (rr < 0)
      return llvm::formatv("{0} over the budget ({1} with every layer of {2} "
                           "recomputed)",
                           what, humanBytes(f.planned), layers)
          .str();
    std::string how =
        rr >= 2 ? llvm::formatv(" recomputing {0} of {1} layers", rr, layers)
                      .str()
                : std::string();
    return llvm::formatv("{0} fits at {1}{2}, {3} GFLOP per train step", what,
                         humanBytes(f.planned), how, gflop(cost))
        .str();
  };
  std::string chosen = apart ? "kept apart (a forward per read, each re-run "
                               "before its backward"
                             : "kept fused (one forward and one backward";
  if (r >= 2)
    chosen += llvm::formatv(", recompute_layers {0}: each backward re-runs "
                            "{1} layer forward{2}",
                            r, r - 1, r - 1 == 1 ? "" : "s")
                  .str();
  chosen += ")";
  return llvm::formatv("hone-fuse-forwards under the budget: {0} of {1} "
                       "fused reads in hone.train_step {2}, {3}: {4}; {5}; "
                       "peak {6} -> {7} (budget {8})",
                       name, members.size(), chosen, why,
                       describe(rFused, figFused, costFused, "fused"),
                       describe(rApart, figApart, costApart, "apart"),
                       humanBytes(before), humanBytes(fig.planned),
                       humanBytes(budget))
      .str();
}
