#include "framework/grad_clip.h"

#include <algorithm>
#include <cmath>

#include "framework/autograd.h"
#include "framework/ops.h"
#if SKINMTL_CUDA
#include "kernels/device.h"
#include "kernels/grad_clip.h"
#endif

namespace skinmtl {

namespace {

// The reference: on the host, one parameter at a time. Each gradient's sum of
// squares is added up where the gradients live: on the CPU in double; on a
// GPU into a 0-d tensor that stays there, so the host waits once, for the
// total, instead of once per parameter.
double clip_on_host(const std::vector<Parameter*>& params, double max_norm) {
  double squares = 0;
  Tensor on_device;  // the GPU's running total (float)
  for (const Parameter* p : params) {
    const Tensor g = p->value.grad();
    if (!g.defined()) continue;
    const Tensor s = sum(mul(g, g));
    if (g.device() == Device::CPU) squares += s.item();
    else on_device = on_device.defined() ? add(on_device, s) : s;
  }
  if (on_device.defined()) squares += on_device.to(Device::CPU).item();
  const double norm = std::sqrt(squares);
  if (max_norm > 0 && std::isfinite(norm) && norm > max_norm) {
    const double factor = max_norm / norm;
    for (const Parameter* p : params) {
      Tensor g = p->value.grad();
      if (g.defined()) g.copy_from(scale(g, factor));
    }
  }
  return norm;
}

#if SKINMTL_CUDA
// Every gradient on the GPU in float32: kernels/grad_clip.h, three launches
// over chunks of the gradients, nothing read back. Returns the norm (0-d, on
// the GPU).
Tensor clip_on_gpu(const std::vector<Tensor>& grads, double max_norm) {
  // The chunk table: C addresses, then C element counts, as int64 in the
  // bytes of a float32 tensor (tensors hold floats), copied up once.
  std::vector<int64_t> addr, count;
  for (const Tensor& g : grads) {
    float* base = g.data<float>();
    for (int64_t at = 0; at < g.numel(); at += kGradClipChunk) {
      addr.push_back((int64_t)(intptr_t)(base + at));
      count.push_back(std::min<int64_t>(kGradClipChunk, g.numel() - at));
    }
  }
  const int64_t C = (int64_t)addr.size();
  std::vector<int64_t> table(addr);
  table.insert(table.end(), count.begin(), count.end());
  Tensor table_d = Tensor::empty({std::max<int64_t>(1, 4 * C)}, DType::F32, Device::CUDA);
  cuda::memcpy_h2d(table_d.raw_data(), table.data(), table.size() * sizeof(int64_t));  // staged: no wait
  const int64_t* t = static_cast<const int64_t*>(table_d.raw_data());
  Tensor partial = Tensor::empty({std::max<int64_t>(1, C)}, DType::F32, Device::CUDA);
  Tensor norm_factor = Tensor::empty({2}, DType::F32, Device::CUDA);
  float* nf = norm_factor.data<float>();
  grad_sum_squares_cuda(partial.data<float>(), reinterpret_cast<const float* const*>(t), t + C, C, cuda::stream());
  grad_clip_factor_cuda(nf, nf + 1, partial.data<float>(), C, (float)max_norm, cuda::stream());
  grad_scale_cuda(reinterpret_cast<float* const*>(t), t + C, C, nf + 1, cuda::stream());
  return reshape(slice(norm_factor, 0, 0, 1), {});
}
#endif

}  // namespace

Tensor clip_grad_norm_tensor(const std::vector<Parameter*>& params, double max_norm) {
  NoGradGuard no_grad;
  std::vector<Tensor> gpu;
  bool elsewhere = false;  // a gradient on the CPU, or not float32
  for (const Parameter* p : params) {
    const Tensor g = p->value.grad();
    if (!g.defined()) continue;
    if (g.device() == Device::CUDA && g.dtype() == DType::F32) gpu.push_back(g);
    else elsewhere = true;
  }
#if SKINMTL_CUDA
  if (!gpu.empty() && !elsewhere) return clip_on_gpu(gpu, max_norm);
#else
  (void)elsewhere;  // without CUDA every gradient is on the CPU
#endif
  return Tensor::full({}, clip_on_host(params, max_norm), DType::F64);
}

double clip_grad_norm(const std::vector<Parameter*>& params, double max_norm) {
  return clip_grad_norm_tensor(params, max_norm).to(Device::CPU).item();
}

}  // namespace skinmtl
