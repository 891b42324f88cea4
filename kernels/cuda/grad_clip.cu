// CUDA kernels for kernels/grad_clip.h.
#include <cmath>

#include "kernels/cuda/block_sum.cuh"
#include "kernels/cuda/check.cuh"
#include "kernels/grad_clip.h"

namespace skinmtl {

// Block c sums the squares of chunk c in double: thread j takes elements j,
// j + 256, ... in order, then the block's tree adds the 256 partial sums. In
// double, as the CPU does: the square of a float32 gradient above 1.8e19
// overflows float32, and clipping is for exactly such gradients.
__global__ void grad_sum_squares_kernel(double* partial, const float* const* chunks, const int64_t* sizes,
                                        int64_t C) {
  __shared__ double buf[cuda::kThreads];
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    const float* g = chunks[c];
    const int n = (int)sizes[c];  // <= kGradClipChunk
    double v = 0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
      const double x = g[i];
      v += x * x;
    }
    const double total = block_sum(v, buf);
    if (threadIdx.x == 0) partial[c] = total;
  }
}

// One block: thread j adds partials j, j + 256, ... in double, then a fixed
// tree adds the 256 sums (in double as well). The factor comes from the
// double norm, so a norm beyond float32's range still clips (the reported
// norm is then inf).
__global__ void grad_clip_factor_kernel(float* norm, float* factor, const double* partial, int64_t C,
                                        float max_norm) {
  __shared__ double buf[cuda::kThreads];
  const int t = threadIdx.x;
  double v = 0;
  for (int64_t c = t; c < C; c += blockDim.x) v += partial[c];
  const double total = block_sum(v, buf);
  if (t == 0) {
    const double n = sqrt(total);
    *norm = (float)n;
    *factor = isfinite(n) && max_norm > 0 && n > max_norm ? (float)(max_norm / n) : 1.0f;
  }
}

__global__ void grad_scale_kernel(float* const* chunks, const int64_t* sizes, int64_t C, const float* factor) {
  const float f = *factor;
  if (f == 1.0f) return;
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    float* g = chunks[c];
    const int n = (int)sizes[c];
    for (int i = threadIdx.x; i < n; i += blockDim.x) g[i] *= f;
  }
}

namespace {
unsigned chunk_blocks(int64_t C) { return (unsigned)(C < 65535 ? C : 65535); }
}  // namespace

void grad_sum_squares_cuda(double* partial, const float* const* chunks, const int64_t* sizes, int64_t C,
                           cuda_stream_t s) {
  if (C == 0) return;
  grad_sum_squares_kernel<<<chunk_blocks(C), cuda::kThreads, 0, s>>>(partial, chunks, sizes, C);
  SKINMTL_LAUNCH_CHECK();
}

void grad_clip_factor_cuda(float* norm, float* factor, const double* partial, int64_t C, float max_norm,
                           cuda_stream_t s) {
  grad_clip_factor_kernel<<<1, cuda::kThreads, 0, s>>>(norm, factor, partial, C, max_norm);
  SKINMTL_LAUNCH_CHECK();
}

void grad_scale_cuda(float* const* chunks, const int64_t* sizes, int64_t C, const float* factor, cuda_stream_t s) {
  if (C == 0) return;
  grad_scale_kernel<<<chunk_blocks(C), cuda::kThreads, 0, s>>>(chunks, sizes, C, factor);
  SKINMTL_LAUNCH_CHECK();
}

}  // namespace skinmtl
