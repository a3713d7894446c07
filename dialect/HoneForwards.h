//===- HoneForwards.h - forwards and backwards of step IR -------*- C++ -*-===//
//
// What the model work of a stage iteration is, read from step IR: which
// reads of a hone.train_step can share one forward (hone-fuse-forwards uses
// this to merge them), and how many forward and backward passes, over how
// many rows, and how many FLOPs each model runs per iteration
// (`honec --report`, and plugin passes: docs/tutorial-pass-plugin.md).
// The counts follow the runtime's train step (runtime/ops/TrainStep.cpp):
// one forward per read and micro-batch (per fused group when `fused_reads`
// is set; none in the first pass for a read with `kept_forwards`), a second
// one before the backward when a model runs forward more than once per
// optimiser step, one backward per read or group.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "dialect/HoneOps.h"
#include "llvm/ADT/SmallVector.h"

#include <optional>
#include <string>

namespace mlir::hone {

/// For every read (token batch) of `step`, the index of the first read with
/// the same reader and read kind that it can share one forward with: one
/// with the same token type (rows and length), or, for batches of other
/// rows or lengths (CHORD, SRFT, HPT: rollouts and demonstrations), one
/// whose group joined with it costs no more FLOPs in one forward and one
/// backward than separate forwards, each recomputed before its backward,
/// each counted as it will run: where hone-pack-sequences marked every
/// member `packed`, one stream of their real tokens (dataset rows at their
/// mean lengths, rollouts at their padded length, the bound: the sum of
/// their packed forwards); otherwise padded, concatenated on the longer
/// length (each row padded past its own). Reads with
/// the same leader can run as one forward over their rows concatenated.
/// Reads that share nothing lead themselves.
SmallVector<int64_t> fusableReads(TrainStepOp step);

/// Forward FLOPs per optimiser step of the reads `members` of `step` (all
/// of one model): {as one forward over their rows (the sum of their packed
/// forwards where every member is packed, else padded on the longest
/// length), as a forward each}, each read packed or padded as it will run
/// (fusableReads' costs). hone-plan-memory's fusion decision under the
/// budget compares keeping them apart (each forward re-run before its
/// backward) with fusing them and recomputing layers
/// (passes/FuseForwardsBudget.cpp).
std::pair<double, double> readGroupFlops(TrainStepOp step,
                                         ArrayRef<int64_t> members);

/// For every read of `step`, the index of an input that a hone.value (no
/// `last`) in the step's block computed from the read's model value on the
/// read's tokens, or -1: a `value` read that is its model's only read, in a
/// step with updates and mini_batches 1 (one forward over every row per
/// optimiser step). The step's first forward of that read is then the one
/// hone.value ran (PPO's v_old: `kept_forwards`).
SmallVector<int64_t> keptForwards(TrainStepOp step);

/// True when `leads` (as fusableReads returns) merges at least two reads.
bool mergesReads(ArrayRef<int64_t> leads);

/// One model's work in one stage iteration.
struct ModelWork {
  std::string model; // spec name ("?" when unknown)
  int64_t forwards = 0;  // forward passes (micro-batches; fused ones once)
  int64_t backwards = 0; // backward passes
  int64_t generates = 0; // hone.generate ops
  int64_t generatedTokens = 0; // rows x positions of generated batches
  double flops = 0;      // forward + backward + generation, estimated
  /// It generates or reads generated rows: counted at max_new_tokens
  /// (the padded shape), a bound on what runs (the job's report.html has
  /// the measured counts).
  bool rolloutBound = false;
};

/// Forward FLOPs of `arch` over `rows` sequences of `seqLen` tokens: two per
/// parameter and token (matrix products) plus the attention score and value
/// products (4 x layers x seqLen x heads x head_dim per token). A backward
/// is counted as twice its forward.
double forwardFlops(ArchAttr arch, int64_t rows, int64_t seqLen);

/// The lengths of the rows a token batch holds when it comes straight from
/// a dataset measured at compile time: `tokens` a hone.data.next result
/// (`sequences` tokens, `pairs` chosen or rejected tokens) of a
/// hone.dataset carrying `hone.sequence_lengths` / `hone.pair_lengths`
/// (the frontend's [length, rows, ...] counts, docs/compiler.md), and
/// `mask` (when given) a mask of the same hone.data.next, so that a row
/// packed to its mask's last nonzero has at most its tokens; KTO's
/// `labelled` tokens are SFT rows (`hone.sequence_lengths`). Every length
/// is cut to the batch's length T, as the job cuts rows.
///
/// With `mismatched`, KTO's mismatched tokens (result 3: row k's prompt
/// with row k+1's completion, runtime/ops/DataOps.cpp) count as the
/// dataset's rows too: over a batch they hold the same tokens in all, so
/// the mean length is theirs (to the template's tokens between prompt and
/// completion), the mean square an estimate. Not a bound on any one row
/// (a long prompt with a long completion): the memory plan asks without it.
struct RowLengths {
  SmallVector<std::pair<int64_t, int64_t>> counts; // (length, rows), any order
  int64_t rows() const;
  /// Means over the rows: tokens, and tokens squared (attention's work).
  double meanLength() const;
  double meanSquare() const;
  /// The most tokens, and the most sum of squared lengths, that any m rows
  /// can have when each row appears at most `repeats` times (a batch taken
  /// across an epoch's end may hold a row twice).
  std::pair<int64_t, int64_t> mostTokens(int64_t m, int64_t repeats) const;
};
std::optional<RowLengths> dataRowLengths(Value tokens, Value mask = Value(),
                                         bool mismatched = false);

/// The most tokens and the most sum of squared lengths one packed forward
/// over `rows` rows of the token batches `reads` (each with the mask it is
/// packed to) can run, when every batch's rows are dataset rows of one
/// dataset (dataRowLengths): the `rows` longest of its training file's
/// rows, each counted as often as a batch may repeat a record (a batch
/// taken across an epoch's end: ceil(batch x ranks / training records) +
/// 1 times). None otherwise, or when the file holds no training record.
std::optional<std::pair<int64_t, int64_t>>
packedRowsBound(ArrayRef<std::pair<Value, Value>> reads, int64_t rows,
                int64_t ranks);

/// Forward FLOPs of `arch` over `rows` sequences run packed whose lengths
/// have mean `meanLength` and mean square `meanSquare` (forwardFlops per
/// sequence of the real tokens).
double packedForwardFlops(ArchAttr arch, int64_t rows, double meanLength,
                          double meanSquare);

/// The work of the ops under `iteration` (a stage loop's body), per model in
/// order of first use. With `honourFusion` false, the program without
/// hone-fuse-forwards and hone-pack-sequences: train steps counted as if
/// they had no `fused_reads`, `kept_forwards` or `packed`, and every read
/// padded. With it, as compiled: a packed read of dataset rows
/// (dataRowLengths) counts the FLOPs of its rows' mean real length and
/// mean squared length (what runs on average); a packed read of other
/// rows (rollouts) counts padded FLOPs, its bound.
SmallVector<ModelWork> countModelWork(Region &iteration, bool honourFusion);

/// The forward FLOPs of a hone.reference_table's pass over its records (one
/// rank's share, packed at the dataset's mean lengths), once before its
/// stage; none when its rows' lengths are unknown.
std::optional<double> referenceTableFlops(ReferenceTableOp table);

/// One stage loop's work per iteration, before fusion and as compiled
/// (one entry per model in both, in the same order).
struct StageWork {
  std::string stage; // the stage's name, else "stage<N>"
  SmallVector<ModelWork> before, after;
};

/// Every stage loop's work (an op with a region directly in the pipeline's
/// body), in pipeline order.
SmallVector<StageWork> collectStageWork(PipelineOp pipeline);

/// collectStageWork as JSON, one object per stage and model:
/// {"stage", "model", "forwards": [before, after], "backwards": [before,
/// after], "generates", "generated_tokens", "gflop": [before, after]}; the
/// job's report shows it (runtime/observe/Report.h).
std::string workReportJson(PipelineOp pipeline);

/// For every stage loop (an op with a region directly in the pipeline's
/// body), one line per model: forwards, backwards, generated tokens and
/// GFLOPs of one iteration before fusion (train steps without
/// `fused_reads`) and as compiled, e.g.
///   stage dpo, per iteration: policy: forwards 6 -> 3, backwards 2 -> 1, ...
void printWorkReport(PipelineOp pipeline, llvm::raw_ostream &os);

} // namespace mlir::hone
