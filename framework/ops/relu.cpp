// relu: see kernels/relu.h.
#include "framework/autograd.h"
#include "framework/dispatch.h"
#include "framework/ops.h"
#include "framework/precision.h"
#include "kernels/relu.h"

namespace skinmtl {

Tensor relu(const Tensor& x) {
  if (through_f32(x)) return cast(relu(as_f32(x)), DType::BF16);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  const int64_t n = x.numel();
  if (x.device() == Device::CPU) {
    dispatch_cpu(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      relu_forward_cpu<T>(y.data<T>(), x.data<T>(), n);
    });
  } else {
    SKINMTL_CUDA_ONLY(dispatch_cuda_activations(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      relu_forward_cuda(y.data<T>(), x.data<T>(), n, cuda::stream());
    }));
  }
  // Saved for backward: the output y, whose mask y > 0 is x > 0 (kernels/relu.h).
  // Saving y rather than x frees x, a batch norm's output in a ResNet, as soon
  // as the forward pass is done with it; y is saved anyway by the convolution
  // it feeds. y.detach(): a Node never holds its own output (framework/autograd.h).
  record(y, "relu", {x}, [y = y.detach(), n](const Tensor& dy, GradBuffers& d) {
    const GradBuffers::Target dx = d.write(0);  // every element is written
    if (!dx.tensor.defined()) return;
    if (y.device() == Device::CPU) {
      dispatch_cpu(y.dtype(), [&](auto tag) {
        using T = decltype(tag);
        relu_backward_cpu<T>(dx.tensor.data<T>(), dy.data<T>(), y.data<T>(), n, dx.accumulate);
      });
    } else {
      SKINMTL_CUDA_ONLY(dispatch_cuda_activations(y.dtype(), [&](auto tag) {
        using T = decltype(tag);
        relu_backward_cuda(dx.tensor.data<T>(), dy.data<T>(), y.data<T>(), n, dx.accumulate, cuda::stream());
      }));
    }
  });
  return y;
}

}  // namespace skinmtl
