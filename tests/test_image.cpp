// io/image: load/save, resize, crop, flip and to_tensor.
#include <stb_image_write.h>
#include <sys/stat.h>

#include <cmath>

#include "io/image.h"
#include "tests/io_test_util.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

using test::random_image;
using test::TempDir;

// A grey image from rows of values.
Image grey(const std::vector<std::vector<int>>& rows) {
  Image img((int)rows.size(), (int)rows[0].size(), 1);
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x) img.at(y, x, 0) = (uint8_t)rows[y][x];
  return img;
}

std::vector<std::vector<int>> rows_of(const Image& img, int c = 0) {
  std::vector<std::vector<int>> r(img.height, std::vector<int>(img.width));
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x) r[y][x] = img.at(y, x, c);
  return r;
}

// Expects `what()` of the exception thrown by f to contain every one of `parts`.
template <typename F>
void expect_error_mentions(F f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no exception thrown";
  } catch (const Error& e) {
    for (const std::string& p : parts)
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos)
          << "'" << e.what() << "' does not mention '" << p << "'";
  }
}

// ---- files ---------------------------------------------------------------------

TEST(Image, PngRoundTripRgbAndGrey) {
  TempDir dir;
  Rng rng(1);
  const Image rgb = random_image(7, 5, 3, rng);
  save_png(dir.path("rgb.png"), rgb);
  const Image back = load_image(dir.path("rgb.png"));
  EXPECT_EQ(back.height, 7);
  EXPECT_EQ(back.width, 5);
  EXPECT_EQ(back.channels, 3);
  EXPECT_EQ(back.data, rgb.data);

  const Image g = random_image(4, 9, 1, rng);
  save_png(dir.path("grey.png"), g);
  const Image g1 = load_image(dir.path("grey.png"), 0);  // as stored: grey
  EXPECT_EQ(g1.channels, 1);
  EXPECT_EQ(g1.data, g.data);
  const Image g3 = load_image(dir.path("grey.png"));  // default: RGB, grey replicated
  ASSERT_EQ(g3.channels, 3);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 9; ++x)
      for (int c = 0; c < 3; ++c) EXPECT_EQ(g3.at(y, x, c), g.at(y, x, 0));
  EXPECT_EQ(load_image(dir.path("rgb.png"), 0).channels, 3);
}

TEST(Image, JpegWrittenByStbLoadsApproximately) {
  TempDir dir;
  // A smooth image (JPEG is lossy, and worst at sharp edges).
  Image img(24, 32, 3);
  for (int y = 0; y < 24; ++y)
    for (int x = 0; x < 32; ++x) {
      img.at(y, x, 0) = (uint8_t)(40 + 5 * x);
      img.at(y, x, 1) = (uint8_t)(30 + 8 * y);
      img.at(y, x, 2) = 128;
    }
  const std::string path = dir.path("smooth.jpg");
  ASSERT_TRUE(stbi_write_jpg(path.c_str(), 32, 24, 3, img.data.data(), 95));
  const Image back = load_image(path);
  ASSERT_EQ(back.height, 24);
  ASSERT_EQ(back.width, 32);
  ASSERT_EQ(back.channels, 3);
  double sum = 0, worst = 0;
  for (size_t i = 0; i < img.data.size(); ++i) {
    const double d = std::abs((int)img.data[i] - (int)back.data[i]);
    sum += d;
    worst = std::max(worst, d);
  }
  EXPECT_LT(sum / img.data.size(), 2.0);
  EXPECT_LT(worst, 16.0);
}

TEST(Image, LoadErrorsNameTheFileAndTheReason) {
  TempDir dir;
  const std::string missing = dir.path("no_such.png");
  expect_error_mentions([&] { load_image(missing); }, {missing, "cannot open", "No such file"});

  const std::string empty = dir.path("empty.jpg");
  test::write_file(empty, "");
  expect_error_mentions([&] { load_image(empty); }, {empty, "empty"});

  const std::string garbage = dir.path("garbage.jpg");
  test::write_file(garbage, "this is not an image, only some text bytes\n");
  expect_error_mentions([&] { load_image(garbage); }, {garbage, "unknown image type"});

  // Truncated files: the first half of a valid PNG and of a valid JPEG.
  Rng rng(2);
  const Image img = random_image(16, 16, 3, rng);
  save_png(dir.path("full.png"), img);
  ASSERT_TRUE(stbi_write_jpg(dir.path("full.jpg").c_str(), 16, 16, 3, img.data.data(), 90));
  for (const char* ext : {"png", "jpg"}) {
    const std::string bytes = test::read_file(dir.path(std::string("full.") + ext));
    const std::string cut = dir.path(std::string("cut.") + ext);
    test::write_file(cut, bytes.substr(0, bytes.size() / 2));
    expect_error_mentions([&] { load_image(cut); }, {cut, "cannot decode", "truncated"});
  }
  EXPECT_THROW(load_image(dir.path("full.png"), 2), Error);  // channels must be 0, 1 or 3
}

