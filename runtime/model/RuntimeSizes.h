// The runtime's own memory beside the fixed `runtime` row
// (memsize::runtimeBytes): what running steps on lanes (worker threads,
// runtime/exec/Scheduler.h) adds. hone-plan-memory plans for steps run
// inline and records how many lanes the ops name (`lanes` in
// hone.memory_plan); a job that runs its steps on lanes adds a row
// `runtime.lanes` of this size for its own thread count, and its planned
// peak grows by it (docs/runtime.md "Memory check"). Plain C++, linked by
// the runtime (and the compiler, with MemorySizes.cpp).
#pragma once

#include <cstdint>

namespace hone::memsize {

/// Bytes `lanes` lane threads add when each runs OpenMP teams of `threads`
/// threads: per lane 128 KiB for its glibc malloc arena (the host-side
/// vectors of the ops it runs land there and stay resident) and 64 KiB per
/// thread for its team's stacks. Fitted to what --lanes on added over
/// --lanes off on examples/sft-grpo and ppo (3 lanes) with 1, 2 and 4
/// threads, Zen 2 (bench/RESULTS.md, "rt6"); 0 for no lanes.
int64_t laneRuntimeBytes(int64_t lanes, int64_t threads);

} // namespace hone::memsize
