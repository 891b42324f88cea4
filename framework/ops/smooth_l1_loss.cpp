// smooth_l1_loss: see kernels/smooth_l1_loss.h.
#include "framework/autograd.h"
#include "framework/dispatch.h"
#include "framework/ops.h"
#include "framework/precision.h"
#include "kernels/smooth_l1_loss.h"

namespace skinmtl {

Tensor smooth_l1_loss(const Tensor& pred_in, const Tensor& target_in, const Tensor& weights_in,
                      double beta) {
  // No bfloat16 kernel: bfloat16 inputs are widened (framework/precision.h).
  const Tensor pred = as_f32(pred_in);
  const Tensor target = as_f32(target_in);
  const Tensor weights = as_f32(weights_in);
  check_elementwise_loss("smooth_l1_loss", pred, target, weights);
  SKINMTL_CHECK(beta >= 0.0, "smooth_l1_loss: beta must be >= 0, got " << beta);
  const int64_t n = pred.numel();
  Tensor loss = Tensor::empty(Shape{}, pred.dtype(), pred.device());
  if (pred.device() == Device::CPU) {
    dispatch_cpu(pred.dtype(), [&](auto tag) {
      using T = decltype(tag);
      smooth_l1_loss_forward_cpu<T>(loss.data<T>(), pred.data<T>(), target.data<T>(),
                                    weights.data<T>(), n, (T)beta);
    });
  } else {
    // Scratch: the per-element terms and the reduction's partials; released
    // to the caching allocator on return (safe: one stream orders all GPU work).
    Tensor scratch = Tensor::empty({smooth_l1_loss_cuda_scratch(n)}, DType::F32, Device::CUDA);
    SKINMTL_CUDA_ONLY(smooth_l1_loss_forward_cuda(
        loss.data<float>(), scratch.data<float>(), pred.data<float>(), target.data<float>(),
        weights.data<float>(), n, (float)beta, cuda::stream()));
  }
  // Saved for backward: pred, target and weights.
  record(loss, "smooth_l1_loss", {pred},
         [pred, target, weights, n, beta](const Tensor& dloss, GradBuffers& d) {
           if (!d[0].defined()) return;
           if (pred.device() == Device::CPU) {
             dispatch_cpu(pred.dtype(), [&](auto tag) {
               using T = decltype(tag);
               smooth_l1_loss_backward_cpu<T>(d[0].data<T>(), dloss.data<T>(), pred.data<T>(),
                                              target.data<T>(), weights.data<T>(), n, (T)beta);
             });
           } else {
             SKINMTL_CUDA_ONLY(smooth_l1_loss_backward_cuda(
                 d[0].data<float>(), dloss.data<float>(), pred.data<float>(), target.data<float>(),
                 weights.data<float>(), n, (float)beta, cuda::stream()));
           }
         });
  return loss;
}

}  // namespace skinmtl
