// kernels/relu.h: the rectified linear unit.
//
//   forward:  y = max(x, 0)
//   backward: dx += dy * [x > 0]      (the subgradient at x == 0 is taken as 0,
//                                      as PyTorch and Caffe do)
//           = dy * [y > 0]            (y > 0 exactly where x > 0)
//   accumulate = false writes dx = ... instead (every element): for a
//   gradient buffer that holds nothing yet (framework/autograd.h).
// Shapes: x, y, dx, dy hold n elements each (any layout).
// Saved for backward: the output y (the second form), which the next layer
// keeps anyway, so the input can be freed (framework/ops/relu.cpp).
// Reference: Nair & Hinton 2010; He et al. 2016 use it after every BN.
#pragma once

#include <cstdint>

#include "kernels/common.h"

namespace skinmtl {

template <typename T>
SKINMTL_HD T relu_forward_elem(T x) { return x > T(0) ? x : T(0); }

// The gradient contribution for one element, to be added to dx.
template <typename T>
SKINMTL_HD T relu_backward_elem(T dy, T y) { return y > T(0) ? dy : T(0); }

template <typename T>
void relu_forward_cpu(T* y, const T* x, int64_t n);               // y (n), x (n)
template <typename T>
void relu_backward_cpu(T* dx, const T* dy, const T* y, int64_t n,  // dx (n) += or =, dy (n), y (n)
                       bool accumulate);

// T: float or bf16 (kernels/bf16.h; computed in float, rounded when stored).
template <typename T>
void relu_forward_cuda(T* y, const T* x, int64_t n, cuda_stream_t s);
template <typename T>
void relu_backward_cuda(T* dx, const T* dy, const T* y, int64_t n, bool accumulate, cuda_stream_t s);

}  // namespace skinmtl
