#include "runtime/model/Train.h"

#include <algorithm>

namespace hone {

template <typename T>
Status accumulateGradients(Transformer<T> &model, const TokenBatch &batch,
                           int64_t microBatch, const LossGradFn<T> &lossGrad,
                           const ForwardOptions &opts) {
  if (microBatch <= 0)
    return Status::error("train: micro-batch size must be positive");
  if (batch.batch <= 0 || !batch.tokens || !batch.lengths)
    return Status::error("train: empty batch");
  for (int64_t b0 = 0; b0 < batch.batch; b0 += microBatch) {
    int64_t n = std::min(microBatch, batch.batch - b0);
    TokenBatch mb;
    mb.batch = n;
    mb.seqLen = batch.seqLen;
    mb.tokens = batch.tokens + b0 * batch.seqLen;
    mb.lengths = batch.lengths + b0;
    HONE_TRY(model.forward(mb, opts));
    MicroBatchOutputs<T> out{b0,
                             n,
                             batch.seqLen,
                             model.logprobs(),
                             model.entropy(),
                             model.values(),
                             model.rewards()};
    OutputGrads<T> grads;
    HONE_TRY(lossGrad(out, grads));
    HONE_TRY(model.backward(grads));
  }
  return Status::ok();
}

template Status accumulateGradients<float>(Transformer<float> &,
                                           const TokenBatch &, int64_t,
                                           const LossGradFn<float> &,
                                           const ForwardOptions &);
template Status accumulateGradients<double>(Transformer<double> &,
                                            const TokenBatch &, int64_t,
                                            const LossGradFn<double> &,
                                            const ForwardOptions &);

} // namespace hone
