// CUDA kernel for kernels/sgd.h: one thread per element (grid-stride), each
// element independent of the others, so no reduction and no atomics.
#include "kernels/cuda/check.cuh"
#include "kernels/sgd.h"

namespace skinmtl {

__global__ void sgd_update_kernel(float* w, float* v, const float* g, float lr_eff,
                                  float momentum, float wd_eff, int64_t n) {
  CUDA_KERNEL_LOOP(i, n) { sgd_update_elem(w[i], v[i], g[i], lr_eff, momentum, wd_eff); }
}

void sgd_update_cuda(float* w, float* v, const float* g, float lr_eff, float momentum,
                     float wd_eff, int64_t n, cuda_stream_t s) {
  if (n == 0) return;
  sgd_update_kernel<<<cuda::blocks_for(n), cuda::kThreads, 0, s>>>(w, v, g, lr_eff, momentum,
                                                                   wd_eff, n);
  SKINMTL_LAUNCH_CHECK();
}

}  // namespace skinmtl
