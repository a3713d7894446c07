// Step primitives of a compiled pipeline: generate, log-probs of a frozen
// model and values (the train step around a generated loss kernel is the C
// ABI's, runtime/ops/TrainStep.cpp). Host vectors in and out, [rows, T]
// per-token arrays token-aligned as Transformer's log-prob convention.
#pragma once

#include "runtime/job/Batches.h"
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
                                  const SamplingConfig &cfg,
                                  const RowDone<float> &onRowDone = {});

// --- scoring passes of a frozen model ------------------------------------------

/// Per-token log-probs [B, T] (and entropies when `entropy` is given) of
/// `batch` under the model at `temperature`, in micro-batches. With `pack`,
/// each micro-batch runs padding-free over each row's `lengths` tokens
/// (ForwardOptions::pack): results there equal the padded forward's to
/// float rounding, 0 after them.
Expected<std::vector<float>> computeLogprobs(Transformer<float> &model,
                                             const TokenBatch &batch,
                                             int64_t microBatch = 0,
                                             double temperature = 1.0,
                                             std::vector<float> *entropy = nullptr,
                                             bool pack = false);
/// Per-position values [B, T] of a scalar-head model (critic); `pack` as
/// computeLogprobs.
Expected<std::vector<float>> computeValues(Transformer<float> &model,
                                           const TokenBatch &batch,
                                           int64_t microBatch = 0,
                                           bool pack = false);

} // namespace hone::job
