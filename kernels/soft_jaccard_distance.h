// kernels/soft_jaccard_distance.h: the soft Jaccard distance, the mask loss of
// Song et al. 2019 (eq. 5, second term; keras-contrib's jaccard_distance), also
// the segmentation loss of Yang et al. 2017. The framework op is
// soft_jaccard_distance (framework/ops/soft_jaccard_distance.cpp).
//
//   For each row r of (R, M) probabilities p and targets t:
//     I_r = sum_j p_rj t_rj                      (the soft intersection)
//     S_r = sum_j (p_rj + t_rj - p_rj t_rj)       (the soft union)
//     J_r = smooth * (1 - (I_r + smooth) / (S_r + smooth))
//   L = (1/R) sum_r J_r.
//   backward (dI/dp_j = t_j, dS/dp_j = 1 - t_j):
//     dp_rj += (dL / R) * (-smooth) * (t_rj (S_r + smooth) - (I_r + smooth) (1 - t_rj))
//                                     / (S_r + smooth)^2
//   smooth > 0 keeps the ratio defined for an empty row (an all-zero target
//   and p = 0 give J = 0, not 0/0) and, being large (100 in the paper), makes
//   the loss gentle. Shapes: p, t, dp (R, M) (M = the product of the sizes
//   after the first); L, dL shape (). Saved for backward: t and the row sums
//   I, S (R) (the gradient needs no p).
//   Reference: keras-contrib's losses.jaccard_distance, which computes
//   (1 - (I + smooth) / (sum(|t| + |p|) - I + smooth)) * smooth, the same for
//   p, t >= 0, there per last axis; here per row of the batch (one mask per
//   image or ROI), as the framework op documents.
//
// Accuracy and determinism. CPU sums run in double, also for float tensors (as
// kernels/reduce.h). CUDA: the per-element summands go into a scratch buffer
// and are added up with kernels/reduce.h's sum_forward_cuda, the deterministic
// two-stage tree reduction, so no float atomics are used and the loss is the
// same bits on every run. The row sums I_r and S_r use that reduction once per
// row (2 R calls: R is a batch of masks, a few to a few hundred); a
// one-block-per-row reduction would be the next step if R grew large. The
// backward kernel reads dL (and I, S) from device memory: no copy to the host,
// no synchronisation.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/common.h"
#include "kernels/reduce.h"  // sum_cuda_partials

namespace skinmtl {

// ---- element functions, shared by the CPU loops and the CUDA kernels -----------------

// The two summands of one element of a Jaccard row: p t (into I) and
// p + t - p t (into S).
template <typename T>
SKINMTL_HD T jaccard_intersection_elem(T p, T t) {
  return p * t;
}
template <typename T>
SKINMTL_HD T jaccard_union_elem(T p, T t) {
  return p + t - p * t;
}

// J_r from its row sums.
template <typename T>
SKINMTL_HD T jaccard_row_elem(T I, T S, T smooth) {
  return smooth * (T(1) - (I + smooth) / (S + smooth));
}

// dJ_r / dp_j.
template <typename T>
SKINMTL_HD T jaccard_grad_elem(T t, T I, T S, T smooth) {
  const T u = S + smooth;
  return -smooth * (t * u - (I + smooth) * (T(1) - t)) / (u * u);
}

// ---- soft Jaccard distance ----------------------------------------------------------------
template <typename T>
void soft_jaccard_distance_forward_cpu(T* loss,     // ()
                                       T* sums,     // (2, R): I_r then S_r, saved for backward
                                       const T* p,  // (R, M) probabilities
                                       const T* t,  // (R, M) targets
                                       int64_t R, int64_t M, T smooth);
template <typename T>
void soft_jaccard_distance_backward_cpu(T* dp,           // (R, M) +=
                                        const T* dloss,  // ()
                                        const T* sums,   // (2, R) from the forward
                                        const T* t,      // (R, M)
                                        int64_t R, int64_t M, T smooth);

// Scratch of soft_jaccard_distance_forward_cuda, in floats: the (2, R, M) per-element
// summands, R row distances J_r, then the reduction's partial sums (shared by
// the successive sums, which the stream orders).
inline int64_t soft_jaccard_distance_cuda_scratch(int64_t R, int64_t M) {
  const int64_t big = M > R ? M : R;
  return 2 * R * M + R + sum_cuda_partials(big);
}
void soft_jaccard_distance_forward_cuda(
    float* loss,     // ()
    float* sums,     // (2, R): I_r then S_r, saved for backward
    float* scratch,  // (soft_jaccard_distance_cuda_scratch(R, M))
    const float* p,  // (R, M)
    const float* t,  // (R, M)
    int64_t R, int64_t M, float smooth, cuda_stream_t s);
void soft_jaccard_distance_backward_cuda(float* dp,           // (R, M) +=
                                         const float* dloss,  // (), read on the device
                                         const float* sums,   // (2, R), read on the device
                                         const float* t,      // (R, M)
                                         int64_t R, int64_t M, float smooth, cuda_stream_t s);

}  // namespace skinmtl
