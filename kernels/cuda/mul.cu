// CUDA kernels for kernels/mul.h.
#include "kernels/cuda/check.cuh"
#include "kernels/mul.h"

namespace skinmtl {

__global__ void mul_forward_kernel(float* y, const float* a, const float* b, int64_t n) {
  CUDA_KERNEL_LOOP(i, n) { y[i] = mul_elem(a[i], b[i]); }
}

__global__ void mul_backward_kernel(float* dx, const float* dy, const float* other, int64_t n) {
  CUDA_KERNEL_LOOP(i, n) { dx[i] += mul_backward_elem(dy[i], other[i]); }
}

void mul_forward_cuda(float* y, const float* a, const float* b, int64_t n, cuda_stream_t s) {
  if (n == 0) return;
  mul_forward_kernel<<<cuda::blocks_for(n), cuda::kThreads, 0, s>>>(y, a, b, n);
  SKINMTL_LAUNCH_CHECK();
}

void mul_backward_cuda(float* dx, const float* dy, const float* other, int64_t n,
                       cuda_stream_t s) {
  if (n == 0) return;
  mul_backward_kernel<<<cuda::blocks_for(n), cuda::kThreads, 0, s>>>(dx, dy, other, n);
  SKINMTL_LAUNCH_CHECK();
}

}  // namespace skinmtl
