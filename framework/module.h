// framework/module.h: layers that own parameters.
//
// A Module owns its Parameters (framework/parameter.h), its buffers (state
// that is saved but not trained, such as BatchNorm's running statistics) and
// its child modules, each under a name. Names compose with dots, so a ResNet's
// parameters read "layer1.0.conv1.weight", the key a checkpoint stores them
// under.
//
// train()/eval() set the mode of the whole subtree (BatchNorm uses batch
// statistics in training, running statistics in evaluation). to(device) moves
// every parameter and buffer; the Parameter objects stay where they are, so
// pointers held by an optimizer remain valid (create the optimizer after
// moving the model anyway: its momentum buffers live on the parameters'
// device).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "framework/ops.h"
#include "framework/parameter.h"
#include "framework/random.h"

namespace skinmtl {

class Module {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Every parameter of the subtree, with its dotted name.
  std::vector<std::pair<std::string, Parameter*>> named_parameters();
  std::vector<Parameter*> parameters();
  // Every buffer of the subtree, with its dotted name.
  std::vector<std::pair<std::string, Tensor*>> named_buffers();

  // f(m) for this module and every module below it, parents first.
  void apply(const std::function<void(Module&)>& f);

  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void to(Device device);
  void zero_grad();

 protected:
  Parameter& register_parameter(const std::string& name, Tensor value, float lr_mult = 1.0f,
                                float decay_mult = 1.0f);
  Tensor& register_buffer(const std::string& name, Tensor value);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    children_.emplace_back(name, m);
    return m;
  }

 private:
  // unique_ptr: the addresses handed out stay valid as more are registered.
  std::vector<std::pair<std::string, std::unique_ptr<Parameter>>> params_;
  std::vector<std::pair<std::string, std::unique_ptr<Tensor>>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

// conv2d with a learned weight (K, C, R, S) and optional bias (K).
// Initialisation: He et al. 2015 normal, std = sqrt(2 / (K R S)) (fan-out, as
// torchvision's ResNet); bias zero.
class Conv2d : public Module {
 public:
  Conv2d(int in_channels, int out_channels, int kernel, const Conv2dParams& p, bool bias, Rng& rng);
  Tensor forward(const Tensor& x) const;
  // act(conv(x) + bias + residual) as one op (conv2d_bias_act, framework/ops.h):
  // relu(forward(x)), or add(forward(x), residual), in fewer passes.
  Tensor forward(const Tensor& x, bool relu, const Tensor& residual = Tensor()) const;
  Parameter* weight = nullptr;
  Parameter* bias = nullptr;  // null without bias
  Conv2dParams params;
};

// Batch normalisation over channels. frozen = true always normalises with the
// running statistics, even in training mode: how ResNets are usually
// fine-tuned with small batches (Caffe's use_global_stats).
class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(int channels, double eps = 1e-5, double momentum = 0.1);
  Tensor forward(const Tensor& x);
  // act(bn(x) + residual) as one op (batch_norm2d_act, framework/ops.h):
  // relu(forward(x)), or add(forward(x), residual), in fewer passes.
  Tensor forward(const Tensor& x, bool relu, const Tensor& residual = Tensor());
  Parameter* gamma = nullptr;
  Parameter* beta = nullptr;
  Tensor* running_mean = nullptr;
  Tensor* running_var = nullptr;
  double eps, momentum;
  bool frozen = false;
  Communicator* sync = nullptr;  // synchronised batch statistics (BatchNormParams::sync)
};

// conv -> bn (-> + residual) (-> ReLU when `relu`): the unit every ResNet-50
// block repeats (with the residual: the block's last one, whose ReLU follows
// the shortcut's add). Where the batch norm normalises with its running
// statistics (eval() or frozen), the data are float32, bfloat16 (autocast) or
// float64, and folding is on, the batch norm is folded into the convolution
// (kernels/fold_batch_norm.h):
//  - where nothing is recorded (evaluation, prediction), conv2d_bn: one
//    convolution, with the residual and the ReLU in its bias pass;
//  - in training (a frozen batch norm), where the fold costs less than the
//    batch norm (training_fold_pays), conv2d_bias_act(x, f.w, f.b, ...,
//    relu, residual) with f = fold_batch_norm(...) on the tape: the gradients
//    of w, b, gamma and beta are those of the unfolded unit, without the
//    batch norm's passes over the activations, and the add and the ReLU ride
//    on the convolution's bias pass (framework/ops.h).
// Otherwise (batch statistics, small activations, or folding off) the
// convolution, then the batch norm with the residual and the ReLU in its
// normalising pass (batch_norm2d_act, framework/ops.h).
Tensor conv_bn(const Conv2d& conv, BatchNorm2d& bn, const Tensor& x, bool relu, const Tensor& residual = Tensor());
// Whether conv_bn(conv, bn, x, ...) folds, as said above (in training or not,
// as grad_enabled() says).
bool conv_bn_folds(const Conv2d& conv, const BatchNorm2d& bn, const Tensor& x);

// What folding a frozen batch norm saves and costs in training, per output
// channel. It saves the batch norm's passes over the N*P*Q outputs of the
// convolution (the pass forward; reading x and dy and writing dx backward,
// with the reductions for gamma and beta; about five) and its input, kept for
// backward. It costs passes over the channel's C*R*S weights (folding them,
// writing the folded gradient, the two backward kernels that read it, w and
// dw; about six), and two weight-sized buffers (the folded weights, kept for
// backward, and their gradient). So it pays, in memory traffic and in memory,
// where N*P*Q >= C*R*S: in ResNet-50 at 224 and batch 20 every unit but seven
// of layer4's ten (its three 1x1 expansions fold); at Yang et al.'s 120x160
// and batch 8, none of layer4's and 8 of layer3's 19. Against folding every
// unit, this lowers the peak memory of those two steps by 1.5% and 5%, and of
// Song et al.'s trunk + FPN at 256 by 7% (bench_cpu, 2026-12-05).
bool training_fold_pays(const Conv2d& conv, const Tensor& x);

// Folding, for the process. SKINMTL_FOLD_BN in the environment sets it at
// the start: 0 Off, 1 WherePays (the default), all Always.
//  - Off: the ops one by one (to compare, or to rule the fold out);
//  - WherePays: always in inference, in training where training_fold_pays;
//  - Always: in training too wherever the statistics are fixed (the fold's
//    own tests, and to compare).
enum class BatchNormFolding { Off, WherePays, Always };
void set_batch_norm_folding(BatchNormFolding f);
BatchNormFolding batch_norm_folding();

// Sets BatchNorm2d::sync on every batch norm of `m` (nullptr: each process's
// own batch statistics again). Returns how many of them are not frozen, i.e.
// will communicate in training.
int set_sync_batch_norm(Module& m, Communicator* comm);

// y = x W^T + b, W (out, in). Initialisation as PyTorch's nn.Linear:
// U(-1/sqrt(in), 1/sqrt(in)) for weight and bias.
class Linear : public Module {
 public:
  Linear(int in_features, int out_features, bool bias, Rng& rng);
  Tensor forward(const Tensor& x) const;
  Parameter* weight = nullptr;
  Parameter* bias = nullptr;
};

}  // namespace skinmtl
