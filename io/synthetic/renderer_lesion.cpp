// The Renderer's lesion (io/synthetic/renderer.h): what the skin shows around
// it (erythema, a nodule's cast shadow), its body and colour zones, the cue of
// each lesion type and the milia (io/synthetic.h, "Lesion types" and
// "Diagnosis"), and its compositing over the skin.
#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "io/synthetic/renderer.h"

namespace skinmtl {
namespace synthetic {

namespace {

// ---- pigment colours -------------------------------------------------------------------------------

// The RGB of each Pigment (io/synthetic/labels.h), in its index order.

const Col kPigment[4] = {{0.62f, 0.41f, 0.25f},   // light brown
                         {0.43f, 0.26f, 0.14f},   // dark brown
                         {0.15f, 0.10f, 0.09f},   // black
                         {0.50f, 0.56f, 0.66f}};  // blue-grey (veil)

}  // namespace

// ---- around the lesion ----------------------------------------------------------------------------

void Renderer::paint_erythema() {
  const double width = shape_.r0 * uni(rng_, 0.35, 0.8), strength = uni(rng_, 0.45, 0.7);
  const Fbm blotch(rng_, S_, 5, 3);
  const Col red{0.88f, 0.38f, 0.38f};
  const Bounds bb = lesion_bounds(width + 2);
  for (int y = bb.y0; y < bb.y1; ++y)
    for (int x = bb.x0; x < bb.x1; ++x) {
      const double X = x + 0.5, Y = y + 0.5, out = -shape_.inside(X, Y);
      const double w = (1 - smoothstep(0, width, out)) * (0.75 + 0.25 * blotch.at(X, Y));
      canvas_.blend(x, y, red, strength * w);
    }
}

// Raised lesions (nodule) cast a soft shadow away from the light.
void Renderer::paint_cast_shadow() {
  light_ = uni(rng_, 0, 2 * kPi);
  const double off = 0.14 * shape_.r0;
  RadialShape sh = shape_;
  sh.cx -= off * std::cos(light_);
  sh.cy -= off * std::sin(light_);
  const double soft = std::max(0.12 * shape_.r0, 2.0);
  const Bounds bb = lesion_bounds(off + soft + 2);
  for (int y = bb.y0; y < bb.y1; ++y)
    for (int x = bb.x0; x < bb.x1; ++x)
      canvas_.shade(x, y, Col{0.55f, 0.52f, 0.52f}, sh.coverage(x + 0.5, y + 0.5, soft));
}

// ---- the lesion ----------------------------------------------------------------------------------
//
// Built on its own canvas (lesion_canvas_), then laid over the skin with the
// body's soft coverage (lesion_alpha_): every feature is thereby clipped to the
// body.

void Renderer::paint_lesion() {
  const Bounds bb = lesion_bounds(edge_ + 1);
  // Coverage and the base pigment with a fine mottling.
  const Fbm mottle(rng_, S_, std::max(4, (int)(S_ / shape_.r0 * 1.5)), 3);
  const float tone = (float)uni(rng_, 0.85, 1.05);
  for (int y = bb.y0; y < bb.y1; ++y)
    for (int x = bb.x0; x < bb.x1; ++x) {
      const double X = x + 0.5, Y = y + 0.5;
      lesion_alpha_[(size_t)y * S_ + x] = shape_.coverage(X, Y, edge_);
      lesion_canvas_.set(x, y,
                         kPigment[labels_.pigments[0]] * (tone * (1 + 0.10f * mottle.at(X, Y))));
    }
  // Colour zones: off-centre blobs of the other pigments.
  for (size_t j = 1; j < labels_.pigments.size(); ++j) {
    const double a = uni(rng_, 0, 2 * kPi), d = shape_.r0 * uni(rng_, 0.15, 0.5);
    const RadialShape zone = RadialShape::make(
        rng_, shape_.cx + d * std::cos(a), shape_.cy + d * std::sin(a),
        shape_.r0 * uni(rng_, 0.35, 0.6), std::max(labels_.irregularity, 0.2), uni(rng_, 0.0, 0.3));
    const double opacity = labels_.pigments[j] == kBlueGrey ? 0.8 : 0.92, soft = px(3, 1.2);
    for (int y = bb.y0; y < bb.y1; ++y)
      for (int x = bb.x0; x < bb.x1; ++x) {
        const double X = x + 0.5, Y = y + 0.5;
        lesion_canvas_.blend(x, y, kPigment[labels_.pigments[j]] * (1 + 0.08f * mottle.at(X, Y)),
                             opacity * zone.coverage(X, Y, soft));
      }
  }
  if (has(kPigmentNetwork)) paint_pigment_network(bb);
  if (has(kGlobules)) paint_globules();
  if (has(kVascular)) paint_vascular();
  if (has(kErosion)) paint_erosion(bb);
  if (has(kCrust)) paint_crust(bb);
  if (has(kScale)) paint_scale(bb);
  if (labels_.milia) paint_milia();
  if (has(kNodule)) paint_nodule_dome(bb);
}

// A random point inside the lesion with rho < max_rho.
std::pair<double, double> Renderer::point_inside(double max_rho) {
  for (int t = 0; t < 1000; ++t) {
    const double x = shape_.cx + shape_.extent() * uni(rng_, -1, 1);
    const double y = shape_.cy + shape_.extent() * uni(rng_, -1, 1);
    if (shape_.rho(x, y) < max_rho) return {x, y};
  }
  return {shape_.cx, shape_.cy};
}

// Round dots inside the lesion, each drawn with disc coverage.
void Renderer::dots(int n, double rmin, double rmax, double max_rho, Col c, double opacity) {
  for (int i = 0; i < n; ++i) {
    const auto [cx, cy] = point_inside(max_rho);
    const double r = uni(rng_, rmin, rmax);
    const Bounds bb = bounds_around(cx, cy, r + 1.5, S_);
    for (int y = bb.y0; y < bb.y1; ++y)
      for (int x = bb.x0; x < bb.x1; ++x)
        lesion_canvas_.blend(x, y, c,
                             opacity * disc_cover(std::hypot(x + 0.5 - cx, y + 0.5 - cy), r));
  }
}

void Renderer::paint_pigment_network(const Bounds& bb) {
  const double mesh = px(9, 4);
  const Voronoi cells(rng_, S_, mesh);
  const double half = 0.5 * px(2.2, 1.0), strength = uni(rng_, 0.7, 0.9);
  for (int y = bb.y0; y < bb.y1; ++y)
    for (int x = bb.x0; x < bb.x1; ++x) {
      const double X = x + 0.5, Y = y + 0.5;
      const double fade = 1 - smoothstep(0.65, 1.0, shape_.rho(X, Y));
      const double line = disc_cover(cells.edge_distance(X, Y), half);
      lesion_canvas_.shade(x, y, Col{0.42f, 0.40f, 0.42f}, strength * fade * line);
      lesion_canvas_.shade(x, y, Col{1.06f, 1.06f, 1.06f}, fade * (1 - line));  // lighter holes
    }
}

void Renderer::paint_globules() {
  const Col c = coin(rng_, 0.5) ? Col{0.20f, 0.12f, 0.08f} : Col{0.10f, 0.07f, 0.06f};
  dots(int_in(rng_, 8, 20), px(2.8, 1.6), px(4.2, 2.2), 0.8, c, 0.95);
}

void Renderer::paint_vascular() {
  const Col red{0.80f, 0.12f, 0.16f};
  const double m = rng_.uniform();
  if (m < 0.65) dots(int_in(rng_, 12, 30), px(1.6, 0.9), px(2.4, 1.1), 0.85, red, 0.9);
  if (m >= 0.4) {  // linear, branching vessels
    Layer v(S_);
    const int n = int_in(rng_, 2, 5);
    for (int i = 0; i < n; ++i) {
      const auto [x0, y0] = point_inside(0.7);
      const double a = uni(rng_, 0, 2 * kPi), L = shape_.r0 * uni(rng_, 0.5, 1.1);
      const double bend = L * uni(rng_, -0.4, 0.4);
      const double x2 = x0 + L * std::cos(a), y2 = y0 + L * std::sin(a);
      const double x1 = (x0 + x2) / 2 - bend * std::sin(a), y1 = (y0 + y2) / 2 + bend * std::cos(a);
      const double w = px(2.2, 1.0);
      stroke(v, S_, x0, y0, x1, y1, x2, y2, w, 0.6 * w, 1.0);
      // A branch from the middle of the curve.
      const double mx = 0.25 * x0 + 0.5 * x1 + 0.25 * x2, my = 0.25 * y0 + 0.5 * y1 + 0.25 * y2;
      const double b = a + (coin(rng_, 0.5) ? 1 : -1) * uni(rng_, 0.5, 1.1), Lb = 0.5 * L;
      stroke(v, S_, mx, my, mx + 0.5 * Lb * std::cos(b), my + 0.5 * Lb * std::sin(b),
             mx + Lb * std::cos(b + 0.2), my + Lb * std::sin(b + 0.2), 0.7 * w, 0.45 * w, 1.0);
    }
    v.blend_onto(lesion_canvas_, red, 0.9);
  }
}

void Renderer::paint_erosion(const Bounds& bb) {
  const double a = uni(rng_, 0, 2 * kPi), d = shape_.r0 * uni(rng_, 0.0, 0.35);
  const RadialShape patch =
      RadialShape::make(rng_, shape_.cx + d * std::cos(a), shape_.cy + d * std::sin(a),
                        shape_.r0 * uni(rng_, 0.3, 0.5), 0.35, uni(rng_, 0.0, 0.3));
  const Fbm tex(rng_, S_, 12, 2);
  for (int y = bb.y0; y < bb.y1; ++y)
    for (int x = bb.x0; x < bb.x1; ++x) {
      const double X = x + 0.5, Y = y + 0.5;
      lesion_canvas_.blend(x, y, Col{0.88f, 0.32f, 0.32f} * (1 + 0.08f * tex.at(X, Y)),
                           0.92 * patch.coverage(X, Y, 1.0));
    }
  // Glossy: small white specular highlights on the moist surface.
  const int n = int_in(rng_, 2, 4);
  for (int i = 0; i < n; ++i) {
    double hx = patch.cx, hy = patch.cy;
    for (int t = 0; t < 100; ++t) {
      hx = patch.cx + patch.extent() * uni(rng_, -1, 1);
      hy = patch.cy + patch.extent() * uni(rng_, -1, 1);
      if (patch.rho(hx, hy) < 0.7) break;
    }
    const double r = px(uni(rng_, 1.8, 3.0), 1.0);
    const Bounds hb = bounds_around(hx, hy, 2 * r + 1.5, S_);
    for (int y = hb.y0; y < hb.y1; ++y)
      for (int x = hb.x0; x < hb.x1; ++x)  // an ellipse, twice as wide as high
        lesion_canvas_.blend(
            x, y, Col{1, 1, 1},
            0.85 * disc_cover(std::hypot((x + 0.5 - hx) / 2, y + 0.5 - hy), r / 2 + 0.25));
  }
}

// A thresholded fBm field over the lesion: a fraction `frac` of the
// lesion's pixels lie above the returned threshold.
float Renderer::field_threshold(const Fbm& f, const Bounds& bb, double frac) const {
  std::vector<float> inside;
  for (int y = bb.y0; y < bb.y1; ++y)
    for (int x = bb.x0; x < bb.x1; ++x)
      if (lesion_alpha_[(size_t)y * S_ + x] >= 0.5f) inside.push_back(f.at(x + 0.5, y + 0.5));
  return upper_quantile(std::move(inside), frac);
}

void Renderer::paint_crust(const Bounds& bb) {
  const Fbm f(rng_, S_, std::max(3, (int)(S_ / shape_.r0 * 1.2)), 4);
  const Fbm grain(rng_, S_, std::max(8, (int)(S_ / px(3, 1.5))), 1);
  const float t = field_threshold(f, bb, uni(rng_, 0.2, 0.35));
  const Col honey{0.86f, 0.62f, 0.24f}, orange{0.66f, 0.40f, 0.14f}, rim{0.36f, 0.20f, 0.08f};
  for (int y = bb.y0; y < bb.y1; ++y)
    for (int x = bb.x0; x < bb.x1; ++x) {
      const double X = x + 0.5, Y = y + 0.5, v = f.at(X, Y);
      lesion_canvas_.blend(x, y, rim, 0.8 * smoothstep(t - 0.09, t - 0.03, v));
      const float g = grain.at(X, Y);
      const Col c = mix(honey, orange, 0.5f + 0.5f * g) * (1 + 0.12f * g);
      lesion_canvas_.blend(x, y, c, 0.95 * smoothstep(t, t + 0.04, v));
    }
}

void Renderer::paint_scale(const Bounds& bb) {
  const Fbm f(rng_, S_, std::max(4, (int)(S_ / shape_.r0 * 2.2)), 3);
  const Fbm grain(rng_, S_, std::max(8, (int)(S_ / px(3, 1.5))), 1);
  const float t = field_threshold(f, bb, uni(rng_, 0.25, 0.40));
  const Col white{0.93f, 0.92f, 0.89f};
  for (int y = bb.y0; y < bb.y1; ++y)
    for (int x = bb.x0; x < bb.x1; ++x) {
      const double X = x + 0.5, Y = y + 0.5, v = f.at(X, Y);
      lesion_canvas_.blend(x, y, white * (1 - 0.06f * grain.at(X, Y)),
                           0.9 * smoothstep(t, t + 0.03, v));
      // Flake edges catch the light.
      lesion_canvas_.blend(
          x, y, Col{1, 1, 1},
          0.6 * smoothstep(t, t + 0.02, v) * (1 - smoothstep(t + 0.03, t + 0.07, v)));
    }
}

void Renderer::paint_milia() {
  const int n = int_in(rng_, 4, 10);
  const double rmin = px(3.5, 1.5), rmax = px(5, 2.0);
  for (int i = 0; i < n; ++i) {
    const auto [cx, cy] = point_inside(0.8);
    const double r = uni(rng_, rmin, rmax);
    const Bounds bb = bounds_around(cx, cy, 1.8 * r + 1.5, S_);
    for (int y = bb.y0; y < bb.y1; ++y)
      for (int x = bb.x0; x < bb.x1; ++x) {
        const double d = std::hypot(x + 0.5 - cx, y + 0.5 - cy);
        lesion_canvas_.blend(x, y, Col{0.97f, 0.95f, 0.84f}, 0.3 * disc_cover(d, 1.6 * r));  // glow
        lesion_canvas_.blend(x, y, Col{0.97f, 0.95f, 0.84f}, 0.95 * disc_cover(d, r));
      }
  }
}

// Shading of a dome (hemisphere) lit from direction light_: the side facing
// the light brighter, the far side darker; and a specular highlight.
void Renderer::paint_nodule_dome(const Bounds& bb) {
  const double lx = std::cos(light_), ly = std::sin(light_);
  const double hx = shape_.cx + 0.35 * shape_.r0 * lx, hy = shape_.cy + 0.35 * shape_.r0 * ly;
  const double sig = 0.16 * shape_.r0;
  for (int y = bb.y0; y < bb.y1; ++y)
    for (int x = bb.x0; x < bb.x1; ++x) {
      const double X = x + 0.5, Y = y + 0.5;
      const double rho = std::min(shape_.rho(X, Y), 1.0);
      const double dx = X - shape_.cx, dy = Y - shape_.cy, d = std::hypot(dx, dy);
      // The hemisphere's normal has the in-plane part rho * (dx, dy) / d.
      const double along = d > 0 ? rho * (dx * lx + dy * ly) / d : 0;
      const float shade = (float)(1 + 0.45 * along - 0.15 * (1 - std::sqrt(1 - rho * rho)));
      lesion_canvas_.set(x, y, lesion_canvas_.get(x, y) * shade);
      const double h2 = (X - hx) * (X - hx) + (Y - hy) * (Y - hy);
      lesion_canvas_.blend(x, y, Col{1, 1, 1}, 0.6 * std::exp(-h2 / (2 * sig * sig)));
    }
}

// Lays the lesion over the skin with its coverage; the mask is coverage >= 0.5.
void Renderer::composite_lesion() {
  const Bounds bb = lesion_bounds(edge_ + 1);
  for (int y = bb.y0; y < bb.y1; ++y)
    for (int x = bb.x0; x < bb.x1; ++x)
      canvas_.blend(x, y, lesion_canvas_.get(x, y), lesion_alpha_[(size_t)y * S_ + x]);
}

}  // namespace synthetic
}  // namespace skinmtl
