// bench_conv_cpu: the CPU's two paths for 3x3 stride-1 convolutions, im2col +
// GEMM and Winograd's F(2x2, 3x3) (kernels/conv2d.h, kernels/conv2d_winograd.h),
// on every such layer of the three models at the sizes of their CPU
// reproduce recipes: forward, data gradient and weight gradient. Each row
// says which path conv2d_cpu_uses_winograd picks for that layer, and how far
// the two paths' results are apart (max |difference| relative to max
// |result|, the largest of the three).
//
//   make bench-conv-cpu                   (bin/bench_conv_cpu --reps 5)
//   bin/bench_conv_cpu --reps R --threads T [--model TEXT]
//     (--model: only the layers of the models whose name contains TEXT, e.g. Song)
//
// Times are the minimum over R runs after one warm-up (the machine is shared;
// a minimum is the least noisy estimate of what the code can do).
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "kernels/conv2d.h"

namespace {

using Clock = std::chrono::steady_clock;
using skinmtl::Conv2dShape;

struct Layer {
  const char* model;
  const char* what;
  int N, C, K, H, W;
};

// 3x3, stride 1, pad 1: output H x W. The stride-2 3x3s (the first unit of
// ResNet-50's layers 2-4) are im2col's and not listed.
const Layer kLayers[] = {
    {"Liao & Luo, 128 crops, batch 20", "layer1 3x3", 20, 64, 64, 32, 32},
    {"", "layer2 3x3", 20, 128, 128, 16, 16},
    {"", "layer3 3x3", 20, 256, 256, 8, 8},
    {"", "layer4 3x3", 20, 512, 512, 4, 4},
    {"ResNet-50 at 224, batch 20", "layer1 3x3", 20, 64, 64, 56, 56},
    {"", "layer2 3x3", 20, 128, 128, 28, 28},
    {"", "layer3 3x3", 20, 256, 256, 14, 14},
    {"", "layer4 3x3", 20, 512, 512, 7, 7},
    {"ResNet-50 at 224, batch 1", "layer1 3x3", 1, 64, 64, 56, 56},
    {"", "layer2 3x3", 1, 128, 128, 28, 28},
    {"", "layer3 3x3", 1, 256, 256, 14, 14},
    {"", "layer4 3x3", 1, 512, 512, 7, 7},
    {"Yang et al., 120x160, batch 8", "layer1 3x3", 8, 64, 64, 30, 40},
    {"", "layer2 3x3", 8, 128, 128, 15, 20},
    {"", "layer3 3x3", 8, 256, 256, 8, 10},
    {"", "layer4 3x3", 8, 512, 512, 4, 5},
    {"", "decoder block4 conv1", 8, 3072, 256, 8, 10},
    {"", "decoder block4 conv2", 8, 256, 256, 8, 10},
    {"", "decoder block3 conv1", 8, 768, 128, 15, 20},
    {"", "decoder block3 conv2", 8, 128, 128, 15, 20},
    {"", "decoder block2 conv1", 8, 384, 64, 30, 40},
    {"", "decoder block2 conv2", 8, 64, 64, 30, 40},
    {"", "decoder block1 conv1", 8, 128, 32, 60, 80},
    {"", "decoder block1 conv2", 8, 32, 32, 60, 80},
    {"Song et al., 256, 2 images", "layer1 3x3", 2, 64, 64, 64, 64},
    {"", "layer2 3x3", 2, 128, 128, 32, 32},
    {"", "layer3 3x3", 2, 256, 256, 16, 16},
    {"", "layer4 3x3", 2, 512, 512, 8, 8},
    {"", "FPN / RPN 3x3 on P2", 2, 256, 256, 64, 64},
    {"", "FPN / RPN 3x3 on P3", 2, 256, 256, 32, 32},
    {"", "FPN / RPN 3x3 on P4", 2, 256, 256, 16, 16},
    {"", "mask head, 16 RoIs", 16, 256, 256, 14, 14},
    {"", "mask head, 64 RoIs", 64, 256, 256, 14, 14},
};

Conv2dShape shape_of(const Layer& l) {
  Conv2dShape sh;
  sh.N = l.N, sh.C = l.C, sh.H = l.H, sh.W = l.W;
  sh.K = l.K, sh.R = 3, sh.S = 3;
  sh.P = l.H, sh.Q = l.W;
  sh.pad_h = sh.pad_w = 1;
  return sh;
}

double time_min(int reps, const std::function<void()>& f) {
  f();  // warm-up
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return best;
}

double relative_gap(const std::vector<float>& a, const std::vector<float>& b) {
  double gap = 0, scale = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    gap = std::max(gap, (double)std::fabs(a[i] - b[i]));
    scale = std::max(scale, (double)std::fabs(a[i]));
  }
  return scale > 0 ? gap / scale : gap;
}

