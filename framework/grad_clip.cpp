#include "framework/grad_clip.h"

#include <cmath>

#include "framework/autograd.h"
#include "framework/ops.h"

namespace skinmtl {

double clip_grad_norm(const std::vector<Parameter*>& params, double max_norm) {
  NoGradGuard no_grad;
  double squares = 0;
  for (const Parameter* p : params) {
    const Tensor g = p->value.grad();
    if (g.defined()) squares += sum(mul(g, g)).to(Device::CPU).item();
  }
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
