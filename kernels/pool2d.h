// kernels/pool2d.h: 2-D max and average pooling, and global average pooling.
//
// Shapes: x, dx (N, C, H, W); y, dy (N, C, P, Q); every (n, c) plane is pooled
// on its own. Output (o_h, o_w) pools the window of kernel_h x kernel_w
// positions starting at (o_h * stride_h - pad_h, o_w * stride_w - pad_w) on
// the zero-based input grid; positions outside [0, H) x [0, W) are padding.
//
// Output size along one axis (PyTorch's pooling_output_shape, no dilation):
//   floor mode: P = floor((H + 2 pad - kernel) / stride) + 1
//   ceil mode:  P = ceil ((H + 2 pad - kernel) / stride) + 1, then reduced by
//               one if the last window would start at or beyond H + pad, i.e.
//               past the input and its left padding. Every window therefore
//               holds at least one real input element (the caller also
//               requires pad <= kernel / 2, as PyTorch does).
//   Caffe's ResNet-50 pool1 (3x3, stride 2, no padding) rounds up:
//   112 -> 56; PyTorch's default floor gives 55.
//
// max_pool2d (Caffe PoolingLayer MAX, PyTorch max_pool2d):
//   y = max over the window's real elements (padding acts as -infinity, so it
//   never wins). Ties: the FIRST maximum in row-major scan order of the window
//   wins (strict >), on the CPU and CUDA alike. A NaN in the window wins and
//   propagates (as in PyTorch).
//   Saved for backward: argmax (N, C, P, Q), the winner's index INSIDE its
//   (n, c) plane, h * W + w, stored as T in a tensor of the input's dtype
//   (tensors are float/double only). A float holds every integer below 2^24
//   exactly; the framework op checks H * W <= 2^24 (a 4096 x 4096 plane).
//   Backward: dx[argmax] += dy. The CPU scatters output by output; CUDA
//   gathers, one thread per INPUT element summing dy over the outputs whose
//   window contains it and chose it (Caffe's MaxPoolBackward): no atomics,
//   deterministic, and a different algorithm from the CPU, so the parity test
//   checks one against the other.
//
// avg_pool2d (Caffe AVE, PyTorch avg_pool2d):
//   y = (sum of the window's real elements) / divisor, where
//   count_include_pad = true:  divisor = the window size clipped to the padded
//                              input [-pad, H + pad) (PyTorch; in ceil mode the
//                              last window may stick out beyond even that)
//   count_include_pad = false: divisor = the number of real input elements
//   Backward: every real element of the window receives dy / divisor (CPU:
//   scatter; CUDA: gather per input element, as for max pooling).
//   Nothing is saved for backward.
//
// global_avg_pool2d: (N, C, H, W) -> (N, C), y = mean over the H*W plane
//   (He et al. 2016, the layer before ResNet's classifier).
//   Backward: dx += dy / (H*W). Nothing is saved.
#pragma once

#include <cstdint>

#include "kernels/bf16.h"
#include "kernels/common.h"

