#include "runtime/job/Steps.h"

#include <algorithm>
#include <cmath>

namespace hone::job {

Expected<Rollout>
generateRollout(Transformer<float> &model, const Tokenizer &tokenizer,
                const std::vector<std::vector<int32_t>> &prompts,
                const SamplingConfig &cfg) {
  auto g = generate(model, prompts, cfg);
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
                                             std::vector<float> *entropy) {
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
                                           int64_t microBatch) {
  if (model.config().head != HeadKind::Scalar)
    return Status::error("error: values need a model with a scalar head");
  if (microBatch <= 0)
    microBatch = batch.batch;
  std::vector<float> out;
  for (int64_t b0 = 0; b0 < batch.batch; b0 += microBatch) {
    int64_t n = std::min(microBatch, batch.batch - b0);
    TokenBatch mb{n, batch.seqLen, batch.tokens + b0 * batch.seqLen,
                  batch.lengths + b0};
    HONE_TRY(model.forward(mb));
    std::vector<float> v = model.toHost(model.values(), n * batch.seqLen);
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

// --- reference kernels -------------------------------------------------------

LossKernel sftReferenceLoss() {
  return {"sft_ref", hone_loss_sft_ref,
          {{"logprob", "mask", "batch_tokens"}, {"dlogprob"}, {}}};
}

LossKernel grpoReferenceLoss() {
  return {"grpo_ref",
          hone_loss_grpo_ref,
          {{"logprob", "old_logprob", "ref_logprob", "advantage", "mask",
            "batch_tokens", "batch_seqs", "hparams"},
           {"dlogprob"},
           {"clip_ratio", "kl"}}};
}

std::vector<float> grpoHparams(double epsLow, double epsHigh, double beta,
                               int aggregation, double constant) {
  return {float(epsLow), float(epsHigh), float(beta), float(aggregation),
          float(constant)};
}

// --- the adapter -------------------------------------------------------------

namespace {

bool isModelOutput(const std::string &n) {
  return n == "logprob" || n == "entropy" || n == "value" || n == "reward";
}

/// One call of the kernel over rows [first, first + R) with model outputs
/// (already on the host) in `model`.
struct KernelCall {
  const LossKernel &k;
  const TrainInputs &inputs;
  int64_t totalRows, T;
  float batchTokens = 0, batchSeqs = 0;
  std::map<std::string, std::vector<float>> outputs;

  Status check() const {
    if (!k.fn)
      return Status::error("error: loss kernel '" + k.name +
                           "' has no function");
    for (const std::string &n : k.sig.inputs) {
      if (isModelOutput(n) || n == "batch_tokens" || n == "batch_seqs")
        continue;
      auto it = inputs.find(n);
      if (it == inputs.end())
        return Status::error("error: loss kernel '" + k.name +
                             "': missing input '" + n + "'");
      size_t want = it->second.kind == InputKind::Token
                        ? size_t(totalRows * T)
                        : it->second.kind == InputKind::Sequence
                              ? size_t(totalRows)
                              : it->second.data.size();
      if (it->second.data.size() != want || want == 0)
        return Status::error("error: loss kernel '" + k.name + "': input '" +
                             n + "' has " +
                             std::to_string(it->second.data.size()) +
                             " values, expected " + std::to_string(want));
    }
    for (const std::string &g : k.sig.grads)
      if (g != "dlogprob" && g != "dentropy" && g != "dvalue" &&
          g != "dreward")
        return Status::error("error: loss kernel '" + k.name +
                             "': unknown gradient output '" + g + "'");
    return Status::ok();
  }

  /// Runs rows [first, first+R); model maps "logprob" etc. to host arrays
  /// for those rows. Fills `outputs` (overwritten per call).
  void run(int64_t first, int64_t R,
           const std::map<std::string, const float *> &model) {
    int64_t dims[2] = {R, T};
    std::vector<void *> args;
    args.push_back(dims);
    for (const std::string &n : k.sig.inputs) {
      if (n == "batch_tokens") {
        args.push_back(&batchTokens);
        continue;
      }
      if (n == "batch_seqs") {
        args.push_back(&batchSeqs);
        continue;
      }
      auto m = model.find(n);
      if (m != model.end()) {
        args.push_back(const_cast<float *>(m->second));
        continue;
      }
      const NamedInput &in = inputs.at(n);
      const float *p = in.data.data();
      if (in.kind == InputKind::Token)
        p += first * T;
      else if (in.kind == InputKind::Sequence)
        p += first;
      args.push_back(const_cast<float *>(p));
    }
    outputs.clear();
    outputs["loss"].assign(1, 0.f);
    args.push_back(outputs["loss"].data());
    for (const std::string &g : k.sig.grads) {
      outputs[g].assign(size_t(g == "dreward" ? R : R * T), 0.f);
      args.push_back(outputs[g].data());
    }
    for (const std::string &s : k.sig.stats) {
      outputs[s].assign(1, 0.f);
      args.push_back(outputs[s].data());
    }
    k.fn(args.data());
  }
};

float sumMask(const TrainInputs &in, const TokenBatch &b) {
  auto it = in.find("mask");
  double s = 0;
  if (it != in.end()) {
    for (float m : it->second.data)
      s += m;
  } else {
    for (int64_t r = 0; r < b.batch; ++r)
      s += std::max(0, b.lengths[r] - 1);
  }
  return float(s);
}

} // namespace

Expected<std::map<std::string, std::vector<float>>>
evalLossKernel(const LossKernel &kernel, int64_t rows, int64_t T,
               const TrainInputs &inputs) {
  KernelCall call{kernel, inputs, rows, T};
  std::map<std::string, const float *> model;
  for (const std::string &n : kernel.sig.inputs)
    if (isModelOutput(n)) {
      auto it = inputs.find(n);
      if (it == inputs.end())
        return Status::error("error: loss kernel '" + kernel.name +
                             "': missing input '" + n + "'");
      model[n] = it->second.data.data();
    }
  HONE_TRY(call.check());
  auto m = inputs.find("mask");
  double s = 0;
  if (m != inputs.end())
    for (float v : m->second.data)
      s += v;
  call.batchTokens = float(s);
  call.batchSeqs = float(rows);
  call.run(0, rows, model);
  return call.outputs;
}

Expected<TrainStepResult> trainStep(Transformer<float> &model,
                                    AdamW<float> &optimizer,
                                    const TokenBatch &batch,
                                    const TrainInputs &inputs,
                                    const LossKernel &kernel,
                                    const TrainStepOptions &opts) {
  if (batch.batch <= 0 || !batch.tokens || !batch.lengths)
    return Status::error("error: train step: empty batch");
  const int64_t T = batch.seqLen;
  KernelCall call{kernel, inputs, batch.batch, T};
  HONE_TRY(call.check());
  call.batchTokens = sumMask(inputs, batch);
  call.batchSeqs = float(batch.batch);
  const int64_t mbSize = opts.microBatch > 0 ? opts.microBatch : batch.batch;

  TrainStepResult res;
  for (int64_t r = 0; r < batch.batch; ++r)
    res.tokens += batch.lengths[r];
  std::vector<double> statSums(kernel.sig.stats.size(), 0.0);
  bool needsEntropy = false;
  for (const std::string &n : kernel.sig.inputs)
    needsEntropy |= n == "entropy";

  model.zeroGrad();
  ForwardOptions fo;
  fo.temperature = opts.temperature;
  Kernels<float> &k = model.kernels();
  DeviceArray<float> dLp, dEnt, dVal, dRew;
  bool lossFinite = true;
  for (int64_t b0 = 0; b0 < batch.batch; b0 += mbSize) {
    const int64_t n = std::min(mbSize, batch.batch - b0);
    TokenBatch mb{n, T, batch.tokens + b0 * T, batch.lengths + b0};
    HONE_TRY(model.forward(mb, fo));
    std::map<std::string, std::vector<float>> host;
    std::map<std::string, const float *> outs;
    for (const std::string &name : kernel.sig.inputs) {
      const float *dev = nullptr;
      int64_t cnt = n * T;
      if (name == "logprob")
        dev = model.logprobs();
      else if (name == "entropy")
        dev = model.entropy();
      else if (name == "value")
        dev = model.values();
      else if (name == "reward") {
        dev = model.rewards();
        cnt = n;
      } else
        continue;
      if (!dev)
        return Status::error("error: loss kernel '" + kernel.name +
                             "' reads '" + name +
                             "', which this model does not produce");
      host[name] = model.toHost(dev, cnt);
      outs[name] = host[name].data();
    }
    (void)needsEntropy;
    call.run(b0, n, outs);
    float l = call.outputs["loss"][0];
    if (!std::isfinite(l))
      lossFinite = false;
    res.loss += l;
    for (size_t s = 0; s < statSums.size(); ++s)
      statSums[s] += call.outputs[kernel.sig.stats[s]][0];
    if (!lossFinite)
      break;
    OutputGrads<float> g;
    auto upload = [&](const char *name, DeviceArray<float> &buf,
                      const float *&dst) {
      auto it = call.outputs.find(name);
      if (it == call.outputs.end())
        return;
      if (buf.size() < int64_t(it->second.size()))
        buf = DeviceArray<float>(&k, int64_t(it->second.size()));
      k.copyToDevice(buf.data(), it->second.data(),
                     it->second.size() * sizeof(float));
      dst = buf.data();
    };
    upload("dlogprob", dLp, g.dlogprob);
    upload("dentropy", dEnt, g.dentropy);
    upload("dvalue", dVal, g.dvalue);
    upload("dreward", dRew, g.dreward);
    HONE_TRY(model.backward(g));
  }
  for (size_t s = 0; s < statSums.size(); ++s)
    res.stats.push_back({kernel.sig.stats[s], statSums[s]});

  auto nonFinite = [&](const std::string &why) -> Expected<TrainStepResult> {
    model.zeroGrad();
    if (opts.onNonFinite == NonFinitePolicy::Fail)
      return Status::error("error: train step " +
                           std::to_string(optimizer.stepCount() + 1) + ": " +
                           why);
    res.skipped = true;
    res.skipReason = why;
    res.opt.step = optimizer.stepCount();
    return res;
  };
  if (!lossFinite)
    return nonFinite("non-finite loss");
  double sq = k.sumSquares(model.trainableGrad(), model.numTrainable());
  if (!std::isfinite(sq))
    return nonFinite("non-finite gradient");
  auto st = optimizer.step();
  if (!st)
    return nonFinite(st.status().message());
  res.opt = *st;
  return res;
}

} // namespace hone::job
