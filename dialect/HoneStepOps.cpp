//===- HoneStepOps.cpp - step-level ops' verifiers ------------------------===//
//
// Step IR is statically shaped: verifiers check that batch sizes, sequence
// lengths and element types agree between the tensors an op connects.
//
//===----------------------------------------------------------------------===//

#include "dialect/HoneOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"

using namespace mlir;
using namespace mlir::hone;

namespace {
RankedTensorType tensorOf(Value v) {
  return dyn_cast<RankedTensorType>(v.getType());
}
bool isFloatTensor(Type t, int64_t rank) {
  auto tt = dyn_cast<RankedTensorType>(t);
  return tt && tt.hasStaticShape() && tt.getRank() == rank &&
         (tt.getElementType().isF32() || tt.getElementType().isF64());
}
bool isTokens(Type t) {
  auto tt = dyn_cast<RankedTensorType>(t);
  return tt && tt.hasStaticShape() && tt.getRank() == 2 &&
         tt.getElementType().isInteger(32);
}
bool isIds(Type t) {
  auto tt = dyn_cast<RankedTensorType>(t);
  return tt && tt.hasStaticShape() && tt.getRank() == 1 &&
         tt.getElementType().isInteger(64);
}

/// Checks a list of result types against a pattern: 't' tokens [B,T],
/// 'm' float [B,T], 's' float [B], 'i' ids [B]. All share B; all [B,T]
/// share T.
LogicalResult checkPattern(Operation *op, TypeRange types, StringRef pattern,
                           StringRef what) {
  if (types.size() != pattern.size())
    return op->emitOpError() << what << " has " << pattern.size()
                             << " results here, got " << types.size();
  int64_t batch = -1, len = -1;
  for (auto [i, t] : llvm::enumerate(types)) {
    char c = pattern[i];
    bool ok = c == 't'   ? isTokens(t)
              : c == 'm' ? isFloatTensor(t, 2)
              : c == 's' ? isFloatTensor(t, 1)
                         : isIds(t);
    if (!ok) {
      const char *want = c == 't'   ? "tensor<BxTxi32>"
                         : c == 'm' ? "tensor<BxTxf32|f64>"
                         : c == 's' ? "tensor<Bxf32|f64>"
                                    : "tensor<Bxi64>";
      return op->emitOpError() << what << " result #" << i << " must be "
                               << want << ", got " << t;
    }
    auto tt = cast<RankedTensorType>(t);
    if (batch < 0)
      batch = tt.getDimSize(0);
    if (tt.getDimSize(0) != batch)
      return op->emitOpError() << what << " result #" << i << " has "
                               << tt.getDimSize(0) << " rows, expected "
                               << batch;
    if (tt.getRank() == 2) {
      if (len < 0)
        len = tt.getDimSize(1);
      if (tt.getDimSize(1) != len)
        return op->emitOpError() << what << " result #" << i << " has length "
                                 << tt.getDimSize(1) << ", expected " << len;
    }
  }
  return success();
}

LogicalResult sameShape(Operation *op, Value a, Value b, StringRef an,
                        StringRef bn) {
  auto at = tensorOf(a), bt = tensorOf(b);
  if (at.getShape() == bt.getShape())
    return success();
  return op->emitOpError() << an << " " << a.getType() << " and " << bn << " "
                           << b.getType() << " must have the same shape";
}
} // namespace

LogicalResult SyncWeightsOp::verify() {
  if (Value t = getTarget()) {
    auto from = cast<ModelType>(getModel().getType());
    auto to = cast<ModelType>(t.getType());
    if (from.getArch() != to.getArch())
      return emitOpError("copies weights between models of different "
                         "architectures: ")
             << from << " and " << to;
    if (t == getModel())
      return emitOpError("copies a model's weights onto itself");
  }
  return success();
}

