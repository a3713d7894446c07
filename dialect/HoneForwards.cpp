//===- HoneForwards.cpp - forwards and backwards of step IR ---------------===//

#include "dialect/HoneForwards.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cmath>

using namespace mlir;
using namespace mlir::hone;

namespace {
/// Rows and length of a rank-2 token batch; {0, 0} otherwise.
std::pair<int64_t, int64_t> tokenShape(Value tokens) {
  auto t = dyn_cast<RankedTensorType>(tokens.getType());
  if (!t || t.getRank() != 2 || !t.hasStaticShape())
    return {0, 0};
  return {t.getDimSize(0), t.getDimSize(1)};
}

/// hone-pack-sequences' decision for read `i` of `step` (its `packed`
/// attribute): true where the runtime runs that read padding-free.
bool readPacked(TrainStepOp step, int64_t i) {
  auto packed = step->getAttrOfType<DenseI64ArrayAttr>("packed");
  return packed && i < packed.size() && (packed[i] >= 0 || packed[i] == -2);
}

/// Forward FLOPs of read `i` of `step` over `rows` of its rows run packed:
/// dataset rows (dataRowLengths, to the loss mask the read is packed to)
/// at their mean real length and mean squared length, other rows
/// (rollouts) at their padded length, the bound.
double packedReadFlops(TrainStepOp step, int64_t i, int64_t rows) {
  Value tokens = step.getTokens()[i];
  auto arch =
      cast<ModelType>(step.getModels()[step.getReaders()[i]].getType())
          .getArch();
  auto packed = step->getAttrOfType<DenseI64ArrayAttr>("packed");
  Value mask;
  if (packed && i < packed.size() && packed[i] >= 0 &&
      packed[i] < int64_t(step.getInputs().size()))
    mask = step.getInputs()[packed[i]];
  // Packed to several masks (packed_also): its rows' lengths bound it.
  if (auto also = step->getAttrOfType<DenseI64ArrayAttr>("packed_also"))
    for (int64_t p = 0; p + 1 < also.size(); p += 2)
      if (also[p] == i)
        mask = Value();
  if (auto lengths = dataRowLengths(tokens, mask, /*mismatched=*/true))
    return packedForwardFlops(arch, rows, lengths->meanLength(),
                              lengths->meanSquare());
  return forwardFlops(arch, rows, tokenShape(tokens).second);
}
} // namespace

SmallVector<int64_t> mlir::hone::fusableReads(TrainStepOp step) {
  SmallVector<int64_t> leads;
  auto readers = step.getReaders();
  auto reads = step.getReads().getValue();
  auto tokens = step.getTokens();
  int64_t updates = std::max<int64_t>(1, step.getUpdates());
  int64_t mini = std::max<int64_t>(1, step.getMiniBatches());
  // Per leading read: its group's rows and longest length, whether every
  // member runs packed (hone-pack-sequences' `packed`) and the group's
  // packed forward FLOPs, and what its members' forwards cost run apart
  // (each recomputed before its backward, as a model read more than once
  // per optimiser step is), each packed or padded as it will run.
  llvm::SmallDenseMap<int64_t, std::pair<int64_t, int64_t>> shape;
  llvm::SmallDenseMap<int64_t, bool> allPacked;
  llvm::SmallDenseMap<int64_t, double> packedSum, apart;
  auto archOfRead = [&](int64_t i) {
    return cast<ModelType>(step.getModels()[readers[i]].getType()).getArch();
  };
  for (int64_t i = 0, e = int64_t(tokens.size()); i < e; ++i) {
    int64_t lead = i;
    auto [rows, len] = tokenShape(tokens[i]);
    bool packed = readPacked(step, i);
    double packedCost =
        rows ? packedReadFlops(step, i, rows / updates) : 0.0;
    double aloneCost = packed ? packedCost
                              : (rows ? forwardFlops(archOfRead(i),
                                                     rows / updates, len)
                                      : 0.0);
    for (int64_t k = 0; k < i; ++k) {
      if (leads[k] != k || readers[k] != readers[i] || reads[k] != reads[i])
        continue;
      if (tokens[k].getType() == tokens[i].getType()) {
        lead = k;
        break;
      }
      // Other rows or lengths (CHORD, SRFT, HPT: rollouts and
      // demonstrations). Joined where that forward and its one backward
      // (3 forward-equivalents; 4 when micro-batched) cost no more than
      // separate ones (4 each), each counted as it will run: where every
      // member is packed, one stream of all their real tokens (the sum of
      // their packed FLOPs); otherwise padded, concatenated on the longer
      // length (each row padded past its own).
      auto [groupRows, groupLen] = shape[k];
      if (rows == 0 || groupRows == 0 ||
          cast<RankedTensorType>(tokens[k].getType()).getElementType() !=
              cast<RankedTensorType>(tokens[i].getType()).getElementType())
        continue;
      double factor = mini > 1 ? 4.0 : 3.0;
      double together =
          allPacked[k] && packed
              ? factor * (packedSum[k] + packedCost)
              : factor * forwardFlops(archOfRead(i),
                                      (groupRows + rows) / updates,
                                      std::max(groupLen, len));
      if (together <= apart[k] + 4.0 * aloneCost) {
        lead = k;
        break;
      }
    }
    leads.push_back(lead);
    if (rows == 0)
      continue;
    auto &[groupRows, groupLen] = shape[lead];
    groupRows += rows;
    groupLen = std::max(groupLen, len);
    auto [it, fresh] = allPacked.try_emplace(lead, true);
    it->second = it->second && packed;
    packedSum[lead] += packedCost;
    apart[lead] += 4.0 * aloneCost;
  }
  return leads;
}

