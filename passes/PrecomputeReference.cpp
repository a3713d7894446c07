//===- PrecomputeReference.cpp - reference log-probs once per dataset row -===//
//
// A preference stage (DPO, IPO) reads its frozen reference only through
// each pair's masked log-prob sums Σ_t m·l_ref of the chosen and rejected
// completions, which are constants of the dataset's records. The stage loop
// ran the reference forward on every batch, every epoch, and kept the
// reference's weights resident for the whole stage (a snapshot of the
// starting policy, by default). This pass computes them once before the
// stage (hone.reference_table: one pass of the reference over every
// training pair) and makes the loop read the batch's rows of that table
// (hone.reference_rows, by the batch's record ids); the objective reads
// `seq_sum(l, m) − s_ref` where it read `seq_sum(l − l_ref, m)`, equal up to
// float rounding. The reference is then read before the stage only: when
// it is the policy's starting state, hone-schedule-stages makes no snapshot,
// and hone-plan-memory frees a reference that nothing later reads before
// the train phase.
//
// A train step qualifies when every read of a model defined outside the
// loop is a hone.logprob of one `hone.data.next pairs` token batch whose
// objective argument is used only as `seq_sum(x − l_ref, mask)` with that
// batch's own loss mask (what expand-stages builds for DPO and IPO). KTO
// does not: its mismatched rows pair record k's prompt with the next
// record *of the batch*, which the shuffle changes, so they are no
// function of one record. ORPO and SimPO read no reference.
//
// Applied where it lowers the FLOPs (the loop would read at least as many
// pairs as the dataset holds: epochs ≥ 1) or the train phase's peak (the
// reference is read nowhere in or after the loop, so its weights need not
// be resident while training); `enabled=false` (honec
// --no-precompute-reference) leaves every loop as it is.
//
//===----------------------------------------------------------------------===//

#include "dialect/HoneForwards.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "llvm/Support/FormatVariadic.h"

namespace mlir::hone {
#define GEN_PASS_DEF_PRECOMPUTEREFERENCE
#include "passes/Passes.h.inc"
} // namespace mlir::hone

using namespace mlir;
using namespace mlir::hone;

