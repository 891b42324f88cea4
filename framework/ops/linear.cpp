// linear: see kernels/linear.h.
#include "framework/autograd.h"
#include "framework/dispatch.h"
#include "framework/ops.h"
#include "framework/precision.h"
#include "kernels/gemm.h"
#include "kernels/linear.h"

namespace skinmtl {

const char* blas_kernels_name() { return gemm_cpu_kernels_name(); }

namespace {

struct LinearShape {
  int64_t N, I, O;
};

// x (N, I), w (O, I), bias (O) or undefined, all on one device, of one
// dtype but for a bfloat16 layer's bias, which is float32.
LinearShape linear_shape(const Tensor& x, const Tensor& w, const Tensor& bias) {
  SKINMTL_CHECK(x.defined() && w.defined(), "linear: x and w must be defined");
  SKINMTL_CHECK(x.ndim() == 2, "linear: x must be (N, I), got " << x.str());
  SKINMTL_CHECK(w.ndim() == 2, "linear: w must be (O, I), got " << w.str());
  check_same_device("linear (x, w)", x, w);
  const int64_t N = x.size(0), I = x.size(1), O = w.size(0);
  SKINMTL_CHECK(w.size(1) == I, "linear: x " << shape_str(x.shape()) << " has " << I
                                              << " features but w " << shape_str(w.shape())
                                              << " expects " << w.size(1));
  if (bias.defined()) {
    SKINMTL_CHECK(bias.device() == x.device() &&
                      (bias.dtype() == x.dtype() || (x.dtype() == DType::BF16 && bias.dtype() == DType::F32)),
                  "linear: the bias must be on x's device and of its dtype (float32 for a bfloat16 x), got x "
                      << x.str() << " and bias " << bias.str());
    SKINMTL_CHECK(bias.ndim() == 1 && bias.size(0) == O,
                  "linear: bias must be (" << O << ",) for w " << shape_str(w.shape()) << ", got "
                                           << bias.str());
  }
  return {N, I, O};
}

// x, w and bias of one dtype (float32, or float64 on the CPU).
Tensor linear_same_dtype(const Tensor& x, const Tensor& w, const Tensor& bias) {
  const auto [N, I, O] = linear_shape(x, w, bias);
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
    // Each gradient is written whole: added into where its buffer holds a sum
    // already (a parameter's), written where it holds nothing yet.
    const GradBuffers::Target dx = d.write(0), dw = d.write(1), db = d.write(2);
    const LinearAccumulate acc{dx.accumulate, dw.accumulate, db.accumulate};
    if (x.device() == Device::CPU) {
      dispatch_cpu(x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        linear_backward_cpu<T>(data_or_null<T>(dx.tensor), data_or_null<T>(dw.tensor), data_or_null<T>(db.tensor),
                               dy.data<T>(), x.data<T>(), w.data<T>(), N, I, O, acc);
      });
    } else {
      SKINMTL_CUDA_ONLY(linear_backward_cuda(data_or_null<float>(dx.tensor), data_or_null<float>(dw.tensor),
                                             data_or_null<float>(db.tensor), dy.data<float>(), x.data<float>(),
                                             w.data<float>(), N, I, O, acc, cuda::stream()));
    }
  });
  return y;
}

// In bfloat16 (framework/precision.h): x and w rounded to bfloat16 by
// recorded casts (so w's gradient reaches the float32 parameter through its
// cast), the bias float32, y bfloat16.
Tensor linear_bf16(const Tensor& x_in, const Tensor& w_in, const Tensor& bias_in) {
  const Tensor x = cast(x_in, DType::BF16), w = cast(w_in, DType::BF16), bias = as_f32(bias_in);
  const auto [N, I, O] = linear_shape(x, w, bias);  // the GPU's checks, on the CPU too
  // No bfloat16 arithmetic on the CPU: widen, multiply in float32, round once
  // (through_f32), the reference for the GPU's kernel.
  if (x.device() == Device::CPU) return cast(linear_same_dtype(as_f32(x), as_f32(w), bias), DType::BF16);
  Tensor y = Tensor::empty({N, O}, DType::BF16, x.device());
  const Tensor acc = Tensor::empty({N, O}, DType::F32, x.device());  // x w^T before the bias and the rounding
  SKINMTL_CUDA_ONLY(linear_forward_bf16_cuda(y.data<bf16>(), acc.data<float>(), x.data<bf16>(), w.data<bf16>(),
                                             data_or_null<float>(bias), N, I, O, cuda::stream()));
  record(y, "linear", {x, w, bias}, [x, w, N, I, O](const Tensor& dy, GradBuffers& d) {
    // x's and w's gradients are their casts' (buffers that hold nothing yet):
    // written by the GEMMs with beta = 0 rather than zeroed and added into.
    const GradBuffers::Target dx = d.write(0), dw = d.write(1), db = d.write(2);
    const LinearAccumulate acc{dx.accumulate, dw.accumulate, db.accumulate};
    SKINMTL_CUDA_ONLY(linear_backward_bf16_cuda(data_or_null<bf16>(dx.tensor), data_or_null<bf16>(dw.tensor),
                                                data_or_null<float>(db.tensor), dy.data<bf16>(), x.data<bf16>(),
                                                w.data<bf16>(), N, I, O, acc, cuda::stream()));
  });
  return y;
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias) {
  if (computes_in_bf16(x)) return linear_bf16(x, w, bias);
  // Otherwise bfloat16 inputs (a bfloat16 w or bias beside a float32 x) are
  // widened.
  return linear_same_dtype(as_f32(x), as_f32(w), as_f32(bias));
}

}  // namespace skinmtl
