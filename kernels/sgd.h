// kernels/sgd.h: one step of stochastic gradient descent with momentum and
// L2 weight decay, in Caffe's formulation (SGDSolver::ComputeUpdateValue,
// caffe/src/caffe/solvers/sgd_solver.cpp), element by element:
//
//   v <- momentum * v + lr_eff * (g + wd_eff * w)
//   w <- w - v
//
//   lr_eff = lr * lr_mult              (Caffe's per-parameter learning-rate multiplier)
//   wd_eff = weight_decay * decay_mult (Caffe's per-parameter decay multiplier)
//
// w is the parameter, g its gradient, v its momentum ("history" in Caffe),
// which starts at zero. The weight-decay term wd_eff * w is the gradient of
// the L2 penalty (wd_eff / 2) * ||w||^2 added to the loss.
//
// Caffe vs PyTorch. torch.optim.SGD (dampening 0, no Nesterov) keeps the lr
// OUT of the buffer:
//
//   b <- momentum * b + (g + wd * w);   w <- w - lr * b
//
// With a constant lr the two are identical (v = lr * b at every step). They
// differ when the lr changes: after a drop from lr to lr' Caffe's v still holds
// steps taken at the old lr, so the step size decays towards the new one over
// about 1 / (1 - momentum) iterations; PyTorch multiplies its whole history by
// the new lr at once, so the very next step is already at lr'. Liao & Luo
// (2016) trained with Caffe, so skinmtl follows Caffe.
//
// Shapes: w, v, g hold n elements each (any layout). w and v are updated in
// place; g is only read (the caller zeroes it for the next iteration).
// Nothing is saved: this is not an op on the tape.
#pragma once

#include <cstdint>

#include "kernels/common.h"

namespace skinmtl {

// The update of one element: v and w in place.
template <typename T>
SKINMTL_HD void sgd_update_elem(T& w, T& v, T g, T lr_eff, T momentum, T wd_eff) {
  v = momentum * v + lr_eff * (g + wd_eff * w);
  w = w - v;
}

template <typename T>
void sgd_update_cpu(T* w,        // (n) parameter, updated in place
                    T* v,        // (n) momentum, updated in place
                    const T* g,  // (n) gradient
                    T lr_eff, T momentum, T wd_eff, int64_t n);

void sgd_update_cuda(float* w,        // (n) parameter, updated in place
                     float* v,        // (n) momentum, updated in place
                     const float* g,  // (n) gradient
                     float lr_eff, float momentum, float wd_eff, int64_t n, cuda_stream_t s);

}  // namespace skinmtl
