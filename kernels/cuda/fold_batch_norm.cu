// CUDA kernels for kernels/fold_batch_norm.h: the fold in float32, bias_act
// for float32 and bfloat16 activations.
#include "kernels/bf16.h"
#include "kernels/cuda/check.cuh"
#include "kernels/fold_batch_norm.h"

namespace skinmtl {

// One thread per weight; each recomputes its row's factor (K*CRS elements,
// a few multiply-adds each: cheaper than a second launch).
__global__ void fold_batch_norm_kernel(float* w_folded, float* b_folded, const float* w, const float* b,
                                       const float* gamma, const float* beta, const float* mean,
                                       const float* var, float eps, int64_t K, int64_t CRS) {
  CUDA_KERNEL_LOOP(i, K * CRS) {
    const int64_t k = i / CRS;
    const float s = fold_scale(gamma[k], var[k], eps);
    w_folded[i] = w[i] * s;
    if (i % CRS == 0) b_folded[k] = ((b ? b[k] : 0.f) - mean[k]) * s + beta[k];
  }
}

template <typename T>
__global__ void bias_act_kernel(T* y, const float* b, const T* residual, int64_t n, int64_t K, int64_t HW,
                                bool relu) {
  CUDA_KERNEL_LOOP(i, n) {
    store(y, i, bias_act_elem(load(y, i), b ? b[(i / HW) % K] : 0.f, residual ? load(residual, i) : 0.f, relu));
  }
}

void fold_batch_norm_cuda(float* w_folded, float* b_folded, const float* w, const float* b, const float* gamma,
                          const float* beta, const float* mean, const float* var, double eps, int64_t K,
                          int64_t CRS, cuda_stream_t s) {
  if (K * CRS == 0) return;
  fold_batch_norm_kernel<<<cuda::blocks_for(K * CRS), cuda::kThreads, 0, s>>>(w_folded, b_folded, w, b, gamma,
                                                                              beta, mean, var, (float)eps, K, CRS);
  SKINMTL_LAUNCH_CHECK();
}

template <typename T>
void bias_act_cuda(T* y, const float* b, const T* residual, int64_t N, int64_t K, int64_t HW, bool relu,
                   cuda_stream_t s) {
  const int64_t n = N * K * HW;
  if (n == 0) return;
  bias_act_kernel<<<cuda::blocks_for(n), cuda::kThreads, 0, s>>>(y, b, residual, n, K, HW, relu);
  SKINMTL_LAUNCH_CHECK();
}

template void bias_act_cuda<float>(float*, const float*, const float*, int64_t, int64_t, int64_t, bool,
                                   cuda_stream_t);
template void bias_act_cuda<bf16>(bf16*, const float*, const bf16*, int64_t, int64_t, int64_t, bool,
                                  cuda_stream_t);

}  // namespace skinmtl
