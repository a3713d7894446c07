//===- PlanMemory.cpp - the whole job's memory plan on scheduled IR
//--------===//
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
// Over 800 lines: one pass whose buffer collection, placement and
// micro-batch search share one state (the PlanMemory struct); its split by
// those three waits until the memory and fusion branches that change it
// this session (2026-12-06) have landed (docs/design.md, "Not yet").
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include <optional>
#include "runtime/model/MemorySizes.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MathExtras.h"

#include <unistd.h>

namespace mlir::hone {
#define GEN_PASS_DEF_PLANMEMORY
#include "passes/Passes.h.inc"
} // namespace mlir::hone

using namespace mlir;
using namespace mlir::hone;

namespace {

/// The runtime computes in fp32 on the CPU.
constexpr int64_t kElemBytes = 4;

enum class Kind {
  Weights,
  Gradients,
  Optimizer,
  Activations,
  KvCache,
  Workspace,
  StepTensors
};
constexpr const char *kKindNames[] = {"weights",     "gradients", "optimizer",
                                      "activations", "kv_cache",  "workspace",
                                      "step_tensors"};

/// One forward (or generation) that sizes a per-stage buffer: the op, the
/// rows and sequence length it runs over, and the bytes it needs.
struct Source {
  Operation *op = nullptr;
  int64_t rows = 0, seqLen = 0, bytes = 0;
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
  /// Adapters of the model (activations and decode workspace include their
  /// products); rank 0 when none.
  ::hone::memsize::LoraShape lora;
  /// Every use that sizes it (a per-stage buffer is the largest of them).
  SmallVector<Source> sources;
};

::hone::ModelConfig configOf(ModelType t) {
  ArchAttr a = t.getArch();
  ::hone::ModelConfig c;
  c.family = a.getFamily() == ModelFamily::gpt2 ? ::hone::ModelFamily::GPT2
                                                : ::hone::ModelFamily::Llama;
  c.vocabSize = a.getVocab();
  c.dModel = a.getDModel();
  c.nLayers = a.getLayers();
  c.nHeads = a.getHeads();
  c.nKvHeads = a.getKvHeads();
  c.dFf = a.getFfn();
  c.maxSeqLen = a.getMaxSeq();
  c.tieEmbeddings = a.getTied();
  c.qkvBias = a.getQkvBias();
  c.headDimension = a.getHeadDim();
  c.qkNorm = a.getQkNorm();
  c.head = t.hasLMHead() ? ::hone::HeadKind::LM : ::hone::HeadKind::Scalar;
  return c;
}

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
    case Device::cpu: return "cpu";
    case Device::cuda: return "cuda";
    case Device::auto_device: return "auto";
    }
  return "auto";
}

/// Physical memory of this machine: sysconf's pages times the page size.
int64_t physicalMemoryBytes() {
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? int64_t(pages) * int64_t(page) : 0;
}

int64_t rowsOf(Value v) {
  auto t = dyn_cast<RankedTensorType>(v.getType());
  return t && t.getRank() >= 1 ? t.getDimSize(0) : 0;
}
int64_t colsOf(Value v) {
  auto t = dyn_cast<RankedTensorType>(v.getType());
  return t && t.getRank() >= 2 ? t.getDimSize(1) : 1;
}

struct PlanMemory : public mlir::hone::impl::PlanMemoryBase<PlanMemory> {
  using Base::Base;

  // Program points: ops of the pipeline in pre-order, loss regions skipped.
  SmallVector<Operation *> points;
  SmallVector<std::string> stageAt;
  llvm::DenseMap<Operation *, unsigned> pointOf;
  // Points of each stage's end (the runtime frees per-stage state there).
  SmallVector<unsigned> stageEnds;
  // Per point: the point of the outermost scf.for around it (the point
  // itself when none).
  SmallVector<unsigned> loopStart;
  std::vector<Buffer> buffers;
  // Model objects: the op that creates each, its buffer name, its config.
  llvm::MapVector<Operation *, std::string> modelNames;
  // Per (model, kind, release point): the buffer index.
  std::map<std::tuple<Operation *, int, unsigned>, size_t> perModel;
  std::map<std::string, size_t> laneScratch;
  // Per stage end: the model objects a train step of that stage trains.
  std::map<unsigned, llvm::SmallPtrSet<Operation *, 4>> trainedBy;

