// CUDA kernels for kernels/sigmoid_focal_loss.h. The math is the header's element
// functions; every scalar is finished by kernels/reduce.h's deterministic
// sum_forward_cuda (no float atomics).
#include "kernels/cuda/check.cuh"
#include "kernels/reduce.h"
#include "kernels/sigmoid_focal_loss.h"

namespace skinmtl {

// ---- sigmoid focal loss -------------------------------------------------------------------

// terms[i] = w_i FL(x_i, y_i).
__global__ void sigmoid_focal_loss_terms_kernel(float* terms, const float* x, const float* y,
                                                const float* w, int64_t n, float alpha,
                                                float gamma) {
  CUDA_KERNEL_LOOP(i, n) { terms[i] = w[i] * sigmoid_focal_loss_elem(x[i], y[i], alpha, gamma); }
}

// dx_i += dL w_i dFL/dx(x_i, y_i); dL is read from device memory.
__global__ void sigmoid_focal_loss_backward_kernel(float* dx, const float* dloss, const float* x,
                                                   const float* y, const float* w, int64_t n,
                                                   float alpha, float gamma) {
  const float g = dloss[0];
  CUDA_KERNEL_LOOP(i, n) {
    dx[i] += g * w[i] * sigmoid_focal_loss_grad_elem(x[i], y[i], alpha, gamma);
  }
}

void sigmoid_focal_loss_forward_cuda(float* loss, float* scratch, const float* x, const float* y,
                                     const float* w, int64_t n, float alpha, float gamma,
                                     cuda_stream_t s) {
  float* terms = scratch;         // (n)
  float* partials = scratch + n;  // (sum_cuda_partials(n))
  if (n > 0) {
    sigmoid_focal_loss_terms_kernel<<<cuda::blocks_for(n), cuda::kThreads, 0, s>>>(terms, x, y, w,
                                                                                   n, alpha, gamma);
    SKINMTL_LAUNCH_CHECK();
  }
  sum_forward_cuda(loss, partials, terms, n, 1.0f, s);  // writes 0 when n == 0
}

void sigmoid_focal_loss_backward_cuda(float* dx, const float* dloss, const float* x, const float* y,
                                      const float* w, int64_t n, float alpha, float gamma,
                                      cuda_stream_t s) {
  if (n == 0) return;
  sigmoid_focal_loss_backward_kernel<<<cuda::blocks_for(n), cuda::kThreads, 0, s>>>(
      dx, dloss, x, y, w, n, alpha, gamma);
  SKINMTL_LAUNCH_CHECK();
}

}  // namespace skinmtl
