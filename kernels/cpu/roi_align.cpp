// CPU reference loops for kernels/roi_align.h. The forward pass calls the
// shared bin function of the header; the backward pass scatters each bin's
// gradient sample by sample into the four pixels around it, as torchvision's
// CPU kernel does (CUDA gathers instead, see roi_align.cu). Both split over the
// OpenMP threads where each thread writes what no other does: the forward by
// RoI, the backward by channel.
#include "kernels/roi_align.h"

#include <vector>

#include "kernels/cpu/simd.h"

namespace skinmtl {

template <typename T>
void roi_align_forward_cpu(T* y, const T* x, const T* rois, const int32_t* roi_index, int64_t n,
                           const RoiAlignGeom& g) {
  const int64_t bins = (int64_t)g.out_h * g.out_w;
  // RoIs split over the threads: each writes its own outputs.
  SKINMTL_PARALLEL(n * g.C * bins)
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = roi_index ? roi_index[i] : i;
    const RoiBox<T> b = roi_box(rois + r * 5, g);
    for (int64_t c = 0; c < g.C; ++c) {
      const T* plane = x + (b.batch * g.C + c) * g.H * g.W;
      T* out = y + (r * g.C + c) * bins;
      for (int ph = 0; ph < g.out_h; ++ph)
        for (int pw = 0; pw < g.out_w; ++pw)
          out[ph * g.out_w + pw] = roi_align_bin(plane, b, ph, pw, g.H, g.W);
    }
  }
}

template <typename T>
void roi_align_backward_cpu(T* dx, const T* dy, const T* rois, const int32_t* roi_index, int64_t n,
                            const RoiAlignGeom& g) {
  const int64_t bins = (int64_t)g.out_h * g.out_w;
  std::vector<RoiBox<T>> box((size_t)n);
  for (int64_t i = 0; i < n; ++i) box[(size_t)i] = roi_box(rois + (roi_index ? roi_index[i] : i) * 5, g);
  // Channels split over the threads: RoIs of any image scatter into the
  // planes of channel c alone, so no two threads add into one element, and
  // each element receives its sums in the serial loop's order (RoI by RoI):
  // the same bits whatever the number of threads.
  SKINMTL_PARALLEL(n * g.C * bins)
  for (int64_t c = 0; c < g.C; ++c) {
    for (int64_t i = 0; i < n; ++i) {
      const int64_t r = roi_index ? roi_index[i] : i;
      const RoiBox<T>& b = box[(size_t)i];
      const T count = roi_bin_count(b);
      T* dplane = dx + (b.batch * g.C + c) * g.H * g.W;
      const T* dout = dy + (r * g.C + c) * bins;
      for (int ph = 0; ph < g.out_h; ++ph)
        for (int pw = 0; pw < g.out_w; ++pw) {
          const T grad = dout[ph * g.out_w + pw] / count;  // each sample's share of the bin
          // The same samples as roi_align_bin, each spreading grad over its four pixels.
          for (int iy = 0; iy < b.grid_h; ++iy) {
            const RoiLerp<T> ly = roi_lerp(roi_sample(b.y_start, b.bin_h, b.grid_h, ph, iy), g.H);
            if (!ly.inside) continue;
            for (int ix = 0; ix < b.grid_w; ++ix) {
              const RoiLerp<T> lx =
                  roi_lerp(roi_sample(b.x_start, b.bin_w, b.grid_w, pw, ix), g.W);
              if (!lx.inside) continue;
              // At the clamped far edge lo == hi: both weights land on one pixel.
              dplane[ly.lo * g.W + lx.lo] += grad * ly.w_lo * lx.w_lo;
              dplane[ly.lo * g.W + lx.hi] += grad * ly.w_lo * lx.w_hi;
              dplane[ly.hi * g.W + lx.lo] += grad * ly.w_hi * lx.w_lo;
              dplane[ly.hi * g.W + lx.hi] += grad * ly.w_hi * lx.w_hi;
            }
          }
        }
    }
  }
}

template void roi_align_forward_cpu<float>(float*, const float*, const float*, const int32_t*,
                                           int64_t, const RoiAlignGeom&);
template void roi_align_forward_cpu<double>(double*, const double*, const double*, const int32_t*,
                                            int64_t, const RoiAlignGeom&);
template void roi_align_backward_cpu<float>(float*, const float*, const float*, const int32_t*,
                                            int64_t, const RoiAlignGeom&);
template void roi_align_backward_cpu<double>(double*, const double*, const double*,
                                             const int32_t*, int64_t, const RoiAlignGeom&);

}  // namespace skinmtl
