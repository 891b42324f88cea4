// kernels/elementwise.h: add, scale and axpy over flat buffers.
//
//   add:   y = a + b                      backward: da += dy, db += dy
//   scale: y = alpha * x                  backward: dx += alpha * dy
//   axpy:  y += alpha * x                 (the accumulate step of many backwards)
//   fill:  y = value                      (on the device, so filling needs no
//                                          host-to-device copy and no sync)
//   binarize: y = x >= t ? 1 : 0          (not differentiable: a hard target made
//                                          from a soft one where it lies, e.g. a
//                                          RoI-aligned mask, with no trip to the host)
//
// Shapes: every buffer holds n elements; the ops do not care about layout.
// Nothing is saved for backward. The element functions below are the single
// definition used by the CPU loops and the CUDA kernels.
#pragma once

#include <cstdint>

#include "kernels/common.h"

namespace skinmtl {

template <typename T>
SKINMTL_HD T add_elem(T a, T b) { return a + b; }

template <typename T>
SKINMTL_HD T axpy_elem(T y, T x, T alpha) { return y + alpha * x; }

template <typename T>
SKINMTL_HD T binarize_elem(T x, T t) { return x >= t ? T(1) : T(0); }

template <typename T>
void add_forward_cpu(T* y, const T* a, const T* b, int64_t n);     // y (n), a (n), b (n)
template <typename T>
void scale_forward_cpu(T* y, const T* x, T alpha, int64_t n);      // y (n), x (n)
template <typename T>
void axpy_cpu(T* y, const T* x, T alpha, int64_t n);               // y (n) +=, x (n)
template <typename T>
void binarize_cpu(T* y, const T* x, T t, int64_t n);               // y (n), x (n)

// add: T is float or bf16 (kernels/bf16.h; the sum in float, rounded when stored).
template <typename T>
void add_forward_cuda(T* y, const T* a, const T* b, int64_t n, cuda_stream_t s);
void scale_forward_cuda(float* y, const float* x, float alpha, int64_t n, cuda_stream_t s);
void axpy_cuda(float* y, const float* x, float alpha, int64_t n, cuda_stream_t s);
void fill_cuda(float* y, float value, int64_t n, cuda_stream_t s);
void binarize_cuda(float* y, const float* x, float t, int64_t n, cuda_stream_t s);

}  // namespace skinmtl
