// sigmoid_focal_loss: see kernels/sigmoid_focal_loss.h.
#include "framework/autograd.h"
#include "framework/dispatch.h"
#include "framework/ops.h"
#include "framework/precision.h"
#include "kernels/sigmoid_focal_loss.h"

namespace skinmtl {

Tensor sigmoid_focal_loss(const Tensor& logits_in, const Tensor& targets_in, const Tensor& weights_in,
                          double alpha, double gamma) {
  // No bfloat16 kernel: bfloat16 inputs are widened (framework/precision.h).
  const Tensor logits = as_f32(logits_in);
  const Tensor targets = as_f32(targets_in);
  const Tensor weights = as_f32(weights_in);
  check_elementwise_loss("sigmoid_focal_loss", logits, targets, weights);
  SKINMTL_CHECK(gamma >= 0.0, "sigmoid_focal_loss: gamma must be >= 0, got " << gamma);
  const int64_t n = logits.numel();
  Tensor loss = Tensor::empty(Shape{}, logits.dtype(), logits.device());
  if (logits.device() == Device::CPU) {
    dispatch_cpu(logits.dtype(), [&](auto tag) {
      using T = decltype(tag);
      sigmoid_focal_loss_forward_cpu<T>(loss.data<T>(), logits.data<T>(), targets.data<T>(),
                                        weights.data<T>(), n, (T)alpha, (T)gamma);
    });
  } else {
    Tensor scratch = Tensor::empty({sigmoid_focal_loss_cuda_scratch(n)}, DType::F32, Device::CUDA);
    SKINMTL_CUDA_ONLY(sigmoid_focal_loss_forward_cuda(
        loss.data<float>(), scratch.data<float>(), logits.data<float>(), targets.data<float>(),
        weights.data<float>(), n, (float)alpha, (float)gamma, cuda::stream()));
  }
  // Saved for backward: the logits, targets and weights.
  record(
      loss, "sigmoid_focal_loss", {logits},
      [logits, targets, weights, n, alpha, gamma](const Tensor& dloss, GradBuffers& d) {
        if (!d[0].defined()) return;
        if (logits.device() == Device::CPU) {
          dispatch_cpu(logits.dtype(), [&](auto tag) {
            using T = decltype(tag);
            sigmoid_focal_loss_backward_cpu<T>(d[0].data<T>(), dloss.data<T>(), logits.data<T>(),
                                               targets.data<T>(), weights.data<T>(), n, (T)alpha,
                                               (T)gamma);
          });
        } else {
          SKINMTL_CUDA_ONLY(sigmoid_focal_loss_backward_cuda(
              d[0].data<float>(), dloss.data<float>(), logits.data<float>(), targets.data<float>(),
              weights.data<float>(), n, (float)alpha, (float)gamma, cuda::stream()));
        }
      });
  return loss;
}

}  // namespace skinmtl
