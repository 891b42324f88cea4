// The Renderer's skin (io/synthetic/renderer.h): the skin tone and texture,
// each body site's cue (io/synthetic.h, "Sites"), and hair, which is painted
// last but one, over the lesion.
#include <algorithm>
#include <cmath>

#include "io/synthetic/renderer.h"

namespace skinmtl {
namespace synthetic {

// ---- skin ----------------------------------------------------------------------------------------

void Renderer::paint_skin() {
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
      canvas_.set(x, y, Col{skin_.r * l + r, skin_.g * l - 0.5f * r, skin_.b * l - 0.5f * r});
    }
}

// ---- site cues -------------------------------------------------------------------------------------

void Renderer::paint_site() {
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
void Renderer::skin_lines(double depth) {
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
      canvas_.shade(x, y, Col{0.0f, 0.0f, 0.0f}, depth * line);
    }
}

void Renderer::face_pores() {
  const double sp = px(7, 3);
  for (double gy = 0; gy < S_; gy += sp)
    for (double gx = 0; gx < S_; gx += sp) {
      const double cx = gx + sp * uni(rng_, 0.15, 0.85), cy = gy + sp * uni(rng_, 0.15, 0.85);
      const double r = px(uni(rng_, 0.9, 1.5), 0.55);
      const double a = uni(rng_, 0.5, 0.8);
      const Bounds bb = bounds_around(cx, cy, r + 1.5, S_);
      for (int y = bb.y0; y < bb.y1; ++y)
        for (int x = bb.x0; x < bb.x1; ++x)
          canvas_.shade(x, y, Col{0.74f, 0.64f, 0.64f},
                        a * disc_cover(std::hypot(x + 0.5 - cx, y + 0.5 - cy), r));
    }
  if (coin(rng_, 0.5)) {  // an oily sheen: a broad soft highlight
    const double hx = S_ * uni(rng_, 0.1, 0.9), hy = S_ * uni(rng_, 0.1, 0.9);
    const double sig = S_ * uni(rng_, 0.12, 0.25);
    for (int y = 0; y < S_; ++y)
      for (int x = 0; x < S_; ++x) {
        const double d2 = std::pow(x + 0.5 - hx, 2) + std::pow(y + 0.5 - hy, 2);
        canvas_.blend(x, y, Col{1, 1, 1}, 0.22 * std::exp(-d2 / (2 * sig * sig)));
      }
  }
}

void Renderer::sole_ridges() {
  const double th = uni(rng_, 0, kPi), period = px(10, 5);
  const Fbm warp(rng_, S_, 2, 2);
  for (int y = 0; y < S_; ++y)
    for (int x = 0; x < S_; ++x) {
      const double X = x + 0.5, Y = y + 0.5;
      const double f = std::cos(2 * kPi * (X * std::cos(th) + Y * std::sin(th)) / period +
                                1.2 * warp.at(X, Y));
      canvas_.shade(x, y, Col{0.72f, 0.68f, 0.66f}, smoothstep(0.45, 0.95, f));  // furrows
      canvas_.blend(x, y, Col{1, 0.98f, 0.92f}, 0.10 * smoothstep(-0.5, -1.0, f));  // ridge crests
    }
}

void Renderer::palm() {
  // Dermatoglyphic ridges: arcs around a centre 0.5-1.2 image sides away
  // (whorls and loops seen close up), slightly wavy.
  const double a = uni(rng_, 0, 2 * kPi), dist = S_ * uni(rng_, 0.5, 1.2), period = px(5, 3);
  const double ox = S_ / 2.0 + dist * std::cos(a), oy = S_ / 2.0 + dist * std::sin(a);
  const Fbm warp(rng_, S_, 3, 2);
  for (int y = 0; y < S_; ++y)
    for (int x = 0; x < S_; ++x) {
      const double X = x + 0.5, Y = y + 0.5;
      const double f = std::cos(2 * kPi * std::hypot(X - ox, Y - oy) / period + 3.0 * warp.at(X, Y));
      canvas_.shade(x, y, Col{0.86f, 0.82f, 0.82f}, smoothstep(0.2, 1.0, f));
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
  crease.blend_onto(canvas_, skin_ * Col{0.62f, 0.5f, 0.5f}, 1.0);
}

void Renderer::dry_skin_cracks() {
  const Voronoi cells(rng_, S_, S_ / uni(rng_, 7, 10));
  const double w = px(1.2, 0.7);
  for (int y = 0; y < S_; ++y)
    for (int x = 0; x < S_; ++x)
      canvas_.blend(x, y, Col{0.97f, 0.93f, 0.90f},
                    0.5 * disc_cover(cells.edge_distance(x + 0.5, y + 0.5), w / 2));
}

void Renderer::nail_plate() {
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
      const Col base = canvas_.get(x, y);
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
      canvas_.set(x, y, c);
    }
}

void Renderer::trunk() {
  const int n = int_in(rng_, 4, 16);
  for (int i = 0; i < n; ++i) {  // freckles
    const double cx = S_ * uni(rng_, 0, 1), cy = S_ * uni(rng_, 0, 1);
    const double r = px(uni(rng_, 2, 4), 1.2);
    const Bounds bb = bounds_around(cx, cy, r + 1.5, S_);
    for (int y = bb.y0; y < bb.y1; ++y)
      for (int x = bb.x0; x < bb.x1; ++x)
        canvas_.shade(x, y, Col{0.82f, 0.72f, 0.62f},
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
      canvas_.shade(x, y, Col{0.7f, 0.7f, 0.7f}, 1 - smoothstep(0, px(6, 2), -d));
      const double tex = 1 + 0.12 * std::sin(2 * kPi * X / weave) * std::sin(2 * kPi * Y / weave);
      canvas_.blend(x, y, cloth * (float)tex, smoothstep(-0.75, 0.75, d));
    }
}

// ---- hair (over everything, lesion included) --------------------------------------------------

void Renderer::paint_hair() {
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
  roots.blend_onto(canvas_, colour * 1.2f, 0.8);
  hair.blend_onto(canvas_, colour, 1.0);
}

}  // namespace synthetic
}  // namespace skinmtl