LogicalResult ScheduleOp::verify() {
  if (!isFloatTensor(getValue().getType(), 0))
    return emitOpError("result must be a scalar tensor<f32|f64>");
  if (getTotal() <= 0)
    return emitOpError("'total' must be positive");
  if (getWarmup() < 0 || getWarmup() >= getTotal())
    return emitOpError("'warmup' must be in [0, total)");
  return success();
}

LogicalResult DataNextOp::verify() {
  auto layout = cast<DatasetType>(getData().getType()).getLayout();
  switch (getPart()) {
  case DataPart::sequences:
    return checkPattern(*this, getResultTypes(), "tmi", "sequences");
  case DataPart::pairs:
    if (layout != ColumnLayout::preference)
      return emitOpError("pairs need a preference dataset");
    return checkPattern(*this, getResultTypes(), "tmtmi", "pairs");
  case DataPart::labelled:
    if (layout != ColumnLayout::unpaired_preference &&
        layout != ColumnLayout::preference)
      return emitOpError("labelled completions need an unpaired_preference "
                         "or preference dataset");
    return checkPattern(*this, getResultTypes(), "tmstmi", "labelled");
  case DataPart::prompts:
    if (!cast<DatasetType>(getData().getType()).hasPrompts())
      return emitOpError("prompts need a dataset with prompts");
    return checkPattern(*this, getResultTypes(), "tmi", "prompts");
  }
  return success();
}

LogicalResult DataFetchOp::verify() {
  SmallVector<Type> types{getIds().getType(), getTokens().getType(),
                          getMask().getType()};
  return checkPattern(*this, types, "itm", "fetch");
}

LogicalResult ReferenceTableOp::verify() {
  if (!cast<ModelType>(getModel().getType()).hasLMHead())
    return emitOpError("log-probs need a model with an LM head");
  if (cast<DatasetType>(getData().getType()).getLayout() !=
      ColumnLayout::preference)
    return emitOpError("reads preference pairs: the dataset's layout must be "
                       "preference");
  if (getMaxLength() < 2 || getRows() < 1)
    return emitOpError("'max_length' must be at least 2 and 'rows' at least 1");
  auto t = cast<RankedTensorType>(getTable().getType());
  if (t.getRank() != 2 || t.getDimSize(1) != 2 || t.getDimSize(0) < 1)
    return emitOpError("the table is tensor<Nx2>, one row per record");
  return success();
}

LogicalResult ReferenceRowsOp::verify() {
  auto t = cast<RankedTensorType>(getTable().getType());
  if (t.getRank() != 2 || t.getDimSize(1) != 2)
    return emitOpError("the table is tensor<Nx2>");
  int64_t b = cast<RankedTensorType>(getIds().getType()).getDimSize(0);
  for (Value r : {getChosen(), getRejected()}) {
    auto rt = cast<RankedTensorType>(r.getType());
    if (rt.getRank() != 1 || rt.getDimSize(0) != b ||
        rt.getElementType() != t.getElementType())
      return emitOpError("results are tensor<")
             << b << "x" << t.getElementType() << ">, one per id";
  }
  return success();
}

