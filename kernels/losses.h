// kernels/losses.h: the two losses of the multi-task model and their output
// activations (Liao & Luo 2016, "Deep multi-task learning for skin lesion
// classification using body location", equations 3-7).
//
// ---- sigmoid ---------------------------------------------------------------------
//   forward:  y = 1 / (1 + exp(-x))                       (eq. 4), elementwise
//   backward: dx += dy * y * (1 - y)
//   Shapes: x, y, dx, dy hold n elements. Saved for backward: the output y.
//   Evaluated as exp(x) / (1 + exp(x)) for x < 0, so exp never overflows.
//
// ---- softmax over the last dim ------------------------------------------------------
//   forward:  y[n, k] = exp(x[n, k] - m_n) / sum_j exp(x[n, j] - m_n)   (eq. 6)
//             with m_n = max_j x[n, j] (subtracting it changes nothing
//             mathematically and keeps every exp <= 1)
//   backward: dx[n, k] += y[n, k] * (dy[n, k] - sum_j dy[n, j] y[n, j])
//   Shapes: x, y, dx, dy (N, K). Saved for backward: the output y.
//
// ---- sigmoid cross-entropy with logits (multi-label; eq. 5 and eq. 3) ---------------
//   L = (1/N) sum_n sum_k l(x[n, k], t[n, k]),
//   l(x, t) = -[t log s(x) + (1 - t) log(1 - s(x))],  s = sigmoid   (eq. 5)
//           =  max(x, 0) - x t + log(1 + exp(-|x|))                 (evaluated)
//   The second line is the same function rewritten so that it is stable for
//   every x: log s(x) = -log(1 + exp(-x)) would overflow exp for x << 0, and
//   log(1 - s(x)) becomes log(0) for x >> 0 in floating point. The rewrite only
//   ever takes exp of a non-positive number (and uses log1p, which is accurate
//   when exp(-|x|) is tiny). It is the form TensorFlow documents for
//   sigmoid_cross_entropy_with_logits; Caffe's SigmoidCrossEntropyLossLayer
//   computes an equivalent one. The sum over the K classes is the per-image
//   loss l_les of eq. 5; the mean over the N images (not over the N * K
//   terms) is eq. 3.
//   backward: dx[n, k] += dL * (s(x[n, k]) - t[n, k]) / N
//   Shapes: x, t, dx (N, K); L and dL shape (). Targets t are expected in
//   [0, 1] (0/1 labels, or soft labels); their values are not checked, and
//   they receive no gradient (the framework op refuses targets that require one).
//   Saved for backward: x and t.
//
// ---- softmax cross-entropy (single-label; eq. 7 and eq. 3) --------------------------
//   L = -(1/M) sum_{n : label_n != -1} log softmax(x_n)[label_n]
//     =  (1/M) sum_{n : label_n != -1} (lse_n - x[n, label_n]),
//   lse_n = log sum_j exp(x[n, j]) = m_n + log sum_j exp(x[n, j] - m_n)
//   M is the number of images whose label is not -1 ("ignore", e.g. an image
//   without a body-location annotation). M == 0 gives L = 0 and zero gradients.
//   (PyTorch's cross_entropy with ignore_index = -1 and mean reduction, and
//   Caffe's SoftmaxWithLoss with ignore_label and VALID normalisation, define
//   the same average.)
//   backward: dx[n, k] += dL * (softmax(x_n)[k] - [k == label_n]) / M for the
//             images not ignored; nothing for ignored ones.
//   Shapes: x, dx (N, K); labels (N), class indices stored as floats (the same
//   dtype as x): 0 .. K-1, or -1. L, dL and the count M shape ().
//   Saved for backward: x, the labels, lse (N) and M (a device scalar on CUDA,
//   so the backward kernel reads 1/M without any copy to the host).
//
//   Label validation, the choice made here:
//   - CPU: a label that is neither -1 nor an integer in [0, K) throws
//     skinmtl::Error naming the image and the value.
//   - CUDA: checking on the host would mean copying the labels back and waiting
//     for the GPU on every step, so the kernel cannot throw. Instead a bad label
//     makes its image's loss NaN (so L is NaN) and its gradient row NaN: the
//     first loss printed, or any non-finite check, shows that something is
//     wrong, rather than the image being silently dropped (which would quietly
//     change the results). The image counts towards M.
//
// CUDA reductions: the per-image losses are written to a scratch buffer (one
// thread per image sums its K classes in order), then added up with the
// deterministic tree reduction of kernels/reduce.h. No float atomics, so the
// loss is the same bits on every run. The row-wise kernels (softmax and the
// per-image losses) use one thread per row: N is a batch (tens of images) and
// K a few dozen classes here; a warp per row would be the next step for large K.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/common.h"
#include "kernels/reduce.h"

