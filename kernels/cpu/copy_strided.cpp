// CPU reference loops for kernels/copy_strided.h.
#include "kernels/copy_strided.h"

#include "kernels/cpu/simd.h"

namespace skinmtl {

template <typename T>
void copy_block_cpu(T* dst, int64_t dst_dim_len, int64_t dst_offset, const T* src,
                    int64_t src_dim_len, int64_t src_offset, int64_t outer, int64_t len,
                    int64_t inner, bool accumulate) {
  // For fixed (o, j) the inner elements are contiguous in both buffers: copy
  // them as one row.
  SKINMTL_PARALLEL(outer * len * inner)  // one row per iteration
  for (int64_t oj = 0; oj < outer * len; ++oj) {
    const int64_t o = oj / len, j = oj % len;
    T* d = dst + (o * dst_dim_len + dst_offset + j) * inner;
    const T* s = src + (o * src_dim_len + src_offset + j) * inner;
    if (accumulate) {
      SKINMTL_SIMD
      for (int64_t i = 0; i < inner; ++i) d[i] += s[i];
    } else {
      SKINMTL_SIMD
      for (int64_t i = 0; i < inner; ++i) d[i] = s[i];
    }
  }
}

#define INSTANTIATE(T)                                                                       \
  template void copy_block_cpu<T>(T*, int64_t, int64_t, const T*, int64_t, int64_t, int64_t, \
                                  int64_t, int64_t, bool);
INSTANTIATE(float)
INSTANTIATE(double)
#undef INSTANTIATE

}  // namespace skinmtl
