// CPU reference loops for kernels/fold_batch_norm.h.
#include "kernels/fold_batch_norm.h"

#include "kernels/bf16.h"
#include "kernels/cpu/simd.h"

namespace skinmtl {

template <typename T, typename TW>
void fold_batch_norm_cpu(TW* w_folded, T* b_folded, const T* w, const T* b, const T* gamma, const T* beta,
                         const T* mean, const T* var, double eps, int64_t K, int64_t CRS) {
  SKINMTL_PARALLEL(K * CRS)
  for (int64_t k = 0; k < K; ++k) {
    const T s = fold_scale(gamma[k], var[k], T(eps));
    b_folded[k] = ((b ? b[k] : T(0)) - mean[k]) * s + beta[k];
    const T* wk = w + k * CRS;
    TW* ok = w_folded + k * CRS;
    SKINMTL_SIMD
    for (int64_t i = 0; i < CRS; ++i) store(ok, i, wk[i] * s);  // rounded once for bf16
  }
}

// One row k per iteration: its dw elements and its dgamma dot product.
template <typename T, typename TG>
void fold_weight_backward_cpu(T* dw, T* dgamma, const TG* dwf, const T* w, const T* gamma, const T* var, double eps,
                              int64_t K, int64_t CRS) {
  SKINMTL_PARALLEL(K * CRS)
  for (int64_t k = 0; k < K; ++k) {
    const T invstd = fold_invstd(var[k], T(eps));
    const T s = gamma[k] * invstd;
    const TG* g = dwf + k * CRS;
    if (dw) {
      T* d = dw + k * CRS;
      SKINMTL_SIMD
      for (int64_t i = 0; i < CRS; ++i) d[i] += s * load(g, i);
    }
    if (dgamma) {
      const T* wk = w + k * CRS;
      T dot = 0;
      for (int64_t i = 0; i < CRS; ++i) dot += wk[i] * load(g, i);
      dgamma[k] += invstd * dot;
    }
  }
}

template <typename T>
void fold_bias_backward_cpu(T* db, T* dgamma, T* dbeta, const T* dbf, const T* b, const T* gamma, const T* mean,
                            const T* var, double eps, int64_t K) {
  for (int64_t k = 0; k < K; ++k) {
    const T invstd = fold_invstd(var[k], T(eps));
    if (db) db[k] += gamma[k] * invstd * dbf[k];
    if (dgamma) dgamma[k] += invstd * ((b ? b[k] : T(0)) - mean[k]) * dbf[k];
    if (dbeta) dbeta[k] += dbf[k];
  }
}

// One (image, channel) plane of HW values per iteration.
template <typename T>
void bias_act_cpu(T* y, const T* b, const T* residual, int64_t N, int64_t K, int64_t HW, bool relu) {
  SKINMTL_PARALLEL(N * K * HW)
  for (int64_t nk = 0; nk < N * K; ++nk) {
    T* plane = y + nk * HW;
    const T bk = b ? b[nk % K] : T(0);
    if (residual) {
      const T* r = residual + nk * HW;
      SKINMTL_SIMD
      for (int64_t i = 0; i < HW; ++i) plane[i] = bias_act_elem(plane[i], bk, r[i], relu);
    } else {
      SKINMTL_SIMD
      for (int64_t i = 0; i < HW; ++i) plane[i] = bias_act_elem(plane[i], bk, T(0), relu);
    }
  }
}

template <typename T>
void bias_act_backward_cpu(T* g, T* dr, const T* dy, const T* y, int64_t n, bool relu, bool dr_accumulate) {
  with_accumulate(dr_accumulate, [&](auto acc) {
    if (g && dr) {
      SKINMTL_PARALLEL_SIMD(n)
      for (int64_t i = 0; i < n; ++i) {
        const T gi = bias_act_backward_elem(dy[i], y[i], relu);
        g[i] = gi;
        put_grad(dr[i], gi, acc);
      }
    } else if (g) {
      SKINMTL_PARALLEL_SIMD(n)
      for (int64_t i = 0; i < n; ++i) g[i] = bias_act_backward_elem(dy[i], y[i], relu);
    } else if (dr) {
      SKINMTL_PARALLEL_SIMD(n)
      for (int64_t i = 0; i < n; ++i) put_grad(dr[i], bias_act_backward_elem(dy[i], y[i], relu), acc);
    }
  });
}

#define INSTANTIATE(T)                                                                                     \
  template void bias_act_backward_cpu<T>(T*, T*, const T*, const T*, int64_t, bool, bool);                \
  template void fold_batch_norm_cpu<T>(T*, T*, const T*, const T*, const T*, const T*, const T*, const T*, \
                                       double, int64_t, int64_t);                                         \
  template void bias_act_cpu<T>(T*, const T*, const T*, int64_t, int64_t, int64_t, bool);                 \
  template void fold_weight_backward_cpu<T>(T*, T*, const T*, const T*, const T*, const T*, double, int64_t, \
                                            int64_t);                                                      \
  template void fold_bias_backward_cpu<T>(T*, T*, T*, const T*, const T*, const T*, const T*, const T*, double, \
                                          int64_t);
INSTANTIATE(float)
INSTANTIATE(double)
#undef INSTANTIATE
// bfloat16 training: folded weights written, and their gradient read, in bfloat16.
template void fold_batch_norm_cpu<float, bf16>(bf16*, float*, const float*, const float*, const float*, const float*,
                                               const float*, const float*, double, int64_t, int64_t);
template void fold_weight_backward_cpu<float, bf16>(float*, float*, const bf16*, const float*, const float*,
                                                    const float*, double, int64_t, int64_t);

}  // namespace skinmtl
