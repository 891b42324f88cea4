// batch_norm2d and batch_norm2d_act (the batch norm, + shortcut, ReLU): see kernels/batch_norm.h.
#include "framework/autograd.h"
#include "framework/dispatch.h"
#include "framework/distributed.h"
#include "framework/ops.h"
#include "framework/ops/bias_act.h"
#include "framework/precision.h"
#include "kernels/batch_norm.h"
#include "kernels/elementwise.h"

namespace skinmtl {

namespace {

// gamma, beta, running_mean, running_var: defined, (C), on x's device and of
// x's dtype (float32 for a bfloat16 x: the parameters stay float32).
void check_channel_vector(const char* op, const char* what, const Tensor& v, const Tensor& x) {
  SKINMTL_CHECK(v.defined(), op << ": " << what << " is undefined");
  if (x.dtype() == DType::BF16)
    SKINMTL_CHECK(v.device() == x.device() && v.dtype() == DType::F32,
                  op << ": " << what << " must be float32 on x's device for a bfloat16 input " << x.str()
                     << ", got " << v.str());
  else
    check_same_device(op, x, v);
  SKINMTL_CHECK(v.ndim() == 1 && v.size(0) == x.size(1),
                op << ": " << what << " must be (C) = (" << x.size(1) << ",) for input " << x.str() << ", got "
                   << v.str());
}

// Synchronised batch norm in training mode (BatchNormParams::sync): the
// statistics of all ranks' batches, in pieces with an all-reduce between them
// (kernels/batch_norm.h, "synchronised batch norm, in pieces").
Tensor sync_batch_norm2d(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                         Tensor& running_var, const BatchNormParams& p) {
  Communicator* comm = p.sync;
  const int64_t N = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
  const int64_t Mtot = N * HW * comm->size();  // equal shapes on every rank
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor mean = Tensor::empty({C}, x.dtype(), x.device());
  Tensor invstd = Tensor::empty({C}, x.dtype(), x.device());
  Tensor sum = Tensor::empty({C}, x.dtype(), x.device());  // sum x, then sum (x - mean)^2
  const bool cpu = x.device() == Device::CPU;
  if (!cpu) require_cuda_f32("batch_norm2d", {&x, &gamma, &beta, &running_mean, &running_var});
  // Pass 1: the mean over all ranks.
  if (cpu) {
    dispatch_cpu(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      batch_norm_sum_cpu<T>(sum.data<T>(), x.data<T>(), N, C, HW);
    });
  } else {
    SKINMTL_CUDA_ONLY(batch_norm_sum_cuda(sum.data<float>(), x.data<float>(), N, C, HW, cuda::stream()));
  }
  comm->all_reduce_sum(sum);
  mean.copy_from(scale(sum, 1.0 / (double)Mtot));
  // Pass 2: the variance over all ranks, as the mean of squared deviations.
  if (cpu) {
    dispatch_cpu(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      batch_norm_sum_sq_dev_cpu<T>(sum.data<T>(), x.data<T>(), mean.data<T>(), N, C, HW);
    });
  } else {
    SKINMTL_CUDA_ONLY(batch_norm_sum_sq_dev_cuda(sum.data<float>(), x.data<float>(), mean.data<float>(), N, C, HW,
                                                 cuda::stream()));
  }
  comm->all_reduce_sum(sum);
  if (cpu) {
    dispatch_cpu(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      batch_norm_stats_from_sq_dev_cpu<T>(invstd.data<T>(), running_mean.data<T>(), running_var.data<T>(),
                                          mean.data<T>(), sum.data<T>(), C, Mtot, p.eps, p.momentum);
      batch_norm_normalize_cpu<T>(y.data<T>(), x.data<T>(), nullptr, mean.data<T>(), invstd.data<T>(),
                                  gamma.data<T>(), beta.data<T>(), N, C, HW, /*relu=*/false);
    });
  } else {
    SKINMTL_CUDA_ONLY({
      batch_norm_stats_from_sq_dev_cuda(invstd.data<float>(), running_mean.data<float>(), running_var.data<float>(),
                                        mean.data<float>(), sum.data<float>(), C, Mtot, p.eps, p.momentum,
                                        cuda::stream());
      batch_norm_normalize_cuda<float>(y.data<float>(), x.data<float>(), nullptr, mean.data<float>(),
                                       invstd.data<float>(), gamma.data<float>(), beta.data<float>(), N, C, HW,
                                       /*relu=*/false, cuda::stream());
    });
  }

  // Backward: this rank's sums give dgamma and dbeta (their mean over ranks is
  // taken with the other gradients, framework/distributed.h); the sums over
  // all ranks give dx.
  record(y, "batch_norm2d", {x, gamma, beta},
         [x, gamma, mean, invstd, N, C, HW, Mtot, comm](const Tensor& dy, GradBuffers& d) {
           if (!d.needs(0) && !d.needs(1) && !d.needs(2)) return;
           Tensor sums = Tensor::empty({2, C}, x.dtype(), x.device());
           if (x.device() == Device::CPU) {
             dispatch_cpu(x.dtype(), [&](auto tag) {
               using T = decltype(tag);
               batch_norm_backward_sums_cpu<T>(sums.data<T>(), dy.data<T>(), x.data<T>(), mean.data<T>(),
                                               invstd.data<T>(), N, C, HW);
               if (d[1].defined()) axpy_cpu<T>(d[1].data<T>(), sums.data<T>() + C, T(1), C);
               if (d[2].defined()) axpy_cpu<T>(d[2].data<T>(), sums.data<T>(), T(1), C);
             });
           } else {
             SKINMTL_CUDA_ONLY({
               batch_norm_backward_sums_cuda(sums.data<float>(), dy.data<float>(), x.data<float>(),
                                             mean.data<float>(), invstd.data<float>(), N, C, HW, cuda::stream());
               if (d[1].defined()) axpy_cuda(d[1].data<float>(), sums.data<float>() + C, 1.f, C, cuda::stream());
               if (d[2].defined()) axpy_cuda(d[2].data<float>(), sums.data<float>(), 1.f, C, cuda::stream());
             });
           }
           // Every rank takes part in the all-reduce, whether or not it wants dx.
           comm->all_reduce_sum(sums);
           const GradBuffers::Target dx = d.write(0);  // every element is written
           if (!dx.tensor.defined()) return;
           if (x.device() == Device::CPU) {
             dispatch_cpu(x.dtype(), [&](auto tag) {
               using T = decltype(tag);
               batch_norm_backward_dx_cpu<T>(dx.tensor.data<T>(), sums.data<T>(), dy.data<T>(), x.data<T>(),
                                             mean.data<T>(), invstd.data<T>(), gamma.data<T>(), N, C, HW, Mtot,
                                             dx.accumulate);
             });
           } else {
             SKINMTL_CUDA_ONLY(batch_norm_backward_dx_cuda(
                 dx.tensor.data<float>(), sums.data<float>(), dy.data<float>(), x.data<float>(), mean.data<float>(),
                 invstd.data<float>(), gamma.data<float>(), N, C, HW, Mtot, dx.accumulate, cuda::stream()));
           }
         });
  return y;
}

