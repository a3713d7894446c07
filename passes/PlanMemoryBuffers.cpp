//===- PlanMemoryBuffers.cpp - hone-plan-memory: buffers and sizes --------===//
//
// The buffers of the memory plan (passes/PlanMemory.cpp): program points in
// the scheduled pipeline, the model objects and their per-stage buffers, and
// each op's bytes from the runtime's sizing functions
// (runtime/model/MemorySizes.h). Shared declarations: PlanMemoryImpl.h.
//
//===----------------------------------------------------------------------===//

#include "passes/PlanMemoryImpl.h"
#include "runtime/model/RuntimeSizes.h"

#include "dialect/HoneForwards.h"

#include "llvm/Support/MathExtras.h"

#include <optional>

using namespace mlir;
using namespace mlir::hone;
using namespace mlir::hone::plan_memory;

namespace {

::hone::ModelConfig configOf(ModelType t) {
  ArchAttr a = t.getArch();
  ::hone::ModelConfig c;
  c.family = a.getFamily();
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
  c.head = t.getHead();
  return c;
}

int64_t rowsOf(Value v) {
  auto t = dyn_cast<RankedTensorType>(v.getType());
  return t && t.getRank() >= 1 ? t.getDimSize(0) : 0;
}
int64_t colsOf(Value v) {
  auto t = dyn_cast<RankedTensorType>(v.getType());
  return t && t.getRank() >= 2 ? t.getDimSize(1) : 1;
}

} // namespace

/// The op that creates the runtime model object `v` is a state of.
Operation *Planner::rootOf(Value v) {
  Operation *root = rootOfState(v);
  if (!root || root->getNumResults() == 0 ||
      !isa<ModelType>(root->getResult(0).getType()))
    return nullptr;
  return root;
}

