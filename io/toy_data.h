// io/toy_data.h: a small generated data set for the framework's own training
// test and the `skinmtl demo` job.
//
// Each sample is a 3 x S x S image of "skin" with two kinds of labels, both
// decidable from the pixels, like the two tasks of Liao & Luo's classifier:
//
//   lesion types (multi-label, K = 3; each present with probability 1/2):
//     0 "pigmented":  a dark brown disc
//     1 "vascular":   a cluster of small red dots
//     2 "scale":      a whitish ring
//   site (one of 4, the stand-in for body location): the texture of the skin
//     0 smooth, 1 horizontal folds, 2 vertical folds, 3 a cross-hatch.
//
// Skin tone, positions, sizes and noise are random, so neither task can be
// solved by a single pixel or the mean colour. Pixel values are about 0-1
// minus 0.5. Generation is deterministic in the seed.
//
// (The lesion-like generator with masks and boxes for the full models is a
// separate, larger thing; this one exists to show the framework learns.)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/tensor.h"

namespace skinmtl {

struct ToyBatch {
  Tensor images;   // (N, 3, S, S) float32 CPU
  Tensor lesions;  // (N, 3) float32 CPU, 0/1
  Tensor sites;    // (N) float32 CPU, class index 0..3
};

struct ToyDataSpec {
  int size = 32;       // S
  double noise = 0.05; // std of the per-pixel Gaussian noise
};

constexpr int kToyLesionTypes = 3;
constexpr int kToySites = 4;
extern const char* const kToyLesionNames[kToyLesionTypes];
extern const char* const kToySiteNames[kToySites];

// n samples; sample i of a given seed is always the same image.
ToyBatch make_toy_batch(int n, uint64_t seed, const ToyDataSpec& spec = {});

}  // namespace skinmtl
