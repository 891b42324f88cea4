// kernels/detection_losses.h: the losses of the detector and the mask head of
// Song et al. 2019, "An end-to-end multi-task deep learning framework for skin
// lesion analysis" (eqs. 2, 3 and 5), also used by the segmentation model of
// Yang et al. 2017.
//
// ---- smooth L1 (eq. 3; Girshick 2015, Fast R-CNN, eq. 3) -------------------------
//   L = sum_i w_i s(x_i - t_i),
//   s(d) = 0.5 d^2 / beta      if |d| < beta
//          |d| - 0.5 beta      otherwise           (beta = 1 is eq. 3)
//   backward: dx_i += dL * w_i * s'(x_i - t_i),
//             s'(d) = d / beta if |d| < beta, else sign(d)
//   The two pieces meet with equal value and slope at |d| = beta: quadratic
//   near zero (a smooth minimum), linear beyond (outliers pull with a bounded
//   force, where L2's pull grows with the error). beta = 0 is plain L1 (the
//   quadratic branch is never taken, so nothing divides by beta).
//   Shapes: x (pred), t (target), w (weights), dx: n elements each (any layout);
//   L, dL shape (). Saved for backward: x, t, w. Reference: PyTorch's
//   F.smooth_l1_loss(x, t, beta=beta, reduction='none'), times w, summed.
//
// ---- sigmoid focal loss (eq. 2; Lin et al. 2017, RetinaNet) ------------------------
//   L = sum_i w_i FL(x_i, y_i),  p = sigmoid(x),
//   FL = -alpha [ (1 - p)^gamma y log p + p^gamma (1 - y) log(1 - p) ]
//   Here alpha multiplies BOTH terms, as eq. 2 of Song et al. is written.
//   RetinaNet (and torchvision.ops.sigmoid_focal_loss) weight the positive term
//   by alpha and the negative one by 1 - alpha instead; with this form a caller
//   gets RetinaNet's weighting, for 0/1 targets, through w: alpha = 1 and
//   w_i = alpha_t = alpha y_i + (1 - alpha)(1 - y_i) (tests/test_torch_reference.cpp
//   checks it against torchvision.ops.sigmoid_focal_loss).
//   gamma = 0, alpha = 1 is the binary cross-entropy; gamma > 0 shrinks the
//   loss of anchors that are already classified well (p near y), so the many
//   easy background anchors do not swamp the few lesions.
//   Stable evaluation from the logit (p is never formed as 1 - something):
//     log p     = -softplus(-x),   log(1 - p) = -softplus(x),
//     softplus(z) = log(1 + e^z) = max(z, 0) + log1p(e^-|z|)
//     p = sigmoid(x),  q = 1 - p = sigmoid(-x)   (both by kernels/losses.h's sigmoid_elem)
//   Derivative (d log p / dx = q, d log q / dx = -p, dp/dx = p q):
//     dFL/dx = -alpha [ y q^gamma (q - gamma p log p)
//                       + (1 - y) p^gamma (gamma q log(1 - p) - p) ]
//   which has no negative power of p or q, so it is finite for every x and
//   every gamma >= 0 (gamma - 1 < 0 would make q^(gamma - 1) infinite at q = 0
//   in the textbook form).
//   backward: dx_i += dL * w_i * dFL/dx(x_i, y_i).
//   Shapes: x (logits), y (targets, in [0, 1]), w (weights; 0 drops an anchor,
//   e.g. the RPN's ignored or unsampled anchors), dx: n elements each; L, dL
//   shape (). Saved for backward: x, y, w.
//
// ---- soft Jaccard distance (eq. 5, second term; keras-contrib's jaccard_distance) --
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
// kernels/reduce.h). CUDA: every loss writes its per-element terms into a
// scratch buffer and adds them up with kernels/reduce.h's sum_forward_cuda,
// the deterministic two-stage tree reduction, so no float atomics are used and
// the loss is the same bits on every run. The Jaccard row sums I_r and S_r use
// the same reduction, once per row (2 R calls: R is a batch of masks, a few to
// a few hundred); a one-block-per-row reduction would be the next step if R
// grew large. Backward kernels read dL (and I, S) from device memory: no copy
// to the host, no synchronisation.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/common.h"
#include "kernels/losses.h"  // sigmoid_elem
#include "kernels/reduce.h"  // sum_cuda_partials

