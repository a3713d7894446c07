// Step primitives of a compiled pipeline: generate, log-probs of a frozen
// model, values, and the train step around a loss kernel (the C callback of
// runtime/job/LossAbi.h). Everything is on the CPU float model; host
// vectors in and out, [rows, T] per-token arrays token-aligned as
// Transformer's log-prob convention.
#pragma once

#include "runtime/job/Batches.h"
#include "runtime/job/LossAbi.h"
#include "runtime/model/Generate.h"
#include "runtime/model/Optimizer.h"
#include "runtime/model/Transformer.h"
#include "runtime/tokenizer/Tokenizer.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace hone::job {

// --- generate ----------------------------------------------------------------

struct Rollout {
  GenerationResult<float> gen;     // tokens/lengths/logprobs/mask [R, T]
  std::vector<float> mask;         // gen.mask as float
  std::vector<std::string> completions; // decoded, stop tokens dropped
  std::vector<int32_t> completionLengths; // generated tokens per row
  TokenBatch view() const {
    return {gen.batch, gen.seqLen, gen.tokens.data(), gen.lengths.data()};
  }
};

/// Samples one completion per row of `prompts` (rows are already repeated
/// group-size times; `cfg.samplesPerPrompt` multiplies further). The
/// behaviour log-probs (at cfg.temperature) are in rollout.gen.logprobs.
Expected<Rollout> generateRollout(Transformer<float> &model,
                                  const Tokenizer &tokenizer,
                                  const std::vector<std::vector<int32_t>> &prompts,
                                  const SamplingConfig &cfg);

// --- scoring passes of a frozen model ------------------------------------------

/// Per-token log-probs [B, T] (and entropies when `entropy` is given) of
/// `batch` under the model at `temperature`, in micro-batches.
Expected<std::vector<float>> computeLogprobs(Transformer<float> &model,
                                             const TokenBatch &batch,
                                             int64_t microBatch = 0,
                                             double temperature = 1.0,
                                             std::vector<float> *entropy = nullptr);
/// Per-position values [B, T] of a scalar-head model (critic).
Expected<std::vector<float>> computeValues(Transformer<float> &model,
                                           const TokenBatch &batch,
                                           int64_t microBatch = 0);

// --- the loss-kernel adapter -----------------------------------------------

/// How an input is sliced per micro-batch.
enum class InputKind { Token, Sequence, Global };

struct LossSignature {
  /// Input names in argument order. Reserved names the runtime fills:
  /// "logprob", "entropy", "value" (model outputs, Token), "reward" (scalar
  /// head at the last token, Sequence), "batch_tokens" (sum of input
  /// "mask" over the whole batch, Global[1]), "batch_seqs" (rows,
  /// Global[1]). Every other name comes from TrainInputs.
  std::vector<std::string> inputs;
  /// Gradient outputs: "dlogprob", "dentropy", "dvalue", "dreward".
  std::vector<std::string> grads;
  /// Statistic outputs (float[1] each, summed over micro-batches).
  std::vector<std::string> stats;
};

struct LossKernel {
  std::string name;
  hone_loss_fn fn = nullptr;
  LossSignature sig;
};

/// The references of LossAbi.h with their signatures.
LossKernel sftReferenceLoss();
LossKernel grpoReferenceLoss();
/// GRPO hparams input: {eps_low, eps_high, beta, aggregation, constant}.
std::vector<float> grpoHparams(double epsLow, double epsHigh, double beta,
                               int aggregation = 0, double constant = 0);

struct NamedInput {
  InputKind kind = InputKind::Token;
  std::vector<float> data;
};
using TrainInputs = std::map<std::string, NamedInput>;

enum class NonFinitePolicy {
  Skip, // no update; result.skipped = true
  Fail, // an error (the driver rolls back to the last good checkpoint)
};

struct TrainStepOptions {
  int64_t microBatch = 0; // 0: the whole batch at once
  double temperature = 1.0;
  NonFinitePolicy onNonFinite = NonFinitePolicy::Skip;
};

struct TrainStepResult {
  double loss = 0;
  std::vector<std::pair<std::string, double>> stats;
  StepStats opt; // grad norm, lr, update count
  bool skipped = false;
  std::string skipReason;
  int64_t tokens = 0; // tokens in the batch (sum of lengths)
};

/// zero grads -> per micro-batch: forward, the loss kernel, backward ->
/// global-norm clip + AdamW (optimizer's config). A non-finite loss or
/// gradient norm is detected here and handled by opts.onNonFinite.
Expected<TrainStepResult> trainStep(Transformer<float> &model,
                                    AdamW<float> &optimizer,
                                    const TokenBatch &batch,
                                    const TrainInputs &inputs,
                                    const LossKernel &kernel,
                                    const TrainStepOptions &opts = {});

/// Runs the kernel once over host arrays (no model): evaluation and tests.
/// `outputs` names are "loss", the grads and the stats.
Expected<std::map<std::string, std::vector<float>>>
evalLossKernel(const LossKernel &kernel, int64_t rows, int64_t T,
               const TrainInputs &inputs);

} // namespace hone::job
