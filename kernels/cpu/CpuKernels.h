// The CPU backend of kernels/Kernels.h: OpenBLAS for GEMM, OpenMP across
// cores, fp32 for speed and fp64 for gradient checks.
#pragma once

#include "kernels/Kernels.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace hone {

template <typename T> std::unique_ptr<Kernels<T>> makeCpuKernels();

extern template std::unique_ptr<Kernels<float>> makeCpuKernels<float>();
extern template std::unique_ptr<Kernels<double>> makeCpuKernels<double>();

/// Threads the CPU kernels use (OpenMP) and OpenBLAS uses, for the calling
/// thread (as OpenMP's own count is): a lane thread sets its share without
/// changing the others'. A thread that never set it reads OpenMP's default.
void setCpuThreads(int n);
int cpuThreads();

/// Fixes glibc's mmap threshold for the process at `bytes` (mallopt; the
/// job's 128 KiB, so that freed buffers leave the resident set:
/// docs/runtime.md), except while a oneDNN GEMM runs, when it and the trim
/// threshold are 32 MiB so that oneDNN's per-call packing buffers are reused
/// from the malloc heap instead of being mapped and unmapped on every call
/// (kernels/cpu/Gemm.cpp, OneDnnCall; HONE_CPU_ONEDNN_HEAP=off maps them on
/// every call, for A/B measurements). Never called: glibc's own threshold,
/// which adapts to the blocks freed.
void setCpuMmapThreshold(size_t bytes);

/// Why the float kernels cannot run their GEMMs in bf16 here (no AVX-512
/// BF16 or AMX on this CPU, or no oneDNN in this build), or "" when they can.
std::string cpuBf16Unsupported();
/// The float kernels' GEMMs (linear layers, LM head; not the attention
/// score products) in bf16 with fp32 accumulation when `on` and supported;
/// weights, activations and gradients stay fp32 in memory. Returns whether
/// bf16 is now on. Process-wide.
bool setCpuBf16Gemm(bool on);
bool cpuBf16Gemm();
/// GEMMs with fewer rows (m) than this stay in fp32 even with bf16 on:
/// packing the weight operand costs more than bf16 saves there (decoding's
/// 64-row GEMMs ran 2.4x slower in bf16; bench/RESULTS.md, "Frozen models in
/// bf16"). A function of the shape only, so results stay thread-independent.
constexpr int64_t kCpuBf16MinRows = 256;

} // namespace hone
