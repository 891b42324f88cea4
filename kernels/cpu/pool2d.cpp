// CPU reference loops for kernels/pool2d.h. The forward passes call the
// shared window functions of the header; the backward passes scatter each
// output's gradient into its window (CUDA gathers instead, see pool2d.cu);
// when asked to write dx rather than add to it, they zero each plane first.
#include "kernels/pool2d.h"

#include <algorithm>

#include "kernels/cpu/simd.h"

namespace skinmtl {

template <typename T>
void max_pool2d_forward_cpu(T* y, T* argmax, const T* x, const Pool2dGeom& g) {
  SKINMTL_PARALLEL(g.N * g.C * g.H * g.W)  // one plane per iteration
  for (int64_t nc = 0; nc < g.N * g.C; ++nc) {
    const T* plane = x + nc * g.H * g.W;
    for (int64_t oh = 0; oh < g.P; ++oh)
      for (int64_t ow = 0; ow < g.Q; ++ow) {
        const int64_t o = (nc * g.P + oh) * g.Q + ow;
        int64_t arg = 0;
        y[o] = max_pool_window(plane, oh, ow, g, &arg);
        argmax[o] = T(arg);
      }
  }
}

template <typename T>
void max_pool2d_backward_cpu(T* dx, const T* dy, const T* argmax, const Pool2dGeom& g, bool accumulate) {
  for (int64_t nc = 0; nc < g.N * g.C; ++nc) {
    T* dplane = dx + nc * g.H * g.W;
    if (!accumulate) std::fill(dplane, dplane + g.H * g.W, T(0));  // the scatter below adds
    for (int64_t k = 0; k < g.P * g.Q; ++k) {
      const int64_t o = nc * g.P * g.Q + k;
      dplane[(int64_t)argmax[o]] += dy[o];
    }
  }
}

template <typename T>
void avg_pool2d_forward_cpu(T* y, const T* x, const Pool2dGeom& g, bool count_include_pad) {
  for (int64_t nc = 0; nc < g.N * g.C; ++nc) {
    const T* plane = x + nc * g.H * g.W;
    for (int64_t oh = 0; oh < g.P; ++oh)
      for (int64_t ow = 0; ow < g.Q; ++ow)
        y[(nc * g.P + oh) * g.Q + ow] = avg_pool_window(plane, oh, ow, g, count_include_pad);
  }
}

template <typename T>
void avg_pool2d_backward_cpu(T* dx, const T* dy, const Pool2dGeom& g, bool count_include_pad, bool accumulate) {
  for (int64_t nc = 0; nc < g.N * g.C; ++nc) {
    T* dplane = dx + nc * g.H * g.W;
    if (!accumulate) std::fill(dplane, dplane + g.H * g.W, T(0));  // the scatter below adds
    for (int64_t oh = 0; oh < g.P; ++oh)
      for (int64_t ow = 0; ow < g.Q; ++ow) {
        const T share =
            dy[(nc * g.P + oh) * g.Q + ow] / T(avg_pool_divisor(oh, ow, g, count_include_pad));
        const PoolWindow wh = pool_window(oh, g.H, g.kernel_h, g.stride_h, g.pad_h);
        const PoolWindow ww = pool_window(ow, g.W, g.kernel_w, g.stride_w, g.pad_w);
        for (int64_t h = wh.begin; h < wh.end; ++h)
          for (int64_t w = ww.begin; w < ww.end; ++w) dplane[h * g.W + w] += share;
      }
  }
}

template <typename T>
void global_avg_pool2d_forward_cpu(T* y, const T* x, int64_t NC, int64_t HW) {
  for (int64_t i = 0; i < NC; ++i) {
    T s = 0;
    for (int64_t j = 0; j < HW; ++j) s += x[i * HW + j];
    y[i] = s / T(HW);
  }
}

template <typename T>
void global_avg_pool2d_backward_cpu(T* dx, const T* dy, int64_t NC, int64_t HW, bool accumulate) {
  for (int64_t i = 0; i < NC * HW; ++i) dx[i] = (accumulate ? dx[i] : T(0)) + dy[i / HW] / T(HW);
}

#define SKINMTL_INSTANTIATE_POOL(T)                                                          \
  template void max_pool2d_forward_cpu<T>(T*, T*, const T*, const Pool2dGeom&);              \
  template void max_pool2d_backward_cpu<T>(T*, const T*, const T*, const Pool2dGeom&, bool); \
  template void avg_pool2d_forward_cpu<T>(T*, const T*, const Pool2dGeom&, bool);            \
  template void avg_pool2d_backward_cpu<T>(T*, const T*, const Pool2dGeom&, bool, bool);     \
  template void global_avg_pool2d_forward_cpu<T>(T*, const T*, int64_t, int64_t);            \
  template void global_avg_pool2d_backward_cpu<T>(T*, const T*, int64_t, int64_t, bool);
SKINMTL_INSTANTIATE_POOL(float)
SKINMTL_INSTANTIATE_POOL(double)
#undef SKINMTL_INSTANTIATE_POOL

}  // namespace skinmtl
