// io/synthetic/renderer.h: the renderer of one synthetic dermoscopy image and
// its lesion mask (synth_sample() in io/synthetic.h, which lists every cue that
// makes a label visible).
//
// A Renderer makes one sample from its own Rng (sample_rng), in a fixed order
// of draws: the labels first (draw_sample_labels, the same at every size),
// then the picture, painted in layers from the skin up (render()). Every draw
// depends only on the draws before it, so the same (seed, index, size) gives
// the same image, bit for bit. Changing the order of the painting steps, or of
// the draws inside one, changes every sample of the data set.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "framework/random.h"
#include "io/synthetic.h"
#include "io/synthetic/drawing_kit.h"
#include "io/synthetic/labels.h"

namespace skinmtl {
namespace synthetic {

class Renderer {
 public:
  // Sample `index` of data set `seed` at size x size pixels.
  Renderer(uint64_t seed, int64_t index, int size);

  // Draws the labels, paints the image, and returns both with the mask and box.
  SynthSample render();

 private:
  bool has(int type) const { return labels_.has(type); }
  // A length of v pixels at 256 x 256, scaled to this size, at least `floor` pixels.
  double px(double v256, double floor = 0) const { return std::max(v256 * u_, floor); }
  // Bounds of the lesion (plus `margin` pixels).
  Bounds lesion_bounds(double margin) const {
    return bounds_around(shape_.cx, shape_.cy, shape_.extent() + margin, S_);
  }

  // ---- renderer.cpp: geometry, optics, the final image -----------------------------------------
  void place_lesion();
  void paint_optics();
  SynthSample finish();

  // ---- renderer_skin.cpp: skin, site cues, hair ---------------------------------------------------
  void paint_skin();
  void paint_site();  // one of the following, by site
  void skin_lines(double depth);  // arm
  void face_pores();              // face
  void sole_ridges();             // foot
  void palm();                    // hand
  void dry_skin_cracks();         // leg
  void nail_plate();              // nail
  void trunk();                   // trunk (the scalp's cue is its hair)
  void paint_hair();              // scalp, arm, leg

  // ---- renderer_lesion.cpp: the lesion and its surroundings ---------------------------------------
  void paint_erythema();
  void paint_cast_shadow();
  void paint_lesion();  // the body and colour zones, then each lesion type present:
  void paint_pigment_network(const Bounds& bb);
  void paint_globules();
  void paint_vascular();
  void paint_erosion(const Bounds& bb);
  void paint_crust(const Bounds& bb);
  void paint_scale(const Bounds& bb);
  void paint_milia();
  void paint_nodule_dome(const Bounds& bb);
  void composite_lesion();
  // Helpers of the lesion types.
  std::pair<double, double> point_inside(double max_rho);
  void dots(int n, double rmin, double rmax, double max_rho, Col c, double opacity);
  float field_threshold(const Fbm& f, const Bounds& bb, double frac) const;

  Rng rng_;
  const int S_;     // the image side, pixels
  const double u_;  // size / 256
  FloatCanvas canvas_;         // the image: skin, then the lesion laid over it, hair, optics
  FloatCanvas lesion_canvas_;  // the lesion, painted on its own (see renderer_lesion.cpp)
  std::vector<float> lesion_alpha_;  // the lesion body's coverage

  SampleLabels labels_;
  RadialShape shape_;
  double edge_ = 1.5;     // soft edge width of the lesion body, pixels
  double light_ = 0;      // nodule light direction (radians)
  Col skin_{0.9f, 0.7f, 0.6f};
};

}  // namespace synthetic
}  // namespace skinmtl
