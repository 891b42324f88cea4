// io/seg_loader: the batch tensors against the transform applied by hand
// (images, 0/1 masks, boxes, flags, letterbox geometry), empty masks, a
// sample without a mask file, the
// same batches with 1 and 3 threads, errors naming the sample and its files.
#include <filesystem>
#include <numeric>

#include "io/seg_loader.h"
#include "tests/io_test_util.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

using test::TempDir;

// n samples of varying size; sample i's mask is a rectangle (empty for i == 3),
// melanoma = i % 2, seborrheic_keratosis = i % 3 == 0.
std::vector<SegSample> make_samples(const TempDir& dir, int n) {
  std::vector<SegSample> out;
  for (int i = 0; i < n; ++i) {
    Rng rng(50 + i);
    const int h = 12 + i % 4, w = 16 + i % 3;
    Image mask(h, w, 1);
    if (i != 3)
      for (int y = 2 + i % 3; y < h - 3; ++y)
        for (int x = 1 + i % 5; x < w - 2; ++x) mask.at(y, x, 0) = 255;
    SegSample s;
    s.id = "s" + std::to_string(i);
    s.image = dir.path(s.id + ".png");
    s.mask = dir.path(s.id + "_mask.png");
    s.melanoma = i % 2;
    s.seborrheic_keratosis = i % 3 == 0;
    s.where = "fake.csv:" + std::to_string(i + 2);
    save_png(s.image, test::random_image(h, w, 3, rng));
    save_png(s.mask, mask);
    out.push_back(s);
  }
  return out;
}

std::vector<SegBatch> run_epoch(SegLoader& loader, int64_t epoch) {
  loader.start_epoch(epoch);
  std::vector<SegBatch> batches;
  SegBatch b;
  while (loader.next(b)) batches.push_back(b);
  return batches;
}

LoaderOptions options(int threads, bool shuffle = true) {
  LoaderOptions o;
  o.batch_size = 4;
  o.threads = threads;
  o.seed = 11;
  o.shuffle = shuffle;
  return o;
}

TEST(SegLoader, BatchTensorsMatchTheTransformByHand) {
  TempDir dir;
  const std::vector<SegSample> samples = make_samples(dir, 6);
  SegLoader loader(samples, yang_test_transform(8, 10), options(2, /*shuffle=*/false));
  const std::vector<SegBatch> batches = run_epoch(loader, 0);
  ASSERT_EQ(batches.size(), 2u);  // 4 + 2
  const SegBatch& b = batches[0];
  ASSERT_EQ(b.images.shape(), (Shape{4, 3, 8, 10}));
  ASSERT_EQ(b.masks.shape(), (Shape{4, 1, 8, 10}));
  ASSERT_EQ(b.boxes.shape(), (Shape{4, 4}));
  ASSERT_EQ(b.melanoma.shape(), (Shape{4}));
  EXPECT_EQ(b.indices, (std::vector<size_t>{0, 1, 2, 3}));
  EXPECT_TRUE(b.letterbox.empty());
  EXPECT_EQ(b.melanoma.to_vector(), (std::vector<double>{0, 1, 0, 1}));
  EXPECT_EQ(b.seborrheic_keratosis.to_vector(), (std::vector<double>{1, 0, 0, 1}));
  const std::vector<double> images = b.images.to_vector(), masks = b.masks.to_vector(),
                            boxes = b.boxes.to_vector();
  for (int j = 0; j < 4; ++j) {
    Image img = load_image(samples[j].image), mask = load_image(samples[j].mask, 1);
    resize_pair(img, mask, 8, 10);
    const std::vector<double> want = to_tensor({img}, Normalize{}).to_vector();
    EXPECT_EQ(std::vector<double>(images.begin() + j * 240, images.begin() + (j + 1) * 240), want) << j;
    for (int p = 0; p < 80; ++p) ASSERT_EQ(masks[j * 80 + p], mask.data[p] ? 1.0 : 0.0) << j;
    const std::optional<Box> box = mask_box(mask);
    if (j == 3) {
      EXPECT_FALSE(box.has_value());
      EXPECT_EQ(std::vector<double>(boxes.begin() + 12, boxes.end()), (std::vector<double>{-1, -1, -1, -1}));
    } else {
      ASSERT_TRUE(box.has_value());
      EXPECT_EQ(boxes[j * 4 + 0], box->x1);
      EXPECT_EQ(boxes[j * 4 + 3], box->y2);
    }
  }
  // Sample 0 by hand: 12 x 16, lesion rows 2-8, columns 1-13; resized to 8 x 10
  // (nearest: row d takes source floor((d + 0.5) * 1.5), column floor((d + 0.5) * 1.6)):
  // rows 1-5 (sources 2, 3, 5, 6, 8), columns 1-8 (sources 2, 4, ..., 13): box (1, 1, 9, 6).
  EXPECT_EQ(std::vector<double>(boxes.begin(), boxes.begin() + 4), (std::vector<double>{1, 1, 9, 6}));
  const LoaderStats s = loader.stats();
  EXPECT_EQ(s.images, 6);
  EXPECT_EQ(s.batches, 2);
}

