//===- PlanMemoryImpl.h - hone-plan-memory's shared state -------*- C++ -*-===//
//
// What the files of hone-plan-memory share: the buffer kinds, a buffer and
// the uses that size it, the plan's figures, and the planner state the pass
// (passes/PlanMemory.cpp) derives from. Not part of any interface: the pass
// is created through passes/Passes.h.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "llvm/ADT/BitVector.h"

#include "passes/Passes.h"
#include "runtime/model/MemorySizes.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "llvm/ADT/MapVector.h"

#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace mlir::hone::plan_memory {

/// The runtime computes in fp32 on the CPU.
constexpr int64_t kElemBytes = 4;

enum class Kind {
  Weights,
  Gradients,
  Optimizer,
  Activations,
  KvCache,
  Workspace,
  StepTensors,
  Runtime
};
constexpr const char *kKindNames[] = {"weights",      "gradients", "optimizer",
                                      "activations",  "kv_cache",  "workspace",
                                      "step_tensors", "runtime"};
constexpr int kKinds = sizeof(kKindNames) / sizeof(kKindNames[0]);

/// One forward (or generation) that sizes a per-stage buffer: the op, the
/// rows and sequence length it runs over, and the bytes it needs.
struct Source {
  Operation *op = nullptr;
  int64_t rows = 0, seqLen = 0, bytes = 0;
  /// A forward's: the model operand it runs, and the layers it recomputes
  /// (its op's recompute_layers for that model; 0: all kept).
  Value model = {};
  int64_t recompute = 0;
  /// Its bytes with every layer recomputed (the over-budget hint).
  int64_t allRecomputed = 0;
  /// A train step's forward that keeps the LM head's logits (keep_logits;
  /// in `bytes`, not in allRecomputed).
  bool keepLogits = false;
};

/// The logits decision for one (train step, model operand): whether its
/// forwards keep the LM head's logits, their bytes (the largest forward's),
/// the rest of those activations, and why not when not.
struct LogitsChoice {
  bool keep = false, capped = false, budget = false;
  int64_t bytes = 0, other = 0;
};

struct Buffer {
  std::string name;
  Kind kind;
  int64_t bytes = 0;
  unsigned first = 0, last = 0;
  int64_t offset = 0;
  /// What made it this big (for hints): rows x seqLen of the activations or
  /// rows of a KV cache; 0 when not batch-shaped.
  int64_t rows = 0, seqLen = 0;
  std::string stage;
  ::hone::ModelConfig cfg;
  /// The op whose use made it this big.
  Operation *source = nullptr;
  /// The model object it belongs to (activations, KV cache, decode
  /// workspace): the runtime places it for that model's ops.
  Operation *root = nullptr;
  /// Adapters of the model (activations and decode workspace include their
  /// products); rank 0 when none.
  ::hone::memsize::LoraShape lora;
  /// Every use that sizes it (a per-stage buffer is the largest of them).
  SmallVector<Source> sources;
  /// Generation's logits (a Workspace buffer the runtime places as kind 6).
  bool logits = false;
  /// Its offset's alignment (64 bytes; a page for AdamW moments offloaded
  /// to the host tier, which the runtime reads and writes with O_DIRECT).
  int64_t align = 64;
};

/// The page the offloaded moments' offsets and sizes are rounded to (the
/// runtime's direct I/O needs page-aligned memory and lengths).
constexpr int64_t kOffloadAlign = 4096;

struct Figures {
  int64_t planned = 0, lowerBound = 0, firstFit = 0, noReuse = 0;
  unsigned peakPoint = 0;
};