// The batch norm, and at a unit's end the shortcut and the ReLU, as one op
// (kernels/batch_norm.h): batch_norm2d is the case with neither.
Tensor normalize_act(const char* op, const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                     Tensor& running_var, const BatchNormParams& p, bool relu, const Tensor& residual) {
  SKINMTL_CHECK(x.defined() && x.ndim() == 4,
                op << ": input must be (N, C, H, W), got " << (x.defined() ? x.str() : std::string("undefined")));
  check_channel_vector(op, "gamma", gamma, x);
  check_channel_vector(op, "beta", beta, x);
  check_channel_vector(op, "running_mean", running_mean, x);
  check_channel_vector(op, "running_var", running_var, x);
  SKINMTL_CHECK(!residual.defined() || (residual.shape() == x.shape() && residual.dtype() == x.dtype() &&
                                        residual.device() == x.device()),
                op << ": the residual must have the input's shape, dtype and device, " << x.str() << ", got "
                   << residual.str());
  SKINMTL_CHECK(p.eps > 0, op << ": eps must be positive, got " << p.eps);
  SKINMTL_CHECK(p.momentum >= 0 && p.momentum <= 1, op << ": momentum must be in [0, 1], got " << p.momentum);
  const int64_t N = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
  // The unbiased running variance divides by M - 1 (PyTorch raises the same).
  SKINMTL_CHECK(!p.training || N * HW > 1,
                op << ": training needs more than one value per channel, got " << x.str());
  const bool fused = relu || residual.defined();

  // bfloat16: the GPU's kernels take it, except synchronised batch norm's.
  // Elsewhere: in float32, rounded once at the end (framework/precision.h).
  if (through_f32(x, !(p.training && p.sync)))
    return cast(normalize_act(op, as_f32(x), gamma, beta, running_mean, running_var, p, relu,
                              residual.defined() ? as_f32(residual) : Tensor()),
                DType::BF16);
  if (p.training && p.sync)  // the shortcut and the ReLU as ops of their own
    return unit_end_ops(sync_batch_norm2d(x, gamma, beta, running_mean, running_var, p), residual, relu);

  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  // The statistics the forward pass normalises with, saved for backward
  // (float32 for a bfloat16 x, as the parameters).
  Tensor mean = Tensor::empty({C}, gamma.dtype(), x.device());
  Tensor invstd = Tensor::empty({C}, gamma.dtype(), x.device());
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
      batch_norm_normalize_cpu<T>(y.data<T>(), x.data<T>(), data_or_null<T>(residual), mean.data<T>(),
                                  invstd.data<T>(), gamma.data<T>(), beta.data<T>(), N, C, HW, relu);
    });
  } else {
    require_cuda_f32(op, {&gamma, &beta, &running_mean, &running_var});
    SKINMTL_CUDA_ONLY(dispatch_cuda_activations(x.dtype(), [&](auto tag) {
      using X = decltype(tag);
      if (training)
        batch_norm_train_stats_cuda(mean.data<float>(), invstd.data<float>(),
                                    running_mean.data<float>(), running_var.data<float>(),
                                    x.data<X>(), N, C, HW, p.eps, p.momentum, cuda::stream());
      else
        batch_norm_frozen_stats_cuda(mean.data<float>(), invstd.data<float>(),
                                     running_mean.data<float>(), running_var.data<float>(), C,
                                     p.eps, cuda::stream());
      batch_norm_normalize_cuda(y.data<X>(), x.data<X>(), data_or_null<X>(residual), mean.data<float>(),
                                invstd.data<float>(), gamma.data<float>(), beta.data<float>(), N,
                                C, HW, relu, cuda::stream());
    }));
  }

  // The running statistics are buffers, not inputs of the tape: no gradient
  // reaches them, and backward uses the saved mean/invstd instead.
  // Saved for backward: x, gamma, mean, invstd (captured by the lambda), and
  // y when a ReLU ends the op (its mask; y.detach(): a Node never holds its
  // own output).
  const Tensor y_saved = relu ? y.detach() : Tensor();
  const bool has_residual = residual.defined();
  record(y, fused ? "batch_norm2d_act" : "batch_norm2d", {x, gamma, beta, residual},
         [x, gamma, mean, invstd, N, C, HW, training, relu, has_residual, y_saved](const Tensor& dy_out,
                                                                                    GradBuffers& d) {
           const bool bn_wants = d.needs(0) || d.needs(1) || d.needs(2);
           const GradBuffers::Target dr = has_residual ? d.write(3) : GradBuffers::Target{};
           const GradBuffers::Target dx = d.write(0);  // every element is written
           // dy, the gradient of the batch norm's output (and the shortcut's):
           // framework/ops/bias_act.h. With dx as the spare buffer, no buffer
           // is added to the three ops' (the ReLU's and the add's outputs'
           // gradients are freed before the batch norm's backward runs): dy
           // goes into the shortcut's gradient, or into dx, where the batch
           // norm's backward then runs in place (kernels/batch_norm.h).
           const Tensor dy = unit_end_backward(dy_out, y_saved, relu, dr, bn_wants, dx);
           if (!bn_wants) return;
           if (x.device() == Device::CPU) {
             dispatch_cpu(x.dtype(), [&](auto tag) {
               using T = decltype(tag);
               batch_norm_backward_cpu<T>(data_or_null<T>(dx.tensor), data_or_null<T>(d[1]), data_or_null<T>(d[2]),
                                          dy.data<T>(), x.data<T>(), mean.data<T>(), invstd.data<T>(),
                                          gamma.data<T>(), N, C, HW, training, dx.accumulate);
             });
           } else {
             SKINMTL_CUDA_ONLY(dispatch_cuda_activations(x.dtype(), [&](auto tag) {
               using X = decltype(tag);
               Tensor sums = Tensor::empty({2, C}, DType::F32, Device::CUDA);  // workspace
               batch_norm_backward_cuda(data_or_null<X>(dx.tensor), data_or_null<float>(d[1]),
                                        data_or_null<float>(d[2]), sums.data<float>(), dy.data<X>(), x.data<X>(),
                                        mean.data<float>(), invstd.data<float>(),
                                        gamma.data<float>(), N, C, HW, training, dx.accumulate,
                                        cuda::stream());
             }));
           }
         });
  return y;
}

}  // namespace

Tensor batch_norm2d(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                    Tensor& running_mean, Tensor& running_var, const BatchNormParams& p) {
  return normalize_act("batch_norm2d", x, gamma, beta, running_mean, running_var, p, false, Tensor());
}

Tensor batch_norm2d_act(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                        Tensor& running_var, const BatchNormParams& p, bool relu, const Tensor& residual) {
  if (!conv_epilogue_fusion())  // the three ops it stands for
    return unit_end_ops(batch_norm2d(x, gamma, beta, running_mean, running_var, p), residual, relu);
  return normalize_act("batch_norm2d_act", x, gamma, beta, running_mean, running_var, p, relu, residual);
}

}  // namespace skinmtl
