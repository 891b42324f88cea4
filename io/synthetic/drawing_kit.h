// io/synthetic/drawing_kit.h: the few drawing tools the synthetic data set's
// renderer (io/synthetic/renderer.h) paints with:
//
//   small maths   a float RGB colour (Col), mix, smoothstep, disc coverage
//   canvas        a float RGB canvas (FloatCanvas) and a coverage layer (Layer)
//   noise         value noise and fractional Brownian motion (Fbm)
//   shapes        radial (star-shaped) regions, pixel bounds, Bezier strokes,
//                 Voronoi edges, and a quantile for thresholding noise fields
//
// Coordinates are continuous: pixel (x, y) covers [x, x + 1) x [y, y + 1) and
// is sampled at its centre (x + 0.5, y + 0.5). Colours are floats in [0, 1],
// quantised to 8 bits once, at the end.
//
// Everything that is called once per pixel is defined here, inline; the
// builders that run once per shape are in drawing_kit.cpp. The tools that take
// an Rng draw from it in a fixed order, part of what makes a sample the same
// on every run.
#pragma once

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "framework/random.h"
#include "io/synthetic/random_draws.h"

namespace skinmtl {
namespace synthetic {

constexpr double kPi = 3.14159265358979323846;

// ---- small maths -------------------------------------------------------------------------------

struct Col {
  float r, g, b;
};
inline Col operator*(Col a, float s) { return {a.r * s, a.g * s, a.b * s}; }
inline Col operator*(Col a, Col b) { return {a.r * b.r, a.g * b.g, a.b * b.b}; }
// a + t (b - a)
inline Col mix(Col a, Col b, float t) {
  return {a.r + t * (b.r - a.r), a.g + t * (b.g - a.g), a.b + t * (b.b - a.b)};
}

inline float clamp01(double v) { return (float)std::min(1.0, std::max(0.0, v)); }
// 0 below e0, 1 above e1, a smooth (C1) ramp between.
inline float smoothstep(double e0, double e1, double x) {
  const double t = std::min(1.0, std::max(0.0, (x - e0) / (e1 - e0)));
  return (float)(t * t * (3 - 2 * t));
}
// Coverage of a disc of radius r by the pixel whose centre is at distance d:
// 1 inside, 0 outside, a one-pixel ramp at the edge (anti-aliasing).
inline float disc_cover(double d, double r) { return clamp01(r + 0.5 - d); }

// ---- canvas ------------------------------------------------------------------------------------

// A square float RGB image, row-major (y, x, channel).
class FloatCanvas {
 public:
  explicit FloatCanvas(int size) : s_(size), p_((size_t)size * size * 3, 0.0f) {}
  int size() const { return s_; }
  Col get(int x, int y) const {
    const float* q = &p_[((size_t)y * s_ + x) * 3];
    return {q[0], q[1], q[2]};
  }
  void set(int x, int y, Col c) {
    float* q = &p_[((size_t)y * s_ + x) * 3];
    q[0] = c.r;
    q[1] = c.g;
    q[2] = c.b;
  }
  // Moves pixel (x, y) towards c by a (clamped to [0, 1]).
  void blend(int x, int y, Col c, double a) {
    if (a <= 0) return;
    set(x, y, mix(get(x, y), c, (float)std::min(a, 1.0)));
  }
  // Multiplies pixel (x, y) by 1 + a (f - 1): a = 1 multiplies by f, a = 0 leaves it.
  void shade(int x, int y, Col f, double a) {
    if (a <= 0) return;
    const float t = (float)std::min(a, 1.0);
    set(x, y, get(x, y) * Col{1 + t * (f.r - 1), 1 + t * (f.g - 1), 1 + t * (f.b - 1)});
  }

