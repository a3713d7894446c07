//===- PlanMemory.cpp - the whole job's memory plan on scheduled IR -------===//
//
// Every byte the job's runtime holds, as buffers with a size and a live
// interval over the scheduled program: model weights and gradients (every
// model object the runtime creates, frozen snapshots included), AdamW
// moments of the models a stage trains, each model's kept activations,
// KV cache and incremental-forward workspace (freed at stage end), the CPU
// kernels' LM-head scratch per lane, generation's transient logits, and the
// step-tensor arena of hone-plan-arena. Sizes come from the runtime's own
// sizing functions (runtime/model/MemorySizes.h), linked here. Offsets are
// packed greedy-by-size; first-fit, the liveness lower bound and no-reuse
// are recorded beside it for bench/memory. A peak over the budget is a
// compile error at the op where it occurs.
//
// The pass: the budget, the decisions under it and the plan as the
// pipeline's hone.memory_plan attribute. Its parts, sharing PlanMemoryImpl.h:
// PlanMemoryBuffers.cpp (buffers and sizes), PlanMemoryPacking.cpp (liveness
// and offsets), PlanMemoryReport.cpp (what micro-batching saves, the error).
//
//===----------------------------------------------------------------------===//

#include "passes/PlanMemoryImpl.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FormatVariadic.h"

#include <optional>
#include <set>

#include <unistd.h>

namespace mlir::hone {
#define GEN_PASS_DEF_PLANMEMORY
#include "passes/Passes.h.inc"
} // namespace mlir::hone

using namespace mlir;
using namespace mlir::hone;
using namespace mlir::hone::plan_memory;

