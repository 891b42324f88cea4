// batch_norm2d: see kernels/batch_norm.h.
#include "framework/autograd.h"
#include "framework/dispatch.h"
#include "framework/ops.h"
#include "kernels/batch_norm.h"

namespace skinmtl {

namespace {

// gamma, beta, running_mean, running_var: defined, (C), on x's device and dtype.
void check_channel_vector(const char* what, const Tensor& v, const Tensor& x) {
  SKINMTL_CHECK(v.defined(), "batch_norm2d: " << what << " is undefined");
  check_same_device("batch_norm2d", x, v);
  SKINMTL_CHECK(v.ndim() == 1 && v.size(0) == x.size(1),
                "batch_norm2d: " << what << " must be (C) = (" << x.size(1) << ",) for input "
                                 << x.str() << ", got " << v.str());
}

}  // namespace

Tensor batch_norm2d(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                    Tensor& running_mean, Tensor& running_var, const BatchNormParams& p) {
  SKINMTL_CHECK(x.defined() && x.ndim() == 4,
                "batch_norm2d: input must be (N, C, H, W), got "
                    << (x.defined() ? x.str() : std::string("undefined")));
  check_channel_vector("gamma", gamma, x);
  check_channel_vector("beta", beta, x);
  check_channel_vector("running_mean", running_mean, x);
  check_channel_vector("running_var", running_var, x);
  SKINMTL_CHECK(p.eps > 0, "batch_norm2d: eps must be positive, got " << p.eps);
  SKINMTL_CHECK(p.momentum >= 0 && p.momentum <= 1,
                "batch_norm2d: momentum must be in [0, 1], got " << p.momentum);
  const int64_t N = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
  // The unbiased running variance divides by M - 1 (PyTorch raises the same).
  SKINMTL_CHECK(!p.training || N * HW > 1,
                "batch_norm2d: training needs more than one value per channel, got " << x.str());

  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  // The statistics the forward pass normalises with, saved for backward.
  Tensor mean = Tensor::empty({C}, x.dtype(), x.device());
  Tensor invstd = Tensor::empty({C}, x.dtype(), x.device());
  const bool training = p.training;

  if (x.device() == Device::CPU) {
    dispatch_cpu(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      if (training)
        batch_norm_train_stats_cpu<T>(mean.data<T>(), invstd.data<T>(), running_mean.data<T>(),
                                      running_var.data<T>(), x.data<T>(), N, C, HW, p.eps,
                                      p.momentum);
      else
        batch_norm_frozen_stats_cpu<T>(mean.data<T>(), invstd.data<T>(), running_mean.data<T>(),
                                       running_var.data<T>(), C, p.eps);
      batch_norm_normalize_cpu<T>(y.data<T>(), x.data<T>(), mean.data<T>(), invstd.data<T>(),
                                  gamma.data<T>(), beta.data<T>(), N, C, HW);
    });
  } else {
    require_cuda_f32("batch_norm2d", {&x, &gamma, &beta, &running_mean, &running_var});
    SKINMTL_CUDA_ONLY({
      if (training)
        batch_norm_train_stats_cuda(mean.data<float>(), invstd.data<float>(),
                                    running_mean.data<float>(), running_var.data<float>(),
                                    x.data<float>(), N, C, HW, p.eps, p.momentum, cuda::stream());
      else
        batch_norm_frozen_stats_cuda(mean.data<float>(), invstd.data<float>(),
                                     running_mean.data<float>(), running_var.data<float>(), C,
                                     p.eps, cuda::stream());
      batch_norm_normalize_cuda(y.data<float>(), x.data<float>(), mean.data<float>(),
                                invstd.data<float>(), gamma.data<float>(), beta.data<float>(), N,
                                C, HW, cuda::stream());
    });
  }

  // The running statistics are buffers, not inputs of the tape: no gradient
  // reaches them, and backward uses the saved mean/invstd instead.
  // Saved for backward: x and gamma (held by the node as inputs), mean, invstd.
  record(y, "batch_norm2d", {x, gamma, beta},
         [x, gamma, mean, invstd, N, C, HW, training](const Tensor& dy, std::vector<Tensor>& d) {
           if (!d[0].defined() && !d[1].defined() && !d[2].defined()) return;
           if (x.device() == Device::CPU) {
             dispatch_cpu(x.dtype(), [&](auto tag) {
               using T = decltype(tag);
               auto ptr = [](const Tensor& t) { return t.defined() ? t.data<T>() : nullptr; };
               batch_norm_backward_cpu<T>(ptr(d[0]), ptr(d[1]), ptr(d[2]), dy.data<T>(),
                                          x.data<T>(), mean.data<T>(), invstd.data<T>(),
                                          gamma.data<T>(), N, C, HW, training);
             });
           } else {
             SKINMTL_CUDA_ONLY({
               auto ptr = [](const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; };
               Tensor sums = Tensor::empty({2, C}, DType::F32, Device::CUDA);  // workspace
               batch_norm_backward_cuda(ptr(d[0]), ptr(d[1]), ptr(d[2]), sums.data<float>(),
                                        dy.data<float>(), x.data<float>(), mean.data<float>(),
                                        invstd.data<float>(), gamma.data<float>(), N, C, HW,
                                        training, cuda::stream());
             });
           }
         });
  return y;
}

}  // namespace skinmtl
