// conv2d: see kernels/conv2d.h.
//
// CUDA backend. ConvBackend::Auto and ConvBackend::CuDNN run cuDNN through its
// legacy API; ConvBackend::CuDNNGraph runs cuDNN through its graph API (the
// same rules for choosing engines; kernels/cuda/conv2d_cudnn_graph.cu);
// ConvBackend::Im2col runs the im2col + cuBLAS kernels (slower, but short
// enough to read, and a cross-check for cuDNN). The initial choice comes from
// the environment variable SKINMTL_CONV_BACKEND (auto | cudnn | cudnn-graph |
// im2col), read
// once, on the first conv2d / conv_backend() call; without it the choice is
// Auto. set_conv_backend() overrides it for the rest of the process. A
// convolution's backward runs on the backend its forward ran on, even if the
// setting changed in between. CPU tensors always use the CPU im2col kernels.
//
// Scratch memory (the col buffer of the im2col paths, the cuDNN workspace) is
// a Tensor allocated here, from the caching allocator, and handed to the
// kernels as a raw pointer. It goes back to the allocator when the op returns,
// possibly before the GPU has finished with it; that is safe because all CUDA
// work runs on one stream, so whoever gets the block next is queued after us
// (framework/allocator.h, "Stream safety").
//
// bfloat16 (framework/precision.h): with autocast on, or for a bfloat16
// input, x and w are cast to bfloat16 and the bias stays float32; cuDNN
// computes it on the GPU, the CPU (and the GPU's im2col backend) through
// float32.
#include <cstdlib>
#include <cstring>
#include <limits>

#include "framework/autograd.h"
#include "framework/dispatch.h"
#include "framework/ops.h"
#include "framework/ops/bias_act.h"
#include "framework/precision.h"
#include "kernels/conv2d.h"
#include "kernels/fold_batch_norm.h"

