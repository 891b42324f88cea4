// The synthetic skin-lesion data set: see io/synthetic.h, which lists every
// cue that makes a label visible. This file is organised as the header is:
//
//   tables          the label probabilities (site, lesion type | site, diagnosis | site)
//   drawing kit     a float RGB canvas, value noise / fBm, radial shapes, strokes,
//                   Voronoi edges
//   Renderer        one sample: labels, skin, site cues, lesion, hair, optics
//   files           the folder writer and the contact sheet
//
// Coordinates are continuous: pixel (x, y) covers [x, x + 1) x [y, y + 1) and
// is sampled at its centre (x + 0.5, y + 0.5). Colours are floats in [0, 1],
// quantised to 8 bits once, at the end.
#include "io/synthetic.h"

#include "io/draw.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "framework/random.h"
#include "io/loader.h"
#include "io/progress.h"
#include "io/synthetic/drawing_kit.h"
#include "io/synthetic/labels.h"
#include "io/synthetic/random_draws.h"

namespace fs = std::filesystem;

namespace skinmtl {

namespace synthetic {
namespace {

// ---- pigment colours -------------------------------------------------------------------------------

const Col kPigment[4] = {{0.62f, 0.41f, 0.25f},   // light brown
                         {0.43f, 0.26f, 0.14f},   // dark brown
                         {0.15f, 0.10f, 0.09f},   // black
                         {0.50f, 0.56f, 0.66f}};  // blue-grey (veil)

// ---- one sample ----------------------------------------------------------------------------------

class Renderer {
 public:
  Renderer(uint64_t seed, int64_t index, int size)
      : rng_(sample_rng(seed, index)),
        S_(size),
        u_(size / 256.0),
        cv_(size),
        lesion_(size),
        alpha_((size_t)size * size, 0.0f) {}

  SynthSample render() {
    labels_ = draw_sample_labels(rng_);  // first: the labels do not depend on the size
    place_lesion();
    paint_skin();
    paint_site();
    if (has(kErythema)) paint_erythema();
    if (has(kNodule)) paint_cast_shadow();
    paint_lesion();
    composite_lesion();
    paint_hair();
    paint_optics();
    return finish();
  }

 private:
  // ---- labels -----------------------------------------------------------------------------------

  bool has(int type) const { return labels_.has(type); }
  // A length of v pixels at 256 x 256, scaled to this size, at least `floor` pixels.
  double px(double v256, double floor = 0) const { return std::max(v256 * u_, floor); }

  // ---- geometry -------------------------------------------------------------------------------------

  void place_lesion() {
    const double cx = S_ * (0.5 + uni(rng_, -0.07, 0.07));
    const double cy = S_ * (0.5 + uni(rng_, -0.07, 0.07));
    const double r0 = S_ * uni(rng_, 0.17, 0.29);
    edge_ = uni(rng_, 1.0, 2.5);
    shape_ = RadialShape::make(rng_, cx, cy, r0, labels_.irregularity, uni(rng_, 0.0, 0.22));
    // Keep the whole lesion 2 px (plus the soft edge) inside the image.
    const double room = std::min({cx, cy, S_ - cx, S_ - cy}) - 2 - edge_;
    if (shape_.extent() > room) shape_.set_radius(r0 * room / shape_.extent());
  }

  // Bounds of the lesion (plus `margin` pixels).
  Bounds lesion_bounds(double margin) const {
    return bounds_around(shape_.cx, shape_.cy, shape_.extent() + margin, S_);
  }

  // ---- skin ----------------------------------------------------------------------------------------

  void paint_skin() {
    // One tone range for every site (fair to medium); sites shift it a little.
    const Col fair{0.96f, 0.82f, 0.74f}, medium{0.78f, 0.57f, 0.44f};
    skin_ = mix(fair, medium, (float)uni(rng_, 0, 1));
    switch (labels_.site) {
      case kFace: skin_ = skin_ * Col{1.02f, 0.96f, 0.96f}; break;
      case kHand: skin_ = mix(skin_, Col{0.95f, 0.74f, 0.72f}, 0.25f) * 1.02f; break;
      case kFoot: skin_ = skin_ * Col{1.0f, 0.97f, 0.86f}; break;
      case kScalp: skin_ = skin_ * 0.98f; break;
      default: break;
    }
    const Fbm light(rng_, S_, 3, 4), red(rng_, S_, 4, 3);
    for (int y = 0; y < S_; ++y)
      for (int x = 0; x < S_; ++x) {
        const double X = x + 0.5, Y = y + 0.5;
        const float l = 1 + 0.06f * light.at(X, Y), r = 0.03f * red.at(X, Y);
        cv_.set(x, y, Col{skin_.r * l + r, skin_.g * l - 0.5f * r, skin_.b * l - 0.5f * r});
      }
  }

