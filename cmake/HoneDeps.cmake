# Third-party dependencies, all from Debian packages (scripts/setup-deps).
find_package(Threads REQUIRED)
find_package(OpenMP REQUIRED COMPONENTS CXX)

set(BLA_VENDOR OpenBLAS)
find_package(BLAS REQUIRED)
find_path(HONE_CBLAS_INCLUDE_DIR cblas.h
  PATHS /usr/include/x86_64-linux-gnu/openblas-pthread /usr/include/openblas
        /usr/include/x86_64-linux-gnu /usr/include)

# oneDNN (libdnnl-dev): bf16 GEMMs on CPUs with AVX-512 BF16 or AMX. Optional:
# without it hardware.precision bf16 runs in fp32 with a message.
find_path(HONE_DNNL_INCLUDE_DIR oneapi/dnnl/dnnl.h)
find_library(HONE_DNNL_LIBRARY dnnl)

find_package(PkgConfig REQUIRED)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)

find_package(Protobuf REQUIRED)
find_package(GTest REQUIRED)
include(GoogleTest)
find_package(benchmark QUIET)
find_package(MPI QUIET COMPONENTS C)

# CUDA: compiled and linked wherever nvcc exists, so CI proves it builds even
# on machines without a GPU; run only where a GPU is present.
set(HONE_HAVE_CUDA OFF)
if(NOT HONE_ENABLE_CUDA STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 90)
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    set(HONE_HAVE_CUDA ON)
  elseif(HONE_ENABLE_CUDA STREQUAL "ON")
    message(FATAL_ERROR "HONE_ENABLE_CUDA=ON but no nvcc was found")
  else()
    message(STATUS "Hone: no nvcc found; building the CPU backend only")
  endif()
endif()

find_program(HONE_CLANGXX clang++)
