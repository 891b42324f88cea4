// CUDA kernel for kernels/copy_strided.h: one grid-stride loop over the
// outer * len * inner elements of the block.
#include "kernels/copy_strided.h"
#include "kernels/cuda/check.cuh"

namespace skinmtl {

// Consecutive threads take consecutive e, hence consecutive i (the innermost
// index): reads and writes are coalesced along rows of `inner` elements. Every
// (dst_pos) is written by exactly one thread, so += needs no atomics.
template <typename T>
__global__ void copy_block_kernel(T* dst, int64_t dst_dim_len, int64_t dst_offset, const T* src, int64_t src_dim_len, int64_t src_offset,
                                  int64_t len, int64_t inner, int64_t total, bool accumulate) {
  CUDA_KERNEL_LOOP(e, total) {
    int64_t d, s;
    copy_block_index(e, len, inner, dst_dim_len, dst_offset, src_dim_len, src_offset, &d, &s);
    if (accumulate) {
      store(dst, d, load(dst, d) + load(src, s));
    } else {
      dst[d] = src[s];
    }
  }
}

template <typename T>
void copy_block_cuda(T* dst, int64_t dst_dim_len, int64_t dst_offset, const T* src,
                     int64_t src_dim_len, int64_t src_offset, int64_t outer, int64_t len,
                     int64_t inner, bool accumulate, cuda_stream_t s) {
  const int64_t total = outer * len * inner;
  if (total == 0) return;  // also keeps copy_block_index from dividing by zero
  copy_block_kernel<<<cuda::blocks_for(total), cuda::kThreads, 0, s>>>(
      dst, dst_dim_len, dst_offset, src, src_dim_len, src_offset, len, inner, total, accumulate);
  SKINMTL_LAUNCH_CHECK();
}

template void copy_block_cuda<float>(float*, int64_t, int64_t, const float*, int64_t, int64_t, int64_t, int64_t,
                                     int64_t, bool, cuda_stream_t);
template void copy_block_cuda<bf16>(bf16*, int64_t, int64_t, const bf16*, int64_t, int64_t, int64_t, int64_t,
                                    int64_t, bool, cuda_stream_t);

}  // namespace skinmtl
