// max_pool2d, avg_pool2d, global_avg_pool2d: see kernels/pool2d.h.
#include "framework/autograd.h"
#include "framework/dispatch.h"
#include "framework/ops.h"
#include "framework/precision.h"
#include "kernels/pool2d.h"

namespace skinmtl {

namespace {

void check_nchw(const char* op, const Tensor& x) {
  SKINMTL_CHECK(x.defined() && x.ndim() == 4,
                op << ": input must be (N, C, H, W), got "
                   << (x.defined() ? x.str() : std::string("undefined")));
  SKINMTL_CHECK(x.size(2) > 0 && x.size(3) > 0, op << ": empty spatial plane in " << x.str());
}

// Checks the parameters against x and returns the geometry of the call.
Pool2dGeom pool_geometry(const char* op, const Tensor& x, const Pool2dParams& p) {
  check_nchw(op, x);
  SKINMTL_CHECK(p.kernel_h > 0 && p.kernel_w > 0 && p.stride_h > 0 && p.stride_w > 0,
                op << ": kernel and stride must be positive, got kernel " << p.kernel_h << "x"
                   << p.kernel_w << ", stride " << p.stride_h << "x" << p.stride_w);
  // PyTorch's rule; it also guarantees that no window lies entirely in the padding.
  SKINMTL_CHECK(p.pad_h >= 0 && p.pad_w >= 0 && p.pad_h <= p.kernel_h / 2 &&
                    p.pad_w <= p.kernel_w / 2,
                op << ": padding must be in [0, kernel / 2], got pad " << p.pad_h << "x" << p.pad_w
                   << " for kernel " << p.kernel_h << "x" << p.kernel_w);
  Pool2dGeom g;
  g.N = x.size(0);
  g.C = x.size(1);
  g.H = x.size(2);
  g.W = x.size(3);
  SKINMTL_CHECK(g.H + 2 * p.pad_h >= p.kernel_h && g.W + 2 * p.pad_w >= p.kernel_w,
                op << ": kernel " << p.kernel_h << "x" << p.kernel_w << " larger than the padded input "
                   << x.str() << " (pad " << p.pad_h << "x" << p.pad_w << ")");
  g.P = pool2d_out_size(g.H, p.kernel_h, p.stride_h, p.pad_h, p.ceil_mode);
  g.Q = pool2d_out_size(g.W, p.kernel_w, p.stride_w, p.pad_w, p.ceil_mode);
  g.kernel_h = p.kernel_h;
  g.kernel_w = p.kernel_w;
  g.stride_h = p.stride_h;
  g.stride_w = p.stride_w;
  g.pad_h = p.pad_h;
  g.pad_w = p.pad_w;
  return g;
}

}  // namespace

Tensor max_pool2d(const Tensor& x, const Pool2dParams& p) {
  // bfloat16: the GPU's kernels take it; the CPU goes through float32
  // (framework/precision.h).
  if (through_f32(x)) return cast(max_pool2d(as_f32(x), p), DType::BF16);
  const Pool2dGeom g = pool_geometry("max_pool2d", x, p);
  // argmax holds in-plane indices as floats: exact below 2^24.
  SKINMTL_CHECK(g.H * g.W <= (int64_t(1) << 24),
                "max_pool2d: planes above 2^24 elements are not supported, got " << x.str());
  Tensor y = Tensor::empty({g.N, g.C, g.P, g.Q}, x.dtype(), x.device());
  // float32 for bfloat16 input (whose 8 significant bits could not hold an index).
  Tensor argmax = Tensor::empty({g.N, g.C, g.P, g.Q}, x.dtype() == DType::BF16 ? DType::F32 : x.dtype(),
                                x.device());
  if (x.device() == Device::CPU) {
    dispatch_cpu(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      max_pool2d_forward_cpu<T>(y.data<T>(), argmax.data<T>(), x.data<T>(), g);
    });
  } else {
    SKINMTL_CUDA_ONLY(dispatch_cuda_activations(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      max_pool2d_forward_cuda(y.data<T>(), argmax.data<float>(), x.data<T>(), g, cuda::stream());
    }));
  }
  // Saved for backward: argmax (x itself is not needed).
  record(y, "max_pool2d", {x}, [argmax, g](const Tensor& dy, GradBuffers& d) {
    const GradBuffers::Target dx = d.write(0);  // every element is written (0 where no window chose it)
    if (!dx.tensor.defined()) return;
    if (dy.device() == Device::CPU) {
      dispatch_cpu(dy.dtype(), [&](auto tag) {
        using T = decltype(tag);
        max_pool2d_backward_cpu<T>(dx.tensor.data<T>(), dy.data<T>(), argmax.data<T>(), g, dx.accumulate);
      });
    } else {
      SKINMTL_CUDA_ONLY(dispatch_cuda_activations(dy.dtype(), [&](auto tag) {
        using T = decltype(tag);
        max_pool2d_backward_cuda(dx.tensor.data<T>(), dy.data<T>(), argmax.data<float>(), g, dx.accumulate,
                                 cuda::stream());
      }));
    }
  });
  return y;
}

