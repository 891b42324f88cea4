// The drawing kit's builders: see io/synthetic/drawing_kit.h.
#include "io/synthetic/drawing_kit.h"

namespace skinmtl {
namespace synthetic {

// ---- shapes --------------------------------------------------------------------------------------

RadialShape RadialShape::make(Rng& rng, double cx, double cy, double r0, double irregularity,
                            double ellipticity) {
  RadialShape s;
  s.cx = cx;
  s.cy = cy;
  s.r0 = r0;
  const double phi2 = uni(rng, 0, 2 * kPi);
  double amp[17] = {}, phase[17] = {};
  for (int k = 3; k <= 16; ++k) {
    amp[k] = std::pow(irregularity, 1.5) * 0.17 * uni(rng, 0.4, 1.0) * std::pow(3.0 / k, 0.9);
    phase[k] = uni(rng, 0, 2 * kPi);
  }
  s.rel_.resize(kAngles);
  s.max_rel_ = 0;
  for (int i = 0; i < kAngles; ++i) {
    const double t = 2 * kPi * i / kAngles;
    double r = 1 + ellipticity * std::cos(2 * (t - phi2));
    for (int k = 3; k <= 16; ++k) r += amp[k] * std::cos(k * t + phase[k]);
    s.rel_[i] = (float)std::max(r, 0.35);
    s.max_rel_ = std::max(s.max_rel_, (double)s.rel_[i]);
  }
  return s;
}

void stroke(Layer& layer, int size, double x0, double y0, double x1, double y1, double x2,
            double y2, double w0, double w1, double opacity) {
  const double len = std::hypot(x1 - x0, y1 - y0) + std::hypot(x2 - x1, y2 - y1);
  const int steps = std::max(2, (int)std::ceil(len / 0.35));
  for (int s = 0; s <= steps; ++s) {
    const double t = (double)s / steps, a = (1 - t) * (1 - t), b = 2 * t * (1 - t), c = t * t;
    const double px = a * x0 + b * x1 + c * x2, py = a * y0 + b * y1 + c * y2;
    const double r = 0.5 * (w0 + t * (w1 - w0));
    const Bounds bb = bounds_around(px, py, r + 1.5, size);
    for (int y = bb.y0; y < bb.y1; ++y)
      for (int x = bb.x0; x < bb.x1; ++x) {
        const float c2 = disc_cover(std::hypot(x + 0.5 - px, y + 0.5 - py), r) * (float)opacity;
        if (c2 > 0) layer.raise(x, y, c2);
      }
  }
}

Voronoi::Voronoi(Rng& rng, int size, double m) : m_(m), n_((int)std::ceil(size / m) + 3) {
  pts_.resize((size_t)n_ * n_);
  for (int j = 0; j < n_; ++j)
    for (int i = 0; i < n_; ++i)  // cell (i - 1, j - 1): the grid starts one cell outside
      pts_[(size_t)j * n_ + i] = {(i - 1 + uni(rng, 0.15, 0.85)) * m,
                                  (j - 1 + uni(rng, 0.15, 0.85)) * m};
}

float upper_quantile(std::vector<float> v, double frac) {
  if (v.empty()) return 1e30f;
  const size_t k = std::min(v.size() - 1, (size_t)((1 - frac) * v.size()));
  std::nth_element(v.begin(), v.begin() + k, v.end());
  return v[k];
}

}  // namespace synthetic
}  // namespace skinmtl
