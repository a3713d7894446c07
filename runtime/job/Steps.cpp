#include "runtime/job/Steps.h"

#include <algorithm>
#include <cmath>

namespace hone::job {

Expected<Rollout>
generateRollout(Transformer<float> &model, const Tokenizer &tokenizer,
                const std::vector<std::vector<int32_t>> &prompts,
                const SamplingConfig &cfg, const RowDone<float> &onRowDone) {
  auto g = generate(model, prompts, cfg, onRowDone);
  if (!g)
    return g.status();
  Rollout r;
  r.gen = g.take();
  const int64_t R = r.gen.batch, T = r.gen.seqLen;
  r.mask.resize(r.gen.mask.size());
  for (size_t i = 0; i < r.mask.size(); ++i)
    r.mask[i] = r.gen.mask[i] ? 1.f : 0.f;
  for (int64_t b = 0; b < R; ++b) {
    std::vector<int32_t> ids;
    int32_t n = 0;
    for (int64_t t = r.gen.promptLengths[size_t(b)];
         t < r.gen.lengths[size_t(b)]; ++t) {
      int32_t id = r.gen.tokens[size_t(b * T + t)];
      ++n;
      if (std::find(cfg.stopTokens.begin(), cfg.stopTokens.end(), id) !=
          cfg.stopTokens.end())
        continue;
      ids.push_back(id);
    }
    auto text = tokenizer.decode(ids, /*skipSpecialTokens=*/true);
    if (!text)
      return text.status();
    r.completions.push_back(text.take());
    r.completionLengths.push_back(n);
  }
  return r;
}

Expected<std::vector<float>> computeLogprobs(Transformer<float> &model,
                                             const TokenBatch &batch,
                                             int64_t microBatch,
                                             double temperature,
                                             std::vector<float> *entropy,
                                             bool pack) {
  if (model.config().head != HeadKind::LM)
    return Status::error("error: log-probs need a model with an LM head");
  if (microBatch <= 0)
    microBatch = batch.batch;
  std::vector<float> out;
  out.reserve(size_t(batch.batch * batch.seqLen));
  if (entropy)
    entropy->clear();
  ForwardOptions fo;
  fo.temperature = temperature;
  fo.pack = pack;
  // The samples of a prompt run its rows once (Transformer.h).
  fo.sharePrefix = prefixSharingEnabled();
  for (int64_t b0 = 0; b0 < batch.batch; b0 += microBatch) {
    int64_t n = std::min(microBatch, batch.batch - b0);
    TokenBatch mb{n, batch.seqLen, batch.tokens + b0 * batch.seqLen,
                  batch.lengths + b0};
    HONE_TRY(model.forward(mb, fo));
    std::vector<float> lp = model.toHost(model.logprobs(), n * batch.seqLen);
    out.insert(out.end(), lp.begin(), lp.end());
    if (entropy) {
      std::vector<float> e = model.toHost(model.entropy(), n * batch.seqLen);
      entropy->insert(entropy->end(), e.begin(), e.end());
    }
  }
  return out;
}

Expected<std::vector<float>> computeValues(Transformer<float> &model,
                                           const TokenBatch &batch,
                                           int64_t microBatch, bool pack) {
  if (model.config().head != HeadKind::Scalar)
    return Status::error("error: values need a model with a scalar head");
  if (microBatch <= 0)
    microBatch = batch.batch;
  std::vector<float> out;
  for (int64_t b0 = 0; b0 < batch.batch; b0 += microBatch) {
    int64_t n = std::min(microBatch, batch.batch - b0);
    TokenBatch mb{n, batch.seqLen, batch.tokens + b0 * batch.seqLen,
                  batch.lengths + b0};
    ForwardOptions fo;
    fo.pack = pack;
    // As the train step's value reads (a PPO step back-propagates the
    // forward hone.value ran: kept_forwards, the same layout).
    fo.sharePrefix = prefixSharingEnabled();
    HONE_TRY(model.forward(mb, fo));
    std::vector<float> v = model.toHost(model.values(), n * batch.seqLen);
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

} // namespace hone::job
