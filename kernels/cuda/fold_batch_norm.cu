// CUDA kernels for kernels/fold_batch_norm.h: the fold and its backward in
// float32 (the folded weights and their gradient float32 or bfloat16),
// bias_act and its backward for float32 and bfloat16 activations.
#include "kernels/bf16.h"
#include "kernels/cuda/block_sum.cuh"
#include "kernels/cuda/check.cuh"
#include "kernels/fold_batch_norm.h"

namespace skinmtl {

// One thread per weight; each recomputes its row's factor (K*CRS elements,
// a few multiply-adds each: cheaper than a second launch).
template <typename TW>
__global__ void fold_batch_norm_kernel(TW* w_folded, float* b_folded, const float* w, const float* b,
                                       const float* gamma, const float* beta, const float* mean,
                                       const float* var, float eps, int64_t K, int64_t CRS) {
  CUDA_KERNEL_LOOP(i, K * CRS) {
    const int64_t k = i / CRS;
    const float s = fold_scale(gamma[k], var[k], eps);
    store(w_folded, i, w[i] * s);  // rounded once for bf16
    if (i % CRS == 0) b_folded[k] = ((b ? b[k] : 0.f) - mean[k]) * s + beta[k];
  }
}

// One block per row k: the threads stride over its CRS elements, writing dw
// and summing w * dwf, which block_sum combines in a fixed order.
template <typename TG>
__global__ void fold_weight_backward_kernel(float* dw, float* dgamma, const TG* dwf, const float* w,
                                            const float* gamma, const float* var, float eps, int64_t CRS) {
  __shared__ float buf[cuda::kThreads];
  const int64_t k = blockIdx.x;
  const float invstd = fold_invstd(var[k], eps);
  const float s = gamma[k] * invstd;
  const TG* g = dwf + k * CRS;
  float dot = 0.f;
  for (int64_t i = threadIdx.x; i < CRS; i += blockDim.x) {
    const float gi = load(g, i);
    if (dw) dw[k * CRS + i] += s * gi;
    if (dgamma) dot += w[k * CRS + i] * gi;
  }
  if (!dgamma) return;  // the same for every thread of the block: no one waits in block_sum
  const float total = block_sum(dot, buf);
  if (threadIdx.x == 0) dgamma[k] += invstd * total;
}

__global__ void fold_bias_backward_kernel(float* db, float* dgamma, float* dbeta, const float* dbf, const float* b,
                                          const float* gamma, const float* mean, const float* var, float eps,
                                          int64_t K) {
  CUDA_KERNEL_LOOP(k, K) {
    const float invstd = fold_invstd(var[k], eps);
    if (db) db[k] += gamma[k] * invstd * dbf[k];
    if (dgamma) dgamma[k] += invstd * ((b ? b[k] : 0.f) - mean[k]) * dbf[k];
    if (dbeta) dbeta[k] += dbf[k];
  }
}

// Element i of y has channel (i / HW) % K, in the index type I (uint32_t
// where it fits, so no 64-bit division per element: CUDA_KERNEL_LOOP_T).
template <typename I, typename T>
__global__ void bias_act_kernel(T* y, const float* b, const T* residual, I n, I K, I HW, bool relu) {
  CUDA_KERNEL_LOOP_T(I, i, n) {
    store(y, i, bias_act_elem(load(y, i), b ? b[(i / HW) % K] : 0.f, residual ? load(residual, i) : 0.f, relu));
  }
}

template <typename T>
__global__ void bias_act_backward_kernel(T* g, T* dr, const T* dy, const T* y, int64_t n, bool relu,
                                         bool dr_accumulate) {
  CUDA_KERNEL_LOOP(i, n) {
    const float gi = bias_act_backward_elem(load(dy, i), load(y, i), relu);
    if (g) store(g, i, gi);
    if (dr) store(dr, i, dr_accumulate ? load(dr, i) + gi : gi);
  }
}

template <typename TW>
void fold_batch_norm_cuda(TW* w_folded, float* b_folded, const float* w, const float* b, const float* gamma,
                          const float* beta, const float* mean, const float* var, double eps, int64_t K,
                          int64_t CRS, cuda_stream_t s) {
  if (K * CRS == 0) return;
  fold_batch_norm_kernel<<<cuda::blocks_for(K * CRS), cuda::kThreads, 0, s>>>(w_folded, b_folded, w, b, gamma,
                                                                              beta, mean, var, (float)eps, K, CRS);
  SKINMTL_LAUNCH_CHECK();
}

template <typename TG>
void fold_weight_backward_cuda(float* dw, float* dgamma, const TG* dwf, const float* w, const float* gamma,
                               const float* var, double eps, int64_t K, int64_t CRS, cuda_stream_t s) {
  if (K * CRS == 0 || (!dw && !dgamma)) return;
  fold_weight_backward_kernel<<<(unsigned)K, cuda::kThreads, 0, s>>>(dw, dgamma, dwf, w, gamma, var, (float)eps, CRS);
  SKINMTL_LAUNCH_CHECK();
}

void fold_bias_backward_cuda(float* db, float* dgamma, float* dbeta, const float* dbf, const float* b,
                             const float* gamma, const float* mean, const float* var, double eps, int64_t K,
                             cuda_stream_t s) {
  if (K == 0 || (!db && !dgamma && !dbeta)) return;
  fold_bias_backward_kernel<<<cuda::blocks_for(K), cuda::kThreads, 0, s>>>(db, dgamma, dbeta, dbf, b, gamma, mean,
                                                                          var, (float)eps, K);
  SKINMTL_LAUNCH_CHECK();
}

template <typename T>
void bias_act_cuda(T* y, const float* b, const T* residual, int64_t N, int64_t K, int64_t HW, bool relu,
                   cuda_stream_t s) {
  const int64_t n = N * K * HW;
  if (n == 0) return;
  if (cuda::index_fits_32(n))
    bias_act_kernel<uint32_t, T><<<cuda::blocks_for(n), cuda::kThreads, 0, s>>>(y, b, residual, (uint32_t)n,
                                                                               (uint32_t)K, (uint32_t)HW, relu);
  else
    bias_act_kernel<int64_t, T><<<cuda::blocks_for(n), cuda::kThreads, 0, s>>>(y, b, residual, n, K, HW, relu);
  SKINMTL_LAUNCH_CHECK();
}

template <typename T>
void bias_act_backward_cuda(T* g, T* dr, const T* dy, const T* y, int64_t n, bool relu, bool dr_accumulate,
                            cuda_stream_t s) {
  if (n == 0 || (!g && !dr)) return;
  bias_act_backward_kernel<<<cuda::blocks_for(n), cuda::kThreads, 0, s>>>(g, dr, dy, y, n, relu, dr_accumulate);
  SKINMTL_LAUNCH_CHECK();
}

#define INSTANTIATE(T)                                                                                      \
  template void fold_batch_norm_cuda<T>(T*, float*, const float*, const float*, const float*, const float*,      \
                                        const float*, const float*, double, int64_t, int64_t, cuda_stream_t);    \
  template void fold_weight_backward_cuda<T>(float*, float*, const T*, const float*, const float*, const float*, \
                                             double, int64_t, int64_t, cuda_stream_t);
INSTANTIATE(float)
INSTANTIATE(bf16)
#undef INSTANTIATE
template void bias_act_cuda<float>(float*, const float*, const float*, int64_t, int64_t, int64_t, bool,
                                   cuda_stream_t);
template void bias_act_cuda<bf16>(bf16*, const float*, const bf16*, int64_t, int64_t, int64_t, bool,
                                  cuda_stream_t);
template void bias_act_backward_cuda<float>(float*, float*, const float*, const float*, int64_t, bool, bool,
                                            cuda_stream_t);
template void bias_act_backward_cuda<bf16>(bf16*, bf16*, const bf16*, const bf16*, int64_t, bool, bool,
                                           cuda_stream_t);

}  // namespace skinmtl
