// sigmoid, softmax and the two cross-entropy losses: see kernels/losses.h.
#include "framework/autograd.h"
#include "framework/dispatch.h"
#include "framework/ops.h"
#include "framework/precision.h"
#include "kernels/losses.h"

namespace skinmtl {

Tensor sigmoid(const Tensor& x_in) {
  // No bfloat16 kernel: bfloat16 inputs are widened (framework/precision.h).
  const Tensor x = as_f32(x_in);
  SKINMTL_CHECK(x.defined(), "sigmoid: undefined input");
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  const int64_t n = x.numel();
  if (x.device() == Device::CPU) {
    dispatch_cpu(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      sigmoid_forward_cpu<T>(y.data<T>(), x.data<T>(), n);
    });
  } else {
    require_cuda_f32("sigmoid", {&x});
    SKINMTL_CUDA_ONLY(sigmoid_forward_cuda(y.data<float>(), x.data<float>(), n, cuda::stream()));
  }
  // Saved for backward: the output, detached (a node must not hold its own output).
  Tensor ys = y.detach();
  record(y, "sigmoid", {x}, [ys, n](const Tensor& dy, GradBuffers& d) {
    if (!d[0].defined()) return;
    if (ys.device() == Device::CPU) {
      dispatch_cpu(ys.dtype(), [&](auto tag) {
        using T = decltype(tag);
        sigmoid_backward_cpu<T>(d[0].data<T>(), dy.data<T>(), ys.data<T>(), n);
      });
    } else {
      SKINMTL_CUDA_ONLY(sigmoid_backward_cuda(d[0].data<float>(), dy.data<float>(),
                                              ys.data<float>(), n, cuda::stream()));
    }
  });
  return y;
}

Tensor softmax(const Tensor& logits_in) {
  // No bfloat16 kernel: bfloat16 inputs are widened (framework/precision.h).
  const Tensor logits = as_f32(logits_in);
  SKINMTL_CHECK(logits.defined() && logits.ndim() == 2 && logits.size(1) >= 1,
                "softmax: logits must be (N, K) with K >= 1, got " << logits.str());
  const int64_t N = logits.size(0), K = logits.size(1);
  Tensor y = Tensor::empty(logits.shape(), logits.dtype(), logits.device());
  if (logits.device() == Device::CPU) {
    dispatch_cpu(logits.dtype(), [&](auto tag) {
      using T = decltype(tag);
      softmax_forward_cpu<T>(y.data<T>(), logits.data<T>(), N, K);
    });
  } else {
    require_cuda_f32("softmax", {&logits});
    SKINMTL_CUDA_ONLY(
        softmax_forward_cuda(y.data<float>(), logits.data<float>(), N, K, cuda::stream()));
  }
  // Saved for backward: the output, detached.
  Tensor ys = y.detach();
  record(y, "softmax", {logits}, [ys, N, K](const Tensor& dy, GradBuffers& d) {
    if (!d[0].defined()) return;
    if (ys.device() == Device::CPU) {
      dispatch_cpu(ys.dtype(), [&](auto tag) {
        using T = decltype(tag);
        softmax_backward_cpu<T>(d[0].data<T>(), dy.data<T>(), ys.data<T>(), N, K);
      });
    } else {
      SKINMTL_CUDA_ONLY(softmax_backward_cuda(d[0].data<float>(), dy.data<float>(),
                                              ys.data<float>(), N, K, cuda::stream()));
    }
  });
  return y;
}

