//===- PlanMemoryRecompute.cpp - keep or recompute activations per layer --===//
//
// hone-plan-memory's second decision under the budget (docs/passes.md):
// per model, how many of its layers recompute their activations in
// backward instead of keeping them (Transformer::setRecomputeLayers),
// carried to the runtime as `recompute_layers` on every op whose forward
// sizes that model's activation buffer (hone.train_step one entry per
// model, hone.logprob and hone.value one). Results are bit-identical; a
// training forward pays one re-run of the recomputed layers' forwards in
// backward, a frozen read nothing.
//
//===----------------------------------------------------------------------===//

#include "passes/PlanMemoryImpl.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/BitVector.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace mlir::hone;
using namespace mlir::hone::plan_memory;

int64_t Planner::recomputeOf(Operation *op, Value model) {
  if (auto train = dyn_cast<TrainStepOp>(op)) {
    auto r = train->getAttrOfType<DenseI64ArrayAttr>("recompute_layers");
    if (!r)
      return 0;
    for (auto [i, m] : llvm::enumerate(train.getModels()))
      if (m == model && i < size_t(r.size()))
        return r[i];
    return 0;
  }
  if (auto r = op->getAttrOfType<IntegerAttr>("recompute_layers"))
    return r.getInt();
  return 0;
}

void Planner::setRecompute(Operation *op, Value model, int64_t layers) {
  Builder b(op->getContext());
  if (auto train = dyn_cast<TrainStepOp>(op)) {
    SmallVector<int64_t> r(train.getModels().size(), 0);
    if (auto old = train->getAttrOfType<DenseI64ArrayAttr>("recompute_layers"))
      for (size_t i = 0; i < r.size() && i < size_t(old.size()); ++i)
        r[i] = old[i];
    for (auto [i, m] : llvm::enumerate(train.getModels()))
      if (m == model)
        r[i] = layers;
    // All kept: no attribute (a trial undone leaves the op as it was).
    if (llvm::all_of(r, [](int64_t n) { return n == 0; }))
      train->removeAttr("recompute_layers");
    else
      train->setAttr("recompute_layers", b.getDenseI64ArrayAttr(r));
    return;
  }
  if (layers == 0)
    op->removeAttr("recompute_layers");
  else
    op->setAttr("recompute_layers", b.getI64IntegerAttr(layers));
}

/// Whether every forward that sizes activation buffer `b` can run in
/// recompute mode (train steps and frozen reads carry the attribute; a
/// reward model's scoring does not), and none recomputes all layers yet.
bool Planner::recomputable(const Buffer &b) {
  if (b.kind != Kind::Activations || b.sources.empty() || b.cfg.nLayers < 2)
    return false;
  bool below = false;
  for (const Source &s : b.sources) {
    if (!isa_and_nonnull<TrainStepOp, LogprobOp, ValueOp>(s.op) || !s.model)
      return false;
    below |= s.recompute < b.cfg.nLayers;
  }
  return below;
}

/// Whether a backward follows any of the buffer's forwards (a train step
/// among its sources): recomputation then costs a re-run of the layers.
static bool trains(const Buffer &b) {
  return llvm::any_of(b.sources,
                      [](const Source &s) { return isa<TrainStepOp>(s.op); });
}

