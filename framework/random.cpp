#include "framework/random.h"

#include "framework/allocator.h"

namespace skinmtl {

static thread_local bool t_skip_init = false;

SkipRandomInitGuard::SkipRandomInitGuard() : prev_(t_skip_init) { t_skip_init = true; }
SkipRandomInitGuard::~SkipRandomInitGuard() { t_skip_init = prev_; }

// Under SkipRandomInitGuard: memory that the load about to follow writes
// whole, so it may take huge pages (framework/allocator.h).
static Tensor uninitialised(const Shape& shape, DType dtype) {
  HugePagesGuard huge_pages;
  return Tensor::empty(shape, dtype);
}

Tensor randn(const Shape& shape, Rng& rng, double stddev, DType dtype) {
  if (t_skip_init) return uninitialised(shape, dtype);
  std::vector<double> v((size_t)shape_numel(shape));
  for (double& x : v) x = rng.normal(0.0, stddev);
  return Tensor::from_vector(v, shape, dtype);
}

Tensor rand_uniform(const Shape& shape, Rng& rng, double lo, double hi, DType dtype) {
  if (t_skip_init) return uninitialised(shape, dtype);
  std::vector<double> v((size_t)shape_numel(shape));
  for (double& x : v) x = rng.uniform(lo, hi);
  return Tensor::from_vector(v, shape, dtype);
}

}  // namespace skinmtl
