// CUDA kernels for kernels/pool2d.h. All grid-stride loops, no atomics:
//  - forward: one thread per OUTPUT element, running the same window function
//    as the CPU loop (so the two agree bit for bit, ties included);
//  - backward: one thread per INPUT element, gathering the gradient from the
//    outputs whose window contains it (Caffe's MaxPoolBackward/AvePoolBackward).
//    Each dx element is written by exactly one thread, in a fixed order: no
//    races and a deterministic result.
#include "kernels/bf16.h"
#include "kernels/cuda/check.cuh"
#include "kernels/pool2d.h"

namespace skinmtl {
namespace {

template <typename T>
__global__ void max_pool2d_forward_kernel(T* y, float* argmax, const T* x, const Pool2dGeom g,
                                          int64_t total) {
  CUDA_KERNEL_LOOP(i, total) {  // i indexes (N, C, P, Q)
    const int64_t ow = i % g.Q, oh = (i / g.Q) % g.P, nc = i / (g.P * g.Q);
    int64_t arg = 0;
    store(y, i, max_pool_window(x + nc * g.H * g.W, oh, ow, g, &arg));
    argmax[i] = (float)arg;  // exact: the framework checks H * W <= 2^24
  }
}

template <typename T>
__global__ void max_pool2d_backward_kernel(T* dx, const T* dy, const float* argmax,
                                           const Pool2dGeom g, bool accumulate, int64_t total) {
  CUDA_KERNEL_LOOP(i, total) {  // i indexes (N, C, H, W)
    const int64_t w = i % g.W, h = (i / g.W) % g.H, nc = i / (g.H * g.W);
    const int64_t here = h * g.W + w;  // this element's index in its plane
    const PoolOutputs rh = pool_outputs_containing(h, g.P, g.kernel_h, g.stride_h, g.pad_h);
    const PoolOutputs rw = pool_outputs_containing(w, g.Q, g.kernel_w, g.stride_w, g.pad_w);
    const T* dyp = dy + nc * g.P * g.Q;
    const float* ap = argmax + nc * g.P * g.Q;
    float grad = 0.f;
    for (int64_t oh = rh.begin; oh < rh.end; ++oh)
      for (int64_t ow = rw.begin; ow < rw.end; ++ow)
        if ((int64_t)ap[oh * g.Q + ow] == here) grad += load(dyp, oh * g.Q + ow);
    store(dx, i, accumulate ? load(dx, i) + grad : grad);
  }
}

__global__ void avg_pool2d_forward_kernel(float* y, const float* x, const Pool2dGeom g,
                                          bool count_include_pad, int64_t total) {
  CUDA_KERNEL_LOOP(i, total) {  // i indexes (N, C, P, Q)
    const int64_t ow = i % g.Q, oh = (i / g.Q) % g.P, nc = i / (g.P * g.Q);
    y[i] = avg_pool_window(x + nc * g.H * g.W, oh, ow, g, count_include_pad);
  }
}

__global__ void avg_pool2d_backward_kernel(float* dx, const float* dy, const Pool2dGeom g,
                                           bool count_include_pad, bool accumulate, int64_t total) {
  CUDA_KERNEL_LOOP(i, total) {  // i indexes (N, C, H, W)
    const int64_t w = i % g.W, h = (i / g.W) % g.H, nc = i / (g.H * g.W);
    const PoolOutputs rh = pool_outputs_containing(h, g.P, g.kernel_h, g.stride_h, g.pad_h);
    const PoolOutputs rw = pool_outputs_containing(w, g.Q, g.kernel_w, g.stride_w, g.pad_w);
    const float* dyp = dy + nc * g.P * g.Q;
    float grad = 0.f;
    for (int64_t oh = rh.begin; oh < rh.end; ++oh)
      for (int64_t ow = rw.begin; ow < rw.end; ++ow)
        grad += dyp[oh * g.Q + ow] / (float)avg_pool_divisor(oh, ow, g, count_include_pad);
    dx[i] = accumulate ? dx[i] + grad : grad;
  }
}

// One thread per (n, c) plane, summing it sequentially in the CPU's order.
// Adjacent threads read addresses HW apart (uncoalesced), which is fine for
// the 7 x 7 planes ResNet-50 pools here; a large-plane version would reduce
// each plane with a block, as batch_norm.cu does per channel.
template <typename T>
__global__ void global_avg_pool2d_forward_kernel(T* y, const T* x, int64_t NC, int64_t HW) {
  CUDA_KERNEL_LOOP(i, NC) {
    float s = 0.f;
    for (int64_t j = 0; j < HW; ++j) s += load(x, i * HW + j);
    store(y, i, s / (float)HW);
  }
}

template <typename T>
__global__ void global_avg_pool2d_backward_kernel(T* dx, const T* dy, int64_t NC, int64_t HW, bool accumulate) {
  CUDA_KERNEL_LOOP(i, NC * HW) {
    const float share = load(dy, i / HW) / (float)HW;
    store(dx, i, accumulate ? load(dx, i) + share : share);
  }
}

}  // namespace

template <typename T>
void max_pool2d_forward_cuda(T* y, float* argmax, const T* x, const Pool2dGeom& g, cuda_stream_t s) {
  const int64_t total = g.N * g.C * g.P * g.Q;
  if (total == 0) return;
  max_pool2d_forward_kernel<<<cuda::blocks_for(total), cuda::kThreads, 0, s>>>(y, argmax, x, g,
                                                                               total);
  SKINMTL_LAUNCH_CHECK();
}

template <typename T>
void max_pool2d_backward_cuda(T* dx, const T* dy, const float* argmax, const Pool2dGeom& g,
                              bool accumulate, cuda_stream_t s) {
  const int64_t total = g.N * g.C * g.H * g.W;
  if (total == 0) return;
  max_pool2d_backward_kernel<<<cuda::blocks_for(total), cuda::kThreads, 0, s>>>(dx, dy, argmax,
                                                                                g, accumulate, total);
  SKINMTL_LAUNCH_CHECK();
}

void avg_pool2d_forward_cuda(float* y, const float* x, const Pool2dGeom& g,
                             bool count_include_pad, cuda_stream_t s) {
  const int64_t total = g.N * g.C * g.P * g.Q;
  if (total == 0) return;
  avg_pool2d_forward_kernel<<<cuda::blocks_for(total), cuda::kThreads, 0, s>>>(
      y, x, g, count_include_pad, total);
  SKINMTL_LAUNCH_CHECK();
}

void avg_pool2d_backward_cuda(float* dx, const float* dy, const Pool2dGeom& g,
                              bool count_include_pad, bool accumulate, cuda_stream_t s) {
  const int64_t total = g.N * g.C * g.H * g.W;
  if (total == 0) return;
  avg_pool2d_backward_kernel<<<cuda::blocks_for(total), cuda::kThreads, 0, s>>>(
      dx, dy, g, count_include_pad, accumulate, total);
  SKINMTL_LAUNCH_CHECK();
}

template <typename T>
void global_avg_pool2d_forward_cuda(T* y, const T* x, int64_t NC, int64_t HW, cuda_stream_t s) {
  if (NC == 0) return;
  global_avg_pool2d_forward_kernel<<<cuda::blocks_for(NC), cuda::kThreads, 0, s>>>(y, x, NC, HW);
  SKINMTL_LAUNCH_CHECK();
}

template <typename T>
void global_avg_pool2d_backward_cuda(T* dx, const T* dy, int64_t NC, int64_t HW, bool accumulate,
                                     cuda_stream_t s) {
  const int64_t total = NC * HW;
  if (total == 0) return;
  global_avg_pool2d_backward_kernel<<<cuda::blocks_for(total), cuda::kThreads, 0, s>>>(dx, dy, NC,
                                                                                       HW, accumulate);
  SKINMTL_LAUNCH_CHECK();
}

#define INSTANTIATE(T)                                                                              \
  template void max_pool2d_forward_cuda<T>(T*, float*, const T*, const Pool2dGeom&, cuda_stream_t);  \
  template void max_pool2d_backward_cuda<T>(T*, const T*, const float*, const Pool2dGeom&, bool,    \
                                            cuda_stream_t);                                          \
  template void global_avg_pool2d_forward_cuda<T>(T*, const T*, int64_t, int64_t, cuda_stream_t);   \
  template void global_avg_pool2d_backward_cuda<T>(T*, const T*, int64_t, int64_t, bool, cuda_stream_t);
INSTANTIATE(float)
INSTANTIATE(bf16)
#undef INSTANTIATE

}  // namespace skinmtl
