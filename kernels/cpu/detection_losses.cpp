// CPU loops for kernels/detection_losses.h. The losses are summed in double,
// also for float tensors (as kernels/reduce.h and kernels/losses.h do).
#include "kernels/detection_losses.h"

namespace skinmtl {

// ---- smooth L1 ------------------------------------------------------------------------

template <typename T>
void smooth_l1_forward_cpu(T* loss, const T* x, const T* t, const T* w, int64_t n, T beta) {
  double acc = 0.0;
  for (int64_t i = 0; i < n; ++i) acc += (double)(w[i] * smooth_l1_elem(x[i] - t[i], beta));
  loss[0] = (T)acc;
}

template <typename T>
void smooth_l1_backward_cpu(T* dx, const T* dloss, const T* x, const T* t, const T* w, int64_t n,
                            T beta) {
  const T g = dloss[0];
  for (int64_t i = 0; i < n; ++i) dx[i] += g * w[i] * smooth_l1_grad_elem(x[i] - t[i], beta);
}

// ---- sigmoid focal loss -------------------------------------------------------------------

template <typename T>
void focal_forward_cpu(T* loss, const T* x, const T* y, const T* w, int64_t n, T alpha, T gamma) {
  double acc = 0.0;
  for (int64_t i = 0; i < n; ++i) acc += (double)(w[i] * focal_elem(x[i], y[i], alpha, gamma));
  loss[0] = (T)acc;
}

template <typename T>
void focal_backward_cpu(T* dx, const T* dloss, const T* x, const T* y, const T* w, int64_t n,
                        T alpha, T gamma) {
  const T g = dloss[0];
  for (int64_t i = 0; i < n; ++i) dx[i] += g * w[i] * focal_grad_elem(x[i], y[i], alpha, gamma);
}

// ---- soft Jaccard distance -------------------------------------------------------------------

template <typename T>
void jaccard_forward_cpu(T* loss, T* sums, const T* p, const T* t, int64_t R, int64_t M,
                         T smooth) {
  double total = 0.0;
  for (int64_t r = 0; r < R; ++r) {
    const T* pr = p + r * M;
    const T* tr = t + r * M;
    double I = 0.0, S = 0.0;
    for (int64_t j = 0; j < M; ++j) {
      I += (double)jaccard_intersection_elem(pr[j], tr[j]);
      S += (double)jaccard_union_elem(pr[j], tr[j]);
    }
    sums[r] = (T)I;
    sums[R + r] = (T)S;
    total += (double)jaccard_row_elem(sums[r], sums[R + r], smooth);
  }
  loss[0] = (T)(total / (double)R);
}

template <typename T>
void jaccard_backward_cpu(T* dp, const T* dloss, const T* sums, const T* t, int64_t R, int64_t M,
                          T smooth) {
  const T g = dloss[0] / T(R);
  for (int64_t r = 0; r < R; ++r) {
    const T I = sums[r], S = sums[R + r];
    for (int64_t j = 0; j < M; ++j)
      dp[r * M + j] += g * jaccard_grad_elem(t[r * M + j], I, S, smooth);
  }
}

#define INSTANTIATE(T)                                                                          \
  template void smooth_l1_forward_cpu<T>(T*, const T*, const T*, const T*, int64_t, T);        \
  template void smooth_l1_backward_cpu<T>(T*, const T*, const T*, const T*, const T*, int64_t, \
                                          T);                                                   \
  template void focal_forward_cpu<T>(T*, const T*, const T*, const T*, int64_t, T, T);         \
  template void focal_backward_cpu<T>(T*, const T*, const T*, const T*, const T*, int64_t, T,  \
                                      T);                                                       \
  template void jaccard_forward_cpu<T>(T*, T*, const T*, const T*, int64_t, int64_t, T);       \
  template void jaccard_backward_cpu<T>(T*, const T*, const T*, const T*, int64_t, int64_t, T);
INSTANTIATE(float)
INSTANTIATE(double)
#undef INSTANTIATE

}  // namespace skinmtl
