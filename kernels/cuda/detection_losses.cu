// CUDA kernels for kernels/detection_losses.h. The math is the header's
// element functions; every scalar is finished by kernels/reduce.h's
// deterministic sum_forward_cuda (no float atomics).
#include "kernels/cuda/check.cuh"
#include "kernels/detection_losses.h"
#include "kernels/reduce.h"

namespace skinmtl {

// ---- smooth L1 ------------------------------------------------------------------------

// terms[i] = w_i s(x_i - t_i).
__global__ void smooth_l1_terms_kernel(float* terms, const float* x, const float* t,
                                       const float* w, int64_t n, float beta) {
  CUDA_KERNEL_LOOP(i, n) { terms[i] = w[i] * smooth_l1_elem(x[i] - t[i], beta); }
}

// dx_i += dL w_i s'(x_i - t_i); dL is read from device memory.
__global__ void smooth_l1_backward_kernel(float* dx, const float* dloss, const float* x,
                                          const float* t, const float* w, int64_t n, float beta) {
  const float g = dloss[0];
  CUDA_KERNEL_LOOP(i, n) { dx[i] += g * w[i] * smooth_l1_grad_elem(x[i] - t[i], beta); }
}

void smooth_l1_forward_cuda(float* loss, float* scratch, const float* x, const float* t,
                            const float* w, int64_t n, float beta, cuda_stream_t s) {
  float* terms = scratch;         // (n)
  float* partials = scratch + n;  // (sum_cuda_partials(n))
  if (n > 0) {
    smooth_l1_terms_kernel<<<cuda::blocks_for(n), cuda::kThreads, 0, s>>>(terms, x, t, w, n,
                                                                          beta);
    SKINMTL_LAUNCH_CHECK();
  }
  sum_forward_cuda(loss, partials, terms, n, 1.0f, s);  // writes 0 when n == 0
}

void smooth_l1_backward_cuda(float* dx, const float* dloss, const float* x, const float* t,
                             const float* w, int64_t n, float beta, cuda_stream_t s) {
  if (n == 0) return;
  smooth_l1_backward_kernel<<<cuda::blocks_for(n), cuda::kThreads, 0, s>>>(dx, dloss, x, t, w, n,
                                                                           beta);
  SKINMTL_LAUNCH_CHECK();
}

// ---- sigmoid focal loss -------------------------------------------------------------------

// terms[i] = w_i FL(x_i, y_i).
__global__ void focal_terms_kernel(float* terms, const float* x, const float* y, const float* w,
                                   int64_t n, float alpha, float gamma) {
  CUDA_KERNEL_LOOP(i, n) { terms[i] = w[i] * focal_elem(x[i], y[i], alpha, gamma); }
}

// dx_i += dL w_i dFL/dx(x_i, y_i); dL is read from device memory.
__global__ void focal_backward_kernel(float* dx, const float* dloss, const float* x,
                                      const float* y, const float* w, int64_t n, float alpha,
                                      float gamma) {
  const float g = dloss[0];
  CUDA_KERNEL_LOOP(i, n) { dx[i] += g * w[i] * focal_grad_elem(x[i], y[i], alpha, gamma); }
}

void focal_forward_cuda(float* loss, float* scratch, const float* x, const float* y,
                        const float* w, int64_t n, float alpha, float gamma, cuda_stream_t s) {
  float* terms = scratch;         // (n)
  float* partials = scratch + n;  // (sum_cuda_partials(n))
  if (n > 0) {
    focal_terms_kernel<<<cuda::blocks_for(n), cuda::kThreads, 0, s>>>(terms, x, y, w, n, alpha,
                                                                      gamma);
    SKINMTL_LAUNCH_CHECK();
  }
  sum_forward_cuda(loss, partials, terms, n, 1.0f, s);  // writes 0 when n == 0
}

void focal_backward_cuda(float* dx, const float* dloss, const float* x, const float* y,
                         const float* w, int64_t n, float alpha, float gamma, cuda_stream_t s) {
  if (n == 0) return;
  focal_backward_kernel<<<cuda::blocks_for(n), cuda::kThreads, 0, s>>>(dx, dloss, x, y, w, n,
                                                                       alpha, gamma);
  SKINMTL_LAUNCH_CHECK();
}

// ---- soft Jaccard distance -------------------------------------------------------------------

// inter[e] = p_e t_e and uni[e] = p_e + t_e - p_e t_e for the R * M elements.
__global__ void jaccard_terms_kernel(float* inter, float* uni, const float* p, const float* t,
                                     int64_t n) {
  CUDA_KERNEL_LOOP(e, n) {
    inter[e] = jaccard_intersection_elem(p[e], t[e]);
    uni[e] = jaccard_union_elem(p[e], t[e]);
  }
}

// J[r] = smooth (1 - (I_r + smooth) / (S_r + smooth)), one thread per row.
__global__ void jaccard_rows_kernel(float* J, const float* sums, int64_t R, float smooth) {
  CUDA_KERNEL_LOOP(r, R) { J[r] = jaccard_row_elem(sums[r], sums[R + r], smooth); }
}

// dp[r, j] += (dL / R) dJ_r/dp_rj; dL, I_r and S_r are read from device memory.
__global__ void jaccard_backward_kernel(float* dp, const float* dloss, const float* sums,
                                        const float* t, int64_t R, int64_t M, float smooth) {
  const float g = dloss[0] / (float)R;
  CUDA_KERNEL_LOOP(e, R * M) {
    const int64_t r = e / M;
    dp[e] += g * jaccard_grad_elem(t[e], sums[r], sums[R + r], smooth);
  }
}

void jaccard_forward_cuda(float* loss, float* sums, float* scratch, const float* p,
                          const float* t, int64_t R, int64_t M, float smooth, cuda_stream_t s) {
  // R >= 1 (the framework op checks: the mean over rows needs one). M may be 0.
  const int64_t n = R * M;
  float* inter = scratch;             // (R, M)
  float* uni = scratch + n;           // (R, M)
  float* J = scratch + 2 * n;         // (R)
  float* partials = scratch + 2 * n + R;  // (sum_cuda_partials(max(M, R)))
  if (n > 0) {
    jaccard_terms_kernel<<<cuda::blocks_for(n), cuda::kThreads, 0, s>>>(inter, uni, p, t, n);
    SKINMTL_LAUNCH_CHECK();
  }
  // I_r and S_r: the deterministic sum of each row's M summands. The calls
  // share `partials`; the stream runs them one after another.
  for (int64_t r = 0; r < R; ++r) {
    sum_forward_cuda(sums + r, partials, inter + r * M, M, 1.0f, s);
    sum_forward_cuda(sums + R + r, partials, uni + r * M, M, 1.0f, s);
  }
  jaccard_rows_kernel<<<cuda::blocks_for(R), cuda::kThreads, 0, s>>>(J, sums, R, smooth);
  SKINMTL_LAUNCH_CHECK();
  sum_forward_cuda(loss, partials, J, R, 1.0f / (float)R, s);  // the mean over rows
}

void jaccard_backward_cuda(float* dp, const float* dloss, const float* sums, const float* t,
                           int64_t R, int64_t M, float smooth, cuda_stream_t s) {
  if (R * M == 0) return;
  jaccard_backward_kernel<<<cuda::blocks_for(R * M), cuda::kThreads, 0, s>>>(dp, dloss, sums, t,
                                                                            R, M, smooth);
  SKINMTL_LAUNCH_CHECK();
}

}  // namespace skinmtl
