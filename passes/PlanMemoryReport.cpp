//===- PlanMemoryReport.cpp - hone-plan-memory: over the budget -----------===//
//
// Which activation buffers the runtime can shrink by micro-batching, and the
// error (with a hint) when the plan stays over the budget. Shared
// declarations: PlanMemoryImpl.h.
//
//===----------------------------------------------------------------------===//

#include "passes/PlanMemoryImpl.h"

#include "llvm/ADT/MapVector.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace mlir::hone;
using namespace mlir::hone::plan_memory;

/// Whether the runtime can run the forward of `op` over fewer rows at a
/// time: a train step (mini_batches), hone.logprob and hone.value
/// (micro_batch), a hone.reference_table of 2 pairs a forward or more
/// (rows).
bool Planner::microBatchable(Operation *op) {
  if (auto table = dyn_cast_or_null<ReferenceTableOp>(op))
    return table.getRows() >= 2;
  return isa_and_nonnull<TrainStepOp, LogprobOp, ValueOp>(op);
}

/// The uses that size activation buffer `b` (its largest forwards), or
/// none when one of them cannot be micro-batched: halving only some of
/// them would leave the buffer as large as before.
SmallVector<Source> Planner::largestUses(const Buffer &b) {
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

void Planner::reportOverBudget(Operation *peakOp, unsigned peakPoint,
                               int64_t planned, int64_t budget,
                               const std::string &source) {
  // What is live at the peak, by kind.
  int64_t byKind[kKinds] = {0};
  for (const Buffer &buf : buffers)
    if (buf.first <= peakPoint && peakPoint <= buf.last)
      byKind[int(buf.kind)] += buf.bytes;
  std::string parts;
  for (int k = 0; k < kKinds; ++k)
    if (byKind[k])
      parts += std::string(parts.empty() ? "" : ", ") + kKindNames[k] + " " +
               humanBytes(byKind[k]);
  InFlightDiagnostic diag = peakOp->emitError()
                            << "hone-plan-memory: the job needs "
                            << humanBytes(planned)
                            << " at its peak, over the memory budget of "
                            << humanBytes(budget) << " (" << source
                            << "); the peak is in stage '" << stageAt[peakPoint]
                            << "' at " << peakOp->getName() << ": " << parts;
  // What would make it fit: halving the batch of the live activations
  // (micro-batches, gradient accumulation keeping the global batch) and
  // of the live KV caches (generation batch), each saving, in that order.
  std::string hint;
  int64_t saved = 0;
  struct Generation {
    int64_t rows = 0, saves = 0;
    std::string names;
  };
  llvm::MapVector<Operation *, Generation> generations;
  // Recomputing every layer of a live activation buffer (when the rounds
  // of decisions ran out before it did).
  for (const Buffer &buf : buffers) {
    if (!(buf.first <= peakPoint && peakPoint <= buf.last) ||
        !recomputable(buf))
      continue;
    int64_t smaller = 0;
    for (const Source &s : buf.sources)
      smaller = std::max(smaller, s.allRecomputed);
    if (smaller >= buf.bytes)
      continue;
    saved += buf.bytes - smaller;
    hint += llvm::formatv("{0}recompute {1} layers ({2}) saves {3}",
                          hint.empty() ? "" : "; ", buf.cfg.nLayers, buf.name,
                          humanBytes(buf.bytes - smaller))
                .str();
  }
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
        smaller = std::max(smaller, s.bytes < buf.bytes
                                        ? s.bytes
                                        : ::hone::memsize::activationBytes(
                                              buf.cfg, (s.rows + 1) / 2,
                                              s.seqLen, kElemBytes, &buf.lora,
                                              nullptr, s.recompute));
    } else if (buf.kind == Kind::KvCache || buf.kind == Kind::Workspace) {
      // A hone.generate's KV cache, decode workspace and logits, sized at
      // the rows it generates at once: its generation batch (micro_batch),
      // one hint for the three.
      GenerateOp gen;
      for (const Source &s : buf.sources)
        if (s.bytes == buf.bytes)
          gen = dyn_cast_or_null<GenerateOp>(s.op);
      if (!gen)
        continue;
      int64_t less =
          buf.bytes -
          (buf.kind == Kind::KvCache
               ? ::hone::memsize::kvCacheBytes(buf.cfg, half, buf.seqLen,
                                               kElemBytes)
           : buf.logits
               ? ::hone::memsize::generateTransientBytes(buf.cfg, half,
                                                         kElemBytes)
               : ::hone::memsize::decodeWorkspaceBytes(
                     buf.cfg, half,
                     cast<RankedTensorType>(gen.getPrompts().getType())
                         .getDimSize(1),
                     half,
                     kElemBytes, &buf.lora));
      if (less <= 0)
        continue;
      auto &g = generations[gen.getOperation()];
      g.rows = buf.rows;
      g.saves += less;
      g.names += (g.names.empty() ? "" : ", ") + buf.name;
      continue;
    } else
      continue;
    if (smaller >= buf.bytes)
      continue;
    saved += buf.bytes - smaller;
    hint +=
        llvm::formatv(
            "{0}{1} {2} -> {3} ({4}) saves {5}", hint.empty() ? "" : "; ",
            buf.kind == Kind::Activations ? "micro-batch" : "generation batch",
            buf.rows, half, buf.name, humanBytes(buf.bytes - smaller))
            .str();
  }
  for (auto &[op, g] : generations) {
    saved += g.saves;
    hint += llvm::formatv("{0}generation batch {1} -> {2} ({3}) saves {4}",
                          hint.empty() ? "" : "; ", g.rows, (g.rows + 1) / 2,
                          g.names, humanBytes(g.saves))
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