  /// The op that creates the runtime model object `v` is a state of.
  Operation *rootOf(Value v) {
    Operation *root = rootOfState(v);
    if (!root || root->getNumResults() == 0 ||
        !isa<ModelType>(root->getResult(0).getType()))
      return nullptr;
    return root;
  }

  Operation *rootOfState(Value v) {
    for (int guard = 0; guard < 1000; ++guard) {
      if (auto arg = dyn_cast<BlockArgument>(v)) {
        auto loop = dyn_cast<scf::ForOp>(arg.getOwner()->getParentOp());
        if (!loop || arg.getArgNumber() == 0)
          return nullptr;
        v = loop.getInitArgs()[arg.getArgNumber() - 1];
        continue;
      }
      Operation *def = v.getDefiningOp();
      unsigned idx = cast<OpResult>(v).getResultNumber();
      if (auto loop = dyn_cast<scf::ForOp>(def)) {
        v = loop.getInitArgs()[idx];
        continue;
      }
      if (auto train = dyn_cast<TrainStepOp>(def)) {
        if (idx >= train.getModels().size())
          return nullptr;
        v = train.getModels()[idx];
        continue;
      }
      return def;
    }
    return nullptr;
  }

  std::string modelName(Operation *root) {
    auto it = modelNames.find(root);
    if (it != modelNames.end())
      return it->second;
    std::string name;
    if (auto names = root->getAttrOfType<ArrayAttr>("hone.models"))
      if (names.size() == 1)
        if (auto s = dyn_cast<StringAttr>(names[0]))
          name = s.str();
    if (auto init = dyn_cast<ModelInitOp>(root))
      name = init.getName().str();
    else if (auto load = dyn_cast<ModelLoadOp>(root))
      name = load.getName().str();
    else if (auto head = dyn_cast<ModelNewHeadOp>(root))
      name = head.getName().str();
    else if (auto lora = dyn_cast<ModelLoraOp>(root))
      name = lora.getName().str() + ".lora";
    else if (isa<ExecSnapshotOp>(root))
      name = (name.empty() ? std::string("model") : name) + ".snapshot@" +
             std::to_string(pointOf.lookup(root));
    if (name.empty())
      name = "model@" + std::to_string(pointOf.lookup(root));
    modelNames[root] = name;
    return name;
  }

  /// The point where the runtime frees per-stage state live at `p`: the
  /// next stage end, or the end of the job.
  unsigned releaseAfter(unsigned p) {
    for (unsigned e : stageEnds)
      if (e >= p)
        return e;
    return points.size() - 1;
  }

  /// Grows (or creates) a model's per-stage buffer of `kind` live from `p`.
  void perStage(Operation *root, Kind kind, unsigned p, int64_t bytes,
                int64_t rows, int64_t seqLen) {
    perStageFrom(root, kind, p, bytes, rows, seqLen, points[p]);
  }
  void perStageFrom(Operation *root, Kind kind, unsigned p, int64_t bytes,
                    int64_t rows, int64_t seqLen, Operation *sourceOp) {
    unsigned end = releaseAfter(p);
    auto key = std::make_tuple(root, int(kind), end);
    auto it = perModel.find(key);
    if (it == perModel.end()) {
      Buffer b;
      b.name = modelName(root) + "." + kKindNames[int(kind)];
      b.kind = kind;
      b.first = p;
      b.last = end;
      b.stage = stageAt[p];
      if (root->getNumResults())
        if (auto t = dyn_cast<ModelType>(root->getResult(0).getType()))
          b.cfg = configOf(t);
      b.lora = loraShapeOf(root);
      b.first = loopStart[p];
      it = perModel.emplace(key, buffers.size()).first;
      buffers.push_back(b);
    }
    Buffer &b = buffers[it->second];
    // A buffer the runtime keeps across a stage loop's iterations is live
    // in the whole loop body from the second iteration on, also before
    // its first use in the body.
    b.first = std::min(b.first, loopStart[p]);
    b.sources.push_back({sourceOp, rows, seqLen, bytes});
    if (bytes > b.bytes) {
      b.bytes = bytes;
      b.rows = rows;
      b.seqLen = seqLen;
      b.source = sourceOp;
    }
  }