 private:
  int s_;
  std::vector<float> p_;
};

// A coverage layer: one float in [0, 1] per pixel, built up by max(), then
// blended onto a canvas in one colour (so crossing strokes do not darken twice).
class Layer {
 public:
  explicit Layer(int size) : s_(size), c_((size_t)size * size, 0.0f) {}
  float& at(int x, int y) { return c_[(size_t)y * s_ + x]; }
  float at(int x, int y) const { return c_[(size_t)y * s_ + x]; }
  void raise(int x, int y, float v) {
    float& d = at(x, y);
    d = std::max(d, v);
  }
  void clear() { std::fill(c_.begin(), c_.end(), 0.0f); }
  void blend_onto(FloatCanvas& cv, Col c, double opacity) const {
    for (int y = 0; y < s_; ++y)
      for (int x = 0; x < s_; ++x) cv.blend(x, y, c, at(x, y) * opacity);
  }

 private:
  int s_;
  std::vector<float> c_;
};

// ---- noise ---------------------------------------------------------------------------------------

// Value noise: random values on an n x n lattice (periodic), interpolated with
// a smooth fade so the field has no creases. Values in [0, 1].
class ValueNoise {
 public:
  ValueNoise(Rng& rng, int cells) : n_(std::max(cells, 2)), v_((size_t)n_ * n_) {
    for (float& x : v_) x = (float)rng.uniform();
    ox_ = rng.uniform(0, n_);  // a random offset hides the lattice's alignment
    oy_ = rng.uniform(0, n_);
  }
  // (u, v) in lattice cells.
  float at(double u, double v) const {
    u += ox_;
    v += oy_;
    const double fu = std::floor(u), fv = std::floor(v);
    const int i = wrap((int64_t)fu), j = wrap((int64_t)fv);
    const int i1 = (i + 1) % n_, j1 = (j + 1) % n_;
    const float tu = fade(u - fu), tv = fade(v - fv);
    const float a = v_[(size_t)j * n_ + i], b = v_[(size_t)j * n_ + i1];
    const float c = v_[(size_t)j1 * n_ + i], d = v_[(size_t)j1 * n_ + i1];
    return (a + tu * (b - a)) + tv * ((c + tu * (d - c)) - (a + tu * (b - a)));
  }

 private:
  static float fade(double t) { return (float)(t * t * (3 - 2 * t)); }
  int wrap(int64_t i) const { return (int)(((i % n_) + n_) % n_); }
  int n_;
  std::vector<float> v_;
  double ox_, oy_;
};

// Fractional Brownian motion: octaves of value noise, each with twice the
// cells and half the amplitude of the one before. Result in [-1, 1], mean 0.
class Fbm {
 public:
  // `cells`: lattice cells across the image in the coarsest octave.
  Fbm(Rng& rng, int image_size, int cells, int octaves) : size_(image_size) {
    for (int o = 0; o < octaves; ++o) octaves_.emplace_back(rng, cells << o);
    cells_ = cells;
  }
  // At pixel coordinates (x, y).
  float at(double x, double y) const {
    double sum = 0, norm = 0, amp = 1, f = (double)cells_ / size_;
    for (const ValueNoise& n : octaves_) {
      sum += amp * (2 * n.at(x * f, y * f) - 1);
      norm += amp;
      amp *= 0.5;
      f *= 2;
    }
    return (float)(sum / norm);
  }

 private:
  int size_, cells_ = 1;
  std::vector<ValueNoise> octaves_;
};

// ---- shapes --------------------------------------------------------------------------------------

// A star-shaped region around (cx, cy) whose border is at radius
// r0 * rel(theta), rel = 1 + e cos 2(theta - phi) + sum_{k=3..16} a_k cos(k theta + phi_k),
// tabulated at kAngles angles and interpolated.
class RadialShape {
 public:
  static constexpr int kAngles = 1024;
  double cx = 0, cy = 0, r0 = 1;

  // irregularity b in [0, 1] scales the k >= 3 components by b^1.5 (b = 1:
  // the radius swings by about +-35 %, b = 0.6 +-18 %, b = 0.3 +-6 %; the power
  // widens the gap between regular and irregular borders); ellipticity e
  // scales the k = 2 one.
  static RadialShape make(Rng& rng, double cx, double cy, double r0, double irregularity,
                          double ellipticity);