/// The planner's state: program points, buffers, and per-model bookkeeping,
/// rebuilt by each plan().
class Planner {
public:
  // Program points: ops of the pipeline in pre-order, loss regions skipped.
  SmallVector<Operation *> points;
  SmallVector<std::string> stageAt;
  llvm::DenseMap<Operation *, unsigned> pointOf;
  // Points of each stage's end (the runtime frees per-stage state there).
  SmallVector<unsigned> stageEnds;
  // Per point: the point of the outermost scf.for around it (the point
  // itself when none).
  SmallVector<unsigned> loopStart;
  // Per point: the last point of the loop loopStart names (the point itself
  // when none).
  SmallVector<unsigned> loopEnd;
  // Stages whose models' activations, KV caches and decode workspaces the
  // runtime frees at each step's end (a decision under the budget; kept
  // across re-planning).
  std::set<std::string> releasing;
  // Stages whose rollouts run ahead of learning (hone-pipeline-rollouts'
  // `staleness` on hone.exec.stage_begin): a generate there runs beside
  // other ops of the step, so its buffers are not freed after the call.
  std::set<std::string> pipelined;
  // Decision 5 under the budget (PlanMemoryOffload.cpp): the model objects
  // whose AdamW moments the stage named keeps in the host tier between
  // optimiser updates (kept across re-planning). Their moments are planned
  // at each train step of the stage alone, page-aligned.
  std::set<std::pair<Operation *, std::string>> offloaded;
  std::vector<Buffer> buffers;
  // Model objects: the op that creates each, its buffer name, its config.
  llvm::MapVector<Operation *, std::string> modelNames;
  // Per (model, kind, release point): the buffer index.
  std::map<std::tuple<Operation *, int, unsigned>, size_t> perModel;
  std::map<std::string, size_t> laneScratch;
  /// Data-parallel ranks (#hone.run's hardware.ranks; 1 without it): a
  /// batch of each rank is cut from one window of the data.
  int64_t ranks = 1;
  // Per stage end: the model objects a train step of that stage trains.
  std::map<unsigned, llvm::SmallPtrSet<Operation *, 4>> trainedBy;
  /// Train steps whose objective separates by model (separablePhases), with
  /// each model operand's phase; filled once by the pass when the option
  /// split-train-steps is on (kept across re-planning).
  llvm::DenseMap<Operation *, SmallVector<int64_t>> separable;
  /// A separable train step runs model by model (one point per phase, its
  /// models' activations freed after their phase) in a stage that frees
  /// its work buffers at each step's end: elsewhere a model's activations
  /// are kept across steps and splitting saves nothing. Null when not.
  const SmallVector<int64_t> *phasesOf(Operation *op,
                                       const std::string &stage) const {
    auto it = separable.find(op);
    return it != separable.end() && releasing.count(stage) ? &it->second
                                                           : nullptr;
  }
  /// Points of a train step run model by model: one per phase.
  static unsigned phaseCount(ArrayRef<int64_t> phases) {
    int64_t n = 0;
    for (int64_t p : phases)
      n = std::max(n, p + 1);
    return unsigned(n);
  }

  // Train steps by model (PlanMemoryPhases.cpp).
  /// Each model operand's phase when `step`'s gradient separates: every
  /// model's gradients read the outputs of models of its own phase only
  /// (found from the gradient region's def-use), with 2 or more phases; a
  /// phase with a kept forward (kept_forwards) first. Empty otherwise.
  static SmallVector<int64_t> separablePhases(TrainStepOp step);
  /// The runtime frees a model's activations after its phase of a train
  /// step run model by model: a per-step activation buffer with no use
  /// later in the step ends at that phase's point.
  void endPhasedActivations();

  // Buffers and sizes (PlanMemoryBuffers.cpp).
  Operation *rootOf(Value v);
  Operation *rootOfState(Value v);
  std::string modelName(Operation *root);
  unsigned releaseAfter(unsigned p);
  /// A model's buffer live at point `p` only ("<model>.<what>@p"), with
  /// one source, `op`.
  Buffer &atPoint(Operation *root, Kind kind, const char *what, unsigned p,
                  int64_t bytes, const ::hone::ModelConfig &cfg,
                  const ::hone::memsize::LoraShape &lora, int64_t rows,
                  int64_t seqLen, Operation *op);
  /// Returns the buffer's index.
  size_t perStage(Operation *root, Kind kind, unsigned p, int64_t bytes,
                  int64_t rows, int64_t seqLen);
  size_t perStageFrom(Operation *root, Kind kind, unsigned p, int64_t bytes,
                    int64_t rows, int64_t seqLen, Operation *sourceOp);
  ::hone::memsize::LoraShape loraShapeOf(Operation *root);
  void lmScratch(Operation *op, unsigned p, int64_t rows, int64_t vocab);
  void forward(Operation *op, unsigned p, Value model, int64_t rows,
               int64_t seqLen, bool transient = false,
               std::optional<std::pair<int64_t, int64_t>> packed = {});
  std::optional<std::pair<int64_t, int64_t>>
  packedBound(ArrayRef<std::pair<Value, Value>> reads, int64_t rows) const;
  void generation(Operation *op, unsigned p, Value model, int64_t prompts,
                  int64_t promptLen, int64_t rows, int64_t cacheLen);
  static bool runsTwice(scf::ForOp loop);
  void collect(PipelineOp pipeline);
  bool releasable(Operation *op, unsigned p, Value model);
  void size(PipelineOp pipeline);
  void scoreWith(Operation *op, unsigned p, Value reward, Value tokens);

  // Liveness and offsets (PlanMemoryPacking.cpp).
  static int64_t pack(std::vector<Buffer> &bs, ArrayRef<size_t> order);
  Figures plan(PipelineOp pipeline);
  int64_t bytesOf(StringRef name, unsigned first) const;
  /// Whether `b` is live at a point where the live bytes reach `fig`'s peak
  /// (more than one point where the peak ties: a train step run model by
  /// model, one per phase). The candidates of the decisions under the
  /// budget (PlanMemoryRecompute.cpp, PlanMemoryLogits.cpp).
  llvm::BitVector peakPoints(const Figures &fig) const;
  static bool liveAt(const Buffer &b, const llvm::BitVector &points);