  /// The adapters a model object carries: those of its hone.model.lora, or
  /// of the LoRA model it snapshots (objSnapshot copies the adapters and
  /// shares the base); none for other models.
  ::hone::memsize::LoraShape loraShapeOf(Operation *root) {
    ::hone::memsize::LoraShape shape;
    for (int guard = 0; root && guard < 1000; ++guard) {
      if (auto lora = dyn_cast<ModelLoraOp>(root)) {
        shape.rank = lora.getLora().getRank();
        for (Attribute t : lora.getLora().getTargetModules())
          if (auto s = dyn_cast<StringAttr>(t))
            shape.targets.push_back(s.str());
        return shape;
      }
      if (!isa<ExecSnapshotOp>(root))
        break;
      root = rootOf(root->getOperand(0));
    }
    return shape;
  }

  void lmScratch(Operation *op, unsigned p, int64_t rows, int64_t vocab) {
    std::string lane = "host";
    if (auto l = op->getAttrOfType<StringAttr>("hone.lane"))
      lane = l.str();
    int64_t bytes =
        ::hone::memsize::lmHeadScratchBytes(rows, vocab, kElemBytes);
    auto [it, fresh] = laneScratch.try_emplace(lane, buffers.size());
    if (fresh) {
      Buffer b;
      b.name = "lm_head_scratch." + lane;
      b.kind = Kind::Workspace;
      b.first = p;
      b.last = points.size() - 1; // the kernels keep it
      b.stage = stageAt[p];
      buffers.push_back(b);
    }
    buffers[it->second].bytes = std::max(buffers[it->second].bytes, bytes);
  }

  /// A forward of `model` over rows x seqLen tokens at point p. With
  /// `transient`, its activations live at p alone (the runtime frees them
  /// after the op: release_activations); else to the stage end.
  void forward(Operation *op, unsigned p, Value model, int64_t rows,
               int64_t seqLen, bool transient = false) {
    Operation *root = rootOf(model);
    if (!root)
      return;
    ::hone::ModelConfig c = configOf(cast<ModelType>(model.getType()));
    ::hone::memsize::LoraShape lora = loraShapeOf(root);
    int64_t bytes =
        ::hone::memsize::activationBytes(c, rows, seqLen, kElemBytes, &lora);
    if (transient) {
      Buffer b;
      b.name = modelName(root) + ".activations@" + std::to_string(p);
      b.kind = Kind::Activations;
      b.bytes = bytes;
      b.first = b.last = p;
      b.stage = stageAt[p];
      b.cfg = c;
      b.lora = lora;
      b.rows = rows;
      b.seqLen = seqLen;
      b.source = op;
      b.sources.push_back({op, rows, seqLen, bytes});
      buffers.push_back(b);
    } else {
      perStage(root, Kind::Activations, p, bytes, rows, seqLen);
    }
    if (c.head == ::hone::HeadKind::LM)
      lmScratch(op, p,
                llvm::SaturatingMultiply<uint64_t>(rows, seqLen) >
                        (uint64_t(1) << 40)
                    ? int64_t(1) << 40
                    : rows * seqLen,
                c.vocabSize);
  }