  // ---- site cues -------------------------------------------------------------------------------------

  void paint_site() {
    switch (labels_.site) {
      case kArm: skin_lines(0.045); break;
      case kFace: face_pores(); break;
      case kFoot: sole_ridges(); break;
      case kHand: palm(); break;
      case kLeg: dry_skin_cracks(); break;
      case kNail: nail_plate(); break;
      case kScalp: break;  // its cue is the hair (paint_hair)
      case kTrunk: trunk(); break;
    }
  }

  // Two faint families of fine furrows crossing at 50-80 degrees.
  void skin_lines(double depth) {
    const double a1 = uni(rng_, 0, kPi), a2 = a1 + uni(rng_, 0.9, 1.4);
    const double period = px(10, 4);
    const Fbm warp(rng_, S_, 4, 2);
    for (int y = 0; y < S_; ++y)
      for (int x = 0; x < S_; ++x) {
        const double X = x + 0.5, Y = y + 0.5, w = 1.5 * warp.at(X, Y);
        double line = 0;
        for (double a : {a1, a2}) {
          const double ph = 2 * kPi * (X * std::cos(a) + Y * std::sin(a)) / period + w;
          line = std::max(line, std::pow(0.5 + 0.5 * std::cos(ph), 8.0));
        }
        cv_.shade(x, y, Col{0.0f, 0.0f, 0.0f}, depth * line);
      }
  }

  void face_pores() {
    const double sp = px(7, 3);
    for (double gy = 0; gy < S_; gy += sp)
      for (double gx = 0; gx < S_; gx += sp) {
        const double cx = gx + sp * uni(rng_, 0.15, 0.85), cy = gy + sp * uni(rng_, 0.15, 0.85);
        const double r = px(uni(rng_, 0.9, 1.5), 0.55);
        const double a = uni(rng_, 0.5, 0.8);
        const Bounds bb = bounds_around(cx, cy, r + 1.5, S_);
        for (int y = bb.y0; y < bb.y1; ++y)
          for (int x = bb.x0; x < bb.x1; ++x)
            cv_.shade(x, y, Col{0.74f, 0.64f, 0.64f},
                      a * disc_cover(std::hypot(x + 0.5 - cx, y + 0.5 - cy), r));
      }
    if (coin(rng_, 0.5)) {  // an oily sheen: a broad soft highlight
      const double hx = S_ * uni(rng_, 0.1, 0.9), hy = S_ * uni(rng_, 0.1, 0.9);
      const double sig = S_ * uni(rng_, 0.12, 0.25);
      for (int y = 0; y < S_; ++y)
        for (int x = 0; x < S_; ++x) {
          const double d2 = std::pow(x + 0.5 - hx, 2) + std::pow(y + 0.5 - hy, 2);
          cv_.blend(x, y, Col{1, 1, 1}, 0.22 * std::exp(-d2 / (2 * sig * sig)));
        }
    }
  }

  void sole_ridges() {
    const double th = uni(rng_, 0, kPi), period = px(10, 5);
    const Fbm warp(rng_, S_, 2, 2);
    for (int y = 0; y < S_; ++y)
      for (int x = 0; x < S_; ++x) {
        const double X = x + 0.5, Y = y + 0.5;
        const double f = std::cos(2 * kPi * (X * std::cos(th) + Y * std::sin(th)) / period +
                                  1.2 * warp.at(X, Y));
        cv_.shade(x, y, Col{0.72f, 0.68f, 0.66f}, smoothstep(0.45, 0.95, f));  // furrows
        cv_.blend(x, y, Col{1, 0.98f, 0.92f}, 0.10 * smoothstep(-0.5, -1.0, f));  // ridge crests
      }
  }