namespace skinmtl {

namespace {

ConvBackend backend_from_env() {
  const char* v = std::getenv("SKINMTL_CONV_BACKEND");
  if (v == nullptr || *v == '\0' || std::strcmp(v, "auto") == 0) return ConvBackend::Auto;
  if (std::strcmp(v, "cudnn") == 0) return ConvBackend::CuDNN;
  if (std::strcmp(v, "cudnn-graph") == 0) return ConvBackend::CuDNNGraph;
  if (std::strcmp(v, "im2col") == 0) return ConvBackend::Im2col;
  SKINMTL_FAIL("SKINMTL_CONV_BACKEND must be auto, cudnn, cudnn-graph or im2col, got '" << v << "'");
}

// The process-wide setting; its initialiser reads the environment once.
ConvBackend& backend_setting() {
  static ConvBackend b = backend_from_env();
  return b;
}

// A scratch Tensor of `elems` elements, or an undefined Tensor (a null
// pointer for the kernel) when none is needed.
Tensor scratch(int64_t elems, DType dtype, Device device) {
  return elems > 0 ? Tensor::empty({elems}, dtype, device) : Tensor();
}
// The float count that holds `bytes` bytes (for the cuDNN workspace; unused in
// a CPU-only build, where SKINMTL_CUDA_ONLY drops its callers).
[[maybe_unused]] int64_t floats_for(size_t bytes) {
  return (int64_t)((bytes + sizeof(float) - 1) / sizeof(float));
}
// cuDNN's data type for x's dtype (used only where SKINMTL_CUDA_ONLY keeps it).
[[maybe_unused]] CudnnData cudnn_data(const Tensor& x) {
  return x.dtype() == DType::BF16 ? CudnnData::BF16 : CudnnData::F32;
}

std::string params_str(const Conv2dParams& p) {
  std::ostringstream os;
  os << "stride (" << p.stride_h << ", " << p.stride_w << "), padding (" << p.pad_h << ", "
     << p.pad_w << "), dilation (" << p.dilation_h << ", " << p.dilation_w << ")";
  return os.str();
}

// Checks everything and returns the sizes of the convolution. x and w must
// have one dtype, except for conv2d_bn in bfloat16 (`same_dtype` false: x
// bfloat16 or float32, w float32, which it folds and then rounds).
Conv2dShape conv2d_shape(const Tensor& x, const Tensor& w, const Tensor& bias,
                         const Conv2dParams& p, bool same_dtype = true) {
  SKINMTL_CHECK(x.defined() && w.defined(), "conv2d: input x and weights w must be defined");
  SKINMTL_CHECK(x.ndim() == 4, "conv2d: input x must be (N, C, H, W), got " << x.str());
  SKINMTL_CHECK(w.ndim() == 4, "conv2d: weights w must be (K, C, R, S), got " << w.str());
  SKINMTL_CHECK(w.size(1) == x.size(1), "conv2d: channels differ: input x "
                                            << shape_str(x.shape()) << " has C = " << x.size(1)
                                            << ", weights w " << shape_str(w.shape())
                                            << " expect C = " << w.size(1));
  if (same_dtype)
    check_same_device("conv2d (x, w)", x, w);
  else
    SKINMTL_CHECK(x.device() == w.device(),
                  "conv2d: x and w are on different devices: " << x.str() << " and " << w.str());
  if (bias.defined()) {
    SKINMTL_CHECK(bias.ndim() == 1 && bias.size(0) == w.size(0),
                  "conv2d: bias must be (K,) = (" << w.size(0) << ",) for weights "
                                                  << shape_str(w.shape()) << ", got "
                                                  << bias.str());
    if (x.dtype() == DType::BF16)  // the bias of a bfloat16 convolution stays float32
      SKINMTL_CHECK(bias.device() == x.device() && bias.dtype() == DType::F32,
                    "conv2d: a bfloat16 convolution takes a float32 bias on x's device, got "
                        << bias.str());
    else
      check_same_device("conv2d (x, bias)", x, bias);
  }
  SKINMTL_CHECK(p.stride_h >= 1 && p.stride_w >= 1 && p.pad_h >= 0 && p.pad_w >= 0 &&
                    p.dilation_h >= 1 && p.dilation_w >= 1,
                "conv2d: strides and dilations must be >= 1 and paddings >= 0, got "
                    << params_str(p));
  SKINMTL_CHECK(x.size(1) >= 1 && x.size(2) >= 1 && x.size(3) >= 1 && w.size(0) >= 1 &&
                    w.size(2) >= 1 && w.size(3) >= 1,
                "conv2d: every size but the batch must be positive, got input x "
                    << shape_str(x.shape()) << " and weights w " << shape_str(w.shape()));
  // The kernels index with int (as cuDNN and cuBLAS do) and form products in int64.
  const int64_t kMax = std::numeric_limits<int>::max();
  for (int64_t s : x.shape())
    SKINMTL_CHECK(s <= kMax, "conv2d: input x " << shape_str(x.shape()) << " is too large");
  for (int64_t s : w.shape())
    SKINMTL_CHECK(s <= kMax, "conv2d: weights w " << shape_str(w.shape()) << " are too large");
  // The padded extents and kernel spans must fit in int as well.
  SKINMTL_CHECK(x.size(2) + 2 * (int64_t)p.pad_h <= kMax &&
                    x.size(3) + 2 * (int64_t)p.pad_w <= kMax &&
                    (int64_t)p.dilation_h * (w.size(2) - 1) <= kMax &&
                    (int64_t)p.dilation_w * (w.size(3) - 1) <= kMax,
                "conv2d: padding or dilation too large: " << params_str(p));

  Conv2dShape sh;
  sh.N = (int)x.size(0);
  sh.C = (int)x.size(1);
  sh.H = (int)x.size(2);
  sh.W = (int)x.size(3);
  sh.K = (int)w.size(0);
  sh.R = (int)w.size(2);
  sh.S = (int)w.size(3);
  sh.stride_h = p.stride_h;
  sh.stride_w = p.stride_w;
  sh.pad_h = p.pad_h;
  sh.pad_w = p.pad_w;
  sh.dilation_h = p.dilation_h;
  sh.dilation_w = p.dilation_w;
  sh.P = conv2d_out_size(sh.H, sh.R, sh.stride_h, sh.pad_h, sh.dilation_h);
  sh.Q = conv2d_out_size(sh.W, sh.S, sh.stride_w, sh.pad_w, sh.dilation_w);
  SKINMTL_CHECK(sh.P >= 1 && sh.Q >= 1,
                "conv2d: the (dilated) kernel of weights w "
                    << shape_str(w.shape()) << " does not fit in the padded input x "
                    << shape_str(x.shape()) << " with " << params_str(p)
                    << ": the output would be empty");
  return sh;
}

}  // namespace

void set_conv_backend(ConvBackend b) { backend_setting() = b; }
ConvBackend conv_backend() { return backend_setting(); }
void set_conv_cpu_grouping(int64_t small_output, int64_t max_columns) {
  SKINMTL_CHECK(small_output >= 0 && max_columns >= 1,
                "set_conv_cpu_grouping: needs small_output >= 0 and max_columns >= 1, got "
                    << small_output << " and " << max_columns);
  set_conv2d_cpu_grouping({small_output, max_columns});
}
void set_conv_cpu_winograd(bool enabled, int min_channels, int64_t min_tiles) {
  SKINMTL_CHECK(min_channels >= 0 && min_tiles >= 0,
                "set_conv_cpu_winograd: needs min_channels >= 0 and min_tiles >= 0, got " << min_channels << " and "
                                                                                            << min_tiles);
  set_conv2d_cpu_winograd({enabled, min_channels, min_tiles});
}

namespace {

// What conv2d_bias_act adds to the convolution in the same op: + residual
// when it is defined, then a ReLU when `relu`. Neither: a plain conv2d.
struct Epilogue {
  Tensor residual;
  bool relu = false;
  bool any() const { return relu || residual.defined(); }
};

// The convolution's backward from its output gradient dy into d's inputs 0
// (x), 1 (w) and 2 (bias), on the backend the forward ran on.
void conv2d_backward(const Tensor& dy, GradBuffers& d, const Tensor& x, const Tensor& w, const Conv2dShape& sh,
                     bool use_cudnn, bool graph_api) {
  // Each gradient is written whole (GradBuffers::write): added into where its
  // buffer holds a sum already (a leaf's weights), written where it holds
  // nothing yet (an input, or folded weights).
  const GradBuffers::Target tx = d.write(0), tw = d.write(1), tb = d.write(2);
  const Tensor &dx = tx.tensor, &dw = tw.tensor, &db = tb.tensor;
  const Conv2dAccumulate acc{tx.accumulate, tw.accumulate, tb.accumulate};
  const bool need_col = dx.defined() || dw.defined();
  if (x.device() == Device::CPU) {
    Tensor col = scratch(conv2d_cpu_backward_scratch_elems(sh, dx.defined(), dw.defined()), x.dtype(), Device::CPU);
    dispatch_cpu(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      conv2d_backward_cpu<T>(data_or_null<T>(dx), data_or_null<T>(dw), data_or_null<T>(db), dy.data<T>(),
                             x.data<T>(), w.data<T>(), data_or_null<T>(col), sh, acc);
    });
  } else if (use_cudnn) {
    SKINMTL_CUDA_ONLY(dispatch_cuda_activations(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      if (graph_api) {
        const int align = cudnn_alignment({data_or_null<T>(dx), data_or_null<T>(dw), dy.data<T>(), x.data<T>(), w.data<T>()});
        const size_t bytes = conv2d_cudnn_graph_backward_workspace_bytes(
            sh, dx.defined(), dw.defined(), acc, cudnn_data(x), align);
        Tensor ws = scratch(floats_for(bytes), DType::F32, Device::CUDA);
        conv2d_backward_cudnn_graph(data_or_null<T>(dx), data_or_null<T>(dw), data_or_null<float>(db), dy.data<T>(), x.data<T>(),
                                    w.data<T>(), data_or_null<float>(ws), bytes, align, sh, acc, cuda::stream());
        return;
      }
      const size_t bytes = conv2d_cudnn_backward_workspace_bytes(
          sh, dx.defined(), dw.defined(), cudnn_data(x));
      Tensor ws = scratch(floats_for(bytes), DType::F32, Device::CUDA);
      conv2d_backward_cudnn(data_or_null<T>(dx), data_or_null<T>(dw), data_or_null<float>(db), dy.data<T>(),
                            x.data<T>(), w.data<T>(), data_or_null<float>(ws), bytes, sh, acc,
                            cuda::stream());
    }));
  } else {
    Tensor col = scratch(need_col ? conv2d_col_elems(sh) : 0, DType::F32, Device::CUDA);
    SKINMTL_CUDA_ONLY(conv2d_backward_im2col_cuda(
        data_or_null<float>(dx), data_or_null<float>(dw), data_or_null<float>(db), dy.data<float>(),
        x.data<float>(), w.data<float>(), data_or_null<float>(col), sh, acc, cuda::stream()));
  }
}

