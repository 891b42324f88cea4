// framework/parameter.h: a trainable tensor and its per-parameter optimizer
// settings.
//
// `value` is a leaf tensor with requires_grad set; backward() accumulates its
// gradient into value.grad() (framework/autograd.h), and the optimizer
// (framework/optimizer.h) reads it from there and updates value in place.
//
// lr_mult and decay_mult are Caffe's ParamSpec fields of the same names: the
// parameter's learning rate is lr * lr_mult and its weight decay
// weight_decay * decay_mult. Liao & Luo (2016) train the two new fully
// connected layers at 10x the base lr for their weights and 20x for their
// biases (lr_mult 10 and 20), and the pretrained ResNet-50 at 1x. lr_mult 0
// freezes a parameter (as long as its momentum is zero).
//
// The modules that own Parameters (layers, the model) hand the optimizer
// pointers to them, so the Parameters must outlive the optimizer.
#pragma once

#include <string>

#include "framework/tensor.h"

namespace skinmtl {

struct Parameter {
  std::string name;  // e.g. "res2a_branch2a.weight": for checkpoints and messages
  Tensor value;      // a leaf with requires_grad set
  float lr_mult = 1, decay_mult = 1;
};

}  // namespace skinmtl
