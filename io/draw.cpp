// The drawing library: see io/draw.h.
#include "io/draw.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "base/check.h"

// stb_easy_font is a set of static functions in a header; we do not use all
// of them, and its C-style code is not ours to fix.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "stb_easy_font.h"
#pragma GCC diagnostic pop

namespace skinmtl {

Rgb palette_color(size_t i) {
  // Tableau 10 (matplotlib's default colour cycle).
  static const Rgb kPalette[10] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},
                                   {214, 39, 40},  {148, 103, 189}, {140, 86, 75},
                                   {227, 119, 194}, {127, 127, 127}, {188, 189, 34},
                                   {23, 190, 207}};
  return kPalette[i % 10];
}

// ---- colormap ------------------------------------------------------------------------------

namespace {

// Control points of viridis: (table index, colour). Every 8th entry of
// matplotlib's 256-entry table and its last entry, rounded to 8 bits.
struct ViridisKnot {
  int index;
  Rgb c;
};
constexpr ViridisKnot kViridisKnots[] = {
    {0, {68, 1, 84}},      {8, {71, 13, 96}},     {16, {72, 24, 106}},   {24, {72, 35, 116}},
    {32, {71, 45, 123}},   {40, {69, 55, 129}},   {48, {66, 64, 134}},   {56, {62, 73, 137}},
    {64, {59, 82, 139}},   {72, {55, 91, 141}},   {80, {51, 99, 141}},   {88, {47, 107, 142}},
    {96, {44, 114, 142}},  {104, {41, 122, 142}}, {112, {38, 130, 142}}, {120, {35, 137, 142}},
    {128, {33, 145, 140}}, {136, {31, 152, 139}}, {144, {31, 160, 136}}, {152, {34, 167, 133}},
    {160, {40, 174, 128}}, {168, {50, 182, 122}}, {176, {63, 188, 115}}, {184, {78, 195, 107}},
    {192, {94, 201, 98}},  {200, {112, 207, 87}}, {208, {132, 212, 75}}, {216, {152, 216, 62}},
    {224, {173, 220, 48}}, {232, {194, 223, 35}}, {240, {216, 226, 25}}, {248, {236, 229, 27}},
    {255, {253, 231, 37}}};

std::array<Rgb, 256> build_viridis() {
  std::array<Rgb, 256> t{};
  constexpr size_t n = sizeof(kViridisKnots) / sizeof(kViridisKnots[0]);
  for (size_t k = 0; k + 1 < n; ++k) {
    const ViridisKnot a = kViridisKnots[k], b = kViridisKnots[k + 1];
    for (int i = a.index; i <= b.index; ++i) {
      const double f = double(i - a.index) / (b.index - a.index);
      auto mix = [f](uint8_t u, uint8_t v) { return (uint8_t)std::lround(u + f * (v - u)); };
      t[i] = Rgb{mix(a.c.r, b.c.r), mix(a.c.g, b.c.g), mix(a.c.b, b.c.b)};
    }
  }
  return t;
}

}  // namespace

const std::array<Rgb, 256>& viridis_table() {
  static const std::array<Rgb, 256> table = build_viridis();  // thread-safe initialisation
  return table;
}

Rgb viridis(double t) {
  if (std::isnan(t)) return Rgb{128, 128, 128};
  const int i = (int)std::lround(std::clamp(t, 0.0, 1.0) * 255.0);
  return viridis_table()[i];
}

double luminance(Rgb c) { return (0.2126 * c.r + 0.7152 * c.g + 0.0722 * c.b) / 255.0; }

Rgb text_color_on(Rgb background) { return luminance(background) > 0.45 ? kBlack : kWhite; }

// ---- text ----------------------------------------------------------------------------------