// The convolution in x's dtype (float32, float64, or bfloat16 with float32
// bias), followed by the epilogue e.
Tensor conv2d_in_dtype(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p,
                       const Epilogue& e = {}) {
  const Conv2dShape sh = conv2d_shape(x, w, bias, p);
  const Device dev = x.device();
  // Only CUDA has a choice; fixed here so that backward uses the same one.
  const bool use_cudnn = dev == Device::CUDA && conv_backend() != ConvBackend::Im2col;
  const bool graph_api = use_cudnn && conv_backend() == ConvBackend::CuDNNGraph;
  if (through_f32(x, use_cudnn))
    return cast(conv2d_in_dtype(as_f32(x), as_f32(w), bias, p, {as_f32(e.residual), e.relu}), DType::BF16);
  const Tensor& r = e.residual;
  SKINMTL_CHECK(!r.defined() || (r.shape() == Shape{sh.N, sh.K, sh.P, sh.Q} && r.dtype() == x.dtype() &&
                                 r.device() == dev),
                "conv2d_bias_act: the residual must be the output's shape (" << sh.N << ", " << sh.K << ", "
                                                                             << sh.P << ", " << sh.Q
                                                                             << "), dtype (" << dtype_name(x.dtype())
                                                                             << ") and device; got " << r.str());
  Tensor y = Tensor::empty({sh.N, sh.K, sh.P, sh.Q}, x.dtype(), dev);

  if (sh.N > 0) {
    if (dev == Device::CPU) {
      // The bias (and the epilogue) are applied to each group's output while it is in cache.
      Tensor col = scratch(conv2d_cpu_forward_scratch_elems(sh), x.dtype(), dev);
      dispatch_cpu(x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        Conv2dEpilogue<T> epilogue;
        epilogue.residual = data_or_null<T>(r);
        epilogue.relu = e.relu;
        conv2d_forward_cpu<T>(y.data<T>(), x.data<T>(), w.data<T>(), data_or_null<T>(bias), data_or_null<T>(col),
                              sh, epilogue);
      });
    } else {
      // On the GPU an epilogue is one bias_act pass after a convolution
      // without bias: the bias, the residual and the ReLU together.
      const Tensor conv_bias = e.any() ? Tensor() : bias;
      if (use_cudnn) {
        require_cuda_f32("conv2d", {&bias});
        SKINMTL_CUDA_ONLY(dispatch_cuda_activations(x.dtype(), [&](auto tag) {
          using T = decltype(tag);
          if (graph_api) {
            const int align = cudnn_alignment({y.data<T>(), x.data<T>(), w.data<T>()});
            const size_t bytes = conv2d_cudnn_graph_forward_workspace_bytes(sh, cudnn_data(x), align);
            Tensor ws = scratch(floats_for(bytes), DType::F32, dev);
            conv2d_forward_cudnn_graph(y.data<T>(), x.data<T>(), w.data<T>(), data_or_null<float>(conv_bias),
                                       data_or_null<float>(ws), bytes, align, sh, cuda::stream());
          } else {
            const size_t bytes = conv2d_cudnn_forward_workspace_bytes(sh, cudnn_data(x));
            Tensor ws = scratch(floats_for(bytes), DType::F32, dev);
            conv2d_forward_cudnn(y.data<T>(), x.data<T>(), w.data<T>(), data_or_null<float>(conv_bias),
                                 data_or_null<float>(ws), bytes, sh, cuda::stream());
          }
        }));
      } else {
        require_cuda_f32("conv2d", {&x, &w, &bias});
        Tensor col = scratch(conv2d_col_elems(sh), DType::F32, dev);
        SKINMTL_CUDA_ONLY(conv2d_forward_im2col_cuda(y.data<float>(), x.data<float>(), w.data<float>(),
                                                     data_or_null<float>(conv_bias), data_or_null<float>(col), sh,
                                                     cuda::stream()));
      }
      if (e.any()) bias_act_in_place(y, bias, r, e.relu);
    }
  }

  // Saved for backward: x and w (captured by the lambda), and y when a ReLU
  // ends the op (its mask; y.detach(): a Node never holds its own output).
  const bool relu = e.relu, has_residual = r.defined();
  const Tensor y_saved = relu ? y.detach() : Tensor();
  record(y, e.any() ? "conv2d_bias_act" : "conv2d", {x, w, bias, r},
         [x, w, sh, use_cudnn, graph_api, relu, has_residual, y_saved](const Tensor& dy, GradBuffers& d) {
           const bool conv_wants = d.needs(0) || d.needs(1) || d.needs(2);
           // dv, the gradient of conv + bias + residual (and the residual's
           // gradient): framework/ops/bias_act.h.
           const Tensor dv = unit_end_backward(dy, y_saved, relu, has_residual ? d.write(3) : GradBuffers::Target{},
                                               conv_wants && sh.N > 0);
           if (sh.N == 0 || !conv_wants) return;
           conv2d_backward(dv, d, x, w, sh, use_cudnn, graph_api);
         });
  return y;
}

}  // namespace

