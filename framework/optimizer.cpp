// SGD with momentum: see framework/optimizer.h and kernels/sgd.h.
#include "framework/optimizer.h"

#include <cmath>
#include <unordered_set>

#include "framework/autograd.h"
#include "framework/dispatch.h"
#include "kernels/sgd.h"

namespace skinmtl {

namespace {

void check_options(const SGDOptions& o) {
  SKINMTL_CHECK(std::isfinite(o.lr) && o.lr >= 0, "SGD: lr must be finite and >= 0, got " << o.lr);
  SKINMTL_CHECK(o.momentum >= 0 && o.momentum < 1,
                "SGD: momentum must be in [0, 1), got " << o.momentum);
  SKINMTL_CHECK(std::isfinite(o.weight_decay) && o.weight_decay >= 0,
                "SGD: weight_decay must be finite and >= 0, got " << o.weight_decay);
}

}  // namespace

SGD::SGD(std::vector<Parameter*> params, SGDOptions options)
    : params_(std::move(params)), options_(options), momentum_(params_.size()) {
  check_options(options_);
  std::unordered_set<const TensorImpl*> seen;
  for (size_t i = 0; i < params_.size(); ++i) {
    const Parameter* p = params_[i];
    SKINMTL_CHECK(p != nullptr, "SGD: parameter " << i << " is a null pointer");
    SKINMTL_CHECK(p->value.defined(), "SGD: parameter '" << p->name << "' has no value");
    SKINMTL_CHECK(p->value.requires_grad() && !p->value.grad_fn(),
                  "SGD: parameter '" << p->name
                                     << "' must be a leaf with requires_grad set (got "
                                     << p->value.str() << ")");
    SKINMTL_CHECK(seen.insert(p->value.impl()).second,
                  "SGD: parameter '" << p->name << "' is listed twice");
  }
}

void SGD::set_lr(double lr) {
  SKINMTL_CHECK(std::isfinite(lr) && lr >= 0, "SGD: lr must be finite and >= 0, got " << lr);
  options_.lr = lr;
}

void SGD::step() {
  NoGradGuard no_grad;  // the update is not part of any model
  for (size_t i = 0; i < params_.size(); ++i) {
    Parameter& p = *params_[i];
    Tensor w = p.value;
    Tensor g = w.grad();
    if (!g.defined()) continue;  // no backward reached it: skipped (see the header)
    SKINMTL_CHECK(g.shape() == w.shape() && g.dtype() == w.dtype() && g.device() == w.device(),
                  "SGD: gradient " << g.str() << " of parameter '" << p.name
                                   << "' does not match its value " << w.str());
    Tensor& v = momentum_[i];
    if (!v.defined()) {
      v = Tensor::zeros(w.shape(), w.dtype(), w.device());  // Caffe's history starts at 0
    } else if (v.device() != w.device()) {
      v = v.to(w.device());  // the parameter moved (model.to(CUDA)); its momentum follows
    }
    // Per-parameter rates, computed in double and rounded once to the dtype.
    const double lr_eff = options_.lr * p.lr_mult;
    const double wd_eff = options_.weight_decay * p.decay_mult;
    const int64_t n = w.numel();
    if (w.device() == Device::CPU) {
      dispatch_cpu(w.dtype(), [&](auto tag) {
        using T = decltype(tag);
        sgd_update_cpu<T>(w.data<T>(), v.data<T>(), g.data<T>(), (T)lr_eff,
                          (T)options_.momentum, (T)wd_eff, n);
      });
    } else {
      require_cuda_f32("SGD::step", {&w, &v, &g});
      SKINMTL_CUDA_ONLY(sgd_update_cuda(w.data<float>(), v.data<float>(), g.data<float>(),
                                        (float)lr_eff, (float)options_.momentum, (float)wd_eff,
                                        n, cuda::stream()));
    }
  }
  ++steps_;
}

void SGD::zero_grad() {
  for (Parameter* p : params_) p->value.zero_grad();
}

void SGD::set_momentum_buffers(const std::vector<Tensor>& buffers) {
  SKINMTL_CHECK(buffers.size() == params_.size(),
                "SGD::set_momentum_buffers: " << buffers.size() << " buffers for "
                                              << params_.size() << " parameters");
  // Check everything before changing anything, so a bad checkpoint leaves the
  // optimizer as it was.
  for (size_t i = 0; i < buffers.size(); ++i) {
    if (!buffers[i].defined()) continue;
    const Tensor& w = params_[i]->value;
    SKINMTL_CHECK(buffers[i].shape() == w.shape() && buffers[i].dtype() == w.dtype(),
                  "SGD::set_momentum_buffers: buffer " << buffers[i].str() << " for parameter '"
                                                       << params_[i]->name << "' " << w.str());
  }
  for (size_t i = 0; i < buffers.size(); ++i) {
    if (!buffers[i].defined()) {
      momentum_[i] = Tensor();
      continue;
    }
    const Tensor& w = params_[i]->value;
    Tensor v = Tensor::empty(w.shape(), w.dtype(), w.device());
    v.copy_from(buffers[i]);  // a copy: the caller's tensor is not aliased
    momentum_[i] = v;
  }
}

}  // namespace skinmtl