Tensor sigmoid_cross_entropy(const Tensor& logits_in, const Tensor& targets_in) {
  // No bfloat16 kernel: bfloat16 inputs are widened (framework/precision.h).
  const Tensor logits = as_f32(logits_in);
  const Tensor targets = as_f32(targets_in);
  SKINMTL_CHECK(logits.defined() && targets.defined(),
                "sigmoid_cross_entropy: logits and targets must be defined");
  SKINMTL_CHECK(logits.ndim() == 2 && logits.size(0) >= 1,
                "sigmoid_cross_entropy: logits must be (N, K) with N >= 1, got " << logits.str());
  check_same_shape("sigmoid_cross_entropy (logits, targets)", logits, targets);
  // The loss is differentiated with respect to the logits only. Rather than
  // hand back a silently wrong (zero) gradient for targets that ask for one,
  // refuse them.
  SKINMTL_CHECK(!any_requires_grad({targets}),
                "sigmoid_cross_entropy: targets must not require a gradient (the loss is not "
                "differentiated with respect to its targets; detach() them)");
  const int64_t N = logits.size(0), K = logits.size(1);
  Tensor loss = Tensor::empty(Shape{}, logits.dtype(), logits.device());
  if (logits.device() == Device::CPU) {
    dispatch_cpu(logits.dtype(), [&](auto tag) {
      using T = decltype(tag);
      sigmoid_ce_forward_cpu<T>(loss.data<T>(), logits.data<T>(), targets.data<T>(), N, K);
    });
  } else {
    require_cuda_f32("sigmoid_cross_entropy", {&logits, &targets});
    // Scratch: per-image losses and reduction partials; released to the
    // caching allocator on return (safe: one stream orders all GPU work).
    Tensor scratch = Tensor::empty({sigmoid_ce_cuda_scratch(N)}, DType::F32, Device::CUDA);
    SKINMTL_CUDA_ONLY(sigmoid_ce_forward_cuda(loss.data<float>(), scratch.data<float>(),
                                              logits.data<float>(), targets.data<float>(), N, K,
                                              cuda::stream()));
  }
  // Saved for backward: the logits and the targets.
  record(loss, "sigmoid_cross_entropy", {logits},
         [logits, targets, N, K](const Tensor& dloss, GradBuffers& d) {
           if (!d[0].defined()) return;
           if (logits.device() == Device::CPU) {
             dispatch_cpu(logits.dtype(), [&](auto tag) {
               using T = decltype(tag);
               sigmoid_ce_backward_cpu<T>(d[0].data<T>(), dloss.data<T>(), logits.data<T>(),
                                          targets.data<T>(), N, K);
             });
           } else {
             SKINMTL_CUDA_ONLY(sigmoid_ce_backward_cuda(d[0].data<float>(), dloss.data<float>(),
                                                        logits.data<float>(),
                                                        targets.data<float>(), N, K,
                                                        cuda::stream()));
           }
         });
  return loss;
}

Tensor softmax_cross_entropy(const Tensor& logits_in, const Tensor& labels) {
  // No bfloat16 kernel: bfloat16 inputs are widened (framework/precision.h).
  const Tensor logits = as_f32(logits_in);
  SKINMTL_CHECK(logits.defined() && labels.defined(),
                "softmax_cross_entropy: logits and labels must be defined");
  SKINMTL_CHECK(logits.ndim() == 2 && logits.size(1) >= 1,
                "softmax_cross_entropy: logits must be (N, K) with K >= 1, got " << logits.str());
  check_same_device("softmax_cross_entropy (logits, labels)", logits, labels);
  const int64_t N = logits.size(0), K = logits.size(1);
  SKINMTL_CHECK(labels.ndim() == 1 && labels.size(0) == N,
                "softmax_cross_entropy: labels must be (" << N << ",) for logits "
                                                          << shape_str(logits.shape())
                                                          << ", got " << labels.str());
  SKINMTL_CHECK(!any_requires_grad({labels}),
                "softmax_cross_entropy: labels are class indices and cannot require a gradient");
  Tensor loss = Tensor::empty(Shape{}, logits.dtype(), logits.device());
  Tensor count = Tensor::empty(Shape{}, logits.dtype(), logits.device());  // M
  Tensor lse = Tensor::empty({N}, logits.dtype(), logits.device());
  if (logits.device() == Device::CPU) {
    dispatch_cpu(logits.dtype(), [&](auto tag) {
      using T = decltype(tag);
      softmax_ce_forward_cpu<T>(loss.data<T>(), count.data<T>(), lse.data<T>(),
                                logits.data<T>(), labels.data<T>(), N, K);
    });
  } else {
    require_cuda_f32("softmax_cross_entropy", {&logits, &labels});
    Tensor scratch = Tensor::empty({softmax_ce_cuda_scratch(N)}, DType::F32, Device::CUDA);
    SKINMTL_CUDA_ONLY(softmax_ce_forward_cuda(loss.data<float>(), count.data<float>(),
                                              lse.data<float>(), scratch.data<float>(),
                                              logits.data<float>(), labels.data<float>(), N, K,
                                              cuda::stream()));
  }
  // Saved for backward: logits, labels, lse (N) and M; on CUDA the last two
  // stay on the device and the backward kernel reads them there.
  record(loss, "softmax_cross_entropy", {logits},
         [logits, labels, count, lse, N, K](const Tensor& dloss, GradBuffers& d) {
           if (!d[0].defined()) return;
           if (logits.device() == Device::CPU) {
             dispatch_cpu(logits.dtype(), [&](auto tag) {
               using T = decltype(tag);
               softmax_ce_backward_cpu<T>(d[0].data<T>(), dloss.data<T>(), count.data<T>(),
                                          lse.data<T>(), logits.data<T>(), labels.data<T>(), N,
                                          K);
             });
           } else {
             SKINMTL_CUDA_ONLY(softmax_ce_backward_cuda(
                 d[0].data<float>(), dloss.data<float>(), count.data<float>(), lse.data<float>(),
                 logits.data<float>(), labels.data<float>(), N, K, cuda::stream()));
           }
         });
  return loss;
}

}  // namespace skinmtl