  void palm() {
    // Dermatoglyphic ridges: arcs around a centre 0.5-1.2 image sides away
    // (whorls and loops seen close up), slightly wavy.
    const double a = uni(rng_, 0, 2 * kPi), dist = S_ * uni(rng_, 0.5, 1.2), period = px(5, 3);
    const double ox = S_ / 2.0 + dist * std::cos(a), oy = S_ / 2.0 + dist * std::sin(a);
    const Fbm warp(rng_, S_, 3, 2);
    for (int y = 0; y < S_; ++y)
      for (int x = 0; x < S_; ++x) {
        const double X = x + 0.5, Y = y + 0.5;
        const double f = std::cos(2 * kPi * std::hypot(X - ox, Y - oy) / period + 3.0 * warp.at(X, Y));
        cv_.shade(x, y, Col{0.86f, 0.82f, 0.82f}, smoothstep(0.2, 1.0, f));
      }
    // Flexion creases: 2-3 long dark curves from edge to edge.
    Layer crease(S_);
    const int n = int_in(rng_, 2, 3);
    for (int i = 0; i < n; ++i) {
      const double a = uni(rng_, 0, kPi), off = S_ * uni(rng_, -0.35, 0.35);
      const double dx = std::cos(a), dy = std::sin(a), nx = -dy, ny = dx;
      const double c = S_ / 2.0, L = S_ * 0.75;
      const double bend = S_ * uni(rng_, -0.15, 0.15);
      stroke(crease, S_, c + nx * off - dx * L, c + ny * off - dy * L, c + nx * (off + bend),
             c + ny * (off + bend), c + nx * off + dx * L, c + ny * off + dy * L, px(3.2, 1.3),
             px(2.2, 1.1), 0.8);
    }
    crease.blend_onto(cv_, skin_ * Col{0.62f, 0.5f, 0.5f}, 1.0);
  }

  void dry_skin_cracks() {
    const Voronoi cells(rng_, S_, S_ / uni(rng_, 7, 10));
    const double w = px(1.2, 0.7);
    for (int y = 0; y < S_; ++y)
      for (int x = 0; x < S_; ++x)
        cv_.blend(x, y, Col{0.97f, 0.93f, 0.90f},
                  0.5 * disc_cover(cells.edge_distance(x + 0.5, y + 0.5), w / 2));
  }

  void nail_plate() {
    // Frame: a along the nail (from the cuticle to the free edge), b across.
    const double phi = uni(rng_, 0, 2 * kPi), ax = std::cos(phi), ay = std::sin(phi);
    const double hw = S_ * uni(rng_, 0.33, 0.42);            // half width of the plate
    const double ac = -S_ * uni(rng_, 0.36, 0.46);           // cuticle apex
    const double k = uni(rng_, 0.6, 1.2) / S_;               // cuticle curvature
    const double period = px(7, 3);
    const Fbm stri(rng_, S_, 3, 2);
    const Col plate = mix(skin_, Col{0.94f, 0.76f, 0.76f}, 0.55f) * 1.04f;
    for (int y = 0; y < S_; ++y)
      for (int x = 0; x < S_; ++x) {
        const double X = x + 0.5 - S_ / 2.0, Y = y + 0.5 - S_ / 2.0;
        const double A = X * ax + Y * ay, B = -X * ay + Y * ax;
        const double from_cuticle = A - (ac + k * B * B), from_side = hw - std::fabs(B);
        const double in = std::min(from_cuticle, from_side);  // > 0 on the plate
        const Col base = cv_.get(x, y);
        Col c = base * Col{0.92f, 0.84f, 0.84f};  // periungual skin: redder, darker
        if (in > -1.5) {
          const float cover = smoothstep(-0.75, 0.75, in);
          Col p = plate * (float)(1 + 0.06 * std::cos(2 * kPi * B / period + 2 * stri.at(x, y)));
          // The lunula: whitish near the cuticle.
          p = mix(p, Col{0.97f, 0.93f, 0.91f}, 0.55f * (1 - smoothstep(S_ * 0.05, S_ * 0.11,
                                                                      from_cuticle)));
          // A dark groove along the lateral folds.
          p = p * (1 - 0.3f * (1 - smoothstep(0, px(3, 1.2), from_side)));
          c = mix(c, p, cover);
        }
        // A thin whitish cuticle rim just outside the plate's proximal edge.
        if (from_cuticle < 0 && from_cuticle > -px(4, 1.5) && from_side > 0)
          c = mix(c, Col{0.95f, 0.88f, 0.85f}, 0.5f);
        cv_.set(x, y, c);
      }
  }