// The default rule's choice: Winograd for all three, for forward and data
// gradient only (dW im2col), or im2col.
const char* rule_of(const Conv2dShape& sh) {
  if (skinmtl::conv2d_cpu_uses_winograd_weight_gradient(sh)) return "Winograd";
  return skinmtl::conv2d_cpu_uses_winograd(sh) ? "W, dW im2col" : "im2col";
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 5, threads = 0;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--reps" && i + 1 < argc) reps = std::atoi(argv[++i]);
    else if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (a == "--model" && i + 1 < argc) only = argv[++i];
    else {
      std::fprintf(stderr, "usage: bench_conv_cpu [--reps R] [--threads T] [--model TEXT]\n");
      return 2;
    }
  }
  if (threads > 0) omp_set_num_threads(threads);
  using namespace skinmtl;
  const Conv2dCpuWinograd defaults = conv2d_cpu_winograd();
  Conv2dCpuWinograd forced = defaults, off = defaults;
  forced.enabled = true, forced.min_channels = 0, forced.min_tiles = 0, forced.max_filters = INT64_MAX;
  forced.weight_gradient = true, forced.weight_gradient_min_filters = 0;
  off.enabled = false;
  std::printf("3x3 stride-1 convolutions on the CPU, %d threads, min of %d runs; ms, im2col / Winograd\n",
              omp_get_max_threads(), reps);
  std::printf("(default rule: Winograd from %d channels, %lld tiles, at most %lld filters; its weight gradient "
              "from %lld filters)\n\n",
              defaults.min_channels, (long long)defaults.min_tiles, (long long)defaults.max_filters,
              (long long)defaults.weight_gradient_min_filters);
  std::printf("%-32s %-22s %-24s %17s %17s %17s %12s %9s\n", "model", "layer", "N x C -> K x H x W", "forward",
              "data gradient", "weight gradient", "rule", "gap");
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::string model;  // the model of the rows that follow
  for (const Layer& l : kLayers) {
    if (*l.model) model = l.model;
    if (model.find(only) == std::string::npos) continue;
    const Conv2dShape sh = shape_of(l);
    std::vector<float> x((size_t)sh.N * sh.x_image()), w((size_t)sh.K * sh.col_rows()), dy((size_t)sh.N * sh.y_image());
    for (float& v : x) v = normal(rng);
    for (float& v : w) v = 0.05f * normal(rng);
    for (float& v : dy) v = normal(rng);
    std::vector<float> y[2], dx[2], dw[2];
    double fwd[2], bwd[2], wgt[2];
    for (int path = 0; path < 2; ++path) {
      set_conv2d_cpu_winograd(path ? forced : off);
      y[path].resize((size_t)sh.N * sh.y_image());
      dx[path].resize((size_t)sh.N * sh.x_image());
      dw[path].resize(w.size());
      std::vector<float> scratch(std::max({conv2d_cpu_forward_scratch_elems(sh),
                                           conv2d_cpu_backward_scratch_elems(sh, true, false),
                                           conv2d_cpu_backward_scratch_elems(sh, false, true)}));
      fwd[path] = time_min(reps, [&] {
        conv2d_forward_cpu<float>(y[path].data(), x.data(), w.data(), nullptr, scratch.data(), sh);
      });
      bwd[path] = time_min(reps, [&] {
        conv2d_backward_cpu<float>(dx[path].data(), nullptr, nullptr, dy.data(), x.data(), w.data(), scratch.data(),
                                   sh, Conv2dAccumulate{false, false, false});
      });
      wgt[path] = time_min(reps, [&] {
        conv2d_backward_cpu<float>(nullptr, dw[path].data(), nullptr, dy.data(), x.data(), w.data(), scratch.data(),
                                   sh, Conv2dAccumulate{false, false, false});
      });
    }
    set_conv2d_cpu_winograd(defaults);
    char dims[64];
    std::snprintf(dims, sizeof dims, "%d x %d -> %d x %dx%d", l.N, l.C, l.K, l.H, l.W);
    char f[32], b[32], g[32];
    std::snprintf(f, sizeof f, "%.2f / %.2f", 1e3 * fwd[0], 1e3 * fwd[1]);
    std::snprintf(b, sizeof b, "%.2f / %.2f", 1e3 * bwd[0], 1e3 * bwd[1]);
    std::snprintf(g, sizeof g, "%.2f / %.2f", 1e3 * wgt[0], 1e3 * wgt[1]);
    std::printf("%-32s %-22s %-24s %17s %17s %17s %12s %9.1e\n", l.model, l.what, dims, f, b, g,
                rule_of(sh),
                std::max({relative_gap(y[0], y[1]), relative_gap(dx[0], dx[1]), relative_gap(dw[0], dw[1])}));
  }
  return 0;
}
