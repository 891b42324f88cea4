// io/draw.h: a small RGB drawing library for the project's pictures (training
// curves, class activation maps, retrieval contact sheets, heatmaps).
//
//   Canvas cv(400, 300);                         // white, 400 wide, 300 high
//   cv.fill_rect(10, 10, 110, 60, Rgb{255, 0, 0});
//   cv.rect_outline(5, 5, 115, 65, kBlack, 2);
//   cv.line(0, 0, 399.5, 299.5, palette_color(0), 2.0);
//   cv.text(20, 80, "hello", 2, kBlack);
//   draw_colorbar(cv, 350, 20, 16, 200, 0.0, 1.0, 2);
//   cv.save_png("out.png");
//
// Coordinates: x goes right, y goes down, (0, 0) is the top-left pixel. Integer
// rectangles are half-open, [x0, x1) x [y0, y1). Continuous coordinates (lines)
// put pixel (i, j) over [i, i + 1) x [j, j + 1), its centre at (i + 0.5, j + 0.5).
// Everything is clipped to the canvas: drawing outside it is not an error.
//
// Alpha blending: drawing colour c with opacity a in [0, 1] over a pixel p gives
//     p' = p + a (c - p)  (per channel, rounded to the nearest integer),
// i.e. "over" compositing on an opaque background, in sRGB values (no gamma
// linearisation: the pictures are diagrams, not photographs).
//
// Text uses stb_easy_font (Sean Barrett's public-domain segment font, from
// Debian's libstb-dev): it turns a string into axis-aligned quads on a 1-unit
// grid, capitals and digits 7 units high (descenders reach 9), about 6 units
// per character. We fill the quads scaled by an integer, so letters stay sharp
// at any scale. Only printable ASCII is drawn; other bytes show as '?'.
//
// Colours: palette_color() is the Tableau 10 cycle (matplotlib's default) for
// categorical data; viridis() is the perceptually uniform colormap of
// matplotlib (van der Walt and Smith, 2015) for quantities: its lightness
// rises monotonically from dark purple (0) through blue and green to yellow
// (1), it reads in grey-scale print and by colour-blind readers.
//
// The PNG encoder is stb_image_write (compiled once, in io/stb_impl.cpp).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "io/image.h"

namespace skinmtl {

struct Rgb {
  uint8_t r, g, b;
};
inline bool operator==(Rgb a, Rgb b) { return a.r == b.r && a.g == b.g && a.b == b.b; }
inline bool operator!=(Rgb a, Rgb b) { return !(a == b); }

constexpr Rgb kWhite{255, 255, 255};
constexpr Rgb kBlack{0, 0, 0};

// The i-th colour of the Tableau 10 palette (cycling after 10).
Rgb palette_color(size_t i);

// ---- colormap ------------------------------------------------------------------------------

// The viridis colour of t in [0, 1] (clamped; NaN gives mid grey, so a missing
// value is visible rather than silently dark). Looks t up in viridis_table() at
// index round(t * 255).
Rgb viridis(double t);

// The 256-entry viridis table. Built once, by linear interpolation between 33
// control points of matplotlib's viridis (every 8th of its 256 entries and the
// last, rounded to 8 bits; values from the CC0 data of
// https://github.com/bids/colormap). The curve bends little between control
// points, so the entries in between stay within a few 8-bit levels of
// matplotlib's (tests/io/test_draw.cpp checks one of them).
const std::array<Rgb, 256>& viridis_table();

// Relative luminance in [0, 1] of an sRGB colour, on its gamma-encoded values
// (Rec. 709 weights 0.2126 R + 0.7152 G + 0.0722 B). Used to pick black or
// white text over a coloured cell.
double luminance(Rgb c);

// Black or white, whichever reads better on `background`.
Rgb text_color_on(Rgb background);

// ---- text ----------------------------------------------------------------------------------

constexpr int kFontCapHeight = 7;  // font units: capitals and digits span y in [0, 7)

// Width in pixels of `s` drawn at `scale` (0 for an empty string).
int text_width(const std::string& s, int scale);

// `s` cut to fit max_width pixels at `scale`: unchanged when it fits, else
// shortened and ended with "..." (or empty when not even "..." fits).
std::string fit_text(const std::string& s, int max_width, int scale);

// `s` broken into lines of at most max_width pixels at `scale`, at spaces
// where possible (a word longer than a line is cut, with no hyphen). At most
// max_lines lines; when the text does not fit, the last line ends in "...".
// An empty string gives no lines.
std::vector<std::string> wrap_text(const std::string& s, int max_width, int scale,
                                   int max_lines = 1 << 20);

// ---- ticks (for axes and colour bars) -------------------------------------------------------

// Tick values in [lo, hi] at a "nice" step (1, 2 or 5 x 10^k) giving about
// `target` ticks. lo < hi. Values within 1e-9 steps of zero are exactly 0.
std::vector<double> nice_ticks(double lo, double hi, int target = 6);
// The step nice_ticks chose for [lo, hi]: 1, 2 or 5 x 10^k.
double nice_step(double lo, double hi, int target = 6);
// nice_ticks for an axis of whole numbers (seeds, counts): the step is
// nice_step's or 1, whichever is larger, so every tick is a whole number.
std::vector<double> whole_number_ticks(double lo, double hi, int target = 6);
// A tick label: as many decimals as the step needs ("0.25" needs 2 for step
// 0.05, "100" none for step 20), %g form for very large or small values.
std::string format_tick(double value, double step);

// ---- the canvas ----------------------------------------------------------------------------

struct Rect {
  int x0, y0, x1, y1;  // pixels [x0, x1) x [y0, y1)
};

class Canvas {
 public:
  // A width x height canvas filled with `background`.
  Canvas(int width, int height, Rgb background = kWhite);
  // A canvas holding a copy of `image`; a grey image becomes RGB (grey replicated).
  explicit Canvas(const Image& image);

