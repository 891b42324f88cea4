#include "io/seg_augment.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>
#include <vector>

namespace skinmtl {

namespace {

void check_pair(const Image& image, const Image& mask, const char* what) {
  SKINMTL_CHECK(!image.empty() && mask.channels == 1 && image.height == mask.height &&
                    image.width == mask.width,
                what << ": needs an image and a 1-channel mask of one size, got " << image.str()
                     << " and " << mask.str());
}

// floor() for the sampling positions: without SSE4.1 std::floor is a library
// call, which made the warp several times slower.
inline int fast_floor(double v) {
  const int i = (int)v;  // rounds towards zero
  return v < i ? i - 1 : i;
}

inline uint8_t to_u8(double v) { return (uint8_t)std::lround(std::min(255.0, std::max(0.0, v))); }

}  // namespace

// ---- single operations --------------------------------------------------------------------

Image vflip(const Image& src) {
  SKINMTL_CHECK(!src.empty(), "vflip: empty image");
  Image out(src.height, src.width, src.channels);
  const size_t row = (size_t)src.width * src.channels;
  for (int y = 0; y < src.height; ++y)
    std::memcpy(&out.data[(size_t)(src.height - 1 - y) * row], &src.data[(size_t)y * row], row);
  return out;
}

Image adjust_brightness(const Image& image, double factor) {
  SKINMTL_CHECK(factor >= 0, "adjust_brightness: the factor must be >= 0, got " << factor);
  // 256 possible inputs: a table of the results, then one lookup per sample.
  uint8_t table[256];
  for (int v = 0; v < 256; ++v) table[v] = to_u8(v * factor);
  Image out = image;
  for (uint8_t& v : out.data) v = table[v];
  return out;
}

Image gaussian_blur(const Image& image, double sigma) {
  SKINMTL_CHECK(!image.empty(), "gaussian_blur: empty image");
  SKINMTL_CHECK(sigma > 0, "gaussian_blur: sigma must be positive, got " << sigma);
  const int r = (int)std::ceil(3 * sigma);
  std::vector<float> k(2 * r + 1);
  double sum = 0;
  for (int i = -r; i <= r; ++i) sum += std::exp(-0.5 * i * i / (sigma * sigma));
  for (int i = -r; i <= r; ++i) k[i + r] = (float)(std::exp(-0.5 * i * i / (sigma * sigma)) / sum);
  const int H = image.height, W = image.width, C = image.channels;
  const size_t row = (size_t)W * C;
  // Separable: per output row, first the vertical pass (a weighted sum of
  // whole source rows, the row index clamped at the edges, so edge rows
  // repeat) into `line`, which is padded with r replicated pixels on each
  // side; then the horizontal pass over `line`, free of edge tests.
  Image out(H, W, C);
  std::vector<float> line((size_t)(W + 2 * r) * C), acc(row);
  float* mid = line.data() + (size_t)r * C;  // pixel 0 of the row
  for (int y = 0; y < H; ++y) {
    std::fill(mid, mid + row, 0.0f);
    for (int i = -r; i <= r; ++i) {
      const uint8_t* src = &image.data[(size_t)std::min(H - 1, std::max(0, y + i)) * row];
      const float w = k[i + r];
      for (size_t p = 0; p < row; ++p) mid[p] += w * src[p];
    }
    for (int x = 1; x <= r; ++x)
      for (int c = 0; c < C; ++c) {
        mid[-(ptrdiff_t)x * C + c] = mid[c];                    // left edge repeats
        mid[(ptrdiff_t)(W - 1 + x) * C + c] = mid[(size_t)(W - 1) * C + c];  // right edge
      }
    // acc[p] = sum_i k[i] * line[p + i * C]: tap by tap over the whole row,
    // so the inner loop is a plain vectorisable multiply-add.
    std::fill(acc.begin(), acc.end(), 0.0f);
    for (int i = -r; i <= r; ++i) {
      const float w = k[i + r];
      const float* in = mid + (ptrdiff_t)i * C;
      for (size_t p = 0; p < row; ++p) acc[p] += w * in[p];
    }
    uint8_t* o = &out.data[(size_t)y * row];
    for (size_t p = 0; p < row; ++p) o[p] = (uint8_t)(int)(std::min(255.0f, std::max(0.0f, acc[p])) + 0.5f);
  }
  return out;
}

Image affine_warp(const Image& image, const AffineParams& p, bool is_mask) {
  SKINMTL_CHECK(!image.empty(), "affine_warp: empty image");
  SKINMTL_CHECK(p.scale > 0, "affine_warp: the scale must be positive, got " << p.scale);
  SKINMTL_CHECK(!is_mask || image.channels == 1, "affine_warp: a mask has 1 channel, got " << image.str());
  const int H = image.height, W = image.width, C = image.channels;
  const double cx = W / 2.0, cy = H / 2.0, tx = p.shift_x * W, ty = p.shift_y * H;
  const double a = p.angle_degrees * M_PI / 180.0, cs = std::cos(a) / p.scale, sn = std::sin(a) / p.scale;
  const uint8_t* src = image.data.data();
  Image out(H, W, C);
  for (int y = 0; y < H; ++y) {
    uint8_t* o = &out.data[(size_t)y * W * C];
    const double dy = y + 0.5 - cy - ty;
    for (int x = 0; x < W; ++x) {
      // The inverse map: p = c + R(-angle) (p' - c - t) / scale, at the output
      // pixel's centre; then the source pixel-centre grid (u, w) = p - 0.5.
      const double dx = x + 0.5 - cx - tx;
      const double u = cx + cs * dx + sn * dy - 0.5;
      const double w = cy - sn * dx + cs * dy - 0.5;
      const int x0 = fast_floor(u), y0 = fast_floor(w);
      const float fx = (float)(u - x0), fy = (float)(w - y0);
      // The four neighbours' weights; a neighbour outside the source reads 0.
      const bool in_x0 = x0 >= 0 && x0 < W, in_x1 = x0 + 1 >= 0 && x0 + 1 < W;
      const bool in_y0 = y0 >= 0 && y0 < H, in_y1 = y0 + 1 >= 0 && y0 + 1 < H;
      for (int c = 0; c < C; ++c) {
        auto at = [&](int yy, int xx) { return (float)src[((size_t)yy * W + xx) * C + c]; };
        float v = 0;
        if (in_y0 && in_x0) v += (1 - fx) * (1 - fy) * at(y0, x0);
        if (in_y0 && in_x1) v += fx * (1 - fy) * at(y0, x0 + 1);
        if (in_y1 && in_x0) v += (1 - fx) * fy * at(y0 + 1, x0);
        if (in_y1 && in_x1) v += fx * fy * at(y0 + 1, x0 + 1);
        o[(size_t)x * C + c] = is_mask ? (v >= kMaskThreshold ? 255 : 0)
                                       : (uint8_t)(int)(std::min(255.0f, std::max(0.0f, v)) + 0.5f);
      }
    }
  }
  return out;
}

Image resize_mask_nearest(const Image& mask, int out_h, int out_w) {
  SKINMTL_CHECK(mask.channels == 1, "resize_mask_nearest: the mask must have 1 channel, got " << mask.str());
  SKINMTL_CHECK(out_h > 0 && out_w > 0, "resize_mask_nearest: bad size " << out_h << "x" << out_w);
  std::vector<int> sx(out_w);
  for (int d = 0; d < out_w; ++d)
    sx[d] = std::min(mask.width - 1, (int)std::floor((d + 0.5) * mask.width / out_w));
  Image out(out_h, out_w, 1);
  for (int y = 0; y < out_h; ++y) {
    const int sy = std::min(mask.height - 1, (int)std::floor((y + 0.5) * mask.height / out_h));
    for (int x = 0; x < out_w; ++x) out.at(y, x, 0) = mask.at(sy, sx[x], 0);
  }
  return out;
}

// ---- pair transforms -------------------------------------------------------------------------

void resize_pair(Image& image, Image& mask, int out_h, int out_w) {
  check_pair(image, mask, "resize_pair");
  image = resize(image, out_h, out_w);
  mask = resize_mask_nearest(mask, out_h, out_w);
}

void random_flips(Image& image, Image& mask, Rng& rng) {
  check_pair(image, mask, "random_flips");
  if (rng.uniform() < 0.5) {
    image = hflip(image);
    mask = hflip(mask);
  }
  if (rng.uniform() < 0.5) {
    image = vflip(image);
    mask = vflip(mask);
  }
}

namespace {

// The affine map with its parameters drawn in order (angle, scale, shift x,
// shift y), applied to the image and to the mask.
void random_affine_pair(Image& image, Image& mask, Rng& rng, double max_rotation_degrees, double min_scale,
                        double max_scale, double max_shift) {
  AffineParams p;
  p.angle_degrees = rng.uniform(-max_rotation_degrees, max_rotation_degrees);
  p.scale = rng.uniform(min_scale, max_scale);
  p.shift_x = rng.uniform(-max_shift, max_shift);
  p.shift_y = rng.uniform(-max_shift, max_shift);
  image = affine_warp(image, p);
  mask = affine_warp(mask, p, /*is_mask=*/true);
}

}  // namespace

const char* song_version_name(SongVersion v) {
  switch (v) {
    case SongVersion::kOriginal: return "original";
    case SongVersion::kHFlip: return "hflip";
    case SongVersion::kVFlip: return "vflip";
    case SongVersion::kAffine: return "affine";
    case SongVersion::kBrightness: return "brightness";
    case SongVersion::kBlur: return "blur";
  }
  return "?";
}

SongVersion song_augment(Image& image, Image& mask, Rng& rng, const SongAugmentOptions& o) {
  check_pair(image, mask, "song_augment");
  const SongVersion v = (SongVersion)rng.randint(0, 6);
  switch (v) {
    case SongVersion::kOriginal:
      break;
    case SongVersion::kHFlip:
      image = hflip(image);
      mask = hflip(mask);
      break;
    case SongVersion::kVFlip:
      image = vflip(image);
      mask = vflip(mask);
      break;
    case SongVersion::kAffine:
      random_affine_pair(image, mask, rng, o.max_rotation_degrees, o.min_scale, o.max_scale, o.max_shift);
      break;
    case SongVersion::kBrightness:
      image = adjust_brightness(image, rng.uniform(o.min_brightness, o.max_brightness));
      break;
    case SongVersion::kBlur:
      image = gaussian_blur(image, rng.uniform(o.min_sigma, o.max_sigma));
      break;
  }
  return v;
}

const char* yang_augment_name(YangAugment a) {
  switch (a) {
    case YangAugment::kNone: return "none";
    case YangAugment::kFlips: return "flips";
    case YangAugment::kFull: return "full";
  }
  return "?";
}

bool parse_yang_augment(const std::string& text, YangAugment* out) {
  for (YangAugment a : {YangAugment::kNone, YangAugment::kFlips, YangAugment::kFull})
    if (text == yang_augment_name(a)) {
      *out = a;
      return true;
    }
  return false;
}

std::string yang_augment_ranges(const YangAugmentOptions& o) {
  std::ostringstream t;
  t << "rotation +-" << o.max_rotation_degrees << ", scale " << o.min_scale << "-" << o.max_scale << ", shift "
    << o.max_shift << ", brightness " << o.min_brightness << "-" << o.max_brightness;
  return t.str();
}

void yang_augment(Image& image, Image& mask, Rng& rng, YangAugment a, const YangAugmentOptions& o) {
  check_pair(image, mask, "yang_augment");
  if (a == YangAugment::kNone) return;
  random_flips(image, mask, rng);
  if (a == YangAugment::kFlips) return;
  random_affine_pair(image, mask, rng, o.max_rotation_degrees, o.min_scale, o.max_scale, o.max_shift);
  image = adjust_brightness(image, rng.uniform(o.min_brightness, o.max_brightness));
}

// ---- transforms for the loader ------------------------------------------------------------

SegTransform song_train_transform(int size, const SongAugmentOptions& options) {
  SKINMTL_CHECK(size > 0, "song_train_transform: size must be positive, got " << size);
  SegTransform t;
  t.name = "song-train(letterbox " + std::to_string(size) + ", 1 of 6 versions)";
  t.out_height = t.out_width = t.letterbox = size;
  t.apply = [size, options](Image& image, Image& mask, Rng& rng) {
    letterbox_pair(image, mask, size);
    song_augment(image, mask, rng, options);
  };
  return t;
}

SegTransform song_test_transform(int size) {
  SKINMTL_CHECK(size > 0, "song_test_transform: size must be positive, got " << size);
  SegTransform t;
  t.name = "song-test(letterbox " + std::to_string(size) + ")";
  t.out_height = t.out_width = t.letterbox = size;
  t.apply = [size](Image& image, Image& mask, Rng&) { letterbox_pair(image, mask, size); };
  return t;
}

SegTransform yang_train_transform(int height, int width, YangAugment augment, const YangAugmentOptions& options) {
  SKINMTL_CHECK(height > 0 && width > 0, "yang_train_transform: bad size " << height << "x" << width);
  SegTransform t;
  std::ostringstream name;
  name << "yang-train(resize " << height << "x" << width << ", augment " << yang_augment_name(augment) << ")";
  t.name = name.str();
  t.out_height = height;
  t.out_width = width;
  t.apply = [=](Image& image, Image& mask, Rng& rng) {
    resize_pair(image, mask, height, width);
    yang_augment(image, mask, rng, augment, options);
  };
  return t;
}

SegTransform yang_test_transform(int height, int width) {
  SKINMTL_CHECK(height > 0 && width > 0, "yang_test_transform: bad size " << height << "x" << width);
  SegTransform t;
  t.name = "yang-test(resize " + std::to_string(height) + "x" + std::to_string(width) + ")";
  t.out_height = height;
  t.out_width = width;
  t.apply = [=](Image& image, Image& mask, Rng&) { resize_pair(image, mask, height, width); };
  return t;
}

}  // namespace skinmtl
