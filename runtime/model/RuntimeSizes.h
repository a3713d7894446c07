// The runtime's own memory: the `runtime` row (memsize::runtimeBytes, by
// the thread count) and what running steps on lanes (worker threads,
// runtime/exec/Scheduler.h) adds. hone-plan-memory plans for steps run
// inline and records how many lanes the ops name (`lanes` in
// hone.memory_plan); a job that runs its steps on lanes adds a row
// `runtime.lanes` of this size for its own thread count, and its planned
// peak grows by it (docs/runtime.md "Memory check"). Plain C++, linked by
// the runtime (and the compiler, with MemorySizes.cpp).
#pragma once

#include <cstdint>

namespace hone::memsize {

/// The runtime's own memory for the whole job, outside every model and
/// step buffer, when its kernels run OpenMP teams of `threads` threads:
/// 416 KiB for the heap of small host-side vectors (a step's outputs and
/// gradients on the host, metrics), OpenBLAS's packing buffers for the
/// small GEMMs and the memory check's sampler, and 96 KiB a thread for its
/// stack as the kernels touch it and its share of the kernels' per-thread
/// scratch on the toy models. Fitted to examples/ppo and grpo at 1, 2, 4,
/// 8 and 16 threads (93 KiB a thread measured; bench/RESULTS.md "rt6",
/// Zen 2); threads clamped to [1, 1024]. The compiler plans it at the
/// spec's hardware.threads (1 when unset); a job running more threads adds
/// the difference as a row `runtime.threads` (hone_rt_begin), so the
/// planned peak follows the thread count. The part the job brings up at
/// start-up is measured and checked against it
/// (job::MemoryCheck::measureStartup). Datasets have rows of their own
/// (runtime/data/HeldBytes.h), lane threads too when steps run on lanes
/// (laneRuntimeBytes). Not yet sized by the model's shapes
/// (larger models' per-thread kernel scratch, oneDNN's generated kernels:
/// ~2 MiB on examples/arith).
int64_t runtimeBytes(int64_t threads);

/// Bytes `lanes` lane threads add when each runs OpenMP teams of `threads`
/// threads: per lane 128 KiB for its glibc malloc arena (the host-side
/// vectors of the ops it runs land there and stay resident) and 64 KiB per
/// thread for its team's stacks. Fitted to what --lanes on added over
/// --lanes off on examples/sft-grpo and ppo (3 lanes) with 1, 2 and 4
/// threads, Zen 2 (bench/RESULTS.md, "rt6"); 0 for no lanes.
int64_t laneRuntimeBytes(int64_t lanes, int64_t threads);

} // namespace hone::memsize