  void generation(Operation *op, unsigned p, Value model, int64_t prompts,
                  int64_t promptLen, int64_t rows, int64_t cacheLen) {
    Operation *root = rootOf(model);
    if (!root)
      return;
    ::hone::ModelConfig c = configOf(cast<ModelType>(model.getType()));
    cacheLen = std::min(cacheLen, c.maxSeqLen);
    perStage(root, Kind::KvCache, p,
             ::hone::memsize::kvCacheBytes(c, rows, cacheLen, kElemBytes), rows,
             cacheLen);
    ::hone::memsize::LoraShape lora = loraShapeOf(root);
    perStage(root, Kind::Workspace, p,
             ::hone::memsize::decodeWorkspaceBytes(c, prompts, promptLen, rows,
                                                   kElemBytes, &lora),
             rows, cacheLen);
    Buffer t;
    t.name = modelName(root) + ".logits@" + std::to_string(p);
    t.kind = Kind::Workspace;
    t.bytes = ::hone::memsize::generateTransientBytes(c, rows, kElemBytes);
    t.first = t.last = p;
    t.stage = stageAt[p];
    buffers.push_back(t);
  }

  /// Whether a loop may run more than one iteration (a stage of one step
  /// has no second iteration to keep buffers for).
  static bool runsTwice(scf::ForOp loop) {
    std::optional<int64_t> hi = getConstantIntValue(loop.getUpperBound());
    return !hi || *hi > 1;
  }

  void collect(PipelineOp pipeline) {
    std::string stage = "(setup)";
    auto visit = [&](Operation *op) {
      if (auto begin = dyn_cast<ExecStageBeginOp>(op))
        stage = begin.getName().str();
      pointOf[op] = points.size();
      unsigned start = points.size();
      for (Operation *at = op->getParentOp(); at && !isa<PipelineOp>(at);
           at = at->getParentOp())
        if (auto loop = dyn_cast<scf::ForOp>(at);
            loop && pointOf.count(at) && runsTwice(loop))
          start = pointOf[at];
      loopStart.push_back(start);
      points.push_back(op);
      stageAt.push_back(stage);
      if (isa<ExecStageEndOp>(op)) {
        stageEnds.push_back(points.size() - 1);
        stage = "(between stages)";
      }
      return isa<TrainStepOp>(op) ? WalkResult::skip() : WalkResult::advance();
    };
    for (Operation &op : pipeline.getBody().front())
      op.walk<WalkOrder::PreOrder>(visit);
  }

  /// Whether a frozen read of `model` at point p can release the model's
  /// activations after it: no train step of its stage trains that model
  /// object (its activations serve nothing after the read). Marks the op
  /// (release_activations, read by the runtime) when so.
  bool releasable(Operation *op, unsigned p, Value model) {
    Operation *root = rootOf(model);
    if (!root || trainedBy[releaseAfter(p)].count(root))
      return false;
    op->setAttr("release_activations", UnitAttr::get(op->getContext()));
    return true;
  }

