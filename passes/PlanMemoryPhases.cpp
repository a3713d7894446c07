//===- PlanMemoryPhases.cpp - hone-plan-memory: train steps by model ------===//
//
// A train step that trains several models (PPO: the policy and the critic)
// runs, by default, every model's forward, then its one loss kernel, then
// every model's backward: all the models' activations are live together.
// When the objective separates, each model's gradient reading only that
// model's outputs (and constant inputs), the step can run model by model:
// forward, kernel and backward of one model, its activations freed, then
// the next. This file finds that from the gradient region's def-use (not
// from the method's name); the plan (PlanMemoryBuffers.cpp) gives each
// phase a point of its own and the runtime runs the step so
// (runtime/ops/TrainStep.cpp, the `phases` attribute). Shared
// declarations: PlanMemoryImpl.h.
//
//===----------------------------------------------------------------------===//

#include "passes/PlanMemoryImpl.h"

#include "llvm/ADT/EquivalenceClasses.h"
#include "llvm/ADT/SmallBitVector.h"

#include <algorithm>

using namespace mlir;
using namespace mlir::hone;
using namespace mlir::hone::plan_memory;

SmallVector<int64_t> Planner::separablePhases(TrainStepOp step) {
  const unsigned nModels = step.getModels().size();
  if (nModels < 2 || step.getGradient().empty())
    return {};
  Block &body = step.getGradient().front();
  auto yield = dyn_cast<LossYieldOp>(body.getTerminator());
  if (!yield)
    return {};
  // The model each differentiable argument is an output of (reads in
  // order; logprob+entropy has two).
  SmallVector<unsigned> modelOfArg;
  ArrayRef<int64_t> readers = step.getReaders();
  llvm::SmallBitVector read(nModels);
  for (auto [i, r] : llvm::enumerate(step.getReads())) {
    if (i >= readers.size() || readers[i] < 0 ||
        readers[i] >= int64_t(nModels))
      return {};
    unsigned outputs =
        cast<StringAttr>(r).getValue() == "logprob+entropy" ? 2 : 1;
    for (unsigned k = 0; k < outputs; ++k)
      modelOfArg.push_back(unsigned(readers[i]));
    read.set(unsigned(readers[i]));
  }
  // Every model is read (a model with no read has no gradient to order).
  if (!read.all() || yield.getGrads().size() != modelOfArg.size() ||
      body.getNumArguments() < modelOfArg.size())
    return {};
  // The models whose outputs each value depends on, in program order (the
  // loss algebra is flat and pure: an op with a region or side effects
  // makes the analysis give up).
  llvm::DenseMap<Value, llvm::SmallBitVector> dependsOn;
  for (unsigned a = 0; a < modelOfArg.size(); ++a) {
    llvm::SmallBitVector bits(nModels);
    bits.set(modelOfArg[a]);
    dependsOn[body.getArgument(a)] = bits;
  }
  for (Operation &op : body.without_terminator()) {
    if (op.getNumRegions() != 0 || !isMemoryEffectFree(&op))
      return {};
    llvm::SmallBitVector bits(nModels);
    for (Value v : op.getOperands())
      if (auto it = dependsOn.find(v); it != dependsOn.end())
        bits |= it->second;
    for (Value r : op.getResults())
      dependsOn[r] = bits;
  }
  // Models whose gradients read each other's outputs run together.
  llvm::EquivalenceClasses<unsigned> together;
  for (unsigned m = 0; m < nModels; ++m)
    together.insert(m);
  for (auto [a, g] : llvm::enumerate(yield.getGrads())) {
    auto it = dependsOn.find(g);
    if (it == dependsOn.end())
      continue; // a constant gradient
    for (int m : it->second.set_bits())
      together.unionSets(modelOfArg[a], unsigned(m));
  }
  // Phases in order: a group with a read that back-propagates through a
  // forward hone.value kept (kept_forwards) first, so that those
  // activations are freed before any other model's forward; then by
  // first model operand.
  SmallVector<unsigned> leaders;
  for (unsigned m = 0; m < nModels; ++m)
    if (!llvm::is_contained(leaders, together.getLeaderValue(m)))
      leaders.push_back(together.getLeaderValue(m));
  if (leaders.size() < 2)
    return {};
  std::optional<ArrayRef<int64_t>> kept = step.getKeptForwards();
  auto keeps = [&](unsigned leader) {
    if (!kept)
      return false;
    for (auto [i, k] : llvm::enumerate(*kept))
      if (k >= 0 && i < readers.size() &&
          together.getLeaderValue(unsigned(readers[i])) == leader)
        return true;
    return false;
  };
  std::stable_partition(leaders.begin(), leaders.end(), keeps);
  SmallVector<int64_t> phase(nModels, 0);
  for (unsigned m = 0; m < nModels; ++m)
    phase[m] = llvm::find(leaders, together.getLeaderValue(m)) -
               leaders.begin();
  return phase;
}

void Planner::endPhasedActivations() {
  for (unsigned p = 0; p < points.size(); ++p) {
    auto step = dyn_cast<TrainStepOp>(points[p]);
    if (!step || pointOf.lookup(step) != p)
      continue;
    const SmallVector<int64_t> *phases = phasesOf(step, stageAt[p]);
    if (!phases)
      continue;
    for (auto [m, model] : llvm::enumerate(step.getModels())) {
      Operation *root = rootOf(model);
      unsigned at = p + unsigned((*phases)[m]);
      for (Buffer &b : buffers) {
        if (b.kind != Kind::Activations || !root || b.root != root ||
            b.first > at || b.last <= at)
          continue;
        // A forward of the model later in the step needs the buffer on.
        if (llvm::any_of(b.sources, [&](const Source &s) {
              return pointOf.lookup(s.op) > p;
            }))
          continue;
        b.last = at;
      }
    }
  }
}
