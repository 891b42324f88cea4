// fold_batch_norm: see kernels/fold_batch_norm.h.
#include "framework/accumulate.h"
#include "framework/autograd.h"
#include "framework/dispatch.h"
#include "framework/ops.h"
#include "framework/ops/bias_act.h"
#include "kernels/bf16.h"
#include "kernels/fold_batch_norm.h"

namespace skinmtl {

FoldedBatchNorm fold_batch_norm(const Tensor& w, const Tensor& b, const Tensor& gamma, const Tensor& beta,
                                const Tensor& mean, const Tensor& var, double eps, DType weight_dtype) {
  SKINMTL_CHECK(w.defined() && gamma.defined() && beta.defined() && mean.defined() && var.defined(),
                "fold_batch_norm: w, gamma, beta, mean and var must be defined");
  SKINMTL_CHECK(w.ndim() >= 1 && w.size(0) >= 1, "fold_batch_norm: w must have output channels first, got " << w.str());
  const int64_t K = w.size(0), CRS = w.numel() / K;
  for (const Tensor* t : {&b, &gamma, &beta, &mean, &var})
    SKINMTL_CHECK(!t->defined() || (t->shape() == Shape{K} && t->dtype() == w.dtype() && t->device() == w.device()),
                  "fold_batch_norm: the bias and the batch norm's vectors must be (" << K
                      << ") like w's output channels, of its dtype and device; got " << t->str() << " for w "
                      << w.str());
  const bool to_bf16 = weight_dtype != w.dtype();
  SKINMTL_CHECK(!to_bf16 || (w.dtype() == DType::F32 && weight_dtype == DType::BF16),
                "fold_batch_norm: the folded weights are of w's dtype, or bfloat16 for float32 w; asked for "
                    << dtype_name(weight_dtype) << " from " << w.str());
  const Device dev = w.device();
  Tensor wf = Tensor::empty(w.shape(), weight_dtype, dev);
  Tensor bf = Tensor::empty({K}, w.dtype(), dev);
  if (dev == Device::CPU) {
    if (to_bf16) {
      fold_batch_norm_cpu<float, bf16>(wf.data<bf16>(), bf.data<float>(), w.data<float>(), data_or_null<float>(b),
                                       gamma.data<float>(), beta.data<float>(), mean.data<float>(), var.data<float>(),
                                       eps, K, CRS);
    } else {
      dispatch_cpu(w.dtype(), [&](auto tag) {
        using T = decltype(tag);
        fold_batch_norm_cpu<T>(wf.data<T>(), bf.data<T>(), w.data<T>(), data_or_null<T>(b), gamma.data<T>(),
                               beta.data<T>(), mean.data<T>(), var.data<T>(), eps, K, CRS);
      });
    }
  } else {
    require_cuda_f32("fold_batch_norm", {&w, &b, &gamma, &beta, &mean, &var});
    SKINMTL_CUDA_ONLY(dispatch_cuda_activations(weight_dtype, [&](auto tag) {
      using TW = decltype(tag);
      fold_batch_norm_cuda(wf.data<TW>(), bf.data<float>(), w.data<float>(), data_or_null<float>(b),
                           gamma.data<float>(), beta.data<float>(), mean.data<float>(), var.data<float>(), eps, K,
                           CRS, cuda::stream());
    }));
  }
  // Saved for backward: w, b, gamma and the statistics (the lambdas' handles
  // share their storage; the statistics are fixed while the tape lives). dwf
  // comes in wf's dtype.
  record(wf, "fold_bn_weight", {w, gamma}, [w, gamma, var, eps, K, CRS](const Tensor& dwf, GradBuffers& d) {
    if (!d.needs(0) && !d.needs(1)) return;
    if (w.device() == Device::CPU) {
      if (dwf.dtype() == DType::BF16) {
        fold_weight_backward_cpu<float, bf16>(data_or_null<float>(d[0]), data_or_null<float>(d[1]), dwf.data<bf16>(),
                                              w.data<float>(), gamma.data<float>(), var.data<float>(), eps, K, CRS);
        return;
      }
      dispatch_cpu(w.dtype(), [&](auto tag) {
        using T = decltype(tag);
        fold_weight_backward_cpu<T>(data_or_null<T>(d[0]), data_or_null<T>(d[1]), dwf.data<T>(), w.data<T>(),
                                    gamma.data<T>(), var.data<T>(), eps, K, CRS);
      });
    } else {
      SKINMTL_CUDA_ONLY(dispatch_cuda_activations(dwf.dtype(), [&](auto tag) {
        using TG = decltype(tag);
        fold_weight_backward_cuda(data_or_null<float>(d[0]), data_or_null<float>(d[1]), dwf.data<TG>(),
                                  w.data<float>(), gamma.data<float>(), var.data<float>(), eps, K, CRS,
                                  cuda::stream());
      }));
    }
  });
  record(bf, "fold_bn_bias", {b, gamma, beta}, [b, gamma, mean, var, eps, K](const Tensor& dbf, GradBuffers& d) {
    if (!d.needs(0) && !d.needs(1) && !d.needs(2)) return;
    if (gamma.device() == Device::CPU) {
      dispatch_cpu(gamma.dtype(), [&](auto tag) {
        using T = decltype(tag);
        fold_bias_backward_cpu<T>(data_or_null<T>(d[0]), data_or_null<T>(d[1]), data_or_null<T>(d[2]), dbf.data<T>(), data_or_null<T>(b),
                                  gamma.data<T>(), mean.data<T>(), var.data<T>(), eps, K);
      });
    } else {
      SKINMTL_CUDA_ONLY(fold_bias_backward_cuda(data_or_null<float>(d[0]), data_or_null<float>(d[1]), data_or_null<float>(d[2]),
                                                dbf.data<float>(), data_or_null<float>(b), gamma.data<float>(),
                                                mean.data<float>(), var.data<float>(), eps, K, cuda::stream()));
    }
  });
  return {wf, bf};
}

FoldedBatchNorm fold_batch_norm(const Tensor& w, const Tensor& b, const Tensor& gamma, const Tensor& beta,
                                const Tensor& mean, const Tensor& var, double eps) {
  return fold_batch_norm(w, b, gamma, beta, mean, var, eps, w.defined() ? w.dtype() : DType::F32);
}

// ---- bias_act (framework/ops/bias_act.h) ------------------------------------------------------

void bias_act_in_place(const Tensor& y, const Tensor& b, const Tensor& r, bool relu) {
  const int64_t N = y.size(0), K = y.size(1), HW = y.size(2) * y.size(3);
  if (y.device() == Device::CPU) {
    dispatch_cpu(y.dtype(), [&](auto tag) {
      using T = decltype(tag);
      bias_act_cpu<T>(y.data<T>(), data_or_null<T>(b), data_or_null<T>(r), N, K, HW, relu);
    });
  } else {
    SKINMTL_CUDA_ONLY(dispatch_cuda_activations(y.dtype(), [&](auto tag) {
      using T = decltype(tag);
      bias_act_cuda<T>(y.data<T>(), data_or_null<float>(b), data_or_null<T>(r), N, K, HW, relu, cuda::stream());
    }));
  }
}

void bias_act_backward(const Tensor& g, const GradBuffers::Target& dr, const Tensor& dy, const Tensor& y) {
  const int64_t n = dy.numel();
  if (dy.device() == Device::CPU) {
    dispatch_cpu(dy.dtype(), [&](auto tag) {
      using T = decltype(tag);
      bias_act_backward_cpu<T>(data_or_null<T>(g), data_or_null<T>(dr.tensor), dy.data<T>(), y.data<T>(), n,
                               /*relu=*/true, dr.accumulate);
    });
  } else {
    SKINMTL_CUDA_ONLY(dispatch_cuda_activations(dy.dtype(), [&](auto tag) {
      using T = decltype(tag);
      bias_act_backward_cuda<T>(data_or_null<T>(g), data_or_null<T>(dr.tensor), dy.data<T>(), y.data<T>(), n,
                                /*relu=*/true, dr.accumulate, cuda::stream());
    }));
  }
}

Tensor unit_end_ops(const Tensor& v, const Tensor& r, bool relu) {
  const Tensor y = r.defined() ? add(v, r) : v;
  return relu ? skinmtl::relu(y) : y;
}

Tensor unit_end_backward(const Tensor& dy, const Tensor& y, bool relu, const GradBuffers::Target& dr, bool wanted,
                         const GradBuffers::Target& spare) {
  if (!relu) {
    write_gradient(dr, dy);
    return dy;
  }
  if (dr.tensor.defined() && !dr.accumulate) {
    bias_act_backward(Tensor(), dr, dy, y);
    return dr.tensor;
  }
  Tensor dv;
  if (wanted)
    dv = spare.tensor.defined() && !spare.accumulate ? spare.tensor : Tensor::empty(dy.shape(), dy.dtype(), dy.device());
  bias_act_backward(dv, dr, dy, y);
  return dv;
}

}  // namespace skinmtl
