//===- PlanMemoryLogits.cpp - keep or recompute the LM head's logits ------===//
//
// hone-plan-memory's decision on the LM head's logits (docs/passes.md): a
// train step's forward of an LM-head model may keep its logits (rows x
// vocab, in the model's activations) so that the backward reads them
// instead of running the logits GEMM a second time
// (Transformer::setKeepLogits; results bit-identical), carried to the
// runtime as `keep_logits` on hone.train_step (one entry per model).
//
// Kept by default on the CPU (the CUDA kernels recompute them: not yet).
// With a memory budget set (the pass option or the spec's
// hardware.memory_budget) they are kept wherever the plan fits: over the
// budget, recomputed again where that lowers the peak, before any other
// decision that costs compute. Without one (the machine's physical memory
// is then the budget), only where they are no larger than the rest of that
// forward's activations: at most doubling the buffer they join, so that a
// vocabulary far wider than the model (Qwen3's 151936 beside d_model 512 x
// 8) does not grow a job's memory by surprise.
//
//===----------------------------------------------------------------------===//

#include "passes/PlanMemoryImpl.h"

#include "mlir/IR/Builders.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace mlir::hone;
using namespace mlir::hone::plan_memory;

/// The index of `model` among `step`'s model operands (the first use).
static int64_t modelIndex(TrainStepOp step, Value model) {
  for (auto [i, m] : llvm::enumerate(step.getModels()))
    if (m == model)
      return int64_t(i);
  return -1;
}

void Planner::writeKeepLogits(TrainStepOp step) {
  Builder b(step->getContext());
  SmallVector<int64_t> keep(step.getModels().size(), 0);
  for (size_t i = 0; i < keep.size(); ++i) {
    auto it = logitsChoice.find({step.getOperation(), int64_t(i)});
    keep[i] = it != logitsChoice.end() && it->second.keep ? 1 : 0;
  }
  if (llvm::all_of(keep, [](int64_t k) { return k == 0; }))
    step->removeAttr("keep_logits");
  else
    step->setAttr("keep_logits", b.getDenseI64ArrayAttr(keep));
}

bool Planner::keepsLogits(Operation *op, Value model, int64_t logitBytes,
                          int64_t otherBytes) {
  auto step = dyn_cast<TrainStepOp>(op);
  const int64_t i = step ? modelIndex(step, model) : -1;
  if (i < 0 || logitBytes <= 0)
    return false;
  auto [it, fresh] = logitsChoice.try_emplace({op, i});
  LogitsChoice &ch = it->second;
  if (fresh) {
    ch.keep = keepLogitsDefault && (!logitsCapped || logitBytes <= otherBytes);
    ch.capped = keepLogitsDefault && !ch.keep;
  }
  ch.bytes = std::max(ch.bytes, logitBytes);
  ch.other = std::max(ch.other, otherBytes);
  writeKeepLogits(step);
  return ch.keep;
}

