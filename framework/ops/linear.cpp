// linear: see kernels/linear.h.
#include "framework/autograd.h"
#include "framework/dispatch.h"
#include "framework/ops.h"
#include "framework/precision.h"
#include "kernels/gemm.h"
#include "kernels/linear.h"

namespace skinmtl {

const char* blas_kernels_name() { return gemm_cpu_kernels_name(); }

Tensor linear(const Tensor& x_in, const Tensor& w_in, const Tensor& bias_in) {
  // No bfloat16 kernel: bfloat16 inputs are widened (framework/precision.h).
  const Tensor x = as_f32(x_in);
  const Tensor w = as_f32(w_in);
  const Tensor bias = as_f32(bias_in);
  SKINMTL_CHECK(x.defined() && w.defined(), "linear: x and w must be defined");
  SKINMTL_CHECK(x.ndim() == 2, "linear: x must be (N, I), got " << x.str());
  SKINMTL_CHECK(w.ndim() == 2, "linear: w must be (O, I), got " << w.str());
  check_same_device("linear (x, w)", x, w);
  const int64_t N = x.size(0), I = x.size(1), O = w.size(0);
  SKINMTL_CHECK(w.size(1) == I, "linear: x " << shape_str(x.shape()) << " has " << I
                                              << " features but w " << shape_str(w.shape())
                                              << " expects " << w.size(1));
  if (bias.defined()) {
    check_same_device("linear (x, bias)", x, bias);
    SKINMTL_CHECK(bias.ndim() == 1 && bias.size(0) == O,
                  "linear: bias must be (" << O << ",) for w " << shape_str(w.shape()) << ", got "
                                           << bias.str());
  }
  Tensor y = Tensor::empty({N, O}, x.dtype(), x.device());
  if (x.device() == Device::CPU) {
    dispatch_cpu(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      linear_forward_cpu<T>(y.data<T>(), x.data<T>(), w.data<T>(),
                            data_or_null<T>(bias), N, I, O);
    });
  } else {
    require_cuda_f32("linear", {&x, &w, &bias});
    SKINMTL_CUDA_ONLY(linear_forward_cuda(y.data<float>(), x.data<float>(), w.data<float>(),
                                          data_or_null<float>(bias), N, I, O,
                                          cuda::stream()));
  }
  // Saved for backward: x and w (the lambda's copies of the handles share
  // their storage).
  record(y, "linear", {x, w, bias}, [x, w, N, I, O](const Tensor& dy, GradBuffers& d) {
    if (x.device() == Device::CPU) {
      dispatch_cpu(x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        linear_backward_cpu<T>(data_or_null<T>(d[0]), data_or_null<T>(d[1]), data_or_null<T>(d[2]), dy.data<T>(),
                               x.data<T>(), w.data<T>(), N, I, O);
      });
    } else {
      SKINMTL_CUDA_ONLY(linear_backward_cuda(data_or_null<float>(d[0]), data_or_null<float>(d[1]),
                                             data_or_null<float>(d[2]), dy.data<float>(), x.data<float>(),
                                             w.data<float>(), N, I, O, cuda::stream()));
    }
  });
  return y;
}

}  // namespace skinmtl
