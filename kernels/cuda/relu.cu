// CUDA kernels for kernels/relu.h, for float32 and bfloat16 buffers.
#include "kernels/bf16.h"
#include "kernels/cuda/check.cuh"
#include "kernels/relu.h"

namespace skinmtl {

template <typename T>
__global__ void relu_forward_kernel(T* y, const T* x, int64_t n) {
  CUDA_KERNEL_LOOP(i, n) { store(y, i, relu_forward_elem(load(x, i))); }
}

template <typename T>
__global__ void relu_backward_kernel(T* dx, const T* dy, const T* y, int64_t n, bool accumulate) {
  CUDA_KERNEL_LOOP(i, n) {
    const float g = relu_backward_elem(load(dy, i), load(y, i));
    store(dx, i, accumulate ? load(dx, i) + g : g);
  }
}

template <typename T>
void relu_forward_cuda(T* y, const T* x, int64_t n, cuda_stream_t s) {
  if (n == 0) return;
  relu_forward_kernel<<<cuda::blocks_for(n), cuda::kThreads, 0, s>>>(y, x, n);
  SKINMTL_LAUNCH_CHECK();
}

template <typename T>
void relu_backward_cuda(T* dx, const T* dy, const T* y, int64_t n, bool accumulate, cuda_stream_t s) {
  if (n == 0) return;
  relu_backward_kernel<<<cuda::blocks_for(n), cuda::kThreads, 0, s>>>(dx, dy, y, n, accumulate);
  SKINMTL_LAUNCH_CHECK();
}

#define INSTANTIATE(T)                                                        \
  template void relu_forward_cuda<T>(T*, const T*, int64_t, cuda_stream_t); \
  template void relu_backward_cuda<T>(T*, const T*, const T*, int64_t, bool, cuda_stream_t);
INSTANTIATE(float)
INSTANTIATE(bf16)
#undef INSTANTIATE

}  // namespace skinmtl
