// soft_jaccard_distance: see kernels/soft_jaccard_distance.h.
#include "framework/autograd.h"
#include "framework/dispatch.h"
#include "framework/ops.h"
#include "framework/precision.h"
#include "kernels/soft_jaccard_distance.h"

namespace skinmtl {

Tensor soft_jaccard_distance(const Tensor& probs_in, const Tensor& targets_in, double smooth) {
  // No bfloat16 kernel: bfloat16 inputs are widened (framework/precision.h).
  const Tensor probs = as_f32(probs_in);
  const Tensor targets = as_f32(targets_in);
  SKINMTL_CHECK(probs.defined() && targets.defined(),
                "soft_jaccard_distance: probs and targets must be defined");
  SKINMTL_CHECK(probs.ndim() >= 1 && probs.size(0) >= 1,
                "soft_jaccard_distance: probs must be (N, ...) with N >= 1 (the mean over rows "
                "needs one), got "
                    << probs.str());
  check_same_shape("soft_jaccard_distance (probs, targets)", probs, targets);
  SKINMTL_CHECK(smooth > 0.0,
                "soft_jaccard_distance: smooth must be > 0 (it keeps an empty row "
                "from being 0/0), got "
                    << smooth);
  SKINMTL_CHECK(!any_requires_grad({targets}),
                "soft_jaccard_distance: targets must not require a gradient (the loss is not "
                "differentiated with respect to them; detach() them)");
  const int64_t R = probs.size(0), M = probs.numel() / R;
  Tensor loss = Tensor::empty(Shape{}, probs.dtype(), probs.device());
  Tensor sums = Tensor::empty({2, R}, probs.dtype(), probs.device());  // I_r, S_r
  if (probs.device() == Device::CPU) {
    dispatch_cpu(probs.dtype(), [&](auto tag) {
      using T = decltype(tag);
      soft_jaccard_distance_forward_cpu<T>(loss.data<T>(), sums.data<T>(), probs.data<T>(),
                                           targets.data<T>(), R, M, (T)smooth);
    });
  } else {
    require_cuda_f32("soft_jaccard_distance", {&probs, &targets});
    Tensor scratch =
        Tensor::empty({soft_jaccard_distance_cuda_scratch(R, M)}, DType::F32, Device::CUDA);
    SKINMTL_CUDA_ONLY(soft_jaccard_distance_forward_cuda(
        loss.data<float>(), sums.data<float>(), scratch.data<float>(), probs.data<float>(),
        targets.data<float>(), R, M, (float)smooth, cuda::stream()));
  }
  // Saved for backward: the row sums I, S (on CUDA they stay on the device)
  // and the targets; the gradient does not need probs themselves.
  record(loss, "soft_jaccard_distance", {probs},
         [sums, targets, R, M, smooth](const Tensor& dloss, GradBuffers& d) {
           if (!d[0].defined()) return;
           if (targets.device() == Device::CPU) {
             dispatch_cpu(targets.dtype(), [&](auto tag) {
               using T = decltype(tag);
               soft_jaccard_distance_backward_cpu<T>(d[0].data<T>(), dloss.data<T>(),
                                                     sums.data<T>(), targets.data<T>(), R, M,
                                                     (T)smooth);
             });
           } else {
             SKINMTL_CUDA_ONLY(soft_jaccard_distance_backward_cuda(
                 d[0].data<float>(), dloss.data<float>(), sums.data<float>(), targets.data<float>(),
                 R, M, (float)smooth, cuda::stream()));
           }
         });
  return loss;
}

}  // namespace skinmtl