  void size(PipelineOp pipeline) {
    unsigned end = points.size() - 1;
    trainedBy.clear();
    for (unsigned p = 0; p <= end; ++p)
      if (auto train = dyn_cast<TrainStepOp>(points[p]))
        for (Value model : train.getModels())
          if (Operation *root = rootOf(model))
            trainedBy[releaseAfter(p)].insert(root);
    if (auto arena = pipeline->getAttrOfType<IntegerAttr>("hone.arena_bytes"))
      if (arena.getInt() > 0) {
        Buffer b;
        b.name = "step_tensors";
        b.kind = Kind::StepTensors;
        b.bytes = arena.getInt();
        b.first = 0;
        b.last = end;
        b.stage = stageAt[0];
        buffers.push_back(b);
      }
    for (unsigned p = 0; p <= end; ++p) {
      Operation *op = points[p];
      if (isa<ModelInitOp, ModelLoadOp, ModelNewHeadOp, ExecSnapshotOp,
              ModelLoraOp>(op)) {
        auto type = cast<ModelType>(op->getResult(0).getType());
        ::hone::ModelConfig c = configOf(type);
        std::string name = modelName(op);
        // A frozen model kept in bf16 (hone-schedule-stages' "storage"):
        // bf16 matrices, fp32 vectors. A LoRA model (or the snapshot of
        // one) shares its base's weights and holds its adapters, their
        // gradients and a norm-gain gradient scratch from the start
        // (Transformer::addLora). Other models' gradients come with their
        // first backward and go at its stage's end: planned per stage at
        // the train steps below.
        auto storage = op->getAttrOfType<StringAttr>("storage");
        bool bf16 = storage && storage.getValue() == "bf16";
        ::hone::memsize::LoraShape lora = loraShapeOf(op);
        auto add = [&](Kind k, const char *what, int64_t bytes) {
          Buffer b;
          b.name = name + "." + what;
          b.kind = k;
          b.bytes = bytes;
          b.first = p;
          b.last = end; // model objects live to the end of the job
          b.stage = stageAt[p];
          b.cfg = c;
          b.lora = lora;
          buffers.push_back(b);
        };
        if (lora.any()) {
          int64_t grads =
              ::hone::memsize::loraOptimizerBytes(c, lora, kElemBytes) / 2;
          add(Kind::Weights, "adapters",
              ::hone::memsize::loraBytes(c, lora, kElemBytes) - grads);
          add(Kind::Gradients, "adapter_gradients", grads);
        } else {
          add(Kind::Weights, "weights",
              bf16 ? ::hone::memsize::frozenBf16Bytes(c)
                   : ::hone::memsize::parameterBytes(c, kElemBytes));
        }
      } else if (auto train = dyn_cast<TrainStepOp>(op)) {
        int64_t updates = std::max<int64_t>(1, train.getUpdates());
        int64_t mini = std::max<int64_t>(1, train.getMiniBatches());
        ArrayRef<int64_t> readers = train.getReaders();
        // Reads fused by hone-fuse-forwards run as one forward over their
        // rows concatenated: the leading read's activations hold them all.
        std::optional<ArrayRef<int64_t>> fused = train.getFusedReads();
        auto tokenList = train.getTokens();
        SmallVector<int64_t> groupRows(tokenList.size(), 0);
        for (auto [i, tokens] : llvm::enumerate(tokenList)) {
          size_t lead = fused && i < fused->size() &&
                                (*fused)[i] >= 0 &&
                                size_t((*fused)[i]) < tokenList.size()
                            ? size_t((*fused)[i])
                            : i;
          int64_t rows = rowsOf(tokens) / updates;
          groupRows[lead] += (rows + mini - 1) / mini;
        }
        for (auto [i, tokens] : llvm::enumerate(tokenList)) {
          if (i >= readers.size())
            break;
          if (groupRows[i] == 0)
            continue; // computed by an earlier read's forward
          Value model = train.getModels()[readers[i]];
          forward(op, p, model, groupRows[i], colsOf(tokens));
        }
        for (Value model : train.getModels())
          if (Operation *root = rootOf(model)) {
            ::hone::ModelConfig c = configOf(cast<ModelType>(model.getType()));
            ::hone::memsize::LoraShape lora = loraShapeOf(root);
            if (lora.any()) {
              perStage(root, Kind::Optimizer, p,
                       ::hone::memsize::loraOptimizerBytes(c, lora, kElemBytes),
                       0, 0);
              continue;
            }
            perStage(root, Kind::Optimizer, p,
                     ::hone::memsize::optimizerBytes(c, kElemBytes), 0, 0);
            perStage(root, Kind::Gradients, p,
                     ::hone::memsize::parameterBytes(c, kElemBytes), 0, 0);
          }
      } else if (auto lp = dyn_cast<LogprobOp>(op)) {
        // Several batches run as one forward over their rows.
        // With micro_batch, the runtime runs it over that many rows at a
        // time.
        int64_t rows = 0;
        for (Value tok : lp.getTokens())
          rows += rowsOf(tok);
        if (std::optional<uint64_t> mb = lp.getMicroBatch())
          rows = std::min<int64_t>(rows, int64_t(*mb));
        forward(op, p, lp.getModel(), rows, colsOf(lp.getTokens().front()),
                releasable(op, p, lp.getModel()));
      } else if (auto v = dyn_cast<ValueOp>(op)) {
        int64_t rows = rowsOf(v.getTokens());
        if (std::optional<uint64_t> mb = v.getMicroBatch())
          rows = std::min<int64_t>(rows, int64_t(*mb));
        forward(op, p, v.getModel(), rows, colsOf(v.getTokens()),
                releasable(op, p, v.getModel()));
      } else if (auto gen = dyn_cast<GenerateOp>(op)) {
        // The runtime prefills every sample's copy of its prompt (one row
        // per result row), then decodes the rows.
        int64_t promptLen = colsOf(gen.getPrompts());
        Value tokens = gen.getResults().front();
        generation(op, p, gen.getPolicy(), rowsOf(tokens), promptLen,
                   rowsOf(tokens), colsOf(tokens));
      } else if (auto score = dyn_cast<ScoreOp>(op)) {
        scoreWith(op, p, score.getReward(), score->getOperand(1));
      } else if (auto eval = dyn_cast<EvalStepOp>(op)) {
        // The runtime evaluates 16 prompts at a time, each cut to leave
        // max_new_tokens of room: bound by the longest such prompt.
        auto type = cast<ModelType>(eval.getModel().getType());
        if (type.hasLMHead() && eval.getReward()) {
          int64_t maxSeq = type.getArch().getMaxSeq();
          int64_t maxNew = eval.getSettings().getGeneration().getMaxNewTokens();
          int64_t promptLen = std::max<int64_t>(1, maxSeq - maxNew);
          generation(op, p, eval.getModel(), 16, promptLen, 16, maxSeq);
        }
      }
    }
  }

