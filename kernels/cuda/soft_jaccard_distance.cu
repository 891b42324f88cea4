// CUDA kernels for kernels/soft_jaccard_distance.h. The math is the header's element
// functions; every scalar is finished by kernels/reduce.h's deterministic
// sum_forward_cuda (no float atomics).
#include "kernels/cuda/check.cuh"
#include "kernels/reduce.h"
#include "kernels/soft_jaccard_distance.h"

namespace skinmtl {

// ---- soft Jaccard distance -------------------------------------------------------------------

// inter[e] = p_e t_e and uni[e] = p_e + t_e - p_e t_e for the R * M elements.
__global__ void soft_jaccard_distance_terms_kernel(float* inter, float* uni, const float* p,
                                                   const float* t, int64_t n) {
  CUDA_KERNEL_LOOP(e, n) {
    inter[e] = jaccard_intersection_elem(p[e], t[e]);
    uni[e] = jaccard_union_elem(p[e], t[e]);
  }
}

// J[r] = smooth (1 - (I_r + smooth) / (S_r + smooth)), one thread per row.
__global__ void soft_jaccard_distance_rows_kernel(float* J, const float* sums, int64_t R,
                                                  float smooth) {
  CUDA_KERNEL_LOOP(r, R) { J[r] = jaccard_row_elem(sums[r], sums[R + r], smooth); }
}

// dp[r, j] += (dL / R) dJ_r/dp_rj; dL, I_r and S_r are read from device memory.
__global__ void soft_jaccard_distance_backward_kernel(float* dp, const float* dloss,
                                                      const float* sums, const float* t, int64_t R,
                                                      int64_t M, float smooth) {
  const float g = dloss[0] / (float)R;
  CUDA_KERNEL_LOOP(e, R * M) {
    const int64_t r = e / M;
    dp[e] += g * jaccard_grad_elem(t[e], sums[r], sums[R + r], smooth);
  }
}

void soft_jaccard_distance_forward_cuda(float* loss, float* sums, float* scratch, const float* p,
                                        const float* t, int64_t R, int64_t M, float smooth,
                                        cuda_stream_t s) {
  // R >= 1 (the framework op checks: the mean over rows needs one). M may be 0.
  const int64_t n = R * M;
  float* inter = scratch;                 // (R, M)
  float* uni = scratch + n;               // (R, M)
  float* J = scratch + 2 * n;             // (R)
  float* partials = scratch + 2 * n + R;  // (sum_cuda_partials(max(M, R)))
  if (n > 0) {
    soft_jaccard_distance_terms_kernel<<<cuda::blocks_for(n), cuda::kThreads, 0, s>>>(inter, uni, p,
                                                                                      t, n);
    SKINMTL_LAUNCH_CHECK();
  }
  // I_r and S_r: the deterministic sum of each row's M summands. The calls
  // share `partials`; the stream runs them one after another.
  for (int64_t r = 0; r < R; ++r) {
    sum_forward_cuda(sums + r, partials, inter + r * M, M, 1.0f, s);
    sum_forward_cuda(sums + R + r, partials, uni + r * M, M, 1.0f, s);
  }
  soft_jaccard_distance_rows_kernel<<<cuda::blocks_for(R), cuda::kThreads, 0, s>>>(J, sums, R,
                                                                                   smooth);
  SKINMTL_LAUNCH_CHECK();
  sum_forward_cuda(loss, partials, J, R, 1.0f / (float)R, s);  // the mean over rows
}

void soft_jaccard_distance_backward_cuda(float* dp, const float* dloss, const float* sums,
                                         const float* t, int64_t R, int64_t M, float smooth,
                                         cuda_stream_t s) {
  if (R * M == 0) return;
  soft_jaccard_distance_backward_kernel<<<cuda::blocks_for(R * M), cuda::kThreads, 0, s>>>(
      dp, dloss, sums, t, R, M, smooth);
  SKINMTL_LAUNCH_CHECK();
}

}  // namespace skinmtl
