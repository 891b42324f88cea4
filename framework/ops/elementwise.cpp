// add, scale and binarize: see kernels/elementwise.h.
#include <cmath>

#include "framework/accumulate.h"
#include "framework/autograd.h"
#include "framework/dispatch.h"
#include "framework/ops.h"
#include "framework/precision.h"
#include "kernels/cast.h"
#include "kernels/elementwise.h"

namespace skinmtl {

namespace {

// dst += alpha * src (add), or dst = alpha * src: accumulate() and
// write_gradient() both.
void add_or_assign(const Tensor& dst, const Tensor& src, double alpha, bool add) {
  const char* name = add ? "accumulate" : "write_gradient";
  const char* op = add ? " += " : " = ";
  SKINMTL_CHECK(dst.device() == src.device(), name << ": " << dst.str() << op << src.str() << " (devices differ)");
  SKINMTL_CHECK(dst.numel() == src.numel(), name << ": " << dst.str() << op << src.str() << " (element counts differ)");
  const int64_t n = dst.numel();
  const bool cpu = dst.device() == Device::CPU;
  const bool bf16_involved = dst.dtype() == DType::BF16 || src.dtype() == DType::BF16;
  if (bf16_involved) {
    // float32 <-> bfloat16 (a cast's gradient) or bfloat16 to bfloat16: the
    // sum in float32, rounded when dst is bfloat16 (kernels/cast.h).
    SKINMTL_CHECK(dst.dtype() != DType::F64 && src.dtype() != DType::F64,
                  name << ": " << dst.str() << op << src.str() << " (float64 and bfloat16)");
    SKINMTL_CHECK(add || alpha == 1.0, name << ": " << dst.str() << op << alpha << " * " << src.str()
                                            << " (a bfloat16 gradient is written unscaled)");
    const float a = (float)alpha;
    auto run = [&](auto* d, const auto* s) {
      if (add && cpu) convert_add_cpu(d, s, a, n);
      else if (add) SKINMTL_CUDA_ONLY(convert_add_cuda(d, s, a, n, cuda::stream()));
      else if (cpu) convert_cpu(d, s, n);
      else SKINMTL_CUDA_ONLY(convert_cuda(d, s, n, cuda::stream()));
    };
    if (dst.dtype() == DType::F32) run(dst.data<float>(), src.data<bf16>());
    else if (src.dtype() == DType::F32) run(dst.data<bf16>(), src.data<float>());
    else run(dst.data<bf16>(), src.data<bf16>());
    return;
  }
  check_same_device(name, dst, src);
  if (cpu) {
    // The assignment also for alpha = 1 (exact): the loop runs on every thread, a memcpy on one.
    dispatch_cpu(dst.dtype(), [&](auto tag) {
      using T = decltype(tag);
      if (add) axpy_cpu<T>(dst.data<T>(), src.data<T>(), (T)alpha, n);
      else scale_forward_cpu<T>(dst.data<T>(), src.data<T>(), (T)alpha, n);
    });
  } else {
    require_cuda_f32(name, {&dst, &src});
    if (add) SKINMTL_CUDA_ONLY(axpy_cuda(dst.data<float>(), src.data<float>(), (float)alpha, n, cuda::stream()));
    else if (alpha == 1.0) SKINMTL_CUDA_ONLY(cuda::memcpy_d2d(dst.raw_data(), src.raw_data(), dst.nbytes()));
    else SKINMTL_CUDA_ONLY(scale_forward_cuda(dst.data<float>(), src.data<float>(), (float)alpha, n, cuda::stream()));
  }
}

}  // namespace

void accumulate(const Tensor& dst, const Tensor& src, double alpha) { add_or_assign(dst, src, alpha, true); }

void write_gradient(const GradBuffers::Target& target, const Tensor& src, double alpha) {
  if (target.tensor.defined()) add_or_assign(target.tensor, src, alpha, target.accumulate);
}

Tensor add(const Tensor& a_in, const Tensor& b_in) {
  // float32 + bfloat16: the sum in float32 (PyTorch's type promotion).
  const bool mixed = a_in.defined() && b_in.defined() && a_in.dtype() != b_in.dtype();
  const Tensor a = mixed ? as_f32(a_in) : a_in, b = mixed ? as_f32(b_in) : b_in;
  check_same_shape("add", a, b);
  if (through_f32(a)) return cast(add(as_f32(a), as_f32(b)), DType::BF16);
  Tensor y = Tensor::empty(a.shape(), a.dtype(), a.device());
  const int64_t n = a.numel();
  if (a.device() == Device::CPU) {
    dispatch_cpu(a.dtype(), [&](auto tag) {
      using T = decltype(tag);
      add_forward_cpu<T>(y.data<T>(), a.data<T>(), b.data<T>(), n);
    });
  } else {
    SKINMTL_CUDA_ONLY(dispatch_cuda_activations(a.dtype(), [&](auto tag) {
      using T = decltype(tag);
      add_forward_cuda(y.data<T>(), a.data<T>(), b.data<T>(), n, cuda::stream());
    }));
  }
  // dy goes to both inputs unchanged: copied into a buffer that holds
  // nothing yet, added to one that does (GradBuffers::write).
  record(y, "add", {a, b}, [](const Tensor& dy, GradBuffers& d) {
    write_gradient(d.write(0), dy);
    write_gradient(d.write(1), dy);
  });
  return y;
}

Tensor scale(const Tensor& x_in, double alpha) {
  const Tensor x = as_f32(x_in);  // no bfloat16 kernel (framework/precision.h)
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
  record(y, "scale", {x}, [alpha](const Tensor& dy, GradBuffers& d) {
    write_gradient(d.write(0), dy, alpha);
  });
  return y;
}

// Not recorded: the result is a constant (its gradient would be 0 almost everywhere).
Tensor binarize(const Tensor& x, double threshold) {
  SKINMTL_CHECK(x.defined(), "binarize: x is undefined");
  SKINMTL_CHECK(std::isfinite(threshold), "binarize: the threshold must be finite, got " << threshold);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  const int64_t n = x.numel();
  if (x.device() == Device::CPU) {
    dispatch_cpu(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      binarize_cpu<T>(y.data<T>(), x.data<T>(), (T)threshold, n);
    });
  } else {
    require_cuda_f32("binarize", {&x});
    SKINMTL_CUDA_ONLY(binarize_cuda(y.data<float>(), x.data<float>(), (float)threshold, n, cuda::stream()));
  }
  return y;
}

}  // namespace skinmtl
