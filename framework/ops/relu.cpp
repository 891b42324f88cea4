// relu: see kernels/relu.h.
#include "framework/autograd.h"
#include "framework/dispatch.h"
#include "framework/ops.h"
#include "kernels/relu.h"

namespace skinmtl {

Tensor relu(const Tensor& x) {
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  const int64_t n = x.numel();
  if (x.device() == Device::CPU) {
    dispatch_cpu(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      relu_forward_cpu<T>(y.data<T>(), x.data<T>(), n);
    });
  } else {
    require_cuda_f32("relu", {&x});
    SKINMTL_CUDA_ONLY(relu_forward_cuda(y.data<float>(), x.data<float>(), n, cuda::stream()));
  }
  // Saved for backward: x (the node holds it as its input).
  record(y, "relu", {x}, [x, n](const Tensor& dy, std::vector<Tensor>& d) {
    if (!d[0].defined()) return;
    if (x.device() == Device::CPU) {
      dispatch_cpu(x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        relu_backward_cpu<T>(d[0].data<T>(), dy.data<T>(), x.data<T>(), n);
      });
    } else {
      SKINMTL_CUDA_ONLY(relu_backward_cuda(d[0].data<float>(), dy.data<float>(), x.data<float>(),
                                           n, cuda::stream()));
    }
  });
  return y;
}

}  // namespace skinmtl
