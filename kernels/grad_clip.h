// kernels/grad_clip.h: clipping by the global norm (framework/grad_clip.h)
// over all the gradients of a model at once, on the GPU, in three launches
// and no wait for the host:
//
//   The gradients are cut into chunks of at most kGradClipChunk elements (a
//   large tensor, e.g. a 12544 x 1024 box head, into many), so that every
//   block of the GPU has work:
//   partial[c] = sum_i g_c[i]^2            one block per chunk c, in double, each
//                                          thread a fixed stride, then a fixed
//                                          tree (kernels/cuda/block_sum.cuh)
//   norm   = sqrt(sum_c partial[c])        one block, in double, a fixed order
//   factor = max_norm / norm  if norm is finite, max_norm > 0 and norm > max_norm
//            1                otherwise    (from the double norm, rounded to
//                                          float32; the norm is stored as float32)
//   g_c[i] *= factor                       nothing is written where factor == 1
// The same chunks in the same order give the same bits on every run.
//
// Three launches instead of three per tensor (a sum of squares, a running
// add, a scale: about 900 for the detector's 300 tensors), and the factor
// never leaves the device, so the host queues the optimizer's update and the
// next step while the GPU clips. The CPU reference is framework/grad_clip.cpp's
// host loop over the parameters (the tests compare the two).
//
// chunks (C) and sizes (C) are device arrays: each chunk's address and
// element count. float32 only.
//
// CPU (float32 and float64): the same chunks, as host arrays. Each chunk's
// sum of squares is formed in double over 8 lanes (lane k adds elements k,
// k + 8, k + 16, ... in order; then the lanes are added in order: 8
// independent chains instead of one, which kept a single add's latency per
// element), the chunks are split over the OpenMP threads, and their partials
// are added in chunk order: the same bits whatever the number of threads.
// grad_scale_cpu multiplies in place by the factor (in T).
#pragma once

#include <cstdint>

#include "kernels/common.h"

namespace skinmtl {

constexpr int64_t kGradClipChunk = 65536;

template <typename T>
double grad_sum_squares_cpu(const T* const* chunks, const int64_t* sizes, int64_t C);
template <typename T>
void grad_scale_cpu(T* const* chunks, const int64_t* sizes, int64_t C, T factor);

void grad_sum_squares_cuda(double* partial,  // (C)
                           const float* const* chunks, const int64_t* sizes, int64_t C,
                           cuda_stream_t s);
// norm (1) and factor (1): device memory.
void grad_clip_factor_cuda(float* norm, float* factor, const double* partial, int64_t C, float max_norm,
                           cuda_stream_t s);
void grad_scale_cuda(float* const* chunks, const int64_t* sizes, int64_t C, const float* factor, cuda_stream_t s);

}  // namespace skinmtl