  void trunk() {
    const int n = int_in(rng_, 4, 16);
    for (int i = 0; i < n; ++i) {  // freckles
      const double cx = S_ * uni(rng_, 0, 1), cy = S_ * uni(rng_, 0, 1);
      const double r = px(uni(rng_, 2, 4), 1.2);
      const Bounds bb = bounds_around(cx, cy, r + 1.5, S_);
      for (int y = bb.y0; y < bb.y1; ++y)
        for (int x = bb.x0; x < bb.x1; ++x)
          cv_.shade(x, y, Col{0.82f, 0.72f, 0.62f},
                    0.75 * smoothstep(-1, 1, r - std::hypot(x + 0.5 - cx, y + 0.5 - cy)));
    }
    if (!coin(rng_, 0.5)) return;
    // A clothing edge along one side, kept clear of the lesion.
    const int side = int_in(rng_, 0, 3);  // 0 top, 1 right, 2 bottom, 3 left
    const Bounds lb = lesion_bounds(edge_);
    const int gap = side == 0 ? lb.y0 : side == 1 ? S_ - lb.x1 : side == 2 ? S_ - lb.y1 : lb.x0;
    const double depth = std::min(S_ * uni(rng_, 0.08, 0.18), gap - S_ * 0.03);
    const Col fabric[6] = {{0.15f, 0.20f, 0.40f}, {0.08f, 0.08f, 0.10f}, {0.90f, 0.90f, 0.92f},
                           {0.60f, 0.10f, 0.12f}, {0.50f, 0.50f, 0.52f}, {0.20f, 0.40f, 0.25f}};
    const Col cloth = fabric[int_in(rng_, 0, 5)];
    const double weave = px(4, 2), wobble = S_ * uni(rng_, 0.0, 0.03), ph = uni(rng_, 0, 2 * kPi);
    if (depth < S_ * 0.04) return;
    for (int y = 0; y < S_; ++y)
      for (int x = 0; x < S_; ++x) {
        const double X = x + 0.5, Y = y + 0.5;
        const double along = side % 2 == 0 ? X : Y;
        const double into = side == 0 ? Y : side == 1 ? S_ - X : side == 2 ? S_ - Y : X;
        const double edge = depth + wobble * std::sin(2 * kPi * along / S_ * 1.5 + ph);
        const double d = edge - into;  // > 0 on the fabric
        if (d < -px(6, 2)) continue;
        // A soft shadow on the skin next to the fabric, then the fabric itself.
        cv_.shade(x, y, Col{0.7f, 0.7f, 0.7f}, 1 - smoothstep(0, px(6, 2), -d));
        const double tex = 1 + 0.12 * std::sin(2 * kPi * X / weave) * std::sin(2 * kPi * Y / weave);
        cv_.blend(x, y, cloth * (float)tex, smoothstep(-0.75, 0.75, d));
      }
  }

  // ---- around the lesion ----------------------------------------------------------------------------

  void paint_erythema() {
    const double width = shape_.r0 * uni(rng_, 0.35, 0.8), strength = uni(rng_, 0.45, 0.7);
    const Fbm blotch(rng_, S_, 5, 3);
    const Col red{0.88f, 0.38f, 0.38f};
    const Bounds bb = lesion_bounds(width + 2);
    for (int y = bb.y0; y < bb.y1; ++y)
      for (int x = bb.x0; x < bb.x1; ++x) {
        const double X = x + 0.5, Y = y + 0.5, out = -shape_.inside(X, Y);
        const double w = (1 - smoothstep(0, width, out)) * (0.75 + 0.25 * blotch.at(X, Y));
        cv_.blend(x, y, red, strength * w);
      }
  }

