// Micro-batching with gradient accumulation: a batch too large for one
// forward/backward is split into micro-batches whose gradients add up in the
// model's gradient buffer (the kernels accumulate), so the result equals one
// backward over the whole batch up to floating-point rounding.
#pragma once

#include "runtime/model/Transformer.h"

#include <functional>

namespace hone {

/// What a loss kernel sees for one micro-batch: rows [first, first+count) of
/// the full batch and the model's outputs for them (device pointers,
/// [count, seqLen] or [count]).
template <typename T> struct MicroBatchOutputs {
  int64_t first = 0;
  int64_t count = 0;
  int64_t seqLen = 0;
  const T *logprob = nullptr;
  const T *entropy = nullptr;
  const T *values = nullptr;
  const T *rewards = nullptr;
};

/// The loss kernel: fills `grads` with dL/d(outputs) for this micro-batch
/// (pointers it owns, valid until the backward returns). The loss must be
/// normalised over the whole batch (e.g. divide by the batch's total token
/// count), since gradients simply add.
template <typename T>
using LossGradFn =
    std::function<Status(const MicroBatchOutputs<T> &, OutputGrads<T> &)>;

/// forward + loss gradient + backward over micro-batches of `microBatch`
/// sequences. Gradients accumulate (+=): call zeroGrad() first for a fresh
/// step.
template <typename T>
Status accumulateGradients(Transformer<T> &model, const TokenBatch &batch,
                           int64_t microBatch, const LossGradFn<T> &lossGrad,
                           const ForwardOptions &opts = {});

} // namespace hone
