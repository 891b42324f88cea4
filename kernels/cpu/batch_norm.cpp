// CPU reference loops for kernels/batch_norm.h.
//
// Layout: element (n, c, j) of an (N, C, HW) buffer is at (n * C + c) * HW + j,
// so one channel is N contiguous runs of HW values. Every loop below walks a
// channel run by run; the sums are sequential, compensated (KahanSum), in T.
#include "kernels/batch_norm.h"

#include <cmath>

namespace skinmtl {

template <typename T>
void batch_norm_train_stats_cpu(T* mean, T* invstd, T* running_mean, T* running_var, const T* x,
                                int64_t N, int64_t C, int64_t HW, double eps, double momentum) {
  const int64_t M = N * HW;
  for (int64_t c = 0; c < C; ++c) {
    // Pass 1: the mean.
    KahanSum<T> s;
    for (int64_t n = 0; n < N; ++n) {
      const T* xc = x + (n * C + c) * HW;
      for (int64_t j = 0; j < HW; ++j) s.add(xc[j]);
    }
    const T mu = s.sum / T(M);
    // Pass 2: the biased variance, as the mean of squared deviations.
    KahanSum<T> q;
    for (int64_t n = 0; n < N; ++n) {
      const T* xc = x + (n * C + c) * HW;
      for (int64_t j = 0; j < HW; ++j) {
        const T d = xc[j] - mu;
        q.add(d * d);
      }
    }
    const T var = q.sum / T(M);
    mean[c] = mu;
    invstd[c] = T(1) / std::sqrt(var + T(eps));
    const T unbiased = var * (T(M) / T(M - 1));
    running_mean[c] = bn_running_update_elem(running_mean[c], mu, T(momentum));
    running_var[c] = bn_running_update_elem(running_var[c], unbiased, T(momentum));
  }
}

template <typename T>
void batch_norm_frozen_stats_cpu(T* mean, T* invstd, const T* running_mean, const T* running_var,
                                 int64_t C, double eps) {
  for (int64_t c = 0; c < C; ++c) {
    mean[c] = running_mean[c];
    invstd[c] = T(1) / std::sqrt(running_var[c] + T(eps));
  }
}

template <typename T>
void batch_norm_normalize_cpu(T* y, const T* x, const T* mean, const T* invstd, const T* gamma,
                              const T* beta, int64_t N, int64_t C, int64_t HW) {
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t c = 0; c < C; ++c) {
      const int64_t base = (n * C + c) * HW;
      for (int64_t j = 0; j < HW; ++j)
        y[base + j] = bn_normalize_elem(x[base + j], mean[c], invstd[c], gamma[c], beta[c]);
    }
  }
}

template <typename T>
void batch_norm_backward_cpu(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const T* mean,
                             const T* invstd, const T* gamma, int64_t N, int64_t C, int64_t HW,
                             bool training) {
  const int64_t M = N * HW;
  for (int64_t c = 0; c < C; ++c) {
    // The two per-channel reductions.
    KahanSum<T> s_dy, s_dy_xhat;
    for (int64_t n = 0; n < N; ++n) {
      const int64_t base = (n * C + c) * HW;
      for (int64_t j = 0; j < HW; ++j) {
        const T xhat = (x[base + j] - mean[c]) * invstd[c];
        s_dy.add(dy[base + j]);
        s_dy_xhat.add(dy[base + j] * xhat);
      }
    }
    const T sum_dy = s_dy.sum, sum_dy_xhat = s_dy_xhat.sum;
    if (dgamma) dgamma[c] += sum_dy_xhat;
    if (dbeta) dbeta[c] += sum_dy;
    if (!dx) continue;
    // The elementwise pass.
    const T mean_dy = sum_dy / T(M), mean_dy_xhat = sum_dy_xhat / T(M);
    for (int64_t n = 0; n < N; ++n) {
      const int64_t base = (n * C + c) * HW;
      for (int64_t j = 0; j < HW; ++j) {
        dx[base + j] += training ? bn_backward_train_elem(dy[base + j], x[base + j], mean[c],
                                                          invstd[c], gamma[c], mean_dy,
                                                          mean_dy_xhat)
                                 : bn_backward_frozen_elem(dy[base + j], invstd[c], gamma[c]);
      }
    }
  }
}

#define SKINMTL_INSTANTIATE_BN(T)                                                              \
  template void batch_norm_train_stats_cpu<T>(T*, T*, T*, T*, const T*, int64_t, int64_t,      \
                                              int64_t, double, double);                        \
  template void batch_norm_frozen_stats_cpu<T>(T*, T*, const T*, const T*, int64_t, double);   \
  template void batch_norm_normalize_cpu<T>(T*, const T*, const T*, const T*, const T*,        \
                                            const T*, int64_t, int64_t, int64_t);              \
  template void batch_norm_backward_cpu<T>(T*, T*, T*, const T*, const T*, const T*, const T*, \
                                           const T*, int64_t, int64_t, int64_t, bool);
SKINMTL_INSTANTIATE_BN(float)
SKINMTL_INSTANTIATE_BN(double)
#undef SKINMTL_INSTANTIATE_BN

}  // namespace skinmtl
