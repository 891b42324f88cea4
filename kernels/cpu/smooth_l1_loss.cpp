// CPU loops for kernels/smooth_l1_loss.h. The loss is summed in double, also for
// float tensors (as kernels/reduce.h and kernels/losses.h do).
#include "kernels/smooth_l1_loss.h"

namespace skinmtl {

// ---- smooth L1 ------------------------------------------------------------------------

template <typename T>
void smooth_l1_loss_forward_cpu(T* loss, const T* x, const T* t, const T* w, int64_t n, T beta) {
  double acc = 0.0;
  for (int64_t i = 0; i < n; ++i) acc += (double)(w[i] * smooth_l1_loss_elem(x[i] - t[i], beta));
  loss[0] = (T)acc;
}

template <typename T>
void smooth_l1_loss_backward_cpu(T* dx, const T* dloss, const T* x, const T* t, const T* w,
                                 int64_t n, T beta) {
  const T g = dloss[0];
  for (int64_t i = 0; i < n; ++i) dx[i] += g * w[i] * smooth_l1_loss_grad_elem(x[i] - t[i], beta);
}

#define INSTANTIATE(T)                                                                       \
  template void smooth_l1_loss_forward_cpu<T>(T*, const T*, const T*, const T*, int64_t, T); \
  template void smooth_l1_loss_backward_cpu<T>(T*, const T*, const T*, const T*, const T*,   \
                                               int64_t, T);
INSTANTIATE(float)
INSTANTIATE(double)
#undef INSTANTIATE

}  // namespace skinmtl