  // Raised lesions (nodule) cast a soft shadow away from the light.
  void paint_cast_shadow() {
    light_ = uni(rng_, 0, 2 * kPi);
    const double off = 0.14 * shape_.r0;
    RadialShape sh = shape_;
    sh.cx -= off * std::cos(light_);
    sh.cy -= off * std::sin(light_);
    const double soft = std::max(0.12 * shape_.r0, 2.0);
    const Bounds bb = lesion_bounds(off + soft + 2);
    for (int y = bb.y0; y < bb.y1; ++y)
      for (int x = bb.x0; x < bb.x1; ++x)
        cv_.shade(x, y, Col{0.55f, 0.52f, 0.52f}, sh.coverage(x + 0.5, y + 0.5, soft));
  }

  // ---- the lesion ----------------------------------------------------------------------------------
  //
  // Built on its own canvas (lesion_), then laid over the skin with the body's
  // soft coverage (alpha_): every feature is thereby clipped to the body.

  void paint_lesion() {
    const Bounds bb = lesion_bounds(edge_ + 1);
    // Coverage and the base pigment with a fine mottling.
    const Fbm mottle(rng_, S_, std::max(4, (int)(S_ / shape_.r0 * 1.5)), 3);
    const float tone = (float)uni(rng_, 0.85, 1.05);
    for (int y = bb.y0; y < bb.y1; ++y)
      for (int x = bb.x0; x < bb.x1; ++x) {
        const double X = x + 0.5, Y = y + 0.5;
        alpha_[(size_t)y * S_ + x] = shape_.coverage(X, Y, edge_);
        lesion_.set(x, y, kPigment[labels_.pigments[0]] * (tone * (1 + 0.10f * mottle.at(X, Y))));
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
          lesion_.blend(x, y, kPigment[labels_.pigments[j]] * (1 + 0.08f * mottle.at(X, Y)),
                        opacity * zone.coverage(X, Y, soft));
        }
    }
    if (has(kNetwork)) network(bb);
    if (has(kGlobules)) globules();
    if (has(kVascular)) vessels();
    if (has(kErosion)) erosion(bb);
    if (has(kCrust)) crust(bb);
    if (has(kScale)) scale(bb);
    if (labels_.milia) milia();
    if (has(kNodule)) dome(bb);
  }

  // A random point inside the lesion with rho < max_rho.
  std::pair<double, double> point_inside(double max_rho) {
    for (int t = 0; t < 1000; ++t) {
      const double x = shape_.cx + shape_.extent() * uni(rng_, -1, 1);
      const double y = shape_.cy + shape_.extent() * uni(rng_, -1, 1);
      if (shape_.rho(x, y) < max_rho) return {x, y};
    }
    return {shape_.cx, shape_.cy};
  }

  // Round dots inside the lesion, each drawn with disc coverage.
  void dots(int n, double rmin, double rmax, double max_rho, Col c, double opacity) {
    for (int i = 0; i < n; ++i) {
      const auto [cx, cy] = point_inside(max_rho);
      const double r = uni(rng_, rmin, rmax);
      const Bounds bb = bounds_around(cx, cy, r + 1.5, S_);
      for (int y = bb.y0; y < bb.y1; ++y)
        for (int x = bb.x0; x < bb.x1; ++x)
          lesion_.blend(x, y, c, opacity * disc_cover(std::hypot(x + 0.5 - cx, y + 0.5 - cy), r));
    }
  }

  void network(const Bounds& bb) {
    const double mesh = px(9, 4);
    const Voronoi cells(rng_, S_, mesh);
    const double half = 0.5 * px(2.2, 1.0), strength = uni(rng_, 0.7, 0.9);
    for (int y = bb.y0; y < bb.y1; ++y)
      for (int x = bb.x0; x < bb.x1; ++x) {
        const double X = x + 0.5, Y = y + 0.5;
        const double fade = 1 - smoothstep(0.65, 1.0, shape_.rho(X, Y));
        const double line = disc_cover(cells.edge_distance(X, Y), half);
        lesion_.shade(x, y, Col{0.42f, 0.40f, 0.42f}, strength * fade * line);
        lesion_.shade(x, y, Col{1.06f, 1.06f, 1.06f}, fade * (1 - line));  // lighter holes
      }
  }

  void globules() {
    const Col c = coin(rng_, 0.5) ? Col{0.20f, 0.12f, 0.08f} : Col{0.10f, 0.07f, 0.06f};
    dots(int_in(rng_, 8, 20), px(2.8, 1.6), px(4.2, 2.2), 0.8, c, 0.95);
  }

