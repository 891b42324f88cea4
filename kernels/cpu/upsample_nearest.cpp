// CPU loops for kernels/upsample_nearest.h: the planes one after another, rows
// in order, with the index rule and the gather of the header.
#include "kernels/upsample_nearest.h"

#include "kernels/cpu/simd.h"

namespace skinmtl {

template <typename T>
void upsample_nearest_forward_cpu(T* y, const T* x, int64_t NC, int64_t H, int64_t W,
                                  int64_t out_h, int64_t out_w) {
  SKINMTL_PARALLEL(NC * out_h * out_w)  // one plane per iteration
  for (int64_t nc = 0; nc < NC; ++nc) {
    const T* xp = x + nc * H * W;
    T* yp = y + nc * out_h * out_w;
    for (int64_t oy = 0; oy < out_h; ++oy) {
      const T* src = xp + nearest_source(oy, H, out_h) * W;
      T* dst = yp + oy * out_w;
      for (int64_t ox = 0; ox < out_w; ++ox) dst[ox] = src[nearest_source(ox, W, out_w)];
    }
  }
}

template <typename T>
void upsample_nearest_backward_cpu(T* dx, const T* dy, int64_t NC, int64_t H, int64_t W,
                                   int64_t out_h, int64_t out_w, bool accumulate) {
  with_accumulate(accumulate, [&](auto acc) {
    for (int64_t nc = 0; nc < NC; ++nc) {
      const T* dyp = dy + nc * out_h * out_w;
      T* dxp = dx + nc * H * W;
      for (int64_t iy = 0; iy < H; ++iy) {
        const int64_t y0 = nearest_first_output(iy, H, out_h);
        const int64_t y1 = nearest_first_output(iy + 1, H, out_h);
        for (int64_t ix = 0; ix < W; ++ix) {
          const int64_t x0 = nearest_first_output(ix, W, out_w);
          const int64_t x1 = nearest_first_output(ix + 1, W, out_w);
          put_grad(dxp[iy * W + ix], nearest_gather(dyp, out_w, y0, y1, x0, x1), acc);
        }
      }
    }
  });
}

#define INSTANTIATE(T)                                                                        \
  template void upsample_nearest_forward_cpu<T>(T*, const T*, int64_t, int64_t, int64_t,      \
                                                int64_t, int64_t);                            \
  template void upsample_nearest_backward_cpu<T>(T*, const T*, int64_t, int64_t, int64_t,     \
                                                 int64_t, int64_t, bool);
INSTANTIATE(float)
INSTANTIATE(double)
#undef INSTANTIATE

}  // namespace skinmtl
