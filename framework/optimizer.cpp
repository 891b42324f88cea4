// SGD with momentum: see framework/optimizer.h and kernels/sgd.h.
#include "framework/optimizer.h"

#include <algorithm>
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
  for (const Parameter* p : params_) {
    const Tensor& w = p->value;
    const Tensor g = w.grad();
    SKINMTL_CHECK(!g.defined() || (g.shape() == w.shape() && g.dtype() == w.dtype() && g.device() == w.device()),
                  "SGD: gradient " << g.str() << " of parameter '" << p->name << "' does not match its value "
                                   << w.str());
  }
  if (!packing_wanted())
    flat_ = Flat();
  else if (!packed())
    pack();
  if (flat_.members.empty())
    step_one_by_one();
  else
    step_packed();
  ++steps_;
}

// Per-parameter rates are computed in double and rounded once to the dtype,
// the same way on both paths.
namespace {

// A parameter the flat buffers hold: one with a gradient and elements (an
// empty one has nothing to update).
bool packable(const Parameter& p) { return p.value.numel() > 0 && p.value.grad().defined(); }

void update(Tensor& w, Tensor& v, const Tensor& g, int64_t begin, int64_t n, double lr_eff, double momentum,
            double wd_eff) {
  if (n == 0) return;
  if (w.device() == Device::CPU) {
    dispatch_cpu(w.dtype(), [&](auto tag) {
      using T = decltype(tag);
      sgd_update_cpu<T>(w.data<T>() + begin, v.data<T>() + begin, g.data<T>() + begin, (T)lr_eff, (T)momentum,
                        (T)wd_eff, n);
    });
  } else {
    require_cuda_f32("SGD::step", {&w, &v, &g});
    SKINMTL_CUDA_ONLY(sgd_update_cuda(w.data<float>() + begin, v.data<float>() + begin, g.data<float>() + begin,
                                      (float)lr_eff, (float)momentum, (float)wd_eff, n, cuda::stream()));
  }
}
}  // namespace

void SGD::step_one_by_one() {
  for (size_t i = 0; i < params_.size(); ++i) {
    Parameter& p = *params_[i];
    Tensor w = p.value;
    Tensor g = w.grad();
    if (!g.defined()) continue;  // no backward reached it: skipped (see the header)
    Tensor& v = momentum_[i];
    if (!v.defined()) {
      v = Tensor::zeros(w.shape(), w.dtype(), w.device());  // Caffe's history starts at 0
    } else if (v.device() != w.device()) {
      v = v.to(w.device());  // the parameter moved (model.to(CUDA)); its momentum follows
    }
    update(w, v, g, 0, w.numel(), options_.lr * p.lr_mult, options_.momentum,
           options_.weight_decay * p.decay_mult);
  }
}

void SGD::step_packed() {
  for (const Flat::Group& grp : flat_.groups)
    update(flat_.values, flat_.momenta, flat_.grads, grp.begin, grp.end - grp.begin, options_.lr * grp.lr_mult,
           options_.momentum, options_.weight_decay * grp.decay_mult);
}

bool SGD::packing_wanted() const {
  if (options_.packing != Packing::GpuOnly) return options_.packing == Packing::Always;
  for (const Parameter* p : params_)
    if (packable(*p)) return p->value.device() == Device::CUDA;
  return false;
}

bool SGD::packed() const {
  if (flat_.members.empty()) return false;
  size_t with_grad = 0;
  for (const Parameter* p : params_) with_grad += packable(*p) ? 1 : 0;
  if (with_grad != flat_.members.size()) return false;  // a parameter got its first gradient
  for (const Flat::Member& m : flat_.members) {
    const Parameter& p = *params_[m.param];
    const Flat::Group& g = flat_.groups[m.group];
    if (p.lr_mult != g.lr_mult || p.decay_mult != g.decay_mult) return false;  // multipliers changed
    if (!p.value.is_view_of(flat_.values, m.offset) || !p.value.grad().is_view_of(flat_.grads, m.offset) ||
        !momentum_[m.param].is_view_of(flat_.momenta, m.offset))
      return false;
  }
  return true;
}

void SGD::pack() {
  flat_ = Flat();
  std::vector<size_t> order;
  for (size_t i = 0; i < params_.size(); ++i)
    if (packable(*params_[i])) order.push_back(i);
  if (order.empty()) return;
  const Device device = params_[order[0]]->value.device();
  const DType dtype = params_[order[0]]->value.dtype();
  for (size_t i : order)
    if (params_[i]->value.device() != device || params_[i]->value.dtype() != dtype) return;  // one by one
  // Runs of equal multipliers, each parameter's place otherwise as listed.
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const Parameter &pa = *params_[a], &pb = *params_[b];
    return pa.lr_mult != pb.lr_mult ? pa.lr_mult < pb.lr_mult : pa.decay_mult < pb.decay_mult;
  });
  // Each parameter starts on a 256-byte boundary (kPackAlign elements), as a
  // tensor of its own would: cuDNN and the vector loads of the kernels pick
  // slower paths for less aligned addresses, and a 3-element bias (the RPN's
  // logits) would otherwise shift every parameter after it. The gaps are
  // zeros and stay zeros (the update of a zero value with a zero gradient and
  // momentum is zero).
  auto aligned = [](int64_t n) { return (n + kPackAlign - 1) / kPackAlign * kPackAlign; };
  int64_t total = 0;
  for (size_t i : order) total = aligned(total) + params_[i]->value.numel();
  Flat f;
  f.values = Tensor::zeros({total}, dtype, device);
  f.grads = Tensor::zeros({total}, dtype, device);
  f.momenta = Tensor::zeros({total}, dtype, device);
  int64_t offset = 0;
  for (size_t i : order) {
    offset = aligned(offset);
    Parameter& p = *params_[i];
    if (f.groups.empty() || f.groups.back().lr_mult != p.lr_mult || f.groups.back().decay_mult != p.decay_mult)
      f.groups.push_back({p.lr_mult, p.decay_mult, offset, offset});
    Tensor& v = momentum_[i];
    if (!v.defined()) {
      v = Tensor::zeros(p.value.shape(), dtype, device);  // Caffe's history starts at 0
    } else if (v.device() != device) {
      v = v.to(device);  // the parameter moved (model.to(CUDA)); its momentum follows
    }
    p.value.move_into(f.values, offset);
    p.value.grad().move_into(f.grads, offset);
    v.move_into(f.momenta, offset);
    f.members.push_back({i, offset, f.groups.size() - 1});
    offset += p.value.numel();
    f.groups.back().end = offset;
  }
  flat_ = std::move(f);
  ++packings_;
}

void SGD::zero_grad() {
  if (packed()) {
    flat_.grads.zero_();  // every gradient there is: one fill
    return;
  }
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
