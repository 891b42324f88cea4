// CPU loops for kernels/mul.h, vectorised (kernels/cpu/simd.h).
#include "kernels/mul.h"

#include "kernels/cpu/simd.h"

namespace skinmtl {

template <typename T>
void mul_forward_cpu(T* y, const T* a, const T* b, int64_t n) {
  SKINMTL_PARALLEL_SIMD(n)
  for (int64_t i = 0; i < n; ++i) y[i] = mul_elem(a[i], b[i]);
}

template <typename T>
void mul_backward_cpu(T* dx, const T* dy, const T* other, int64_t n) {
  SKINMTL_PARALLEL_SIMD(n)
  for (int64_t i = 0; i < n; ++i) dx[i] += mul_backward_elem(dy[i], other[i]);
}

template void mul_forward_cpu<float>(float*, const float*, const float*, int64_t);
template void mul_forward_cpu<double>(double*, const double*, const double*, int64_t);
template void mul_backward_cpu<float>(float*, const float*, const float*, int64_t);
template void mul_backward_cpu<double>(double*, const double*, const double*, int64_t);

}  // namespace skinmtl