namespace {

// stb_easy_font indexes a table by (char - 32): keep to printable ASCII.
std::vector<char> font_string(const std::string& s) {
  std::vector<char> out;
  out.reserve(s.size() + 1);
  for (char c : s) out.push_back(c >= 32 && c <= 126 ? c : '?');
  out.push_back('\0');
  return out;
}

// The quads of `s` in font units: each as x0, y0, x1, y1.
struct Quad {
  float x0, y0, x1, y1;
};
std::vector<Quad> text_quads(const std::string& s) {
  std::vector<char> t = font_string(s);
  // About 270 bytes per character (stb_easy_font's documentation); be generous.
  std::vector<char> vbuf(t.size() * 1024 + 1024);
  const int n = stb_easy_font_print(0, 0, t.data(), nullptr, vbuf.data(), (int)vbuf.size());
  std::vector<Quad> quads;
  quads.reserve(n);
  for (int q = 0; q < n; ++q) {
    // Each vertex: float x, y, z, then 4 colour bytes (16 bytes); 4 per quad.
    Quad r{1e30f, 1e30f, -1e30f, -1e30f};
    for (int v = 0; v < 4; ++v) {
      float xy[2];
      std::memcpy(xy, vbuf.data() + (q * 4 + v) * 16, sizeof xy);
      r.x0 = std::min(r.x0, xy[0]);
      r.x1 = std::max(r.x1, xy[0]);
      r.y0 = std::min(r.y0, xy[1]);
      r.y1 = std::max(r.y1, xy[1]);
    }
    quads.push_back(r);
  }
  return quads;
}

}  // namespace

int text_width(const std::string& s, int scale) {
  if (s.empty()) return 0;
  std::vector<char> t = font_string(s);
  // stb_easy_font_width counts the spacing after the last character too (1
  // unit for most characters): drop it, so centring is exact.
  return (stb_easy_font_width(t.data()) - 1) * scale;
}

std::string fit_text(const std::string& s, int max_width, int scale) {
  if (text_width(s, scale) <= max_width) return s;
  // Drop characters from the end until the rest plus "..." fits.
  for (size_t n = s.size(); n-- > 0;) {
    std::string t = s.substr(0, n);
    while (!t.empty() && t.back() == ' ') t.pop_back();  // no "word ..."
    t += "...";
    if (text_width(t, scale) <= max_width) return t;
  }
  return "";
}

std::vector<std::string> wrap_text(const std::string& s, int max_width, int scale,
                                   int max_lines) {
  // Split into words at spaces (runs of spaces count as one).
  std::vector<std::string> words;
  for (size_t i = 0; i < s.size();) {
    if (s[i] == ' ') {
      ++i;
      continue;
    }
    const size_t j = std::min(s.find(' ', i), s.size());
    words.push_back(s.substr(i, j - i));
    i = j;
  }
  std::vector<std::string> lines;
  std::string line;
  size_t w = 0;
  while (w < words.size()) {
    std::string word = words[w];
    const std::string candidate = line.empty() ? word : line + " " + word;
    if (text_width(candidate, scale) <= max_width) {
      line = candidate;
      ++w;
      continue;
    }
    if (!line.empty()) {  // the word goes on the next line
      lines.push_back(line);
      line.clear();
      continue;
    }
    // A word wider than a whole line: cut it, at least one character per line.
    size_t n = 1;
    while (n < word.size() && text_width(word.substr(0, n + 1), scale) <= max_width) ++n;
    lines.push_back(word.substr(0, n));
    words[w] = word.substr(n);
  }
  if (!line.empty()) lines.push_back(line);
  if ((int)lines.size() > max_lines) {
    // Keep max_lines lines; the last one gets the rest of the text, cut with "...".
    std::string rest = lines[max_lines - 1];
    for (size_t i = max_lines; i < lines.size(); ++i) rest += " " + lines[i];
    lines.resize(max_lines);
    lines.back() = fit_text(rest, max_width, scale);
  }
  return lines;
}

// ---- ticks ---------------------------------------------------------------------------------

double nice_step(double lo, double hi, int target) {
  const double raw = (hi - lo) / std::max(1, target - 1);
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / p;  // in [1, 10)
  // Round the mantissa to 1, 2, 5 or 10 (Heckbert, "Nice numbers for graph labels").
  const double m = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
  return m * p;
}

