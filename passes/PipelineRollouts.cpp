//===- PipelineRollouts.cpp - rollout/learn software pipelining -----------===//
//
// An RL stage loop with `staleness = k > 0` (#hone.rl_settings) becomes a
// software pipeline: generation and scoring of step i + k run while step i
// learns. The rollout part of the body (data.next of prompts, generate,
// score, group_filter and the scalar arithmetic they need) reads a copy of
// the policy's weights (`hone.exec.snapshot`, refreshed by
// `hone.sync_weights ... to` after every learning step); its results reach
// the learning part through k loop-carried slots per value, so a rollout
// buffer exists k + 1 times (k slots and the batch being generated).
//
//   prologue   rollouts of steps first .. first + k - 1 (weights at the
//              stage's start), then hone.exec.rollouts_resume (a run
//              resumed inside the stage takes the checkpoint's instead)
//   steady     for i in [first, N - k): rollout of step i + k on the copy |
//              learn step i from slot 0; sync the copy; shift the slots
//   epilogue   for i in [max(first, N - k), N): learn from slot 0, shift
//
// Before each step end, hone.exec.rollouts_in_flight names the rollouts of
// the next k steps: a checkpoint written there keeps them, so a killed run
// resumes bit-identically.
//
// The ratio's old log-probs are then those of the weights that generated
// the tokens (the behaviour policy); with truncated importance sampling
// (hone-expand-stages with tis_cap) the learner's own log-probs before its
// update are the ratio's denominator and the generator's weigh each token.
// Runs after hone-schedule-stages (it needs the stage brackets) and before
// hone-plan-arena (which lays out the slots as the loop's results).
//
//===----------------------------------------------------------------------===//

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "passes/Passes.h"
#include "llvm/ADT/SetVector.h"

namespace mlir::hone {
#define GEN_PASS_DEF_PIPELINEROLLOUTS
#include "passes/Passes.h.inc"
} // namespace mlir::hone

using namespace mlir;
using namespace mlir::hone;

