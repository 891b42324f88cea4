#include "framework/grad_clip.h"

#include <cmath>

#include "framework/autograd.h"
#include "framework/ops.h"

namespace skinmtl {

double clip_grad_norm(const std::vector<Parameter*>& params, double max_norm) {
  NoGradGuard no_grad;
  // Each gradient's sum of squares is added up where the gradients live: on
  // the CPU in double, one parameter at a time; on a GPU into a 0-d tensor that
  // stays there, so the host waits once, for the total, instead of once per
  // parameter (about 300 waits per step for the detector).
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

}  // namespace skinmtl
