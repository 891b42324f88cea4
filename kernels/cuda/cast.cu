// CUDA kernels for kernels/cast.h: one thread per element, as the CPU loop.
#include "kernels/cast.h"
#include "kernels/cuda/check.cuh"

namespace skinmtl {

template <typename D, typename S>
__global__ void convert_kernel(D* y, const S* x, int64_t n) {
  CUDA_KERNEL_LOOP(i, n) { store(y, i, load(x, i)); }
}

template <typename D, typename S>
__global__ void convert_add_kernel(D* y, const S* x, float alpha, int64_t n) {
  CUDA_KERNEL_LOOP(i, n) { store(y, i, load(y, i) + alpha * load(x, i)); }
}

template <typename D, typename S>
void convert_cuda(D* y, const S* x, int64_t n, cuda_stream_t s) {
  if (n == 0) return;
  convert_kernel<<<cuda::blocks_for(n), cuda::kThreads, 0, s>>>(y, x, n);
  SKINMTL_LAUNCH_CHECK();
}

template <typename D, typename S>
void convert_add_cuda(D* y, const S* x, float alpha, int64_t n, cuda_stream_t s) {
  if (n == 0) return;
  convert_add_kernel<<<cuda::blocks_for(n), cuda::kThreads, 0, s>>>(y, x, alpha, n);
  SKINMTL_LAUNCH_CHECK();
}

#define INSTANTIATE(D, S)                                                 \
  template void convert_cuda<D, S>(D*, const S*, int64_t, cuda_stream_t); \
  template void convert_add_cuda<D, S>(D*, const S*, float, int64_t, cuda_stream_t);
INSTANTIATE(float, bf16)
INSTANTIATE(bf16, float)
INSTANTIATE(bf16, bf16)
#undef INSTANTIATE

}  // namespace skinmtl
