// framework/precision.h: bfloat16 mixed precision (--precision bf16).
//
// What it computes, as PyTorch's torch.autocast(dtype=torch.bfloat16) does:
//   - The parameters stay float32 ("master weights"), and so do their
//     gradients and the optimizer's state: SGD's small updates are not lost
//     to bfloat16's 8-bit significand.
//   - With autocast on, conv2d and linear cast their input and weights to
//     bfloat16 (recorded casts: the weights' gradients flow back through them
//     into the float32 .grad), keep their bias float32 and return bfloat16.
//     The first convolution thus turns the float32 images into bfloat16
//     activations, and a head's linear layer returns bfloat16 logits, which
//     the loss widens (PyTorch's autocast does both the same way).
//   - The ops that keep bfloat16 return bfloat16 for bfloat16 inputs: batch
//     norm (its scale, shift and running statistics stay float32), ReLU, add,
//     the poolings, upsampling, concat, slice, reshape. Activations and their
//     gradients are then half the bytes.
//   - Every other op (the losses, sigmoid, softmax, RoIAlign, the box ops,
//     sum, mean, mul, scale, permute) widens bfloat16 inputs to float32 and
//     returns float32 (as_f32): the losses and their sums are never formed in
//     bfloat16. Mixed float32 and bfloat16 inputs (add, concat) give
//     float32.
//   - Every kernel computes in float32 and rounds once when it stores
//     (kernels/bf16.h): cuDNN and cuBLAS with float accumulators, batch
//     norm's statistics in float.
// On the GPU, conv2d (cuDNN, tensor cores), linear (cuBLAS, tensor cores),
// batch norm, ReLU, add, max pooling, global average pooling, upsampling,
// concat, slice and the casts have bfloat16 kernels; average pooling (used by
// no model) goes through float32 there too. The CPU has no bfloat16 arithmetic at all: each
// op widens its inputs, runs its float32 kernel and rounds the result
// (through_f32), the same arithmetic up to the order of the sums. That makes
// the CPU a reference for the GPU's bfloat16 kernels, and lets a machine
// without a GPU check that every model trains in bfloat16; it is slower than
// float32 there.
//
// No loss scaling: bfloat16 has float32's exponent range, so small gradients
// do not flush to zero the way float16's do (Kalamkar et al. 2019).
#pragma once

#include "framework/tensor.h"

namespace skinmtl {

// Autocast: conv2d and linear compute in bfloat16. Process-wide, off by default; on
// for a whole training or evaluation run with --precision bf16.
void set_autocast_bf16(bool on);
bool autocast_bf16();

// Turns autocast on (or off) for a scope and restores the previous setting.
class AutocastGuard {
 public:
  explicit AutocastGuard(bool on = true);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool prev_;
};

// x converted between float32 and bfloat16 (either way, on either device),
// recorded on the tape: the gradient is converted back and added (its
// backward is kernels/cast.h's convert_add). x itself when it already has
// that dtype; an undefined x gives an undefined result (an absent bias).
Tensor cast(const Tensor& x, DType dtype);

// x widened to float32 when it is bfloat16, else x: the first line of every
// op without bfloat16 kernels.
Tensor as_f32(const Tensor& x);

// Whether a convolution or linear layer of x computes in bfloat16: x is
// bfloat16, or float32 with autocast on (conv2d, conv2d_bn and linear then
// return bfloat16).
bool computes_in_bf16(const Tensor& x);

// Whether an op with bfloat16 kernels on this device must instead widen x
// and round its result: a bfloat16 x on the CPU, or on the GPU where the op
// has no bfloat16 kernel (gpu_has_kernel false).
bool through_f32(const Tensor& x, bool gpu_has_kernel = true);

}  // namespace skinmtl
