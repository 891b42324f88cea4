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
//
// One flat buffer (as llm.c lays out a model). step() packs the parameters
// that have a gradient into three contiguous buffers on their device, values,
// gradients and momenta, ordered by (lr_mult, decay_mult), each parameter
// starting on a 256-byte boundary (kPackAlign elements; zeros between), and makes every
// parameter's value, gradient and momentum a view there (Tensor::move_into:
// the model and the tape see the same tensors, now in one block). Each run of
// equal multipliers is then ONE update (a CUDA launch, a parallel loop)
// instead of one per parameter, and zero_grad() one fill. The packing is
// checked at every step (a pointer comparison per parameter) and redone
// whenever it no longer holds: a parameter received its first gradient, the
// model moved to another device (Module::to gives new tensors), or momenta
// were restored. Parameters of different devices or dtypes are never packed;
// they are updated one by one as before. The arithmetic per element is the
// same either way, so packing changes no result.
//
// Only on the GPU by default (SGDOptions::packing). There a ResNet-50's 214
// tensors cost 428 kernel launches per step (update and zero) one by one,
// and 2 packed. On the CPU the loops have no launch cost: packing saved 3 ms
// of a 2.9 s step (zero_grad + step 12.5-13.7 -> 9.4-10.5 ms, 2 threads) but
// raised the step's peak resident memory by 185 MB (Yang et al.'s 258, Song
// et al.'s 309): the parameters' old blocks stay in the caching allocator,
// whose cached bytes count on the CPU (on the GPU the peak of bytes in use
// does not change: the step's peak is in the backward pass).
#pragma once

#include <cstdint>
#include <vector>

#include "framework/parameter.h"
#include "framework/tensor.h"

namespace skinmtl {

// Where a packed parameter may start in the flat buffers: a multiple of this
// many elements (256 bytes of float32, the GPU allocator's alignment).
constexpr int64_t kPackAlign = 64;

// SGD's flat gradient buffer and the number of parameters packed there.
struct PackedGradients {
  Tensor flat;
  int64_t params = 0;
};

// Where step() packs the parameters into flat buffers (see the top of this file).
enum class Packing {
  GpuOnly,  // the default: on the GPU, where each update is a kernel launch
  Always,   // on the CPU as well (tests)
  Never,    // one update per parameter everywhere
};

struct SGDOptions {
  double lr = 1e-3;            // base learning rate; each parameter's is lr * lr_mult
  double momentum = 0.9;       // 0 gives plain SGD
  double weight_decay = 1e-4;  // L2 coefficient; each parameter's is weight_decay * decay_mult
  Packing packing = Packing::GpuOnly;
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
  // The packing (see the top of this file): parameters in the flat buffers
  // (0: none), the updates one step() makes (runs of equal multipliers), and
  // how many times the buffers were (re)built.
  int64_t packed_params() const { return (int64_t)flat_.members.size(); }
  // The flat buffer that every packed parameter's gradient is a view of, and
  // how many parameters it holds, when the parameters are packed as they are
  // now (gaps between them are zeros); otherwise an undefined buffer.
  // Data-parallel training all-reduces it whole (GradientAverager::average).
  PackedGradients packed_gradients() const {
    return packed() ? PackedGradients{flat_.grads, (int64_t)flat_.members.size()} : PackedGradients{};
  }
  int64_t packed_groups() const { return (int64_t)flat_.groups.size(); }
  int64_t packings() const { return packings_; }

 private:
  // The flat buffers and what lies where in them.
  struct Flat {
    Tensor values, grads, momenta;  // 1-D, the sum of the members' sizes
    struct Member {
      size_t param;    // index into params_
      int64_t offset;  // first element in the flat buffers
      size_t group;    // index into groups
    };
    std::vector<Member> members;  // in buffer order
    struct Group {
      float lr_mult, decay_mult;
      int64_t begin, end;  // elements [begin, end)
    };
    std::vector<Group> groups;  // consecutive runs of equal multipliers
  };
  // Whether flat_ holds exactly the parameters that have a gradient, each
  // value, gradient and momentum a view at its place.
  bool packed() const;
  // Whether options_.packing asks for packing the parameters as they are now.
  bool packing_wanted() const;
  // (Re)builds flat_ from the parameters that have a gradient; leaves it
  // empty when they do not share one device and dtype.
  void pack();
  void step_packed();
  void step_one_by_one();

  std::vector<Parameter*> params_;
  SGDOptions options_;
  std::vector<Tensor> momentum_;
  int64_t steps_ = 0;
  Flat flat_;
  int64_t packings_ = 0;
};

}  // namespace skinmtl