  // The border's radius in the direction of (dx, dy) from the centre.
  double radius_towards(double dx, double dy) const {
    double t = std::atan2(dy, dx);
    if (t < 0) t += 2 * kPi;
    const double f = t / (2 * kPi) * kAngles;
    const int i = (int)f % kAngles;
    const double w = f - std::floor(f);
    return r0 * (rel_[i] + w * (rel_[(i + 1) % kAngles] - rel_[i]));
  }
  // Distance from the centre relative to the border's radius (1 on the border).
  double rho(double x, double y) const {
    const double dx = x - cx, dy = y - cy;
    return std::sqrt(dx * dx + dy * dy) / radius_towards(dx, dy);
  }
  // How far (x, y) is inside the border, in pixels, measured along the ray
  // from the centre (negative outside).
  double inside(double x, double y) const {
    const double dx = x - cx, dy = y - cy;
    return radius_towards(dx, dy) - std::sqrt(dx * dx + dy * dy);
  }
  // Soft coverage: 0.5 on the border, 0 / 1 at `edge` / 2 pixels outside / inside.
  float coverage(double x, double y, double edge) const {
    return smoothstep(-0.5, 0.5, inside(x, y) / edge);
  }
  // The farthest the border reaches from the centre.
  double extent() const { return r0 * max_rel_; }
  void set_radius(double r) { r0 = r; }

 private:
  std::vector<float> rel_;
  double max_rel_ = 1;
};

// Pixel bounds [x0, x1) x [y0, y1) of a square around (cx, cy), clipped to the image.
struct Bounds {
  int x0, y0, x1, y1;
};
inline Bounds bounds_around(double cx, double cy, double half, int size) {
  return {std::max(0, (int)std::floor(cx - half)), std::max(0, (int)std::floor(cy - half)),
          std::min(size, (int)std::ceil(cx + half) + 1),
          std::min(size, (int)std::ceil(cy + half) + 1)};
}

// Raises `layer` to the coverage of a quadratic Bezier stroke p0 - p1 - p2
// whose width goes linearly from w0 to w1, times `opacity`. The stroke is
// stamped as discs every 0.35 px along the curve.
void stroke(Layer& layer, int size, double x0, double y0, double x1, double y1, double x2,
            double y2, double w0, double w1, double opacity);

// A Worley (cellular) tessellation of a jittered grid: one random point per
// m x m cell. edge_distance() is the distance from (x, y) to the nearest cell
// border, i.e. to the bisector of the nearest two points.
class Voronoi {
 public:
  Voronoi(Rng& rng, int size, double m);
  double edge_distance(double x, double y) const {
    const int ci = (int)std::floor(x / m_) + 1, cj = (int)std::floor(y / m_) + 1;
    double d1 = 1e30, d2 = 1e30;
    int k1 = -1, k2 = -1;
    for (int j = std::max(0, cj - 1); j <= std::min(n_ - 1, cj + 1); ++j)
      for (int i = std::max(0, ci - 1); i <= std::min(n_ - 1, ci + 1); ++i) {
        const auto& p = pts_[(size_t)j * n_ + i];
        const double d = (p.first - x) * (p.first - x) + (p.second - y) * (p.second - y);
        if (d < d1) {
          d2 = d1;
          k2 = k1;
          d1 = d;
          k1 = j * n_ + i;
        } else if (d < d2) {
          d2 = d;
          k2 = j * n_ + i;
        }
      }
    if (k2 < 0) return 1e30;
    const auto& p1 = pts_[k1];
    const auto& p2 = pts_[k2];
    // Distance to the bisector: (|x - p2|^2 - |x - p1|^2) / (2 |p2 - p1|).
    return (d2 - d1) / (2 * std::hypot(p2.first - p1.first, p2.second - p1.second));
  }

 private:
  double m_;
  int n_;
  std::vector<std::pair<double, double>> pts_;
};

// The threshold above which a fraction `frac` of the values lie.
float upper_quantile(std::vector<float> v, double frac);

}  // namespace synthetic
}  // namespace skinmtl