// A PNG that is only a signature and an IHDR chunk claiming w x h (stb_image
// reads the size from there; it does not check CRCs).
std::string png_header_claiming(uint32_t w, uint32_t h) {
  std::string s = "\x89PNG\r\n\x1a\n";
  auto be32 = [&](uint32_t v) {
    for (int i = 3; i >= 0; --i) s.push_back((char)(v >> (8 * i)));
  };
  be32(13);
  s += "IHDR";
  be32(w);
  be32(h);
  s += std::string("\x08\x02\x00\x00\x00", 5);  // 8-bit RGB
  be32(0);                                          // CRC (unchecked)
  return s;
}

// A baseline JPEG that is only SOI and a frame header (SOF0) claiming w x h.
std::string jpeg_header_claiming(uint16_t w, uint16_t h) {
  std::string s = "\xFF\xD8\xFF\xC0";
  s += std::string("\x00\x11\x08", 3);
  s.push_back((char)(h >> 8));
  s.push_back((char)h);
  s.push_back((char)(w >> 8));
  s.push_back((char)w);
  s += std::string("\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01", 10);
  return s;
}

TEST(Image, ADecompressionBombIsRefusedFromItsHeader) {
  TempDir dir;
  // The case: a few bytes of JPEG claiming 20000x20000.
  const std::string bomb = dir.path("bomb.jpg");
  test::write_file(bomb, jpeg_header_claiming(20000, 20000));
  expect_error_mentions([&] { load_image(bomb); }, {bomb, "20000x20000", "400 megapixels", "SKINMTL_MAX_PIXELS"});
  const std::string png = dir.path("bomb.png");
  test::write_file(png, png_header_claiming(12000, 9000));
  expect_error_mentions([&] { load_image(png); }, {png, "12000x9000", "108 megapixels"});
  // Under the limit, the same kind of file fails in the decoder instead (it has no pixels).
  const std::string small = dir.path("small.png");
  test::write_file(small, png_header_claiming(100, 100));
  expect_error_mentions([&] { load_image(small); }, {small, "cannot decode"});
  EXPECT_EQ(max_image_pixels(), kDefaultMaxImagePixels);
}

TEST(Image, OnlyRegularFilesAreRead) {
  TempDir dir;
  expect_error_mentions([&] { load_image("/dev/zero"); }, {"/dev/zero", "not a regular file", "device"});
  expect_error_mentions([&] { load_image(dir.str()); }, {"not a regular file", "folder"});
  const std::string fifo = dir.path("pipe.jpg");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  expect_error_mentions([&] { load_image(fifo); }, {fifo, "not a regular file", "pipe"});  // must not block
}

TEST(Image, SaveErrorNamesTheFile) {
  TempDir dir;
  Rng rng(3);
  const std::string bad = dir.path("no_folder/x.png");
  expect_error_mentions([&] { save_png(bad, random_image(2, 2, 3, rng)); }, {bad});
}

// ---- resize --------------------------------------------------------------------------

TEST(Resize, ConstantImageStaysConstant) {
  Image img(7, 5, 3);
  for (int y = 0; y < 7; ++y)
    for (int x = 0; x < 5; ++x) {
      img.at(y, x, 0) = 10;
      img.at(y, x, 1) = 200;
      img.at(y, x, 2) = 255;
    }
  // Up, down (bilinear), down by more than 2x (area), mixed.
  for (auto [h, w] : std::vector<std::pair<int, int>>{{13, 11}, {5, 4}, {3, 2}, {1, 1}, {20, 2}}) {
    const Image r = resize(img, h, w);
    ASSERT_EQ(r.height, h);
    ASSERT_EQ(r.width, w);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        EXPECT_EQ(r.at(y, x, 0), 10) << h << "x" << w;
        EXPECT_EQ(r.at(y, x, 1), 200) << h << "x" << w;
        EXPECT_EQ(r.at(y, x, 2), 255) << h << "x" << w;
      }
  }
}