std::pair<double, double>
mlir::hone::readGroupFlops(TrainStepOp step, ArrayRef<int64_t> members) {
  int64_t updates = std::max<int64_t>(1, step.getUpdates());
  auto tokens = step.getTokens();
  double packedSum = 0, apart = 0;
  int64_t groupRows = 0, groupLen = 0;
  bool allPacked = true;
  ArchAttr arch;
  for (int64_t i : members) {
    auto [rows, len] = tokenShape(tokens[i]);
    if (rows == 0)
      continue;
    arch = cast<ModelType>(step.getModels()[step.getReaders()[i]].getType())
               .getArch();
    bool packed = readPacked(step, i);
    double packedCost = packedReadFlops(step, i, rows / updates);
    packedSum += packedCost;
    apart += packed ? packedCost : forwardFlops(arch, rows / updates, len);
    allPacked = allPacked && packed;
    groupRows += rows;
    groupLen = std::max(groupLen, len);
  }
  if (!arch)
    return {0.0, 0.0};
  double together =
      allPacked ? packedSum : forwardFlops(arch, groupRows / updates, groupLen);
  return {together, apart};
}

SmallVector<int64_t> mlir::hone::keptForwards(TrainStepOp step) {
  auto tokens = step.getTokens();
  SmallVector<int64_t> kept(tokens.size(), -1);
  if (step.getUpdates() != 1 || step.getMiniBatches() != 1)
    return kept;
  auto readers = step.getReaders();
  auto reads = step.getReads().getValue();
  for (int64_t i = 0, e = int64_t(tokens.size()); i < e; ++i) {
    if (cast<StringAttr>(reads[i]).getValue() != "value" ||
        llvm::count(readers, readers[i]) != 1)
      continue;
    Value model = step.getModels()[readers[i]];
    for (auto [k, in] : llvm::enumerate(step.getInputs())) {
      auto v = in.getDefiningOp<ValueOp>();
      if (v && !v.getMask() && v.getModel() == model &&
          v.getTokens() == tokens[i] && v->getBlock() == step->getBlock()) {
        kept[i] = int64_t(k);
        break;
      }
    }
  }
  return kept;
}

bool mlir::hone::mergesReads(ArrayRef<int64_t> leads) {
  for (auto [i, lead] : llvm::enumerate(leads))
    if (lead != int64_t(i))
      return true;
  return false;
}

double mlir::hone::forwardFlops(ArchAttr arch, int64_t rows, int64_t seqLen) {
  int64_t headDim = arch.getHeadDim() ? arch.getHeadDim()
                                      : arch.getDModel() / arch.getHeads();
  double perToken = 2.0 * double(arch.getNumParameters()) +
                    4.0 * double(arch.getLayers()) * double(seqLen) *
                        double(arch.getHeads() * headDim);
  return perToken * double(rows) * double(seqLen);
}

double mlir::hone::packedForwardFlops(ArchAttr arch, int64_t rows,
                                      double meanLength, double meanSquare) {
  int64_t headDim = arch.getHeadDim() ? arch.getHeadDim()
                                      : arch.getDModel() / arch.getHeads();
  return double(rows) *
         (2.0 * double(arch.getNumParameters()) * meanLength +
          4.0 * double(arch.getLayers()) * double(arch.getHeads() * headDim) *
              meanSquare);
}

