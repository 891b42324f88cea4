// softmax_focal_loss: see kernels/softmax_focal_loss.h.
#include "framework/autograd.h"
#include "framework/dispatch.h"
#include "framework/ops.h"
#include "framework/precision.h"
#include "kernels/softmax_focal_loss.h"

namespace skinmtl {

Tensor softmax_focal_loss(const Tensor& logits_in, const Tensor& labels, double alpha, double gamma) {
  // No bfloat16 kernel: bfloat16 inputs are widened (framework/precision.h).
  const Tensor logits = as_f32(logits_in);
  SKINMTL_CHECK(logits.defined() && labels.defined(), "softmax_focal_loss: logits and labels must be defined");
  SKINMTL_CHECK(logits.ndim() == 2 && logits.size(1) >= 1,
                "softmax_focal_loss: logits must be (N, K) with K >= 1, got " << logits.str());
  check_same_device("softmax_focal_loss (logits, labels)", logits, labels);
  const int64_t N = logits.size(0), K = logits.size(1);
  SKINMTL_CHECK(labels.ndim() == 1 && labels.size(0) == N && labels.dtype() == logits.dtype(),
                "softmax_focal_loss: labels must be (" << N << ",) of " << dtype_name(logits.dtype())
                                                       << " for logits " << logits.str() << ", got "
                                                       << labels.str());
  SKINMTL_CHECK(!any_requires_grad({labels}),
                "softmax_focal_loss: labels are class indices and cannot require a gradient");
  SKINMTL_CHECK(gamma >= 0.0, "softmax_focal_loss: gamma must be >= 0, got " << gamma);
  Tensor loss = Tensor::empty(Shape{}, logits.dtype(), logits.device());
  Tensor lse = Tensor::empty({N}, logits.dtype(), logits.device());
  if (logits.device() == Device::CPU) {
    dispatch_cpu(logits.dtype(), [&](auto tag) {
      using T = decltype(tag);
      softmax_focal_loss_forward_cpu<T>(loss.data<T>(), lse.data<T>(), logits.data<T>(), labels.data<T>(), N, K,
                                        (T)alpha, (T)gamma);
    });
  } else {
    require_cuda_f32("softmax_focal_loss", {&logits, &labels});
    Tensor scratch = Tensor::empty({softmax_focal_loss_cuda_scratch(N)}, DType::F32, Device::CUDA);
    SKINMTL_CUDA_ONLY(softmax_focal_loss_forward_cuda(loss.data<float>(), lse.data<float>(), scratch.data<float>(),
                                                      logits.data<float>(), labels.data<float>(), N, K,
                                                      (float)alpha, (float)gamma, cuda::stream()));
  }
  // Saved for backward: the logits, the labels and lse (N).
  record(loss, "softmax_focal_loss", {logits},
         [logits, labels, lse, N, K, alpha, gamma](const Tensor& dloss, GradBuffers& d) {
           if (!d[0].defined()) return;
           if (logits.device() == Device::CPU) {
             dispatch_cpu(logits.dtype(), [&](auto tag) {
               using T = decltype(tag);
               softmax_focal_loss_backward_cpu<T>(d[0].data<T>(), dloss.data<T>(), lse.data<T>(), logits.data<T>(),
                                                  labels.data<T>(), N, K, (T)alpha, (T)gamma);
             });
           } else {
             SKINMTL_CUDA_ONLY(softmax_focal_loss_backward_cuda(d[0].data<float>(), dloss.data<float>(),
                                                                lse.data<float>(), logits.data<float>(),
                                                                labels.data<float>(), N, K, (float)alpha,
                                                                (float)gamma, cuda::stream()));
           }
         });
  return loss;
}

}  // namespace skinmtl