LogicalResult GenerateOp::verify() {
  if (!cast<ModelType>(getPolicy().getType()).hasLMHead())
    return emitOpError("generates with a scalar-head model");
  if (getN() < 1)
    return emitOpError("'n' must be positive");
  auto prompts = tensorOf(getPrompts());
  if (failed(sameShape(*this, getPrompts(), getPromptMask(), "prompts",
                       "prompt mask")))
    return failure();
  if (bool(getDemos()) != bool(getDemoMask()))
    return emitOpError("demonstrations need their mask");
  if (getOffPolicy() < 0 || getOffPolicy() > getN())
    return emitOpError("'off_policy' must be in [0, n]");
  if (getOffPolicy() > 0 && !getDemos())
    return emitOpError("off-policy samples need 'demos'");
  if (getHintLen() && !getDemos())
    return emitOpError("a hint needs 'demos'");
  if (getHintLen() && !isFloatTensor(getHintLen().getType(), 0))
    return emitOpError("'hint' must be a scalar");
  std::string pattern = "tmm";
  if (getOffPolicy() > 0)
    pattern += 's';
  if (getHintLen())
    pattern += 'm';
  if (failed(checkPattern(*this, getResultTypes(), pattern, "generate")))
    return failure();
  auto tokens = cast<RankedTensorType>(getResult(0).getType());
  if (tokens.getDimSize(0) != prompts.getDimSize(0) * int64_t(getN()))
    return emitOpError("generates n = ")
           << getN() << " samples for each of " << prompts.getDimSize(0)
           << " prompts, so " << prompts.getDimSize(0) * getN()
           << " rows, got " << tokens.getDimSize(0);
  if (tokens.getDimSize(1) <= prompts.getDimSize(1))
    return emitOpError("sequences of ")
           << tokens.getDimSize(1) << " tokens leave no room after prompts of "
           << prompts.getDimSize(1);
  int64_t maxSeq =
      cast<ModelType>(getPolicy().getType()).getArch().getMaxSeq();
  if (tokens.getDimSize(1) > maxSeq)
    return emitOpError("sequences of ")
           << tokens.getDimSize(1) << " tokens exceed the model's max_seq "
           << maxSeq;
  if (getDemos()) {
    auto demos = tensorOf(getDemos());
    if (demos.getDimSize(0) != prompts.getDimSize(0))
      return emitOpError("needs one demonstration per prompt");
  }
  return success();
}

LogicalResult LogprobOp::verify() {
  if (getMicroBatch() && *getMicroBatch() < 1)
    return emitOpError("micro_batch must be at least 1 row, got ")
           << *getMicroBatch();
  if (!cast<ModelType>(getModel().getType()).hasLMHead())
    return emitOpError("log-probs need an LM head; use hone.value for a "
                       "scalar-head model");
  if (getTokens().empty())
    return emitOpError("needs at least one token batch");
  // Batches share one forward over their rows concatenated: one type.
  Type tokens = getTokens().front().getType();
  for (Value t : getTokens())
    if (t.getType() != tokens)
      return emitOpError("token batches must have one type (one forward over "
                         "their rows), got ")
             << tokens << " and " << t.getType();
  unsigned want = (getEntropy() ? 2 : 1) * getTokens().size();
  if (getNumResults() != want)
    return emitOpError("has ") << getNumResults() << " results, expected "
                               << want;
  for (Value r : getResults())
    if (!isFloatTensor(r.getType(), 2) ||
        tensorOf(r).getShape() != tensorOf(getTokens().front()).getShape())
      return emitOpError("results must be float tensors of the tokens' shape ")
             << tokens << ", got " << r.getType();
  // packed: one mask per token batch, of its shape.
  if (!getPackMasks().empty() &&
      getPackMasks().size() != getTokens().size())
    return emitOpError("packed needs one mask per token batch (")
           << getTokens().size() << "), got " << getPackMasks().size();
  for (Value m : getPackMasks())
    if (!isFloatTensor(m.getType(), 2) ||
        tensorOf(m).getShape() != tensorOf(getTokens().front()).getShape())
      return emitOpError("packed masks must be float tensors of the tokens' "
                         "shape ")
             << tokens << ", got " << m.getType();
  return success();
}

LogicalResult ValueOp::verify() {
  if (getMicroBatch() && *getMicroBatch() < 1)
    return emitOpError("micro_batch must be at least 1 row, got ")
           << *getMicroBatch();
  if (cast<ModelType>(getModel().getType()).hasLMHead())
    return emitOpError("values need a scalar-head model");
  auto tokens = tensorOf(getTokens());
  if (Value m = getPackMask())
    if (!isFloatTensor(m.getType(), 2) ||
        tensorOf(m).getShape() != tokens.getShape())
      return emitOpError("the packed mask must be a float tensor of the "
                         "tokens' shape ")
             << getTokens().getType() << ", got " << m.getType();
  if (getMask()) {
    if (tensorOf(getMask()).getShape() != tokens.getShape())
      return emitOpError("mask must have the tokens' shape");
    if (!isFloatTensor(getValues().getType(), 1) ||
        tensorOf(getValues()).getDimSize(0) != tokens.getDimSize(0))
      return emitOpError("with 'last', the result is one value a sequence");
    return success();
  }
  if (!isFloatTensor(getValues().getType(), 2) ||
      tensorOf(getValues()).getShape() != tokens.getShape())
    return emitOpError("result must have the tokens' shape");
  return success();
}