namespace {

/// The budget the spec sets (#hone.run's hardware.memory_budget), 0 when
/// none or when the pipeline has no run settings (hand-written IR).
int64_t specMemoryBudget(PipelineOp pipeline) {
  if (RunAttr run = pipeline.getRunAttr())
    return run.getHardware().getMemoryBudget();
  return 0;
}

/// The spec's hardware.device ("auto" when the pipeline has no run
/// settings).
std::string specDevice(PipelineOp pipeline) {
  if (RunAttr run = pipeline.getRunAttr())
    switch (run.getHardware().getDevice()) {
    case Device::cpu:
      return "cpu";
    case Device::cuda:
      return "cuda";
    case Device::auto_device:
      return "auto";
    }
  return "auto";
}

/// Physical memory of this machine: sysconf's pages times the page size.
int64_t physicalMemoryBytes() {
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? int64_t(pages) * int64_t(page) : 0;
}

struct PlanMemory : public mlir::hone::impl::PlanMemoryBase<PlanMemory>,
                    Planner {
  using Base::Base;

  /// hone-fuse-forwards' kept_forwards hold only while the train step runs
  /// the read whole and the hone.value ran one forward over every row: a
  /// micro-batch decision on either drops those entries (the step then
  /// runs that forward itself, as without fusion). Returns whether any was
  /// dropped.
  bool dropKeptForwards(Operation *changed) {
    bool dropped = false;
    getOperation().walk([&](TrainStepOp step) {
      std::optional<ArrayRef<int64_t>> kept = step.getKeptForwards();
      if (!kept)
        return;
      SmallVector<int64_t> now(kept->begin(), kept->end());
      for (int64_t &k : now)
        if (k >= 0 && (step.getOperation() == changed ||
                       (size_t(k) < step.getInputs().size() &&
                        step.getInputs()[k].getDefiningOp() == changed)))
          k = -1, dropped = true;
      if (llvm::all_of(now, [](int64_t k) { return k < 0; }))
        step.removeKeptForwardsAttr();
      else
        step.setKeptForwards(now);
    });
    return dropped;
  }

  /// The first decision that can shrink the peak: the largest activation
  /// buffer live at the peak whose every largest forward the runtime can
  /// micro-batch, each of them halved. A train step takes twice the
  /// micro-batches (gradient accumulation keeps the step's rows, so the
  /// global batch and the objective do not change); a frozen read
  /// (hone.logprob, hone.value) gets a micro_batch of half its rows (one
  /// forward per chunk of rows, bit-identical where the GEMMs are
  /// row-invariant: test/unit/GemmRows.h). Returns the buffer (its name and
  /// first point) and what was changed, or an empty name when no decision
  /// is left.
  std::tuple<std::string, unsigned, std::string> decide(const Figures &fig) {
    Buffer *best = nullptr;
    SmallVector<Source> uses;
    for (Buffer &b : buffers) {
      if (b.kind != Kind::Activations ||
          !(b.first <= fig.peakPoint && fig.peakPoint <= b.last))
        continue;
      SmallVector<Source> u = largestUses(b);
      if (u.empty())
        continue;
      if (!best || b.bytes > best->bytes)
        best = &b, uses = std::move(u);
    }
    if (!best)
      return {};
    std::string what;
    for (const Source &u : uses) {
      int64_t half = (u.rows + 1) / 2;
      std::string one;
      if (auto train = dyn_cast<TrainStepOp>(u.op)) {
        int64_t mini = std::max<int64_t>(1, train.getMiniBatches());
        train.setMiniBatches(uint64_t(mini * 2));
        one = llvm::formatv("hone.train_step mini_batches {0} -> {1}, "
                            "gradient accumulation keeps the step's batch",
                            mini, mini * 2)
                  .str();
      } else if (auto table = dyn_cast<ReferenceTableOp>(u.op)) {
        // Each record's sums come from its own rows' forward: fewer pairs
        // a forward change no result beyond the GEMMs' row count.
        int64_t pairs = int64_t(table.getRows());
        table.setRows(uint64_t((pairs + 1) / 2));
        one = llvm::formatv("hone.reference_table rows {0} -> {1} pairs a "
                            "forward",
                            pairs, (pairs + 1) / 2)
                  .str();
      } else {
        if (auto lp = dyn_cast<LogprobOp>(u.op))
          lp.setMicroBatch(uint64_t(half));
        else
          cast<ValueOp>(u.op).setMicroBatch(uint64_t(half));
        one = llvm::formatv("{0} micro_batch {1}: one forward per {1} rows, "
                            "results bit-identical where the CPU's GEMMs "
                            "are row-invariant, else within a few ulp",
                            u.op->getName().getStringRef(), half)
                  .str();
      }
      if (dropKeptForwards(u.op))
        one += " (the train step runs the critic forward hone.value kept)";
      what += (what.empty() ? "" : "; ") + one;
    }
    int64_t rows = uses.front().rows;
    return {best->name, best->first,
            llvm::formatv("micro-batch {0} -> {1} rows for {2} "
                          "({3})",
                          rows, (rows + 1) / 2, best->name, what)
                .str()};
  }

  /// The generation batch: the hone.generate whose KV cache, decode
  /// workspace and logits live at the peak (sized at its rows) hold the
  /// most bytes there, with at least 2 rows. Returns the op, those bytes
  /// and its rows now (its micro_batch, else every row); a null op when
  /// none.
  std::tuple<GenerateOp, int64_t, int64_t>
  generationAtPeak(const Figures &fig) {
    llvm::MapVector<Operation *, int64_t> held;
    for (const Buffer &b : buffers) {
      if ((b.kind != Kind::KvCache && b.kind != Kind::Workspace) ||
          !(b.first <= fig.peakPoint && fig.peakPoint <= b.last))
        continue;
      for (const Source &s : b.sources)
        if (isa<GenerateOp>(s.op) && s.bytes == b.bytes && s.rows >= 2) {
          held[s.op] += b.bytes;
          break;
        }
    }
    GenerateOp best;
    int64_t bytes = 0;
    for (auto &[op, n] : held)
      if (n > bytes)
        best = cast<GenerateOp>(op), bytes = n;
    if (!best)
      return {};
    int64_t rows =
        cast<RankedTensorType>(best.getResults().front().getType())
            .getDimSize(0);
    if (auto mb = best->getAttrOfType<IntegerAttr>("micro_batch"))
      rows = std::min<int64_t>(rows, mb.getInt());
    return {best, bytes, rows};
  }

  /// The largest activation buffer live at the peak that a micro-batch
  /// decision can shrink (decide's choice), in bytes; 0 when none.
  int64_t largestMicroBatchable(const Figures &fig) {
    int64_t bytes = 0;
    for (Buffer &b : buffers)
      if (b.kind == Kind::Activations && b.first <= fig.peakPoint &&
          fig.peakPoint <= b.last && b.bytes > bytes &&
          !largestUses(b).empty())
        bytes = b.bytes;
    return bytes;
  }

  /// A smaller generation batch: the hone.generate of generationAtPeak gets
  /// `micro_batch` = half its rows (the runtime generates its prompts that
  /// many rows at a time, each chunk's KV cache and decode workspace sized
  /// for its rows: runtime/model/Generate.h generateInChunks). Kept when it
  /// lowers the peak; returns the remark's text, or "" (nothing changed).
  std::string decideGeneration(PipelineOp pipeline, Figures &fig,
                               int64_t budget) {
    auto [gen, bytes, rows] = generationAtPeak(fig);
    if (!generationBatch || !gen || rows < 2)
      return "";
    Attribute old = gen->getAttr("micro_batch");
    int64_t half = (rows + 1) / 2;
    gen->setAttr("micro_batch",
                 IntegerAttr::get(IntegerType::get(gen->getContext(), 64),
                                  half));
    Figures next = plan(pipeline);
    if (next.planned >= fig.planned) {
      if (old)
        gen->setAttr("micro_batch", old);
      else
        gen->removeAttr("micro_batch");
      fig = plan(pipeline);
      return "";
    }
    std::string text =
        llvm::formatv(
            "generation batch {0} -> {1} rows for hone.generate (micro_batch "
            "{1}: its prompts generated {1} rows at a time, each row drawing "
            "what it draws in one call; KV cache, decode workspace and "
            "logits {2} at its peak), saving {3}: peak {4} -> {5} (budget "
            "{6})",
            rows, half, humanBytes(bytes),
            humanBytes(fig.planned - next.planned), humanBytes(fig.planned),
            humanBytes(next.planned), humanBytes(budget))
            .str();
    fig = next;
    return text;
  }

  /// The plan's placements, for the runtime (runtime/job/JobArena.h): each
  /// model object its plan id (`plan_model`, its index among the models),
  /// each op that creates or runs a model the offsets of the buffers it
  /// allocates (`arena`: quadruples plan id, kind, offset, bytes; kind 0
  /// activations, 1 KV cache, 2 decode workspace, 3 weights, 4 gradients,
  /// 5 optimiser moments, 6 generation's logits): the model-creating op its
  /// weights (a LoRA model's adapters and their gradients), the train step
  /// the gradients and moments, the stage begin the moments. The LM-head
  /// scratch (the kernels') gets none.
  /// Returns, per buffer, whether the runtime places it in the arena (the
  /// step tensors and every buffer given to an op): the job populates those
  /// bytes when their stage begins.
  std::vector<bool> placeBuffers(Builder &b) {
    std::vector<bool> placed(buffers.size(), false);
    llvm::DenseMap<Operation *, int64_t> ids;
    for (auto &entry : modelNames) {
      int64_t id = int64_t(ids.size());
      ids[entry.first] = id;
      entry.first->setAttr("plan_model", b.getI64IntegerAttr(id));
    }
    llvm::MapVector<Operation *, SmallVector<int64_t>> at;
    for (auto [i, buf] : llvm::enumerate(buffers)) {
      placed[i] = buf.kind == Kind::StepTensors;
      int64_t kind = buf.kind == Kind::Activations ? 0
                     : buf.kind == Kind::KvCache   ? 1
                     : buf.logits                  ? 6
                     : buf.kind == Kind::Workspace ? 2
                     : buf.kind == Kind::Weights   ? 3
                     : buf.kind == Kind::Gradients ? 4
                     : buf.kind == Kind::Optimizer ? 5
                                                   : -1;
      auto id = ids.find(buf.root);
      if (kind < 0 || !buf.root || id == ids.end())
        continue;
      placed[i] = !buf.sources.empty();
      for (const Source &s : buf.sources) {
        SmallVector<int64_t> &v = at[s.op];
        bool have = false;
        for (size_t i = 0; i + 3 < v.size(); i += 4)
          have |= v[i] == id->second && v[i + 1] == kind;
        if (!have)
          v.append({id->second, kind, buf.offset, buf.bytes});
      }
    }
    for (auto &[op, v] : at)
      op->setAttr("arena", b.getDenseI64ArrayAttr(v));
    return placed;
  }

  void runOnOperation() override {
    PipelineOp pipeline = getOperation();
    // Train steps whose objective separates by model may run model by
    // model (PlanMemoryPhases.cpp): where their stage frees its work
    // buffers at each step's end, the plan gives each phase a point.
    separable.clear();
    logitsChoice.clear();
    // Kept by default on the CPU (the CUDA kernels recompute them, not
    // yet); capped where the user set no budget (PlanMemoryLogits.cpp).
    logitsOnCuda = specDevice(pipeline) == "cuda";
    keepLogitsDefault = keepLogits && !logitsOnCuda;
    logitsCapped = budgetBytes == 0 && specMemoryBudget(pipeline) == 0;
    if (splitTrainSteps)
      pipeline.walk([&](TrainStepOp step) {
        SmallVector<int64_t> phases = separablePhases(step);
        if (!phases.empty())
          separable[step] = std::move(phases);
      });
    Figures fig = plan(pipeline);
    if (points.empty())
      return;

    // The runtime places work buffers at the plan's offsets in one arena
    // (runtime/job/JobArena.h): a buffer freed at a step's end comes back
    // next step to pages still resident, with no allocation and no page
    // fault. So a stage's models free their activations, KV caches and
    // decode workspaces at each step's end by default wherever that lowers
    // the peak (release-at-step-end; the first decision under a budget
    // otherwise). Stages are tried in order, again while any helps (one
    // stage's release can move the peak to another's).
    if (releaseAtStepEnd)
      for (bool changed = true; changed;) {
        changed = false;
        std::set<std::string> looped;
        for (unsigned p = 0; p < points.size(); ++p)
          if (loopStart[p] != p)
            looped.insert(stageAt[p]);
        for (const std::string &st : looped) {
          if (releasing.count(st))
            continue;
          releasing.insert(st);
          Figures next = plan(pipeline);
          if (next.planned < fig.planned) {
            fig = next;
            changed = true;
          } else {
            releasing.erase(st);
            fig = plan(pipeline);
          }
        }
      }

    // The budget: the spec's, else this machine's physical memory on the
    // CPU; a CUDA device's capacity is not known at compile time.
    int64_t budget = budgetBytes;
    std::string source = "option";
    if (budget == 0) {
      budget = specMemoryBudget(pipeline);
      source = "spec";
    }
    if (budget == 0 && specDevice(pipeline) != "cuda") {
      budget = physicalMemory ? int64_t(physicalMemory) : physicalMemoryBytes();
      source = "physical memory";
    }
    if (budget == 0)
      source = "none";

    // Over the budget: decisions in their documented order, each a remark,
    // until the plan fits or none is left.
    Builder b(&getContext());
    SmallVector<Attribute> decisions;
    bool fusionDecided = false;
    for (int round = 0; round < 16 && budget > 0 && fig.planned > budget;
         ++round) {
      Operation *at = points[fig.peakPoint];
      // First, when the peak is inside a stage loop: that stage's models
      // free their activations, KV caches and decode workspaces at each
      // step's end instead of keeping them for the next iteration (the
      // results are those of the unconstrained job; the runtime allocates
      // them again each step), if that lowers the peak.
      std::string st = stageAt[fig.peakPoint];
      if (loopStart[fig.peakPoint] != fig.peakPoint && !releasing.count(st)) {
        releasing.insert(st);
        Figures next = plan(pipeline);
        if (next.planned < fig.planned) {
          std::string text =
              "stage '" + st +
              "' frees its models' activations, KV caches and decode "
              "workspaces at each step's end (allocated again each step), "
              "saving " +
              humanBytes(fig.planned - next.planned) + ": peak " +
              humanBytes(fig.planned) + " -> " + humanBytes(next.planned) +
              " (budget " + humanBytes(budget) + ")";
          at->emitRemark() << "hone-plan-memory: " << text;
          decisions.push_back(b.getStringAttr(text));
          fig = next;
          continue;
        }
        releasing.erase(st);
        fig = plan(pipeline);
      }
      // Then the LM head's kept logits (PlanMemoryLogits.cpp): recomputed
      // in backward where that lowers the peak; one logits GEMM more per
      // backward, less than any decision below costs.
      if (std::string text = logitsDecision(pipeline, fig, budget);
          !text.empty()) {
        at->emitRemark() << "hone-plan-memory: " << text;
        decisions.push_back(b.getStringAttr(text));
        continue;
      }
      // Fusion's own decision, once: a fused train step's group at the
      // peak kept apart or fused with recomputed layers (FuseForwardsBudget).
      if (!fusionDecided) {
        fusionDecided = true;
        if (std::string text = fusionDecision(pipeline, fig, budget);
            !text.empty()) {
          at->emitRemark() << text;
          decisions.push_back(b.getStringAttr(text));
          continue;
        }
      }
      // Second: activation recomputation per layer for the activation
      // buffers live at the peak (a frozen read's first, then the largest),
      // the fewest layers that fit (results bit-identical, like the first).
      if (std::string text = recomputeDecision(pipeline, fig, budget);
          !text.empty()) {
        at->emitRemark() << "hone-plan-memory: " << text;
        decisions.push_back(b.getStringAttr(text));
        continue;
      }
      // Third: a smaller micro-batch, or a smaller generation batch where
      // a hone.generate's KV cache, decode workspace and logits hold more
      // bytes at the peak than the largest activation buffer a micro-batch
      // would shrink (also when no micro-batch is left).
      {
        auto [gen, genBytes, genRows] = generationAtPeak(fig);
        if (generationBatch && gen && genRows >= 2 &&
            (!microBatch || genBytes > largestMicroBatchable(fig)))
          if (std::string text = decideGeneration(pipeline, fig, budget);
              !text.empty()) {
            at->emitRemark() << "hone-plan-memory: " << text;
            decisions.push_back(b.getStringAttr(text));
            continue;
          }
      }
      auto [name, first, what] =
          microBatch ? decide(fig)
                     : std::tuple<std::string, unsigned, std::string>{};
      if (name.empty()) {
        if (std::string text = decideGeneration(pipeline, fig, budget);
            !text.empty()) {
          at->emitRemark() << "hone-plan-memory: " << text;
          decisions.push_back(b.getStringAttr(text));
          continue;
        }
        // Fifth, when nothing else is left: the AdamW moments live at the
        // peak offloaded between optimiser updates (PlanMemoryOffload.cpp;
        // not on a CUDA device yet: a remark says what it would save).
        std::string cudaNote;
        if (offload)
          if (std::string text =
                  offloadDecision(pipeline, fig, budget,
                                  specDevice(pipeline) == "cuda", &cudaNote);
              !text.empty()) {
            at->emitRemark() << "hone-plan-memory: " << text;
            decisions.push_back(b.getStringAttr(text));
            continue;
          }
        if (!cudaNote.empty())
          at->emitRemark() << "hone-plan-memory: " << cudaNote;
        break;
      }
      int64_t before = bytesOf(name, first);
      Figures next = plan(pipeline);
      // The saving as planned after the change (the buffer is the largest
      // of its uses: a forward not halved may still size it).
      std::string text =
          what + ", saving " + humanBytes(before - bytesOf(name, first)) +
          ": peak " + humanBytes(fig.planned) + " -> " +
          humanBytes(next.planned) + " (budget " + humanBytes(budget) + ")";
      at->emitRemark() << "hone-plan-memory: " << text;
      decisions.push_back(b.getStringAttr(text));
      fig = next;
    }

    // The train steps run model by model: `phases` for the runtime (one
    // entry per model operand), and a line each in the plan (honec
    // --report) with what it saves, against the same plan with every
    // step run whole.
    SmallVector<Attribute> split;
    SmallVector<std::pair<TrainStepOp, unsigned>> phased;
    pipeline.walk([&](TrainStepOp step) {
      unsigned p = pointOf.lookup(step);
      if (phasesOf(step, stageAt[p]))
        phased.push_back({step, p});
      else
        step->removeAttr("phases");
    });
    if (!phased.empty()) {
      auto kept = std::move(separable);
      separable.clear();
      Figures whole = plan(pipeline);
      separable = std::move(kept);
      fig = plan(pipeline);
      for (auto [step, p] : phased) {
        const SmallVector<int64_t> &phases = *phasesOf(step, stageAt[p]);
        step->setAttr("phases", b.getDenseI64ArrayAttr(phases));
        std::string order;
        for (unsigned k = 0; k < phaseCount(phases); ++k) {
          std::string names;
          for (auto [m, model] : llvm::enumerate(step.getModels()))
            if (phases[m] == int64_t(k))
              if (Operation *root = rootOf(model))
                names += (names.empty() ? "" : " and ") + modelName(root);
          order += (order.empty() ? "" : ", then ") + names;
        }
        split.push_back(b.getStringAttr(
            "stage '" + stageAt[p] + "': hone.train_step runs model by model (" +
            order +
            "; forward, loss kernel and backward each, its activations freed "
            "after): the objective separates, each model's gradients read "
            "only its own outputs; peak " +
            humanBytes(whole.planned) + " run whole -> " +
            humanBytes(fig.planned)));
      }
    }

    std::vector<bool> placed = placeBuffers(b);

    // Decision 5 for the runtime: each stage begin lists its model operands
    // whose AdamW moments wait in the host tier between updates
    // (`offload_moments`; the train steps' `arena` places them for the
    // updates, the stage begin places none).
    pipeline.walk([&](ExecStageBeginOp begin) {
      SmallVector<int64_t> which;
      SmallVector<Operation *> models = stageModels(begin);
      for (auto [i, root] : llvm::enumerate(models))
        if (root && offloaded.count({root, begin.getName().str()}))
          which.push_back(int64_t(i));
      if (which.empty())
        begin->removeAttr("offload_moments");
      else
        begin->setAttr("offload_moments", b.getDenseI64ArrayAttr(which));
    });

    SmallVector<Attribute> list;
    for (auto [i, buf] : llvm::enumerate(buffers)) {
      SmallVector<NamedAttribute> fields = {
          b.getNamedAttr("name", b.getStringAttr(buf.name)),
          b.getNamedAttr("kind", b.getStringAttr(kKindNames[int(buf.kind)])),
          b.getNamedAttr("bytes", b.getI64IntegerAttr(buf.bytes)),
          b.getNamedAttr("offset", b.getI64IntegerAttr(buf.offset)),
          b.getNamedAttr("first", b.getI64IntegerAttr(buf.first)),
          b.getNamedAttr("last", b.getI64IntegerAttr(buf.last))};
      // In the job's arena (runtime/job/JobArena.h): populated whole when
      // its stage begins.
      if (placed[i])
        fields.push_back(b.getNamedAttr("placed", b.getBoolAttr(true)));
      list.push_back(b.getDictionaryAttr(fields));
    }
    SmallVector<Attribute> stageMarks;
    for (unsigned p = 0; p < points.size(); ++p)
      if (isa<ExecStageBeginOp>(points[p]))
        stageMarks.push_back(b.getDictionaryAttr(
            {b.getNamedAttr("name", b.getStringAttr(stageAt[p])),
             b.getNamedAttr("point", b.getI64IntegerAttr(p)),
             b.getNamedAttr("end", b.getI64IntegerAttr(releaseAfter(p)))}));
    Operation *peakOp = points[fig.peakPoint];
    std::string peakOpName = peakOp->getName().getStringRef().str();
    SmallVector<NamedAttribute> entries = {
        b.getNamedAttr("peak_bytes", b.getI64IntegerAttr(fig.planned)),
        b.getNamedAttr("lower_bound_bytes",
                       b.getI64IntegerAttr(fig.lowerBound)),
        b.getNamedAttr("first_fit_bytes", b.getI64IntegerAttr(fig.firstFit)),
        b.getNamedAttr("no_reuse_bytes", b.getI64IntegerAttr(fig.noReuse)),
        b.getNamedAttr("budget_bytes", b.getI64IntegerAttr(budget)),
        b.getNamedAttr("budget_source", b.getStringAttr(source)),
        b.getNamedAttr("peak_stage", b.getStringAttr(stageAt[fig.peakPoint])),
        b.getNamedAttr("peak_op", b.getStringAttr(peakOpName)),
        b.getNamedAttr("peak_point", b.getI64IntegerAttr(fig.peakPoint)),
        b.getNamedAttr("points", b.getI64IntegerAttr(points.size())),
        b.getNamedAttr("stages", b.getArrayAttr(stageMarks)),
        b.getNamedAttr("buffers", b.getArrayAttr(list))};
    if (!decisions.empty())
      entries.push_back(b.getNamedAttr("decisions", b.getArrayAttr(decisions)));
    // The lanes the ops run on: the plan is for steps run inline, and a job
    // that runs them on lanes adds its lane threads' own memory
    // (memsize::laneRuntimeBytes for this many lanes, hone_rt_begin).
    llvm::StringSet<> lanes;
    pipeline.walk([&](Operation *op) {
      if (auto l = op->getAttrOfType<StringAttr>("hone.lane"))
        lanes.insert(l.getValue());
    });
    if (!lanes.empty())
      entries.push_back(
          b.getNamedAttr("lanes", b.getI64IntegerAttr(int64_t(lanes.size()))));
    if (!split.empty())
      entries.push_back(
          b.getNamedAttr("split_train_steps", b.getArrayAttr(split)));
    // The LM head's logits per train step and model (PlanMemoryLogits.cpp).
    SmallVector<Attribute> keptLogits;
    for (const std::string &line : logitsLines())
      keptLogits.push_back(b.getStringAttr(line));
    if (!keptLogits.empty())
      entries.push_back(
          b.getNamedAttr("kept_logits", b.getArrayAttr(keptLogits)));
    if (!releasing.empty()) {
      SmallVector<Attribute> names;
      for (const std::string &st : releasing)
        names.push_back(b.getStringAttr(st));
      entries.push_back(
          b.getNamedAttr("release_at_step_end", b.getArrayAttr(names)));
    }
    pipeline->setAttr("hone.memory_plan", b.getDictionaryAttr(entries));

    if (budget <= 0 || fig.planned <= budget)
      return;
    reportOverBudget(peakOp, fig.peakPoint, fig.planned, budget, source);
    signalPassFailure();
  }
};

} // namespace
