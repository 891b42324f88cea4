// framework/ops/bias_act.h: the end of a network unit, y = act(v + r), shared
// by the ops that fuse it into theirs (conv2d_bias_act and conv2d_bn in
// conv2d.cpp, batch_norm2d_act in batch_norm.cpp). Internal to framework/ops:
// the kernels are those of kernels/fold_batch_norm.h, run on the tensors'
// device.
#pragma once

#include "framework/autograd.h"
#include "framework/tensor.h"

namespace skinmtl {

// bias_act in place: y = act(y + b[k] + r). y (N, K, P, Q); b (K) or
// undefined, float32 on the GPU (y float32 or bfloat16) and y's dtype on the
// CPU; r y's shape and dtype, or undefined.
void bias_act_in_place(const Tensor& y, const Tensor& b, const Tensor& r, bool relu);

// bias_act_backward through a ReLU, on dy's device: g (dy's shape, or
// undefined: not wanted) = dy * [y > 0], and dr += or = g (dr.tensor
// undefined: not wanted). y is the ReLU's output.
void bias_act_backward(const Tensor& g, const GradBuffers::Target& dr, const Tensor& dy, const Tensor& y);

// The unit's end as the ops it stands for: add(v, r) when r is defined, then
// relu when `relu`. What the fused ops record when the fusion is switched off
// (set_conv_epilogue_fusion, framework/ops.h) or cannot apply.
Tensor unit_end_ops(const Tensor& v, const Tensor& r, bool relu);

// The backward of the unit's end for the op that computed v: returns dv, the
// gradient of v (dy through the ReLU when `relu`, dy itself otherwise), and
// writes dr, the residual's gradient (the same values), when dr.tensor is
// defined. dv is stored where it costs no buffer when it can: in dr's buffer
// when that holds nothing yet, else in `spare` when that holds nothing yet (a
// gradient buffer of the caller's that may hold dv: batch norm's dx, whose
// backward then runs in place), else in a buffer of its own. With !wanted
// (the op needs no dv), dv is only ever dr's buffer, or undefined.
// A fresh buffer is never shared with another input's slot (autograd.cpp
// zeroes a buffer two slots share, and both then accumulate), so dv never
// aliases a gradient the caller writes from it.
Tensor unit_end_backward(const Tensor& dy, const Tensor& y, bool relu, const GradBuffers::Target& dr, bool wanted,
                         const GradBuffers::Target& spare = GradBuffers::Target{});

}  // namespace skinmtl
