// CPU reference loops for kernels/softmax_focal_loss.h. The loss is summed in
// double, also for float tensors (as kernels/losses.h does).
#include "kernels/softmax_focal_loss.h"

namespace skinmtl {

template <typename T>
void softmax_focal_loss_forward_cpu(T* loss, T* lse, const T* x, const T* labels, int64_t N, int64_t K, T alpha,
                                    T gamma) {
  double total = 0.0;
  for (int64_t n = 0; n < N; ++n) {
    const T* xn = x + n * K;
    lse[n] = row_logsumexp(xn, K);
    SKINMTL_CHECK(label_is_class(labels[n], K), "softmax_focal_loss: label " << (double)labels[n] << " of row " << n
                                                                             << " is not a class index in [0, " << K
                                                                             << ")");
    total += (double)softmax_focal_elem(xn[(int64_t)labels[n]] - lse[n], alpha, gamma);
  }
  loss[0] = N > 0 ? (T)(total / (double)N) : T(0);
}

template <typename T>
void softmax_focal_loss_backward_cpu(T* dx, const T* dloss, const T* lse, const T* x, const T* labels, int64_t N,
                                     int64_t K, T alpha, T gamma) {
  if (N == 0) return;
  const T g = dloss[0] / T(N);
  for (int64_t n = 0; n < N; ++n) {
    // The forward validated the labels; a bad one cannot reach this point.
    const int64_t c = (int64_t)labels[n];
    const T d = g * softmax_focal_dlogp(x[n * K + c] - lse[n], alpha, gamma);
    for (int64_t k = 0; k < K; ++k) dx[n * K + k] += softmax_focal_grad_elem(x[n * K + k], lse[n], k == c, d);
  }
}

#define INSTANTIATE(T)                                                                                      \
  template void softmax_focal_loss_forward_cpu<T>(T*, T*, const T*, const T*, int64_t, int64_t, T, T);      \
  template void softmax_focal_loss_backward_cpu<T>(T*, const T*, const T*, const T*, const T*, int64_t, int64_t, \
                                                   T, T);
INSTANTIATE(float)
INSTANTIATE(double)
#undef INSTANTIATE

}  // namespace skinmtl