namespace {

// The multiples of `step` in [lo, hi].
std::vector<double> ticks_at_step(double lo, double hi, double step) {
  const double first = std::ceil(lo / step - 1e-9);
  std::vector<double> ticks;
  // Multiply rather than add, so rounding errors do not accumulate.
  for (int i = 0; i < 1000; ++i) {
    double v = (first + i) * step;
    if (v > hi + step * 1e-9) break;
    if (std::fabs(v) < step * 1e-9) v = 0;
    ticks.push_back(v);
  }
  return ticks;
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int target) {
  SKINMTL_CHECK(lo < hi && std::isfinite(lo) && std::isfinite(hi),
                "nice_ticks: need a finite range lo < hi, got [" << lo << ", " << hi << "]");
  return ticks_at_step(lo, hi, nice_step(lo, hi, target));
}

std::vector<double> whole_number_ticks(double lo, double hi, int target) {
  SKINMTL_CHECK(lo < hi && std::isfinite(lo) && std::isfinite(hi),
                "whole_number_ticks: need a finite range lo < hi, got [" << lo << ", " << hi << "]");
  return ticks_at_step(lo, hi, std::max(1.0, nice_step(lo, hi, target)));
}

std::string format_tick(double value, double step) {
  char buf[48];
  // step = m x 10^k with m in {1, 2, 5}: -k decimals show every tick exactly.
  const int decimals = std::max(0, (int)-std::floor(std::log10(step) + 1e-9));
  if (decimals > 6 || std::fabs(value) >= 1e7) {
    std::snprintf(buf, sizeof buf, "%.4g", value);
  } else {
    std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  }
  std::string s = buf;
  // A value rounding to zero from below prints "-0.00": drop the sign.
  if (s[0] == '-' && s.find_first_not_of("0.", 1) == std::string::npos) s.erase(0, 1);
  return s;
}

// ---- canvas --------------------------------------------------------------------------------

Canvas::Canvas(int width, int height, Rgb background) : img_(height, width, 3) {
  for (size_t i = 0; i < img_.data.size(); i += 3) {
    img_.data[i] = background.r;
    img_.data[i + 1] = background.g;
    img_.data[i + 2] = background.b;
  }
}

Canvas::Canvas(const Image& image) : img_(image.height, image.width, 3) {
  SKINMTL_CHECK(!image.empty() && (image.channels == 1 || image.channels == 3),
                "Canvas: need a grey or RGB image, got " << image.str());
  if (image.channels == 3) {
    img_.data = image.data;
  } else {
    for (size_t i = 0; i < image.data.size(); ++i)
      img_.data[3 * i] = img_.data[3 * i + 1] = img_.data[3 * i + 2] = image.data[i];
  }
}

Rgb Canvas::pixel(int x, int y) const {
  SKINMTL_CHECK(x >= 0 && y >= 0 && x < width() && y < height(),
                "Canvas::pixel: (" << x << ", " << y << ") is outside the " << width() << "x"
                                   << height() << " canvas");
  const uint8_t* p = &img_.data[((size_t)y * width() + x) * 3];
  return Rgb{p[0], p[1], p[2]};
}

void Canvas::blend(int x, int y, Rgb c, double a) {
  if (x < 0 || y < 0 || x >= width() || y >= height() || !(a > 0)) return;
  a = std::min(a, 1.0);
  uint8_t* p = &img_.data[((size_t)y * width() + x) * 3];
  p[0] = (uint8_t)std::lround(p[0] + a * (c.r - p[0]));
  p[1] = (uint8_t)std::lround(p[1] + a * (c.g - p[1]));
  p[2] = (uint8_t)std::lround(p[2] + a * (c.b - p[2]));
}

void Canvas::fill_rect(int x0, int y0, int x1, int y1, Rgb c, double a) {
  for (int y = std::max(y0, 0); y < std::min(y1, height()); ++y)
    for (int x = std::max(x0, 0); x < std::min(x1, width()); ++x) blend(x, y, c, a);
}

void Canvas::rect_outline(int x0, int y0, int x1, int y1, Rgb c, int thickness) {
  const int t = std::max(1, std::min({thickness, (x1 - x0 + 1) / 2, (y1 - y0 + 1) / 2}));
  fill_rect(x0, y0, x1, y0 + t, c);          // top
  fill_rect(x0, y1 - t, x1, y1, c);          // bottom
  fill_rect(x0, y0 + t, x0 + t, y1 - t, c);  // left, between top and bottom
  fill_rect(x1 - t, y0 + t, x1, y1 - t, c);  // right
}

void Canvas::dashed_rect_outline(int x0, int y0, int x1, int y1, Rgb c, int thickness, int dash,
                                 int gap) {
  SKINMTL_CHECK(dash > 0 && gap >= 0, "dashed_rect_outline: dash must be > 0 and gap >= 0, got "
                                          << dash << " and " << gap);
  const int t = std::max(1, thickness), period = dash + gap;
  // Along one side of length n, the pixels at offsets where (offset mod period)
  // < dash are drawn. Each side is measured from both of its corners towards
  // the middle, so every corner starts with a dash and the pattern is symmetric.
  auto on = [&](int offset, int n) { return std::min(offset, n - 1 - offset) % period < dash; };
  const int w = x1 - x0, h = y1 - y0;
  for (int i = 0; i < w; ++i)
    if (on(i, w)) {
      fill_rect(x0 + i, y0, x0 + i + 1, y0 + t, c);
      fill_rect(x0 + i, y1 - t, x0 + i + 1, y1, c);
    }
  for (int j = 0; j < h; ++j)
    if (on(j, h)) {
      fill_rect(x0, y0 + j, x0 + t, y0 + j + 1, c);
      fill_rect(x1 - t, y0 + j, x1, y0 + j + 1, c);
    }
}

void Canvas::line(double ax, double ay, double bx, double by, Rgb c, double width) {
  // One segment cannot overlap itself, so its coverage is blended directly.
  const double hw = width / 2;
  const int x0 = std::max(0, (int)std::floor(std::min(ax, bx) - hw - 1));
  const int x1 = std::min(this->width(), (int)std::ceil(std::max(ax, bx) + hw + 1));
  const int y0 = std::max(0, (int)std::floor(std::min(ay, by) - hw - 1));
  const int y1 = std::min(height(), (int)std::ceil(std::max(ay, by) + hw + 1));
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) {
      const double d = distance_to_segment(x + 0.5, y + 0.5, ax, ay, bx, by);
      blend(x, y, c, std::clamp(hw + 0.5 - d, 0.0, 1.0));
    }
}

