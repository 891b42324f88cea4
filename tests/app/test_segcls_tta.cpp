// predict_segcls's test-time augmentation (app/segcls_model.h, `eval segcls
// --tta flips`): the mean of four passes over each image (as it is, mirrored
// left-right, upside down, both), each pass's mask mirrored back first.
// Checked against the plain predictions of image files that hold the four
// flips, written here: an independent route to the same numbers. The images
// are at the model's input size, so the loader's resize changes no pixel. The
// trunk is the ImageNet ResNet-50: a random one's features grow through its 50
// layers until both classifiers say 1.0 for every image, flipped or not.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "app/segcls_model.h"
#include "framework/random.h"
#include "io/image.h"
#include "io/seg_augment.h"
#include "io/synthetic.h"
#include "tests/temp_dir.h"

namespace skinmtl {
namespace {

Image flipped(const Image& image, int pass) {
  Image out = image;
  if (pass & 1) out = hflip(out);
  if (pass & 2) out = vflip(out);
  return out;  // its own inverse: flipped(flipped(x, p), p) == x
}

const char* kWeights = "weights/resnet50_imagenet.safetensors";

TEST(SegClsTta, FlipsAreTheMeanOfTheFourFlippedImagesPredictedPlainly) {
  if (!std::filesystem::exists(kWeights))
    GTEST_SKIP() << kWeights << " not found (run `make weights` to fetch and convert it)";
  test::TempDir dir;
  SynthWriteOptions o;
  o.n = 3;
  o.synth.size = 64;
  o.threads = 1;
  o.contact_sheet = 0;
  o.progress = false;
  write_synth_dataset(dir.str(), o);

  // originals: the three images; four_flips: each image's four flips, in pass order.
  std::vector<SegSample> originals, four_flips;
  for (int i = 0; i < o.n; ++i) {
    char stem[16];
    std::snprintf(stem, sizeof stem, "%06d", i);
    SegSample s;
    s.id = stem;
    s.image = dir.str() + "/images/" + stem + ".jpg";
    s.mask = dir.str() + "/masks/" + stem + ".png";
    originals.push_back(s);
    const Image image = load_image(s.image), mask = load_image(s.mask, 1);
    ASSERT_EQ(image.height, 64);
    ASSERT_EQ(image.width, 64);
    for (int pass = 0; pass < 4; ++pass) {
      SegSample f = s;
      f.id = s.id + "_" + std::to_string(pass);
      f.image = dir.path(f.id + ".png");
      f.mask = dir.path(f.id + "_mask.png");
      save_png(f.image, flipped(image, pass));
      save_png(f.mask, flipped(mask, pass));
      four_flips.push_back(f);
    }
  }

  SegClsModelSpec spec;
  spec.input_h = spec.input_w = 64;
  SegClsModel model = new_segcls_model(spec, kWeights, 7);
  auto predict = [&](const std::vector<SegSample>& samples, SegClsTta tta) {
    return predict_segcls(*model.net, samples, model.spec, SegClsLossWeights{}, Device::CPU, 4, 1, false, false, tta);
  };
  const SegClsPredictions plain = predict(four_flips, SegClsTta::kNone);
  const SegClsPredictions once = predict(originals, SegClsTta::kNone);
  const SegClsPredictions tta = predict(originals, SegClsTta::kFlips);

  for (int i = 0; i < o.n; ++i) {
    // The classifiers: the mean of the four flips' probabilities.
    for (const auto& [name, of] : {std::pair{"melanoma", &SegClsPredictions::melanoma},
                                   std::pair{"seborrheic keratosis", &SegClsPredictions::sk}}) {
      const std::vector<double>& p = plain.*of;
      double mean = 0, spread = 0;
      for (int pass = 0; pass < 4; ++pass) {
        mean += p[4 * i + pass] / 4;
        spread = std::max(spread, std::fabs(p[4 * i + pass] - p[4 * i]));
      }
      // The network is not flip-invariant, so the mean is not any one pass's value.
      ASSERT_GT(spread, 1e-5) << name << ", image " << i << ": the check would not see a missing pass";
      EXPECT_NEAR((tta.*of)[i], mean, 1e-6) << name << ", image " << i;
      EXPECT_NEAR((once.*of)[i], p[4 * i], 1e-6) << name << ", image " << i << ": pass 0 is the image as it is";
    }
    // The mask: each pass's map mirrored back, then the mean. The plain maps
    // are rounded to 1/255 each, so their mean is within 1 of tta's rounded mean.
    const Image& got = tta.masks[i];
    std::vector<Image> back;
    for (int pass = 0; pass < 4; ++pass) back.push_back(flipped(plain.masks[4 * i + pass], pass));
    int worst = 0, spread = 0;
    for (size_t k = 0; k < got.data.size(); ++k) {
      double mean = 0;
      for (int pass = 0; pass < 4; ++pass) {
        mean += back[pass].data[k] / 4.0;
        spread = std::max(spread, std::abs((int)back[pass].data[k] - (int)back[0].data[k]));
      }
      worst = std::max(worst, (int)std::ceil(std::fabs(got.data[k] - mean) - 1e-9));
    }
    ASSERT_GT(spread, 3) << "image " << i << ": the four passes' masks are too alike to tell a wrong mirror";
    EXPECT_LE(worst, 1) << "image " << i;
  }
  // The losses are the plain pass's.
  EXPECT_DOUBLE_EQ(tta.total_loss, once.total_loss);
  EXPECT_DOUBLE_EQ(tta.seg_loss, once.seg_loss);
  EXPECT_DOUBLE_EQ(tta.melanoma_loss, once.melanoma_loss);
}

TEST(SegClsTta, NamesRoundTripAndAnUnknownOneIsAUsageError) {
  for (SegClsTta t : {SegClsTta::kNone, SegClsTta::kFlips}) EXPECT_EQ(parse_segcls_tta(segcls_tta_name(t)), t);
  EXPECT_EQ(segcls_tta_passes(SegClsTta::kNone), 1);
  EXPECT_EQ(segcls_tta_passes(SegClsTta::kFlips), 4);
  try {
    parse_segcls_tta("rotations");
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("--tta is none or flips, got 'rotations'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace skinmtl
