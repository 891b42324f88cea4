// CUDA kernels for kernels/batch_norm.h (hand-written, not cuDNN).
//
// Two kinds of kernel:
//  - per-channel reductions (the training statistics; the backward sums):
//    one block of cuda::kThreads threads per channel. Thread t Kahan-sums the
//    channel's elements t, t + kThreads, t + 2 kThreads, ... (consecutive
//    threads read consecutive addresses within a run of HW values, so the
//    loads coalesce); then block_sum() combines the kThreads partial sums in a
//    fixed tree in shared memory. The order of every addition is fixed by the
//    launch shape alone, so results are bitwise reproducible; no atomics.
//    Two things keep these loops near the memory bound: a ChannelCursor walks
//    the element addresses with an add and a compare (no 64-bit division per
//    element, which costs more than the load), and each thread issues
//    cuda::kLoadsInFlight loads before it adds any of them (cuda/check.cuh).
//    Neither changes the order of the additions. One block per channel keeps the code simple; it leaves
//    SMs idle when C is small next to the GPU's SM count (ResNet-50's
//    64-channel layers on an H100's 132 SMs), a known cost.
//  - elementwise passes (normalize, dx): grid-stride loops over N*C*HW, the
//    channel of flat index i being (i / HW) % C, in 32-bit arithmetic where
//    it fits (CUDA_KERNEL_LOOP_T and index_fits_32, cuda/check.cuh).
// The activations x, y, dy, dx are float32 or bfloat16 (X); every sum and
// element function runs in float32 (load / store, kernels/bf16.h), and the
// per-channel vectors (mean, invstd, gamma, beta, running statistics, the
// sums) are float32 always.
#include <cstdint>

#include "kernels/batch_norm.h"
#include "kernels/bf16.h"
#include "kernels/cuda/block_sum.cuh"
#include "kernels/cuda/check.cuh"