  int width() const { return img_.width; }
  int height() const { return img_.height; }
  // The pixels: an RGB Image (channels == 3), e.g. for save_png or composition.
  const Image& image() const { return img_; }

  // The colour of pixel (x, y); it must lie on the canvas.
  Rgb pixel(int x, int y) const;
  // Mixes c into pixel (x, y) with opacity a (clamped to [0, 1]); off-canvas: ignored.
  void blend(int x, int y, Rgb c, double a = 1.0);

  // The pixels [x0, x1) x [y0, y1), blended at opacity a.
  void fill_rect(int x0, int y0, int x1, int y1, Rgb c, double a = 1.0);
  // A frame `thickness` pixels wide just INSIDE [x0, x1) x [y0, y1).
  void rect_outline(int x0, int y0, int x1, int y1, Rgb c, int thickness = 1);
  // The same frame, dashed: along each side, `dash` pixels drawn then `gap`
  // pixels skipped, starting at each corner (so all four corners are drawn).
  void dashed_rect_outline(int x0, int y0, int x1, int y1, Rgb c, int thickness, int dash,
                           int gap);

  // An anti-aliased straight line (continuous coordinates) `width` pixels wide
  // with round ends; see CoverageMask for the coverage rule.
  void line(double ax, double ay, double bx, double by, Rgb c, double width = 1.0);

  // Horizontal text whose capitals span rows [y, y + 7 * scale), starting at column x.
  void text(int x, int y, const std::string& s, int scale, Rgb c);
  // Text turned 90 degrees counter-clockwise, reading upwards: the capitals
  // span columns [x, x + 7 * scale) and the text starts at row y, going up.
  void text_up(int x, int y, const std::string& s, int scale, Rgb c);

  // Pastes `image` (grey or RGB) with its top-left pixel at (x, y), blended at opacity a.
  void draw_image(const Image& image, int x, int y, double a = 1.0);

  // Writes the canvas as a PNG; the error names the file.
  void save_png(const std::string& path) const;

 private:
  Image img_;  // always 3 channels
};

// Coverage of strokes, one float per canvas pixel, for anti-aliased lines that
// join without darkening their joints. The coverage of a pixel by a segment of
// width w is
//     clamp(w / 2 + 0.5 - d, 0, 1),
// d being the distance from the pixel's centre to the segment: 1 inside the
// line, fading to 0 over one pixel at its edge, which is the anti-aliasing.
// Strokes raise the mask to the MAXIMUM of their coverages (a polyline's joints
// are covered once, not twice), and paint() blends the colour onto the canvas
// once, with the coverage as alpha. A zero-length segment is a round dot.
class CoverageMask {
 public:
  CoverageMask(int width, int height) : w_(width), h_(height), cov_((size_t)width * height, 0.f) {}
  void clear();
  // Raises the coverage by the segment a-b of width `line_width`, inside `clip`.
  void stroke_segment(double ax, double ay, double bx, double by, double line_width,
                      const Rect& clip);
  // Blends c onto the canvas inside `clip`, each pixel at its coverage.
  void paint(Canvas& canvas, Rgb c, const Rect& clip) const;
  float at(int x, int y) const { return cov_[(size_t)y * w_ + x]; }

 private:
  int w_, h_;
  std::vector<float> cov_;  // (h, w) row-major
};

// Distance from point p to the segment a-b (to the point a when a == b).
double distance_to_segment(double px, double py, double ax, double ay, double bx, double by);

// ---- colour bar -------------------------------------------------------------------------------

// A vertical viridis colour bar filling [x, x + w) x [y, y + h): value `hi` at
// the top row, `lo` at the bottom row, linear in between, framed in dark grey,
// with tick marks and labels (nice_ticks(lo, hi), text at `scale`) to its
// right, and an optional `label` written upwards to the right of those.
// Returns the first column right of everything it drew. lo < hi.
int draw_colorbar(Canvas& canvas, int x, int y, int w, int h, double lo, double hi, int scale,
                  const std::string& label = "");
// The width draw_colorbar() takes for the same arguments: its return value minus x.
int colorbar_width(int w, int h, double lo, double hi, int scale, const std::string& label = "");

}  // namespace skinmtl