void Canvas::text(int x, int y, const std::string& s, int scale, Rgb c) {
  for (const Quad& q : text_quads(s))
    fill_rect(x + (int)std::lround(q.x0 * scale), y + (int)std::lround(q.y0 * scale),
              x + (int)std::lround(q.x1 * scale), y + (int)std::lround(q.y1 * scale), c);
}

void Canvas::text_up(int x, int y, const std::string& s, int scale, Rgb c) {
  // A font point (u, v) lands on (x + v * scale, y - u * scale).
  for (const Quad& q : text_quads(s))
    fill_rect(x + (int)std::lround(q.y0 * scale), y - (int)std::lround(q.x1 * scale),
              x + (int)std::lround(q.y1 * scale), y - (int)std::lround(q.x0 * scale), c);
}

void Canvas::draw_image(const Image& image, int x, int y, double a) {
  SKINMTL_CHECK(image.channels == 1 || image.channels == 3,
                "Canvas::draw_image: need a grey or RGB image, got " << image.str());
  for (int j = 0; j < image.height; ++j)
    for (int i = 0; i < image.width; ++i) {
      const Rgb c = image.channels == 3
                        ? Rgb{image.at(j, i, 0), image.at(j, i, 1), image.at(j, i, 2)}
                        : Rgb{image.at(j, i, 0), image.at(j, i, 0), image.at(j, i, 0)};
      blend(x + i, y + j, c, a);
    }
}

void Canvas::save_png(const std::string& path) const { skinmtl::save_png(path, img_); }

// ---- anti-aliased strokes ------------------------------------------------------------------

double distance_to_segment(double px, double py, double ax, double ay, double bx, double by) {
  const double dx = bx - ax, dy = by - ay, len2 = dx * dx + dy * dy;
  // The closest point is a + t (b - a), t clamped to the segment; a
  // zero-length segment is a point (an isolated data point becomes a dot).
  const double t = len2 > 0 ? std::clamp(((px - ax) * dx + (py - ay) * dy) / len2, 0.0, 1.0) : 0.0;
  const double ex = ax + t * dx - px, ey = ay + t * dy - py;
  return std::sqrt(ex * ex + ey * ey);
}

void CoverageMask::clear() { std::fill(cov_.begin(), cov_.end(), 0.0f); }

