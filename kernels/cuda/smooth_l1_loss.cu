// CUDA kernels for kernels/smooth_l1_loss.h. The math is the header's element
// functions; every scalar is finished by kernels/reduce.h's deterministic
// sum_forward_cuda (no float atomics).
#include "kernels/cuda/check.cuh"
#include "kernels/reduce.h"
#include "kernels/smooth_l1_loss.h"

namespace skinmtl {

// ---- smooth L1 ------------------------------------------------------------------------

// terms[i] = w_i s(x_i - t_i).
__global__ void smooth_l1_loss_terms_kernel(float* terms, const float* x, const float* t,
                                            const float* w, int64_t n, float beta) {
  CUDA_KERNEL_LOOP(i, n) { terms[i] = w[i] * smooth_l1_loss_elem(x[i] - t[i], beta); }
}

// dx_i += dL w_i s'(x_i - t_i); dL is read from device memory.
__global__ void smooth_l1_loss_backward_kernel(float* dx, const float* dloss, const float* x,
                                               const float* t, const float* w, int64_t n,
                                               float beta) {
  const float g = dloss[0];
  CUDA_KERNEL_LOOP(i, n) { dx[i] += g * w[i] * smooth_l1_loss_grad_elem(x[i] - t[i], beta); }
}

void smooth_l1_loss_forward_cuda(float* loss, float* scratch, const float* x, const float* t,
                                 const float* w, int64_t n, float beta, cuda_stream_t s) {
  float* terms = scratch;         // (n)
  float* partials = scratch + n;  // (sum_cuda_partials(n))
  if (n > 0) {
    smooth_l1_loss_terms_kernel<<<cuda::blocks_for(n), cuda::kThreads, 0, s>>>(terms, x, t, w, n,
                                                                               beta);
    SKINMTL_LAUNCH_CHECK();
  }
  sum_forward_cuda(loss, partials, terms, n, 1.0f, s);  // writes 0 when n == 0
}

void smooth_l1_loss_backward_cuda(float* dx, const float* dloss, const float* x, const float* t,
                                  const float* w, int64_t n, float beta, cuda_stream_t s) {
  if (n == 0) return;
  smooth_l1_loss_backward_kernel<<<cuda::blocks_for(n), cuda::kThreads, 0, s>>>(dx, dloss, x, t, w,
                                                                                n, beta);
  SKINMTL_LAUNCH_CHECK();
}

}  // namespace skinmtl
