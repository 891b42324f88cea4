// mul: see kernels/mul.h.
#include "framework/autograd.h"
#include "framework/dispatch.h"
#include "framework/ops.h"
#include "framework/precision.h"
#include "kernels/mul.h"

namespace skinmtl {

namespace {

// dx += dy * other.
void mul_backward(const Tensor& dx, const Tensor& dy, const Tensor& other) {
  const int64_t n = dx.numel();
  if (dx.device() == Device::CPU) {
    dispatch_cpu(dx.dtype(), [&](auto tag) {
      using T = decltype(tag);
      mul_backward_cpu<T>(dx.data<T>(), dy.data<T>(), other.data<T>(), n);
    });
  } else {
    SKINMTL_CUDA_ONLY(mul_backward_cuda(dx.data<float>(), dy.data<float>(), other.data<float>(),
                                        n, cuda::stream()));
  }
}

}  // namespace

Tensor mul(const Tensor& a_in, const Tensor& b_in) {
  // No bfloat16 kernel: bfloat16 inputs are widened (framework/precision.h).
  const Tensor a = as_f32(a_in);
  const Tensor b = as_f32(b_in);
  SKINMTL_CHECK(a.defined() && b.defined(), "mul: undefined input");
  check_same_shape("mul", a, b);
  Tensor y = Tensor::empty(a.shape(), a.dtype(), a.device());
  const int64_t n = a.numel();
  if (a.device() == Device::CPU) {
    dispatch_cpu(a.dtype(), [&](auto tag) {
      using T = decltype(tag);
      mul_forward_cpu<T>(y.data<T>(), a.data<T>(), b.data<T>(), n);
    });
  } else {
    require_cuda_f32("mul", {&a, &b});
    SKINMTL_CUDA_ONLY(
        mul_forward_cuda(y.data<float>(), a.data<float>(), b.data<float>(), n, cuda::stream()));
  }
  // Saved for backward: a and b.
  record(y, "mul", {a, b}, [a, b](const Tensor& dy, GradBuffers& d) {
    if (d[0].defined()) mul_backward(d[0], dy, b);
    if (d[1].defined()) mul_backward(d[1], dy, a);
  });
  return y;
}

}  // namespace skinmtl