namespace skinmtl {

// ---- element and row functions, shared by the CPU loops and the CUDA kernels ----

template <typename T>
SKINMTL_HD T sigmoid_elem(T x) {
  if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
  const T e = std::exp(x);  // < 1: no overflow
  return e / (T(1) + e);
}

// The contribution to dx, given dy and the saved output y = sigmoid(x).
template <typename T>
SKINMTL_HD T sigmoid_backward_elem(T dy, T y) { return dy * y * (T(1) - y); }

// l(x, t) of eq. 5 in its stable form (see above).
template <typename T>
SKINMTL_HD T sigmoid_ce_elem(T x, T t) {
  return (x > T(0) ? x : T(0)) - x * t + std::log1p(std::exp(-std::fabs(x)));
}

// dl/dx = sigmoid(x) - t.
template <typename T>
SKINMTL_HD T sigmoid_ce_grad_elem(T x, T t) { return sigmoid_elem(x) - t; }

// max_j x[j] over a row of K >= 1 values.
template <typename T>
SKINMTL_HD T row_max(const T* x, int64_t K) {
  T m = x[0];
  for (int64_t j = 1; j < K; ++j) m = x[j] > m ? x[j] : m;
  return m;
}

// log sum_j exp(x[j]) over a row of K >= 1 values, shifted by the row max.
template <typename T>
SKINMTL_HD T row_logsumexp(const T* x, int64_t K) {
  const T m = row_max(x, K);
  T s = T(0);
  for (int64_t j = 0; j < K; ++j) s += std::exp(x[j] - m);
  return m + std::log(s);  // s >= 1 (the max term is exp(0)), so log is finite
}

// y = softmax(x) over a row of K >= 1 values.
template <typename T>
SKINMTL_HD void softmax_row(T* y, const T* x, int64_t K) {
  const T m = row_max(x, K);
  T s = T(0);
  for (int64_t j = 0; j < K; ++j) {
    y[j] = std::exp(x[j] - m);
    s += y[j];
  }
  const T inv = T(1) / s;
  for (int64_t j = 0; j < K; ++j) y[j] *= inv;
}

// dx += y * (dy - sum_j dy[j] y[j]) over a row of K values.
template <typename T>
SKINMTL_HD void softmax_backward_row(T* dx, const T* dy, const T* y, int64_t K) {
  T dot = T(0);
  for (int64_t j = 0; j < K; ++j) dot += dy[j] * y[j];
  for (int64_t j = 0; j < K; ++j) dx[j] += y[j] * (dy[j] - dot);
}

// d(-log softmax(x)[label]) / dx_k = softmax(x)[k] - [k == label], with
// softmax(x)[k] = exp(x_k - lse) from the saved log-sum-exp of the row.
template <typename T>
SKINMTL_HD T softmax_ce_grad_elem(T x, T lse, bool is_label) {
  return std::exp(x - lse) - (is_label ? T(1) : T(0));
}

// The ignore marker of softmax_cross_entropy's labels.
template <typename T>
SKINMTL_HD bool label_is_ignored(T label) { return label == T(-1); }

// A usable class index: an integer in [0, K). (The range is tested first, so
// the cast to an integer only ever sees a value that fits.)
template <typename T>
SKINMTL_HD bool label_is_class(T label, int64_t K) {
  return label >= T(0) && label < T(K) && T((int64_t)label) == label;
}

// ---- sigmoid ----------------------------------------------------------------------
template <typename T>
void sigmoid_forward_cpu(T* y, const T* x, int64_t n);                // y (n), x (n)
template <typename T>
void sigmoid_backward_cpu(T* dx, const T* dy, const T* y, int64_t n);  // dx (n) +=, dy, y (n)
void sigmoid_forward_cuda(float* y, const float* x, int64_t n, cuda_stream_t s);
void sigmoid_backward_cuda(float* dx, const float* dy, const float* y, int64_t n,
                           cuda_stream_t s);

// ---- softmax ----------------------------------------------------------------------
template <typename T>
void softmax_forward_cpu(T* y,        // (N, K)
                         const T* x,  // (N, K)
                         int64_t N, int64_t K);
template <typename T>
void softmax_backward_cpu(T* dx,        // (N, K) +=
                          const T* dy,  // (N, K)
                          const T* y,   // (N, K), the forward's output
                          int64_t N, int64_t K);
void softmax_forward_cuda(float* y, const float* x, int64_t N, int64_t K, cuda_stream_t s);
void softmax_backward_cuda(float* dx, const float* dy, const float* y, int64_t N, int64_t K,
                           cuda_stream_t s);

// ---- sigmoid cross-entropy ----------------------------------------------------------
template <typename T>
void sigmoid_ce_forward_cpu(T* loss,     // ()
                            const T* x,  // (N, K) logits
                            const T* t,  // (N, K) targets
                            int64_t N, int64_t K);
template <typename T>
void sigmoid_ce_backward_cpu(T* dx,          // (N, K) +=
                             const T* dloss,  // ()
                             const T* x,      // (N, K)
                             const T* t,      // (N, K)
                             int64_t N, int64_t K);

// The scratch sigmoid_ce_forward_cuda needs, in floats: N per-image losses
// followed by the reduction's partial sums.
inline int64_t sigmoid_ce_cuda_scratch(int64_t N) { return N + sum_cuda_partials(N); }
void sigmoid_ce_forward_cuda(float* loss,     // ()
                             float* scratch,  // (sigmoid_ce_cuda_scratch(N))
                             const float* x,  // (N, K)
                             const float* t,  // (N, K)
                             int64_t N, int64_t K, cuda_stream_t s);
void sigmoid_ce_backward_cuda(float* dx,           // (N, K) +=
                              const float* dloss,  // (), read on the device
                              const float* x,      // (N, K)
                              const float* t,      // (N, K)
                              int64_t N, int64_t K, cuda_stream_t s);

// ---- softmax cross-entropy ----------------------------------------------------------
template <typename T>
void softmax_ce_forward_cpu(T* loss,          // ()
                            T* count,         // (), M: the images not ignored
                            T* lse,           // (N), saved for backward
                            const T* x,       // (N, K) logits
                            const T* labels,  // (N) class indices or -1
                            int64_t N, int64_t K);  // throws on a bad label
template <typename T>
void softmax_ce_backward_cpu(T* dx,            // (N, K) +=
                             const T* dloss,   // ()
                             const T* count,   // ()
                             const T* lse,     // (N)
                             const T* x,       // (N, K)
                             const T* labels,  // (N)
                             int64_t N, int64_t K);

// The scratch softmax_ce_forward_cuda needs, in floats: N per-image losses, N
// not-ignored flags (0/1), then the reduction's partial sums.
inline int64_t softmax_ce_cuda_scratch(int64_t N) { return 2 * N + sum_cuda_partials(N); }
void softmax_ce_forward_cuda(float* loss,           // ()
                             float* count,          // ()
                             float* lse,            // (N)
                             float* scratch,        // (softmax_ce_cuda_scratch(N))
                             const float* x,        // (N, K)
                             const float* labels,   // (N)
                             int64_t N, int64_t K, cuda_stream_t s);  // bad label: NaN
void softmax_ce_backward_cuda(float* dx,             // (N, K) +=
                              const float* dloss,    // (), read on the device
                              const float* count,    // (), read on the device
                              const float* lse,      // (N)
                              const float* x,        // (N, K)
                              const float* labels,   // (N)
                              int64_t N, int64_t K, cuda_stream_t s);

}  // namespace skinmtl
