// kernels/cast.h: conversions between float32 and bfloat16 (kernels/bf16.h),
// and the accumulation that their gradients and bfloat16 gradients need.
//
//   convert:     y[i]  = x[i]                     (to bfloat16: rounded to nearest even)
//   convert_add: y[i] += alpha * x[i]             (in float32, then rounded if y is bfloat16)
// Shapes: x, y hold n elements each (any layout). D is y's type, S is x's;
// instantiated for (float, bf16), (bf16, float) and (bf16, bf16) on both
// devices. convert_add is the backward of convert (the gradient of a
// conversion is the conversion of the gradient, added to what is there) and
// the += of the tape for bfloat16 gradients.
// Reference: PyTorch's Tensor.to(dtype) and its autograd (ToCopyBackward).
#pragma once

#include <cstdint>

#include "kernels/bf16.h"
#include "kernels/common.h"

namespace skinmtl {

template <typename D, typename S>
void convert_cpu(D* y, const S* x, int64_t n);                    // y (n), x (n)
template <typename D, typename S>
void convert_add_cpu(D* y, const S* x, float alpha, int64_t n);    // y (n) +=, x (n)

template <typename D, typename S>
void convert_cuda(D* y, const S* x, int64_t n, cuda_stream_t s);
template <typename D, typename S>
void convert_add_cuda(D* y, const S* x, float alpha, int64_t n, cuda_stream_t s);

}  // namespace skinmtl
