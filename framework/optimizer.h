// framework/optimizer.h: stochastic gradient descent with momentum and weight
// decay, as Caffe's SGDSolver does it (the update itself, and how it differs
// from PyTorch's when the learning rate changes, is in kernels/sgd.h):
//
//   v <- momentum * v + lr * lr_mult * (g + weight_decay * decay_mult * w)
//   w <- w - v
//
// A training iteration:
//
//   SGD opt(model.parameters(), {1e-3, 0.9, 1e-4});  // Liao & Luo's settings
//   opt.zero_grad();           // gradients accumulate across backward() calls
//   loss.backward();
//   opt.step();
//   opt.set_lr(schedule.lr(iteration));  // framework/lr_schedule.h
//
// Rules:
//  - A parameter whose gradient is undefined (no backward has reached it yet)
//    is skipped entirely: no weight decay, no momentum decay, as PyTorch does.
//    (In Caffe every parameter always has a zeroed gradient, so it would still
//    decay.) zero_grad() zeroes gradients but leaves them defined, so once a
//    parameter has received a gradient it is updated at every step after.
//  - The update runs outside the tape (NoGradGuard), in place, on the
//    parameter's device, through the kernel in kernels/sgd.h.
//  - Momentum buffers are created lazily (zeros, same shape, dtype and device
//    as the parameter) at the first step that updates the parameter. If the
//    parameter has moved to another device since, its buffer follows it.
//  - For an exact resume, a checkpoint stores momentum_buffers() (and the
//    lr) and restores them with set_momentum_buffers().
#pragma once

#include <vector>

#include "framework/parameter.h"
#include "framework/tensor.h"

namespace skinmtl {

struct SGDOptions {
  double lr = 1e-3;            // base learning rate; each parameter's is lr * lr_mult
  double momentum = 0.9;       // 0 gives plain SGD
  double weight_decay = 1e-4;  // L2 coefficient; each parameter's is weight_decay * decay_mult
};

class SGD {
 public:
  // `params` must stay alive as long as the optimizer; each must be a defined
  // leaf tensor, and no tensor may appear twice (it would be updated twice).
  SGD(std::vector<Parameter*> params, SGDOptions options);

  // One update of every parameter that has a gradient (see the rules above).
  void step();
  // Zeroes the gradient of every parameter (those without one stay without).
  void zero_grad();

  double lr() const { return options_.lr; }
  void set_lr(double lr);
  const SGDOptions& options() const { return options_; }
  const std::vector<Parameter*>& params() const { return params_; }
  int64_t steps() const { return steps_; }  // step() calls so far

  // One entry per parameter, in the order of params(): the momentum v on the
  // parameter's device, or an undefined tensor where none was created yet.
  const std::vector<Tensor>& momentum_buffers() const { return momentum_; }
  // Restores buffers saved from momentum_buffers(), from any device: each
  // defined entry is copied into a new buffer on its parameter's device and
  // must match the parameter's shape and dtype; an undefined entry means "no
  // momentum yet" (zeros at the next step). One entry per parameter.
  void set_momentum_buffers(const std::vector<Tensor>& buffers);
  // Restores the step counter of a checkpoint (informational only).
  void set_steps(int64_t steps) { steps_ = steps; }

 private:
  std::vector<Parameter*> params_;
  SGDOptions options_;
  std::vector<Tensor> momentum_;
  int64_t steps_ = 0;
};

}  // namespace skinmtl