int64_t mlir::hone::RowLengths::rows() const {
  int64_t n = 0;
  for (auto [len, count] : counts)
    n += count;
  return n;
}

double mlir::hone::RowLengths::meanLength() const {
  double sum = 0;
  for (auto [len, count] : counts)
    sum += double(len) * double(count);
  return rows() ? sum / double(rows()) : 0;
}

double mlir::hone::RowLengths::meanSquare() const {
  double sum = 0;
  for (auto [len, count] : counts)
    sum += double(len) * double(len) * double(count);
  return rows() ? sum / double(rows()) : 0;
}

std::pair<int64_t, int64_t>
mlir::hone::RowLengths::mostTokens(int64_t m, int64_t repeats) const {
  SmallVector<std::pair<int64_t, int64_t>> byLength(counts);
  llvm::sort(byLength, [](auto a, auto b) { return a.first > b.first; });
  int64_t tokens = 0, squares = 0;
  for (auto [len, count] : byLength) {
    if (m <= 0)
      break;
    int64_t take = std::min(m, count * std::max<int64_t>(1, repeats));
    tokens += take * len;
    squares += take * len * len;
    m -= take;
  }
  if (m > 0 && !byLength.empty()) { // more rows than that: the longest again
    tokens += m * byLength.front().first;
    squares += m * byLength.front().first * byLength.front().first;
  }
  return {tokens, squares};
}

std::optional<mlir::hone::RowLengths>
mlir::hone::dataRowLengths(Value tokens, Value mask, bool mismatched) {
  auto next = tokens.getDefiningOp<DataNextOp>();
  if (!next)
    return std::nullopt;
  unsigned at = cast<OpResult>(tokens).getResultNumber();
  const char *attr = nullptr;
  if (next.getPart() == DataPart::sequences && at == 0)
    attr = "hone.sequence_lengths";
  else if (next.getPart() == DataPart::pairs && (at == 0 || at == 2))
    attr = "hone.pair_lengths";
  else if (next.getPart() == DataPart::labelled &&
           (at == 0 || (at == 3 && mismatched)))
    attr = "hone.sequence_lengths";
  if (!attr)
    return std::nullopt;
  if (mask && mask.getDefiningOp() != next.getOperation())
    return std::nullopt;
  auto data = next.getData().getDefiningOp<DatasetOp>();
  auto pairs = data ? data->getAttrOfType<DenseI64ArrayAttr>(attr) : nullptr;
  if (!pairs || pairs.size() < 2 || pairs.size() % 2)
    return std::nullopt;
  int64_t T = cast<RankedTensorType>(tokens.getType()).getDimSize(1);
  RowLengths out;
  for (int64_t i = 0; i + 1 < pairs.size(); i += 2) {
    int64_t len = std::min(std::max<int64_t>(pairs[i], 1), T);
    if (pairs[i + 1] > 0)
      out.counts.push_back({len, pairs[i + 1]});
  }
  if (out.counts.empty())
    return std::nullopt;
  return out;
}

std::optional<std::pair<int64_t, int64_t>>
mlir::hone::packedRowsBound(ArrayRef<std::pair<Value, Value>> reads,
                            int64_t rows, int64_t ranks) {
  if (reads.empty())
    return std::nullopt;
  Operation *source = nullptr;
  std::optional<RowLengths> lengths;
  int64_t batch = 0, T = 0;
  for (auto [tokens, mask] : reads) {
    auto next = tokens.getDefiningOp<DataNextOp>();
    std::optional<RowLengths> l = dataRowLengths(tokens, mask);
    if (!next || !l || (source && source != next.getOperation()))
      return std::nullopt;
    source = next;
    lengths = l;
    auto t = cast<RankedTensorType>(tokens.getType());
    batch = t.getDimSize(0);
    T = std::max<int64_t>(T, t.getDimSize(1));
  }
  auto next = cast<DataNextOp>(source);
  auto data = next.getData().getDefiningOp<DatasetOp>();
  // Records of the training split: the file's rows (a pair holds two),
  // cut to max_records, less the eval_fraction split (as the job splits).
  int64_t records = lengths->rows();
  if (next.getPart() == DataPart::pairs)
    records /= 2;
  if (auto settings = data.getSettingsAttr()) {
    if (settings.getMaxRecords() > 0)
      records = std::min<int64_t>(records, settings.getMaxRecords());
    records -= int64_t(
        std::floor(double(records) * settings.getEvalFraction().convertToDouble()));
  }
  if (records <= 0)
    return std::nullopt;
  int64_t repeats =
      (batch * std::max<int64_t>(1, ranks) + records - 1) / records + 1;
  auto [tokens, squares] = lengths->mostTokens(rows, repeats);
  // Never above the padded batch (rows x T: no row is longer).
  return std::make_pair(std::min(tokens, rows * T),
                        std::min(squares, rows * T * T));
}

