// CPU loops for kernels/sigmoid_focal_loss.h. The loss is summed in double, also for
// float tensors (as kernels/reduce.h and kernels/losses.h do).
#include "kernels/sigmoid_focal_loss.h"

namespace skinmtl {

// ---- sigmoid focal loss -------------------------------------------------------------------

template <typename T>
void sigmoid_focal_loss_forward_cpu(T* loss, const T* x, const T* y, const T* w, int64_t n, T alpha,
                                    T gamma) {
  double acc = 0.0;
  for (int64_t i = 0; i < n; ++i)
    acc += (double)(w[i] * sigmoid_focal_loss_elem(x[i], y[i], alpha, gamma));
  loss[0] = (T)acc;
}

template <typename T>
void sigmoid_focal_loss_backward_cpu(T* dx, const T* dloss, const T* x, const T* y, const T* w,
                                     int64_t n, T alpha, T gamma) {
  const T g = dloss[0];
  for (int64_t i = 0; i < n; ++i)
    dx[i] += g * w[i] * sigmoid_focal_loss_grad_elem(x[i], y[i], alpha, gamma);
}

#define INSTANTIATE(T)                                                                          \
  template void sigmoid_focal_loss_forward_cpu<T>(T*, const T*, const T*, const T*, int64_t, T, \
                                                  T);                                           \
  template void sigmoid_focal_loss_backward_cpu<T>(T*, const T*, const T*, const T*, const T*,  \
                                                   int64_t, T, T);
INSTANTIATE(float)
INSTANTIATE(double)
#undef INSTANTIATE

}  // namespace skinmtl
