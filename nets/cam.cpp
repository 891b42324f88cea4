// Class activation maps: see nets/cam.h.
#include "nets/cam.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "base/check.h"

namespace skinmtl {

double map_value(const Tensor& map, int64_t i) {
  return map.dtype() == DType::F64 ? map.data<double>()[i] : (double)map.data<float>()[i];
}

void check_map(const char* what, const Tensor& map) {
  SKINMTL_CHECK(map.defined() && map.ndim() == 2 && map.numel() > 0,
                what << ": need a non-empty (h, w) map, got "
                     << (map.defined() ? map.str() : std::string("an undefined tensor")));
  SKINMTL_CHECK(map.device() == Device::CPU,
                what << ": the map must be on the CPU (move it with .to(Device::CPU)), got "
                     << map.str());
}

// float32 for a bfloat16 tensor, else the tensor itself.
static Tensor widened(const Tensor& t) { return t.dtype() == DType::BF16 ? t.to(DType::F32) : t; }

Tensor class_activation_map(const Tensor& feature_map, const Tensor& fc_weight, int64_t image,
                            int64_t cls, bool normalize) {
  SKINMTL_CHECK(feature_map.defined() && feature_map.ndim() == 4,
                "class_activation_map: feature_map must be (N, K, h, w), got "
                    << (feature_map.defined() ? feature_map.str() : "undefined"));
  SKINMTL_CHECK(fc_weight.defined() && fc_weight.ndim() == 2,
                "class_activation_map: fc_weight must be (C, K), got "
                    << (fc_weight.defined() ? fc_weight.str() : "undefined"));
  const int64_t N = feature_map.size(0), K = feature_map.size(1);
  const int64_t h = feature_map.size(2), w = feature_map.size(3), C = fc_weight.size(0);
  SKINMTL_CHECK(fc_weight.size(1) == K, "class_activation_map: fc_weight " << fc_weight.str()
                                            << " has " << fc_weight.size(1)
                                            << " inputs but the feature map " << feature_map.str()
                                            << " has K = " << K << " channels");
  SKINMTL_CHECK(image >= 0 && image < N, "class_activation_map: image " << image
                                             << " is outside the batch of " << N);
  SKINMTL_CHECK(cls >= 0 && cls < C, "class_activation_map: class " << cls
                                         << " is outside the head's " << C << " classes");
  SKINMTL_CHECK(h * w > 0, "class_activation_map: empty feature map " << feature_map.str());

  // Explicit copies to the host (a no-op for CPU tensors), bfloat16 features
  // (--precision bf16) widened. Only the one image and the one weight row are
  // read below.
  const Tensor f = widened(feature_map.to(Device::CPU)), wt = widened(fc_weight.to(Device::CPU));
  Tensor cam = Tensor::empty({h, w}, DType::F32, Device::CPU);
  float* out = cam.data<float>();
  const int64_t hw = h * w, f_base = image * K * hw, w_base = cls * K;
  std::vector<double> acc((size_t)hw, 0.0);
  // cam(y, x) = sum_k w[c, k] * f[n, k, y, x], k outermost so both tensors are
  // read in memory order.
  for (int64_t k = 0; k < K; ++k) {
    const double wk = map_value(wt, w_base + k);
    for (int64_t p = 0; p < hw; ++p) acc[p] += wk * map_value(f, f_base + k * hw + p);
  }
  for (int64_t p = 0; p < hw; ++p) {
    SKINMTL_CHECK(std::isfinite(acc[p]), "class_activation_map: the map of image "
                                             << image << ", class " << cls << " is not finite at ("
                                             << p / w << ", " << p % w << ")");
    out[p] = (float)acc[p];
  }
  return normalize ? normalize_map(cam) : cam;
}

Tensor normalize_map(const Tensor& map) {
  check_map("normalize_map", map);
  const int64_t n = map.numel();
  double lo = map_value(map, 0), hi = lo;
  for (int64_t i = 1; i < n; ++i) {
    lo = std::min(lo, map_value(map, i));
    hi = std::max(hi, map_value(map, i));
  }
  Tensor out = Tensor::empty(map.shape(), DType::F32, Device::CPU);
  float* o = out.data<float>();
  // A constant map has no structure to show: all zeros (documented).
  for (int64_t i = 0; i < n; ++i) o[i] = hi > lo ? (float)((map_value(map, i) - lo) / (hi - lo)) : 0.f;
  return out;
}

}  // namespace skinmtl
