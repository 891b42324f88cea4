// framework/accumulate.h: dst += alpha * src, outside the tape.
//
// The workhorse of backward functions whose gradient is the incoming one,
// scaled (add, scale, reshape). Shapes may differ as long as the element
// counts match (reshape's gradient is the same buffer read with another shape).
#pragma once

#include "framework/tensor.h"

namespace skinmtl {

void accumulate(const Tensor& dst, const Tensor& src, double alpha = 1.0);

}  // namespace skinmtl
