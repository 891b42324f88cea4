// CPU loops for kernels/roi_align.h. The forward pass computes each bin as the
// header's bin function does; the backward pass scatters each bin's gradient
// sample by sample into the four pixels around it, as torchvision's CPU kernel
// does (CUDA gathers instead, see roi_align.cu). Both split over the OpenMP
// threads where each thread writes what no other does: the forward by RoI,
// the backward by channel.
//
// Two versions of each. The reference loops (roi_align_*_cpu_reference) call
// the header's functions for every channel: roi_align_bin, and for every
// sample roi_sample and roi_lerp. Those depend on the RoI, the bin and the
// sample, never on the channel, so the loops that run (roi_align_*_cpu)
// compute them once per RoI into tables (RoiTaps: the row taps of every bin
// row's samples, the column taps of every bin column's samples; the bilinear
// weights are separable) and then, channel by channel, do only the
// multiply-adds. Same expressions in the same order: the same bits as the
// reference (RoiAlign.FastLoopsGiveTheReferenceBits). Song et al.'s
// iteration at 256 on the 2-core machine: see README.md, Speed.
#include "kernels/roi_align.h"

#include <algorithm>
#include <vector>

#include "kernels/cpu/simd.h"

namespace skinmtl {

namespace {

// One RoI's bilinear taps: rows[ph * gh + iy] is roi_lerp of sample iy of
// bin row ph, cols[pw * gw + ix] of sample ix of bin column pw. gh and gw are
// the box's sampling grid, 0 where it has none (an empty RoI).
template <typename T>
struct RoiTaps {
  RoiBox<T> box;
  T count;  // roi_bin_count(box)
  int gh = 0, gw = 0;
  std::vector<RoiLerp<T>> rows, cols;

  void compute(const T* roi, const RoiAlignGeom& g) {
    box = roi_box(roi, g);
    count = roi_bin_count(box);
    gh = std::max(box.grid_h, 0);
    gw = std::max(box.grid_w, 0);
    rows.resize((size_t)g.out_h * gh);
    cols.resize((size_t)g.out_w * gw);
    for (int ph = 0; ph < g.out_h; ++ph)
      for (int iy = 0; iy < gh; ++iy)
        rows[(size_t)ph * gh + iy] = roi_lerp(roi_sample(box.y_start, box.bin_h, box.grid_h, ph, iy), g.H);
    for (int pw = 0; pw < g.out_w; ++pw)
      for (int ix = 0; ix < gw; ++ix)
        cols[(size_t)pw * gw + ix] = roi_lerp(roi_sample(box.x_start, box.bin_w, box.grid_w, pw, ix), g.W);
  }
};

}  // namespace

template <typename T>
void roi_align_forward_cpu(T* y, const T* x, const T* rois, const int32_t* roi_index, int64_t n,
                           const RoiAlignGeom& g) {
  const int64_t bins = (int64_t)g.out_h * g.out_w;
  // RoIs split over the threads: each writes its own outputs.
  SKINMTL_PARALLEL(n * g.C * bins)
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = roi_index ? roi_index[i] : i;
    RoiTaps<T> t;
    t.compute(rois + r * 5, g);
    const int gh = t.gh, gw = t.gw;
    for (int64_t c = 0; c < g.C; ++c) {
      const T* plane = x + (t.box.batch * g.C + c) * g.H * g.W;
      T* out = y + (r * g.C + c) * bins;
      for (int ph = 0; ph < g.out_h; ++ph)
        for (int pw = 0; pw < g.out_w; ++pw) {
          // roi_align_bin, its lerps from the tables.
          T sum = T(0);
          for (int iy = 0; iy < gh; ++iy) {
            const RoiLerp<T>& ly = t.rows[(size_t)ph * gh + iy];
            if (!ly.inside) continue;
            const T* lo = plane + ly.lo * g.W;
            const T* hi = plane + ly.hi * g.W;
            for (int ix = 0; ix < gw; ++ix) {
              const RoiLerp<T>& lx = t.cols[(size_t)pw * gw + ix];
              if (!lx.inside) continue;
              sum += ly.w_lo * lx.w_lo * lo[lx.lo] + ly.w_lo * lx.w_hi * lo[lx.hi] +
                     ly.w_hi * lx.w_lo * hi[lx.lo] + ly.w_hi * lx.w_hi * hi[lx.hi];
            }
          }
          out[ph * g.out_w + pw] = sum / t.count;
        }
    }
  }
}

