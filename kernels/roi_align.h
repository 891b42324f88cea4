// kernels/roi_align.h: RoIAlign (He et al. 2017, Mask R-CNN, sec. 3), the
// feature pooling of the Song et al. detector: every region of interest (RoI)
// becomes a fixed out_h x out_w grid of features (7 x 7 for the classify and
// detect subnets, 14 x 14 for the Mask R-CNN mask head), without rounding the
// box to the feature grid (RoIPool's quantisation, which RoIAlign removes).
//
// Coordinates. A RoI is a row [b, x1, y1, x2, y2] of the (R, 5) rois tensor:
// b the batch index of its image, (x1, y1) - (x2, y2) a box in continuous
// input-image pixels. spatial_scale maps it to the feature map (1 / stride).
//   aligned = true (the pixel-centre model: Detectron2, torchvision aligned=True):
//     feature pixel (h, w) has its centre at continuous coordinate (h, w) (pixel
//     centres at integer coordinates), and covers [w - 0.5, w + 0.5). An
//     input-pixel box [x1, x2) covers feature coordinates
//       x1 * scale - 0.5  ..  x2 * scale - 0.5
//     e.g. with scale 1 the box [0, 4) is exactly pixels 0..3, centre 1.5.
//   aligned = false (the original Mask R-CNN / Detectron1 code): no -0.5 shift,
//     and the box is widened to at least 1 x 1 feature pixel.
// The box, shifted and scaled, is cut into out_h x out_w equal bins.
//
// Forward. Bin (ph, pw) of RoI r, channel c:
//   y[r, c, ph, pw] = (1 / count) sum_{iy < G_h} sum_{ix < G_w} bilinear(x[b, c], sy, sx)
//   sy = y_start + ph * bin_h + (iy + 0.5) * bin_h / G_h   (G_h samples evenly inside the bin)
//   sx = x_start + pw * bin_w + (ix + 0.5) * bin_w / G_w
//   G_h = G_w = sampling_ratio when > 0, else adaptive: G_h = ceil(roi_h / out_h),
//   G_w = ceil(roi_w / out_w) (about one sample per feature pixel);
//   count = max(G_h * G_w, 1).
// bilinear(plane, y, x), exactly torchvision's bilinear_interpolate:
//   - a sample outside [-1, H] x [-1, W] is 0 (it lies more than a pixel beyond
//     the map's outermost centres);
//   - otherwise y < 0 is clamped to 0, and y >= H - 1 to H - 1 (the edge row is
//     extended), likewise x; then the usual weights: y_lo = floor(y),
//     ly = y - y_lo, rows y_lo (weight 1 - ly) and y_lo + 1 (weight ly); the same
//     along x; the four products of one row weight and one column weight.
// The bilinear weights are separable, so each sample's weight is a product of a
// row weight and a column weight; that is what the CUDA backward uses (below).
//
// Backward (to the features only; the boxes are constants):
//   dx[b, c, h, w] += sum over the samples of every bin of every RoI of image b
//                     of dy[r, c, ph, pw] / count * (the sample's weight on (h, w)).
// Nothing is saved for backward but the rois themselves (and the geometry).
//   CPU: scatters sample by sample, RoI by RoI, as torchvision's CPU kernel.
//   CUDA: GATHERS, one thread per feature element, so every dx element has one
//   writer and a fixed summation order: deterministic, no atomics (torchvision's
//   CUDA backward uses atomicAdd, whose order changes from run to run). It uses
//   the separable form: y[r, c] = A_r x[b, c] B_r^T, with A_r (out_h, H) and
//   B_r (out_w, W) the bins' averaged row and column weights
//     A_r[ph, h] = (1 / G_h) sum_{iy} [sy valid] * (row weight of sy on row h)
//   (roi_axis_weight below), so dx[b, c] += sum_r A_r^T dy[r, c] B_r. One
//   kernel tabulates A_r and B_r into a workspace (launched once for each), a
//   second finds each RoI's non-zero row/column span, a third gathers; each
//   feature element tests every RoI's span (cheap) and sums only over the RoIs
//   that touch it. Why the two forms agree: the direct form's 1 / count is
//   (1 / G_h)(1 / G_w) (a grid with no samples gives 0 either way), and
//   sum_iy [sy valid] f(sy) * sum_ix [sx valid] g(sx) counts exactly the
//   samples valid along both axes. Same terms, another summation order: the
//   parity test checks one against the other.
//
// RoI subsets (for FPN). Every kernel takes an index list roi_index of n RoIs:
// it pools rows roi_index[0..n) of rois into the same rows of y (and reads the
// same rows of dy); nullptr means all rows 0..n-1. roi_align_fpn runs one call
// per pyramid level over the RoIs assigned to it (Lin et al. 2017, eq. 1), all
// writing into one (R, C, out_h, out_w) output.
//
// Shapes: x, dx (N, C, H, W); rois (R, 5), b an integer in [0, N) (the
// framework op checks it); y, dy (R, C, out_h, out_w).
// Reference: He et al., "Mask R-CNN", ICCV 2017; torchvision.ops.roi_align
// (torchvision/csrc/ops/cpu/roi_align_kernel.cpp), which tests/nets/test_torch_reference.cpp
// compares against in float64.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/common.h"

