// add and scale: see kernels/elementwise.h.
#include "framework/accumulate.h"
#include "framework/autograd.h"
#include "framework/dispatch.h"
#include "framework/ops.h"
#include "kernels/elementwise.h"

namespace skinmtl {

void accumulate(const Tensor& dst, const Tensor& src, double alpha) {
  check_same_device("accumulate", dst, src);
  SKINMTL_CHECK(dst.numel() == src.numel(),
                "accumulate: " << dst.str() << " += " << src.str() << " (element counts differ)");
  const int64_t n = dst.numel();
  if (dst.device() == Device::CPU) {
    dispatch_cpu(dst.dtype(), [&](auto tag) {
      using T = decltype(tag);
      axpy_cpu<T>(dst.data<T>(), src.data<T>(), (T)alpha, n);
    });
  } else {
    require_cuda_f32("accumulate", {&dst, &src});
    SKINMTL_CUDA_ONLY(axpy_cuda(dst.data<float>(), src.data<float>(), (float)alpha, n, cuda::stream()));
  }
}

Tensor add(const Tensor& a, const Tensor& b) {
  check_same_shape("add", a, b);
  Tensor y = Tensor::empty(a.shape(), a.dtype(), a.device());
  const int64_t n = a.numel();
  if (a.device() == Device::CPU) {
    dispatch_cpu(a.dtype(), [&](auto tag) {
      using T = decltype(tag);
      add_forward_cpu<T>(y.data<T>(), a.data<T>(), b.data<T>(), n);
    });
  } else {
    require_cuda_f32("add", {&a, &b});
    SKINMTL_CUDA_ONLY(add_forward_cuda(y.data<float>(), a.data<float>(), b.data<float>(), n,
                                       cuda::stream()));
  }
  record(y, "add", {a, b}, [](const Tensor& dy, std::vector<Tensor>& d) {
    if (d[0].defined()) accumulate(d[0], dy);
    if (d[1].defined()) accumulate(d[1], dy);
  });
  return y;
}

Tensor scale(const Tensor& x, double alpha) {
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  const int64_t n = x.numel();
  if (x.device() == Device::CPU) {
    dispatch_cpu(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      scale_forward_cpu<T>(y.data<T>(), x.data<T>(), (T)alpha, n);
    });
  } else {
    require_cuda_f32("scale", {&x});
    SKINMTL_CUDA_ONLY(
        scale_forward_cuda(y.data<float>(), x.data<float>(), (float)alpha, n, cuda::stream()));
  }
  record(y, "scale", {x}, [alpha](const Tensor& dy, std::vector<Tensor>& d) {
    if (d[0].defined()) accumulate(d[0], dy, alpha);
  });
  return y;
}

}  // namespace skinmtl