Tensor avg_pool2d(const Tensor& x, const Pool2dParams& p) {
  // bfloat16 in, bfloat16 out, computed through float32 (framework/precision.h).
  if (through_f32(x, false)) return cast(avg_pool2d(as_f32(x), p), DType::BF16);
  const Pool2dGeom g = pool_geometry("avg_pool2d", x, p);
  const bool cip = p.count_include_pad;
  Tensor y = Tensor::empty({g.N, g.C, g.P, g.Q}, x.dtype(), x.device());
  if (x.device() == Device::CPU) {
    dispatch_cpu(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      avg_pool2d_forward_cpu<T>(y.data<T>(), x.data<T>(), g, cip);
    });
  } else {
    require_cuda_f32("avg_pool2d", {&x});
    SKINMTL_CUDA_ONLY(
        avg_pool2d_forward_cuda(y.data<float>(), x.data<float>(), g, cip, cuda::stream()));
  }
  // Nothing saved: the gradient depends on the geometry only.
  record(y, "avg_pool2d", {x}, [g, cip](const Tensor& dy, GradBuffers& d) {
    const GradBuffers::Target dx = d.write(0);  // every element is written (0 outside every window)
    if (!dx.tensor.defined()) return;
    if (dy.device() == Device::CPU) {
      dispatch_cpu(dy.dtype(), [&](auto tag) {
        using T = decltype(tag);
        avg_pool2d_backward_cpu<T>(dx.tensor.data<T>(), dy.data<T>(), g, cip, dx.accumulate);
      });
    } else {
      SKINMTL_CUDA_ONLY(avg_pool2d_backward_cuda(dx.tensor.data<float>(), dy.data<float>(), g, cip, dx.accumulate,
                                                 cuda::stream()));
    }
  });
  return y;
}

Tensor global_avg_pool2d(const Tensor& x) {
  // bfloat16: the GPU's kernels take it; the CPU goes through float32.
  if (through_f32(x)) return cast(global_avg_pool2d(as_f32(x)), DType::BF16);
  check_nchw("global_avg_pool2d", x);
  const int64_t N = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
  Tensor y = Tensor::empty({N, C}, x.dtype(), x.device());
  if (x.device() == Device::CPU) {
    dispatch_cpu(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      global_avg_pool2d_forward_cpu<T>(y.data<T>(), x.data<T>(), N * C, HW);
    });
  } else {
    SKINMTL_CUDA_ONLY(dispatch_cuda_activations(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      global_avg_pool2d_forward_cuda(y.data<T>(), x.data<T>(), N * C, HW, cuda::stream());
    }));
  }
  record(y, "global_avg_pool2d", {x}, [N, C, HW](const Tensor& dy, GradBuffers& d) {
    const GradBuffers::Target dx = d.write(0);  // every element is written
    if (!dx.tensor.defined()) return;
    if (dy.device() == Device::CPU) {
      dispatch_cpu(dy.dtype(), [&](auto tag) {
        using T = decltype(tag);
        global_avg_pool2d_backward_cpu<T>(dx.tensor.data<T>(), dy.data<T>(), N * C, HW, dx.accumulate);
      });
    } else {
      SKINMTL_CUDA_ONLY(dispatch_cuda_activations(dy.dtype(), [&](auto tag) {
        using T = decltype(tag);
        global_avg_pool2d_backward_cuda(dx.tensor.data<T>(), dy.data<T>(), N * C, HW, dx.accumulate,
                                        cuda::stream());
      }));
    }
  });
  return y;
}

}  // namespace skinmtl