namespace {

/// One reference read of a train step: the hone.logprob, which side of the
/// pair it reads (0 chosen, 1 rejected), the step input it feeds, and the
/// objective's `seq_sum(x − l_ref, mask)` uses of it.
struct Site {
  LogprobOp read;
  unsigned side, input;
  SmallVector<std::pair<LossSubOp, LossSeqSumOp>> uses;
};

struct PrecomputeReference
    : public mlir::hone::impl::PrecomputeReferenceBase<PrecomputeReference> {
  using PrecomputeReferenceBase::PrecomputeReferenceBase;

  void runOnOperation() override {
    if (!enabled)
      return;
    PipelineOp pipeline = getOperation();
    int64_t ranks = 1;
    if (RunAttr run = pipeline.getRunAttr())
      ranks = std::max<int64_t>(1, run.getHardware().getRanks());
    SmallVector<scf::ForOp> loops;
    for (Operation &op : pipeline.getBody().front())
      if (auto loop = dyn_cast<scf::ForOp>(op))
        loops.push_back(loop);
    for (scf::ForOp loop : loops)
      precompute(loop, ranks);
    // The tables read the reference: name it (reports, remarks).
    annotateModelNames(pipeline);
  }

  /// The sites of `step`'s reads of `ref`, or failure when one read does
  /// not fit.
  FailureOr<SmallVector<Site>> sitesOf(scf::ForOp loop, TrainStepOp step,
                                       DataNextOp data, Value ref) {
    Block &obj = step.getObjective().front();
    unsigned nIn = step.getInputs().size();
    unsigned base = obj.getNumArguments() - nIn;
    SmallVector<Site> sites;
    for (Operation *user : ref.getUsers()) {
      if (user == loop.getOperation() || !loop->isAncestor(user))
        continue;
      auto lp = dyn_cast<LogprobOp>(user);
      if (!lp || lp->getBlock() != loop.getBody() ||
          lp.getTokens().size() != 1 || lp.getEntropy() ||
          !lp.getPackMasks().empty() || lp.getMicroBatch())
        return failure();
      Value tok = lp.getTokens().front();
      unsigned side;
      if (tok == data.getResult(0))
        side = 0;
      else if (tok == data.getResult(2))
        side = 1;
      else
        return failure();
      Value mask = data.getResult(side ? 3 : 1);
      Value out = lp.getResult(0);
      if (!out.hasOneUse() || out.getUses().begin()->getOwner() != step)
        return failure();
      unsigned operand = out.getUses().begin()->getOperandNumber();
      unsigned first = step.getInputs().getBeginOperandIndex();
      if (operand < first || operand >= first + nIn)
        return failure();
      Site s{lp, side, operand - first, {}};
      BlockArgument arg = obj.getArgument(base + s.input);
      for (Operation *use : arg.getUsers()) {
        auto sub = dyn_cast<LossSubOp>(use);
        if (!sub || sub.getOperand(1) != arg || sub.getOperand(0) == arg ||
            !sub->hasOneUse())
          return failure();
        auto sum = dyn_cast<LossSeqSumOp>(*sub->getUsers().begin());
        if (!sum || !sum.getMask())
          return failure();
        // The mask must be the batch's own loss mask of that side: the
        // table sums under it.
        auto maskArg = dyn_cast<BlockArgument>(sum.getMask());
        if (!maskArg || maskArg.getOwner() != &obj ||
            maskArg.getArgNumber() < base ||
            step.getInputs()[maskArg.getArgNumber() - base] != mask)
          return failure();
        s.uses.push_back({sub, sum});
      }
      if (s.uses.empty())
        return failure();
      sites.push_back(std::move(s));
    }
    return sites;
  }

  void precompute(scf::ForOp loop, int64_t ranks) {
    // The spec's precompute_ref_log_probs: false.
    if (auto on = loop->getAttrOfType<BoolAttr>("hone.precompute_reference");
        on && !on.getValue())
      return;
    Block *body = loop.getBody();
    SmallVector<TrainStepOp> steps(body->getOps<TrainStepOp>());
    SmallVector<DataNextOp> datas(body->getOps<DataNextOp>());
    if (steps.size() != 1 || datas.size() != 1 ||
        datas.front().getPart() != DataPart::pairs ||
        datas.front().getStep() != loop.getInductionVar())
      return;
    TrainStepOp step = steps.front();
    DataNextOp data = datas.front();
    // The frozen model(s) the loop reads: defined outside it, not trained.
    SmallVector<Value> refs;
    body->walk([&](LogprobOp lp) {
      if (loop.isDefinedOutsideOfLoop(lp.getModel()) &&
          !llvm::is_contained(refs, lp.getModel()))
        refs.push_back(lp.getModel());
    });
    if (refs.size() != 1)
      return;
    Value ref = refs.front();
    FailureOr<SmallVector<Site>> sites = sitesOf(loop, step, data, ref);
    if (failed(sites) || sites->size() != 2 ||
        (*sites)[0].side == (*sites)[1].side)
      return;
    Location loc = (*sites)[0].read.getLoc();

    // The decision: the records are known at compile time (the frontend's
    // hone.pair_lengths), and the table lowers the FLOPs or the peak.
    std::optional<RowLengths> lengths =
        dataRowLengths(data.getResult(0), data.getResult(1));
    if (!lengths || lengths->rows() < 1) {
      (*sites)[0].read.emitRemark()
          << "hone-precompute-reference: not applied: the dataset's records "
             "are not known at compile time (compiled with "
             "--no-file-checks?); the reference runs in every step";
      return;
    }
    auto ub = loop.getUpperBound().getDefiningOp<arith::ConstantIndexOp>();
    if (!ub)
      return;
    // hone.pair_lengths counts the chosen and the rejected row of each
    // record.
    const int64_t N = (lengths->rows() + 1) / 2, S = ub.value();
    auto tokType = cast<RankedTensorType>(data.getResult(0).getType());
    const int64_t B = tokType.getDimSize(0), T = tokType.getDimSize(1);
    const int64_t perRank = (N + ranks - 1) / ranks;
    const bool fewerFlops = perRank < S * B;
    bool readLater = false;
    for (OpOperand &use : ref.getUses()) {
      Operation *user = use.getOwner();
      if (llvm::any_of(*sites, [&](const Site &s) { return s.read == user; }))
        continue;
      if (user == loop &&
          use.getOperandNumber() >= loop.getNumControlOperands())
        continue; // the loop trains it from here: read before, as the table
      Operation *anc = loop->getBlock()->findAncestorOpInBlock(*user);
      if (anc && (anc == loop || loop->isBeforeInBlock(anc)))
        readLater = true;
    }
    ArchAttr arch = cast<ModelType>(ref.getType()).getArch();
    const double before = 2.0 * double(S) *
                          packedForwardFlops(arch, B, lengths->meanLength(),
                                             lengths->meanSquare()) /
                          1e9,
                 after =
                     2.0 *
                     packedForwardFlops(arch, perRank, lengths->meanLength(),
                                        lengths->meanSquare()) /
                     1e9;
    if (!fewerFlops && readLater) {
      (*sites)[0].read.emitRemark() << llvm::formatv(
          "hone-precompute-reference: not applied: the table would read {0} "
          "pairs against the loop's {1} ({2} steps of {3}) and the reference "
          "is read after the stage, so neither the FLOPs nor the peak fall",
          perRank, S * B, S, B);
      return;
    }

    // The table before the loop, its rows in the loop.
    Type elem = cast<RankedTensorType>((*sites)[0].read.getResult(0).getType())
                    .getElementType();
    OpBuilder b(loop);
    auto table = ReferenceTableOp::create(
        b, loc, RankedTensorType::get({N, 2}, elem), ref, data.getData(),
        b.getI64IntegerAttr(T), b.getI64IntegerAttr(B));
    table->setAttr("hone.loop_rows", b.getI64IntegerAttr(S * 2 * B));
    b.setInsertionPointAfter(data);
    auto rowType = RankedTensorType::get({B}, elem);
    auto rows = ReferenceRowsOp::create(b, loc, TypeRange{rowType, rowType},
                                        table, data.getResult(4));
    Block &obj = step.getObjective().front();
    unsigned nIn = step.getInputs().size();
    unsigned base = obj.getNumArguments() - nIn;
    SmallVector<Attribute> names;
    if (auto n = step.getArgNamesAttr())
      names.assign(n.begin(), n.end());
    for (Site &s : *sites) {
      step.getInputsMutable()[s.input].set(rows.getResult(s.side));
      BlockArgument arg = obj.getArgument(base + s.input);
      arg.setType(rowType);
      for (auto [sub, sum] : s.uses) {
        OpBuilder ob(sum);
        auto seq = LossSeqSumOp::create(ob, sum.getLoc(), sum.getType(),
                                        sub.getOperand(0), sum.getMask());
        auto diff =
            LossSubOp::create(ob, sum.getLoc(), sum.getType(), seq, arg);
        sum.replaceAllUsesWith(diff.getResult());
        sum.erase();
        sub.erase();
      }
      if (base + s.input < names.size())
        names[base + s.input] = b.getStringAttr(
            cast<StringAttr>(names[base + s.input]).getValue() + "_sum");
      s.read.erase();
    }
    if (!names.empty())
      step.setArgNamesAttr(b.getArrayAttr(names));
    table->emitRemark() << llvm::formatv(
        "hone-precompute-reference: the reference's log-prob sums of {0} "
        "pairs computed once before the stage ({1} pairs a forward{2}), "
        "read by record id in each of {3} steps instead of a reference "
        "forward over {4} rows a step: {5:F3} -> {6:F3} GFLOP of reference "
        "forwards per rank; {7}",
        N, B, ranks > 1 ? llvm::formatv(", {0} a rank", perRank).str() : "", S,
        2 * B, before, after,
        readLater ? "the reference stays resident (read after the stage)"
                  : "the reference's weights are not resident while "
                    "training");
  }
};

} // namespace