  // Fused reads under the budget (passes/FuseForwardsBudget.cpp):
  /// hone-fuse-forwards' group at the peak kept apart or kept fused with
  /// recomputed layers, whichever fits with fewer FLOPs; the remark's text,
  /// empty when nothing changed.
  std::string fusionDecision(PipelineOp pipeline, Figures &fig,
                             int64_t budget);

  // The LM head's logits kept for backward (PlanMemoryLogits.cpp).
  /// Per (train step, model operand index); kept across re-planning.
  std::map<std::pair<Operation *, int64_t>, LogitsChoice> logitsChoice;
  /// The pass's keep-logits option (and not a CUDA device): whether
  /// logits are kept by default; `logitsCapped`: no budget set (option or
  /// spec), so only where they are no larger than the other activations.
  bool keepLogitsDefault = true, logitsCapped = true, logitsOnCuda = false;
  /// Whether `op`'s forward of `model` keeps its logits (`logitBytes`,
  /// beside `otherBytes` of other activations): decided at the first
  /// forward of each (train step, model) and written as keep_logits.
  bool keepsLogits(Operation *op, Value model, int64_t logitBytes,
                   int64_t otherBytes);
  void writeKeepLogits(TrainStepOp step);
  /// Under `budget`: the kept logits of the activation buffers live at the
  /// peak recomputed instead, where that lowers it (replanned into `fig`);
  /// the remark's text, "" when nothing changed.
  std::string logitsDecision(PipelineOp pipeline, Figures &fig,
                             int64_t budget);
  /// One line per (train step, model) decided, in program order (the
  /// plan's kept_logits, honec --report).
  SmallVector<std::string> logitsLines();

  // Keep or recompute activations per layer (PlanMemoryRecompute.cpp).
  /// The layers `op`'s forward of `model` recomputes (its
  /// recompute_layers; 0 when none).
  static int64_t recomputeOf(Operation *op, Value model);
  static void setRecompute(Operation *op, Value model, int64_t layers);
  /// Whether every forward sizing activation buffer `b` can run in
  /// recompute mode and one of them keeps more than one layer's set.
  static bool recomputable(const Buffer &b);
  /// The recomputation decision under `budget` for the plan `fig` (replanned
  /// into it): the remark's text, empty when no activation buffer live at
  /// the peak can recompute more layers.
  std::string recomputeDecision(PipelineOp pipeline, Figures &fig,
                                int64_t budget);
  /// One candidate buffer (its sizing forwards `uses`, their recompute
  /// counts now `previous`): the fewest layers that fit, kept (and its
  /// remark returned) when the peak falls, else undone ("").
  std::string tryRecompute(PipelineOp pipeline, Figures &fig, int64_t budget,
                           const std::string &name, unsigned first,
                           int64_t layers, int64_t before, bool backward,
                           ArrayRef<std::pair<Operation *, Value>> uses,
                           ArrayRef<int64_t> previous);

  // Offload of idle optimiser state (PlanMemoryOffload.cpp).
  /// Decision 5: the largest AdamW moments live at the peak (a stage's
  /// per-stage moments of a model it trains) offloaded between updates,
  /// kept when the peak falls. The remark's text, "" when none helps.
  /// `cuda`: never chosen; `*cudaNote` says what it would have saved.
  std::string offloadDecision(PipelineOp pipeline, Figures &fig,
                              int64_t budget, bool cuda,
                              std::string *cudaNote);
  /// The model objects a stage begin hands the runtime, in the order of
  /// its `models` (the stage loop's model iteration arguments, as the
  /// lowering passes them: passes/lower/Calls.cpp lowerStageBegin); the
  /// runtime creates their optimisers there.
  SmallVector<Operation *> stageModels(ExecStageBeginOp begin);
  /// Whether a train step of `stage` trains a model whose moments are
  /// offloaded there: the step then has one more point, its optimiser
  /// update, after its (phases') forward and backward.
  bool updatesOffloaded(Operation *step, const std::string &stage);
  /// The offloaded moments' point in a train step at `p`: its update
  /// point, after every phase.
  unsigned updatePoint(Operation *step, unsigned p) const;
  /// In a stage that frees its work buffers at each step's end, a train
  /// step with an update point frees its models' activations before the
  /// update (the runtime: runtime/ops/TrainStep.cpp): their per-step
  /// buffers end at its last phase's point.
  void endActivationsBeforeUpdate();

  // Micro-batching and the over-budget error (PlanMemoryReport.cpp).
  static bool microBatchable(Operation *op);
  static SmallVector<Source> largestUses(const Buffer &b);
  void reportOverBudget(Operation *peakOp, unsigned peakPoint, int64_t planned,
                        int64_t budget, const std::string &source);
};

} // namespace mlir::hone::plan_memory