TEST(SegLoader, LetterboxGeometryIsRecorded) {
  TempDir dir;
  const std::vector<SegSample> samples = make_samples(dir, 5);
  SegLoader loader(samples, song_test_transform(20), options(1, false));
  const std::vector<SegBatch> batches = run_epoch(loader, 0);
  ASSERT_EQ(batches.size(), 2u);
  for (const SegBatch& b : batches) {
    ASSERT_EQ((int)b.letterbox.size(), b.size());
    for (int j = 0; j < b.size(); ++j) {
      const size_t i = b.indices[j];
      const Letterbox want = letterbox_geometry(12 + i % 4, 16 + i % 3, 20);
      EXPECT_EQ(b.letterbox[j].src_h, want.src_h);
      EXPECT_EQ(b.letterbox[j].src_w, want.src_w);
      EXPECT_EQ(b.letterbox[j].pad_y, want.pad_y);
      EXPECT_EQ(b.letterbox[j].size, 20);
    }
  }
  // The box of sample 0 is its source box mapped into the letterbox, up to the
  // thresholded resampling (within a pixel).
  const Letterbox& lb = batches[0].letterbox[0];
  const Box want = box_to_letterbox(*mask_box(load_image(samples[0].mask, 1)), lb);
  const std::vector<double> got = batches[0].boxes.to_vector();
  EXPECT_NEAR(got[0], want.x1, 1.0);
  EXPECT_NEAR(got[1], want.y1, 1.0);
  EXPECT_NEAR(got[2], want.x2, 1.0);
  EXPECT_NEAR(got[3], want.y2, 1.0);
}

TEST(SegLoader, SameBatchesWithOneAndThreeThreads) {
  TempDir dir;
  const std::vector<SegSample> samples = make_samples(dir, 13);
  SegLoader one(samples, song_train_transform(24), options(1)), three(samples, song_train_transform(24), options(3));
  for (int64_t epoch : {0, 1}) {
    const std::vector<SegBatch> a = run_epoch(one, epoch), b = run_epoch(three, epoch);
    ASSERT_EQ(a.size(), 4u);
    ASSERT_EQ(b.size(), a.size());
    for (size_t k = 0; k < a.size(); ++k) {
      EXPECT_EQ(a[k].indices, b[k].indices);
      EXPECT_EQ(a[k].images.to_vector(), b[k].images.to_vector());
      EXPECT_EQ(a[k].masks.to_vector(), b[k].masks.to_vector());
      EXPECT_EQ(a[k].boxes.to_vector(), b[k].boxes.to_vector());
    }
  }
  // Another epoch shuffles and augments differently.
  EXPECT_NE(run_epoch(one, 0)[0].images.to_vector(), run_epoch(one, 2)[0].images.to_vector());
}

// A sample without a mask file (ham10000: the classifiers' external test)
// loads its image as any other, with an all-zero mask and the empty box;
// its neighbours keep theirs.
TEST(SegLoader, SampleWithoutMaskGetsAnEmptyOne) {
  TempDir dir;
  std::vector<SegSample> samples = make_samples(dir, 3);
  samples[1].mask.clear();
  SegLoader loader(samples, yang_test_transform(8, 10), options(2, /*shuffle=*/false));
  const std::vector<SegBatch> batches = run_epoch(loader, 0);
  ASSERT_EQ(batches.size(), 1u);
  const std::vector<double> images = batches[0].images.to_vector(), masks = batches[0].masks.to_vector(),
                            boxes = batches[0].boxes.to_vector();
  Image img = load_image(samples[1].image), none(img.height, img.width, 1);
  resize_pair(img, none, 8, 10);
  EXPECT_EQ(std::vector<double>(images.begin() + 240, images.begin() + 480), to_tensor({img}, Normalize{}).to_vector());
  EXPECT_EQ(std::vector<double>(masks.begin() + 80, masks.begin() + 160), std::vector<double>(80, 0.0));
  EXPECT_EQ(std::vector<double>(boxes.begin() + 4, boxes.begin() + 8), (std::vector<double>{-1, -1, -1, -1}));
  EXPECT_GT(std::accumulate(masks.begin(), masks.begin() + 80, 0.0), 0.0);  // sample 0 keeps its lesion
  EXPECT_EQ(batches[0].melanoma.to_vector(), (std::vector<double>{0, 1, 0}));
}

TEST(SegLoader, ErrorsNameTheSampleAndItsFiles) {
  TempDir dir;
  std::vector<SegSample> samples = make_samples(dir, 3);
  save_png(samples[1].mask, Image(5, 5, 1));  // not the image's size
  {
    SegLoader loader(samples, yang_test_transform(8, 8), options(2, false));
    loader.start_epoch(0);
    SegBatch b;
    EXPECT_ERROR_WITH(loader.next(b), "sample 1", samples[1].image, "fake.csv:3", "is 5x5",
                      "is 13x17");
    EXPECT_FALSE(loader.next(b));  // that epoch is over
  }
  std::filesystem::remove(samples[1].mask);
  {
    SegLoader loader(samples, yang_test_transform(8, 8), options(1, false));
    loader.start_epoch(0);
    SegBatch b;
    EXPECT_ERROR_WITH(loader.next(b), samples[1].mask, "fake.csv:3");
  }
  EXPECT_ERROR_WITH(SegLoader({}, yang_test_transform(8, 8)), "no samples");
  EXPECT_ERROR_WITH(SegLoader(samples, SegTransform{}), "incomplete");
  LoaderOptions bad;
  bad.batch_size = 0;
  EXPECT_THROW(SegLoader(samples, yang_test_transform(8, 8), bad), Error);
}

}  // namespace
}  // namespace skinmtl