  /// Scoring with a learned reward model runs its forward.
  void scoreWith(Operation *op, unsigned p, Value reward, Value tokens) {
    Operation *def = reward.getDefiningOp();
    if (auto rm = dyn_cast_or_null<RewardModelOp>(def))
      forward(op, p, rm.getModel(), rowsOf(tokens), colsOf(tokens));
    else if (auto combine = dyn_cast_or_null<RewardCombineOp>(def))
      for (Value in : combine.getInputs())
        scoreWith(op, p, in, tokens);
  }

  /// Offsets, packed as placed in `order`: each buffer at the lowest offset
  /// free of every placed buffer whose interval overlaps its own. Returns
  /// the arena's end.
  static int64_t pack(std::vector<Buffer> &bs, ArrayRef<size_t> order) {
    int64_t top = 0;
    SmallVector<size_t> placed;
    for (size_t i : order) {
      Buffer &b = bs[i];
      SmallVector<std::pair<int64_t, int64_t>> busy;
      for (size_t j : placed)
        if (bs[j].first <= b.last && b.first <= bs[j].last)
          busy.push_back({bs[j].offset, bs[j].offset + bs[j].bytes});
      llvm::sort(busy);
      int64_t offset = 0;
      for (auto [lo, hi] : busy) {
        if (offset + b.bytes <= lo)
          break;
        offset = std::max(offset, hi);
      }
      b.offset = offset;
      top = std::max(top, offset + b.bytes);
      placed.push_back(i);
    }
    return top;
  }

  struct Figures {
    int64_t planned = 0, lowerBound = 0, firstFit = 0, noReuse = 0;
    unsigned peakPoint = 0;
  };

