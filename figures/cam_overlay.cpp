// The pictures of class activation maps: see figures/cam_overlay.h.
#include "figures/cam_overlay.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "base/check.h"
#include "io/draw.h"
#include "nets/cam.h"

namespace skinmtl {

Tensor upsample_bilinear(const Tensor& map, int out_h, int out_w) {
  check_map("upsample_bilinear", map);
  SKINMTL_CHECK(out_h > 0 && out_w > 0,
                "upsample_bilinear: output size must be positive, got " << out_h << "x" << out_w);
  const int in_h = (int)map.size(0), in_w = (int)map.size(1);
  // For one axis: the two source indices and the weight of the second, per
  // output index (io/image.h's convention: s = (d + 0.5) * scale - 0.5).
  struct Tap {
    int i0, i1;
    double f;
  };
  auto taps = [](int in, int out) {
    std::vector<Tap> t(out);
    const double scale = double(in) / out;
    for (int d = 0; d < out; ++d) {
      const double s = std::clamp((d + 0.5) * scale - 0.5, 0.0, double(in - 1));
      const int i0 = (int)std::floor(s);
      t[d] = Tap{i0, std::min(i0 + 1, in - 1), s - i0};
    }
    return t;
  };
  const std::vector<Tap> ty = taps(in_h, out_h), tx = taps(in_w, out_w);
  Tensor out = Tensor::empty({out_h, out_w}, DType::F32, Device::CPU);
  float* o = out.data<float>();
  auto at = [&](int y, int x) { return map_value(map, (int64_t)y * in_w + x); };
  for (int y = 0; y < out_h; ++y)
    for (int x = 0; x < out_w; ++x) {
      const Tap a = ty[y], b = tx[x];
      const double top = at(a.i0, b.i0) + b.f * (at(a.i0, b.i1) - at(a.i0, b.i0));
      const double bot = at(a.i1, b.i0) + b.f * (at(a.i1, b.i1) - at(a.i1, b.i0));
      o[(size_t)y * out_w + x] = (float)(top + a.f * (bot - top));
    }
  return out;
}

std::string cam_caption(const std::string& label, double score) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", score);
  return label + " " + buf;
}

namespace {

// Text scale of captions: 2 (12 px per character) when the picture is at
// least 160 wide, else 1.
int caption_scale(int width) { return width >= 160 ? 2 : 1; }

// Line height of caption text: capitals 7 units, descenders to 9, 2 of leading.
int caption_line_h(int s) { return 11 * s; }

// Draws `caption` in the band [y, y + cam_caption_height(w)) of a w-wide
// column starting at x: centred, wrapped onto at most two lines, the second
// cut with "..." if even that is too long.
void draw_caption(Canvas& cv, int x, int y, int w, const std::string& caption) {
  const int s = caption_scale(w), pad = 3 * s;
  const std::vector<std::string> lines = wrap_text(caption, w - 2 * pad, s, 2);
  for (size_t i = 0; i < lines.size(); ++i)
    cv.text(x + (w - text_width(lines[i], s)) / 2, y + pad + s + (int)i * caption_line_h(s),
            lines[i], s, kBlack);
}

}  // namespace

int cam_caption_height(int width) {
  const int s = caption_scale(width);
  return 2 * caption_line_h(s) + 2 * (3 * s);  // two lines and padding
}

Image cam_overlay(const Image& image, const Tensor& cam, const std::string& label, double score,
                  double alpha) {
  SKINMTL_CHECK(!image.empty() && (image.channels == 1 || image.channels == 3),
                "cam_overlay: need a grey or RGB image, got " << image.str());
  SKINMTL_CHECK(alpha >= 0 && alpha <= 1, "cam_overlay: alpha must be in [0, 1], got " << alpha);
  check_map("cam_overlay", cam);
  const Tensor up = upsample_bilinear(cam, image.height, image.width);
  const float* m = up.data<float>();
  Canvas cv(image.width, image.height + cam_caption_height(image.width));
  cv.draw_image(image, 0, 0);
  for (int y = 0; y < image.height; ++y)
    for (int x = 0; x < image.width; ++x)
      cv.blend(x, y, viridis(m[(size_t)y * image.width + x]), alpha);
  draw_caption(cv, 0, image.height, image.width, cam_caption(label, score));
  return cv.image();
}

void save_cam_overlay(const std::string& path, const Image& image, const Tensor& cam,
                      const std::string& label, double score, double alpha) {
  save_png(path, cam_overlay(image, cam, label, score, alpha));
}

Image cam_figure(const Image& image, const std::string& image_caption,
                 const std::vector<CamPanel>& panels, double alpha) {
  SKINMTL_CHECK(!image.empty(), "cam_figure: empty image");
  constexpr int kGap = 8;
  const int w = image.width, h = image.height + cam_caption_height(w);
  Canvas cv((int)(panels.size() + 1) * (w + kGap) - kGap, h);
  cv.draw_image(image, 0, 0);
  draw_caption(cv, 0, image.height, w, image_caption);
  for (size_t i = 0; i < panels.size(); ++i)
    cv.draw_image(cam_overlay(image, panels[i].cam, panels[i].label, panels[i].score, alpha),
                  (int)(i + 1) * (w + kGap), 0);
  return cv.image();
}

void save_cam_figure(const std::string& path, const Image& image, const std::string& image_caption,
                     const std::vector<CamPanel>& panels, double alpha) {
  save_png(path, cam_figure(image, image_caption, panels, alpha));
}

}  // namespace skinmtl
