// CPU reference loops for kernels/elementwise.h, vectorised (kernels/cpu/simd.h).
// Buffers are whole tensors: distinct, or (axpy's y += alpha y) the very same,
// which is still one independent update per index.
#include "kernels/elementwise.h"

#include "kernels/cpu/simd.h"

namespace skinmtl {

template <typename T>
void add_forward_cpu(T* y, const T* a, const T* b, int64_t n) {
  SKINMTL_PARALLEL_SIMD(n)
  for (int64_t i = 0; i < n; ++i) y[i] = add_elem(a[i], b[i]);
}

template <typename T>
void scale_forward_cpu(T* y, const T* x, T alpha, int64_t n) {
  SKINMTL_PARALLEL_SIMD(n)
  for (int64_t i = 0; i < n; ++i) y[i] = alpha * x[i];
}

template <typename T>
void axpy_cpu(T* y, const T* x, T alpha, int64_t n) {
  SKINMTL_PARALLEL_SIMD(n)
  for (int64_t i = 0; i < n; ++i) y[i] = axpy_elem(y[i], x[i], alpha);
}

template <typename T>
void binarize_cpu(T* y, const T* x, T t, int64_t n) {
  SKINMTL_PARALLEL_SIMD(n)
  for (int64_t i = 0; i < n; ++i) y[i] = binarize_elem(x[i], t);
}

#define INSTANTIATE(T)                                               \
  template void add_forward_cpu<T>(T*, const T*, const T*, int64_t); \
  template void scale_forward_cpu<T>(T*, const T*, T, int64_t);      \
  template void axpy_cpu<T>(T*, const T*, T, int64_t);              \
  template void binarize_cpu<T>(T*, const T*, T, int64_t);
INSTANTIATE(float)
INSTANTIATE(double)
#undef INSTANTIATE

}  // namespace skinmtl
