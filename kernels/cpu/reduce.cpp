// CPU reference loops for kernels/reduce.h.
#include "kernels/reduce.h"

namespace skinmtl {

template <typename T>
void sum_forward_cpu(T* y, const T* x, int64_t n, T scale) {
  double acc = 0.0;  // double even for float inputs: see the header
  for (int64_t i = 0; i < n; ++i) acc += (double)x[i];
  y[0] = (T)(acc * (double)scale);
}

template <typename T>
void sum_backward_cpu(T* dx, const T* dy, int64_t n, T scale) {
  const T g = scale * dy[0];
  for (int64_t i = 0; i < n; ++i) dx[i] += g;
}

template void sum_forward_cpu<float>(float*, const float*, int64_t, float);
template void sum_forward_cpu<double>(double*, const double*, int64_t, double);
template void sum_backward_cpu<float>(float*, const float*, int64_t, float);
template void sum_backward_cpu<double>(double*, const double*, int64_t, double);

}  // namespace skinmtl