namespace {

/// The staleness of an RL stage loop (0 for every other loop).
int64_t stalenessOf(scf::ForOp loop) {
  auto settings = loop->getAttrOfType<DictionaryAttr>("hone.stage_settings");
  if (!settings)
    return 0;
  auto rl = dyn_cast_or_null<RlSettingsAttr>(settings.get("settings"));
  return rl ? rl.getStaleness() : 0;
}

/// Ops that produce a rollout: they read the data, the copy of the weights
/// and the reward, never the learner's state. A hybrid's demonstrations
/// (hone.data.fetch of the prompts' ids) are data too: LUFFY and UFT feed
/// them to generation.
bool isRolloutSeed(Operation *op) {
  if (auto next = dyn_cast<DataNextOp>(op))
    return next.getPart() == DataPart::prompts;
  return isa<GenerateOp, ScoreOp, GroupFilterOp, DataFetchOp>(op);
}

/// An op a rollout may recompute from its operands: no memory effects and
/// no regions (arith on the step, UFT's hint schedule).
bool isPureHelper(Operation *op) {
  return op->getNumRegions() == 0 && isMemoryEffectFree(op);
}

struct PipelineRollouts
    : public mlir::hone::impl::PipelineRolloutsBase<PipelineRollouts> {
  void runOnOperation() override {
    PipelineOp pipeline = getOperation();
    SmallVector<scf::ForOp> loops;
    for (Operation &op : pipeline.getBody().front())
      if (auto loop = dyn_cast<scf::ForOp>(op))
        if (stalenessOf(loop) > 0)
          loops.push_back(loop);
    for (scf::ForOp loop : loops)
      if (failed(pipelineLoop(loop, stalenessOf(loop))))
        return signalPassFailure();
    if (!loops.empty())
      annotateModelNames(pipeline);
  }

  LogicalResult pipelineLoop(scf::ForOp loop, int64_t k) {
    auto fail = [&](const Twine &why) {
      return loop.emitError("hone-pipeline-rollouts: ") << why;
    };
    auto begin = loop.getLowerBound().getDefiningOp<ExecStageBeginOp>();
    auto ub = loop.getUpperBound().getDefiningOp<arith::ConstantIndexOp>();
    auto step = loop.getStep().getDefiningOp<arith::ConstantIndexOp>();
    if (!begin || !ub || !step || step.value() != 1)
      return fail("a pipelined stage loop must start at its "
                  "hone.exec.stage_begin and run by 1 to a constant step "
                  "count (run hone-schedule-stages first)");
    int64_t steps = ub.value();
    if (k >= steps)
      return fail("staleness ")
             << k << " leaves no step that learns while generating: the "
             << "stage has " << steps << " steps";
    if (loop.getNumRegionIterArgs() == 0 ||
        !isa<ModelType>(loop.getRegionIterArgs()[0].getType()))
      return fail("the stage loop carries no policy");
    Block *body = loop.getBody();
    auto yield = cast<scf::YieldOp>(body->getTerminator());
    BlockArgument policyArg = loop.getRegionIterArgs()[0];

    // The rollout part: the seeds and the pure scalar ops they need.
    llvm::SetVector<Operation *> rollout;
    for (Operation &op : body->without_terminator())
      if (isRolloutSeed(&op))
        rollout.insert(&op);
    SmallVector<GenerateOp> gens;
    for (Operation *op : rollout)
      if (auto g = dyn_cast<GenerateOp>(op))
        gens.push_back(g);
    // Several generates of the policy are one rollout (ReMax's sampled and
    // greedy decodes); a generate of anything else is not.
    if (gens.empty() || llvm::any_of(gens, [&](GenerateOp g) {
          return g.getPolicy() != policyArg;
        }))
      return fail("expected the loop's hone.generate ops to sample the "
                  "stage's policy (its first loop-carried value); pipelining "
                  "other rollouts is not supported yet");
    for (bool grew = true; grew;) {
      grew = false;
      for (Operation *op : llvm::to_vector(rollout))
        for (Value v : op->getOperands()) {
          if (v == loop.getInductionVar() || v == policyArg)
            continue;
          Operation *def = v.getDefiningOp();
          if (!def || def->getBlock() != body) {
            if (isa<BlockArgument>(v) &&
                loop->isAncestor(v.getParentBlock()->getParentOp()))
              return op->emitError("hone-pipeline-rollouts: this rollout op "
                                   "reads a value the loop carries; it cannot "
                                   "run ahead of learning");
            continue;
          }
          if (rollout.contains(def))
            continue;
          if (isPureHelper(def)) {
            rollout.insert(def);
            grew = true;
            continue;
          }
          return op->emitError("hone-pipeline-rollouts: this rollout op "
                               "reads '")
                 << def->getName() << "', which learning produces; it cannot "
                 << "run ahead of learning";
        }
    }
    // Rollout ops in body order.
    SmallVector<Operation *> rolloutOps;
    for (Operation &op : body->without_terminator())
      if (rollout.contains(&op))
        rolloutOps.push_back(&op);
    // Ops learning runs: every op but the seeds and the pure helpers only
    // rollouts use. A helper learning also reads (CHORD's μ, a constant) is
    // computed again there from learning's step and slots, so that only the
    // seeds' results are carried (users follow their definitions in the
    // block: one backward walk decides).
    llvm::SmallPtrSet<Operation *, 32> inLearn;
    for (Operation &op : llvm::reverse(body->without_terminator())) {
      if (isRolloutSeed(&op))
        continue;
      bool used = !rollout.contains(&op) ||
                  llvm::any_of(op.getUsers(), [&](Operation *u) {
                    Operation *anc = body->findAncestorOpInBlock(*u);
                    return anc && (inLearn.contains(anc) ||
                                   anc == body->getTerminator());
                  });
      if (used)
        inLearn.insert(&op);
    }
    // The values the learning part reads: one slot set each.
    SmallVector<Value> carried;
    for (Operation *op : rolloutOps) {
      if (inLearn.contains(op))
        continue;
      for (Value r : op->getResults())
        if (llvm::any_of(r.getUsers(), [&](Operation *u) {
              Operation *anc = body->findAncestorOpInBlock(*u);
              return anc &&
                     (inLearn.contains(anc) || anc == body->getTerminator());
            })) {
          if (!isa<RankedTensorType>(r.getType()))
            return op->emitError("hone-pipeline-rollouts: result #")
                   << cast<OpResult>(r).getResultNumber()
                   << " is not a tensor and cannot be carried to a later "
                      "step";
          carried.push_back(r);
        }
    }
    SmallVector<Operation *> learnOps;
    SyncWeightsOp sync;
    for (Operation &op : body->without_terminator())
      if (inLearn.contains(&op)) {
        learnOps.push_back(&op);
        if (auto s = dyn_cast<SyncWeightsOp>(op))
          if (s.getModel().getParentBlock() == body && !s.getTarget())
            sync = s;
      }
    if (!sync)
      return fail("the loop has no hone.sync_weights after its learning step "
                  "(the point where the rollout weights are refreshed)");
    // The copy is refreshed with the policy the step yields, which must
    // exist before the step ends (where the next rollouts are recorded).
    Operation *policyDef = yield.getOperand(0).getDefiningOp();
    ExecStepEndOp stepEnd;
    for (Operation &op : body->without_terminator())
      if (auto e = dyn_cast<ExecStepEndOp>(op))
        stepEnd = e;
    if (!policyDef || policyDef->getBlock() != body ||
        (stepEnd && !policyDef->isBeforeInBlock(stepEnd)))
      return fail("the policy the loop yields is not computed in the loop "
                  "before its hone.exec.step_end");

    Location loc = loop.getLoc();
    OpBuilder b(loop);
    auto ahead = [&](Operation *op, int64_t n) {
      if (op->getDialect() && op->getDialect()->getNamespace() == "hone")
        op->setAttr("hone.ahead", b.getI64IntegerAttr(n));
    };
    auto index = [&](int64_t v) -> Value {
      return arith::ConstantIndexOp::create(b, loc, v);
    };
    // The rollout lane's weights: a copy of the policy at the stage's start
    // (a discardable mark keeps CSE from merging it with a frozen
    // reference's snapshot of the same state).
    auto roll = ExecSnapshotOp::create(b, loc, loop.getInitArgs()[0]);
    roll->setAttr("hone.rollout_weights", b.getUnitAttr());
    begin->setAttr("staleness", b.getI64IntegerAttr(k));

    // Prologue: the rollouts of steps first .. first + k - 1.
    Value first = begin.getFirst();
    SmallVector<Value> prologue;
    for (int64_t j = 0; j < k; ++j) {
      IRMapping map;
      map.map(loop.getInductionVar(),
              j ? Value(arith::AddIOp::create(b, loc, first, index(j)))
                : first);
      map.map(policyArg, roll.getResult());
      for (Operation *op : rolloutOps) {
        Operation *c = b.clone(*op, map);
        c->setAttr("hone.stage_part", b.getStringAttr("prologue"));
        ahead(c, j);
      }
      for (Value v : carried)
        prologue.push_back(map.lookup(v));
    }
    // A run resumed inside the stage takes the checkpoint's rollouts.
    auto resumed = ExecRolloutsResumeOp::create(b, loc, prologue);

    SmallVector<Value> inits(loop.getInitArgs());
    unsigned nOrig = inits.size(), nCarried = carried.size();
    llvm::append_range(inits, resumed.getResults());

    // The learning part of one step, from slot set 0 of `it` (the loop's
    // iteration arguments laid out as [stage state, slot 0, ..., slot k-1]),
    // with `inFlight` recorded before its step end; returns the stage state
    // it yields.
    auto learnStep = [&](Value iv, ValueRange it, ValueRange inFlight,
                         bool syncRollout) {
      IRMapping learn;
      learn.map(loop.getInductionVar(), iv);
      for (unsigned i = 0; i < nOrig; ++i)
        learn.map(loop.getRegionIterArgs()[i], it[i]);
      for (auto [c, v] : llvm::enumerate(carried))
        learn.map(v, it[nOrig + c]);
      // The copy gets the policy the step yields: after ReLIFT's SFT steps
      // (which follow the RL update and its sync) as well, so it is placed
      // where that value exists, at the sync or after it.
      Value finalPolicy = yield.getOperand(0);
      bool syncPending = false;
      auto emitSync = [&] {
        auto s = SyncWeightsOp::create(
            b, sync.getLoc(), learn.lookup(finalPolicy), roll.getResult());
        s->setAttrs(sync->getDiscardableAttrDictionary());
        syncPending = false;
      };
      for (Operation *op : learnOps) {
        if (op == sync.getOperation()) {
          // Nothing generates after the last steps: no sync there.
          syncPending = syncRollout;
          if (syncPending && learn.contains(finalPolicy))
            emitSync();
          continue;
        }
        if (isa<ExecStepEndOp>(op))
          ExecRolloutsInFlightOp::create(b, op->getLoc(), inFlight);
        b.clone(*op, learn);
        if (syncPending && learn.contains(finalPolicy))
          emitSync();
      }
      SmallVector<Value> state;
      for (Value v : yield.getOperands())
        state.push_back(learn.lookupOrDefault(v));
      return state;
    };
    // Slot s, carried value c of a block's iteration arguments.
    auto slotOf = [&](ValueRange it, int64_t slot, unsigned c) {
      return it[nOrig + slot * nCarried + c];
    };

    // Steady state: steps [first, N - k), each generating step i + k.
    auto steady = scf::ForOp::create(b, loc, first, index(steps - k),
                                     loop.getStep(), inits);
    for (NamedAttribute a : loop->getDiscardableAttrs())
      steady->setAttr(a.getName(), a.getValue());
    steady->setAttr("hone.pipelined", b.getI64IntegerAttr(k));
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(steady.getBody());
      ValueRange it = steady.getRegionIterArgs();
      Value iv = steady.getInductionVar();
      IRMapping map;
      map.map(loop.getInductionVar(),
              arith::AddIOp::create(b, loc, iv, index(k)));
      map.map(policyArg, roll.getResult());
      for (Operation *op : rolloutOps)
        ahead(b.clone(*op, map), k);
      SmallVector<Value> shifted;
      for (int64_t s = 1; s < k; ++s)
        for (unsigned c = 0; c < nCarried; ++c)
          shifted.push_back(slotOf(it, s, c));
      for (Value v : carried)
        shifted.push_back(map.lookup(v));
      SmallVector<Value> next = learnStep(iv, it, shifted, true);
      next.append(shifted.begin(), shifted.end());
      scf::YieldOp::create(b, loc, next);
    }

    // Epilogue: steps [max(first, N - k), N) learn from the slots left.
    b.setInsertionPointAfter(steady);
    Value from = arith::MaxSIOp::create(b, loc, first, index(steps - k));
    auto epilogue = scf::ForOp::create(b, loc, from, loop.getUpperBound(),
                                       loop.getStep(), steady.getResults());
    epilogue->setAttr("hone.stage_part", b.getStringAttr("epilogue"));
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(epilogue.getBody());
      ValueRange it = epilogue.getRegionIterArgs();
      // Slot k - 1 stays (its rollout is past the stage's end; it fills the
      // checkpoint's rollouts so that their number does not change).
      SmallVector<Value> shifted;
      for (int64_t s = 1; s <= k; ++s)
        for (unsigned c = 0; c < nCarried; ++c)
          shifted.push_back(slotOf(it, std::min(s, k - 1), c));
      SmallVector<Value> next =
          learnStep(epilogue.getInductionVar(), it, shifted, false);
      next.append(shifted.begin(), shifted.end());
      scf::YieldOp::create(b, loc, next);
    }
    for (unsigned i = 0; i < nOrig; ++i)
      loop.getResult(i).replaceAllUsesWith(epilogue.getResult(i));
    loop.erase();
    return success();
  }
};

} // namespace
