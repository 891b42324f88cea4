// upsample_nearest: see kernels/upsample_nearest.h.
#include "framework/autograd.h"
#include "framework/dispatch.h"
#include "framework/ops.h"
#include "framework/precision.h"
#include "kernels/upsample_nearest.h"

namespace skinmtl {

Tensor upsample_nearest(const Tensor& x, int64_t out_h, int64_t out_w) {
  // bfloat16: the GPU's kernels take it; the CPU goes through float32
  // (framework/precision.h).
  if (through_f32(x)) return cast(upsample_nearest(as_f32(x), out_h, out_w), DType::BF16);
  SKINMTL_CHECK(x.defined() && x.ndim() == 4,
                "upsample_nearest: x must be (N, C, H, W), got " << (x.defined() ? x.str() : "undefined"));
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  SKINMTL_CHECK(H >= 1 && W >= 1,
                "upsample_nearest: x needs H, W >= 1 (no pixel to copy from), got " << x.str());
  SKINMTL_CHECK(out_h >= 1 && out_w >= 1, "upsample_nearest: the output size must be >= 1, got "
                                              << out_h << " x " << out_w);
  const int64_t NC = N * C;
  Tensor y = Tensor::empty({N, C, out_h, out_w}, x.dtype(), x.device());
  if (x.device() == Device::CPU) {
    dispatch_cpu(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      upsample_nearest_forward_cpu<T>(y.data<T>(), x.data<T>(), NC, H, W, out_h, out_w);
    });
  } else {
    SKINMTL_CUDA_ONLY(dispatch_cuda_activations(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      upsample_nearest_forward_cuda(y.data<T>(), x.data<T>(), NC, H, W, out_h, out_w, cuda::stream());
    }));
  }
  // Saved for backward: the sizes only.
  record(y, "upsample_nearest", {x},
         [NC, H, W, out_h, out_w](const Tensor& dy, GradBuffers& d) {
           const GradBuffers::Target dx = d.write(0);  // the gather writes every element
           if (!dx.tensor.defined()) return;
           if (dy.device() == Device::CPU) {
             dispatch_cpu(dy.dtype(), [&](auto tag) {
               using T = decltype(tag);
               upsample_nearest_backward_cpu<T>(dx.tensor.data<T>(), dy.data<T>(), NC, H, W, out_h,
                                                out_w, dx.accumulate);
             });
           } else {
             SKINMTL_CUDA_ONLY(dispatch_cuda_activations(dy.dtype(), [&](auto tag) {
               using T = decltype(tag);
               upsample_nearest_backward_cuda(dx.tensor.data<T>(), dy.data<T>(), NC, H, W, out_h, out_w,
                                              dx.accumulate, cuda::stream());
             }));
           }
         });
  return y;
}

}  // namespace skinmtl
