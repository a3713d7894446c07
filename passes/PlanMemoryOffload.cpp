//===- PlanMemoryOffload.cpp - hone-plan-memory: offload under the budget -===//
//
// Decision 5 under the memory budget (passes/PlanMemory.cpp): a trained
// model's AdamW moments are read and written only by its optimiser updates,
// inside the train step; between updates (the rollouts' generation, the
// reference's and reward models' reads, the next step's data) they are
// idle. Offloaded, they wait in the host tier and are planned at each train
// step of their stage alone (PlanMemoryBuffers.cpp: `NAME.optimizer@POINT`,
// page-aligned), so the bytes they held from the stage's begin serve other
// buffers at the peak. The runtime reads them back before the step's first
// update and writes them out after its last (on the CPU a file in the run
// directory: docs/runtime.md "Offloaded optimiser moments"). Shared
// declarations: PlanMemoryImpl.h.
//
//===----------------------------------------------------------------------===//

#include "passes/PlanMemoryImpl.h"

#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace mlir::hone;
using namespace mlir::hone::plan_memory;

bool Planner::updatesOffloaded(Operation *step, const std::string &stage) {
  auto train = dyn_cast<TrainStepOp>(step);
  if (!train || offloaded.empty())
    return false;
  for (Value model : train.getModels())
    if (Operation *root = rootOf(model))
      if (offloaded.count({root, stage}))
        return true;
  return false;
}

unsigned Planner::updatePoint(Operation *step, unsigned p) const {
  unsigned n = 1;
  if (const SmallVector<int64_t> *phases = phasesOf(step, stageAt[p]))
    n = phaseCount(*phases);
  return p + n; // the point after the last phase's
}

void Planner::endActivationsBeforeUpdate() {
  for (unsigned p = 0; p < points.size(); ++p) {
    auto step = dyn_cast<TrainStepOp>(points[p]);
    if (!step || pointOf.lookup(step) != p || !releasing.count(stageAt[p]) ||
        !updatesOffloaded(step, stageAt[p]))
      continue;
    const unsigned update = updatePoint(step, p);
    for (Value model : step.getModels()) {
      Operation *root = rootOf(model);
      for (Buffer &b : buffers) {
        if (b.kind != Kind::Activations || !root || b.root != root ||
            b.first >= update || b.last < update)
          continue;
        // A forward of the model later in the step needs the buffer on.
        if (llvm::any_of(b.sources, [&](const Source &s) {
              return pointOf.lookup(s.op) > p;
            }))
          continue;
        b.last = update - 1;
      }
    }
  }
}

SmallVector<Operation *> Planner::stageModels(ExecStageBeginOp begin) {
  SmallVector<Operation *> models;
  for (Operation *user : begin.getFirst().getUsers())
    if (auto loop = dyn_cast<scf::ForOp>(user))
      for (Value init : loop.getInitArgs())
        if (isa<ModelType>(init.getType()))
          models.push_back(rootOf(init));
  return models;
}

std::string Planner::offloadDecision(PipelineOp pipeline, Figures &fig,
                                     int64_t budget, bool cuda,
                                     std::string *cudaNote) {
  // The moments live at the peak and still resident, largest first: of a
  // model its stage begin hands the runtime (which creates the optimiser
  // there, and so can keep its moments out of memory from the start).
  std::set<std::pair<Operation *, std::string>> handed;
  pipeline.walk([&](ExecStageBeginOp begin) {
    for (Operation *root : stageModels(begin))
      if (root)
        handed.insert({root, begin.getName().str()});
  });
  SmallVector<std::pair<int64_t, std::pair<Operation *, std::string>>> cands;
  for (const Buffer &b : buffers)
    if (b.kind == Kind::Optimizer && b.root && b.first <= fig.peakPoint &&
        fig.peakPoint <= b.last && !offloaded.count({b.root, b.stage}) &&
        handed.count({b.root, b.stage}))
      cands.push_back({b.bytes, {b.root, b.stage}});
  llvm::stable_sort(cands, [](const auto &a, const auto &b) {
    return a.first > b.first;
  });
  for (auto &[bytes, key] : cands) {
    offloaded.insert(key);
    Figures next = plan(pipeline);
    if (next.planned >= fig.planned) {
      offloaded.erase(key);
      fig = plan(pipeline);
      continue;
    }
    const std::string model = modelName(key.first);
    // What moves: each train step of the stage reads the moments back
    // before its first update and writes them after its last.
    int64_t moved = 0, steps = 0;
    for (const Buffer &b : buffers)
      if (b.kind == Kind::Optimizer && b.root == key.first &&
          b.stage == key.second && b.first == b.last)
        if (auto train = dyn_cast_or_null<TrainStepOp>(b.source)) {
          const int64_t updates =
              std::max<int64_t>(1, train.getEpochs()) *
              std::max<int64_t>(1, train.getUpdates());
          moved += 2 * b.bytes * updates, steps += updates;
        }
    if (cuda) {
      // Not on a CUDA device until it is tested on one (#17).
      offloaded.erase(key);
      fig = plan(pipeline);
      if (cudaNote && cudaNote->empty())
        *cudaNote = llvm::formatv(
                        "offloading {0}'s AdamW moments ({1}) to host memory "
                        "between updates would save {2} at the peak, but "
                        "offload is not yet chosen for a CUDA job (no "
                        "pinned-host copies tested on a GPU yet)",
                        model, humanBytes(bytes),
                        humanBytes(fig.planned - next.planned))
                        .str();
      return "";
    }
    std::string text =
        llvm::formatv(
            "stage '{0}': {1}'s AdamW moments ({2}) offloaded to the host "
            "tier between optimiser updates (read back before each update, "
            "after the step's forward and backward have freed their "
            "activations, and written after it: {3} moved per step over {4} "
            "update(s); the CPU job's host tier is a file in its run "
            "directory), saving {5}: peak {6} -> {7} (budget {8})",
            key.second, model, humanBytes(bytes), humanBytes(moved), steps,
            humanBytes(fig.planned - next.planned), humanBytes(fig.planned),
            humanBytes(next.planned), humanBytes(budget))
            .str();
    fig = next;
    return text;
  }
  return "";
}