namespace skinmtl {
namespace {

// This thread's K Kahan sums over its elements of channel c (threadIdx.x,
// + blockDim.x, ...) of (N, C, HW) buffers a and b (b may be null: then a
// stands in for it), in element order: for each element, term(a[k], b[k], t)
// sets the K terms t[0..K-1] to add. cuda::kLoadsInFlight elements are
// loaded before the first of their terms is added.
template <int K, typename X, typename Term>
__device__ __forceinline__ void channel_thread_sums(float (&out)[K], const X* a, const X* b, int64_t N,
                                                    int64_t c, int64_t C, int64_t HW, Term term) {
  if (!b) b = a;
  const int64_t M = N * HW, step = blockDim.x;
  ChannelCursor cur(c, C, HW, threadIdx.x, step);
  KahanSum<float> s[K];
  float t[K];
  int64_t i = threadIdx.x;
  for (; i + (cuda::kLoadsInFlight - 1) * step < M; i += cuda::kLoadsInFlight * step) {
    float va[cuda::kLoadsInFlight], vb[cuda::kLoadsInFlight];
#pragma unroll
    for (int u = 0; u < cuda::kLoadsInFlight; ++u) {
      const int64_t k = cur.offset();
      va[u] = load(a, k);
      vb[u] = load(b, k);
      cur.advance();
    }
#pragma unroll
    for (int u = 0; u < cuda::kLoadsInFlight; ++u) {
      term(va[u], vb[u], t);
#pragma unroll
      for (int q = 0; q < K; ++q) s[q].add(t[q]);
    }
  }
  for (; i < M; i += step) {
    const int64_t k = cur.offset();
    term(load(a, k), load(b, k), t);
#pragma unroll
    for (int q = 0; q < K; ++q) s[q].add(t[q]);
    cur.advance();
  }
#pragma unroll
  for (int q = 0; q < K; ++q) out[q] = s[q].sum;
}

// One block per channel (blockIdx.x = c): two-pass mean and biased variance,
// then thread 0 writes mean/invstd and updates the running statistics.
template <typename X>
__global__ void bn_train_stats_kernel(float* mean, float* invstd, float* running_mean,
                                      float* running_var, const X* x, int64_t N, int64_t C,
                                      int64_t HW, float eps, float momentum) {
  __shared__ float buf[cuda::kThreads];
  const int64_t c = blockIdx.x;
  const int64_t M = N * HW;
  // Pass 1: the mean.
  float sum[1];
  channel_thread_sums(sum, x, (const X*)nullptr, N, c, C, HW, [](float v, float, float(&t)[1]) { t[0] = v; });
  const float mu = block_sum(sum[0], buf) / (float)M;
  // Pass 2: the mean of squared deviations (no E[x^2] - E[x]^2 cancellation).
  channel_thread_sums(sum, x, (const X*)nullptr, N, c, C, HW, [mu](float v, float, float(&t)[1]) {
    const float d = v - mu;
    t[0] = d * d;
  });
  const float var = block_sum(sum[0], buf) / (float)M;
  if (threadIdx.x == 0) {
    mean[c] = mu;
    invstd[c] = 1.f / sqrtf(var + eps);  // IEEE sqrtf and division, as the CPU loop
    const float unbiased = var * ((float)M / (float)(M - 1));
    running_mean[c] = bn_running_update_elem(running_mean[c], mu, momentum);
    running_var[c] = bn_running_update_elem(running_var[c], unbiased, momentum);
  }
}

__global__ void bn_frozen_stats_kernel(float* mean, float* invstd, const float* running_mean,
                                       const float* running_var, int64_t C, float eps) {
  CUDA_KERNEL_LOOP(c, C) {
    mean[c] = running_mean[c];
    invstd[c] = 1.f / sqrtf(running_var[c] + eps);
  }
}

// y = act(bn(x) (+ r)), formed in float32 and stored once (kernels/batch_norm.h).
template <typename I, typename X>
__global__ void bn_normalize_kernel(X* y, const X* x, const X* residual, const float* mean,
                                    const float* invstd, const float* gamma, const float* beta,
                                    I C, I HW, I total, bool relu) {
  CUDA_KERNEL_LOOP_T(I, i, total) {
    const I c = (i / HW) % C;
    float v = bn_normalize_elem(load(x, i), mean[c], invstd[c], gamma[c], beta[c]);
    if (residual) v = v + load(residual, i);
    store(y, i, relu ? relu_forward_elem(v) : v);
  }
}

// One block per channel: sum_dy and sum_dy_xhat into sums[c], sums[C + c];
// thread 0 also accumulates dgamma/dbeta when they are wanted.
template <typename X>
__global__ void bn_backward_reduce_kernel(float* dgamma, float* dbeta, float* sums,
                                          const X* dy, const X* x, const float* mean,
                                          const float* invstd, int64_t N, int64_t C, int64_t HW) {
  __shared__ float buf[cuda::kThreads];
  const int64_t c = blockIdx.x;
  const float mu = mean[c], is = invstd[c];
  float sum[2];  // sum dy, sum dy * xhat
  channel_thread_sums(sum, dy, x, N, c, C, HW, [mu, is](float g, float v, float(&t)[2]) {
    t[0] = g;
    t[1] = g * ((v - mu) * is);
  });
  const float sum_dy = block_sum(sum[0], buf);
  const float sum_dy_xhat = block_sum(sum[1], buf);
  if (threadIdx.x == 0) {
    sums[c] = sum_dy;
    sums[C + c] = sum_dy_xhat;
    if (dgamma) dgamma[c] += sum_dy_xhat;
    if (dbeta) dbeta[c] += sum_dy;
  }
}

// dx += the per-element gradient (dx = when accumulate is false); sums is
// read only in training mode.
// M: the values per channel the sums were taken over (N * HW, or all
// processes' for synchronised batch norm).
template <typename I, typename X>
__global__ void bn_backward_dx_kernel(X* dx, const float* sums, const X* dy, const X* x,
                                      const float* mean, const float* invstd, const float* gamma,
                                      I C, I HW, I total, int64_t Mtot, bool training, bool accumulate) {
  const float M = (float)Mtot;
  CUDA_KERNEL_LOOP_T(I, i, total) {
    const I c = (i / HW) % C;
    const float g = load(dy, i);
    const float grad = training ? bn_backward_train_elem(g, load(x, i), mean[c], invstd[c], gamma[c], sums[c] / M,
                                                         sums[C + c] / M)
                                : bn_backward_frozen_elem(g, invstd[c], gamma[c]);
    store(dx, i, accumulate ? load(dx, i) + grad : grad);
  }
}

// Synchronised pieces. One block per channel: sum x, or sum (x - mean)^2.
template <typename X>
__global__ void bn_sum_kernel(float* out, const X* x, const float* mean, int64_t N, int64_t C, int64_t HW) {
  __shared__ float buf[cuda::kThreads];
  const int64_t c = blockIdx.x;
  float sum[1];
  if (mean) {
    const float mu = mean[c];
    channel_thread_sums(sum, x, (const X*)nullptr, N, c, C, HW, [mu](float v, float, float(&t)[1]) {
      const float d = v - mu;
      t[0] = d * d;
    });
  } else {
    channel_thread_sums(sum, x, (const X*)nullptr, N, c, C, HW, [](float v, float, float(&t)[1]) { t[0] = v; });
  }
  const float total = block_sum(sum[0], buf);
  if (threadIdx.x == 0) out[c] = total;
}

__global__ void bn_stats_from_sq_dev_kernel(float* invstd, float* running_mean, float* running_var,
                                            const float* mean, const float* sq, int64_t C, int64_t Mtot,
                                            float eps, float momentum) {
  CUDA_KERNEL_LOOP(c, C) {
    const float var = sq[c] / (float)Mtot;
    invstd[c] = 1.f / sqrtf(var + eps);
    const float unbiased = var * ((float)Mtot / (float)(Mtot - 1));
    running_mean[c] = bn_running_update_elem(running_mean[c], mean[c], momentum);
    running_var[c] = bn_running_update_elem(running_var[c], unbiased, momentum);
  }
}

// The grid of the one-block-per-channel kernels: C blocks along x, whose limit
// is 2^31 - 1. Checked rather than cast blindly: (unsigned)C would silently
// drop channels from C = 2^32 on (and fail with an unhelpful "invalid
// configuration" above 2^31 - 1).
unsigned channel_blocks(int64_t C) {
  SKINMTL_CHECK(C <= 2147483647, "batch_norm2d (CUDA): " << C
                                     << " channels exceed the grid limit of 2^31 - 1 blocks "
                                        "(one block per channel)");
  return (unsigned)C;
}

// dx += (or =) the per-element gradient over all N*C*HW elements (see bn_backward_dx_kernel).
template <typename X>
void launch_backward_dx(X* dx, const float* sums, const X* dy, const X* x, const float* mean,
                        const float* invstd, const float* gamma, int64_t C, int64_t HW, int64_t total,
                        int64_t Mtot, bool training, bool accumulate, cuda_stream_t s) {
  if (cuda::index_fits_32(total))
    bn_backward_dx_kernel<uint32_t, X><<<cuda::blocks_for(total), cuda::kThreads, 0, s>>>(
        dx, sums, dy, x, mean, invstd, gamma, (uint32_t)C, (uint32_t)HW, (uint32_t)total, Mtot, training,
        accumulate);
  else
    bn_backward_dx_kernel<int64_t, X><<<cuda::blocks_for(total), cuda::kThreads, 0, s>>>(
        dx, sums, dy, x, mean, invstd, gamma, C, HW, total, Mtot, training, accumulate);
  SKINMTL_LAUNCH_CHECK();
}

}  // namespace

template <typename X>
void batch_norm_train_stats_cuda(float* mean, float* invstd, float* running_mean,
                                 float* running_var, const X* x, int64_t N, int64_t C,
                                 int64_t HW, double eps, double momentum, cuda_stream_t s) {
  if (C == 0) return;
  bn_train_stats_kernel<<<channel_blocks(C), cuda::kThreads, 0, s>>>(
      mean, invstd, running_mean, running_var, x, N, C, HW, (float)eps, (float)momentum);
  SKINMTL_LAUNCH_CHECK();
}

void batch_norm_frozen_stats_cuda(float* mean, float* invstd, const float* running_mean,
                                  const float* running_var, int64_t C, double eps,
                                  cuda_stream_t s) {
  if (C == 0) return;
  bn_frozen_stats_kernel<<<cuda::blocks_for(C), cuda::kThreads, 0, s>>>(
      mean, invstd, running_mean, running_var, C, (float)eps);
  SKINMTL_LAUNCH_CHECK();
}

template <typename X>
void batch_norm_normalize_cuda(X* y, const X* x, const X* residual, const float* mean, const float* invstd,
                               const float* gamma, const float* beta, int64_t N, int64_t C,
                               int64_t HW, bool relu, cuda_stream_t s) {
  const int64_t total = N * C * HW;
  if (total == 0) return;
  if (cuda::index_fits_32(total))
    bn_normalize_kernel<uint32_t, X><<<cuda::blocks_for(total), cuda::kThreads, 0, s>>>(
        y, x, residual, mean, invstd, gamma, beta, (uint32_t)C, (uint32_t)HW, (uint32_t)total, relu);
  else
    bn_normalize_kernel<int64_t, X><<<cuda::blocks_for(total), cuda::kThreads, 0, s>>>(
        y, x, residual, mean, invstd, gamma, beta, C, HW, total, relu);
  SKINMTL_LAUNCH_CHECK();
}

template <typename X>
void batch_norm_backward_cuda(X* dx, float* dgamma, float* dbeta, float* sums, const X* dy,
                              const X* x, const float* mean, const float* invstd,
                              const float* gamma, int64_t N, int64_t C, int64_t HW, bool training,
                              bool accumulate_dx, cuda_stream_t s) {
  const int64_t total = N * C * HW;
  if (total == 0) return;
  // The sums are needed for dgamma, dbeta, and for dx in training mode only.
  if (dgamma || dbeta || (dx && training)) {
    bn_backward_reduce_kernel<<<channel_blocks(C), cuda::kThreads, 0, s>>>(
        dgamma, dbeta, sums, dy, x, mean, invstd, N, C, HW);
    SKINMTL_LAUNCH_CHECK();
  }
  if (dx) {
    launch_backward_dx(dx, sums, dy, x, mean, invstd, gamma, C, HW, total, N * HW, training, accumulate_dx, s);
  }
}

void batch_norm_sum_cuda(float* sum, const float* x, int64_t N, int64_t C, int64_t HW, cuda_stream_t s) {
  if (C == 0) return;
  bn_sum_kernel<<<channel_blocks(C), cuda::kThreads, 0, s>>>(sum, x, nullptr, N, C, HW);
  SKINMTL_LAUNCH_CHECK();
}

void batch_norm_sum_sq_dev_cuda(float* sq, const float* x, const float* mean, int64_t N, int64_t C,
                                int64_t HW, cuda_stream_t s) {
  if (C == 0) return;
  bn_sum_kernel<<<channel_blocks(C), cuda::kThreads, 0, s>>>(sq, x, mean, N, C, HW);
  SKINMTL_LAUNCH_CHECK();
}

void batch_norm_stats_from_sq_dev_cuda(float* invstd, float* running_mean, float* running_var,
                                       const float* mean, const float* sq, int64_t C, int64_t Mtot,
                                       double eps, double momentum, cuda_stream_t s) {
  if (C == 0) return;
  bn_stats_from_sq_dev_kernel<<<cuda::blocks_for(C), cuda::kThreads, 0, s>>>(
      invstd, running_mean, running_var, mean, sq, C, Mtot, (float)eps, (float)momentum);
  SKINMTL_LAUNCH_CHECK();
}

void batch_norm_backward_sums_cuda(float* sums, const float* dy, const float* x, const float* mean,
                                   const float* invstd, int64_t N, int64_t C, int64_t HW, cuda_stream_t s) {
  if (C == 0) return;
  bn_backward_reduce_kernel<<<channel_blocks(C), cuda::kThreads, 0, s>>>(nullptr, nullptr, sums, dy, x, mean,
                                                                          invstd, N, C, HW);
  SKINMTL_LAUNCH_CHECK();
}

void batch_norm_backward_dx_cuda(float* dx, const float* sums, const float* dy, const float* x,
                                 const float* mean, const float* invstd, const float* gamma, int64_t N,
                                 int64_t C, int64_t HW, int64_t Mtot, bool accumulate, cuda_stream_t s) {
  const int64_t total = N * C * HW;
  if (total == 0) return;
  launch_backward_dx(dx, sums, dy, x, mean, invstd, gamma, C, HW, total, Mtot, true, accumulate, s);
}

}  // namespace skinmtl

namespace skinmtl {
#define INSTANTIATE(X)                                                                                   \
  template void batch_norm_train_stats_cuda<X>(float*, float*, float*, float*, const X*, int64_t, int64_t, \
                                               int64_t, double, double, cuda_stream_t);                 \
  template void batch_norm_normalize_cuda<X>(X*, const X*, const X*, const float*, const float*,          \
                                             const float*, const float*, int64_t, int64_t, int64_t, bool, \
                                             cuda_stream_t);                                              \
  template void batch_norm_backward_cuda<X>(X*, float*, float*, float*, const X*, const X*, const float*, \
                                            const float*, const float*, int64_t, int64_t, int64_t, bool,  \
                                            bool, cuda_stream_t);
INSTANTIATE(float)
INSTANTIATE(bf16)
#undef INSTANTIATE
}  // namespace skinmtl
