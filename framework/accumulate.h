// framework/accumulate.h: dst += alpha * src, outside the tape.
//
// The workhorse of backward functions whose gradient is the incoming one,
// scaled (add, scale, reshape, cast). Shapes may differ as long as the element
// counts match (reshape's gradient is the same buffer read with another shape).
// Float32 and bfloat16 may mix (a cast's gradient): the sum is taken in
// float32 and rounded when dst is bfloat16.
#pragma once

#include "framework/autograd.h"
#include "framework/tensor.h"

namespace skinmtl {

void accumulate(const Tensor& dst, const Tensor& src, double alpha = 1.0);

// The same into a gradient buffer from GradBuffers::write(): dst += alpha * src
// when it must accumulate, dst = alpha * src (a copy, or a conversion between
// float32 and bfloat16) when it holds nothing yet. Nothing when undefined.
void write_gradient(const GradBuffers::Target& dst, const Tensor& src, double alpha = 1.0);

}  // namespace skinmtl
