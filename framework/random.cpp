#include "framework/random.h"

namespace skinmtl {

Tensor randn(const Shape& shape, Rng& rng, double stddev, DType dtype) {
  std::vector<double> v((size_t)shape_numel(shape));
  for (double& x : v) x = rng.normal(0.0, stddev);
  return Tensor::from_vector(v, shape, dtype);
}

Tensor rand_uniform(const Shape& shape, Rng& rng, double lo, double hi, DType dtype) {
  std::vector<double> v((size_t)shape_numel(shape));
  for (double& x : v) x = rng.uniform(lo, hi);
  return Tensor::from_vector(v, shape, dtype);
}

}  // namespace skinmtl
