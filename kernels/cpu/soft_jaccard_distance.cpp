// CPU loops for kernels/soft_jaccard_distance.h. The loss is summed in double, also for
// float tensors (as kernels/reduce.h and kernels/losses.h do).
#include "kernels/soft_jaccard_distance.h"

namespace skinmtl {

// ---- soft Jaccard distance -------------------------------------------------------------------

template <typename T>
void soft_jaccard_distance_forward_cpu(T* loss, T* sums, const T* p, const T* t, int64_t R,
                                       int64_t M, T smooth) {
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
void soft_jaccard_distance_backward_cpu(T* dp, const T* dloss, const T* sums, const T* t, int64_t R,
                                        int64_t M, T smooth) {
  const T g = dloss[0] / T(R);
  for (int64_t r = 0; r < R; ++r) {
    const T I = sums[r], S = sums[R + r];
    for (int64_t j = 0; j < M; ++j)
      dp[r * M + j] += g * jaccard_grad_elem(t[r * M + j], I, S, smooth);
  }
}

#define INSTANTIATE(T)                                                                             \
  template void soft_jaccard_distance_forward_cpu<T>(T*, T*, const T*, const T*, int64_t, int64_t, \
                                                     T);                                           \
  template void soft_jaccard_distance_backward_cpu<T>(T*, const T*, const T*, const T*, int64_t,   \
                                                      int64_t, T);
INSTANTIATE(float)
INSTANTIATE(double)
#undef INSTANTIATE

}  // namespace skinmtl