std::string Planner::recomputeDecision(PipelineOp pipeline, Figures &fig,
                                       int64_t budget) {
  // The candidates live at the peak: a frozen read's buffer first (nothing
  // is recomputed), then the largest; the first that lowers the peak is
  // taken.
  struct Candidate {
    std::string name;
    unsigned first;
    int64_t layers, bytes;
    bool backward;
    SmallVector<std::pair<Operation *, Value>> uses;
    SmallVector<int64_t> previous;
  };
  std::vector<Candidate> cands;
  const llvm::BitVector atPeak = peakPoints(fig);
  for (const Buffer &b : buffers) {
    if (!liveAt(b, atPeak) || !recomputable(b))
      continue;
    Candidate c{b.name, b.first, b.cfg.nLayers, b.bytes, trains(b), {}, {}};
    for (const Source &s : b.sources) {
      c.uses.push_back({s.op, s.model});
      c.previous.push_back(s.recompute);
    }
    cands.push_back(std::move(c));
  }
  llvm::stable_sort(cands, [](const Candidate &a, const Candidate &b) {
    if (a.backward != b.backward)
      return !a.backward;
    return a.bytes > b.bytes;
  });
  for (const Candidate &c : cands) {
    std::string text = tryRecompute(pipeline, fig, budget, c.name, c.first,
                                    c.layers, c.bytes, c.backward, c.uses,
                                    c.previous);
    if (!text.empty())
      return text;
  }
  // No one buffer lowers a tied peak: every candidate's layers recomputed
  // together (each phase of a split train step then falls), kept when the
  // peak falls.
  if (cands.size() < 2)
    return "";
  for (const Candidate &c : cands)
    for (auto [op, model] : c.uses)
      setRecompute(op, model, c.layers);
  Figures next = plan(pipeline);
  if (next.planned >= fig.planned) {
    for (const Candidate &c : cands)
      for (auto [i, use] : llvm::enumerate(c.uses))
        setRecompute(use.first, use.second, c.previous[i]);
    fig = plan(pipeline);
    return "";
  }
  std::string names, ops;
  int64_t saved = 0;
  for (const Candidate &c : cands) {
    names += (names.empty() ? "" : ", ") + c.name;
    saved += c.bytes - bytesOf(c.name, c.first);
    for (auto [op, model] : c.uses) {
      std::string n = op->getName().getStringRef().str();
      if (ops.find(n) == std::string::npos)
        ops += (ops.empty() ? "" : ", ") + n;
    }
  }
  std::string text =
      llvm::formatv("{0}: recompute all their layers in backward, together "
                    "(the peak ties at their points; {1} recompute_layers: "
                    "results bit-identical), saving {2} of activations: peak {3} -> {4} "
                    "(budget {5})",
                    names, ops, humanBytes(saved), humanBytes(fig.planned),
                    humanBytes(next.planned), humanBytes(budget))
          .str();
  fig = next;
  return text;
}

std::string Planner::tryRecompute(
    PipelineOp pipeline, Figures &fig, int64_t budget, const std::string &name,
    unsigned first, int64_t layers, int64_t before, bool backward,
    ArrayRef<std::pair<Operation *, Value>> uses, ArrayRef<int64_t> previous) {
  int64_t from = layers;
  for (int64_t p : previous)
    from = std::min(from, p);
  // The fewest layers that make the plan fit (R = 1 saves nothing: the
  // shared set is one layer's), else all of them.
  Figures next = fig;
  int64_t r = std::max<int64_t>(from + 1, 2);
  for (; r <= layers; ++r) {
    for (auto [op, model] : uses)
      setRecompute(op, model, r);
    next = plan(pipeline);
    if (next.planned <= budget)
      break;
  }
  r = std::min(r, layers);
  if (next.planned >= fig.planned) {
    // The peak did not move (other buffers set it): undone.
    for (auto [i, use] : llvm::enumerate(uses))
      setRecompute(use.first, use.second, previous[i]);
    fig = plan(pipeline);
    return "";
  }
  std::string ops;
  for (auto [op, model] : uses) {
    std::string n = op->getName().getStringRef().str();
    if (ops.find(n) == std::string::npos)
      ops += (ops.empty() ? "" : ", ") + n;
  }
  std::string text =
      backward
          ? llvm::formatv("{0}: recompute {1} of {2} layers in backward "
                          "({3} recompute_layers {1}: each backward re-runs "
                          "{4} layer forward{5}, results bit-identical)",
                          name, r, layers, ops, r - 1, r - 1 == 1 ? "" : "s")
                .str()
          : llvm::formatv("{0}: a frozen read's {1} of {2} layers share one "
                          "working set ({3} recompute_layers {1}: no "
                          "backward, nothing re-runs)",
                          name, r, layers, ops)
                .str();
  text += ", saving " + humanBytes(before - bytesOf(name, first)) + ": peak " +
          humanBytes(fig.planned) + " -> " + humanBytes(next.planned) +
          " (budget " + humanBytes(budget) + ")";
  fig = next;
  return text;
}
