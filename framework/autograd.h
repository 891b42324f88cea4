// framework/autograd.h: the dynamic tape.
//
// THE RULE: backward functions ACCUMULATE (+=) into the gradients they are
// given; they never overwrite them. Whoever owns a gradient zeroes it: the
// engine below zeroes each new intermediate gradient buffer before anything
// adds into it (GradBuffers::operator[]), and leaf gradients (parameters) keep
// accumulating across backward() calls until the optimizer or the caller
// zeroes them (Tensor::zero_grad, SGD::zero_grad).
// Every kernel's *_backward_* function follows the same rule.
//
// The one exception, for speed: a backward whose kernel writes EVERY element
// of an input's gradient may ask for the buffer with GradBuffers::write(). If
// nothing has been written into that buffer yet (the op is the first consumer
// of an intermediate to run backward), the buffer is handed out unzeroed and
// the kernel overwrites it (dx = ..., cuDNN/GEMM beta = 0); otherwise it adds
// as the rule says. Zeroing a buffer and then adding into it costs two extra
// passes over every activation gradient of a network; this skips both. The
// tests poison new buffers with NaN, so a kernel that claims to write every
// element and skips one fails them (tests/framework/test_backward_accumulates.cpp).
//
// How it works. An op that runs while gradients are enabled, on inputs of which
// at least one requires a gradient, gives its output a Node: one Edge per input
// (where that input's gradient goes), whatever it saved for backward (captured
// in the backward function), and the backward function itself. An Edge does
// not hold an intermediate input's data, so an activation that no backward
// function saved is freed as soon as the forward pass is done with it (as in
// PyTorch, whose graph holds only "saved tensors"). The graph is thus
// recorded as the code runs, so data-dependent shapes and control flow just
// work. A Node never holds its own output: that would be a shared-pointer cycle
// and leak the whole graph. An op that needs its output in backward saves
// out.detach(), which shares the storage but not the Node.
//
// backward(loss) orders the Nodes reachable from the loss topologically and
// runs them from the loss down, handing each the gradient of its output and
// one gradient buffer per input (undefined for inputs that need none). Leaves
// receive theirs in TensorImpl::grad.
//
// NoGradGuard turns recording off in a scope (evaluation, optimizer updates).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "framework/tensor.h"

namespace skinmtl {

// The gradient buffers a backward function fills, one per input of its op:
// d[i] has input i's shape, device and dtype, or is undefined when input i
// needs no gradient.
class GradBuffers {
 public:
  size_t size() const { return slots_.size(); }
  // Whether input i needs a gradient (its buffer is defined). Touches nothing.
  bool needs(size_t i) const { return slots_.at(i).buffer.defined(); }
  // Input i's buffer, to ADD into (THE RULE). A buffer nothing has been
  // written into yet is zeroed here, on first access.
  Tensor& operator[](size_t i);
  // For a backward whose kernel writes EVERY element of input i's gradient:
  // the buffer, and whether the kernel must add into it (it already holds
  // another consumer's contribution, or a leaf's running sum) or may overwrite
  // it (it holds nothing yet: garbage). Either way it counts as written after.
  struct Target {
    Tensor tensor;    // undefined when input i needs no gradient
    bool accumulate;  // true: +=; false: = (every element)
  };
  Target write(size_t i);

 private:
  friend void run_backward(const Tensor& output, const Tensor& grad_output);
  struct Slot {
    Tensor buffer;
    bool unwritten = false;  // allocated for this call and not yet zeroed or written
  };
  std::vector<Slot> slots_;
};

// doutput is the gradient of the op's output (read only); the function adds
// its contribution to each input's gradient into d (see GradBuffers).
using BackwardFn = std::function<void(const Tensor& doutput, GradBuffers& d)>;

// One input of an op, as backward sees it: where its gradient goes (the Node
// that produced the input, or the input itself when it is a leaf, whose grad
// accumulates) and the shape that gradient has. Neither end of an undefined
// input is set.
struct Edge {
  std::shared_ptr<Node> producer;    // the op that made the input; null for a leaf
  std::shared_ptr<TensorImpl> leaf;  // the input itself when it is a leaf, else null
  Shape shape;
  DType dtype = DType::F32;
  Device device = Device::CPU;
  // Whether backward hands this input a gradient buffer (a leaf: asked at
  // backward time, as the user may switch requires_grad in between).
  bool requires_grad() const { return producer || (leaf && leaf->requires_grad); }
};

struct Node {
  std::string name;          // the op's name, for error messages and debugging
  std::vector<Edge> inputs;  // the op's inputs, in order
  BackwardFn backward;
};

// Whether ops record onto the tape in this thread.
bool grad_enabled();

class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

// True when recording is on and any of `inputs` requires a gradient.
bool any_requires_grad(const std::vector<Tensor>& inputs);

// Gives `output` a tape Node when any_requires_grad(inputs); otherwise does
// nothing. Ops call this last, after computing their output.
void record(Tensor& output, const char* name, std::vector<Tensor> inputs, BackwardFn backward);

// The engine: backpropagate `grad_output` (same shape as `output`) from
// `output` to every leaf that requires a gradient.
void run_backward(const Tensor& output, const Tensor& grad_output);

}  // namespace skinmtl
