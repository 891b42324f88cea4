// CPU loop for kernels/permute.h. The destination is walked in order, one row
// (its last dim) at a time: the row's first source position comes from
// permute_source_index, and along the row the source advances by a constant
// step (the source stride of the destination's last dim), so the costly
// divisions happen once per row, not once per element.
#include "kernels/permute.h"

namespace skinmtl {

template <typename T>
void permute_copy_cpu(T* dst, const T* src, const PermuteGeometry& g, int64_t n,
                      bool accumulate) {
  if (n == 0) return;
  if (g.ndim == 0) {  // a scalar: one element
    dst[0] = accumulate ? dst[0] + src[0] : src[0];
    return;
  }
  const int64_t row = g.dst_size[g.ndim - 1];
  const int64_t step = g.src_stride[g.ndim - 1];
  for (int64_t start = 0; start < n; start += row) {
    const T* s = src + permute_source_index(start, g);
    T* d = dst + start;
    if (accumulate) {
      for (int64_t j = 0; j < row; ++j) d[j] += s[j * step];
    } else {
      for (int64_t j = 0; j < row; ++j) d[j] = s[j * step];
    }
  }
}

template void permute_copy_cpu<float>(float*, const float*, const PermuteGeometry&, int64_t, bool);
template void permute_copy_cpu<double>(double*, const double*, const PermuteGeometry&, int64_t,
                                       bool);

}  // namespace skinmtl