namespace skinmtl {

// The geometry of one pooling call. Plain data, passed by value to kernels.
struct Pool2dGeom {
  int64_t N, C, H, W;  // input (N, C, H, W)
  int64_t P, Q;        // output height and width (from pool2d_out_size)
  int kernel_h, kernel_w;
  int stride_h, stride_w;
  int pad_h, pad_w;
};

// The output size along one axis; `in + 2 pad >= kernel` is the caller's to check.
inline int64_t pool2d_out_size(int64_t in, int kernel, int stride, int pad, bool ceil_mode) {
  const int64_t span = in + 2 * (int64_t)pad - kernel;  // >= 0
  int64_t out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;  // the last window must start inside
  return out;
}

// The window of output o along one axis.
struct PoolWindow {
  int64_t begin, end;   // the real input elements it covers: [begin, end) within [0, in)
  int64_t padded_size;  // its length clipped to the padded axis [-pad, in + pad)
};

template <typename Int>
SKINMTL_HD Int pool_min(Int a, Int b) { return a < b ? a : b; }
template <typename Int>
SKINMTL_HD Int pool_max(Int a, Int b) { return a > b ? a : b; }

SKINMTL_HD PoolWindow pool_window(int64_t o, int64_t in, int kernel, int stride, int pad) {
  const int64_t start = o * stride - pad;  // >= -pad
  const int64_t stop = start + kernel;
  PoolWindow r;
  r.padded_size = pool_min<int64_t>(stop, in + pad) - start;
  r.begin = pool_max<int64_t>(start, 0);
  r.end = pool_min<int64_t>(stop, in);
  return r;
}

// The outputs [begin, end) along one axis whose window contains input index i
// (Caffe's phstart/phend): window o covers [o*stride - pad, o*stride - pad + kernel),
// which contains i iff (i + pad - kernel) / stride < o <= (i + pad) / stride.
struct PoolOutputs {
  int64_t begin, end;
};
SKINMTL_HD PoolOutputs pool_outputs_containing(int64_t i, int64_t out, int kernel, int stride,
                                               int pad) {
  const int64_t ip = i + pad;  // i's position on the padded axis, >= 0
  PoolOutputs r;
  r.begin = ip < kernel ? 0 : (ip - kernel) / stride + 1;
  r.end = pool_min<int64_t>(ip / stride + 1, out);
  return r;
}

// Whether v replaces the running maximum `best` of a max-pool window: strictly
// greater (so the first maximum in scan order keeps ties), or v is NaN while
// best is not (v != v holds only for NaN): NaNs propagate, the first one wins.
template <typename T>
SKINMTL_HD bool max_pool_takes(T v, T best) {
  return v > best || (v != v && best == best);
}

// Max pooling of output (oh, ow) of one plane (H, W): the maximum, and its
// index h * W + w in the plane. T: float, double or bf16 (read through load,
// kernels/bf16.h; the maximum comes back as float for bf16).
template <typename T>
SKINMTL_HD auto max_pool_window(const T* plane, int64_t oh, int64_t ow, const Pool2dGeom& g,
                                int64_t* argmax) {
  const PoolWindow wh = pool_window(oh, g.H, g.kernel_h, g.stride_h, g.pad_h);
  const PoolWindow ww = pool_window(ow, g.W, g.kernel_w, g.stride_w, g.pad_w);
  int64_t arg = wh.begin * g.W + ww.begin;  // windows are never empty (see above)
  auto best = load(plane, arg);
  for (int64_t h = wh.begin; h < wh.end; ++h)
    for (int64_t w = ww.begin; w < ww.end; ++w) {
      const auto v = load(plane, h * g.W + w);
      if (max_pool_takes(v, best)) {
        best = v;
        arg = h * g.W + w;
      }
    }
  *argmax = arg;
  return best;
}

// The divisor of average-pool output (oh, ow).
SKINMTL_HD int64_t avg_pool_divisor(int64_t oh, int64_t ow, const Pool2dGeom& g,
                                    bool count_include_pad) {
  const PoolWindow wh = pool_window(oh, g.H, g.kernel_h, g.stride_h, g.pad_h);
  const PoolWindow ww = pool_window(ow, g.W, g.kernel_w, g.stride_w, g.pad_w);
  return count_include_pad ? wh.padded_size * ww.padded_size
                           : (wh.end - wh.begin) * (ww.end - ww.begin);
}

// Average pooling of output (oh, ow) of one plane (H, W).
template <typename T>
SKINMTL_HD T avg_pool_window(const T* plane, int64_t oh, int64_t ow, const Pool2dGeom& g,
                             bool count_include_pad) {
  const PoolWindow wh = pool_window(oh, g.H, g.kernel_h, g.stride_h, g.pad_h);
  const PoolWindow ww = pool_window(ow, g.W, g.kernel_w, g.stride_w, g.pad_w);
  T s = 0;
  for (int64_t h = wh.begin; h < wh.end; ++h)
    for (int64_t w = ww.begin; w < ww.end; ++w) s += plane[h * g.W + w];
  return s / T(avg_pool_divisor(oh, ow, g, count_include_pad));
}

// ---- CPU ----------------------------------------------------------------------

template <typename T>
void max_pool2d_forward_cpu(T* y,            // (N, C, P, Q)
                            T* argmax,       // (N, C, P, Q) index in the plane, as T
                            const T* x,      // (N, C, H, W)
                            const Pool2dGeom& g);
// The three backwards add into dx (accumulate) or write every element of it,
// = (!accumulate: its old contents, garbage included, are not read).
template <typename T>
void max_pool2d_backward_cpu(T* dx,            // (N, C, H, W) +=, or =
                             const T* dy,      // (N, C, P, Q)
                             const T* argmax,  // (N, C, P, Q) saved by the forward pass
                             const Pool2dGeom& g, bool accumulate);

template <typename T>
void avg_pool2d_forward_cpu(T* y,        // (N, C, P, Q)
                            const T* x,  // (N, C, H, W)
                            const Pool2dGeom& g, bool count_include_pad);
template <typename T>
void avg_pool2d_backward_cpu(T* dx,        // (N, C, H, W) +=, or =
                             const T* dy,  // (N, C, P, Q)
                             const Pool2dGeom& g, bool count_include_pad, bool accumulate);

// NC = N * C planes of HW = H * W elements each.
template <typename T>
void global_avg_pool2d_forward_cpu(T* y,        // (N, C)
                                   const T* x,  // (N, C, H, W)
                                   int64_t NC, int64_t HW);
template <typename T>
void global_avg_pool2d_backward_cpu(T* dx,        // (N, C, H, W) +=, or =
                                    const T* dy,  // (N, C)
                                    int64_t NC, int64_t HW, bool accumulate);

// ---- CUDA (float32; bfloat16 where T) ------------------------------------------
// The same buffers, shapes and accumulate rules as the CPU twins above, on
// device memory, queued on stream s. T: float or bf16 (kernels/bf16.h: sums
// and comparisons in float, one rounding per stored value); the argmax
// indices are float32 either way.

template <typename T>
void max_pool2d_forward_cuda(T* y, float* argmax, const T* x, const Pool2dGeom& g,
                             cuda_stream_t s);
template <typename T>
void max_pool2d_backward_cuda(T* dx, const T* dy, const float* argmax,
                              const Pool2dGeom& g, bool accumulate, cuda_stream_t s);
void avg_pool2d_forward_cuda(float* y, const float* x, const Pool2dGeom& g,
                             bool count_include_pad, cuda_stream_t s);
void avg_pool2d_backward_cuda(float* dx, const float* dy, const Pool2dGeom& g,
                              bool count_include_pad, bool accumulate, cuda_stream_t s);
template <typename T>
void global_avg_pool2d_forward_cuda(T* y, const T* x, int64_t NC, int64_t HW, cuda_stream_t s);
template <typename T>
void global_avg_pool2d_backward_cuda(T* dx, const T* dy, int64_t NC, int64_t HW, bool accumulate,
                                     cuda_stream_t s);

}  // namespace skinmtl
