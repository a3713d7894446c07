/* The loss-kernel seam between generated code and the runtime (C ABI).
 *
 * A loss kernel is `void fn(void **args)` in the "packed" convention:
 * args[i] points to the i-th argument. For a micro-batch of R rows and
 * sequence length T:
 *
 *   args[0]                 const int64_t dims[2] = {R, T} (kernels compiled
 *                           for static shapes may ignore it)
 *   args[1 .. n]            the n inputs, in the order the kernel's signature
 *                           names them: const float*, per-token [R, T],
 *                           per-sequence [R] or global [k]
 *   args[n + 1]             float loss[1]          (output)
 *   args[n + 2 .. n + 1 + g] the g gradient outputs in signature order:
 *                           float dlogprob/dentropy/dvalue [R, T],
 *                           float dreward [R]
 *   then                    s statistics, float[1] each (clip_ratio, kl ...)
 *
 * Every output is zero-filled by the runtime before the call. Losses,
 * gradients and statistics must already be normalised over the WHOLE
 * batch (the runtime passes its totals as the global inputs batch_tokens
 * and batch_seqs), because the runtime sums them over micro-batches.
 * Kernels must not keep pointers past the call and must be reentrant.
 */
#ifndef HONE_RUNTIME_JOB_LOSSABI_H
#define HONE_RUNTIME_JOB_LOSSABI_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef void (*hone_loss_fn)(void **args);

/* Hand-written reference kernels (runtime/job/Losses.cpp).
 * SFT:  inputs logprob[R,T], mask[R,T], batch_tokens[1];
 *       loss = -sum(mask*logprob)/batch_tokens; grads: dlogprob.
 * GRPO: inputs logprob, old_logprob, ref_logprob, advantage, mask [R,T],
 *       batch_tokens[1], batch_seqs[1], hparams[5] = {eps_low, eps_high,
 *       beta (k3 KL), aggregation (0 seq-mean of token-means, 1 token-mean
 *       over the batch, 2 sum / (hparams[4] * batch_seqs)), constant};
 *       grads: dlogprob; stats: clip_ratio, kl. */
void hone_loss_sft_ref(void **args);
void hone_loss_grpo_ref(void **args);

#ifdef __cplusplus
}
#endif

#endif
