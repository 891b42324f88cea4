// CPU reference for kernels/linear.h: CBLAS GEMMs plus two plain loops.
#include <algorithm>

#include "kernels/gemm.h"
#include "kernels/linear.h"

namespace skinmtl {

template <typename T>
void linear_forward_cpu(T* y, const T* x, const T* w, const T* b, int64_t N, int64_t I,
                        int64_t O) {
  // y[n, :] = b (or 0) ...
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o) y[n * O + o] = b ? b[o] : T(0);
  // ... then y += x w^T: (N, I) times the transpose of the stored (O, I).
  // With I == 0 the product is empty (and BLAS rejects a leading dimension of 0).
  if (I > 0) gemm_cpu<T>(false, true, N, O, I, T(1), x, I, w, I, T(1), y, O);
}

template <typename T>
void linear_backward_cpu(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, int64_t N,
                         int64_t I, int64_t O, LinearAccumulate acc) {
  // dx (N, I) += dy (N, O) w (O, I); beta = 0 writes it instead. An empty
  // product (O = 0) is skipped, so a written dx is then zeros.
  if (dx && O > 0) gemm_cpu<T>(false, false, N, I, O, T(1), dy, O, w, I, acc.dx ? T(1) : T(0), dx, I);
  else if (dx && !acc.dx) std::fill(dx, dx + N * I, T(0));
  // dw (O, I) += dy^T (O, N) x (N, I); dy is stored (N, O), so trans_a.
  if (dw && N > 0) gemm_cpu<T>(true, false, O, I, N, T(1), dy, O, x, I, acc.dw ? T(1) : T(0), dw, I);
  else if (dw && !acc.dw) std::fill(dw, dw + O * I, T(0));
  // db[o] += sum_n dy[n, o], added in n order (as the CUDA kernel does).
  if (db) {
    for (int64_t o = 0; o < O; ++o) {
      T sum = T(0);
      for (int64_t n = 0; n < N; ++n) sum += dy[n * O + o];
      db[o] = acc.db ? db[o] + sum : sum;
    }
  }
}

#define INSTANTIATE(T)                                                                         \
  template void linear_forward_cpu<T>(T*, const T*, const T*, const T*, int64_t, int64_t,      \
                                      int64_t);                                                \
  template void linear_backward_cpu<T>(T*, T*, T*, const T*, const T*, const T*, int64_t,      \
                                       int64_t, int64_t, LinearAccumulate);
INSTANTIATE(float)
INSTANTIATE(double)
#undef INSTANTIATE

}  // namespace skinmtl