bool mlir::hone::precomputesReference(PreferenceOp op) {
  if (!op.getRef() || (op.getLoss() != PreferenceLoss::dpo &&
                       op.getLoss() != PreferenceLoss::ipo))
    return false;
  if (!op.getSettings().getPrecomputeRefLogProbs())
    return false;
  auto data = op.getData().getDefiningOp<DatasetOp>();
  auto counts =
      data ? data->getAttrOfType<DenseI64ArrayAttr>("hone.pair_lengths")
           : DenseI64ArrayAttr();
  if (!counts)
    return false;
  int64_t rows = 0;
  for (int64_t i = 1; i < counts.size(); i += 2)
    rows += counts[i];
  if (rows < 1)
    return false;
  int64_t ranks = 1;
  if (auto pipeline = op->getParentOfType<PipelineOp>())
    if (RunAttr run = pipeline.getRunAttr())
      ranks = std::max<int64_t>(1, run.getHardware().getRanks());
  const int64_t records = (rows + 1) / 2,
                perRank = (records + ranks - 1) / ranks;
  const int64_t pairs =
      op.getSteps() * op.getBatchSize() * op.getLoop().getGradAccum();
  if (perRank < pairs)
    return true;
  // Else only where the reference is read nowhere after the stage.
  for (Operation *user : op.getRef().getUsers()) {
    if (user == op.getOperation())
      continue;
    Operation *anc = op->getBlock()->findAncestorOpInBlock(*user);
    if (anc && op->isBeforeInBlock(anc))
      return false;
  }
  return true;
}