namespace {
std::pair<int64_t, int64_t> rowsAndLength(Value tokens) {
  auto t = cast<RankedTensorType>(tokens.getType());
  return {t.getDimSize(0), t.getRank() > 1 ? t.getDimSize(1) : 1};
}

ArchAttr archOf(Value model) {
  return cast<ModelType>(model.getType()).getArch();
}
} // namespace

SmallVector<ModelWork> mlir::hone::countModelWork(Region &iteration,
                                                  bool honourFusion) {
  SmallVector<ModelWork> work;
  auto at = [&](StringRef name) -> ModelWork & {
    for (ModelWork &w : work)
      if (w.model == name)
        return w;
    work.push_back({name.empty() ? "?" : name.str()});
    return work.back();
  };
  auto nameOf = [](Operation *op, unsigned i) {
    SmallVector<StringRef> names = modelNamesOf(op);
    return i < names.size() && !names[i].empty() ? names[i] : StringRef("?");
  };
  // A read's forward FLOPs: padded, or packed over dataset rows' mean
  // lengths (dataRowLengths; other rows: padded, the bound).
  auto flopsOf = [](Value model, Value tokens, Value mask, bool packed) {
    auto [rows, len] = rowsAndLength(tokens);
    if (packed)
      if (auto lengths = dataRowLengths(tokens, mask, /*mismatched=*/true))
        return packedForwardFlops(archOf(model), rows, lengths->meanLength(),
                                  lengths->meanSquare());
    return forwardFlops(archOf(model), rows, len);
  };
  iteration.walk([&](Operation *op) {
    if (auto gen = dyn_cast<GenerateOp>(op)) {
      auto [rows, len] = rowsAndLength(gen->getResult(0));
      ModelWork &w = at(nameOf(op, 0));
      w.generates += 1;
      w.rolloutBound = true;
      w.generatedTokens += rows * len;
      // Decoding with a KV cache does the work of one forward over the
      // generated rows.
      w.flops += forwardFlops(archOf(gen.getPolicy()), rows, len);
    } else if (auto lp = dyn_cast<LogprobOp>(op)) {
      // Several batches: one forward over their rows (fused by
      // hone-fuse-forwards), one per batch unfused.
      ModelWork &w = at(nameOf(op, 0));
      w.forwards += honourFusion ? 1 : int64_t(lp.getTokens().size());
      bool packed = honourFusion && !lp.getPackMasks().empty();
      for (auto [i, tok] : llvm::enumerate(lp.getTokens())) {
        w.flops += flopsOf(lp.getModel(), tok,
                           packed ? lp.getPackMasks()[i] : Value(), packed);
        w.rolloutBound |= bool(producingGenerate(tok));
      }
    } else if (auto rows = dyn_cast<ReferenceRowsOp>(op)) {
      // hone-precompute-reference: before, the reference's reads of the
      // batch's chosen and rejected rows (2 forwards, padded); as compiled,
      // none in the iteration (the table's one pass over the records runs
      // before the stage: referenceTableFlops, a line of its own in honec
      // --report).
      auto table = rows.getTable().getDefiningOp<ReferenceTableOp>();
      auto data = rows.getIds().getDefiningOp<DataNextOp>();
      if (!table || !data || data->getNumResults() != 5 || honourFusion)
        return;
      ModelWork &w = at(nameOf(table, 0));
      w.forwards += 2;
      auto [b, len] = rowsAndLength(data.getResult(0));
      w.flops += 2 * forwardFlops(archOf(table.getModel()), b, len);
    } else if (auto v = dyn_cast<ValueOp>(op)) {
      ModelWork &w = at(nameOf(op, 0));
      w.forwards += 1;
      bool packed = honourFusion && v.getPackMask();
      w.flops += flopsOf(v.getModel(), v.getTokens(), v.getPackMask(), packed);
      w.rolloutBound |= bool(producingGenerate(v.getTokens()));
    } else if (auto step = dyn_cast<TrainStepOp>(op)) {
      int64_t n = int64_t(step.getTokens().size());
      SmallVector<int64_t> leads;
      if (auto fused = step.getFusedReads(); fused && honourFusion)
        leads.assign(fused->begin(), fused->end());
      else
        for (int64_t i = 0; i < n; ++i)
          leads.push_back(i);
      int64_t updates = std::max<int64_t>(1, step.getUpdates());
      int64_t mini = std::max<int64_t>(1, step.getMiniBatches());
      int64_t passes = std::max<int64_t>(1, step.getEpochs()) * updates;
      // Per model: forwards per optimiser step, decides recomputation.
      llvm::SmallDenseMap<int64_t, int64_t> perStep;
      auto microBatches = [&](int64_t i) {
        int64_t rows = rowsAndLength(step.getTokens()[i]).first / updates;
        int64_t mb = (rows + mini - 1) / mini;
        return (rows + mb - 1) / mb;
      };
      // A group's micro-batches: the most any member needs.
      llvm::SmallDenseMap<int64_t, int64_t> chunks;
      for (int64_t i = 0; i < n; ++i)
        chunks[leads[i]] = std::max(chunks[leads[i]], microBatches(i));
      for (int64_t i = 0; i < n; ++i)
        if (leads[i] == i)
          perStep[step.getReaders()[i]] += chunks[i];
      // packed[i]: k >= 0 packed to input k's mask, -2 to the last token.
      auto packedAttr = step->getAttrOfType<DenseI64ArrayAttr>("packed");
      auto packedAt = [&](int64_t i) {
        return honourFusion && packedAttr && i < packedAttr.size()
                   ? packedAttr[i]
                   : -1;
      };
      // A group runs packed when every member does; otherwise padded on
      // its longest member's length (runtime/ops/TrainStep.cpp).
      llvm::SmallDenseMap<int64_t, int64_t> groupWidth;
      llvm::SmallDenseMap<int64_t, bool> groupPacked;
      for (int64_t i = 0; i < n; ++i) {
        int64_t &w = groupWidth[leads[i]];
        w = std::max(w, rowsAndLength(step.getTokens()[i]).second);
        int64_t k = packedAt(i);
        auto [it, fresh] = groupPacked.try_emplace(leads[i], true);
        it->second = it->second && (k >= 0 || k == -2);
      }
      for (int64_t i = 0; i < n; ++i) {
        int64_t reader = step.getReaders()[i];
        ModelWork &w = at(nameOf(op, unsigned(reader)));
        int64_t k = packedAt(i);
        Value mask = k >= 0 && k < int64_t(step.getInputs().size())
                         ? step.getInputs()[k]
                         : Value();
        // Packed to several masks (packed_also): its rows' lengths bound it.
        if (auto also = step->getAttrOfType<DenseI64ArrayAttr>("packed_also"))
          for (int64_t p = 0; p + 1 < also.size(); p += 2)
            if (also[p] == i)
              mask = Value();
        double f = flopsOf(step.getModels()[reader], step.getTokens()[i], mask,
                           k >= 0 || k == -2);
        // Padded in a group of a longer member: its rows at that length.
        if (!groupPacked[leads[i]] &&
            groupWidth[leads[i]] > rowsAndLength(step.getTokens()[i]).second)
          f = forwardFlops(archOf(step.getModels()[reader]),
                           rowsAndLength(step.getTokens()[i]).first,
                           groupWidth[leads[i]]);
        w.rolloutBound |= bool(producingGenerate(step.getTokens()[i]));
        bool recompute = perStep[reader] > 1;
        // FLOPs follow the rows, whoever leads them.
        // hone-plan-memory's recompute_layers R of L (under a budget):
        // each backward re-runs R - 1 layers' forwards.
        double rerun = 0;
        if (auto r = step->getAttrOfType<DenseI64ArrayAttr>("recompute_layers");
            r && honourFusion && reader < r.size() && r[reader] >= 2)
          rerun = double(r[reader] - 1) /
                  double(archOf(step.getModels()[reader]).getLayers());
        w.flops += double(std::max<int64_t>(1, step.getEpochs())) * f *
                   ((recompute ? 4.0 : 3.0) + rerun);
        if (leads[i] != i)
          continue;
        int64_t count = passes * chunks[i];
        w.forwards += count * (recompute ? 2 : 1);
        w.backwards += count;
        // The first pass's forward is a hone.value's, counted there.
        if (auto kept = step.getKeptForwards(); kept && honourFusion &&
                                                size_t(i) < kept->size() &&
                                                (*kept)[i] >= 0) {
          w.forwards -= 1;
          w.flops -= f;
        }
      }
    }
  });
  return work;
}

