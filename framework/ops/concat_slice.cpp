// concat and slice: copies of (outer, len, inner) blocks, see kernels/copy_strided.h.
#include "framework/autograd.h"
#include "framework/dispatch.h"
#include "framework/ops.h"
#include "framework/precision.h"
#include "kernels/copy_strided.h"

namespace skinmtl {

namespace {

// `dim` counted from the end when negative; checked against ndim.
int normalize_dim(const char* op, int dim, const Tensor& x) {
  const int nd = x.ndim();
  const int d = dim < 0 ? dim + nd : dim;
  SKINMTL_CHECK(d >= 0 && d < nd,
                op << ": dim " << dim << " is out of range for a tensor of shape "
                   << shape_str(x.shape()) << " (valid: " << -nd << " .. " << nd - 1 << ")");
  return d;
}

// outer: the product of the sizes before d; inner: of the sizes after d.
void outer_inner(const Shape& s, int d, int64_t* outer, int64_t* inner) {
  *outer = 1;
  *inner = 1;
  for (int k = 0; k < d; ++k) *outer *= s[k];
  for (int k = d + 1; k < (int)s.size(); ++k) *inner *= s[k];
}

// The one call site of both copy_block kernels: picks CPU/CUDA and dtype.
void copy_block(const Tensor& dst, int64_t dst_dim_len, int64_t dst_offset, const Tensor& src,
                int64_t src_dim_len, int64_t src_offset, int64_t outer, int64_t len,
                int64_t inner, bool accumulate) {
  if (dst.device() == Device::CPU) {
    dispatch_cpu(dst.dtype(), [&](auto tag) {
      using T = decltype(tag);
      copy_block_cpu<T>(dst.data<T>(), dst_dim_len, dst_offset, src.data<T>(), src_dim_len,
                        src_offset, outer, len, inner, accumulate);
    });
  } else {
    SKINMTL_CUDA_ONLY(dispatch_cuda_activations(dst.dtype(), [&](auto tag) {
      using T = decltype(tag);
      copy_block_cuda(dst.data<T>(), dst_dim_len, dst_offset, src.data<T>(), src_dim_len, src_offset, outer,
                      len, inner, accumulate, cuda::stream());
    }));
  }
}

}  // namespace

Tensor concat(const std::vector<Tensor>& xs, int dim) {
  // bfloat16 inputs (framework/precision.h): all bfloat16 gives bfloat16 (the
  // GPU's copy kernels take it; the CPU goes through float32), mixed with
  // float32 gives float32.
  bool any_bf16 = false, all_bf16 = !xs.empty();
  for (const Tensor& t : xs) {
    const bool b = t.defined() && t.dtype() == DType::BF16;
    any_bf16 |= b;
    all_bf16 &= b;
  }
  if (any_bf16 && !(all_bf16 && xs[0].device() == Device::CUDA)) {
    std::vector<Tensor> wide;
    for (const Tensor& t : xs) wide.push_back(as_f32(t));
    const Tensor y = concat(wide, dim);
    return all_bf16 ? cast(y, DType::BF16) : y;
  }
  SKINMTL_CHECK(!xs.empty(), "concat: needs at least one tensor");
  for (size_t k = 0; k < xs.size(); ++k)
    SKINMTL_CHECK(xs[k].defined(), "concat: tensor " << k << " is undefined");
  const Tensor& x0 = xs[0];
  const int d = normalize_dim("concat", dim, x0);
  Shape ys = x0.shape();
  ys[d] = 0;
  std::vector<int64_t> lens;  // each input's length along d
  for (size_t k = 0; k < xs.size(); ++k) {
    const Tensor& x = xs[k];
    check_same_device("concat", x0, x);
    bool same = x.ndim() == x0.ndim();
    for (int j = 0; same && j < x0.ndim(); ++j) same = j == d || x.size(j) == x0.size(j);
    SKINMTL_CHECK(same, "concat: along dim " << dim << " all tensors must have the same shape "
                                             << "except in that dim; tensor 0 is "
                                             << shape_str(x0.shape()) << ", tensor " << k
                                             << " is " << shape_str(x.shape()));
    lens.push_back(x.size(d));
    ys[d] += x.size(d);
  }
  int64_t outer, inner;
  outer_inner(ys, d, &outer, &inner);
  const int64_t dy_len = ys[d];

  Tensor y = Tensor::empty(ys, x0.dtype(), x0.device());
  int64_t start = 0;
  for (size_t k = 0; k < xs.size(); ++k) {
    copy_block(y, dy_len, start, xs[k], lens[k], 0, outer, lens[k], inner, false);
    start += lens[k];
  }
  // Saved for backward: the lengths along d (the gradient of input k is the
  // slice [start_k, start_k + len_k) of dy).
  record(y, "concat", xs, [lens, outer, inner, dy_len](const Tensor& dy, GradBuffers& dx) {
    int64_t start = 0;
    for (size_t k = 0; k < lens.size(); ++k) {
      const GradBuffers::Target t = dx.write(k);  // the copy writes every element
      if (t.tensor.defined())
        copy_block(t.tensor, lens[k], 0, dy, dy_len, start, outer, lens[k], inner, t.accumulate);
      start += lens[k];
    }
  });
  return y;
}

Tensor slice(const Tensor& x, int dim, int64_t start, int64_t end) {
  // bfloat16: the GPU's copy kernels take it; the CPU goes through float32
  // (framework/precision.h).
  if (through_f32(x)) return cast(slice(as_f32(x), dim, start, end), DType::BF16);
  SKINMTL_CHECK(x.defined(), "slice: undefined input");
  const int d = normalize_dim("slice", dim, x);
  const int64_t x_len = x.size(d);
  SKINMTL_CHECK(0 <= start && start <= end && end <= x_len,
                "slice: [" << start << ", " << end << ") is not a range within dim " << dim
                           << " of length " << x_len << " (need 0 <= start <= end <= " << x_len
                           << "), input " << x.str());
  Shape ys = x.shape();
  ys[d] = end - start;
  const int64_t len = end - start;
  int64_t outer, inner;
  outer_inner(ys, d, &outer, &inner);

  Tensor y = Tensor::empty(ys, x.dtype(), x.device());
  copy_block(y, len, 0, x, x_len, start, outer, len, inner, false);
  // Saved for backward: the sizes (dy goes back into rows [start, end) of dx;
  // the rest of dx receives nothing).
  record(y, "slice", {x}, [x_len, start, len, outer, inner](const Tensor& dy, GradBuffers& dx) {
    if (dx[0].defined()) copy_block(dx[0], x_len, start, dy, len, 0, outer, len, inner, true);
  });
  return y;
}

}  // namespace skinmtl
