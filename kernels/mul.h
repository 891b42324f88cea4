// kernels/mul.h: the elementwise product of two tensors of the same shape.
//
//   forward:  y = a * b
//   backward: da += dy * b,   db += dy * a
//
// Both backward terms are the same function, "dx += dy * other", run once per
// input that wants a gradient (mul(a, a) runs it twice into the same buffer,
// which gives 2 a dy, as it should).
// Shapes: a, b, y, dy, da, db hold n elements each (any layout).
// Saved for backward: both inputs.
// Reference: torch.mul / the Hadamard product. Used for masking (e.g. a
// per-anchor weight times a per-anchor loss map) and gating.
#pragma once

#include <cstdint>

#include "kernels/common.h"

namespace skinmtl {

template <typename T>
SKINMTL_HD T mul_elem(T a, T b) { return a * b; }

// The contribution to one input's gradient: dy times the other input.
template <typename T>
SKINMTL_HD T mul_backward_elem(T dy, T other) { return dy * other; }

template <typename T>
void mul_forward_cpu(T* y, const T* a, const T* b, int64_t n);              // y, a, b (n)
template <typename T>
void mul_backward_cpu(T* dx, const T* dy, const T* other, int64_t n);       // dx (n) +=, dy, other (n)

void mul_forward_cuda(float* y, const float* a, const float* b, int64_t n, cuda_stream_t s);
void mul_backward_cuda(float* dx, const float* dy, const float* other, int64_t n,
                       cuda_stream_t s);

}  // namespace skinmtl