LogicalResult ScoreOp::verify() {
  SmallVector<Type> types{getTokens().getType(), getMask().getType(),
                          getScores().getType()};
  if (failed(checkPattern(*this, types, "tms", "score")))
    return failure();
  int64_t rows = tensorOf(getTokens()).getDimSize(0);
  int64_t ids = tensorOf(getIds()).getDimSize(0);
  if (ids == 0 || rows % ids != 0)
    return emitOpError("ids must have one row per sequence or per group of "
                       "consecutive sequences; ")
           << ids << " does not divide " << rows;
  return success();
}

LogicalResult ShapeRewardOp::verify() {
  if (!isFloatTensor(getScore().getType(), 1))
    return emitOpError("the score is per sequence");
  for (Value v : {getMask(), getLOld(), getLRef()})
    if (!isFloatTensor(v.getType(), 2) ||
        tensorOf(v).getShape() != tensorOf(getMask()).getShape())
      return emitOpError("mask and log-probs must be [B,T] of one shape");
  if (tensorOf(getMask()).getDimSize(0) != tensorOf(getScore()).getDimSize(0))
    return emitOpError("score and mask disagree on B");
  int64_t rank = getKind() == RewardShaping::token_kl ? 2 : 1;
  if (!isFloatTensor(getReward().getType(), rank) ||
      tensorOf(getReward()).getDimSize(0) != tensorOf(getScore()).getDimSize(0))
    return emitOpError("result must be ")
           << (rank == 2 ? "per token [B,T]" : "per sequence [B]");
  return success();
}

LogicalResult AdvantageOp::verify() {
  AdvantageKind kind = getKind();
  auto inputs = getInputs();
  auto expect = [&](unsigned nIn, unsigned nOut) -> LogicalResult {
    if (inputs.size() != nIn || getNumResults() != nOut)
      return emitOpError(stringifyAdvantageKind(kind))
             << " takes " << nIn << " operands and gives " << nOut
             << " results";
    return success();
  };
  auto allShape = [&](ValueRange vs, Value like) -> LogicalResult {
    for (Value v : vs)
      if (v.getType() != like.getType())
        return emitOpError("operands and results must all be ")
               << like.getType() << ", got " << v.getType();
    return success();
  };
  switch (kind) {
  case AdvantageKind::gae:
    if (failed(expect(3, 2)))
      return failure();
    if (!isFloatTensor(inputs[0].getType(), 2))
      return emitOpError("gae works on token rewards [B,T]");
    return success(succeeded(allShape(inputs, inputs[0])) &&
                   succeeded(allShape(getResults(), inputs[0])));
  case AdvantageKind::global_norm:
    if (failed(expect(2, 1)))
      return failure();
    if (!isFloatTensor(inputs[0].getType(), 2))
      return emitOpError("global_norm works on token rewards [B,T]");
    return success(succeeded(allShape(inputs, inputs[0])) &&
                   succeeded(allShape(getResults(), inputs[0])));
  case AdvantageKind::greedy_baseline:
    if (failed(expect(2, 1)))
      return failure();
    break;
  default:
    if (failed(expect(1, 1)))
      return failure();
    break;
  }
  if (!isFloatTensor(inputs[0].getType(), 1))
    return emitOpError(stringifyAdvantageKind(kind))
           << " works on sequence rewards [B], got " << inputs[0].getType();
  if (failed(allShape(inputs, inputs[0])) ||
      failed(allShape(getResults(), inputs[0])))
    return failure();
  bool grouped = kind == AdvantageKind::group_norm ||
                 kind == AdvantageKind::group_center ||
                 kind == AdvantageKind::leave_one_out;
  int64_t batch = tensorOf(inputs[0]).getDimSize(0);
  if (grouped && (getGroupSize() < 2 || batch % getGroupSize() != 0))
    return emitOpError("group_size ")
           << getGroupSize() << " must be at least 2 and divide " << batch;
  return success();
}

