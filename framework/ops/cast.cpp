// cast, as_f32 and autocast: see framework/precision.h.
#include <atomic>

#include "framework/accumulate.h"
#include "framework/autograd.h"
#include "framework/precision.h"

namespace skinmtl {

namespace {
std::atomic<bool> g_autocast{false};
}

void set_autocast_bf16(bool on) { g_autocast = on; }
bool autocast_bf16() { return g_autocast; }

AutocastGuard::AutocastGuard(bool on) : prev_(g_autocast) { g_autocast = on; }
AutocastGuard::~AutocastGuard() { g_autocast = prev_; }

Tensor cast(const Tensor& x, DType dtype) {
  if (!x.defined() || x.dtype() == dtype) return x;
  SKINMTL_CHECK((x.dtype() == DType::F32 && dtype == DType::BF16) || (x.dtype() == DType::BF16 && dtype == DType::F32),
                "cast: float32 <-> bfloat16 only, got " << x.str() << " to " << dtype_name(dtype));
  Tensor y = x.detach().to(dtype);
  // d/dx of a conversion is the identity: the gradient, converted back to x's
  // dtype, goes into x's (write_gradient converts).
  record(y, "cast", {x}, [](const Tensor& dy, GradBuffers& d) { write_gradient(d.write(0), dy); });
  return y;
}

Tensor as_f32(const Tensor& x) {
  return x.defined() && x.dtype() == DType::BF16 ? cast(x, DType::F32) : x;
}

bool computes_in_bf16(const Tensor& x) {
  return x.defined() && (x.dtype() == DType::BF16 || (autocast_bf16() && x.dtype() == DType::F32));
}

bool through_f32(const Tensor& x, bool gpu_has_kernel) {
  return x.defined() && x.dtype() == DType::BF16 && (x.device() == Device::CPU || !gpu_has_kernel);
}

}  // namespace skinmtl