  void vessels() {
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
      v.blend_onto(lesion_, red, 0.9);
    }
  }

  void erosion(const Bounds& bb) {
    const double a = uni(rng_, 0, 2 * kPi), d = shape_.r0 * uni(rng_, 0.0, 0.35);
    const RadialShape patch =
        RadialShape::make(rng_, shape_.cx + d * std::cos(a), shape_.cy + d * std::sin(a),
                          shape_.r0 * uni(rng_, 0.3, 0.5), 0.35, uni(rng_, 0.0, 0.3));
    const Fbm tex(rng_, S_, 12, 2);
    for (int y = bb.y0; y < bb.y1; ++y)
      for (int x = bb.x0; x < bb.x1; ++x) {
        const double X = x + 0.5, Y = y + 0.5;
        lesion_.blend(x, y, Col{0.88f, 0.32f, 0.32f} * (1 + 0.08f * tex.at(X, Y)),
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
          lesion_.blend(x, y, Col{1, 1, 1},
                        0.85 * disc_cover(std::hypot((x + 0.5 - hx) / 2, y + 0.5 - hy), r / 2 + 0.25));
    }
  }

  // A thresholded fBm field over the lesion: a fraction `frac` of the
  // lesion's pixels lie above the returned threshold.
  float field_threshold(const Fbm& f, const Bounds& bb, double frac) const {
    std::vector<float> inside;
    for (int y = bb.y0; y < bb.y1; ++y)
      for (int x = bb.x0; x < bb.x1; ++x)
        if (alpha_[(size_t)y * S_ + x] >= 0.5f) inside.push_back(f.at(x + 0.5, y + 0.5));
    return upper_quantile(std::move(inside), frac);
  }

  void crust(const Bounds& bb) {
    const Fbm f(rng_, S_, std::max(3, (int)(S_ / shape_.r0 * 1.2)), 4);
    const Fbm grain(rng_, S_, std::max(8, (int)(S_ / px(3, 1.5))), 1);
    const float t = field_threshold(f, bb, uni(rng_, 0.2, 0.35));
    const Col honey{0.86f, 0.62f, 0.24f}, orange{0.66f, 0.40f, 0.14f}, rim{0.36f, 0.20f, 0.08f};
    for (int y = bb.y0; y < bb.y1; ++y)
      for (int x = bb.x0; x < bb.x1; ++x) {
        const double X = x + 0.5, Y = y + 0.5, v = f.at(X, Y);
        lesion_.blend(x, y, rim, 0.8 * smoothstep(t - 0.09, t - 0.03, v));
        const float g = grain.at(X, Y);
        const Col c = mix(honey, orange, 0.5f + 0.5f * g) * (1 + 0.12f * g);
        lesion_.blend(x, y, c, 0.95 * smoothstep(t, t + 0.04, v));
      }
  }

  void scale(const Bounds& bb) {
    const Fbm f(rng_, S_, std::max(4, (int)(S_ / shape_.r0 * 2.2)), 3);
    const Fbm grain(rng_, S_, std::max(8, (int)(S_ / px(3, 1.5))), 1);
    const float t = field_threshold(f, bb, uni(rng_, 0.25, 0.40));
    const Col white{0.93f, 0.92f, 0.89f};
    for (int y = bb.y0; y < bb.y1; ++y)
      for (int x = bb.x0; x < bb.x1; ++x) {
        const double X = x + 0.5, Y = y + 0.5, v = f.at(X, Y);
        lesion_.blend(x, y, white * (1 - 0.06f * grain.at(X, Y)), 0.9 * smoothstep(t, t + 0.03, v));
        // Flake edges catch the light.
        lesion_.blend(x, y, Col{1, 1, 1}, 0.6 * smoothstep(t, t + 0.02, v) * (1 - smoothstep(t + 0.03, t + 0.07, v)));
      }
  }

  void milia() {
    const int n = int_in(rng_, 4, 10);
    const double rmin = px(3.5, 1.5), rmax = px(5, 2.0);
    for (int i = 0; i < n; ++i) {
      const auto [cx, cy] = point_inside(0.8);
      const double r = uni(rng_, rmin, rmax);
      const Bounds bb = bounds_around(cx, cy, 1.8 * r + 1.5, S_);
      for (int y = bb.y0; y < bb.y1; ++y)
        for (int x = bb.x0; x < bb.x1; ++x) {
          const double d = std::hypot(x + 0.5 - cx, y + 0.5 - cy);
          lesion_.blend(x, y, Col{0.97f, 0.95f, 0.84f}, 0.3 * disc_cover(d, 1.6 * r));  // glow
          lesion_.blend(x, y, Col{0.97f, 0.95f, 0.84f}, 0.95 * disc_cover(d, r));
        }
    }
  }

  // Shading of a dome (hemisphere) lit from direction light_: the side facing
  // the light brighter, the far side darker; and a specular highlight.
  void dome(const Bounds& bb) {
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
        lesion_.set(x, y, lesion_.get(x, y) * shade);
        const double h2 = (X - hx) * (X - hx) + (Y - hy) * (Y - hy);
        lesion_.blend(x, y, Col{1, 1, 1}, 0.6 * std::exp(-h2 / (2 * sig * sig)));
      }
  }

