#include "framework/module.h"

#include <cmath>
#include <cstdlib>
#include <cstring>

#include "framework/autograd.h"
#include "framework/precision.h"
#include "kernels/conv2d.h"

namespace skinmtl {

std::vector<std::pair<std::string, Parameter*>> Module::named_parameters() {
  std::vector<std::pair<std::string, Parameter*>> out;
  for (auto& [name, p] : params_) out.emplace_back(name, p.get());
  for (auto& [cname, child] : children_)
    for (auto& [name, p] : child->named_parameters()) out.emplace_back(cname + "." + name, p);
  return out;
}

std::vector<Parameter*> Module::parameters() {
  std::vector<Parameter*> out;
  for (auto& np : named_parameters()) out.push_back(np.second);
  return out;
}

std::vector<std::pair<std::string, Tensor*>> Module::named_buffers() {
  std::vector<std::pair<std::string, Tensor*>> out;
  for (auto& [name, b] : buffers_) out.emplace_back(name, b.get());
  for (auto& [cname, child] : children_)
    for (auto& [name, b] : child->named_buffers()) out.emplace_back(cname + "." + name, b);
  return out;
}

void Module::apply(const std::function<void(Module&)>& f) {
  f(*this);
  for (auto& c : children_) c.second->apply(f);
}

void Module::train(bool on) {
  training_ = on;
  for (auto& c : children_) c.second->train(on);
}

void Module::to(Device device) {
  for (auto& [name, p] : params_) {
    bool rg = p->value.requires_grad();
    p->value = p->value.to(device).detach();
    p->value.set_requires_grad(rg);
  }
  for (auto& [name, b] : buffers_) *b = b->to(device);
  for (auto& c : children_) c.second->to(device);
}

void Module::zero_grad() {
  for (Parameter* p : parameters()) p->value.zero_grad();
}

Parameter& Module::register_parameter(const std::string& name, Tensor value, float lr_mult,
                                      float decay_mult) {
  value.set_requires_grad(true);
  auto p = std::make_unique<Parameter>();
  p->name = name;
  p->value = std::move(value);
  p->lr_mult = lr_mult;
  p->decay_mult = decay_mult;
  params_.emplace_back(name, std::move(p));
  return *params_.back().second;
}

Tensor& Module::register_buffer(const std::string& name, Tensor value) {
  buffers_.emplace_back(name, std::make_unique<Tensor>(std::move(value)));
  return *buffers_.back().second;
}

// ---- Conv2d ------------------------------------------------------------------------

Conv2d::Conv2d(int in_channels, int out_channels, int kernel, const Conv2dParams& p, bool with_bias,
               Rng& rng)
    : params(p) {
  const double std = std::sqrt(2.0 / (double)(out_channels * kernel * kernel));
  weight = &register_parameter("weight", randn({out_channels, in_channels, kernel, kernel}, rng, std));
  if (with_bias) bias = &register_parameter("bias", Tensor::zeros({out_channels}));
}

Tensor Conv2d::forward(const Tensor& x) const {
  return conv2d(x, weight->value, bias ? bias->value : Tensor(), params);
}

Tensor Conv2d::forward(const Tensor& x, bool relu, const Tensor& residual) const {
  return conv2d_bias_act(x, weight->value, bias ? bias->value : Tensor(), params, relu, residual);
}

// ---- BatchNorm2d -----------------------------------------------------------------

BatchNorm2d::BatchNorm2d(int channels, double eps_, double momentum_)
    : eps(eps_), momentum(momentum_) {
  gamma = &register_parameter("weight", Tensor::ones({channels}));
  beta = &register_parameter("bias", Tensor::zeros({channels}));
  running_mean = &register_buffer("running_mean", Tensor::zeros({channels}));
  running_var = &register_buffer("running_var", Tensor::ones({channels}));
}

Tensor BatchNorm2d::forward(const Tensor& x) { return forward(x, false); }

Tensor BatchNorm2d::forward(const Tensor& x, bool relu, const Tensor& residual) {
  BatchNormParams p;
  p.eps = eps;
  p.momentum = momentum;
  p.training = is_training() && !frozen;
  p.sync = sync;
  if (!relu && !residual.defined()) return batch_norm2d(x, gamma->value, beta->value, *running_mean, *running_var, p);
  return batch_norm2d_act(x, gamma->value, beta->value, *running_mean, *running_var, p, relu, residual);
}

namespace {

BatchNormFolding& fold_setting() {
  static BatchNormFolding f = [] {
    const char* v = std::getenv("SKINMTL_FOLD_BN");
    if (v == nullptr || *v == '\0' || std::strcmp(v, "1") == 0) return BatchNormFolding::WherePays;
    if (std::strcmp(v, "all") == 0) return BatchNormFolding::Always;
    SKINMTL_CHECK(std::strcmp(v, "0") == 0, "SKINMTL_FOLD_BN must be 0, 1 or all, got '" << v << "'");
    return BatchNormFolding::Off;
  }();
  return f;
}

}  // namespace

void set_batch_norm_folding(BatchNormFolding f) { fold_setting() = f; }
BatchNormFolding batch_norm_folding() { return fold_setting(); }

bool training_fold_pays(const Conv2d& conv, const Tensor& x) {
  const Shape& w = conv.weight->value.shape();  // (K, C, R, S)
  const Conv2dParams& p = conv.params;
  const int64_t P = conv2d_out_size((int)x.size(2), (int)w[2], p.stride_h, p.pad_h, p.dilation_h);
  const int64_t Q = conv2d_out_size((int)x.size(3), (int)w[3], p.stride_w, p.pad_w, p.dilation_w);
  return x.size(0) * P * Q >= w[1] * w[2] * w[3];
}

bool conv_bn_folds(const Conv2d& conv, const BatchNorm2d& bn, const Tensor& x) {
  const BatchNormFolding f = batch_norm_folding();
  const bool fixed_statistics = !bn.is_training() || bn.frozen;
  const bool float_data =
      x.dtype() == DType::F32 || x.dtype() == DType::BF16 || (x.dtype() == DType::F64 && x.device() == Device::CPU);
  if (f == BatchNormFolding::Off || !fixed_statistics || !float_data) return false;
  return !grad_enabled() || f == BatchNormFolding::Always || training_fold_pays(conv, x);
}

Tensor conv_bn(const Conv2d& conv, BatchNorm2d& bn, const Tensor& x, bool relu, const Tensor& residual) {
  const Tensor bias = conv.bias ? conv.bias->value : Tensor();
  const bool folds = conv_bn_folds(conv, bn, x);
  const DType out = computes_in_bf16(x) ? DType::BF16 : x.dtype();
  if (folds && !grad_enabled() && (!residual.defined() || residual.dtype() == out))
    return conv2d_bn(x, conv.weight->value, bias, conv.params, bn.gamma->value, bn.beta->value,  // inference
                     *bn.running_mean, *bn.running_var, bn.eps, relu, residual);
  Tensor y;
  if (folds && grad_enabled()) {  // training with fixed statistics: the fold on the tape
    // In bfloat16 the fold writes the weights as the convolution takes them (no cast between).
    const FoldedBatchNorm f = fold_batch_norm(conv.weight->value, bias, bn.gamma->value, bn.beta->value,
                                              *bn.running_mean, *bn.running_var, bn.eps, out);
    // The bias, the residual and the ReLU in the convolution's op (fewer
    // passes); a residual of another dtype goes through add's promotion.
    if (!residual.defined() || residual.dtype() == out)
      return conv2d_bias_act(x, f.w, f.b, conv.params, relu, residual);
    y = conv2d(x, f.w, f.b, conv.params);
  } else {
    const Tensor z = conv.forward(x);
    // The residual and the ReLU in the batch norm's pass; a residual of
    // another dtype goes through add's promotion.
    if (!residual.defined() || residual.dtype() == z.dtype()) return bn.forward(z, relu, residual);
    y = bn.forward(z);
  }
  if (residual.defined()) y = add(y, residual);
  return relu ? skinmtl::relu(y) : y;
}

int set_sync_batch_norm(Module& m, Communicator* comm) {
  int live = 0;
  m.apply([comm, &live](Module& sub) {
    if (auto* bn = dynamic_cast<BatchNorm2d*>(&sub)) {
      bn->sync = comm;
      live += bn->frozen ? 0 : 1;
    }
  });
  return live;
}

// ---- Linear -------------------------------------------------------------------------

Linear::Linear(int in_features, int out_features, bool with_bias, Rng& rng) {
  const double bound = 1.0 / std::sqrt((double)in_features);
  weight = &register_parameter("weight", rand_uniform({out_features, in_features}, rng, -bound, bound));
  if (with_bias) bias = &register_parameter("bias", rand_uniform({out_features}, rng, -bound, bound));
}

Tensor Linear::forward(const Tensor& x) const {
  return linear(x, weight->value, bias ? bias->value : Tensor());
}

}  // namespace skinmtl