  /// Collects, sizes and packs the buffers of the pipeline as it is now.
  Figures plan(PipelineOp pipeline) {
    points.clear(), stageAt.clear(), pointOf.clear(), stageEnds.clear();
    loopStart.clear();
    buffers.clear(), modelNames.clear(), perModel.clear(), laneScratch.clear();
    Figures fig;
    collect(pipeline);
    if (points.empty())
      return fig;
    size(pipeline);
    llvm::erase_if(buffers, [](const Buffer &b) { return b.bytes <= 0; });

    // Liveness: bytes live at each point; the lower bound is the maximum.
    SmallVector<int64_t> live(points.size() + 1, 0);
    for (const Buffer &b : buffers) {
      live[b.first] += b.bytes;
      live[b.last + 1] -= b.bytes;
    }
    int64_t running = 0;
    for (unsigned p = 0; p < points.size(); ++p) {
      running += live[p];
      if (running > fig.lowerBound)
        fig.lowerBound = running, fig.peakPoint = p;
    }
    for (const Buffer &b : buffers)
      fig.noReuse += b.bytes;

    // First fit in order of first use, for comparison; then greedy by size
    // (largest first, earlier first on ties), the plan's offsets.
    SmallVector<size_t> order(buffers.size());
    for (size_t i = 0; i < order.size(); ++i)
      order[i] = i;
    llvm::stable_sort(order, [&](size_t a, size_t b) {
      return buffers[a].first < buffers[b].first;
    });
    fig.firstFit = pack(buffers, order);
    llvm::stable_sort(order, [&](size_t a, size_t b) {
      if (buffers[a].bytes != buffers[b].bytes)
        return buffers[a].bytes > buffers[b].bytes;
      return buffers[a].first < buffers[b].first;
    });
    fig.planned = pack(buffers, order);
    return fig;
  }

  /// Whether the runtime can run the forward of `op` over fewer rows at a
  /// time: a train step (mini_batches), hone.logprob and hone.value
  /// (micro_batch).
  static bool microBatchable(Operation *op) {
    return isa_and_nonnull<TrainStepOp, LogprobOp, ValueOp>(op);
  }

