// kernels/smooth_l1_loss.h: smooth L1, the box regression loss of the detector of
// Song et al. 2019 (eq. 3; Girshick 2015, Fast R-CNN, eq. 3). The framework op is
// smooth_l1_loss (framework/ops/smooth_l1_loss.cpp).
//
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
//
// Accuracy and determinism. CPU sums run in double, also for float tensors (as
// kernels/reduce.h). CUDA: the per-element terms go into a scratch buffer and
// are added up with kernels/reduce.h's sum_forward_cuda, the deterministic
// two-stage tree reduction, so no float atomics are used and the loss is the
// same bits on every run. The backward kernel reads dL from device memory: no
// copy to the host, no synchronisation.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/common.h"
#include "kernels/reduce.h"  // sum_cuda_partials

namespace skinmtl {

// ---- element functions, shared by the CPU loops and the CUDA kernels -----------------

// s(d) of smooth L1.
template <typename T>
SKINMTL_HD T smooth_l1_loss_elem(T d, T beta) {
  const T a = std::fabs(d);
  return a < beta ? T(0.5) * d * d / beta : a - T(0.5) * beta;
}

// s'(d): d / beta inside, sign(d) outside (0 at d = 0 when beta = 0).
template <typename T>
SKINMTL_HD T smooth_l1_loss_grad_elem(T d, T beta) {
  if (std::fabs(d) < beta) return d / beta;
  return d > T(0) ? T(1) : (d < T(0) ? T(-1) : T(0));
}

// ---- smooth L1 ----------------------------------------------------------------------
template <typename T>
void smooth_l1_loss_forward_cpu(T* loss,     // ()
                                const T* x,  // (n) predictions
                                const T* t,  // (n) targets
                                const T* w,  // (n) weights
                                int64_t n, T beta);
template <typename T>
void smooth_l1_loss_backward_cpu(T* dx,                               // (n) +=
                                 const T* dloss,                      // ()
                                 const T* x, const T* t, const T* w,  // (n) each
                                 int64_t n, T beta);

// Scratch of the CUDA forward, in floats: n per-element terms, then the
// reduction's partial sums.
inline int64_t smooth_l1_loss_cuda_scratch(int64_t n) { return n + sum_cuda_partials(n); }

void smooth_l1_loss_forward_cuda(float* loss,     // ()
                                 float* scratch,  // (smooth_l1_loss_cuda_scratch(n))
                                 const float* x, const float* t, const float* w,  // (n) each
                                 int64_t n, float beta, cuda_stream_t s);
void smooth_l1_loss_backward_cuda(float* dx,           // (n) +=
                                  const float* dloss,  // (), read on the device
                                  const float* x, const float* t, const float* w,  // (n) each
                                  int64_t n, float beta, cuda_stream_t s);

}  // namespace skinmtl
