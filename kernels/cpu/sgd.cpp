// CPU loop for kernels/sgd.h, vectorised (kernels/cpu/simd.h).
#include "kernels/sgd.h"

#include "kernels/cpu/simd.h"

namespace skinmtl {

template <typename T>
void sgd_update_cpu(T* w, T* v, const T* g, T lr_eff, T momentum, T wd_eff, int64_t n) {
  SKINMTL_PARALLEL_SIMD(n)
  for (int64_t i = 0; i < n; ++i) sgd_update_elem(w[i], v[i], g[i], lr_eff, momentum, wd_eff);
}

template void sgd_update_cpu<float>(float*, float*, const float*, float, float, float, int64_t);
template void sgd_update_cpu<double>(double*, double*, const double*, double, double, double,
                                     int64_t);

}  // namespace skinmtl
