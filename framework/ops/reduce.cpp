// sum and mean over all elements: see kernels/reduce.h.
#include "framework/autograd.h"
#include "framework/dispatch.h"
#include "framework/ops.h"
#include "framework/precision.h"
#include "kernels/reduce.h"

namespace skinmtl {

// y = scale * sum(x), shape (); backward dx += scale * dy.
static Tensor scaled_sum(const char* name, const Tensor& x_in, double scale) {
  // No bfloat16 kernel: bfloat16 inputs are widened (framework/precision.h).
  const Tensor x = as_f32(x_in);
  SKINMTL_CHECK(x.defined(), name << ": undefined input");
  Tensor y = Tensor::empty(Shape{}, x.dtype(), x.device());
  const int64_t n = x.numel();
  if (x.device() == Device::CPU) {
    dispatch_cpu(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      sum_forward_cpu<T>(y.data<T>(), x.data<T>(), n, (T)scale);
    });
  } else {
    require_cuda_f32(name, {&x});
    // Scratch for the stage-1 partial sums; released (to the caching
    // allocator) when this function returns, which is safe because all GPU
    // work runs in order on one stream.
    Tensor partials = Tensor::empty({sum_cuda_partials(n)}, DType::F32, Device::CUDA);
    SKINMTL_CUDA_ONLY(sum_forward_cuda(y.data<float>(), partials.data<float>(), x.data<float>(),
                                       n, (float)scale, cuda::stream()));
  }
  // Saved for backward: nothing but n and scale (x itself is not needed).
  record(y, name, {x}, [n, scale](const Tensor& dy, GradBuffers& d) {
    if (!d[0].defined()) return;
    if (dy.device() == Device::CPU) {
      dispatch_cpu(dy.dtype(), [&](auto tag) {
        using T = decltype(tag);
        sum_backward_cpu<T>(d[0].data<T>(), dy.data<T>(), n, (T)scale);
      });
    } else {
      SKINMTL_CUDA_ONLY(
          sum_backward_cuda(d[0].data<float>(), dy.data<float>(), n, (float)scale, cuda::stream()));
    }
  });
  return y;
}

Tensor sum(const Tensor& x) { return scaled_sum("sum", x, 1.0); }

Tensor mean(const Tensor& x) {
  SKINMTL_CHECK(x.defined() && x.numel() > 0,
                "mean: the mean of an empty tensor is undefined, got " << x.str());
  return scaled_sum("mean", x, 1.0 / (double)x.numel());
}

}  // namespace skinmtl
