// CUDA kernels for kernels/reduce.h: a deterministic two-stage tree reduction.
#include "kernels/cuda/check.cuh"
#include "kernels/reduce.h"

namespace skinmtl {

// Block b writes scale * (the sum of its share of x) to out[b]. Launched with
// exactly kSumThreads threads per block (the shared array and the halving tree
// assume it).
//
// Thread t of block b first adds up, in a register and in index order, the
// elements i = b * kSumThreads + t + k * (gridDim.x * kSumThreads), k = 0, 1, ...
// (the grid-stride loop). The block's kSumThreads values then go into shared
// memory and are added pairwise: at each step thread t < stride adds the value
// `stride` places above it, halving the count until buf[0] holds the total.
// Which values meet at each addition depends only on n and the grid size,
// never on timing, so the result is the same bits on every run.
__global__ void block_sum_kernel(float* out, const float* x, int64_t n, float scale) {
  __shared__ float buf[kSumThreads];
  float acc = 0.0f;
  CUDA_KERNEL_LOOP(i, n) { acc += x[i]; }
  buf[threadIdx.x] = acc;
  __syncthreads();
  for (int stride = kSumThreads / 2; stride > 0; stride /= 2) {
    if ((int)threadIdx.x < stride) buf[threadIdx.x] += buf[threadIdx.x + stride];
    __syncthreads();  // outside the if: every thread of the block must reach it
  }
  if (threadIdx.x == 0) out[blockIdx.x] = scale * buf[0];
}

// dx[i] += scale * dy[0]. Every thread reads the same scalar from device
// memory (served by the cache after the first read), so the host never waits.
__global__ void sum_backward_kernel(float* dx, const float* dy, int64_t n, float scale) {
  const float g = scale * dy[0];
  CUDA_KERNEL_LOOP(i, n) { dx[i] += g; }
}

void sum_forward_cuda(float* y, float* partials, const float* x, int64_t n, float scale,
                      cuda_stream_t s) {
  // Even for n == 0 one block runs, so that y is written (with 0).
  const int64_t g = sum_cuda_partials(n);
  if (g == 1) {
    block_sum_kernel<<<1, kSumThreads, 0, s>>>(y, x, n, scale);
    SKINMTL_LAUNCH_CHECK();
    return;
  }
  block_sum_kernel<<<(int)g, kSumThreads, 0, s>>>(partials, x, n, 1.0f);  // stage 1
  SKINMTL_LAUNCH_CHECK();
  block_sum_kernel<<<1, kSumThreads, 0, s>>>(y, partials, g, scale);      // stage 2
  SKINMTL_LAUNCH_CHECK();
}

void sum_backward_cuda(float* dx, const float* dy, int64_t n, float scale, cuda_stream_t s) {
  if (n == 0) return;
  sum_backward_kernel<<<cuda::blocks_for(n), cuda::kThreads, 0, s>>>(dx, dy, n, scale);
  SKINMTL_LAUNCH_CHECK();
}

}  // namespace skinmtl