namespace {
/// "dpo" from the stage loop's NameLoc, else "stage<N>".
std::string stageLabel(Location loc, unsigned index) {
  std::string name;
  loc->walk([&](Location l) {
    if (auto named = dyn_cast<NameLoc>(l)) {
      name = named.getName().str();
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  return name.empty() ? "stage" + std::to_string(index) : name;
}
} // namespace

SmallVector<StageWork> mlir::hone::collectStageWork(PipelineOp pipeline) {
  SmallVector<StageWork> stages;
  unsigned index = 0;
  for (Operation &op : pipeline.getBody().front()) {
    if (op.getNumRegions() != 1 || op.getRegion(0).empty())
      continue;
    Region &body = op.getRegion(0);
    StageWork s;
    s.before = countModelWork(body, false);
    s.after = countModelWork(body, true);
    if (s.after.empty())
      continue;
    s.stage = stageLabel(op.getLoc(), index++);
    stages.push_back(std::move(s));
  }
  return stages;
}

void mlir::hone::printWorkReport(PipelineOp pipeline, llvm::raw_ostream &os) {
  for (const StageWork &s : collectStageWork(pipeline)) {
    os << "stage " << s.stage << ", per iteration:\n";
    for (auto [b, a] : llvm::zip(s.before, s.after)) {
      os << "  " << a.model << ": forwards " << b.forwards << " -> "
         << a.forwards << ", backwards " << b.backwards << " -> "
         << a.backwards;
      if (a.generates)
        os << ", generate " << a.generates << " (" << a.generatedTokens
           << " tokens)";
      os << llvm::format(", GFLOP %.4g -> %.4g", b.flops * 1e-9,
                         a.flops * 1e-9);
      if (a.flops > 0 && b.flops != a.flops)
        os << llvm::format(" (%.2fx)", b.flops / a.flops);
      if (a.rolloutBound)
        os << "; generated rows at max_new_tokens: a bound (the job's "
              "report.html measures them)";
      os << "\n";
    }
  }
}

std::string mlir::hone::workReportJson(PipelineOp pipeline) {
  std::string out;
  llvm::raw_string_ostream os(out);
  auto str = [&](StringRef text) {
    os << '"';
    for (char c : text) {
      if (c == '"' || c == '\\')
        os << '\\' << c;
      else if (static_cast<unsigned char>(c) < 0x20)
        os << llvm::format("\\u%04x", unsigned(c));
      else
        os << c;
    }
    os << '"';
  };
  os << '[';
  bool first = true;
  for (const StageWork &s : collectStageWork(pipeline))
    for (auto [b, a] : llvm::zip(s.before, s.after)) {
      os << (first ? "" : ",") << "{\"stage\":";
      first = false;
      str(s.stage);
      os << ",\"model\":";
      str(a.model);
      os << ",\"forwards\":[" << b.forwards << ',' << a.forwards
         << "],\"backwards\":[" << b.backwards << ',' << a.backwards
         << "],\"generates\":" << a.generates
         << ",\"generated_tokens\":" << a.generatedTokens
         << llvm::format(",\"gflop\":[%.6g,%.6g]}", b.flops * 1e-9,
                         a.flops * 1e-9);
    }
  os << ']';
  return out;
}

std::optional<double> mlir::hone::referenceTableFlops(ReferenceTableOp table) {
  for (Operation *user : table->getUsers())
    if (auto rows = dyn_cast<ReferenceRowsOp>(user))
      if (auto data = rows.getIds().getDefiningOp<DataNextOp>())
        if (data->getNumResults() == 5)
          if (auto lengths =
                  dataRowLengths(data.getResult(0), data.getResult(1))) {
            int64_t ranks = 1;
            if (auto pipeline = table->getParentOfType<PipelineOp>())
              if (RunAttr run = pipeline.getRunAttr())
                ranks = std::max<int64_t>(1, run.getHardware().getRanks());
            int64_t records =
                cast<RankedTensorType>(table.getType()).getDimSize(0);
            int64_t perRank = (records + ranks - 1) / ranks;
            return packedForwardFlops(
                cast<ModelType>(table.getModel().getType()).getArch(),
                2 * perRank, lengths->meanLength(), lengths->meanSquare());
          }
  return std::nullopt;
}
