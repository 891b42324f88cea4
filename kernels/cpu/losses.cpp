// CPU reference loops for kernels/losses.h.
#include "kernels/losses.h"

namespace skinmtl {

// ---- sigmoid ------------------------------------------------------------------------

template <typename T>
void sigmoid_forward_cpu(T* y, const T* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = sigmoid_elem(x[i]);
}

template <typename T>
void sigmoid_backward_cpu(T* dx, const T* dy, const T* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dx[i] += sigmoid_backward_elem(dy[i], y[i]);
}

// ---- softmax ------------------------------------------------------------------------

template <typename T>
void softmax_forward_cpu(T* y, const T* x, int64_t N, int64_t K) {
  for (int64_t n = 0; n < N; ++n) softmax_row(y + n * K, x + n * K, K);
}

template <typename T>
void softmax_backward_cpu(T* dx, const T* dy, const T* y, int64_t N, int64_t K) {
  for (int64_t n = 0; n < N; ++n) softmax_backward_row(dx + n * K, dy + n * K, y + n * K, K);
}

// ---- sigmoid cross-entropy ------------------------------------------------------------

template <typename T>
void sigmoid_ce_forward_cpu(T* loss, const T* x, const T* t, int64_t N, int64_t K) {
  // Sums in double, also for float (as in kernels/reduce.h): first each
  // image's l_les (eq. 5), then their mean (eq. 3).
  double total = 0.0;
  for (int64_t n = 0; n < N; ++n) {
    double image = 0.0;
    for (int64_t k = 0; k < K; ++k) image += (double)sigmoid_ce_elem(x[n * K + k], t[n * K + k]);
    total += image;
  }
  loss[0] = (T)(total / (double)N);
}

template <typename T>
void sigmoid_ce_backward_cpu(T* dx, const T* dloss, const T* x, const T* t, int64_t N,
                             int64_t K) {
  const T g = dloss[0] / T(N);
  for (int64_t i = 0; i < N * K; ++i) dx[i] += g * sigmoid_ce_grad_elem(x[i], t[i]);
}

// ---- softmax cross-entropy ------------------------------------------------------------

template <typename T>
void softmax_ce_forward_cpu(T* loss, T* count, T* lse, const T* x, const T* labels, int64_t N,
                            int64_t K) {
  double total = 0.0;
  int64_t m = 0;
  for (int64_t n = 0; n < N; ++n) {
    const T* xn = x + n * K;
    lse[n] = row_logsumexp(xn, K);  // written for ignored images too: no stale values
    const T label = labels[n];
    if (label_is_ignored(label)) continue;
    SKINMTL_CHECK(label_is_class(label, K),
                  "softmax_cross_entropy: label " << (double)label << " of image " << n
                                                  << " is not a class index in [0, " << K
                                                  << ") nor -1 (ignore)");
    total += (double)(lse[n] - xn[(int64_t)label]);  // -log softmax(x_n)[label]
    ++m;
  }
  count[0] = (T)m;
  loss[0] = m > 0 ? (T)(total / (double)m) : T(0);
}

template <typename T>
void softmax_ce_backward_cpu(T* dx, const T* dloss, const T* count, const T* lse, const T* x,
                             const T* labels, int64_t N, int64_t K) {
  if (!(count[0] > T(0))) return;  // every image ignored: L = 0 is constant
  const T g = dloss[0] / count[0];
  for (int64_t n = 0; n < N; ++n) {
    const T label = labels[n];
    if (label_is_ignored(label)) continue;
    // The forward validated the labels; a bad one cannot reach this point.
    const int64_t c = (int64_t)label;
    for (int64_t k = 0; k < K; ++k)
      dx[n * K + k] += g * softmax_ce_grad_elem(x[n * K + k], lse[n], k == c);
  }
}

#define INSTANTIATE(T)                                                                         \
  template void sigmoid_forward_cpu<T>(T*, const T*, int64_t);                                 \
  template void sigmoid_backward_cpu<T>(T*, const T*, const T*, int64_t);                      \
  template void softmax_forward_cpu<T>(T*, const T*, int64_t, int64_t);                        \
  template void softmax_backward_cpu<T>(T*, const T*, const T*, int64_t, int64_t);             \
  template void sigmoid_ce_forward_cpu<T>(T*, const T*, const T*, int64_t, int64_t);           \
  template void sigmoid_ce_backward_cpu<T>(T*, const T*, const T*, const T*, int64_t, int64_t); \
  template void softmax_ce_forward_cpu<T>(T*, T*, T*, const T*, const T*, int64_t, int64_t);   \
  template void softmax_ce_backward_cpu<T>(T*, const T*, const T*, const T*, const T*,        \
                                           const T*, int64_t, int64_t);
INSTANTIATE(float)
INSTANTIATE(double)
#undef INSTANTIATE

}  // namespace skinmtl
