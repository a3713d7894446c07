#include "runtime/job/Stages.h"

#include "runtime/job/Advantages.h"

#include <chrono>

namespace hone::job {

/// Ends step `step` (0-based) of a stage: the stage's own metrics, then the
/// optimiser's and the loss kernel's, and the step's throughput.
static Status endTrainStep(Job &job, const std::string &stage, int64_t step,
                           const TrainStepResult &r, observe::MetricValues mv,
                           std::chrono::steady_clock::time_point t0) {
  double sec = std::chrono::duration<double>(
                   std::chrono::steady_clock::now() - t0)
                   .count();
  mv.push_back({"grad_norm", r.opt.gradNorm});
  mv.push_back({"learning_rate", r.opt.lr});
  mv.push_back({"tokens_per_sec", double(r.tokens) / sec});
  for (const auto &st : r.stats)
    mv.push_back(st);
  if (r.skipped)
    job.message(stage + ": step skipped: " + r.skipReason);
  return job.endStep(step + 1, mv, r.tokens);
}

Status runSftStage(Job &job, Transformer<float> &policy, DataLoader &data,
                   const TextFormat &fmt, const SftStageConfig &cfg) {
  AdamWConfig oc = cfg.optimizer;
  int64_t steps = job.stageSteps(cfg.name, cfg.steps);
  if (oc.schedule.totalSteps == 0)
    oc.schedule.totalSteps = steps;
  AdamW<float> opt(policy, oc);
  auto start = job.beginStage(cfg.name, steps,
                              {{{"policy", &policy}},
                               {{"policy", &opt}},
                               {{cfg.name, &data}}});
  if (!start)
    return start.status();
  TrainStepOptions to;
  to.microBatch = cfg.microBatch;
  for (int64_t s = *start; s < steps; ++s) {
    auto t0 = std::chrono::steady_clock::now();
    auto batch = makeSftBatch(fmt, data, data.take(size_t(cfg.batchSize)));
    if (!batch)
      return batch.status();
    TrainInputs in;
    in["mask"] = {InputKind::Token, batch->mask};
    auto r = trainStep(policy, opt, batch->view(), in, cfg.loss, to);
    if (!r)
      return r.status();
    HONE_TRY(endTrainStep(job, cfg.name, s, *r, {{"loss", r->loss}}, t0));
  }
  job.endStage();
  return Status::ok();
}

Status runGrpoStage(Job &job, Transformer<float> &policy,
                    Transformer<float> *reference, DataLoader &prompts,
                    const TextFormat &fmt, const Tokenizer &tokenizer,
                    const GrpoStageConfig &cfg) {
  if (!reference && cfg.beta != 0)
    return Status::error("error: " + cfg.name +
                         ": a KL penalty needs a reference model");
  auto verifier = Verifier::create(cfg.verifier);
  if (!verifier)
    return verifier.status();
  AdamWConfig oc = cfg.optimizer;
  int64_t steps = job.stageSteps(cfg.name, cfg.steps);
  if (oc.schedule.totalSteps == 0)
    oc.schedule.totalSteps = steps;
  AdamW<float> opt(policy, oc);
  StageObjects objs{{{"policy", &policy}}, {{"policy", &opt}},
                    {{cfg.name, &prompts}}};
  if (reference)
    objs.models.push_back({"reference", reference});
  auto start = job.beginStage(cfg.name, steps, objs);
  if (!start)
    return start.status();
  TrainStepOptions to;
  to.microBatch = cfg.microBatch;
  to.temperature = cfg.sampling.temperature;
  for (int64_t s = *start; s < steps; ++s) {
    auto t0 = std::chrono::steady_clock::now();
    auto pb = makePromptBatch(fmt, prompts,
                              prompts.take(size_t(cfg.promptsPerStep)),
                              cfg.groupSize);
    if (!pb)
      return pb.status();
    SamplingConfig sc = cfg.sampling;
    sc.samplesPerPrompt = 1;
    sc.step = uint32_t(job.globalStep());
    auto ro = generateRollout(policy, tokenizer, pb->prompts, sc);
    if (!ro)
      return ro.status();
    const int64_t R = ro->gen.batch, T = ro->gen.seqLen;
    std::vector<float> rewards(static_cast<size_t>(R), 0.f);
    double lenSum = 0;
    for (int64_t r = 0; r < R; ++r) {
      RewardInput in{pb->promptText[size_t(r)], ro->completions[size_t(r)],
                     pb->answers[size_t(r)], ro->completionLengths[size_t(r)],
                     &pb->records[size_t(r)]};
      rewards[size_t(r)] = float(verifier->score(in));
      lenSum += ro->completionLengths[size_t(r)];
    }
    auto adv = groupNormalized(rewards, cfg.groupSize, cfg.scaleByStd);
    if (!adv)
      return adv.status();
    std::vector<float> ref(size_t(R * T), 0.f);
    if (reference) {
      auto lr = computeLogprobs(*reference, ro->view(), cfg.microBatch,
                                cfg.sampling.temperature);
      if (!lr)
        return lr.status();
      ref = lr.take();
    }
    TrainInputs in;
    in["mask"] = {InputKind::Token, ro->mask};
    in["old_logprob"] = {InputKind::Token, ro->gen.logprobs};
    in["ref_logprob"] = {InputKind::Token, ref};
    in["advantage"] = {InputKind::Token, broadcastToTokens(*adv, ro->mask, T)};
    in["hparams"] = {InputKind::Global,
                     grpoHparams(cfg.epsLow, cfg.epsHigh, cfg.beta,
                                 cfg.aggregation)};
    auto r = trainStep(policy, opt, ro->view(), in, cfg.loss, to);
    if (!r)
      return r.status();
    double mean, sd;
    meanStd(rewards, mean, sd);
    HONE_TRY(endTrainStep(job, cfg.name, s, *r,
                          {{"loss", r->loss},
                           {"reward", mean},
                           {"reward_std", sd},
                           {"completions/mean_length", lenSum / double(R)}},
                          t0));
  }
  job.endStage();
  return Status::ok();
}

Expected<double> evaluateAccuracy(Transformer<float> &model,
                                  const Tokenizer &tokenizer,
                                  const DataLoader &data, const TextFormat &fmt,
                                  size_t n, int64_t maxNewTokens,
                                  const std::vector<int32_t> &stopTokens,
                                  int64_t batchSize) {
  n = std::min(n, data.size());
  if (n == 0)
    return Status::error("error: evaluation: no records");
  size_t correct = 0;
  for (size_t i0 = 0; i0 < n; i0 += size_t(batchSize)) {
    std::vector<size_t> idx;
    for (size_t i = i0; i < std::min(n, i0 + size_t(batchSize)); ++i)
      idx.push_back(i);
    auto pb = makePromptBatch(fmt, data, idx, 1);
    if (!pb)
      return pb.status();
    SamplingConfig sc;
    sc.greedy = true;
    sc.maxNewTokens = maxNewTokens;
    sc.stopTokens = stopTokens;
    sc.padToken = fmt.padToken;
    auto ro = generateRollout(model, tokenizer, pb->prompts, sc);
    if (!ro)
      return ro.status();
    for (size_t r = 0; r < idx.size(); ++r)
      correct += exactMatchReward(ro->completions[r], pb->answers[r]) > 0;
  }
  return double(correct) / double(n);
}

} // namespace hone::job
