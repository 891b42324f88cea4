// CUDA kernels for kernels/elementwise.h: grid-stride loops over the shared
// element functions.
#include "kernels/cuda/check.cuh"
#include "kernels/elementwise.h"

namespace skinmtl {

__global__ void add_forward_kernel(float* y, const float* a, const float* b, int64_t n) {
  CUDA_KERNEL_LOOP(i, n) { y[i] = add_elem(a[i], b[i]); }
}

__global__ void scale_forward_kernel(float* y, const float* x, float alpha, int64_t n) {
  CUDA_KERNEL_LOOP(i, n) { y[i] = alpha * x[i]; }
}

__global__ void axpy_kernel(float* y, const float* x, float alpha, int64_t n) {
  CUDA_KERNEL_LOOP(i, n) { y[i] = axpy_elem(y[i], x[i], alpha); }
}

__global__ void fill_kernel(float* y, float value, int64_t n) {
  CUDA_KERNEL_LOOP(i, n) { y[i] = value; }
}

void fill_cuda(float* y, float value, int64_t n, cuda_stream_t s) {
  if (n == 0) return;
  fill_kernel<<<cuda::blocks_for(n), cuda::kThreads, 0, s>>>(y, value, n);
  SKINMTL_LAUNCH_CHECK();
}

void add_forward_cuda(float* y, const float* a, const float* b, int64_t n, cuda_stream_t s) {
  if (n == 0) return;
  add_forward_kernel<<<cuda::blocks_for(n), cuda::kThreads, 0, s>>>(y, a, b, n);
  SKINMTL_LAUNCH_CHECK();
}

void scale_forward_cuda(float* y, const float* x, float alpha, int64_t n, cuda_stream_t s) {
  if (n == 0) return;
  scale_forward_kernel<<<cuda::blocks_for(n), cuda::kThreads, 0, s>>>(y, x, alpha, n);
  SKINMTL_LAUNCH_CHECK();
}

void axpy_cuda(float* y, const float* x, float alpha, int64_t n, cuda_stream_t s) {
  if (n == 0) return;
  axpy_kernel<<<cuda::blocks_for(n), cuda::kThreads, 0, s>>>(y, x, alpha, n);
  SKINMTL_LAUNCH_CHECK();
}

}  // namespace skinmtl