LogicalResult GroupAccuracyOp::verify() {
  if (!isFloatTensor(getRewards().getType(), 1))
    return emitOpError("rewards are per sequence [B]");
  int64_t batch = tensorOf(getRewards()).getDimSize(0);
  int64_t g = getGroupSize();
  if (g < 1 || batch % g != 0)
    return emitOpError("group_size must divide the batch");
  if (!isFloatTensor(getPerPrompt().getType(), 1) ||
      tensorOf(getPerPrompt()).getDimSize(0) != batch / g)
    return emitOpError("per-prompt result must have ") << batch / g << " rows";
  if (getPerSample().getType() != getRewards().getType())
    return emitOpError("per-sample result must have the rewards' type");
  return success();
}

LogicalResult GroupFilterOp::verify() {
  if (!isFloatTensor(getRewards().getType(), 1))
    return emitOpError("rewards are per sequence [B']");
  int64_t over = tensorOf(getRewards()).getDimSize(0);
  if (getGroupSize() < 2 || over % getGroupSize() != 0)
    return emitOpError("group_size must be at least 2 and divide ") << over;
  if (getNumResults() != getValues().size() + 1)
    return emitOpError("gives one result per value plus the valid mask");
  int64_t kept = -1;
  for (auto [v, r] : llvm::zip(getValues(), getResults())) {
    auto vt = tensorOf(v), rt = tensorOf(r);
    if (!vt || !rt || vt.getDimSize(0) != over)
      return emitOpError("values must have ") << over << " rows";
    if (vt.getElementType() != rt.getElementType() ||
        vt.getShape().drop_front() != rt.getShape().drop_front())
      return emitOpError("result ") << r.getType() << " does not match value "
                                    << v.getType() << " but for its rows";
    if (kept < 0)
      kept = rt.getDimSize(0);
    if (rt.getDimSize(0) != kept)
      return emitOpError("all results must have the same rows");
  }
  Value valid = getResults().back();
  if (!isFloatTensor(valid.getType(), 1) ||
      (kept >= 0 && tensorOf(valid).getDimSize(0) != kept))
    return emitOpError("the last result is the valid mask [B]");
  kept = tensorOf(valid).getDimSize(0);
  if (kept % getGroupSize() != 0 || kept > over)
    return emitOpError("keeps whole groups: ")
           << kept << " rows must be a multiple of group_size, at most "
           << over;
  return success();
}

LogicalResult BufferPushOp::verify() {
  if (!isFloatTensor(getSelect().getType(), 1) ||
      tensorOf(getSelect()).getDimSize(0) != tensorOf(getIds()).getDimSize(0))
    return emitOpError("select must be one flag per id");
  return success();
}

LogicalResult BufferPopOp::verify() {
  if (tensorOf(getIds()).getDimSize(0) >
      cast<BufferType>(getBuffer().getType()).getCapacity())
    return emitOpError("pops more ids than the buffer holds");
  return success();
}

//===----------------------------------------------------------------------===//
// hone.train_step
//===----------------------------------------------------------------------===//

static unsigned outputsOfRead(StringRef read) {
  return read == "logprob+entropy" ? 2 : 1;
}

unsigned TrainStepOp::getNumDiffArgs() {
  unsigned n = 0;
  for (Attribute read : getReads())
    n += outputsOfRead(cast<StringAttr>(read).getValue());
  return n;
}

