// skinmtl's image preprocessing against PIL and torchvision (Debian's
// python3-pil and python3-torchvision, run by tests/reference/pil_reference.py).
//
//   Resize: io/image.h resize() is PIL's Image.resize(size, BILINEAR). On real
//     photographs (the darknet sample photos of `make deps`; ISIC 2017 and
//     HAM10000 images from ../shared/data when present), decoded by skinmtl
//     and handed to PIL as PNG so that both start from the same pixels, at
//     torchvision's Resize(256) size and at shrinking, enlarging and mixed
//     sizes: every sample may differ from PIL's by at most one grey level.
//     (Measured: none differs at all; both round the same fixed-point sums.)
//   Masks: 1-bit, 8-bit and 24-bit BMPs and PNGs written by PIL load with
//     io/image.h load_mask as the pattern drawn into them.
//   Classification preprocessing: `skinmtl classify`'s shorter side 256 and
//     centre crop 224 give torchvision's Compose([Resize(256), CenterCrop(224)])
//     pixels on the same decoded photo, and the ImageNet ResNet-50's top-1
//     probability on a photo agrees with the one on torchvision's crop of PIL's
//     own decoding of the JPEG to within 0.01 (what is left is libjpeg's
//     decoding against stb_image's). Before the resize followed PIL (bilinear
//     without antialiasing below 2x), dog.jpg gave 0.862 against
//     torchvision's 0.809 and eagle.jpg 0.913 against 0.869.
//
// Each test is skipped by name when python3-pil (or python3-torchvision, or
// the photographs, or the weights) is missing, saying what to run.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "io/augment.h"
#include "io/image.h"
#include "nets/classify.h"
#include "nets/resnet50_weights.h"
#include "tests/io_test_util.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

namespace fs = std::filesystem;

const char* const kPython = "/usr/bin/python3";  // Debian's, where python3-pil installs
const char* const kScript = "tests/reference/pil_reference.py";
const char* const kWeights = "weights/resnet50_imagenet.safetensors";

// Empty when `module` imports in Debian's python; otherwise why the tests skip.
std::string python_lacks(const std::string& module, const std::string& package) {
  const std::string cmd = std::string(kPython) + " -c 'import " + module + "' > /dev/null 2>&1";
  return std::system(cmd.c_str()) == 0 ? std::string() : package + " not installed: make deps installs it";
}
const std::string& pil_missing() {
  static const std::string reason = python_lacks("PIL", "python3-pil");
  return reason;
}
const std::string& torchvision_missing() {
  static const std::string reason = python_lacks("PIL, torchvision", "python3-torchvision (or python3-pil)");
  return reason;
}

#define REQUIRE_PYTHON(missing)                                             \
  do {                                                                      \
    if (!(missing).empty()) GTEST_SKIP() << (missing);                      \
    ASSERT_TRUE(fs::exists(kScript)) << kScript << " not found: run the tests from the repository root"; \
  } while (0)

void run_reference(const std::string& args) {
  const std::string cmd = std::string(kPython) + " " + kScript + " " + args;
  const int rc = std::system(cmd.c_str());
  SKINMTL_CHECK(rc == 0, "PIL reference failed (status " << rc << "): " << cmd);
}

// The darknet sample photographs (`make deps`), or "" when there are none.
std::string photo_dir() {
  for (const char* d : {"/usr/share/darknet/data", "data/darknet"})
    if (fs::exists(std::string(d) + "/dog.jpg") && fs::exists(std::string(d) + "/kite.jpg")) return d;
  return "";
}
const char* const kPhotos[] = {"dog.jpg", "eagle.jpg", "giraffe.jpg", "kite.jpg"};

// The first n image files of a folder, by name ("" when it does not exist).
std::vector<std::string> first_files(const std::string& dir, size_t n) {
  std::vector<std::string> files;
  if (!fs::is_directory(dir)) return files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".jpg") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  if (files.size() > n) files.resize(n);
  return files;
}

// Every photograph available: the darknet ones, three ISIC 2017 val images
// (256 x 192) and three HAM10000 images (224 x 224).
std::vector<std::string> photographs() {
  std::vector<std::string> all;
  if (!photo_dir().empty())
    for (const char* p : kPhotos) all.push_back(photo_dir() + "/" + p);
  const std::string data = test::real_data_dir();
  for (const std::string& dir : {data + "/isic2017/val/images", data + "/ham10000/images"})
    for (const std::string& f : first_files(dir, 3)) all.push_back(f);
  return all;
}

// The largest |a - b| over the samples of two images of one size, and how
// many samples differ.
struct Difference {
  int max = 0;
  int64_t differing = 0, samples = 0;
};
Difference compare(const Image& a, const Image& b) {
  Difference d;
  EXPECT_EQ(a.str(), b.str());
  if (a.str() != b.str()) return {255, 1, 1};
  for (size_t i = 0; i < a.data.size(); ++i) {
    const int diff = std::abs((int)a.data[i] - (int)b.data[i]);
    d.max = std::max(d.max, diff);
    d.differing += diff != 0;
  }
  d.samples = (int64_t)a.data.size();
  return d;
}