Operation *Planner::rootOfState(Value v) {
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

std::string Planner::modelName(Operation *root) {
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
unsigned Planner::releaseAfter(unsigned p) {
  for (unsigned e : stageEnds)
    if (e >= p)
      return e;
  return points.size() - 1;
}

/// Grows (or creates) a model's per-stage buffer of `kind` live from `p`.
size_t Planner::perStage(Operation *root, Kind kind, unsigned p,
                         int64_t bytes, int64_t rows, int64_t seqLen) {
  return perStageFrom(root, kind, p, bytes, rows, seqLen, points[p]);
}
Buffer &Planner::atPoint(Operation *root, Kind kind, const char *what,
                         unsigned p, int64_t bytes,
                         const ::hone::ModelConfig &cfg,
                         const ::hone::memsize::LoraShape &lora, int64_t rows,
                         int64_t seqLen, Operation *op) {
  Buffer b;
  b.name = modelName(root) + "." + what + "@" + std::to_string(p);
  b.kind = kind;
  b.root = root;
  b.bytes = bytes;
  b.first = b.last = p;
  b.stage = stageAt[p];
  b.cfg = cfg;
  b.lora = lora;
  b.rows = rows;
  b.seqLen = seqLen;
  b.source = op;
  b.sources.push_back({op, rows, seqLen, bytes});
  buffers.push_back(b);
  return buffers.back();
}

size_t Planner::perStageFrom(Operation *root, Kind kind, unsigned p,
                             int64_t bytes, int64_t rows, int64_t seqLen,
                             Operation *sourceOp) {
  // Freed at each step's end in a releasing stage: live from its first
  // use in the loop body to the body's end, not across iterations.
  bool perStep = loopStart[p] != p && releasing.count(stageAt[p]) &&
                 (kind == Kind::Activations || kind == Kind::KvCache ||
                  kind == Kind::Workspace);
  unsigned end = perStep ? loopEnd[p] : releaseAfter(p);
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
    b.root = root;
    b.first = perStep ? p : loopStart[p];
    it = perModel.emplace(key, buffers.size()).first;
    buffers.push_back(b);
  }
  Buffer &b = buffers[it->second];
  // A buffer the runtime keeps across a stage loop's iterations is live
  // in the whole loop body from the second iteration on, also before
  // its first use in the body.
  b.first = std::min(b.first, perStep ? p : loopStart[p]);
  b.sources.push_back({sourceOp, rows, seqLen, bytes});
  if (bytes > b.bytes) {
    b.bytes = bytes;
    b.rows = rows;
    b.seqLen = seqLen;
    b.source = sourceOp;
  }
  return it->second;
}

/// The adapters a model object carries: those of its hone.model.lora, or
/// of the LoRA model it snapshots (objSnapshot copies the adapters and
/// shares the base); none for other models.
::hone::memsize::LoraShape Planner::loraShapeOf(Operation *root) {
  ::hone::memsize::LoraShape shape;
  for (int guard = 0; root && guard < 1000; ++guard) {
    if (auto lora = dyn_cast<ModelLoraOp>(root)) {
      shape.rank = lora.getLora().getRank();
      shape.dropout = !lora.getLora().getDropout().isZero();
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

void Planner::lmScratch(Operation *op, unsigned p, int64_t rows,
                        int64_t vocab) {
  std::string lane = "host";
  if (auto l = op->getAttrOfType<StringAttr>("hone.lane"))
    lane = l.str();
  int64_t bytes = ::hone::memsize::lmHeadScratchBytes(rows, vocab, kElemBytes);
  auto [it, fresh] = laneScratch.try_emplace(lane, buffers.size());
  if (fresh) {
    Buffer b;
    b.name = "lm_head_scratch." + lane;
    b.kind = Kind::Workspace;
    // The job hands it to the lane's kernels at its start, and they keep
    // it (hone_rt_begin): live for the whole job.
    b.first = 0;
    b.last = points.size() - 1;
    b.stage = stageAt[p];
    buffers.push_back(b);
  }
  buffers[it->second].bytes = std::max(buffers[it->second].bytes, bytes);
}

/// The most tokens and squared lengths a packed forward over `rows` rows of
/// `reads` (token batch, the mask it packs to) can run, when they are rows
/// of a dataset measured at compile time (hone::packedRowsBound); none
/// otherwise (the padded batch is the bound).
std::optional<std::pair<int64_t, int64_t>>
Planner::packedBound(ArrayRef<std::pair<Value, Value>> reads,
                     int64_t rows) const {
  return packedRowsBound(reads, rows, ranks);
}

/// A forward of `model` over rows x seqLen tokens at point p. With
/// `transient`, its activations live at p alone (the runtime frees them
/// after the op: release_activations); else to the stage end. With
/// `packed` (a packed forward's most tokens and squared lengths), the
/// activations of what it runs (memsize::PackedRows).
void Planner::forward(Operation *op, unsigned p, Value model, int64_t rows,
                      int64_t seqLen, bool transient,
                      std::optional<std::pair<int64_t, int64_t>> packed) {
  Operation *root = rootOf(model);
  if (!root)
    return;
  ::hone::ModelConfig c = configOf(cast<ModelType>(model.getType()));
  ::hone::memsize::LoraShape lora = loraShapeOf(root);
  ::hone::memsize::PackedRows pr;
  if (packed)
    pr.tokens = packed->first, pr.squares = packed->second;
  // hone-plan-memory's own recompute decision (recompute_layers), if any.
  const int64_t recompute = recomputeOf(op, model);
  int64_t bytes = ::hone::memsize::activationBytes(
      c, rows, seqLen, kElemBytes, &lora, packed ? &pr : nullptr, recompute);
  const int64_t allRecomputed = ::hone::memsize::activationBytes(
      c, rows, seqLen, kElemBytes, &lora, packed ? &pr : nullptr, c.nLayers);
  // A train step's forward may keep its LM head's logits for the backward
  // (PlanMemoryLogits.cpp): the stream's rows x vocab more.
  const int64_t streamRows =
      packed ? pr.tokens
      : llvm::SaturatingMultiply<uint64_t>(rows, seqLen) > (uint64_t(1) << 40)
          ? int64_t(1) << 40
          : rows * seqLen;
  const bool keep =
      c.head == ::hone::HeadKind::LM &&
      keepsLogits(op, model,
                  ::hone::memsize::keptLogitsBytes(c, streamRows, kElemBytes),
                  bytes);
  if (keep)
    bytes = ::hone::memsize::activationBytes(c, rows, seqLen, kElemBytes, &lora,
                                             packed ? &pr : nullptr, recompute,
                                             true);
  if (transient) {
    Source &s = atPoint(root, Kind::Activations, "activations", p, bytes, c,
                        lora, rows, seqLen, op)
                    .sources.back();
    s.model = model;
    s.recompute = recompute;
    s.allRecomputed = allRecomputed;
    s.keepLogits = keep;
  } else {
    Source &s = buffers[perStageFrom(root, Kind::Activations, p, bytes,
                                     rows, seqLen, op)]
                    .sources.back();
    s.model = model;
    s.recompute = recompute;
    s.allRecomputed = allRecomputed;
    s.keepLogits = keep;
  }
  if (c.head == ::hone::HeadKind::LM)
    lmScratch(op, p,
              llvm::SaturatingMultiply<uint64_t>(rows, seqLen) >
                      (uint64_t(1) << 40)
                  ? int64_t(1) << 40
                  : rows * seqLen,
              c.vocabSize);
}

void Planner::generation(Operation *op, unsigned p, Value model,
                         int64_t prompts, int64_t promptLen, int64_t rows,
                         int64_t cacheLen) {
  Operation *root = rootOf(model);
  if (!root)
    return;
  ::hone::ModelConfig c = configOf(cast<ModelType>(model.getType()));
  cacheLen = std::min(cacheLen, c.maxSeqLen);
  ::hone::memsize::LoraShape lora = loraShapeOf(root);
  const int64_t kv = ::hone::memsize::kvCacheBytes(c, rows, cacheLen,
                                                   kElemBytes);
  const int64_t ws = ::hone::memsize::decodeWorkspaceBytes(
      c, prompts, promptLen, rows, kElemBytes, &lora);
  // In a stage that frees its work buffers at each step's end, a rollout's
  // KV cache and decode workspace serve that hone.generate alone: the
  // runtime frees them after the call (release_decode), so they are live
  // at its point only, not through the step's train step. Not where
  // rollouts run ahead (the generate then runs beside the step's other
  // ops on its lane).
  if (isa<GenerateOp>(op) && loopStart[p] != p &&
      releasing.count(stageAt[p]) && !pipelined.count(stageAt[p])) {
    op->setAttr("release_decode", UnitAttr::get(op->getContext()));
    atPoint(root, Kind::KvCache, "kv_cache", p, kv, c, lora, rows, cacheLen,
            op);
    atPoint(root, Kind::Workspace, "workspace", p, ws, c, lora, rows,
            cacheLen, op);
  } else {
    op->removeAttr("release_decode");
    perStage(root, Kind::KvCache, p, kv, rows, cacheLen);
    perStage(root, Kind::Workspace, p, ws, rows, cacheLen);
  }
  Buffer t;
  t.name = modelName(root) + ".logits@" + std::to_string(p);
  t.kind = Kind::Workspace;
  t.bytes = ::hone::memsize::generateTransientBytes(c, rows, kElemBytes);
  t.cfg = c;
  t.rows = rows;
  t.first = t.last = p;
  // A generation that runs ahead of its step (hone-pipeline-rollouts'
  // hone.ahead) runs on its lane beside the previous step's learning: its
  // logits may be live anywhere in the loop body.
  if (auto ahead = op->getAttrOfType<IntegerAttr>("hone.ahead");
      ahead && ahead.getInt() > 0 && loopStart[p] != p) {
    t.first = loopStart[p];
    t.last = loopEnd[p];
  }
  t.stage = stageAt[p];
  // Placed by the runtime for this op (hone::generate's last hidden rows
  // and logits).
  t.root = root;
  t.logits = true;
  t.sources.push_back({op, rows, 0, t.bytes});
  buffers.push_back(t);
}

/// Whether a loop may run more than one iteration (a stage of one step
/// has no second iteration to keep buffers for).
bool Planner::runsTwice(scf::ForOp loop) {
  std::optional<int64_t> hi = getConstantIntValue(loop.getUpperBound());
  return !hi || *hi > 1;
}

void Planner::collect(PipelineOp pipeline) {
  if (RunAttr run = pipeline.getRunAttr())
    ranks = std::max<int64_t>(1, run.getHardware().getRanks());
  std::string stage = "(setup)";
  auto visit = [&](Operation *op) {
    if (auto begin = dyn_cast<ExecStageBeginOp>(op)) {
      stage = begin.getName().str();
      if (auto st = op->getAttrOfType<IntegerAttr>("staleness");
          st && st.getInt() > 0)
        pipelined.insert(stage);
    }
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
    // A train step run model by model: one more point per phase after the
    // first (pointOf names the first).
    if (isa<TrainStepOp>(op)) {
      if (const SmallVector<int64_t> *phases = phasesOf(op, stage))
        for (unsigned k = 1; k < phaseCount(*phases); ++k) {
          loopStart.push_back(start);
          points.push_back(op);
          stageAt.push_back(stage);
        }
      // Offloaded moments (decision 5): one more point, the update.
      if (updatesOffloaded(op, stage)) {
        loopStart.push_back(start);
        points.push_back(op);
        stageAt.push_back(stage);
      }
    }
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
bool Planner::releasable(Operation *op, unsigned p, Value model) {
  Operation *root = rootOf(model);
  if (!root || trainedBy[releaseAfter(p)].count(root))
    return false;
  op->setAttr("release_activations", UnitAttr::get(op->getContext()));
  // No backward follows the read: its layers need no buffers of their own,
  // so all of them share one working set (Transformer::setRecomputeLayers;
  // with no backward nothing is recomputed, and the forward runs the same
  // kernels on the same inputs: bit-identical results).
  const int64_t layers = cast<ModelType>(model.getType()).getArch().getLayers();
  if (layers >= 2 && recomputeOf(op, model) < layers)
    setRecompute(op, model, layers);
  return true;
}

void Planner::size(PipelineOp pipeline) {
  unsigned end = points.size() - 1;
  trainedBy.clear();
  for (unsigned p = 0; p <= end; ++p)
    if (auto train = dyn_cast<TrainStepOp>(points[p]))
      for (Value model : train.getModels())
        if (Operation *root = rootOf(model))
          trainedBy[releaseAfter(p)].insert(root);
  // A buffer held from the job's start to its end.
  auto wholeJob = [&](std::string name, Kind kind, int64_t bytes) {
    Buffer b;
    b.name = std::move(name);
    b.kind = kind;
    b.bytes = bytes;
    b.first = 0;
    b.last = end;
    b.stage = stageAt[0];
    buffers.push_back(b);
  };
  {
    // The runtime's own threads, library buffers and host-side heap: a
    // row for the whole job (memsize::runtimeBytes) at the spec's thread
    // count, 1 when unset (a job running more threads adds the difference:
    // hone_rt_begin).
    int64_t threads = 1;
    if (auto run = pipeline.getRunAttr())
      threads = std::max<int64_t>(1, run.getHardware().getThreads());
    wholeJob("runtime", Kind::Runtime, ::hone::memsize::runtimeBytes(threads));
  }
  // Each dataset's records as the job's loader holds them, for the whole
  // job (the frontend counted the files with the runtime's own code,
  // runtime/data/HeldBytes.h; the job checks what it loaded against it).
  pipeline.walk([&](DatasetOp d) {
    auto held = d->getAttrOfType<IntegerAttr>("hone.held_bytes");
    if (!held || held.getInt() <= 0)
      return;
    auto name = d->getAttrOfType<StringAttr>("name");
    std::string row = "dataset." + (name ? name.str() : std::string("?"));
    wholeJob(row, Kind::Runtime, held.getInt());
    // Two working copies of its longest record (the line being parsed and
    // the example; the rendered conversation and its tokens), whenever a
    // batch is built (docs/formats.md "Long records").
    if (auto record = d->getAttrOfType<IntegerAttr>("hone.record_bytes"))
      if (record.getInt() > 0)
        wholeJob(row + ".record", Kind::Runtime, 2 * record.getInt());
  });
  if (auto arena = pipeline->getAttrOfType<IntegerAttr>("hone.arena_bytes"))
    if (arena.getInt() > 0)
      wholeJob("step_tensors", Kind::StepTensors, arena.getInt());
  // The point of the stage begin whose stage is open at p (none between
  // stages).
  std::optional<unsigned> stageBegin;
  for (unsigned p = 0; p <= end; ++p) {
    Operation *op = points[p];
    if (pointOf.lookup(op) != p)
      continue; // a later phase's point of a train step
    if (isa<ExecStageBeginOp>(op))
      stageBegin = p;
    else if (isa<ExecStageEndOp>(op))
      stageBegin.reset();
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
        // The runtime places it when it creates the model (the op's
        // `arena` placement: runtime/job/JobArena.h).
        b.root = op;
        b.sources.push_back({op, 0, 0, bytes});
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
      // Members of other lengths run concatenated on the longest
      // (groupCols; runtime/ops/TrainStep.cpp, ReadGroup).
      SmallVector<int64_t> groupRows(tokenList.size(), 0),
          groupCols(tokenList.size(), 0);
      for (auto [i, tokens] : llvm::enumerate(tokenList)) {
        size_t lead = fused && i < fused->size() && (*fused)[i] >= 0 &&
                              size_t((*fused)[i]) < tokenList.size()
                          ? size_t((*fused)[i])
                          : i;
        int64_t rows = rowsOf(tokens) / updates;
        groupRows[lead] += (rows + mini - 1) / mini;
        groupCols[lead] = std::max(groupCols[lead], colsOf(tokens));
      }
      // hone-pack-sequences' packed[i]: k >= 0, read i runs packed to
      // input k's mask; -2, to its rows' last tokens; -1 padded.
      auto packedAttr = op->getAttrOfType<DenseI64ArrayAttr>("packed");
      auto packedRead = [&](size_t i) -> std::optional<std::pair<Value, Value>> {
        if (!packedAttr || int64_t(i) >= packedAttr.size())
          return std::nullopt;
        int64_t k = packedAttr[i];
        if (k == -2)
          return std::make_pair(Value(tokenList[i]), Value());
        if (k < 0 || k >= int64_t(train.getInputs().size()))
          return std::nullopt;
        // Packed to several masks (packed_also): bounded by its rows'
        // last tokens, as a reward read.
        if (auto also = op->getAttrOfType<DenseI64ArrayAttr>("packed_also"))
          for (int64_t p = 0; p + 1 < also.size(); p += 2)
            if (also[p] == int64_t(i))
              return std::make_pair(Value(tokenList[i]), Value());
        return std::make_pair(Value(tokenList[i]), train.getInputs()[k]);
      };
      for (auto [i, tokens] : llvm::enumerate(tokenList)) {
        if (i >= readers.size())
          break;
        if (groupRows[i] == 0)
          continue; // computed by an earlier read's forward
        // A group runs packed when every member does (runtime/ops/
        // TrainStep.cpp): then its dataset rows bound its tokens.
        SmallVector<std::pair<Value, Value>> reads;
        bool allPacked = true;
        // Members of other types (CHORD's rollouts and demonstrations):
        // the stream holds each member's tokens, so the sum of the
        // members' bounds (their dataset rows', else their padded rows')
        // bounds the group.
        bool mixed = false;
        std::pair<int64_t, int64_t> summed{0, 0};
        for (size_t j = 0; j < tokenList.size(); ++j) {
          size_t lead = fused && j < fused->size() && (*fused)[j] >= 0 &&
                                size_t((*fused)[j]) < tokenList.size()
                            ? size_t((*fused)[j])
                            : j;
          if (lead != i)
            continue;
          auto r = packedRead(j);
          allPacked = allPacked && r.has_value();
          mixed |= tokenList[j].getType() != tokenList[i].getType();
          if (!r)
            continue;
          reads.push_back(*r);
          int64_t rows = (rowsOf(tokenList[j]) / updates + mini - 1) / mini;
          int64_t cols = colsOf(tokenList[j]);
          auto own = packedBound({*r}, rows);
          summed.first += own ? own->first : rows * cols;
          summed.second += own ? own->second : rows * cols * cols;
        }
        std::optional<std::pair<int64_t, int64_t>> bound;
        if (allPacked)
          bound = mixed ? std::optional(summed)
                        : packedBound(reads, groupRows[i]);
        Value model = train.getModels()[readers[i]];
        // Run model by model: the read's forward at its model's phase.
        unsigned at = p;
        if (const SmallVector<int64_t> *phases = phasesOf(op, stageAt[p]))
          at += unsigned((*phases)[readers[i]]);
        forward(op, at, model, groupRows[i], groupCols[i], false, bound);
      }
      for (Value model : train.getModels())
        if (Operation *root = rootOf(model)) {
          ::hone::ModelConfig c = configOf(cast<ModelType>(model.getType()));
          ::hone::memsize::LoraShape lora = loraShapeOf(root);
          // The runtime creates the moments when the stage begins
          // (hone_rt_stage_begin): live from there, placed there too.
          auto moments = [&](int64_t bytes) {
            // Offloaded (decision 5): in memory for this step's updates
            // alone, read back from the host tier before and written to it
            // after; page-aligned for the runtime's direct I/O.
            if (offloaded.count({root, stageAt[p]})) {
              const int64_t paged =
                  (bytes + kOffloadAlign - 1) / kOffloadAlign * kOffloadAlign;
              atPoint(root, Kind::Optimizer, "optimizer", updatePoint(op, p),
                      paged, c, lora, 0, 0, op)
                  .align = kOffloadAlign;
              return;
            }
            Buffer &b = buffers[perStage(root, Kind::Optimizer, p, bytes, 0,
                                         0)];
            if (stageBegin) {
              b.first = std::min(b.first, *stageBegin);
              if (!llvm::any_of(b.sources, [&](const Source &s) {
                    return s.op == points[*stageBegin];
                  }))
                b.sources.push_back({points[*stageBegin], 0, 0, bytes});
            }
          };
          if (lora.any()) {
            moments(::hone::memsize::loraOptimizerBytes(c, lora, kElemBytes));
            continue;
          }
          moments(::hone::memsize::optimizerBytes(c, kElemBytes));
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
      SmallVector<std::pair<Value, Value>> reads;
      for (auto [tok, mask] : llvm::zip(lp.getTokens(), lp.getPackMasks()))
        reads.push_back({tok, mask});
      forward(op, p, lp.getModel(), rows, colsOf(lp.getTokens().front()),
              releasable(op, p, lp.getModel()),
              lp.getPackMasks().empty() ? std::nullopt
                                        : packedBound(reads, rows));
    } else if (auto rt = dyn_cast<ReferenceTableOp>(op)) {
      // hone-precompute-reference's pass over the dataset: `rows` pairs
      // (chosen and rejected rows) a forward of max_length tokens, before
      // the stage (a phase of its own: the policy's weights and this
      // forward's activations, no gradients or moments yet). Bound padded;
      // the runtime runs it packed. No backward follows: its activations go
      // after the op (release_activations) and its layers share one working
      // set (recompute_layers = layers), as a frozen read's (releasable),
      // also when the stage then trains the model.
      op->setAttr("release_activations", UnitAttr::get(op->getContext()));
      const int64_t layers =
          cast<ModelType>(rt.getModel().getType()).getArch().getLayers();
      if (layers >= 2 && recomputeOf(op, rt.getModel()) < layers)
        setRecompute(op, rt.getModel(), layers);
      forward(op, p, rt.getModel(), 2 * int64_t(rt.getRows()),
              int64_t(rt.getMaxLength()), /*transient=*/true);
    } else if (auto v = dyn_cast<ValueOp>(op)) {
      int64_t rows = rowsOf(v.getTokens());
      if (std::optional<uint64_t> mb = v.getMicroBatch())
        rows = std::min<int64_t>(rows, int64_t(*mb));
      forward(op, p, v.getModel(), rows, colsOf(v.getTokens()),
              releasable(op, p, v.getModel()),
              v.getPackMask()
                  ? packedBound({{v.getTokens(), v.getPackMask()}}, rows)
                  : std::nullopt);
    } else if (auto gen = dyn_cast<GenerateOp>(op)) {
      // The runtime prefills every sample's copy of its prompt (one row
      // per result row), then decodes the rows.
      // With micro_batch (a generation batch decision), that many rows at a
      // time (runtime/model/Generate.h generateInChunks).
      int64_t promptLen = colsOf(gen.getPrompts());
      Value tokens = gen.getResults().front();
      int64_t rows = rowsOf(tokens);
      if (auto mb = op->getAttrOfType<IntegerAttr>("micro_batch");
          mb && mb.getInt() >= 1)
        rows = std::min<int64_t>(rows, mb.getInt());
      generation(op, p, gen.getPolicy(), rows, promptLen, rows,
                 colsOf(tokens));
    } else if (auto score = dyn_cast<ScoreOp>(op)) {
      // A streamed score (hone-stream-scores) runs its reward models'
      // forwards on a worker while its tokens' hone.generate still
      // decodes: their activations are live from the generate's point.
      unsigned from = p;
      if (op->hasAttr("stream"))
        if (Operation *gen = score->getOperand(1).getDefiningOp())
          if (isa<GenerateOp>(gen) && pointOf.count(gen) &&
              pointOf.lookup(gen) < p &&
              stageAt[pointOf.lookup(gen)] == stageAt[p])
            from = pointOf.lookup(gen);
      scoreWith(op, from, score.getReward(), score->getOperand(1));
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
void Planner::scoreWith(Operation *op, unsigned p, Value reward, Value tokens) {
  Operation *def = reward.getDefiningOp();
  if (auto rm = dyn_cast_or_null<RewardModelOp>(def))
    forward(op, p, rm.getModel(), rowsOf(tokens), colsOf(tokens));
  else if (auto combine = dyn_cast_or_null<RewardCombineOp>(def))
    for (Value in : combine.getInputs())
      scoreWith(op, p, in, tokens);
}
