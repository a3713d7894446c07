// The CUDA backend of kernels/Kernels.h: cuBLAS for GEMM, hand-written
// kernels (.cu) for everything else, one CUDA stream per Kernels object.
// This header includes no CUDA headers, so host-only code (the runtime, the
// tests, the benchmark) can pick the backend without nvcc.
//
// Numerics: fp32 storage and fp32 arithmetic everywhere (double for
// sumSquares and the sampler's sums). GEMM math is fp32 by default; TF32 or
// bf16 tensor cores (fp32 inputs, outputs and accumulation) are opt-in via
// CudaKernelOptions::gemmMath or the environment variable
// HONE_CUDA_GEMM=fp32|tf32|bf16. Results are deterministic for a given GPU
// model and toolkit: no atomics on floating-point data, fixed reduction
// orders, fixed launch shapes that depend only on the problem shape.
//
// Linking: the CUDA runtime statically; cuBLAS (libcublas.so.<major>) is
// loaded with dlopen when the first backend object is made, so CPU-only runs
// of programs that link this library never load it.
//
// Errors: a failing CUDA or cuBLAS call prints one line naming the call,
// file:line and the CUDA error string, then aborts (the Kernels interface has
// no error channel). Out of device memory in allocBytes returns nullptr
// instead, so that callers report it as a Status.
#pragma once

#include "kernels/Kernels.h"

#include <memory>
#include <string>

namespace hone {

enum class CudaGemmMath {
  FP32, // plain fp32 (CUBLAS_COMPUTE_32F, default math mode)
  TF32, // tensor cores, inputs rounded to TF32, fp32 accumulation
  BF16, // tensor cores, inputs rounded to bf16, fp32 accumulation
};

const char *cudaGemmMathName(CudaGemmMath m);

struct CudaKernelOptions {
  int device = 0;
  /// Unset: HONE_CUDA_GEMM from the environment, else FP32.
  bool gemmMathSet = false;
  CudaGemmMath gemmMath = CudaGemmMath::FP32;
};

/// Number of CUDA devices visible to this process; 0 when there is none or
/// when the driver is missing (never aborts).
int cudaDeviceCount();
/// True when at least one CUDA device can be used.
bool cudaDeviceAvailable();
/// One line about device `ordinal` ("NVIDIA H100 80GB HBM3, sm_90, 132 SMs,
/// 79.2 GiB, driver 13.0, runtime 13.0"), or why there is none.
std::string cudaDeviceSummary(int ordinal = 0);

/// The CUDA backend on device `deviceOrdinal`; nullptr when the device
/// cannot be used, with the reason in *whyNot (e.g. "no CUDA device: CUDA
/// driver version is insufficient for CUDA runtime version").
std::unique_ptr<Kernels<float>> makeCudaKernels(int deviceOrdinal = 0,
                                                std::string *whyNot = nullptr);
std::unique_ptr<Kernels<float>>
makeCudaKernels(const CudaKernelOptions &opts, std::string *whyNot = nullptr);

/// The most device bytes the CUDA backends of this process held at once
/// through their allocations (allocBytes blocks, the GEMM workspace;
/// cuBLAS's and the context's own memory not counted); 0 before any.
int64_t cudaAllocatorPeakBytes();

/// Loads cuBLAS (makeCudaKernels does it on first use; no GPU needed):
/// false with a one-line reason when the library cannot be loaded.
bool cudaLoadBlas(std::string *whyNot = nullptr);

/// The one-line message a failing CUDA runtime call produces (exposed so that
/// the format can be tested without a GPU); `code` is a cudaError_t.
std::string cudaErrorLine(int code, const char *call, const char *file,
                          int line);

} // namespace hone