template <typename T>
void roi_align_backward_cpu(T* dx, const T* dy, const T* rois, const int32_t* roi_index, int64_t n,
                            const RoiAlignGeom& g) {
  const int64_t bins = (int64_t)g.out_h * g.out_w;
  std::vector<RoiTaps<T>> taps((size_t)n);
  for (int64_t i = 0; i < n; ++i) taps[(size_t)i].compute(rois + (roi_index ? roi_index[i] : i) * 5, g);
  // Channels split over the threads, as the reference loops below.
  SKINMTL_PARALLEL(n * g.C * bins)
  for (int64_t c = 0; c < g.C; ++c) {
    for (int64_t i = 0; i < n; ++i) {
      const int64_t r = roi_index ? roi_index[i] : i;
      const RoiTaps<T>& t = taps[(size_t)i];
      const int gh = t.gh, gw = t.gw;
      T* dplane = dx + (t.box.batch * g.C + c) * g.H * g.W;
      const T* dout = dy + (r * g.C + c) * bins;
      for (int ph = 0; ph < g.out_h; ++ph)
        for (int pw = 0; pw < g.out_w; ++pw) {
          const T grad = dout[ph * g.out_w + pw] / t.count;
          for (int iy = 0; iy < gh; ++iy) {
            const RoiLerp<T>& ly = t.rows[(size_t)ph * gh + iy];
            if (!ly.inside) continue;
            T* lo = dplane + ly.lo * g.W;
            T* hi = dplane + ly.hi * g.W;
            for (int ix = 0; ix < gw; ++ix) {
              const RoiLerp<T>& lx = t.cols[(size_t)pw * gw + ix];
              if (!lx.inside) continue;
              lo[lx.lo] += grad * ly.w_lo * lx.w_lo;
              lo[lx.hi] += grad * ly.w_lo * lx.w_hi;
              hi[lx.lo] += grad * ly.w_hi * lx.w_lo;
              hi[lx.hi] += grad * ly.w_hi * lx.w_hi;
            }
          }
        }
    }
  }
}

// ---- the reference loops: the header's functions for every channel and sample ----

template <typename T>
void roi_align_forward_cpu_reference(T* y, const T* x, const T* rois, const int32_t* roi_index, int64_t n,
                                     const RoiAlignGeom& g) {
  const int64_t bins = (int64_t)g.out_h * g.out_w;
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
void roi_align_backward_cpu_reference(T* dx, const T* dy, const T* rois, const int32_t* roi_index, int64_t n,
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

#define SKINMTL_INSTANTIATE_ROI_ALIGN(T)                                                                     \
  template void roi_align_forward_cpu<T>(T*, const T*, const T*, const int32_t*, int64_t, const RoiAlignGeom&);  \
  template void roi_align_backward_cpu<T>(T*, const T*, const T*, const int32_t*, int64_t, const RoiAlignGeom&); \
  template void roi_align_forward_cpu_reference<T>(T*, const T*, const T*, const int32_t*, int64_t,           \
                                                   const RoiAlignGeom&);                                       \
  template void roi_align_backward_cpu_reference<T>(T*, const T*, const T*, const int32_t*, int64_t,          \
                                                    const RoiAlignGeom&);
SKINMTL_INSTANTIATE_ROI_ALIGN(float)
SKINMTL_INSTANTIATE_ROI_ALIGN(double)
#undef SKINMTL_INSTANTIATE_ROI_ALIGN

}  // namespace skinmtl
