#include "io/toy_data.h"

#include <cmath>

#include "framework/random.h"

namespace skinmtl {

const char* const kToyLesionNames[kToyLesionTypes] = {"pigmented", "vascular", "scale"};
const char* const kToySiteNames[kToySites] = {"smooth", "horizontal", "vertical", "cross-hatch"};

namespace {

struct Rgb {
  float r, g, b;
};

// Writes colour c with opacity a over pixel (y, x) of a (3, S, S) image.
void blend(float* img, int S, int y, int x, Rgb c, float a) {
  if (y < 0 || x < 0 || y >= S || x >= S) return;
  float* p[3] = {img + (0 * S + y) * S + x, img + (1 * S + y) * S + x, img + (2 * S + y) * S + x};
  *p[0] = (1 - a) * *p[0] + a * c.r;
  *p[1] = (1 - a) * *p[1] + a * c.g;
  *p[2] = (1 - a) * *p[2] + a * c.b;
}

// A filled disc (inner = 0) or a ring of radii [inner, outer], soft-edged.
void draw_disc(float* img, int S, double cy, double cx, double inner, double outer, Rgb c) {
  for (int y = 0; y < S; ++y)
    for (int x = 0; x < S; ++x) {
      double d = std::hypot(y + 0.5 - cy, x + 0.5 - cx);
      double a = std::min(std::max(outer + 0.5 - d, 0.0), 1.0);
      if (inner > 0) a = std::min(a, std::min(std::max(d - inner + 0.5, 0.0), 1.0));
      if (a > 0) blend(img, S, y, x, c, (float)a);
    }
}

}  // namespace

ToyBatch make_toy_batch(int n, uint64_t seed, const ToyDataSpec& spec) {
  const int S = spec.size;
  ToyBatch b;
  b.images = Tensor::empty({n, 3, S, S});
  b.lesions = Tensor::zeros({n, kToyLesionTypes});
  b.sites = Tensor::empty({n});
  for (int i = 0; i < n; ++i) {
    Rng rng(seed * 1000003ull + (uint64_t)i);
    float* img = b.images.data<float>() + (int64_t)i * 3 * S * S;
    // Skin: a random tone, then the site's texture as a gentle shading.
    const double tone = rng.uniform(0.0, 1.0);
    const Rgb skin{(float)(0.95 - 0.35 * tone), (float)(0.78 - 0.35 * tone), (float)(0.68 - 0.35 * tone)};
    const int site = (int)rng.randint(0, kToySites);
    const double period = rng.uniform(4.0, 7.0), phase = rng.uniform(0.0, 6.3);
    for (int y = 0; y < S; ++y)
      for (int x = 0; x < S; ++x) {
        double h = std::sin(2 * M_PI * y / period + phase), v = std::sin(2 * M_PI * x / period + phase);
        double t = site == 0 ? 0.0 : site == 1 ? h : site == 2 ? v : 0.5 * (h + v);
        float shade = (float)(1.0 + 0.12 * t);
        img[(0 * S + y) * S + x] = skin.r * shade;
        img[(1 * S + y) * S + x] = skin.g * shade;
        img[(2 * S + y) * S + x] = skin.b * shade;
      }
    float* les = b.lesions.data<float>() + i * kToyLesionTypes;
    auto centre = [&](double margin) { return rng.uniform(margin, S - margin); };
    if (rng.uniform() < 0.5) {  // pigmented: dark brown disc
      les[0] = 1;
      double r = rng.uniform(S * 0.12, S * 0.2);
      draw_disc(img, S, centre(r), centre(r), 0, r, {0.35f, 0.2f, 0.1f});
    }
    if (rng.uniform() < 0.5) {  // vascular: red dots
      les[1] = 1;
      double cy = centre(S * 0.25), cx = centre(S * 0.25);
      int dots = (int)rng.randint(4, 8);
      for (int d = 0; d < dots; ++d)
        draw_disc(img, S, cy + rng.normal(0, S * 0.08), cx + rng.normal(0, S * 0.08), 0,
                  rng.uniform(1.0, 1.8), {0.85f, 0.1f, 0.15f});
    }
    if (rng.uniform() < 0.5) {  // scale: whitish ring
      les[2] = 1;
      double r = rng.uniform(S * 0.15, S * 0.25);
      draw_disc(img, S, centre(r + 1), centre(r + 1), r - 1.5, r, {0.97f, 0.97f, 0.92f});
    }
    for (int k = 0; k < 3 * S * S; ++k) img[k] = (float)(img[k] - 0.5 + rng.normal(0, spec.noise));
    b.sites.data<float>()[i] = (float)site;
  }
  return b;
}

}  // namespace skinmtl