TEST(PilReference, ResizeMatchesPilOnPhotographs) {
  REQUIRE_PYTHON(pil_missing());
  const std::vector<std::string> photos = photographs();
  if (photos.empty())
    GTEST_SKIP() << "no photographs: run `make deps` (darknet sample photos) or provide ../shared/data";
  test::TempDir dir;
  struct Job {
    std::string photo, src, out;
    int h, w;
  };
  std::vector<Job> jobs;
  std::string args = "resize";
  std::vector<Image> sources;
  for (size_t p = 0; p < photos.size(); ++p) {
    Image img = load_image(photos[p], 3);
    // The first photograph also as grey: PIL's "L" mode against our 1 channel.
    for (int grey = 0; grey < (p == 0 ? 2 : 1); ++grey) {
      if (grey) img = load_image(photos[p], 1);
      const std::string src = dir.path("src" + std::to_string(p) + (grey ? "g" : "") + ".png");
      save_png(src, img);
      const int H = img.height, W = img.width;
      int h256, w256;
      shorter_side_size(H, W, 256, &h256, &w256);
      // torchvision's Resize(256), shrink ~2.5x, enlarge 1.5x, shrink y and enlarge x, 224 x 224.
      const std::vector<std::pair<int, int>> sizes = {
          {h256, w256}, {H * 37 / 100, W * 41 / 100}, {H * 3 / 2, W * 3 / 2}, {H / 2, W * 5 / 4}, {224, 224}};
      for (auto [h, w] : sizes) {
        Job j{photos[p], src, dir.path("out" + std::to_string(jobs.size()) + ".png"), h, w};
        args += " " + src + " " + std::to_string(h) + " " + std::to_string(w) + " " + j.out;
        jobs.push_back(j);
        sources.push_back(img);
      }
    }
  }
  run_reference(args);
  Difference all;
  for (size_t k = 0; k < jobs.size(); ++k) {
    const Job& j = jobs[k];
    const Image ours = resize(sources[k], j.h, j.w);
    const Image pil = load_image(j.out, 0);
    const Difference d = compare(ours, pil);
    EXPECT_LE(d.max, 1) << j.photo << " " << sources[k].str() << " -> " << j.h << "x" << j.w;
    all.max = std::max(all.max, d.max);
    all.differing += d.differing;
    all.samples += d.samples;
  }
  std::printf("  resize against PIL: %zu photographs, %zu resizes, %lld samples: max |difference| %d grey level(s), "
              "%lld samples differ\n",
              photos.size(), jobs.size(), (long long)all.samples, all.max, (long long)all.differing);
}

TEST(PilReference, MasksWrittenByPilLoadAsTheirPattern) {
  REQUIRE_PYTHON(pil_missing());
  test::TempDir dir;
  run_reference("masks " + dir.str());
  for (const char* f : {"band_1bit.bmp", "band_1bit.png", "band_8bit.bmp", "band_24bit.bmp", "band_red.png"}) {
    const Image m = load_mask(dir.path(f));
    ASSERT_EQ(m.str(), "9x13x1") << f;
    for (int y = 0; y < 9; ++y)
      for (int x = 0; x < 13; ++x)
        ASSERT_EQ(m.at(y, x, 0), (x + 2 * y) % 3 == 0 ? 255 : 0) << f << " at " << y << "," << x;
  }
}

TEST(TorchvisionReference, ClassifyPreprocessingMatchesTorchvisionOnPil) {
  REQUIRE_PYTHON(torchvision_missing());
  if (!fs::exists(kWeights)) GTEST_SKIP() << kWeights << " not found (run `make weights` to fetch and convert it)";
  if (photo_dir().empty()) GTEST_SKIP() << "darknet sample photographs not found (run `make deps`)";
  test::TempDir dir;
  // torchvision on PIL's decoding of each JPEG, and on ours (as PNG).
  std::string args = "torchvision";
  for (const char* p : kPhotos) {
    const std::string stem = fs::path(p).stem().string();
    save_png(dir.path(stem + "_stb.png"), load_image(photo_dir() + "/" + p, 3));
    args += " " + photo_dir() + "/" + p + " " + dir.path(stem + "_tv_libjpeg.png");
    args += " " + dir.path(stem + "_stb.png") + " " + dir.path(stem + "_tv_stb.png");
  }
  run_reference(args);

  LoadedResNet50 net = load_resnet50(kWeights);
  for (const char* p : kPhotos) {
    SCOPED_TRACE(p);
    const std::string stem = fs::path(p).stem().string();
    const Image photo = load_image(photo_dir() + "/" + p, 3);
    // The same decoded pixels: our crop is torchvision's.
    const Difference d = compare(test_center_crop(photo, 256, 224), load_image(dir.path(stem + "_tv_stb.png"), 3));
    EXPECT_LE(d.max, 1);
    // The classifier's answer: ours from the JPEG (as `skinmtl classify`)
    // against the same network on torchvision's crop of PIL's decoding.
    const std::vector<double> ours = classify_probabilities(*net.model, net.info, photo);
    const std::vector<double> tv =
        classify_probabilities(*net.model, net.info, load_image(dir.path(stem + "_tv_libjpeg.png"), 3), 224, 224);
    const ClassScore top = top_k(ours, net.info.classes, 1)[0];
    EXPECT_EQ(top.index, top_k(tv, net.info.classes, 1)[0].index);
    EXPECT_NEAR(ours[top.index], tv[top.index], 0.01) << top.name;
    std::printf("  %-12s top-1 %s: skinmtl %.4f, torchvision on PIL %.4f (crops: max |difference| %d, %lld of %lld "
                "samples differ)\n",
                p, top.name.c_str(), ours[top.index], tv[top.index], d.max, (long long)d.differing,
                (long long)d.samples);
  }
}

}  // namespace
}  // namespace skinmtl
