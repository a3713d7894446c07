// The one place a backend of kernels/Kernels.h is chosen (docs/design.md,
// "Layering"): the job driver (runtime/job/Driver.cpp) and the lanes of the
// C ABI (runtime/abi/HoneRuntime.cpp) both call makeKernels.
#pragma once

#include "kernels/Kernels.h"
#include "runtime/base/Status.h"

#include <memory>
#include <string_view>

namespace hone {

/// True when this build has the CUDA backend (kernels/cuda, built wherever
/// nvcc exists).
bool haveCudaBackend();

/// The float32 kernels of `device`: "cpu", or "cuda" (GPU 0). A backend this
/// build lacks, a GPU that cannot be used or another name is an error that
/// says why, with a hint.
Expected<std::unique_ptr<Kernels<float>>> makeKernels(std::string_view device);

/// The device allocator's peak (bytes the CUDA backends held at once:
/// cudaAllocatorPeakBytes); -1 in a build without the CUDA backend.
int64_t deviceAllocatorPeakBytes();

} // namespace hone
