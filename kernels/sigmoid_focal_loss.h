// kernels/sigmoid_focal_loss.h: the sigmoid focal loss, the RPN's objectness
// loss in the detector of Song et al. 2019 (eq. 2; Lin et al. 2017, RetinaNet).
// The framework op is sigmoid_focal_loss (framework/ops/sigmoid_focal_loss.cpp).
//
//   L = sum_i w_i FL(x_i, y_i),  p = sigmoid(x),
//   FL = -alpha [ (1 - p)^gamma y log p + p^gamma (1 - y) log(1 - p) ]
//   Here alpha multiplies BOTH terms, as eq. 2 of Song et al. is written.
//   RetinaNet (and torchvision.ops.sigmoid_focal_loss) weight the positive term
//   by alpha and the negative one by 1 - alpha instead; with this form a caller
//   gets RetinaNet's weighting, for 0/1 targets, through w: alpha = 1 and
//   w_i = alpha_t = alpha y_i + (1 - alpha)(1 - y_i) (tests/nets/test_torch_reference.cpp
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
#include "kernels/losses.h"  // sigmoid_elem
#include "kernels/reduce.h"  // sum_cuda_partials

namespace skinmtl {

// ---- element functions, shared by the CPU loops and the CUDA kernels -----------------

// softplus(z) = log(1 + e^z), evaluated without overflow.
template <typename T>
SKINMTL_HD T softplus_elem(T z) {
  return (z > T(0) ? z : T(0)) + std::log1p(std::exp(-std::fabs(z)));
}

// FL(x, y) of eq. 2.
template <typename T>
SKINMTL_HD T sigmoid_focal_loss_elem(T x, T y, T alpha, T gamma) {
  const T p = sigmoid_elem(x), q = sigmoid_elem(-x);
  const T log_p = -softplus_elem(-x), log_q = -softplus_elem(x);
  return -alpha * (std::pow(q, gamma) * y * log_p + std::pow(p, gamma) * (T(1) - y) * log_q);
}

// dFL/dx (see the header comment).
template <typename T>
SKINMTL_HD T sigmoid_focal_loss_grad_elem(T x, T y, T alpha, T gamma) {
  const T p = sigmoid_elem(x), q = sigmoid_elem(-x);
  const T log_p = -softplus_elem(-x), log_q = -softplus_elem(x);
  return -alpha * (y * std::pow(q, gamma) * (q - gamma * p * log_p) +
                   (T(1) - y) * std::pow(p, gamma) * (gamma * q * log_q - p));
}

// ---- sigmoid focal loss ----------------------------------------------------------------
template <typename T>
void sigmoid_focal_loss_forward_cpu(T* loss,     // ()
                                    const T* x,  // (n) logits
                                    const T* y,  // (n) targets in [0, 1]
                                    const T* w,  // (n) weights
                                    int64_t n, T alpha, T gamma);
template <typename T>
void sigmoid_focal_loss_backward_cpu(T* dx,                               // (n) +=
                                     const T* dloss,                      // ()
                                     const T* x, const T* y, const T* w,  // (n) each
                                     int64_t n, T alpha, T gamma);

// Scratch of the CUDA forward, in floats: n per-element terms, then the
// reduction's partial sums.
inline int64_t sigmoid_focal_loss_cuda_scratch(int64_t n) { return n + sum_cuda_partials(n); }

void sigmoid_focal_loss_forward_cuda(float* loss,     // ()
                                     float* scratch,  // (sigmoid_focal_loss_cuda_scratch(n))
                                     const float* x, const float* y, const float* w,  // (n) each
                                     int64_t n, float alpha, float gamma, cuda_stream_t s);
void sigmoid_focal_loss_backward_cuda(float* dx,           // (n) +=
                                      const float* dloss,  // (), read on the device
                                      const float* x, const float* y, const float* w,  // (n) each
                                      int64_t n, float alpha, float gamma, cuda_stream_t s);

}  // namespace skinmtl
