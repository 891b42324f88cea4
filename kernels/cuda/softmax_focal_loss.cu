// CUDA kernels for kernels/softmax_focal_loss.h. The math is the header's
// element functions; the loss is finished by kernels/reduce.h's deterministic
// sum_forward_cuda (no float atomics).
#include <math_constants.h>  // CUDART_NAN_F

#include "kernels/cuda/check.cuh"
#include "kernels/reduce.h"
#include "kernels/softmax_focal_loss.h"

namespace skinmtl {

// One thread per row n: lse[n] and terms[n] = FL(x_n, c_n); NaN for a bad label.
__global__ void softmax_focal_rows_kernel(float* terms, float* lse, const float* x, const float* labels, int64_t N,
                                          int64_t K, float alpha, float gamma) {
  CUDA_KERNEL_LOOP(n, N) {
    const float* xn = x + n * K;
    const float l = row_logsumexp(xn, K);
    lse[n] = l;
    const float label = labels[n];
    terms[n] = label_is_class(label, K) ? softmax_focal_elem(xn[(int64_t)label] - l, alpha, gamma) : CUDART_NAN_F;
  }
}

// One thread per element: dx[n, k] += (dL / N) dFL/dlogp(n) ([k == c_n] - s_k).
// Each thread recomputes its row's dFL/dlogp (K is 3 for the subnet: cheaper
// than a second kernel and a buffer).
__global__ void softmax_focal_backward_kernel(float* dx, const float* dloss, const float* lse, const float* x,
                                              const float* labels, int64_t N, int64_t K, float alpha,
                                              float gamma) {
  const float g = dloss[0] / (float)N;
  CUDA_KERNEL_LOOP(e, N * K) {
    const int64_t n = e / K, k = e % K;
    const float label = labels[n];
    if (!label_is_class(label, K)) {
      dx[e] += CUDART_NAN_F;  // a bad label poisons its row's gradient, as its loss
      continue;
    }
    const int64_t c = (int64_t)label;
    const float d = g * softmax_focal_dlogp(x[n * K + c] - lse[n], alpha, gamma);
    dx[e] += softmax_focal_grad_elem(x[e], lse[n], k == c, d);
  }
}

void softmax_focal_loss_forward_cuda(float* loss, float* lse, float* scratch, const float* x, const float* labels,
                                     int64_t N, int64_t K, float alpha, float gamma, cuda_stream_t s) {
  float* terms = scratch;         // (N)
  float* partials = scratch + N;  // (sum_cuda_partials(N))
  if (N > 0) {
    softmax_focal_rows_kernel<<<cuda::blocks_for(N), cuda::kThreads, 0, s>>>(terms, lse, x, labels, N, K, alpha,
                                                                             gamma);
    SKINMTL_LAUNCH_CHECK();
  }
  // The mean: the sum scaled by 1/N (0 when N == 0).
  sum_forward_cuda(loss, partials, terms, N, N > 0 ? 1.0f / (float)N : 1.0f, s);
}

void softmax_focal_loss_backward_cuda(float* dx, const float* dloss, const float* lse, const float* x,
                                      const float* labels, int64_t N, int64_t K, float alpha, float gamma,
                                      cuda_stream_t s) {
  if (N * K == 0) return;
  softmax_focal_backward_kernel<<<cuda::blocks_for(N * K), cuda::kThreads, 0, s>>>(dx, dloss, lse, x, labels, N, K,
                                                                                   alpha, gamma);
  SKINMTL_LAUNCH_CHECK();
}

}  // namespace skinmtl