// ---- conv2d_bn: the batch norm folded in (kernels/fold_batch_norm.h) ---------------------
//
// The folded weights and bias are computed at every call (K * C*R*S
// multiplies, a small fraction of the convolution's K * C*R*S * N*P*Q), so
// they can never be stale: an evaluation in the middle of training sees the
// weights of that moment. On the CPU the bias, the residual and the ReLU are
// the convolution's epilogue (Conv2dEpilogue), applied to each group's output
// while it is in cache. On the GPU, with ConvBackend::CuDNNGraph, the unit is
// one cuDNN graph where cuDNN has an engine for it; otherwise one bias_act
// pass follows the convolution. In bfloat16 the folded weights are rounded to
// bfloat16, the convolution returns bfloat16 and one bias_act pass (float32
// sums, rounded once) follows, on either device.
Tensor conv2d_bn(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p, const Tensor& gamma,
                 const Tensor& beta, const Tensor& running_mean, const Tensor& running_var, double eps, bool relu,
                 const Tensor& residual) {
  SKINMTL_CHECK(x.defined() && w.defined() && gamma.defined() && beta.defined() && running_mean.defined() &&
                    running_var.defined(),
                "conv2d_bn: x, w, gamma, beta and the running statistics must be defined");
  bool wants_grad = false;
  for (const Tensor* t : {&x, &w, &bias, &gamma, &beta, &residual})
    wants_grad = wants_grad || (t->defined() && t->requires_grad());
  SKINMTL_CHECK(!grad_enabled() || !wants_grad,
                "conv2d_bn has no backward: it is for inference (inside a NoGradGuard). To train, "
                "conv2d(x, f.w, f.b) with f = fold_batch_norm(...) folds on the tape (conv_bn does)");
  // In bfloat16 (x bfloat16, or autocast on) as conv2d computes: the folded
  // weights rounded to bfloat16, the bias pass in float32 rounded once.
  const bool in_bf16 = computes_in_bf16(x);
  SKINMTL_CHECK(in_bf16 || x.dtype() == DType::F32 || (x.dtype() == DType::F64 && x.device() == Device::CPU),
                "conv2d_bn: float32, bfloat16 (or float64 on the CPU) only, got " << dtype_name(x.dtype()));
  SKINMTL_CHECK(!in_bf16 || w.dtype() == DType::F32,
                "conv2d_bn: a bfloat16 convolution takes float32 weights (they are folded in float32), got " << w.str());
  const Conv2dShape sh = conv2d_shape(x, w, bias, p, /*same_dtype=*/!in_bf16);
  const Device dev = x.device();
  const DType out_dtype = in_bf16 ? DType::BF16 : x.dtype();
  SKINMTL_CHECK(!residual.defined() || (residual.shape() == Shape{sh.N, sh.K, sh.P, sh.Q} &&
                                        residual.dtype() == out_dtype && residual.device() == dev),
                "conv2d_bn: the residual must be the output's shape (" << sh.N << ", " << sh.K << ", " << sh.P
                                                                       << ", " << sh.Q << "), dtype ("
                                                                       << dtype_name(out_dtype)
                                                                       << ") and device; got " << residual.str());
  // The fold, in w's dtype (nothing is recorded here).
  const FoldedBatchNorm folded = fold_batch_norm(w, bias, gamma, beta, running_mean, running_var, eps);
  const Tensor &wf = folded.w, &bf = folded.b;

  if (in_bf16) {
    Tensor y = conv2d_in_dtype(cast(x, DType::BF16), cast(wf, DType::BF16), Tensor(), p);
    if (dev == Device::CPU) {  // no bfloat16 arithmetic on the CPU: widen, add, round (through_f32)
      Tensor yf = y.to(DType::F32);
      bias_act_in_place(yf, bf, residual.defined() ? residual.to(DType::F32) : Tensor(), relu);
      return yf.to(DType::BF16);
    }
    bias_act_in_place(y, bf, residual, relu);
    return y;
  }

  auto output = [&] { return Tensor::empty({sh.N, sh.K, sh.P, sh.Q}, x.dtype(), dev); };
  if (dev == Device::CPU) {
    Tensor y = output();
    if (sh.N == 0) return y;
    dispatch_cpu(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      Tensor col = scratch(conv2d_cpu_forward_scratch_elems(sh), x.dtype(), dev);
      Conv2dEpilogue<T> epilogue;
      epilogue.residual = data_or_null<T>(residual);
      epilogue.relu = relu;
      conv2d_forward_cpu<T>(y.data<T>(), x.data<T>(), wf.data<T>(), bf.data<T>(), data_or_null<T>(col), sh, epilogue);
    });
    return y;
  }
  require_cuda_f32("conv2d_bn", {&x, &residual});
  // With the graph API backend, the whole unit as one cuDNN graph where cuDNN
  // has an engine for it (kernels/conv2d.h).
  Tensor y;
  if (conv_backend() == ConvBackend::CuDNNGraph && sh.N > 0)
    SKINMTL_CUDA_ONLY(y = [&] {
      Tensor out = output();
      const int align = cudnn_alignment(
          {out.data<float>(), x.data<float>(), wf.data<float>(), bf.data<float>(), data_or_null<float>(residual)});
      size_t bytes = 0;
      if (!conv2d_bias_act_cudnn_graph_supported(sh, residual.defined(), relu, align, &bytes)) return Tensor();
      Tensor ws = scratch(floats_for(bytes), DType::F32, dev);
      conv2d_bias_act_cudnn_graph(out.data<float>(), x.data<float>(), wf.data<float>(), bf.data<float>(),
                                  data_or_null<float>(residual), relu, data_or_null<float>(ws), bytes, align, sh, cuda::stream());
      return out;
    }());
  if (y.defined()) return y;
  // Otherwise the convolution on the selected backend, without a bias:
  // bias_act adds the folded one (and the residual) and applies the ReLU in
  // one pass.
  y = conv2d_in_dtype(x, wf, Tensor(), p);
  bias_act_in_place(y, bf, residual, relu);
  return y;
}

