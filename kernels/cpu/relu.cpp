// CPU reference loops for kernels/relu.h, vectorised (kernels/cpu/simd.h:
// without the pragma GCC -O2 compiles the select into a branch that random
// signs mispredict half the time).
#include "kernels/relu.h"

#include "kernels/cpu/simd.h"

namespace skinmtl {

template <typename T>
void relu_forward_cpu(T* y, const T* x, int64_t n) {
  SKINMTL_PARALLEL_SIMD(n)
  for (int64_t i = 0; i < n; ++i) y[i] = relu_forward_elem(x[i]);
}

template <typename T>
void relu_backward_cpu(T* dx, const T* dy, const T* y, int64_t n, bool accumulate) {
  with_accumulate(accumulate, [&](auto acc) {
    SKINMTL_PARALLEL_SIMD(n)
    for (int64_t i = 0; i < n; ++i) put_grad(dx[i], relu_backward_elem(dy[i], y[i]), acc);
  });
}

template void relu_forward_cpu<float>(float*, const float*, int64_t);
template void relu_forward_cpu<double>(double*, const double*, int64_t);
template void relu_backward_cpu<float>(float*, const float*, const float*, int64_t, bool);
template void relu_backward_cpu<double>(double*, const double*, const double*, int64_t, bool);

}  // namespace skinmtl
