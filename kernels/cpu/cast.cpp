// CPU loops for kernels/cast.h.
#include "kernels/cast.h"

#include "kernels/cpu/simd.h"

namespace skinmtl {

template <typename D, typename S>
void convert_cpu(D* y, const S* x, int64_t n) {
  SKINMTL_PARALLEL_SIMD(n)
  for (int64_t i = 0; i < n; ++i) store(y, i, load(x, i));
}

template <typename D, typename S>
void convert_add_cpu(D* y, const S* x, float alpha, int64_t n) {
  SKINMTL_PARALLEL_SIMD(n)
  for (int64_t i = 0; i < n; ++i) store(y, i, load(y, i) + alpha * load(x, i));
}

#define INSTANTIATE(D, S)                                 \
  template void convert_cpu<D, S>(D*, const S*, int64_t); \
  template void convert_add_cpu<D, S>(D*, const S*, float, int64_t);
INSTANTIATE(float, bf16)
INSTANTIATE(bf16, float)
INSTANTIATE(bf16, bf16)
#undef INSTANTIATE

}  // namespace skinmtl