namespace {

// conv2d's dtype rule, then the convolution and the epilogue e: in bfloat16
// (x bfloat16, or autocast on) x and w are cast and the bias stays float32.
Tensor convolve(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p, const Epilogue& e) {
  if (computes_in_bf16(x)) return conv2d_in_dtype(cast(x, DType::BF16), cast(w, DType::BF16), as_f32(bias), p, e);
  return conv2d_in_dtype(x, w, bias, p, e);
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p) {
  SKINMTL_CHECK(x.defined() && w.defined(), "conv2d: input x and weights w must be defined");
  return convolve(x, w, bias, p, {});
}

namespace {

bool& epilogue_fusion_setting() {
  static bool on = [] {
    const char* v = std::getenv("SKINMTL_FUSE_CONV_EPILOGUE");
    if (v == nullptr || *v == '\0' || std::strcmp(v, "1") == 0) return true;
    SKINMTL_CHECK(std::strcmp(v, "0") == 0, "SKINMTL_FUSE_CONV_EPILOGUE must be 0 or 1, got '" << v << "'");
    return false;
  }();
  return on;
}

}  // namespace

void set_conv_epilogue_fusion(bool on) { epilogue_fusion_setting() = on; }
bool conv_epilogue_fusion() { return epilogue_fusion_setting(); }

Tensor conv2d_bias_act(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p, bool relu,
                       const Tensor& residual) {
  SKINMTL_CHECK(x.defined() && w.defined(), "conv2d_bias_act: input x and weights w must be defined");
  if (!conv_epilogue_fusion()) return unit_end_ops(conv2d(x, w, bias, p), residual, relu);  // the three ops
  SKINMTL_CHECK(!computes_in_bf16(x) || !residual.defined() || residual.dtype() == DType::BF16,
                "conv2d_bias_act: a bfloat16 convolution takes a bfloat16 residual, got " << residual.str());
  return convolve(x, w, bias, p, {residual, relu});
}

}  // namespace skinmtl
