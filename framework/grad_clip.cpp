#include "framework/grad_clip.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "framework/autograd.h"
#include "framework/ops.h"
#include "kernels/grad_clip.h"
#if SKINMTL_CUDA
#include "kernels/device.h"
#endif

namespace skinmtl {

namespace {

// Gradients of one dtype cut into kernels/grad_clip.h's chunks: each chunk's
// address (on the gradients' device) and element count. The CPU's loops take
// them as they are; the GPU's get them copied up as one table.
template <typename T>
struct GradChunks {
  std::vector<T*> at;
  std::vector<int64_t> size;
  void add(const Tensor& g) {
    T* base = g.data<T>();
    for (int64_t i = 0; i < g.numel(); i += kGradClipChunk) {
      at.push_back(base + i);
      size.push_back(std::min<int64_t>(kGradClipChunk, g.numel() - i));
    }
  }
  double sum_squares() const { return grad_sum_squares_cpu<T>(at.data(), size.data(), (int64_t)at.size()); }
  void scale(double factor) { grad_scale_cpu<T>(at.data(), size.data(), (int64_t)at.size(), (T)factor); }
};

// The reference, on the host. The CPU's float32 and float64 gradients go
// through kernels/grad_clip.h's CPU loops (chunked sums of squares in double,
// in place scaling); any other gradient (bfloat16, or on a GPU beside CPU
// ones) through the ops, its sum of squares added up where it lives: on a GPU
// into a 0-d tensor that stays there, so the host waits once, for the total,
// instead of once per parameter.
double clip_on_host(const std::vector<Parameter*>& params, double max_norm) {
  GradChunks<float> f32;
  GradChunks<double> f64;
  std::vector<Tensor> others;
  for (const Parameter* p : params) {
    const Tensor g = p->value.grad();
    if (!g.defined()) continue;
    if (g.device() == Device::CPU && g.dtype() == DType::F32) f32.add(g);
    else if (g.device() == Device::CPU && g.dtype() == DType::F64) f64.add(g);
    else others.push_back(g);
  }
  double squares = f32.sum_squares() + f64.sum_squares();
  Tensor on_device;  // the GPU's running total (float)
  for (const Tensor& g : others) {
    const Tensor s = sum(mul(g, g));
    if (g.device() == Device::CPU) squares += s.item();
    else on_device = on_device.defined() ? add(on_device, s) : s;
  }
  if (on_device.defined()) squares += on_device.to(Device::CPU).item();
  const double norm = std::sqrt(squares);
  if (max_norm > 0 && std::isfinite(norm) && norm > max_norm) {
    const double factor = max_norm / norm;
    f32.scale(factor);
    f64.scale(factor);
    for (Tensor g : others) g.copy_from(scale(g, factor));
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
  GradChunks<float> chunks;
  for (const Tensor& g : grads) chunks.add(g);
  const int64_t C = (int64_t)chunks.at.size();
  std::vector<int64_t> table;
  for (float* a : chunks.at) table.push_back((int64_t)(intptr_t)a);
  table.insert(table.end(), chunks.size.begin(), chunks.size.end());
  Tensor table_d = Tensor::empty({std::max<int64_t>(1, 4 * C)}, DType::F32, Device::CUDA);
  cuda::memcpy_h2d(table_d.raw_data(), table.data(), table.size() * sizeof(int64_t));  // staged: no wait
  const int64_t* t = static_cast<const int64_t*>(table_d.raw_data());
  // The chunks' sums of squares in double, likewise in a float32 tensor's bytes.
  Tensor partial = Tensor::empty({std::max<int64_t>(1, 2 * C)}, DType::F32, Device::CUDA);
  double* sums = static_cast<double*>(partial.raw_data());
  Tensor norm_factor = Tensor::empty({2}, DType::F32, Device::CUDA);
  float* nf = norm_factor.data<float>();
  grad_sum_squares_cuda(sums, reinterpret_cast<const float* const*>(t), t + C, C, cuda::stream());
  grad_clip_factor_cuda(nf, nf + 1, sums, C, (float)max_norm, cuda::stream());
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