namespace skinmtl {

// ---- element functions, shared by the CPU loops and the CUDA kernels -----------------

// s(d) of smooth L1.
template <typename T>
SKINMTL_HD T smooth_l1_elem(T d, T beta) {
  const T a = std::fabs(d);
  return a < beta ? T(0.5) * d * d / beta : a - T(0.5) * beta;
}

// s'(d): d / beta inside, sign(d) outside (0 at d = 0 when beta = 0).
template <typename T>
SKINMTL_HD T smooth_l1_grad_elem(T d, T beta) {
  if (std::fabs(d) < beta) return d / beta;
  return d > T(0) ? T(1) : (d < T(0) ? T(-1) : T(0));
}

// softplus(z) = log(1 + e^z), evaluated without overflow.
template <typename T>
SKINMTL_HD T softplus_elem(T z) {
  return (z > T(0) ? z : T(0)) + std::log1p(std::exp(-std::fabs(z)));
}

// FL(x, y) of eq. 2.
template <typename T>
SKINMTL_HD T focal_elem(T x, T y, T alpha, T gamma) {
  const T p = sigmoid_elem(x), q = sigmoid_elem(-x);
  const T log_p = -softplus_elem(-x), log_q = -softplus_elem(x);
  return -alpha * (std::pow(q, gamma) * y * log_p + std::pow(p, gamma) * (T(1) - y) * log_q);
}

// dFL/dx (see the header comment).
template <typename T>
SKINMTL_HD T focal_grad_elem(T x, T y, T alpha, T gamma) {
  const T p = sigmoid_elem(x), q = sigmoid_elem(-x);
  const T log_p = -softplus_elem(-x), log_q = -softplus_elem(x);
  return -alpha * (y * std::pow(q, gamma) * (q - gamma * p * log_p) +
                   (T(1) - y) * std::pow(p, gamma) * (gamma * q * log_q - p));
}

// The two summands of one element of a Jaccard row: p t (into I) and
// p + t - p t (into S).
template <typename T>
SKINMTL_HD T jaccard_intersection_elem(T p, T t) { return p * t; }
template <typename T>
SKINMTL_HD T jaccard_union_elem(T p, T t) { return p + t - p * t; }

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

// ---- smooth L1 ----------------------------------------------------------------------
template <typename T>
void smooth_l1_forward_cpu(T* loss,     // ()
                           const T* x,  // (n) predictions
                           const T* t,  // (n) targets
                           const T* w,  // (n) weights
                           int64_t n, T beta);
template <typename T>
void smooth_l1_backward_cpu(T* dx,           // (n) +=
                            const T* dloss,  // ()
                            const T* x, const T* t, const T* w,  // (n) each
                            int64_t n, T beta);

// Scratch of the CUDA forward losses, in floats: n per-element terms, then the
// reduction's partial sums.
inline int64_t elementwise_loss_cuda_scratch(int64_t n) { return n + sum_cuda_partials(n); }

void smooth_l1_forward_cuda(float* loss,       // ()
                            float* scratch,    // (elementwise_loss_cuda_scratch(n))
                            const float* x, const float* t, const float* w,  // (n) each
                            int64_t n, float beta, cuda_stream_t s);
void smooth_l1_backward_cuda(float* dx,           // (n) +=
                             const float* dloss,  // (), read on the device
                             const float* x, const float* t, const float* w,  // (n) each
                             int64_t n, float beta, cuda_stream_t s);

// ---- sigmoid focal loss ----------------------------------------------------------------
template <typename T>
void focal_forward_cpu(T* loss,     // ()
                       const T* x,  // (n) logits
                       const T* y,  // (n) targets in [0, 1]
                       const T* w,  // (n) weights
                       int64_t n, T alpha, T gamma);
template <typename T>
void focal_backward_cpu(T* dx,           // (n) +=
                        const T* dloss,  // ()
                        const T* x, const T* y, const T* w,  // (n) each
                        int64_t n, T alpha, T gamma);

void focal_forward_cuda(float* loss,     // ()
                        float* scratch,  // (elementwise_loss_cuda_scratch(n))
                        const float* x, const float* y, const float* w,  // (n) each
                        int64_t n, float alpha, float gamma, cuda_stream_t s);
void focal_backward_cuda(float* dx,           // (n) +=
                         const float* dloss,  // (), read on the device
                         const float* x, const float* y, const float* w,  // (n) each
                         int64_t n, float alpha, float gamma, cuda_stream_t s);

// ---- soft Jaccard distance ----------------------------------------------------------------
template <typename T>
void jaccard_forward_cpu(T* loss,     // ()
                         T* sums,     // (2, R): I_r then S_r, saved for backward
                         const T* p,  // (R, M) probabilities
                         const T* t,  // (R, M) targets
                         int64_t R, int64_t M, T smooth);
template <typename T>
void jaccard_backward_cpu(T* dp,           // (R, M) +=
                          const T* dloss,  // ()
                          const T* sums,   // (2, R) from the forward
                          const T* t,      // (R, M)
                          int64_t R, int64_t M, T smooth);

// Scratch of jaccard_forward_cuda, in floats: the (2, R, M) per-element
// summands, R row distances J_r, then the reduction's partial sums (shared by
// the successive sums, which the stream orders).
inline int64_t jaccard_cuda_scratch(int64_t R, int64_t M) {
  const int64_t big = M > R ? M : R;
  return 2 * R * M + R + sum_cuda_partials(big);
}
void jaccard_forward_cuda(float* loss,     // ()
                          float* sums,     // (2, R): I_r then S_r, saved for backward
                          float* scratch,  // (jaccard_cuda_scratch(R, M))
                          const float* p,  // (R, M)
                          const float* t,  // (R, M)
                          int64_t R, int64_t M, float smooth, cuda_stream_t s);
void jaccard_backward_cuda(float* dp,           // (R, M) +=
                           const float* dloss,  // (), read on the device
                           const float* sums,   // (2, R), read on the device
                           const float* t,      // (R, M)
                           int64_t R, int64_t M, float smooth, cuda_stream_t s);

}  // namespace skinmtl
