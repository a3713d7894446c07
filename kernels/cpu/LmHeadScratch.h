// The CPU kernels' LM-head scratch from the job's memory plan: the fused LM
// head (kernels/cpu/LmHead.cpp) computes its logits a vocabulary chunk at a
// time into a scratch block; a job with a memory plan hands each lane's
// kernels the plan's lm_head_scratch slot in its arena (hone_rt_begin).
#pragma once

#include "kernels/Kernels.h"

#include <cstdint>
#include <memory>

namespace hone {

/// Gives CPU kernels `k` (made by makeCpuKernels<float>) the `elems` floats
/// of `block` for the LM head's chunk of logits, used while a chunk fits
/// (else their own vector, as without); the kernels hold `block` while
/// they use it. Null: none. Returns false, and does nothing, for kernels of
/// another backend.
bool setCpuLmHeadScratch(Kernels<float> *k, std::shared_ptr<void> block,
                         int64_t elems);

} // namespace hone
