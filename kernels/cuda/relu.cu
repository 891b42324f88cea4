// CUDA kernels for kernels/relu.h.
#include "kernels/cuda/check.cuh"
#include "kernels/relu.h"

namespace skinmtl {

__global__ void relu_forward_kernel(float* y, const float* x, int64_t n) {
  CUDA_KERNEL_LOOP(i, n) { y[i] = relu_forward_elem(x[i]); }
}

__global__ void relu_backward_kernel(float* dx, const float* dy, const float* y, int64_t n) {
  CUDA_KERNEL_LOOP(i, n) { dx[i] += relu_backward_elem(dy[i], y[i]); }
}

void relu_forward_cuda(float* y, const float* x, int64_t n, cuda_stream_t s) {
  if (n == 0) return;
  relu_forward_kernel<<<cuda::blocks_for(n), cuda::kThreads, 0, s>>>(y, x, n);
  SKINMTL_LAUNCH_CHECK();
}

void relu_backward_cuda(float* dx, const float* dy, const float* y, int64_t n, cuda_stream_t s) {
  if (n == 0) return;
  relu_backward_kernel<<<cuda::blocks_for(n), cuda::kThreads, 0, s>>>(dx, dy, y, n);
  SKINMTL_LAUNCH_CHECK();
}

}  // namespace skinmtl