TEST(Resize, TwoByTwoUpscaledByHand) {
  // Output d samples s = (d + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25, clamped
  // to 0, 0.25, 0.75, 1: weights (1, 0), (0.75, 0.25), (0.25, 0.75), (0, 1).
  //   row 0: 0, 25, 75, 100            row 3: 200, 160, 80, 40
  //   row 1 = 0.75 row 0 + 0.25 row 3: 50, 58.75, 76.25, 85
  //   row 2 = 0.25 row 0 + 0.75 row 3: 150, 126.25, 78.75, 55   (then rounded)
  const Image r = resize(grey({{0, 100}, {200, 40}}), 4, 4);
  EXPECT_EQ(rows_of(r), (std::vector<std::vector<int>>{{0, 25, 75, 100},
                                                        {50, 59, 76, 85},
                                                        {150, 126, 79, 55},
                                                        {200, 160, 80, 40}}));
}

TEST(Resize, DownscaleByHand) {
  // Exactly 2x: samples at 0.5 and 2.5, i.e. the mean of each 2x2 block.
  const Image a = grey({{0, 10, 100, 100}, {20, 30, 100, 100}, {4, 4, 0, 0}, {8, 8, 0, 200}});
  EXPECT_EQ(rows_of(resize(a, 2, 2)), (std::vector<std::vector<int>>{{15, 100}, {6, 50}}));
  // 3x (area): the mean of each 3-pixel run.
  const Image b = grey({{3, 6, 9, 30, 60, 90}});
  EXPECT_EQ(rows_of(resize(b, 1, 2)), (std::vector<std::vector<int>>{{6, 60}}));
  // 2.5x (area, partial pixels): [0, 2.5) and [2.5, 5):
  //   (10 + 20 + 0.5 * 30) / 2.5 = 18,  (0.5 * 30 + 40 + 50) / 2.5 = 42.
  const Image c = grey({{10, 20, 30, 40, 50}});
  EXPECT_EQ(rows_of(resize(c, 1, 2)), (std::vector<std::vector<int>>{{18, 42}}));
}

TEST(Resize, BilinearMatchesADirectTwoDimensionalReference) {
  Rng rng(4);
  const Image img = random_image(7, 9, 3, rng);
  const int H = 11, W = 5;  // up in y, down by 1.8x in x: bilinear on both axes
  const Image r = resize(img, H, W);
  auto coord = [](int d, int src, int dst, int* i0, int* i1, double* f) {
    double s = (d + 0.5) * src / dst - 0.5;
    s = std::min(std::max(s, 0.0), (double)src - 1);
    *i0 = (int)std::floor(s);
    *i1 = std::min(*i0 + 1, src - 1);
    *f = s - *i0;
  };
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x)
      for (int c = 0; c < 3; ++c) {
        int y0, y1, x0, x1;
        double fy, fx;
        coord(y, 7, H, &y0, &y1, &fy);
        coord(x, 9, W, &x0, &x1, &fx);
        const double v = (1 - fy) * ((1 - fx) * img.at(y0, x0, c) + fx * img.at(y0, x1, c)) +
                         fy * ((1 - fx) * img.at(y1, x0, c) + fx * img.at(y1, x1, c));
        // float vs double may round a value near .5 differently
        EXPECT_NEAR(r.at(y, x, c), std::floor(v + 0.5), 1.0) << y << "," << x << "," << c;
      }
}

TEST(Resize, ResizeCropEqualsResizeThenCrop) {
  Rng rng(5);
  const Image img = random_image(19, 23, 3, rng);
  for (auto [fh, fw] : std::vector<std::pair<int, int>>{{40, 31}, {8, 9}, {5, 4}}) {
    const Image full = resize(img, fh, fw);
    const int h = fh - 3, w = fw - 2;
    EXPECT_EQ(resize_crop(img, fh, fw, 2, 1, h, w).data, crop(full, 2, 1, h, w).data);
    EXPECT_EQ(resize_crop(img, fh, fw, 0, 0, fh, fw).data, full.data);
  }
  EXPECT_THROW(resize_crop(img, 10, 10, 5, 0, 6, 10), Error);  // window outside
  EXPECT_THROW(resize(img, 0, 5), Error);
}

TEST(Resize, ShorterSide) {
  int h, w;
  shorter_side_size(300, 200, 256, &h, &w);
  EXPECT_EQ(h, 384);
  EXPECT_EQ(w, 256);
  shorter_side_size(192, 256, 256, &h, &w);  // ISIC 2017 copies: 256 * 256 / 192 = 341.3
  EXPECT_EQ(h, 256);
  EXPECT_EQ(w, 341);
  Rng rng(6);
  const Image r = resize_shorter_side(random_image(224, 224, 3, rng), 480);
  EXPECT_EQ(r.height, 480);
  EXPECT_EQ(r.width, 480);
}

// ---- crop, flip ---------------------------------------------------------------------------

