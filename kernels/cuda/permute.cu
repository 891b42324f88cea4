// CUDA kernel for kernels/permute.h: one thread per destination element.
// Consecutive threads write consecutive destination elements (coalesced
// writes); the reads are strided wherever the permutation moves the last dim.
#include "kernels/cuda/check.cuh"
#include "kernels/permute.h"

namespace skinmtl {

__global__ void permute_copy_kernel(float* dst, const float* src, PermuteGeometry g, int64_t n,
                                    bool accumulate) {
  CUDA_KERNEL_LOOP(e, n) {
    const float v = src[permute_source_index(e, g)];
    if (accumulate) {
      dst[e] += v;
    } else {
      dst[e] = v;
    }
  }
}

void permute_copy_cuda(float* dst, const float* src, const PermuteGeometry& g, int64_t n,
                       bool accumulate, cuda_stream_t s) {
  if (n == 0) return;  // also keeps permute_source_index from dividing by a zero size
  permute_copy_kernel<<<cuda::blocks_for(n), cuda::kThreads, 0, s>>>(dst, src, g, n, accumulate);
  SKINMTL_LAUNCH_CHECK();
}

}  // namespace skinmtl
