// io/synthetic/random_draws.h: the few kinds of random draw the synthetic
// data set makes, as short helpers on skinmtl::Rng (io draws all randomness
// from skinmtl::Rng). Every label, shape and colour of a sample comes from one
// Rng through these, in a fixed order: that is what makes a sample the same,
// bit for bit, on every run (io/synthetic.h, "determinism").
#pragma once

#include "framework/random.h"

namespace skinmtl {
namespace synthetic {

// Uniform in [lo, hi).
inline double uni(Rng& rng, double lo, double hi) { return rng.uniform(lo, hi); }
// True with probability p.
inline bool coin(Rng& rng, double p) { return rng.uniform() < p; }
// Uniform among the integers lo .. hi_inclusive.
inline int int_in(Rng& rng, int lo, int hi_inclusive) {
  return (int)rng.randint(lo, hi_inclusive + 1);
}
// An index drawn with probabilities p[0..n-1] (summing to about 1).
inline int categorical(Rng& rng, const double* p, int n) {
  double u = rng.uniform(), acc = 0;
  for (int i = 0; i < n - 1; ++i) {
    acc += p[i];
    if (u < acc) return i;
  }
  return n - 1;
}

}  // namespace synthetic
}  // namespace skinmtl
