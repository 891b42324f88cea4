// framework/ops/bias_act.h: the passes that end a network unit, shared by the
// ops that fuse them (conv2d_bias_act and conv2d_bn in conv2d.cpp,
// batch_norm2d_act in batch_norm.cpp). Internal to framework/ops: the kernels
// are those of kernels/fold_batch_norm.h, run on the tensors' device.
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

}  // namespace skinmtl