LogicalResult TrainStepOp::verify() {
  if (getModels().empty())
    return emitOpError("trains at least one model");
  if (getNumResults() < getModels().size() + 1)
    return emitOpError("yields the updated models, the loss and the metrics");
  for (auto [m, n] : llvm::zip(getModels(), getNewModels()))
    if (m.getType() != n.getType())
      return emitOpError("an updated model must keep its type");
  if (getReaders().size() != getTokens().size() ||
      getReads().size() != getTokens().size())
    return emitOpError("needs one reader and one read per token batch");
  for (auto [i, reader, read] :
       llvm::enumerate(getReaders(), getReads().getAsValueRange<StringAttr>())) {
    if (reader < 0 || reader >= int64_t(getModels().size()))
      return emitOpError("reader ") << reader << " of token batch " << i
                                    << " is not a trained model";
    auto model = cast<ModelType>(getModels()[reader].getType());
    bool lm = read == "logprob" || read == "logprob+entropy";
    if (!lm && read != "value" && read != "reward")
      return emitOpError("unknown read '")
             << read << "': expected logprob, logprob+entropy, value or reward";
    if (lm != model.hasLMHead())
      return emitOpError("read '")
             << read << "' needs a model with " << (lm ? "an LM" : "a scalar")
             << " head";
  }
  if (getEpochs() < 1 || getMiniBatches() < 1 || getUpdates() < 1)
    return emitOpError("'epochs', 'mini_batches' and 'updates' must be "
                       "positive");
  if (std::optional<ArrayRef<int64_t>> fused = getFusedReads()) {
    if (fused->size() != getTokens().size())
      return emitOpError("'fused_reads' needs one entry per token batch");
    auto reads = getReads().getValue();
    for (auto [i, lead] : llvm::enumerate(*fused)) {
      if (lead < 0 || lead > int64_t(i) || (*fused)[lead] != lead)
        return emitOpError("fused_reads[")
               << i << "] = " << lead << " is not an earlier leading read";
      // Batches of other rows or lengths run concatenated on the longer
      // length (runtime/ops/TrainStep.cpp): token batches of one element
      // type and rank 2.
      auto lt = cast<RankedTensorType>(getTokens()[lead].getType());
      auto it = cast<RankedTensorType>(getTokens()[i].getType());
      if (getReaders()[lead] != getReaders()[i] || reads[lead] != reads[i] ||
          (lt != it && (lt.getElementType() != it.getElementType() ||
                        lt.getRank() != 2 || it.getRank() != 2)))
        return emitOpError("fused_reads[")
               << i << "]: read " << i << " and read " << lead
               << " differ in model, read or token type";
    }
  }
  if (std::optional<ArrayRef<int64_t>> kept = getKeptForwards()) {
    if (kept->size() != getTokens().size())
      return emitOpError("'kept_forwards' needs one entry per token batch");
    auto reads = getReads().getValue();
    for (auto [i, k] : llvm::enumerate(*kept)) {
      if (k == -1)
        continue;
      if (k < 0 || k >= int64_t(getInputs().size()))
        return emitOpError("kept_forwards[")
               << i << "] = " << k << " names no input (-1: none)";
      if (cast<StringAttr>(reads[i]).getValue() != "value")
        return emitOpError("kept_forwards[")
               << i << "]: only a value read reuses a hone.value's forward";
      if (getUpdates() != 1 || getMiniBatches() != 1)
        return emitOpError("kept_forwards[")
               << i << "]: the kept forward covers every row; it needs "
               << "updates and mini_batches 1";
      for (auto [o, reader] : llvm::enumerate(getReaders()))
        if (o != i && reader == getReaders()[i])
          return emitOpError("kept_forwards[")
                 << i << "]: read " << o
                 << " runs the same model, whose kept activations would "
                    "not be read "
                 << i << "'s";
    }
  }
  for (Value v : llvm::concat<Value>(getTokens(), getInputs())) {
    auto t = cast<RankedTensorType>(v.getType());
    if (t.getRank() >= 1 && t.getDimSize(0) % getUpdates() != 0)
      return emitOpError("updates = ")
             << getUpdates() << " does not divide the rows of " << t;
  }
  if (!isa<RankedTensorType>(getLoss().getType()) ||
      !isFloatTensor(getLoss().getType(), 0))
    return emitOpError("the loss result must be a scalar");
  for (Value metric : getMetrics())
    if (!isFloatTensor(metric.getType(), 0))
      return emitOpError("metrics must be scalars, got ") << metric.getType();
  return success();
}