TEST(Crop, ExactWindowAndCentre) {
  Image img(4, 5, 3);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 5; ++x)
      for (int c = 0; c < 3; ++c) img.at(y, x, c) = (uint8_t)(100 * c + 10 * y + x);
  const Image a = crop(img, 1, 2, 2, 3);
  ASSERT_EQ(a.str(), "2x3x3");
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 3; ++x)
      for (int c = 0; c < 3; ++c) EXPECT_EQ(a.at(y, x, c), 100 * c + 10 * (y + 1) + (x + 2));
  // centre: top (4 - 1) / 2 = 1, left (5 - 2) / 2 = 1
  const Image b = center_crop(img, 1, 2);
  EXPECT_EQ(rows_of(b, 0), (std::vector<std::vector<int>>{{11, 12}}));
  EXPECT_EQ(center_crop(img, 4, 5).data, img.data);
  EXPECT_THROW(crop(img, 3, 0, 2, 1), Error);
  EXPECT_THROW(crop(img, 0, -1, 1, 1), Error);
  EXPECT_THROW(center_crop(img, 5, 5), Error);
}

TEST(Flip, HorizontalIsExactAndAnInvolution) {
  Image img(2, 3, 3);
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 3; ++x)
      for (int c = 0; c < 3; ++c) img.at(y, x, c) = (uint8_t)(100 * c + 10 * y + x);
  const Image f = hflip(img);
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 3; ++x)
      for (int c = 0; c < 3; ++c) EXPECT_EQ(f.at(y, x, c), 100 * c + 10 * y + (2 - x));
  EXPECT_EQ(hflip(f).data, img.data);
}

// ---- to_tensor ------------------------------------------------------------------------------

TEST(ToTensor, ValuesAndRgbChannelOrder) {
  Image a(2, 3, 3), b(2, 3, 3);
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 3; ++x) {
      a.at(y, x, 0) = (uint8_t)(10 * y + x);  // R
      a.at(y, x, 1) = 100;                    // G
      a.at(y, x, 2) = 200;                    // B
      b.at(y, x, 0) = 1;
      b.at(y, x, 1) = 2;
      b.at(y, x, 2) = (uint8_t)(50 + x);
    }
  const float mean[3] = {1.0f, 2.0f, 3.0f};
  const Tensor t = to_tensor({a, b}, mean, 0.5f);
  ASSERT_EQ(t.shape(), (Shape{2, 3, 2, 3}));
  ASSERT_EQ(t.dtype(), DType::F32);
  const float* p = t.data<float>();
  auto at = [&](int n, int c, int y, int x) { return p[((n * 3 + c) * 2 + y) * 3 + x]; };
  EXPECT_FLOAT_EQ(at(0, 0, 1, 2), 12 * 0.5f - 1.0f);  // R of a at (1, 2)
  EXPECT_FLOAT_EQ(at(0, 1, 0, 0), 100 * 0.5f - 2.0f);
  EXPECT_FLOAT_EQ(at(0, 2, 1, 1), 200 * 0.5f - 3.0f);
  EXPECT_FLOAT_EQ(at(1, 0, 0, 0), 1 * 0.5f - 1.0f);
  EXPECT_FLOAT_EQ(at(1, 2, 0, 2), 52 * 0.5f - 3.0f);
  for (double v : t.to_vector()) EXPECT_FALSE(std::isnan(v));  // every element written

  // The default: 0-255 RGB minus the Caffe ImageNet means, R first.
  const Tensor d = to_tensor({a});
  EXPECT_FLOAT_EQ(d.data<float>()[0], 0 - 123.68f);
  EXPECT_FLOAT_EQ(d.data<float>()[6], 100 - 116.779f);
  EXPECT_FLOAT_EQ(d.data<float>()[12], 200 - 103.939f);

  // Grey feeds all three channels.
  Image g(1, 1, 1);
  g.at(0, 0, 0) = 77;
  const Tensor tg = to_tensor({g}, mean, 1.0f);
  EXPECT_EQ(tg.to_vector(), (std::vector<double>{76, 75, 74}));

  // A per-channel std divides after the mean (torchvision's convention).
  Normalize tv;
  tv.mean[0] = 123.675f;
  tv.std[0] = 58.395f;
  tv.std[1] = 57.12f;
  const Tensor s = to_tensor({a}, tv);
  EXPECT_FLOAT_EQ(s.data<float>()[5], (12 - 123.675f) / 58.395f);  // R at (1, 2)
  EXPECT_FLOAT_EQ(s.data<float>()[6], (100 - 116.779f) / 57.12f);

  EXPECT_THROW(to_tensor({a, Image(3, 2, 3)}), Error);  // sizes differ
  EXPECT_THROW(to_tensor(std::vector<Image>{}), Error);
}

}  // namespace
}  // namespace skinmtl
