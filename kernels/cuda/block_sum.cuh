// kernels/cuda/block_sum.cuh: the sum of one value per thread over a block,
// for kernels that reduce one row (a channel, a weight row) per block.
#pragma once

namespace skinmtl {

// The sum of `v` over all threads of the block, returned to every thread.
// buf holds blockDim.x values (float or double) of shared memory; blockDim.x
// must be a power of two (the launchers use cuda::kThreads = 256). A fixed
// binary tree: at each step thread t < stride adds buf[t + stride] into
// buf[t], so the result does not depend on timing.
template <typename T>
__device__ inline T block_sum(T v, T* buf) {
  const int t = threadIdx.x;
  buf[t] = v;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride >>= 1) {
    if (t < stride) buf[t] += buf[t + stride];
    __syncthreads();
  }
  const T total = buf[0];
  __syncthreads();  // all threads have read buf[0] before buf is reused
  return total;
}

}  // namespace skinmtl
