// permute: see kernels/permute.h.
#include "framework/autograd.h"
#include "framework/dispatch.h"
#include "framework/ops.h"
#include "framework/precision.h"
#include "kernels/permute.h"

namespace skinmtl {

namespace {

// dst = src permuted by `perm` (src's shape), or dst += that when accumulating.
void permute_into(const Tensor& dst, const Tensor& src, const std::vector<int>& perm,
                  bool accumulate) {
  const PermuteGeometry g =
      make_permute_geometry(src.shape().data(), perm.data(), (int)perm.size());
  const int64_t n = src.numel();
  if (src.device() == Device::CPU) {
    dispatch_cpu(src.dtype(), [&](auto tag) {
      using T = decltype(tag);
      permute_copy_cpu<T>(dst.data<T>(), src.data<T>(), g, n, accumulate);
    });
  } else {
    SKINMTL_CUDA_ONLY(
        permute_copy_cuda(dst.data<float>(), src.data<float>(), g, n, accumulate, cuda::stream()));
  }
}

}  // namespace

Tensor permute(const Tensor& x_in, const std::vector<int>& dims) {
  // No bfloat16 kernel: bfloat16 inputs are widened (framework/precision.h).
  const Tensor x = as_f32(x_in);
  SKINMTL_CHECK(x.defined(), "permute: undefined input");
  const int d = x.ndim();
  SKINMTL_CHECK((int)dims.size() == d, "permute: needs one entry per dim of "
                                           << x.str() << ", got " << dims.size());
  SKINMTL_CHECK(d <= kPermuteMaxDims,
                "permute: at most " << kPermuteMaxDims << " dims, got " << x.str());
  // Negative entries count from the end, as elsewhere; each dim exactly once.
  std::vector<int> perm(d), inv(d, -1);
  for (int i = 0; i < d; ++i) {
    const int p = dims[i] < 0 ? dims[i] + d : dims[i];
    SKINMTL_CHECK(p >= 0 && p < d, "permute: dim " << dims[i] << " is out of range for "
                                                   << x.str());
    SKINMTL_CHECK(inv[p] < 0, "permute: dim " << dims[i] << " appears twice; dims must be a "
                                              << "permutation of 0 .. " << d - 1);
    perm[i] = p;
    inv[p] = i;
  }
  if (x.device() == Device::CUDA) require_cuda_f32("permute", {&x});
  Shape ys(d);
  for (int i = 0; i < d; ++i) ys[i] = x.size(perm[i]);
  Tensor y = Tensor::empty(ys, x.dtype(), x.device());
  permute_into(y, x, perm, false);
  // Saved for backward: the inverse permutation (dy has y's shape; permuting
  // it by inv gives x's shape and order).
  record(y, "permute", {x}, [inv](const Tensor& dy, GradBuffers& dx) {
    const GradBuffers::Target t = dx.write(0);  // the permutation writes every element
    if (t.tensor.defined()) permute_into(t.tensor, dy, inv, t.accumulate);
  });
  return y;
}

}  // namespace skinmtl
