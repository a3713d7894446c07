// The CPU backend of kernels/Kernels.h: OpenBLAS for GEMM, OpenMP across
// cores, fp32 for speed and fp64 for gradient checks.
#pragma once

#include "kernels/Kernels.h"

#include <memory>

namespace hone {

template <typename T> std::unique_ptr<Kernels<T>> makeCpuKernels();

extern template std::unique_ptr<Kernels<float>> makeCpuKernels<float>();
extern template std::unique_ptr<Kernels<double>> makeCpuKernels<double>();

/// Threads the CPU kernels use (OpenMP) and OpenBLAS uses.
void setCpuThreads(int n);
int cpuThreads();

} // namespace hone