static LogicalResult verifyLossRegion(TrainStepOp op, Region &region,
                                      bool withGrads) {
  Block &block = region.front();
  Type elem = op.getLossElementType();
  int64_t updates = std::max<int64_t>(1, op.getUpdates());
  SmallVector<Type> expected;
  for (auto [tokens, read] :
       llvm::zip(op.getTokens(), op.getReads().getAsValueRange<StringAttr>())) {
    SmallVector<int64_t> shape(
        cast<RankedTensorType>(tokens.getType()).getShape());
    shape[0] /= updates;
    if (read == "reward")
      expected.push_back(RankedTensorType::get({shape[0]}, elem));
    else
      for (unsigned k = 0; k < outputsOfRead(read); ++k)
        expected.push_back(RankedTensorType::get(shape, elem));
  }
  unsigned numDiff = expected.size();
  for (Value input : op.getInputs())
    expected.push_back(TrainStepOp::miniBatchType(input.getType(), updates));
  if (block.getNumArguments() != expected.size())
    return op.emitOpError("region has ")
           << block.getNumArguments() << " arguments, expected "
           << expected.size() << " (" << numDiff
           << " model outputs, then one per input)";
  for (auto [i, arg, type] : llvm::enumerate(block.getArguments(), expected))
    if (arg.getType() != type)
      return op.emitOpError("region argument #")
             << i << " must be " << type << ", got " << arg.getType();
  if (op.getArgNames() && op.getArgNames()->size() != expected.size())
    return op.emitOpError("'arg_names' has ")
           << op.getArgNames()->size() << " names for " << expected.size()
           << " region arguments";
  for (Value input : op.getInputs())
    if (cast<RankedTensorType>(input.getType()).getElementType() != elem)
      return op.emitOpError("input ")
             << input.getType() << " must have the loss's element type "
             << elem;
  auto yield = dyn_cast<LossYieldOp>(block.getTerminator());
  if (!yield)
    return op.emitOpError("region must end in hone.loss.yield");
  if (yield.getLoss().getType() != op.getLoss().getType())
    return yield.emitOpError("yields a loss of type ")
           << yield.getLoss().getType() << " but the train step's is "
           << op.getLoss().getType();
  if (yield.getMetrics().getTypes() != op.getMetrics().getTypes())
    return yield.emitOpError("metrics must match the train step's results");
  if (!withGrads && !yield.getGrads().empty())
    return yield.emitOpError("the objective yields no gradients; "
                             "hone-differentiate writes the gradient region");
  if (withGrads) {
    if (yield.getGrads().size() != numDiff)
      return yield.emitOpError("yields ")
             << yield.getGrads().size() << " gradients for " << numDiff
             << " differentiable arguments";
    for (auto [g, t] : llvm::zip(yield.getGrads(), ArrayRef(expected)))
      if (g.getType() != t)
        return yield.emitOpError("gradient type ")
               << g.getType() << " differs from its argument's " << t;
  }
  return success();
}

LogicalResult TrainStepOp::verifyRegions() {
  if (failed(verifyLossRegion(*this, getObjective(), false)))
    return failure();
  if (!getGradient().empty()) {
    if (!getGradient().hasOneBlock())
      return emitOpError("the gradient region has one block");
    if (failed(verifyLossRegion(*this, getGradient(), true)))
      return failure();
  }
  return success();
}
