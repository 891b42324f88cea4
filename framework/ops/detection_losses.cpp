// smooth_l1_loss, sigmoid_focal_loss and soft_jaccard_distance: see
// kernels/detection_losses.h.
#include "framework/autograd.h"
#include "framework/dispatch.h"
#include "framework/ops.h"
#include "kernels/detection_losses.h"

namespace skinmtl {

namespace {

// The checks the two elementwise losses share: x, its targets and weights are
// defined, of one shape, dtype and device; only x may ask for a gradient.
void check_elementwise_loss(const char* op, const Tensor& x, const Tensor& targets,
                            const Tensor& weights) {
  SKINMTL_CHECK(x.defined() && targets.defined() && weights.defined(),
                op << ": the input, targets and weights must all be defined");
  check_same_shape(op, x, targets);
  check_same_shape(op, x, weights);
  // The loss is differentiated with respect to its first input only: refuse
  // targets or weights that ask for a gradient rather than hand them a
  // silently wrong (zero) one.
  SKINMTL_CHECK(!any_requires_grad({targets, weights}),
                op << ": targets and weights must not require a gradient (the loss is not "
                      "differentiated with respect to them; detach() them)");
  if (x.device() == Device::CUDA) require_cuda_f32(op, {&x, &targets, &weights});
}

}  // namespace

Tensor smooth_l1_loss(const Tensor& pred, const Tensor& target, const Tensor& weights,
                      double beta) {
  check_elementwise_loss("smooth_l1_loss", pred, target, weights);
  SKINMTL_CHECK(beta >= 0.0, "smooth_l1_loss: beta must be >= 0, got " << beta);
  const int64_t n = pred.numel();
  Tensor loss = Tensor::empty(Shape{}, pred.dtype(), pred.device());
  if (pred.device() == Device::CPU) {
    dispatch_cpu(pred.dtype(), [&](auto tag) {
      using T = decltype(tag);
      smooth_l1_forward_cpu<T>(loss.data<T>(), pred.data<T>(), target.data<T>(),
                               weights.data<T>(), n, (T)beta);
    });
  } else {
    // Scratch: the per-element terms and the reduction's partials; released
    // to the caching allocator on return (safe: one stream orders all GPU work).
    Tensor scratch = Tensor::empty({elementwise_loss_cuda_scratch(n)}, DType::F32, Device::CUDA);
    SKINMTL_CUDA_ONLY(smooth_l1_forward_cuda(loss.data<float>(), scratch.data<float>(),
                                             pred.data<float>(), target.data<float>(),
                                             weights.data<float>(), n, (float)beta,
                                             cuda::stream()));
  }
  // Saved for backward: pred (the node's input), target and weights.
  record(loss, "smooth_l1_loss", {pred},
         [pred, target, weights, n, beta](const Tensor& dloss, std::vector<Tensor>& d) {
           if (!d[0].defined()) return;
           if (pred.device() == Device::CPU) {
             dispatch_cpu(pred.dtype(), [&](auto tag) {
               using T = decltype(tag);
               smooth_l1_backward_cpu<T>(d[0].data<T>(), dloss.data<T>(), pred.data<T>(),
                                         target.data<T>(), weights.data<T>(), n, (T)beta);
             });
           } else {
             SKINMTL_CUDA_ONLY(smooth_l1_backward_cuda(
                 d[0].data<float>(), dloss.data<float>(), pred.data<float>(),
                 target.data<float>(), weights.data<float>(), n, (float)beta, cuda::stream()));
           }
         });
  return loss;
}

Tensor sigmoid_focal_loss(const Tensor& logits, const Tensor& targets, const Tensor& weights,
                          double alpha, double gamma) {
  check_elementwise_loss("sigmoid_focal_loss", logits, targets, weights);
  SKINMTL_CHECK(gamma >= 0.0, "sigmoid_focal_loss: gamma must be >= 0, got " << gamma);
  const int64_t n = logits.numel();
  Tensor loss = Tensor::empty(Shape{}, logits.dtype(), logits.device());
  if (logits.device() == Device::CPU) {
    dispatch_cpu(logits.dtype(), [&](auto tag) {
      using T = decltype(tag);
      focal_forward_cpu<T>(loss.data<T>(), logits.data<T>(), targets.data<T>(),
                           weights.data<T>(), n, (T)alpha, (T)gamma);
    });
  } else {
    Tensor scratch = Tensor::empty({elementwise_loss_cuda_scratch(n)}, DType::F32, Device::CUDA);
    SKINMTL_CUDA_ONLY(focal_forward_cuda(loss.data<float>(), scratch.data<float>(),
                                         logits.data<float>(), targets.data<float>(),
                                         weights.data<float>(), n, (float)alpha, (float)gamma,
                                         cuda::stream()));
  }
  // Saved for backward: the logits (the node's input), targets and weights.
  record(loss, "sigmoid_focal_loss", {logits},
         [logits, targets, weights, n, alpha, gamma](const Tensor& dloss, std::vector<Tensor>& d) {
           if (!d[0].defined()) return;
           if (logits.device() == Device::CPU) {
             dispatch_cpu(logits.dtype(), [&](auto tag) {
               using T = decltype(tag);
               focal_backward_cpu<T>(d[0].data<T>(), dloss.data<T>(), logits.data<T>(),
                                     targets.data<T>(), weights.data<T>(), n, (T)alpha,
                                     (T)gamma);
             });
           } else {
             SKINMTL_CUDA_ONLY(focal_backward_cuda(
                 d[0].data<float>(), dloss.data<float>(), logits.data<float>(),
                 targets.data<float>(), weights.data<float>(), n, (float)alpha, (float)gamma,
                 cuda::stream()));
           }
         });
  return loss;
}

Tensor soft_jaccard_distance(const Tensor& probs, const Tensor& targets, double smooth) {
  SKINMTL_CHECK(probs.defined() && targets.defined(),
                "soft_jaccard_distance: probs and targets must be defined");
  SKINMTL_CHECK(probs.ndim() >= 1 && probs.size(0) >= 1,
                "soft_jaccard_distance: probs must be (N, ...) with N >= 1 (the mean over rows "
                "needs one), got " << probs.str());
  check_same_shape("soft_jaccard_distance (probs, targets)", probs, targets);
  SKINMTL_CHECK(smooth > 0.0, "soft_jaccard_distance: smooth must be > 0 (it keeps an empty row "
                              "from being 0/0), got " << smooth);
  SKINMTL_CHECK(!any_requires_grad({targets}),
                "soft_jaccard_distance: targets must not require a gradient (the loss is not "
                "differentiated with respect to them; detach() them)");
  const int64_t R = probs.size(0), M = probs.numel() / R;
  Tensor loss = Tensor::empty(Shape{}, probs.dtype(), probs.device());
  Tensor sums = Tensor::empty({2, R}, probs.dtype(), probs.device());  // I_r, S_r
  if (probs.device() == Device::CPU) {
    dispatch_cpu(probs.dtype(), [&](auto tag) {
      using T = decltype(tag);
      jaccard_forward_cpu<T>(loss.data<T>(), sums.data<T>(), probs.data<T>(), targets.data<T>(),
                             R, M, (T)smooth);
    });
  } else {
    require_cuda_f32("soft_jaccard_distance", {&probs, &targets});
    Tensor scratch = Tensor::empty({jaccard_cuda_scratch(R, M)}, DType::F32, Device::CUDA);
    SKINMTL_CUDA_ONLY(jaccard_forward_cuda(loss.data<float>(), sums.data<float>(),
                                           scratch.data<float>(), probs.data<float>(),
                                           targets.data<float>(), R, M, (float)smooth,
                                           cuda::stream()));
  }
  // Saved for backward: the row sums I, S (on CUDA they stay on the device)
  // and the targets; the gradient does not need probs themselves.
  record(loss, "soft_jaccard_distance", {probs},
         [sums, targets, R, M, smooth](const Tensor& dloss, std::vector<Tensor>& d) {
           if (!d[0].defined()) return;
           if (targets.device() == Device::CPU) {
             dispatch_cpu(targets.dtype(), [&](auto tag) {
               using T = decltype(tag);
               jaccard_backward_cpu<T>(d[0].data<T>(), dloss.data<T>(), sums.data<T>(),
                                       targets.data<T>(), R, M, (T)smooth);
             });
           } else {
             SKINMTL_CUDA_ONLY(jaccard_backward_cuda(d[0].data<float>(), dloss.data<float>(),
                                                     sums.data<float>(), targets.data<float>(),
                                                     R, M, (float)smooth, cuda::stream()));
           }
         });
  return loss;
}

}  // namespace skinmtl
