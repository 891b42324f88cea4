// The Renderer's frame (io/synthetic/renderer.h): the order in which a sample
// is painted, the lesion's place, the optics, and the 8-bit image, mask and
// box; and the public entry points synth_sample() and synth_samples().
#include "io/synthetic/renderer.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <string>

namespace skinmtl {
namespace synthetic {

Renderer::Renderer(uint64_t seed, int64_t index, int size)
    : rng_(sample_rng(seed, index)),
      S_(size),
      u_(size / 256.0),
      canvas_(size),
      lesion_canvas_(size),
      lesion_alpha_((size_t)size * size, 0.0f) {}

// The painting order: each step paints over the ones before (hair over the
// lesion, the optics over everything), and draws from rng_ after them.
SynthSample Renderer::render() {
  labels_ = draw_sample_labels(rng_);  // first: the labels do not depend on the size
  place_lesion();
  paint_skin();                           // renderer_skin.cpp
  paint_site();                           // renderer_skin.cpp
  if (has(kErythema)) paint_erythema();   // renderer_lesion.cpp
  if (has(kNodule)) paint_cast_shadow();  // renderer_lesion.cpp
  paint_lesion();                         // renderer_lesion.cpp
  composite_lesion();                     // renderer_lesion.cpp
  paint_hair();                           // renderer_skin.cpp
  paint_optics();
  return finish();
}

// ---- geometry -------------------------------------------------------------------------------------

void Renderer::place_lesion() {
  const double cx = S_ * (0.5 + uni(rng_, -0.07, 0.07));
  const double cy = S_ * (0.5 + uni(rng_, -0.07, 0.07));
  const double r0 = S_ * uni(rng_, 0.17, 0.29);
  edge_ = uni(rng_, 1.0, 2.5);
  shape_ = RadialShape::make(rng_, cx, cy, r0, labels_.irregularity, uni(rng_, 0.0, 0.22));
  // Keep the whole lesion 2 px (plus the soft edge) inside the image.
  const double room = std::min({cx, cy, S_ - cx, S_ - cy}) - 2 - edge_;
  if (shape_.extent() > room) shape_.set_radius(r0 * room / shape_.extent());
}

// ---- optics and noise --------------------------------------------------------------------------

void Renderer::paint_optics() {
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
      Col c = canvas_.get(x, y) * tint * l;
      if (vignette) c = mix(c, Col{0.03f, 0.03f, 0.03f}, smoothstep(R - soft, R + soft, std::hypot(X, Y)));
      canvas_.set(x, y, c);
    }
}

SynthSample Renderer::finish() {
  SynthSample s;
  fill_labels(labels_, s);
  s.image = Image(S_, S_, 3);
  s.mask = Image(S_, S_, 1);
  for (int y = 0; y < S_; ++y)
    for (int x = 0; x < S_; ++x) {
      const Col c = canvas_.get(x, y);
      const float v[3] = {c.r, c.g, c.b};
      for (int ch = 0; ch < 3; ++ch) {
        const double n = v[ch] + rng_.normal(0, 0.015);  // sensor noise
        s.image.at(y, x, ch) = (uint8_t)std::lround(255 * clamp01(n));
      }
      s.mask.at(y, x, 0) = lesion_alpha_[(size_t)y * S_ + x] >= 0.5f ? 255 : 0;
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