  // Lays the lesion over the skin with its coverage; the mask is coverage >= 0.5.
  void composite_lesion() {
    const Bounds bb = lesion_bounds(edge_ + 1);
    for (int y = bb.y0; y < bb.y1; ++y)
      for (int x = bb.x0; x < bb.x1; ++x)
        cv_.blend(x, y, lesion_.get(x, y), alpha_[(size_t)y * S_ + x]);
  }

  // ---- hair (over everything, lesion included) --------------------------------------------------

  void paint_hair() {
    // Per site: number of hairs, length range (x size), width, spread of
    // direction around the site's flow (radians), colour.
    int n_min, n_max;
    double lmin, lmax, w, spread;
    Col colour;
    switch (labels_.site) {
      case kScalp:
        n_min = 50, n_max = 100;
        lmin = 0.3, lmax = 0.8, w = px(2.2, 1.0), spread = 0.35;
        colour = mix(Col{0.10f, 0.07f, 0.05f}, Col{0.28f, 0.18f, 0.10f}, (float)rng_.uniform());
        break;
      case kArm:
        n_min = 25, n_max = 45;
        lmin = 0.12, lmax = 0.30, w = px(1.1, 0.7), spread = 0.2;
        colour = Col{0.33f, 0.22f, 0.14f};
        break;
      case kLeg:
        n_min = 10, n_max = 22;
        lmin = 0.05, lmax = 0.13, w = px(1.8, 1.0), spread = 0.25;
        colour = Col{0.12f, 0.08f, 0.06f};
        break;
      default: return;  // the other sites are hairless here
    }
    const int n = int_in(rng_, n_min, n_max);
    const double dir = uni(rng_, 0, 2 * kPi);
    Layer hair(S_), roots(S_);
    for (int i = 0; i < n; ++i) {
      const double L = S_ * uni(rng_, lmin, lmax), a = dir + uni(rng_, -spread, spread);
      // Start anywhere such that part of the hair is in the image.
      const double x0 = uni(rng_, -0.3 * L, S_ + 0.3 * L) - 0.5 * L * std::cos(a);
      const double y0 = uni(rng_, -0.3 * L, S_ + 0.3 * L) - 0.5 * L * std::sin(a);
      const double x2 = x0 + L * std::cos(a), y2 = y0 + L * std::sin(a);
      const double bend = L * uni(rng_, -0.12, 0.12);
      const double x1 = (x0 + x2) / 2 - bend * std::sin(a), y1 = (y0 + y2) / 2 + bend * std::cos(a);
      stroke(hair, S_, x0, y0, x1, y1, x2, y2, w, 0.55 * w, uni(rng_, 0.7, 0.95));
      if (labels_.site == kScalp) stroke(roots, S_, x0, y0, x0, y0, x0, y0, 1.8 * w, 1.8 * w, 0.8);
    }
    roots.blend_onto(cv_, colour * 1.2f, 0.8);
    hair.blend_onto(cv_, colour, 1.0);
  }

  // ---- optics and noise --------------------------------------------------------------------------

