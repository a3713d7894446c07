// Stage loops built from the step primitives, run inside a Job (resumable):
// SFT and GRPO (group-normalised verifier rewards, clipped ratio, k3 KL to a
// frozen reference), plus held-out evaluation by greedy decoding.
#pragma once

#include "runtime/job/Driver.h"
#include "runtime/job/Rewards.h"
#include "runtime/job/Steps.h"

namespace hone::job {

struct SftStageConfig {
  std::string name = "sft";
  int64_t steps = 100;
  int64_t batchSize = 32;
  int64_t microBatch = 0;
  AdamWConfig optimizer;
  LossKernel loss = sftReferenceLoss();
};

/// Trains `policy` on `data` (its loader is checkpointed as "<name>").
Status runSftStage(Job &job, Transformer<float> &policy, DataLoader &data,
                   const TextFormat &fmt, const SftStageConfig &cfg);

struct GrpoStageConfig {
  std::string name = "grpo";
  int64_t steps = 50;
  int64_t promptsPerStep = 8;
  int64_t groupSize = 8;
  SamplingConfig sampling; // samplesPerPrompt is forced to 1 (rows repeat)
  AdamWConfig optimizer;
  double epsLow = 0.2, epsHigh = 0.2, beta = 0.04;
  int aggregation = 0;     // see grpoHparams
  bool scaleByStd = true;  // false: Dr. GRPO
  VerifierConfig verifier;
  int64_t microBatch = 0;
  LossKernel loss = grpoReferenceLoss();
};

/// On-policy GRPO (one update per rollout, so old log-probs = behaviour
/// log-probs). `reference` may be null when beta == 0.
Status runGrpoStage(Job &job, Transformer<float> &policy,
                    Transformer<float> *reference, DataLoader &prompts,
                    const TextFormat &fmt, const Tokenizer &tokenizer,
                    const GrpoStageConfig &cfg);

/// Exact-match accuracy of greedy completions on the first `n` records of
/// `data` (prompt_answer or prompt_completion).
Expected<double> evaluateAccuracy(Transformer<float> &model,
                                  const Tokenizer &tokenizer,
                                  const DataLoader &data, const TextFormat &fmt,
                                  size_t n, int64_t maxNewTokens,
                                  const std::vector<int32_t> &stopTokens,
                                  int64_t batchSize = 64);

} // namespace hone::job
