// framework/random.h: seeded random numbers and random tensors (on the CPU;
// move them with to()). Every random choice in skinmtl takes an Rng, so a run
// is reproducible from its seed.
#pragma once

#include <cstdint>
#include <random>

#include "framework/tensor.h"

namespace skinmtl {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) : gen_(seed) {}
  double uniform(double lo = 0.0, double hi = 1.0) {
    return std::uniform_real_distribution<double>(lo, hi)(gen_);
  }
  double normal(double mean = 0.0, double stddev = 1.0) {
    return std::normal_distribution<double>(mean, stddev)(gen_);
  }
  int64_t randint(int64_t lo, int64_t hi_exclusive) {
    return std::uniform_int_distribution<int64_t>(lo, hi_exclusive - 1)(gen_);
  }
  std::mt19937_64& engine() { return gen_; }

 private:
  std::mt19937_64 gen_;
};

Tensor randn(const Shape& shape, Rng& rng, double stddev = 1.0, DType dtype = DType::F32);
Tensor rand_uniform(const Shape& shape, Rng& rng, double lo, double hi, DType dtype = DType::F32);

// In its scope (this thread), randn and rand_uniform draw nothing and return
// uninitialised tensors (Tensor::empty: NaN under the tests' poisoning),
// leaving the Rng untouched. For building a network whose every tensor a
// strict load (load_module_state) overwrites next: drawing ResNet-50's 25
// million initial weights was most of the time `skinmtl classify` took to
// load its checkpoint, and zero-filling them, 100 MB of fresh pages that the
// load writes again, was the next largest part.
class SkipRandomInitGuard {
 public:
  SkipRandomInitGuard();
  ~SkipRandomInitGuard();
  SkipRandomInitGuard(const SkipRandomInitGuard&) = delete;
  SkipRandomInitGuard& operator=(const SkipRandomInitGuard&) = delete;

 private:
  bool prev_;
};

}  // namespace skinmtl