  void paint_optics() {
    const float gain = (float)uni(rng_, 0.92, 1.06);
    const Col tint{(float)uni(rng_, 0.97, 1.03), (float)uni(rng_, 0.97, 1.03),
                   (float)uni(rng_, 0.97, 1.03)};
    const double g = uni(rng_, 0.0, 0.12), ga = uni(rng_, 0, 2 * kPi);
    // The dermoscope's circular field of view, outside which the image is dark.
    const bool vignette = coin(rng_, 0.35);
    const double reach = std::hypot(shape_.cx - S_ / 2.0, shape_.cy - S_ / 2.0) + shape_.extent();
    const double soft = 0.02 * S_;
    const double R = std::max(S_ * uni(rng_, 0.5, 0.6), reach + 2 * soft + 2);
    for (int y = 0; y < S_; ++y)
      for (int x = 0; x < S_; ++x) {
        const double X = x + 0.5 - S_ / 2.0, Y = y + 0.5 - S_ / 2.0;
        const float l = gain * (float)(1 + g * (X * std::cos(ga) + Y * std::sin(ga)) / S_);
        Col c = cv_.get(x, y) * tint * l;
        if (vignette) c = mix(c, Col{0.03f, 0.03f, 0.03f}, smoothstep(R - soft, R + soft, std::hypot(X, Y)));
        cv_.set(x, y, c);
      }
  }

  SynthSample finish() {
    SynthSample s;
    fill_labels(labels_, s);
    s.image = Image(S_, S_, 3);
    s.mask = Image(S_, S_, 1);
    for (int y = 0; y < S_; ++y)
      for (int x = 0; x < S_; ++x) {
        const Col c = cv_.get(x, y);
        const float v[3] = {c.r, c.g, c.b};
        for (int ch = 0; ch < 3; ++ch) {
          const double n = v[ch] + rng_.normal(0, 0.015);  // sensor noise
          s.image.at(y, x, ch) = (uint8_t)std::lround(255 * clamp01(n));
        }
        s.mask.at(y, x, 0) = alpha_[(size_t)y * S_ + x] >= 0.5f ? 255 : 0;
      }
    // The box: the mask's bounding box, half-open.
    s.box = {S_, S_, 0, 0};
    for (int y = 0; y < S_; ++y)
      for (int x = 0; x < S_; ++x)
        if (s.mask.at(y, x, 0)) {
          s.box.x0 = std::min(s.box.x0, x);
          s.box.y0 = std::min(s.box.y0, y);
          s.box.x1 = std::max(s.box.x1, x + 1);
          s.box.y1 = std::max(s.box.y1, y + 1);
        }
    SKINMTL_CHECK(s.box.x1 > s.box.x0, "synth_sample: empty lesion mask (a generator bug)");
    return s;
  }

  Rng rng_;
  const int S_;
  const double u_;  // size / 256
  FloatCanvas cv_, lesion_;
  std::vector<float> alpha_;  // the lesion body's coverage

  SampleLabels labels_;
  RadialShape shape_;
  double edge_ = 1.5;     // soft edge width of the lesion body, pixels
  double light_ = 0;      // nodule light direction (radians)
  Col skin_{0.9f, 0.7f, 0.6f};
};

}  // namespace
}  // namespace synthetic

// ---- public entry points ---------------------------------------------------------------------------

SynthSample synth_sample(uint64_t seed, int64_t index, const SynthOptions& options) {
  SKINMTL_CHECK(options.size >= 32 && options.size <= 4096,
                "synth: image size must be in [32, 4096], got " << options.size);
  SKINMTL_CHECK(index >= 0, "synth: sample index must be >= 0, got " << index);
  return synthetic::Renderer(seed, index, options.size).render();
}

std::vector<SynthSample> synth_samples(uint64_t seed, int64_t first, int64_t count,
                                       const SynthOptions& options, int threads) {
  SKINMTL_CHECK(count >= 0, "synth_samples: count must be >= 0, got " << count);
  std::vector<SynthSample> out((size_t)count);
  std::vector<std::string> errors((size_t)count);
  const int nt = threads > 0 ? threads : omp_get_max_threads();
  // Each sample has its own Rng and slot: the thread that makes it does not matter.
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
  for (int64_t i = 0; i < count; ++i) {
    try {
      out[i] = synth_sample(seed, first + i, options);
    } catch (const std::exception& e) {
      errors[i] = e.what();  // exceptions must not leave an OpenMP region
    }
  }
  for (const std::string& e : errors) SKINMTL_CHECK(e.empty(), e);
  return out;
}

}  // namespace skinmtl
