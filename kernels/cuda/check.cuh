// kernels/cuda/check.cuh: checked CUDA, cuBLAS and cuDNN calls, and the
// grid-stride loop every hand-written kernel uses.
//
// Every runtime/library call goes through one of the CHECK macros, which throw
// skinmtl::Error naming file:line and the library's own error string. After
// each kernel launch, SKINMTL_LAUNCH_CHECK() reads cudaGetLastError() so a bad
// launch configuration is reported where it happened, not at the next sync.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include "kernels/common.h"

#define CUDA_CHECK(call)                                                         \
  do {                                                                           \
    cudaError_t e_ = (call);                                                     \
    if (e_ != cudaSuccess)                                                       \
      ::skinmtl::fail_at(__FILE__, __LINE__,                                     \
                         std::string("CUDA error: ") + cudaGetErrorString(e_) + \
                             " in " #call);                                      \
  } while (0)

#define CUBLAS_CHECK(call)                                                          \
  do {                                                                              \
    cublasStatus_t s_ = (call);                                                     \
    if (s_ != CUBLAS_STATUS_SUCCESS)                                                \
      ::skinmtl::fail_at(__FILE__, __LINE__,                                        \
                         std::string("cuBLAS error: ") + cublasGetStatusString(s_) + \
                             " in " #call);                                         \
  } while (0)

#define CUDNN_CHECK(call)                                                        \
  do {                                                                           \
    cudnnStatus_t s_ = (call);                                                   \
    if (s_ != CUDNN_STATUS_SUCCESS)                                              \
      ::skinmtl::fail_at(__FILE__, __LINE__,                                     \
                         std::string("cuDNN error: ") + cudnnGetErrorString(s_) + \
                             " in " #call);                                      \
  } while (0)

#define SKINMTL_LAUNCH_CHECK() CUDA_CHECK(cudaGetLastError())

// Grid-stride loop (Caffe's CUDA_KERNEL_LOOP): correct for any launch size,
// so a launcher may cap the grid without losing elements.
#define CUDA_KERNEL_LOOP(i, n)                                                   \
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (int64_t)(n); \
       i += (int64_t)blockDim.x * gridDim.x)

// The same loop with the index in type I. Elementwise kernels that split a
// flat index with divisions use I = uint32_t when index_fits_32(n) (a 32-bit
// division is a few instructions, a 64-bit one a long software routine), so
// that i plus one grid's stride (at most 2^24) cannot wrap; int64_t otherwise.
#define CUDA_KERNEL_LOOP_T(I, i, n) \
  for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (I)blockDim.x * gridDim.x)

namespace skinmtl::cuda {

constexpr int kThreads = 256;

// Whether a flat index over n elements fits CUDA_KERNEL_LOOP_T's 32-bit form.
inline bool index_fits_32(int64_t n) { return n < ((int64_t)1 << 31); }

// Loads each thread of a strided reduction issues before it adds them (one
// load in flight per thread leaves an SM's memory pipe mostly empty).
constexpr int kLoadsInFlight = 8;

// Blocks for n elements at kThreads per block, capped: the grid-stride loop
// covers the rest.
inline int blocks_for(int64_t n) {
  int64_t b = (n + kThreads - 1) / kThreads;
  if (b < 1) b = 1;
  if (b > 65535) b = 65535;
  return (int)b;
}

// The library handles, created on first use and bound to the project's stream
// (see kernels/device.h). One per process: skinmtl drives one GPU.
cublasHandle_t cublas_handle();
cudnnHandle_t cudnn_handle();

}  // namespace skinmtl::cuda
