// kernels/bf16.h: bfloat16, the storage type of --precision bf16.
//
// A bfloat16 is the upper half of a float32: 1 sign bit, the same 8 exponent
// bits (so the same range, about 1e-38 to 3e38, and the same infinities and
// NaNs) and 7 mantissa bits instead of 23 (about 2-3 significant decimal
// digits; the spacing of values just above 1 is 2^-7 = 0.0078).
//
//   bits 15       14..7        6..0
//        sign     exponent     mantissa      value = the float32 whose bits are (bits << 16)
//
// Widening to float32 is exact: append 16 zero bits. Narrowing rounds to the
// nearest bfloat16, ties to the one with an even mantissa (IEEE 754's default,
// what PyTorch and CUDA's __float2bfloat16 do); values past the largest
// finite bfloat16 round to infinity; a NaN stays a (quiet) NaN.
//
// skinmtl never does arithmetic in bfloat16. Kernels load bfloat16, compute in
// float32 (the element functions, cuDNN's and cuBLAS's float accumulators) and
// round once when they store: load() / store() below make one kernel body
// serve float32 and bfloat16 buffers alike.
//
// Reference: Kalamkar et al. 2019, "A Study of BFLOAT16 for Deep Learning
// Training"; PyTorch c10/util/BFloat16.h (round_to_nearest_even).
#pragma once

#include <cstdint>
#include <cstring>

#include "kernels/common.h"

namespace skinmtl {

struct bf16 {
  uint16_t bits;
};

SKINMTL_HD uint32_t float_bits(float f) {
#ifdef __CUDA_ARCH__
  return (uint32_t)__float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
#endif
}

SKINMTL_HD float float_from_bits(uint32_t u) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}

// Exact: a bfloat16 is a float32 with its low 16 bits zero.
SKINMTL_HD float bf16_to_float(bf16 b) { return float_from_bits((uint32_t)b.bits << 16); }

// Round to nearest, ties to even. Adding 0x7FFF plus the lowest kept bit to
// the 32-bit pattern and dropping the low half rounds the magnitude: below
// half a step the carry does not reach bit 16, above it does, and at exactly
// half it does only when the kept mantissa is odd (which makes it even). A
// carry out of the mantissa moves into the exponent, which is right (1.99..
// rounds to 2); out of the largest exponent it gives infinity, also right.
// NaN is kept a NaN whatever its payload (the rounding could carry a NaN
// with a low payload into infinity).
SKINMTL_HD bf16 bf16_from_float(float f) {
  const uint32_t u = float_bits(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return bf16{(uint16_t)((u >> 16) | 0x0040u)};  // quiet NaN
  const uint32_t lsb = (u >> 16) & 1u;
  return bf16{(uint16_t)((u + 0x7FFFu + lsb) >> 16)};
}

// One kernel body for float, double and bfloat16 buffers: compute in float
// (double for double), store rounded. load(p, i) widens, store(p, i, v)
// rounds (nothing to do for float and double).
SKINMTL_HD float load(const float* p, int64_t i) { return p[i]; }
SKINMTL_HD double load(const double* p, int64_t i) { return p[i]; }
SKINMTL_HD float load(const bf16* p, int64_t i) { return bf16_to_float(p[i]); }
SKINMTL_HD void store(float* p, int64_t i, float v) { p[i] = v; }
SKINMTL_HD void store(double* p, int64_t i, double v) { p[i] = v; }
SKINMTL_HD void store(bf16* p, int64_t i, float v) { p[i] = bf16_from_float(v); }

}  // namespace skinmtl
