// kernels/softmax_focal_loss.h: the focal loss over a softmax, the Classify
// subnet's loss in the detector of Song et al. 2019. The paper (section II-C)
// computes the subnets' L_cls "the same as" the RPN's, eq. 2, which is written
// for two classes; the subnet has three (background, benign, malignant), so
// this is eq. 2 with p the softmax probability of the true class, the
// multi-class form of Lin et al. 2017's focal loss. The framework op is
// softmax_focal_loss (framework/ops/softmax_focal_loss.cpp).
//
//   L = (1/N) sum_n FL(x_n, c_n),
//   FL = -alpha (1 - p)^gamma log p,   p = softmax(x_n)[c_n]
//   With two classes this is eq. 2 term for term: for a positive p is the
//   foreground probability, for a negative p is 1 - it. alpha multiplies every
//   class alike (as eq. 2 is written). gamma = 0, alpha = 1 is the softmax
//   cross-entropy (kernels/losses.h); gamma > 0 shrinks the loss of RoIs that
//   are already classified well, so the many easy background and benign RoIs
//   do not swamp the few melanomas.
//   Evaluated from the logits without forming 1 - p by subtraction:
//     lse = log sum_j exp(x_j)          (row_logsumexp, shifted by the row max)
//     log p = x_c - lse,   p = exp(log p),   q = 1 - p = -expm1(log p)
//   Derivative. d log p / dx_k = [k == c] - s_k (s = softmax(x)), and
//     dFL / d log p = -alpha q^gamma (1 - gamma p log p / q)
//   (from dq / d log p = -p). log p / q = log(1 - q) / q tends to -1 as q -> 0,
//   so the bracket stays finite; at q == 0 exactly (a certain, right answer)
//   the whole derivative is 0 for gamma > 0 and -alpha for gamma == 0, which
//   is what the code returns. gamma = 0, alpha = 1 gives s_k - [k == c], the
//   cross-entropy's gradient.
//   backward: dx[n, k] += (dL / N) dFL/dlogp(n) ([k == c_n] - s_k(n)).
//   Shapes: x, dx (N, K), K >= 1; labels (N), class indices 0 .. K-1 stored as
//   floats (the same dtype as x); L, dL shape (). N == 0 gives L = 0.
//   Saved for backward: x, the labels and lse (N).
//
// Labels: as softmax_cross_entropy (kernels/losses.h), but with no "ignore"
// value: the subnet labels every sampled RoI. The CPU forward throws on a label
// that is not a class index; the CUDA kernels cannot, so a bad label makes its
// RoI's loss and gradient row NaN instead of being dropped in silence.
//
// Accuracy and determinism: CPU sums in double, also for float tensors. CUDA:
// one thread per row writes its term into a scratch buffer, kernels/reduce.h's
// deterministic tree reduction adds them (no float atomics: the same bits on
// every run), and the backward kernel reads dL on the device (no host wait).
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/common.h"
#include "kernels/losses.h"  // row_logsumexp, label_is_class
#include "kernels/reduce.h"  // sum_cuda_partials

namespace skinmtl {

// ---- element functions, shared by the CPU loops and the CUDA kernels -----------------

// FL given log p of the true class.
template <typename T>
SKINMTL_HD T softmax_focal_elem(T log_p, T alpha, T gamma) {
  const T q = -std::expm1(log_p);  // 1 - p, accurate when p is near 1
  return -alpha * std::pow(q, gamma) * log_p;
}

// dFL / d log p (see the header comment for the q == 0 case).
template <typename T>
SKINMTL_HD T softmax_focal_dlogp(T log_p, T alpha, T gamma) {
  const T q = -std::expm1(log_p);
  if (gamma == T(0)) return -alpha;
  if (q <= T(0)) return T(0);
  const T p = std::exp(log_p);
  return -alpha * std::pow(q, gamma) * (T(1) - gamma * p * (log_p / q));
}

// dFL/dx_k of one row element: dFL/dlogp ([k == c] - s_k), s_k = exp(x_k - lse).
template <typename T>
SKINMTL_HD T softmax_focal_grad_elem(T x, T lse, bool is_label, T dfl_dlogp) {
  return dfl_dlogp * ((is_label ? T(1) : T(0)) - std::exp(x - lse));
}

// ---- softmax focal loss ------------------------------------------------------------------
template <typename T>
void softmax_focal_loss_forward_cpu(T* loss,          // ()
                                    T* lse,           // (N), saved for backward
                                    const T* x,       // (N, K) logits
                                    const T* labels,  // (N) class indices
                                    int64_t N, int64_t K, T alpha, T gamma);  // throws on a bad label
template <typename T>
void softmax_focal_loss_backward_cpu(T* dx,            // (N, K) +=
                                     const T* dloss,   // ()
                                     const T* lse,     // (N)
                                     const T* x,       // (N, K)
                                     const T* labels,  // (N)
                                     int64_t N, int64_t K, T alpha, T gamma);

// Scratch of the CUDA forward, in floats: N per-row terms, then the
// reduction's partial sums.
inline int64_t softmax_focal_loss_cuda_scratch(int64_t N) { return N + sum_cuda_partials(N); }

void softmax_focal_loss_forward_cuda(float* loss,          // ()
                                     float* lse,           // (N)
                                     float* scratch,       // (softmax_focal_loss_cuda_scratch(N))
                                     const float* x,       // (N, K)
                                     const float* labels,  // (N)
                                     int64_t N, int64_t K, float alpha, float gamma,
                                     cuda_stream_t s);  // bad label: NaN
void softmax_focal_loss_backward_cuda(float* dx,            // (N, K) +=
                                      const float* dloss,   // (), read on the device
                                      const float* lse,     // (N)
                                      const float* x,       // (N, K)
                                      const float* labels,  // (N)
                                      int64_t N, int64_t K, float alpha, float gamma,
                                      cuda_stream_t s);

}  // namespace skinmtl
