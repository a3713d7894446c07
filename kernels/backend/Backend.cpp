#include "kernels/backend/Backend.h"

#include "kernels/cpu/CpuKernels.h"
#ifdef HONE_HAVE_CUDA_BACKEND
#include "kernels/cuda/CudaKernels.h"
#endif

#include <string>

namespace hone {

bool haveCudaBackend() {
#ifdef HONE_HAVE_CUDA_BACKEND
  return true;
#else
  return false;
#endif
}

int64_t deviceAllocatorPeakBytes() {
#ifdef HONE_HAVE_CUDA_BACKEND
  return cudaAllocatorPeakBytes();
#else
  return -1;
#endif
}

Expected<std::unique_ptr<Kernels<float>>> makeKernels(std::string_view device) {
  if (device == "cpu")
    return makeCpuKernels<float>();
  if (device != "cuda")
    return Status::error("unknown device '" + std::string(device) + "'",
                         "use cpu or cuda");
#ifdef HONE_HAVE_CUDA_BACKEND
  std::string why;
  std::unique_ptr<Kernels<float>> k = makeCudaKernels(0, &why);
  if (!k)
    return Status::error(why, "run with --device cpu");
  return k;
#else
  return Status::error("this executable was built without the CUDA backend",
                       "rebuild with -DHONE_ENABLE_CUDA=ON or run with "
                       "--device cpu");
#endif
}

} // namespace hone
