// framework/dispatch.h: choosing the kernel for a tensor's device and dtype.
//
//   dispatch_cpu(x.dtype(), [&](auto tag) {
//     using T = decltype(tag);
//     relu_forward_cpu<T>(y.data<T>(), x.data<T>(), n);
//   });
//
//   SKINMTL_CUDA_ONLY(relu_forward_cuda(y.data<float>(), x.data<float>(), n, cuda::stream()));
//
// CPU kernels are templates over float and double. CUDA kernels are float32,
// and for a few ops also bfloat16 (dispatch_cuda_activations);
// require_cuda_f32 says so clearly when something else reaches them. In
// a CPU-only build SKINMTL_CUDA_ONLY(...) compiles to a "built without CUDA"
// error, so framework code needs no #if of its own.
#pragma once

#include "base/check.h"
#include "framework/tensor.h"
#include "kernels/bf16.h"
#if SKINMTL_CUDA
#include "kernels/device.h"
#endif

namespace skinmtl {

[[noreturn]] void fail_no_bf16_kernel();

// t's data for a kernel's pointer argument, or nullptr when t is undefined (an
// absent bias or residual, a gradient nobody wants).
template <typename T>
T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

// float32 and float64 only: the CPU computes bfloat16 through float32
// (framework/precision.h), so a bfloat16 tensor here is a missing widening.
template <typename F>
void dispatch_cpu(DType dtype, F&& f) {
  switch (dtype) {
    case DType::F32: f(float{}); break;
    case DType::F64: f(double{}); break;
    case DType::BF16: fail_no_bf16_kernel();
  }
}

// The activations of the ops with bfloat16 CUDA kernels (framework/precision.h):
// float32 or bfloat16 (kernels/bf16.h), f(float{}) or f(bf16{}).
template <typename F>
void dispatch_cuda_activations(DType dtype, F&& f) {
  switch (dtype) {
    case DType::F32: f(float{}); break;
    case DType::BF16: f(bf16{}); break;
    case DType::F64: SKINMTL_FAIL("float64 tensors live on the CPU only");
  }
}

[[noreturn]] void fail_no_cuda(const char* file, int line);

// Throws unless every tensor is float32 (CUDA kernels are float32 only).
void require_cuda_f32(const char* op, std::initializer_list<const Tensor*> tensors);

// The checks an elementwise loss makes (smooth_l1_loss, sigmoid_focal_loss):
// x, its targets and weights are defined, of one shape, dtype and device; only
// x may ask for a gradient; float32 on the GPU.
void check_elementwise_loss(const char* op, const Tensor& x, const Tensor& targets,
                            const Tensor& weights);

}  // namespace skinmtl

#if SKINMTL_CUDA
#define SKINMTL_CUDA_ONLY(...) __VA_ARGS__
#else
#define SKINMTL_CUDA_ONLY(...) ::skinmtl::fail_no_cuda(__FILE__, __LINE__)
#endif
