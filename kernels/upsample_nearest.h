// kernels/upsample_nearest.h: nearest-neighbour resizing of a batch of images,
// the FPN's top-down 2x (Lin et al. 2017, "Feature Pyramid Networks", sec. 3:
// "we upsample the spatial resolution by a factor of 2 (using nearest neighbor
// upsampling)"; Song et al. 2019 sec. III-B1) and the mask head's 2x.
//
//   forward:  y[nc, oy, ox] = x[nc, sy(oy), sx(ox)],
//             sy(oy) = floor(oy * H / out_h),   sx(ox) = floor(ox * W / out_w)
//   backward: dx[nc, iy, ix] += sum of dy[nc, oy, ox] over every output pixel
//             whose source is (iy, ix)
//
// Shapes: x, dx (NC, H, W); y, dy (NC, out_h, out_w), where NC = N * C (the
// images and channels are independent, so the kernels see one flat NC). Any
// sizes >= 1, up or down, integer ratio or not (3 -> 7: rows 0 0 0 1 1 2 2).
// Saved for backward: nothing but the sizes.
//
// Reference: PyTorch's F.interpolate(x, size=(out_h, out_w), mode='nearest')
// (also OpenCV's INTER_NEAREST and TensorFlow 1's resize_nearest_neighbor
// without align_corners / half_pixel_centers). PyTorch evaluates the index as
// floor(oy * scale) in float32 with scale = float32(H / out_h), clamped to
// H - 1; skinmtl uses the exact integer (oy * H) / out_h, always < H. The two
// agree for every integer up-sampling factor from 2 to 40 and every integer
// down-sampling factor (so for the FPN's and the mask head's 2x), but where
// oy * H / out_h is exactly an integer and float32 rounds the scale down they
// differ by one row: 26 -> 44, output row 22 reads row 22 * 26 / 44 = 13 here,
// row floor(22 * 0.59090906f) = floor(12.999999) = 12 in PyTorch (1.13).
// tests/framework/ops/test_upsample_permute.cpp pins the exact rule on that case; the
// PyTorch reference test uses sizes where both agree.
//
// Which outputs read input row iy? Those oy with iy <= oy * H / out_h < iy + 1,
// i.e. iy * out_h <= oy * H < (iy + 1) * out_h: the range
//   [ceil(iy * out_h / H), ceil((iy + 1) * out_h / H))
// (empty for some rows when down-sampling: those inputs get no gradient). The
// same holds for the columns. The backward is written as this GATHER, one
// input pixel at a time adding up its own outputs in a fixed order, on both
// the CPU and the GPU: every dx element is written by one thread, so the CUDA
// kernel needs no atomics and gives the same bits on every run, and the CPU
// and CUDA sums add the same terms in the same order.
#pragma once

#include <cstdint>

#include "kernels/bf16.h"
#include "kernels/common.h"

namespace skinmtl {

// The source index of output index `o` along a dimension of in_size -> out_size.
SKINMTL_HD int64_t nearest_source(int64_t o, int64_t in_size, int64_t out_size) {
  return o * in_size / out_size;  // floor for non-negative integers
}

// The first output index whose source is >= i: ceil(i * out_size / in_size).
// The outputs with source exactly i are [nearest_first_output(i),
// nearest_first_output(i + 1)).
SKINMTL_HD int64_t nearest_first_output(int64_t i, int64_t in_size, int64_t out_size) {
  return (i * out_size + in_size - 1) / in_size;
}

// The gradient of one input pixel: the sum of its outputs dy[oy, ox],
// oy in [y0, y1), ox in [x0, x1), row by row, left to right. dy points at
// the pixel's (out_h, out_w) plane. T: float, double or bf16 (read through
// load, kernels/bf16.h: the sum is float for bf16).
template <typename T>
SKINMTL_HD auto nearest_gather(const T* dy, int64_t out_w, int64_t y0, int64_t y1, int64_t x0,
                               int64_t x1) {
  decltype(load(dy, 0)) acc = 0;
  for (int64_t oy = y0; oy < y1; ++oy)
    for (int64_t ox = x0; ox < x1; ++ox) acc += load(dy, oy * out_w + ox);
  return acc;
}

template <typename T>
void upsample_nearest_forward_cpu(T* y,        // (NC, out_h, out_w)
                                  const T* x,  // (NC, H, W)
                                  int64_t NC, int64_t H, int64_t W, int64_t out_h,
                                  int64_t out_w);
template <typename T>
void upsample_nearest_backward_cpu(T* dx,        // (NC, H, W) +=, or = (every element) when !accumulate
                                   const T* dy,  // (NC, out_h, out_w)
                                   int64_t NC, int64_t H, int64_t W, int64_t out_h,
                                   int64_t out_w, bool accumulate);

// One thread per OUTPUT element (forward), one per INPUT element (backward).
// T: float or bf16 (the forward copies exactly; the backward sums in float
// and rounds once).
template <typename T>
void upsample_nearest_forward_cuda(T* y,        // (NC, out_h, out_w)
                                   const T* x,  // (NC, H, W)
                                   int64_t NC, int64_t H, int64_t W, int64_t out_h,
                                   int64_t out_w, cuda_stream_t s);
template <typename T>
void upsample_nearest_backward_cuda(T* dx,        // (NC, H, W) += (or =)
                                    const T* dy,  // (NC, out_h, out_w)
                                    int64_t NC, int64_t H, int64_t W, int64_t out_h,
                                    int64_t out_w, bool accumulate, cuda_stream_t s);

}  // namespace skinmtl