std::string Planner::logitsDecision(PipelineOp pipeline, Figures &fig,
                                    int64_t budget) {
  // Activation buffers live at the peak with a source that keeps logits:
  // their train steps' models recompute them instead, largest first; the
  // first that lowers the peak is taken, else all of them together (a tie).
  const llvm::BitVector atPeak = peakPoints(fig);
  struct Candidate {
    std::string name;
    int64_t bytes;
    SmallVector<std::pair<Operation *, int64_t>> keys;
  };
  std::vector<Candidate> cands;
  for (const Buffer &b : buffers) {
    if (b.kind != Kind::Activations || !liveAt(b, atPeak))
      continue;
    Candidate c{b.name, 0, {}};
    for (const Source &s : b.sources)
      if (s.keepLogits) {
        auto step = dyn_cast<TrainStepOp>(s.op);
        int64_t i = step ? modelIndex(step, s.model) : -1;
        if (i >= 0 && !llvm::is_contained(c.keys, std::make_pair(s.op, i))) {
          c.keys.push_back({s.op, i});
          c.bytes = std::max(c.bytes, logitsChoice[{s.op, i}].bytes);
        }
      }
    if (!c.keys.empty())
      cands.push_back(std::move(c));
  }
  llvm::stable_sort(cands, [](const Candidate &a, const Candidate &b) {
    return a.bytes > b.bytes;
  });
  auto set = [&](ArrayRef<std::pair<Operation *, int64_t>> keys, bool keep) {
    for (auto key : keys) {
      logitsChoice[key].keep = keep;
      logitsChoice[key].budget = !keep;
      writeKeepLogits(cast<TrainStepOp>(key.first));
    }
  };
  auto describe = [&](const std::string &names, int64_t saved, int64_t from,
                      int64_t to) {
    return llvm::formatv("{0}: the LM head's logits recomputed in backward "
                         "instead of kept (hone.train_step keep_logits 0: "
                         "one more logits GEMM per backward, results "
                         "bit-identical), saving {1}: peak {2} -> {3} "
                         "(budget {4})",
                         names, humanBytes(saved), humanBytes(from),
                         humanBytes(to), humanBytes(budget))
        .str();
  };
  for (const Candidate &c : cands) {
    set(c.keys, false);
    Figures next = plan(pipeline);
    if (next.planned < fig.planned) {
      std::string text = describe(c.name, c.bytes, fig.planned, next.planned);
      fig = next;
      return text;
    }
    set(c.keys, true);
    fig = plan(pipeline);
  }
  if (cands.size() < 2)
    return "";
  std::string names;
  int64_t saved = 0;
  for (const Candidate &c : cands) {
    set(c.keys, false);
    names += (names.empty() ? "" : ", ") + c.name;
    saved += c.bytes;
  }
  Figures next = plan(pipeline);
  if (next.planned >= fig.planned) {
    for (const Candidate &c : cands)
      set(c.keys, true);
    fig = plan(pipeline);
    return "";
  }
  std::string text = describe(names + " (together: the peak ties)", saved,
                              fig.planned, next.planned);
  fig = next;
  return text;
}

SmallVector<std::string> Planner::logitsLines() {
  SmallVector<std::string> lines;
  llvm::SmallPtrSet<Operation *, 8> seen; // a step run model by model has
                                          // a point per phase
  for (unsigned p = 0; p < points.size(); ++p) {
    auto step = dyn_cast<TrainStepOp>(points[p]);
    if (!step || !seen.insert(step).second)
      continue;
    for (auto [i, model] : llvm::enumerate(step.getModels())) {
      auto it = logitsChoice.find({step.getOperation(), int64_t(i)});
      if (it == logitsChoice.end())
        continue;
      const LogitsChoice &ch = it->second;
      Operation *root = rootOf(model);
      std::string where = "stage '" + stageAt[p] + "' hone.train_step: " +
                          (root ? modelName(root) : std::string("model"));
      if (ch.keep)
        lines.push_back(llvm::formatv("{0} keeps its LM head's logits for "
                                      "backward ({1} in its activations, "
                                      "beside {2} of others; keep_logits "
                                      "1: one logits GEMM fewer per "
                                      "backward)",
                                      where, humanBytes(ch.bytes),
                                      humanBytes(ch.other))
                            .str());
      else
        lines.push_back(
            llvm::formatv("{0} recomputes its LM head's logits in backward "
                          "({1} not kept: {2})",
                          where, humanBytes(ch.bytes),
                          ch.budget   ? std::string("over the memory budget")
                          : ch.capped ? "larger than its other activations, " +
                                            humanBytes(ch.other) +
                                            ", and no memory budget set"
                                      : logitsOnCuda
                                          ? std::string("the CUDA kernels "
                                                        "recompute them")
                                          : std::string("keep-logits=false"))
                .str());
    }
  }
  return lines;
}