  /// The uses that size activation buffer `b` (its largest forwards), or
  /// none when one of them cannot be micro-batched: halving only some of
  /// them would leave the buffer as large as before.
  static SmallVector<Source> largestUses(const Buffer &b) {
    SmallVector<Source> at;
    for (const Source &s : b.sources)
      if (s.bytes == b.bytes) {
        if (!microBatchable(s.op) || s.rows < 2)
          return {};
        if (!llvm::any_of(at, [&](const Source &o) { return o.op == s.op; }))
          at.push_back(s);
      }
    return at;
  }

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
  /// forward per chunk of rows, results bit-identical). Returns the
  /// buffer (its name and first point) and what was changed, or an empty
  /// name when no decision is left.
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
      } else {
        if (auto lp = dyn_cast<LogprobOp>(u.op))
          lp.setMicroBatch(uint64_t(half));
        else
          cast<ValueOp>(u.op).setMicroBatch(uint64_t(half));
        one = llvm::formatv("{0} micro_batch {1}: one forward per {1} rows, "
                            "results bit-identical",
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

  /// Bytes of the buffer named `name` first live at `first` in the current
  /// plan (0: none); names repeat across stages.
  int64_t bytesOf(StringRef name, unsigned first) const {
    for (const Buffer &b : buffers)
      if (b.name == name && b.first == first)
        return b.bytes;
    return 0;
  }

  void runOnOperation() override {
    PipelineOp pipeline = getOperation();
    Figures fig = plan(pipeline);
    if (points.empty())
      return;

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
    for (int round = 0; round < 16 && budget > 0 && fig.planned > budget;
         ++round) {
      Operation *at = points[fig.peakPoint];
      auto [name, first, what] = decide(fig);
      if (name.empty())
        break;
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

    SmallVector<Attribute> list;
    for (const Buffer &buf : buffers)
      list.push_back(b.getDictionaryAttr({
          b.getNamedAttr("name", b.getStringAttr(buf.name)),
          b.getNamedAttr("kind", b.getStringAttr(kKindNames[int(buf.kind)])),
          b.getNamedAttr("bytes", b.getI64IntegerAttr(buf.bytes)),
          b.getNamedAttr("offset", b.getI64IntegerAttr(buf.offset)),
          b.getNamedAttr("first", b.getI64IntegerAttr(buf.first)),
          b.getNamedAttr("last", b.getI64IntegerAttr(buf.last)),
      }));
    SmallVector<Attribute> stageMarks;
    for (unsigned p = 0; p < points.size(); ++p)
      if (isa<ExecStageBeginOp>(points[p]))
        stageMarks.push_back(b.getDictionaryAttr(
            {b.getNamedAttr("name", b.getStringAttr(stageAt[p])),
             b.getNamedAttr("point", b.getI64IntegerAttr(p))}));
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
    pipeline->setAttr("hone.memory_plan", b.getDictionaryAttr(entries));

    if (budget <= 0 || fig.planned <= budget)
      return;
    reportOverBudget(peakOp, fig.peakPoint, fig.planned, budget, source);
    signalPassFailure();
  }

  void reportOverBudget(Operation *peakOp, unsigned peakPoint, int64_t planned,
                        int64_t budget, const std::string &source) {
    // What is live at the peak, by kind.
    int64_t byKind[7] = {0};
    for (const Buffer &buf : buffers)
      if (buf.first <= peakPoint && peakPoint <= buf.last)
        byKind[int(buf.kind)] += buf.bytes;
    std::string parts;
    for (int k = 0; k < 7; ++k)
      if (byKind[k])
        parts += std::string(parts.empty() ? "" : ", ") + kKindNames[k] + " " +
                 humanBytes(byKind[k]);
    InFlightDiagnostic diag =
        peakOp->emitError()
        << "hone-plan-memory: the job needs " << humanBytes(planned)
        << " at its peak, over the memory budget of " << humanBytes(budget)
        << " (" << source << "); the peak is in stage '" << stageAt[peakPoint]
        << "' at " << peakOp->getName() << ": " << parts;
    // What would make it fit: halving the batch of the live activations
    // (micro-batches, gradient accumulation keeping the global batch) and
    // of the live KV caches (generation batch), each saving, in that order.
    std::string hint;
    int64_t saved = 0;
    for (const Buffer &buf : buffers) {
      if (!(buf.first <= peakPoint && peakPoint <= buf.last) || buf.rows < 2)
        continue;
      int64_t half = (buf.rows + 1) / 2, smaller = buf.bytes;
      // Only these forwards are micro-batched by the runtime; the buffer
      // shrinks only when every use that sizes it does, to the largest of
      // those halved and the others.
      if (buf.kind == Kind::Activations) {
        if (largestUses(buf).empty())
          continue;
        smaller = 0;
        for (const Source &s : buf.sources)
          smaller =
              std::max(smaller, s.bytes < buf.bytes
                                    ? s.bytes
                                    : ::hone::memsize::activationBytes(
                                          buf.cfg, (s.rows + 1) / 2, s.seqLen,
                                          kElemBytes, &buf.lora));
      } else if (buf.kind == Kind::KvCache)
        smaller = ::hone::memsize::kvCacheBytes(buf.cfg, half, buf.seqLen,
                                                kElemBytes);
      else
        continue;
      if (smaller >= buf.bytes)
        continue;
      saved += buf.bytes - smaller;
      hint += llvm::formatv(
                  "{0}{1} {2} -> {3} ({4}) saves {5}", hint.empty() ? "" : "; ",
                  buf.kind == Kind::Activations ? "micro-batch"
                                                : "generation batch",
                  buf.rows, half, buf.name, humanBytes(buf.bytes - smaller))
                  .str();
    }
    auto &note = diag.attachNote();
    if (!hint.empty())
      note << "hint: " << hint << " ("
           << (planned - saved <= budget
                   ? std::string("that fits")
                   : "still over by " + humanBytes(planned - saved - budget))
           << "); or raise hardware.memory_budget to at least "
           << humanBytes(planned);
    else
      note << "hint: raise hardware.memory_budget to at least "
           << humanBytes(planned) << " or use a smaller model";
  }
};

} // namespace