void CoverageMask::stroke_segment(double ax, double ay, double bx, double by, double line_width,
                                  const Rect& clip) {
  const double hw = line_width / 2;
  const int x0 = std::max({0, clip.x0, (int)std::floor(std::min(ax, bx) - hw - 1)});
  const int x1 = std::min({w_, clip.x1, (int)std::ceil(std::max(ax, bx) + hw + 1)});
  const int y0 = std::max({0, clip.y0, (int)std::floor(std::min(ay, by) - hw - 1)});
  const int y1 = std::min({h_, clip.y1, (int)std::ceil(std::max(ay, by) + hw + 1)});
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) {
      const double d = distance_to_segment(x + 0.5, y + 0.5, ax, ay, bx, by);
      const float c = (float)std::clamp(hw + 0.5 - d, 0.0, 1.0);
      float& dst = cov_[(size_t)y * w_ + x];
      dst = std::max(dst, c);
    }
}

void CoverageMask::paint(Canvas& canvas, Rgb c, const Rect& clip) const {
  SKINMTL_CHECK(canvas.width() == w_ && canvas.height() == h_,
                "CoverageMask::paint: mask " << w_ << "x" << h_ << " but canvas "
                                             << canvas.width() << "x" << canvas.height());
  for (int y = std::max(0, clip.y0); y < std::min(h_, clip.y1); ++y)
    for (int x = std::max(0, clip.x0); x < std::min(w_, clip.x1); ++x)
      canvas.blend(x, y, c, cov_[(size_t)y * w_ + x]);
}

// ---- colour bar ----------------------------------------------------------------------------

namespace {

constexpr int kBarTick = 4, kBarGap = 4, kBarLabelGap = 8;

struct BarTicks {
  std::vector<double> values;
  std::vector<std::string> labels;
  int widest = 0;
};

BarTicks bar_ticks(int h, double lo, double hi, int scale) {
  SKINMTL_CHECK(lo < hi && std::isfinite(lo) && std::isfinite(hi),
                "colour bar: need a finite range lo < hi, got [" << lo << ", " << hi << "]");
  BarTicks t;
  const int target = std::clamp(h / (kFontCapHeight * scale * 3), 2, 8);
  const double step = nice_step(lo, hi, target);
  t.values = nice_ticks(lo, hi, target);
  for (double v : t.values) {
    t.labels.push_back(format_tick(v, step));
    t.widest = std::max(t.widest, text_width(t.labels.back(), scale));
  }
  return t;
}

}  // namespace

int colorbar_width(int w, int h, double lo, double hi, int scale, const std::string& label) {
  const BarTicks t = bar_ticks(h, lo, hi, scale);
  return w + kBarTick + kBarGap + t.widest +
         (label.empty() ? 0 : kBarLabelGap + kFontCapHeight * scale);
}

int draw_colorbar(Canvas& cv, int x, int y, int w, int h, double lo, double hi, int scale,
                  const std::string& label) {
  SKINMTL_CHECK(w >= 3 && h >= 3, "colour bar: " << w << "x" << h << " is too small");
  const BarTicks t = bar_ticks(h, lo, hi, scale);
  // Row r of the bar (0 = top) shows the value at its centre: hi at the top
  // row's centre, lo at the bottom row's centre.
  auto row_of = [&](double v) { return y + (int)std::lround((hi - v) / (hi - lo) * (h - 1)); };
  for (int r = 0; r < h; ++r) {
    const double f = h > 1 ? 1.0 - double(r) / (h - 1) : 0.5;
    cv.fill_rect(x, y + r, x + w, y + r + 1, viridis(f));
  }
  const Rgb frame{60, 60, 60};
  cv.rect_outline(x, y, x + w, y + h, frame);
  const int text_h = kFontCapHeight * scale;
  for (size_t k = 0; k < t.values.size(); ++k) {
    const int r = row_of(t.values[k]);
    cv.fill_rect(x + w, r, x + w + kBarTick, r + 1, frame);
    cv.text(x + w + kBarTick + kBarGap, r - text_h / 2, t.labels[k], scale, kBlack);
  }
  int right = x + w + kBarTick + kBarGap + t.widest;
  if (!label.empty()) {
    cv.text_up(right + kBarLabelGap, y + (h + text_width(label, scale)) / 2, label, scale, kBlack);
    right += kBarLabelGap + text_h;
  }
  return right;
}

}  // namespace skinmtl