namespace skinmtl {

// The geometry of one call (one pyramid level). Plain data, passed by value.
struct RoiAlignGeom {
  int64_t N, C, H, W;    // features (N, C, H, W)
  int out_h, out_w;      // bins per RoI
  double spatial_scale;  // feature pixels per input pixel
  int sampling_ratio;    // samples per bin side; 0 = adaptive
  bool aligned;          // the pixel-centre model (-0.5 shift)
};

// One RoI on the feature map: its batch index, first corner, bin size and samples per bin.
template <typename T>
struct RoiBox {
  int64_t batch;
  T y_start, x_start;  // feature coordinates of the box's top-left corner
  T bin_h, bin_w;      // bin size in feature pixels
  int grid_h, grid_w;  // samples per bin along each axis (G_h, G_w)
};

// The RoI row [b, x1, y1, x2, y2] mapped onto the feature map (torchvision's
// roi_align_forward_kernel_impl, the lines before the bin loops).
template <typename T>
SKINMTL_HD RoiBox<T> roi_box(const T* roi, const RoiAlignGeom& g) {
  const T scale = (T)g.spatial_scale;
  const T offset = g.aligned ? T(0.5) : T(0);
  RoiBox<T> b;
  b.batch = (int64_t)roi[0];
  b.x_start = roi[1] * scale - offset;
  b.y_start = roi[2] * scale - offset;
  T roi_w = roi[3] * scale - offset - b.x_start;
  T roi_h = roi[4] * scale - offset - b.y_start;
  if (!g.aligned) {  // the legacy model: every RoI at least one feature pixel wide
    roi_w = roi_w > T(1) ? roi_w : T(1);
    roi_h = roi_h > T(1) ? roi_h : T(1);
  }
  b.bin_h = roi_h / T(g.out_h);
  b.bin_w = roi_w / T(g.out_w);
  b.grid_h = g.sampling_ratio > 0 ? g.sampling_ratio : (int)std::ceil(roi_h / T(g.out_h));
  b.grid_w = g.sampling_ratio > 0 ? g.sampling_ratio : (int)std::ceil(roi_w / T(g.out_w));
  return b;
}

// The divisor of a bin: the number of samples, at least 1 (an adaptive grid of
// an empty box has none, and its bins are 0).
template <typename T>
SKINMTL_HD T roi_bin_count(const RoiBox<T>& b) {
  const int n = b.grid_h * b.grid_w;
  return T(n > 1 ? n : 1);
}

// Sample k of bin p along one axis (k < grid): the coordinate, as torchvision
// computes it. Forward and backward, CPU and CUDA, all place samples with this.
template <typename T>
SKINMTL_HD T roi_sample(T start, T bin, int grid, int p, int k) {
  return start + T(p) * bin + T(k + 0.5) * bin / T(grid);
}

// Bilinear interpolation along one axis of length `size`: the two neighbouring
// indices and their weights, with torchvision's edge rules (header comment).
template <typename T>
struct RoiLerp {
  bool inside;     // false: the sample is outside [-1, size] (or NaN) and counts 0
  int64_t lo, hi;  // neighbouring indices (equal at the clamped far edge)
  T w_lo, w_hi;    // their weights, w_lo + w_hi = 1
};

template <typename T>
SKINMTL_HD RoiLerp<T> roi_lerp(T v, int64_t size) {
  RoiLerp<T> l{false, 0, 0, T(0), T(0)};
  if (!(v >= T(-1) && v <= T(size))) return l;  // written so that NaN is outside too
  if (v <= T(0)) v = T(0);
  l.inside = true;
  l.lo = (int64_t)v;  // v >= 0: truncation is floor
  if (l.lo >= size - 1) {
    l.lo = l.hi = size - 1;
    v = (T)l.lo;
  } else {
    l.hi = l.lo + 1;
  }
  l.w_hi = v - T(l.lo);
  l.w_lo = T(1) - l.w_hi;
  return l;
}

// One bin of one RoI on one feature plane (H, W): the forward value.
template <typename T>
SKINMTL_HD T roi_align_bin(const T* plane, const RoiBox<T>& b, int ph, int pw, int64_t H,
                           int64_t W) {
  T sum = T(0);
  for (int iy = 0; iy < b.grid_h; ++iy) {
    const RoiLerp<T> ly = roi_lerp(roi_sample(b.y_start, b.bin_h, b.grid_h, ph, iy), H);
    if (!ly.inside) continue;
    for (int ix = 0; ix < b.grid_w; ++ix) {
      const RoiLerp<T> lx = roi_lerp(roi_sample(b.x_start, b.bin_w, b.grid_w, pw, ix), W);
      if (!lx.inside) continue;
      sum += ly.w_lo * lx.w_lo * plane[ly.lo * W + lx.lo] +
             ly.w_lo * lx.w_hi * plane[ly.lo * W + lx.hi] +
             ly.w_hi * lx.w_lo * plane[ly.hi * W + lx.lo] +
             ly.w_hi * lx.w_hi * plane[ly.hi * W + lx.hi];
    }
  }
  return sum / roi_bin_count(b);
}

// The averaged weight of bin p on index i along one axis (A_r[p, i] of the
// header comment): (1 / grid) sum over the bin's samples of the weight each
// puts on i; 0 when the bin has no samples.
template <typename T>
SKINMTL_HD T roi_axis_weight(T start, T bin, int grid, int p, int64_t i, int64_t size) {
  if (grid <= 0) return T(0);
  T s = T(0);
  for (int k = 0; k < grid; ++k) {
    const RoiLerp<T> l = roi_lerp(roi_sample(start, bin, grid, p, k), size);
    if (!l.inside) continue;
    if (l.lo == i) s += l.w_lo;
    if (l.hi == i) s += l.w_hi;
  }
  return s / T(grid);
}

// ---- CPU ----------------------------------------------------------------------
// n RoIs: rows roi_index[0..n) of rois and y/dy, or rows 0..n-1 when roi_index is nullptr.

template <typename T>
void roi_align_forward_cpu(T* y,                      // (R, C, out_h, out_w), rows listed
                           const T* x,                // (N, C, H, W)
                           const T* rois,             // (R, 5)
                           const int32_t* roi_index,  // (n) or nullptr
                           int64_t n, const RoiAlignGeom& g);
template <typename T>
void roi_align_backward_cpu(T* dx,                     // (N, C, H, W) +=
                            const T* dy,               // (R, C, out_h, out_w)
                            const T* rois,             // (R, 5)
                            const int32_t* roi_index,  // (n) or nullptr
                            int64_t n, const RoiAlignGeom& g);

// The same, through the header's functions for every channel and sample: the
// readable definition the loops above are tested against (they compute the
// RoI-dependent part once per RoI and give the same bits).
template <typename T>
void roi_align_forward_cpu_reference(T* y, const T* x, const T* rois, const int32_t* roi_index, int64_t n,
                                     const RoiAlignGeom& g);
template <typename T>
void roi_align_backward_cpu_reference(T* dx, const T* dy, const T* rois, const int32_t* roi_index, int64_t n,
                                      const RoiAlignGeom& g);

// ---- CUDA (float32) -------------------------------------------------------------
// The same buffers, shapes and accumulate rules as the CPU twins, on device
// memory (roi_index too), queued on stream s.

void roi_align_forward_cuda(float* y, const float* x, const float* rois, const int32_t* roi_index,
                            int64_t n, const RoiAlignGeom& g, cuda_stream_t s);

// Scratch floats the backward needs for n RoIs: the tables A (n, out_h, H) and
// B (n, out_w, W), and each RoI's non-zero span (4 int32 per RoI).
inline int64_t roi_align_backward_cuda_workspace(int64_t n, const RoiAlignGeom& g) {
  return n * (g.out_h * g.H + g.out_w * g.W + 4);
}
void roi_align_backward_cuda(float* dx,                 // (N, C, H, W) +=
                             float* workspace,          // roi_align_backward_cuda_workspace(n, g) floats
                             const float* dy,           // (R, C, out_h, out_w)
                             const float* rois,         // (R, 5)
                             const int32_t* roi_index,  // (n) or nullptr
                             int64_t n, const RoiAlignGeom& g, cuda_stream_t s);

}  // namespace skinmtl
