// CUDA kernels for kernels/elementwise.h: grid-stride loops over the shared
// element functions.
#include "kernels/bf16.h"
#include "kernels/cuda/check.cuh"
#include "kernels/elementwise.h"

namespace skinmtl {

template <typename T>
__global__ void add_forward_kernel(T* y, const T* a, const T* b, int64_t n) {
  CUDA_KERNEL_LOOP(i, n) { store(y, i, add_elem(load(a, i), load(b, i))); }
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

__global__ void binarize_kernel(float* y, const float* x, float t, int64_t n) {
  CUDA_KERNEL_LOOP(i, n) { y[i] = binarize_elem(x[i], t); }
}

void binarize_cuda(float* y, const float* x, float t, int64_t n, cuda_stream_t s) {
  if (n == 0) return;
  binarize_kernel<<<cuda::blocks_for(n), cuda::kThreads, 0, s>>>(y, x, t, n);
  SKINMTL_LAUNCH_CHECK();
}

void fill_cuda(float* y, float value, int64_t n, cuda_stream_t s) {
  if (n == 0) return;
  fill_kernel<<<cuda::blocks_for(n), cuda::kThreads, 0, s>>>(y, value, n);
  SKINMTL_LAUNCH_CHECK();
}

template <typename T>
void add_forward_cuda(T* y, const T* a, const T* b, int64_t n, cuda_stream_t s) {
  if (n == 0) return;
  add_forward_kernel<<<cuda::blocks_for(n), cuda::kThreads, 0, s>>>(y, a, b, n);
  SKINMTL_LAUNCH_CHECK();
}
template void add_forward_cuda<float>(float*, const float*, const float*, int64_t, cuda_stream_t);
template void add_forward_cuda<bf16>(bf16*, const bf16*, const bf16*, int64_t, cuda_stream_t);

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
