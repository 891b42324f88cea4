#include "io/image.h"

#include <cstdlib>

#include <sys/stat.h>

#include <stb_image.h>
#include <stb_image_write.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <sstream>

namespace skinmtl {

Image::Image(int h, int w, int c) : height(h), width(w), channels(c) {
  SKINMTL_CHECK(h > 0 && w > 0, "Image: sizes must be positive, got " << h << "x" << w);
  SKINMTL_CHECK(c == 1 || c == 3, "Image: channels must be 1 or 3, got " << c);
  data.assign((size_t)h * w * c, 0);
}

std::string Image::str() const {
  std::ostringstream os;
  os << height << "x" << width << "x" << channels;
  return os.str();
}

// ---- files -------------------------------------------------------------------

// Only regular files are read (a FIFO would block, /dev/zero never ends), and
// only up to kMaxFileBytes; the size is taken from the file system first.
constexpr int64_t kMaxFileBytes = int64_t(1) << 30;

// What stops `path` from being read as an image file, or "" when nothing:
// it cannot be looked at, it is not a regular file (a folder, a pipe, a
// device), or it is over kMaxFileBytes. Fills *st. The one check that both
// load_image and image_file_problem make before opening a file.
static std::string file_kind_problem(const std::string& path, struct stat* st) {
  if (::stat(path.c_str(), st) != 0) return std::string("cannot open: ") + std::strerror(errno);
  if (!S_ISREG(st->st_mode))
    return std::string("not a regular file (") +
           (S_ISDIR(st->st_mode) ? "a folder" : S_ISFIFO(st->st_mode) ? "a pipe" : "a device or socket") + ")";
  if (st->st_size > kMaxFileBytes)
    return std::to_string((long long)st->st_size) + " bytes, over the 1 GiB an image file may have";
  return "";
}

static std::vector<uint8_t> read_file(const std::string& path) {
  struct stat st;
  const std::string problem = file_kind_problem(path, &st);
  SKINMTL_USER_CHECK(problem.empty(), "load_image: '" << path << "': " << problem);
  FILE* f = std::fopen(path.c_str(), "rb");
  SKINMTL_USER_CHECK(f, "load_image: cannot open '" << path << "': " << std::strerror(errno));
  std::vector<uint8_t> bytes((size_t)st.st_size);
  const size_t n = bytes.empty() ? 0 : std::fread(bytes.data(), 1, bytes.size(), f);
  const bool failed = std::ferror(f);
  std::fclose(f);
  SKINMTL_USER_CHECK(!failed, "load_image: error reading '" << path << "'");
  bytes.resize(n);  // a file that shrank while being read: decode reports what is missing
  return bytes;
}

std::string image_file_problem(const std::string& path) {
  struct stat st;
  const std::string problem = file_kind_problem(path, &st);
  if (!problem.empty()) return problem;
  if (st.st_size == 0) return "empty (0 bytes)";
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return std::string("cannot open: ") + std::strerror(errno);
  int w = 0, h = 0, comp = 0;
  const bool header = stbi_info_from_file(f, &w, &h, &comp);
  // The last bytes: where a truncated file shows.
  uint8_t tail[12] = {0};
  const long n = st.st_size < 12 ? (long)st.st_size : 12;
  const bool tail_ok = std::fseek(f, -n, SEEK_END) == 0 && std::fread(tail, 1, (size_t)n, f) == (size_t)n;
  uint8_t head[8] = {0};
  const bool head_ok = std::fseek(f, 0, SEEK_SET) == 0 && std::fread(head, 1, 8, f) >= 2;
  std::fclose(f);
  if (!header) {
    const char* why = stbi_failure_reason();
    return std::string("unreadable header (") + (why ? why : "unknown format") +
           "; not a JPEG/PNG/BMP/GIF/TGA/PSD/PNM file, or corrupt)";
  }
  if ((int64_t)w * h > max_image_pixels())
    return std::to_string(w) + "x" + std::to_string(h) + " pixels, over the limit of " +
           std::to_string(max_image_pixels() / 1000000) + " megapixels (SKINMTL_MAX_PIXELS)";
  if (!tail_ok || !head_ok) return "read error";
  const bool jpeg = head[0] == 0xFF && head[1] == 0xD8;
  const bool png = std::memcmp(head, "\x89PNG\r\n\x1a\n", 8) == 0;
  if (jpeg) {
    // The end-of-image marker FF D9, allowing the zero padding some writers add.
    int e = (int)n - 1;
    while (e > 0 && tail[e] == 0) --e;
    if (!(e >= 1 && tail[e - 1] == 0xFF && tail[e] == 0xD9))
      return "truncated: the JPEG does not end with its end-of-image marker (FF D9)";
  }
  if (png && !(n == 12 && std::memcmp(tail + 4, "IEND", 4) == 0))
    return "truncated: the PNG does not end with its IEND chunk";
  return "";
}

int64_t max_image_pixels() {
  static const int64_t limit = [] {
    const char* v = std::getenv("SKINMTL_MAX_PIXELS");
    if (!v || !*v) return kDefaultMaxImagePixels;
    char* end = nullptr;
    const long long n = std::strtoll(v, &end, 10);
    SKINMTL_CHECK(end && *end == 0 && n > 0, "SKINMTL_MAX_PIXELS must be a positive whole number, got '" << v << "'");
    return (int64_t)n;
  }();
  return limit;
}

Image load_image(const std::string& path, int channels) {
  std::vector<uint8_t> bytes = read_file(path);
  return decode_image(bytes.data(), bytes.size(), path, channels);
}

Image decode_image(const uint8_t* bytes, size_t size, const std::string& name, int channels) {
  SKINMTL_CHECK(channels == 0 || channels == 1 || channels == 3,
                "load_image: channels must be 0 (as stored), 1 or 3, got " << channels);
  SKINMTL_USER_CHECK(size > 0, "load_image: '" << name << "' is empty (0 bytes)");
  SKINMTL_USER_CHECK(size < (size_t)1 << 31, "load_image: '" << name << "' is too large to decode");
  const int len = (int)size;
  {
    // A decompression bomb (a few bytes claiming 20000x20000) is refused from
    // its header, before any pixel memory is allocated.
    int w, h, comp;
    if (stbi_info_from_memory(bytes, len, &w, &h, &comp))
      SKINMTL_USER_CHECK((int64_t)w * h <= max_image_pixels(),
                    "load_image: '" << name << "' claims " << w << "x" << h << " = " << (int64_t)w * h / 1000000
                                    << " megapixels, over the limit of " << max_image_pixels() / 1000000
                                    << " (set SKINMTL_MAX_PIXELS to allow more)");
  }
  if (channels == 0) {
    // Ask the header for the stored colour type: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA.
    int w, h, comp;
    if (stbi_info_from_memory(bytes, len, &w, &h, &comp)) channels = comp <= 2 ? 1 : 3;
    else channels = 3;  // the decode below fails and reports why
  }
  int w = 0, h = 0, stored = 0;
  uint8_t* pixels = stbi_load_from_memory(bytes, len, &w, &h, &stored, channels);
  if (!pixels) {
    const std::string reason = stbi_failure_reason() ? stbi_failure_reason() : "unknown reason";
    std::string hint;
    if (reason == "unknown image type") hint = " (not a JPEG/PNG/BMP/GIF/TGA/PSD/PNM file)";
    else if (reason == "expected marker" || reason == "outofdata" || reason == "bad zlib header" ||
             reason == "no SOI" || reason == "no IDAT")
      hint = " (the file looks truncated or corrupt)";
    SKINMTL_FAIL("load_image: cannot decode '" << name << "' (" << size
                                               << " bytes): stb_image says '" << reason << "'"
                                               << hint);
  }
  Image img;
  img.height = h;
  img.width = w;
  img.channels = channels;
  img.data.assign(pixels, pixels + (size_t)w * h * channels);
  stbi_image_free(pixels);
  return img;
}

Image load_mask(const std::string& path) {
  Image stored = load_image(path, 0);  // 1 channel for grey files, 3 for colour ones
  if (stored.channels == 1) return stored;
  Image mask(stored.height, stored.width, 1);
  for (size_t p = 0; p < mask.data.size(); ++p) {
    const uint8_t* rgb = &stored.data[p * 3];
    mask.data[p] = std::max(rgb[0], std::max(rgb[1], rgb[2]));
  }
  return mask;
}

Image load_truth_mask(const std::string& path) {
  Image mask = load_mask(path);
  const uint8_t top = mask.data.empty() ? 0 : *std::max_element(mask.data.begin(), mask.data.end());
  if (top == 1) {  // a 0/1 mask: lesion stored as 1
    for (uint8_t& v : mask.data) v = v ? 255 : 0;
  } else {
    SKINMTL_USER_CHECK(top == 0 || top >= 128,
                       "mask '" << path << "': its largest value is " << (int)top
                                << ", so no pixel reaches the lesion threshold (128): not a 0/255 "
                                   "or 0/1 binary mask (a label map or a dim export?); save lesion "
                                   "pixels as 255 (or 1) and the rest as 0");
  }
  return mask;
}

void save_png(const std::string& path, const Image& image) {
  SKINMTL_CHECK(!image.empty() && (image.channels == 1 || image.channels == 3),
                "save_png: '" << path << "': nothing to write or bad channels (" << image.str()
                              << ")");
  const int ok = stbi_write_png(path.c_str(), image.width, image.height, image.channels,
                                image.data.data(), image.width * image.channels);
  SKINMTL_USER_CHECK(ok, "save_png: cannot write '" << path << "': " << std::strerror(errno));
}

void save_jpeg(const std::string& path, const Image& image, int quality) {
  SKINMTL_CHECK(!image.empty() && (image.channels == 1 || image.channels == 3),
                "save_jpeg: '" << path << "': nothing to write or bad channels (" << image.str()
                               << ")");
  SKINMTL_CHECK(quality >= 1 && quality <= 100,
                "save_jpeg: '" << path << "': quality must be in [1, 100], got " << quality);
  const int ok = stbi_write_jpg(path.c_str(), image.width, image.height, image.channels,
                                image.data.data(), quality);
  SKINMTL_USER_CHECK(ok, "save_jpeg: cannot write '" << path << "': " << std::strerror(errno));
}

// ---- resampling ------------------------------------------------------------------
//
// The rule is the header comment's (PIL's ImagingResample with its bilinear
// filter, Pillow's src/libImaging/Resample.c). An output pixel of an axis reads
// a contiguous run of source pixels; AxisTaps holds, for output index d, the
// first one start[d], their number count[d] and their weights, which sum to 1
// in fixed point (kWeightBits fractional bits).

namespace {

// PIL's PRECISION_BITS, 32 - 8 - 2: 255 times a weight sum of 2^22 fits an int32.
constexpr int kWeightBits = 22;

struct AxisTaps {
  std::vector<int> start, count;
  std::vector<int32_t> weight;  // weight[k * max_count + j] for source index start[k] + j
  int max_count = 0;
};

// The triangle (tent) filter of bilinear interpolation.
inline double triangle(double t) {
  t = std::abs(t);
  return t < 1.0 ? 1.0 - t : 0.0;
}

// Taps for output indices first ... first + n - 1 of an axis resized from
// src_size to dst_size (the full output size, even when only n are needed).
// The arithmetic follows PIL's precompute_coeffs step by step (the same
// products and quotients), so that the rounded weights are PIL's to the bit.
AxisTaps axis_taps(int src_size, int dst_size, int first, int n) {
  AxisTaps t;
  const double scale = (double)src_size / dst_size;
  const double stretch = std::max(scale, 1.0);  // f: the triangle's half-width in source pixels
  t.max_count = (int)std::ceil(stretch) * 2 + 1;
  t.start.resize(n);
  t.count.resize(n);
  t.weight.assign((size_t)n * t.max_count, 0);
  std::vector<double> w(t.max_count);
  for (int k = 0; k < n; ++k) {
    const double centre = (first + k + 0.5) * scale;  // c, in source coordinates
    // The pixels whose centres lie within `stretch` of c, clipped to the image.
    const int lo = std::max(0, (int)std::floor(centre - stretch + 0.5));
    const int hi = std::min(src_size, (int)std::floor(centre + stretch + 0.5));
    double sum = 0;
    for (int i = lo; i < hi; ++i) sum += w[i - lo] = triangle((i - centre + 0.5) * (1.0 / stretch));
    t.start[k] = lo;
    t.count[k] = hi - lo;
    for (int i = lo; i < hi; ++i)
      t.weight[(size_t)k * t.max_count + (i - lo)] = (int32_t)(w[i - lo] / sum * (1 << kWeightBits) + 0.5);
  }
  return t;
}

// A fixed-point sum back to a pixel: round half up (the sum starts at one
// half), drop the fractional bits, clamp to [0, 255].
inline uint8_t to_u8(int32_t sum) { return (uint8_t)std::min(255, std::max(0, sum >> kWeightBits)); }
constexpr int32_t kHalf = 1 << (kWeightBits - 1);

}  // namespace

Image resize_crop(const Image& src, int full_h, int full_w, int y0, int x0, int h, int w) {
  SKINMTL_CHECK(!src.empty(), "resize: empty image");
  SKINMTL_CHECK(full_h > 0 && full_w > 0,
                "resize: output size must be positive, got " << full_h << "x" << full_w);
  SKINMTL_CHECK(h > 0 && w > 0 && y0 >= 0 && x0 >= 0 && y0 + h <= full_h && x0 + w <= full_w,
                "resize_crop: window " << h << "x" << w << " at (" << y0 << ", " << x0
                                       << ") is not inside " << full_h << "x" << full_w);
  const int C = src.channels, W = src.width;
  const AxisTaps ty = axis_taps(src.height, full_h, y0, h);
  const AxisTaps tx = axis_taps(src.width, full_w, x0, w);
  // Only source rows [ylo, yhi) feed this window.
  const int ylo = ty.start[0], yhi = ty.start[h - 1] + ty.count[h - 1];

  // Horizontal pass, rounded to 8 bits: mid(y, c) = sum_j wx[j] * src(y, start + j).
  std::vector<uint8_t> mid((size_t)(yhi - ylo) * w * C);
  for (int y = ylo; y < yhi; ++y) {
    const uint8_t* s = &src.data[(size_t)y * W * C];
    uint8_t* m = &mid[(size_t)(y - ylo) * w * C];
    for (int c = 0; c < w; ++c) {
      const int32_t* wx = &tx.weight[(size_t)c * tx.max_count];
      const uint8_t* sc = s + (size_t)tx.start[c] * C;
      for (int ch = 0; ch < C; ++ch) {
        int32_t sum = kHalf;
        for (int j = 0; j < tx.count[c]; ++j) sum += wx[j] * sc[(size_t)j * C + ch];
        m[(size_t)c * C + ch] = to_u8(sum);
      }
    }
  }
  // Vertical pass: out(r, c) = sum_k wy[k] * mid(start + k, c).
  Image out(h, w, C);
  const size_t row = (size_t)w * C;
  std::vector<int32_t> acc(row);
  for (int r = 0; r < h; ++r) {
    std::fill(acc.begin(), acc.end(), kHalf);
    const int32_t* wy = &ty.weight[(size_t)r * ty.max_count];
    for (int k = 0; k < ty.count[r]; ++k) {
      const uint8_t* m = &mid[(size_t)(ty.start[r] + k - ylo) * row];
      for (size_t i = 0; i < row; ++i) acc[i] += wy[k] * m[i];
    }
    uint8_t* o = &out.data[(size_t)r * row];
    for (size_t i = 0; i < row; ++i) o[i] = to_u8(acc[i]);
  }
  return out;
}

Image resize(const Image& image, int out_h, int out_w) {
  return resize_crop(image, out_h, out_w, 0, 0, out_h, out_w);
}

void shorter_side_size(int height, int width, int shorter, int* out_h, int* out_w) {
  SKINMTL_CHECK(height > 0 && width > 0 && shorter > 0,
                "resize_shorter_side: bad sizes " << height << "x" << width << " -> " << shorter);
  if (height <= width) {
    *out_h = shorter;
    *out_w = (int)((int64_t)width * shorter / height);
  } else {
    *out_w = shorter;
    *out_h = (int)((int64_t)height * shorter / width);
  }
}

Image resize_shorter_side(const Image& image, int shorter) {
  SKINMTL_CHECK(!image.empty(), "resize_shorter_side: empty image");
  int h, w;
  shorter_side_size(image.height, image.width, shorter, &h, &w);
  return resize(image, h, w);
}

Image crop(const Image& src, int y, int x, int h, int w) {
  SKINMTL_CHECK(h > 0 && w > 0 && y >= 0 && x >= 0 && y + h <= src.height && x + w <= src.width,
                "crop: window " << h << "x" << w << " at (" << y << ", " << x
                                << ") is not inside the image " << src.str());
  Image out(h, w, src.channels);
  const size_t row_bytes = (size_t)w * src.channels;
  for (int r = 0; r < h; ++r)
    std::memcpy(&out.data[r * row_bytes], &src.data[((size_t)(y + r) * src.width + x) * src.channels],
                row_bytes);
  return out;
}

Image center_crop(const Image& src, int h, int w) {
  SKINMTL_CHECK(h <= src.height && w <= src.width,
                "center_crop: " << h << "x" << w << " is larger than the image " << src.str());
  return crop(src, (src.height - h) / 2, (src.width - w) / 2, h, w);
}

Image hflip(const Image& src) {
  SKINMTL_CHECK(!src.empty(), "hflip: empty image");
  Image out(src.height, src.width, src.channels);
  const int C = src.channels, W = src.width;
  for (int y = 0; y < src.height; ++y) {
    const uint8_t* in = &src.data[(size_t)y * W * C];
    uint8_t* o = &out.data[(size_t)y * W * C];
    for (int x = 0; x < W; ++x)
      for (int c = 0; c < C; ++c) o[(W - 1 - x) * C + c] = in[x * C + c];
  }
  return out;
}

// ---- to the network ----------------------------------------------------------------

void image_to_chw(const Image& img, const Normalize& norm, float* out) {
  SKINMTL_CHECK(img.channels == 1 || img.channels == 3,
                "to_tensor: channels must be 1 or 3, got " << img.str());
  const size_t plane = (size_t)img.height * img.width;
  for (int c = 0; c < 3; ++c) {
    const int src_c = img.channels == 3 ? c : 0;  // grey feeds all three channels
    float* o = out + c * plane;
    const float inv_std = 1.0f / norm.std[c];
    for (size_t p = 0; p < plane; ++p)
      o[p] = (img.data[p * img.channels + src_c] * norm.scale - norm.mean[c]) * inv_std;
  }
}

Tensor to_tensor(const std::vector<Image>& images, const Normalize& norm) {
  SKINMTL_CHECK(!images.empty(), "to_tensor: no images");
  const int H = images[0].height, W = images[0].width;
  for (size_t i = 0; i < images.size(); ++i)
    SKINMTL_CHECK(images[i].height == H && images[i].width == W,
                  "to_tensor: all images must have one size; image 0 is "
                      << images[0].str() << ", image " << i << " is " << images[i].str());
  Tensor t = Tensor::empty({(int64_t)images.size(), 3, H, W});
  float* p = t.data<float>();
  for (size_t i = 0; i < images.size(); ++i) image_to_chw(images[i], norm, p + i * 3 * H * W);
  return t;
}

Tensor to_tensor(const std::vector<Image>& images, const float mean[3], float scale) {
  Normalize norm;
  for (int c = 0; c < 3; ++c) norm.mean[c] = mean[c];
  norm.scale = scale;
  return to_tensor(images, norm);
}

}  // namespace skinmtl
