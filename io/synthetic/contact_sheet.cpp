// The contact sheet of the synthetic data set (synth_contact_sheet in
// io/synthetic.h): a grid of samples, each with its mask contour, its box and
// its labels written under it, for a person to check the labels by eye.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "io/draw.h"
#include "io/synthetic.h"

namespace skinmtl {

// ---- contact sheet -------------------------------------------------------------------------------

Image synth_contact_sheet(const std::vector<SynthSample>& samples, int columns, int tile) {
  SKINMTL_CHECK(!samples.empty() && columns > 0 && tile >= 64,
                "synth_contact_sheet: need samples, columns > 0 and tile >= 64");
  const int text_scale = tile >= 200 ? 2 : 1, line_h = 10 * text_scale, pad = 6;
  const int text_lines = 6, cell_w = tile + pad, cell_h = tile + pad + text_lines * line_h + 4;
  const int n = (int)samples.size(), rows = (n + columns - 1) / columns;
  Canvas sheet(std::min(n, columns) * cell_w + pad, rows * cell_h + pad, kWhite);
  for (int i = 0; i < n; ++i) {
    const SynthSample& s = samples[i];
    const int ox = pad + (i % columns) * cell_w, oy = pad + (i / columns) * cell_h;
    const Image img = s.image.width == tile ? s.image : resize(s.image, tile, tile);
    const Image mask = s.mask.width == tile ? s.mask : resize(s.mask, tile, tile);
    auto on = [&](int y, int x) {
      return x >= 0 && y >= 0 && x < tile && y < tile && mask.at(y, x, 0) >= 128;
    };
    sheet.draw_image(img, ox, oy);
    for (int y = 0; y < tile; ++y)
      for (int x = 0; x < tile; ++x)
        // The mask contour: mask pixels with a 4-neighbour outside it.
        if (on(y, x) && (!on(y - 1, x) || !on(y + 1, x) || !on(y, x - 1) || !on(y, x + 1)))
          sheet.blend(ox + x, oy + y, Rgb{0, 255, 0});
    // The box, scaled to the tile (its outline drawn on the box's outer pixels).
    const double f = (double)tile / s.image.width;
    const int bx0 = (int)(s.box.x0 * f), by0 = (int)(s.box.y0 * f);
    const int bx1 = std::min(tile, (int)std::ceil(s.box.x1 * f)) - 1;
    const int by1 = std::min(tile, (int)std::ceil(s.box.y1 * f)) - 1;
    sheet.rect_outline(ox + bx0, oy + by0, ox + bx1 + 1, oy + by1 + 1, Rgb{255, 220, 0});
    // The labels.
    std::string types;
    for (int k : s.lesions) types += std::string(types.empty() ? "" : " ") + kSynthLesionNames[k];
    char head[160];
    std::snprintf(head, sizeof head, "#%d %s %s", i, kSynthSiteNames[s.location],
                  kSynthDiagnosisNames[s.diagnosis]);
    char feat[96];
    std::snprintf(feat, sizeof feat, "border %.2f colours %d%s", s.border_irregularity,
                  s.colours, s.milia ? " milia" : "");
    // Line 0 (site, diagnosis) in red for a melanoma; then the features, the types.
    std::vector<std::pair<std::string, bool>> lines;
    for (const std::string& l : wrap_text(head, tile, text_scale)) lines.push_back({l, s.melanoma()});
    for (const std::string& l : wrap_text(feat, tile, text_scale)) lines.push_back({l, false});
    for (const std::string& l : wrap_text(types, tile, text_scale)) lines.push_back({l, false});
    const Rgb dark{20, 20, 20}, red{200, 0, 0};
    for (int l = 0; l < (int)lines.size() && l < text_lines; ++l)
      sheet.text(ox, oy + tile + 4 + l * line_h, lines[l].first, text_scale, lines[l].second ? red : dark);
  }
  return sheet.image();
}

}  // namespace skinmtl
