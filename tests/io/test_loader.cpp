// io/loader: determinism across thread counts, coverage of every sample per
// epoch, targets, error propagation from a worker, and clean shutdown.
#include <set>

#include "io/loader.h"
#include "tests/io_test_util.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

using test::TempDir;

// n small PNGs (sizes vary, so the transform must resample) and a manifest for
// them; sample i is labelled with lesion classes from i and location i % 3
// (unknown when i % 5 == 4).
std::string make_dataset(const TempDir& dir, int n) {
  std::string csv = "image,lesions,location\n";
  const char* sites[3] = {"arm", "back", "face"};
  for (int i = 0; i < n; ++i) {
    Rng rng(100 + i);
    const std::string name = "img" + std::to_string(i) + ".png";
    save_png(dir.path(name), test::random_image(12 + i % 4, 10 + i % 3, 3, rng));
    csv += name + "," + (i % 2 ? "a;c" : "b") + "," + (i % 5 == 4 ? "" : sites[i % 3]) + "\n";
  }
  test::write_file(dir.path("m.csv"), csv);
  return dir.path("m.csv");
}

std::vector<Batch> run_epoch(Loader& loader, int64_t epoch) {
  loader.start_epoch(epoch);
  std::vector<Batch> batches;
  Batch b;
  while (loader.next(b)) batches.push_back(b);
  return batches;
}

LoaderOptions small_options(int threads) {
  LoaderOptions o;
  o.batch_size = 4;
  o.threads = threads;
  o.seed = 7;
  return o;
}

TEST(Loader, SameBatchesWithOneAndThreeThreads) {
  TempDir dir;
  const Manifest m = read_manifest(make_dataset(dir, 23));
  const Transform t = train_transform(9, 14, 8);  // jitter, crop and flip all in play
  Loader one(m, t, small_options(1)), three(m, t, small_options(3));
  for (int64_t epoch : {0, 1}) {
    const std::vector<Batch> a = run_epoch(one, epoch), b = run_epoch(three, epoch);
    ASSERT_EQ(a.size(), 6u);  // 23 = 5 * 4 + 3
    ASSERT_EQ(b.size(), a.size());
    for (size_t k = 0; k < a.size(); ++k) {
      EXPECT_EQ(a[k].number, (int64_t)k);
      EXPECT_EQ(a[k].epoch, epoch);
      EXPECT_EQ(a[k].indices, b[k].indices) << "epoch " << epoch << " batch " << k;
      EXPECT_EQ(a[k].images.to_vector(), b[k].images.to_vector()) << "batch " << k;
      EXPECT_EQ(a[k].lesions.to_vector(), b[k].lesions.to_vector());
    }
  }
  // Another epoch is another order and other augmentations.
  const std::vector<Batch> e0 = run_epoch(one, 0), e1 = run_epoch(one, 1);
  EXPECT_NE(e0[0].indices, e1[0].indices);
  // And the same epoch again is the same.
  EXPECT_EQ(run_epoch(three, 0)[2].images.to_vector(), e0[2].images.to_vector());
}

TEST(Loader, EverySampleOncePerEpochWithItsTargets) {
  TempDir dir;
  const Manifest m = read_manifest(make_dataset(dir, 23));
  Loader loader(m, test_transform(8, 8), small_options(2));
  EXPECT_EQ(loader.batches_per_epoch(), 6);
  const std::vector<Batch> batches = run_epoch(loader, 3);
  std::multiset<size_t> seen;
  for (const Batch& b : batches) {
    ASSERT_EQ(b.images.shape(), (Shape{b.size(), 3, 8, 8}));
    ASSERT_EQ(b.lesions.shape(), (Shape{b.size(), m.num_lesion_classes()}));
    ASSERT_EQ(b.locations.shape(), (Shape{b.size()}));
    for (double v : b.images.to_vector()) ASSERT_FALSE(std::isnan(v));
    const std::vector<double> lesions = b.lesions.to_vector(), locs = b.locations.to_vector();
    for (int j = 0; j < b.size(); ++j) {
      const size_t i = b.indices[j];
      seen.insert(i);
      // lesion classes a, b, c: odd samples {a, c}, even ones {b}
      const std::vector<double> want = i % 2 ? std::vector<double>{1, 0, 1}
                                             : std::vector<double>{0, 1, 0};
      EXPECT_EQ(std::vector<double>(lesions.begin() + 3 * j, lesions.begin() + 3 * j + 3), want);
      EXPECT_EQ(locs[j], i % 5 == 4 ? -1.0 : (double)(i % 3));
    }
  }
  EXPECT_EQ(batches.back().size(), 3);
  ASSERT_EQ(seen.size(), 23u);
  for (size_t i = 0; i < 23; ++i) EXPECT_EQ(seen.count(i), 1u) << "sample " << i;
  // The images are the test transform of each file, normalised.
  const Batch& b = batches[1];
  const Tensor want = to_tensor({test_center_crop(load_image(m.samples[b.indices[2]].image), 8, 8)});
  const std::vector<double> got = b.images.to_vector(), w = want.to_vector();
  EXPECT_EQ(std::vector<double>(got.begin() + 2 * 192, got.begin() + 3 * 192), w);
  const LoaderStats s = loader.stats();
  EXPECT_EQ(s.images, 23);
  EXPECT_EQ(s.batches, 6);
  EXPECT_GT(s.images_per_second(), 0.0);
  Batch more;
  EXPECT_FALSE(loader.next(more));  // the epoch is over
}

TEST(Loader, UnshuffledDropLastAndTenCropViews) {
  TempDir dir;
  const Manifest m = read_manifest(make_dataset(dir, 10));
  LoaderOptions o = small_options(2);
  o.shuffle = false;
  o.drop_last = true;
  Loader loader(m, ten_crop_transform(10, 6), o);
  const std::vector<Batch> batches = run_epoch(loader, 0);
  ASSERT_EQ(batches.size(), 2u);  // 10 samples: 2 full batches of 4, the rest dropped
  EXPECT_EQ(batches[1].indices, (std::vector<size_t>{4, 5, 6, 7}));
  ASSERT_EQ(batches[0].images.shape(), (Shape{40, 3, 6, 6}));
  // Views 0-9 of sample 1 are rows 10-19.
  const std::vector<Image> crops = ten_crop(load_image(m.samples[1].image), 10, 6);
  const std::vector<double> got = batches[0].images.to_vector();
  const std::vector<double> want = to_tensor(crops).to_vector();
  EXPECT_EQ(std::vector<double>(got.begin() + 10 * 108, got.begin() + 20 * 108), want);
}

TEST(Loader, WorkerErrorIsRethrownWithTheFileName) {
  TempDir dir;
  make_dataset(dir, 9);
  test::write_file(dir.path("corrupt.jpg"), "garbage");
  std::string csv = test::read_file(dir.path("m.csv"));
  csv += "missing.png,b,arm\ncorrupt.jpg,b,arm\n";
  test::write_file(dir.path("m2.csv"), csv);
  const Manifest m = read_manifest(dir.path("m2.csv"));
  for (int threads : {1, 3}) {
    Loader loader(m, test_transform(8, 8), small_options(threads));
    loader.start_epoch(0);
    Batch b;
    std::string error;
    int delivered = 0;
    try {
      while (loader.next(b)) ++delivered;
    } catch (const Error& e) {
      error = e.what();
    }
    EXPECT_LT(delivered, 3);
    const bool names_a_bad_file = error.find(dir.path("missing.png")) != std::string::npos ||
                                  error.find(dir.path("corrupt.jpg")) != std::string::npos;
    EXPECT_TRUE(names_a_bad_file) << "'" << error << "'";
    EXPECT_NE(error.find("m2.csv:1"), std::string::npos) << error;  // the manifest row (:10/:11)
    EXPECT_FALSE(loader.next(b));  // that epoch is over
  }
  // A transform that cannot handle an image is reported the same way.
  Loader too_big(read_manifest(dir.path("m.csv")), test_transform(8, 9), small_options(2));
  too_big.start_epoch(0);
  Batch b;
  try {
    too_big.next(b);
    ADD_FAILURE() << "no exception";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("crop 9 is larger"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(".png"), std::string::npos) << e.what();
  }
}

TEST(Loader, RestartAndShutdownMidEpoch) {
  TempDir dir;
  const Manifest m = read_manifest(make_dataset(dir, 30));
  LoaderOptions o = small_options(3);
  o.prefetch = 2;
  const std::vector<Batch> full = [&] {
    Loader ref(m, train_transform(9, 14, 8), o);
    return run_epoch(ref, 5);
  }();
  {
    Loader loader(m, train_transform(9, 14, 8), o);
    loader.start_epoch(4);
    Batch b;
    ASSERT_TRUE(loader.next(b));
    // Restart mid-epoch: the new epoch is complete and unaffected by the old one.
    const std::vector<Batch> again = run_epoch(loader, 5);
    ASSERT_EQ(again.size(), full.size());
    for (size_t k = 0; k < full.size(); ++k)
      EXPECT_EQ(again[k].images.to_vector(), full[k].images.to_vector());
    loader.start_epoch(6);
    ASSERT_TRUE(loader.next(b));
  }  // destroyed with batches in flight: joins without hanging
  SUCCEED();
}

TEST(Loader, ShardsOfABatchTogetherAreTheUnshardedBatch) {
  // Data-parallel training: shard r of 2 holds samples 2r, 2r + 1 of each
  // global batch of 4, with the augmentation one process would give them.
  TempDir dir;
  const Manifest m = read_manifest(make_dataset(dir, 23));
  const Transform t = train_transform(9, 14, 8);
  LoaderOptions o = small_options(2);
  o.drop_last = true;
  Loader whole(m, t, o);
  o.shard_count = 2;
  o.shard_index = 0;
  Loader first(m, t, o);
  o.shard_index = 1;
  Loader second(m, t, o);
  for (int64_t epoch : {0, 3}) {
    const std::vector<Batch> w = run_epoch(whole, epoch), a = run_epoch(first, epoch), b = run_epoch(second, epoch);
    ASSERT_EQ(w.size(), 5u);  // 23 samples: 5 full batches of 4
    ASSERT_EQ(a.size(), w.size());
    ASSERT_EQ(b.size(), w.size());
    for (size_t k = 0; k < w.size(); ++k) {
      ASSERT_EQ(a[k].size(), 2);
      ASSERT_EQ(b[k].size(), 2);
      std::vector<size_t> joined = a[k].indices;
      joined.insert(joined.end(), b[k].indices.begin(), b[k].indices.end());
      EXPECT_EQ(joined, w[k].indices) << "epoch " << epoch << " batch " << k;
      std::vector<double> px = a[k].images.to_vector(), px2 = b[k].images.to_vector();
      px.insert(px.end(), px2.begin(), px2.end());
      EXPECT_EQ(px, w[k].images.to_vector()) << "epoch " << epoch << " batch " << k;
    }
  }
  // A batch that does not split evenly, a shard that does not exist, and
  // shards without drop_last are refused.
  o.batch_size = 5;
  EXPECT_ERROR_WITH(Loader(m, t, o), "multiple of the number of processes");
  o.batch_size = 4;
  o.shard_index = 2;
  EXPECT_ERROR_WITH(Loader(m, t, o), "shard 2 of 2");
  o.shard_index = 1;
  o.drop_last = false;
  EXPECT_THROW(Loader(m, t, o), Error);
}

TEST(Loader, BadOptionsAreErrors) {
  TempDir dir;
  const Manifest m = read_manifest(make_dataset(dir, 3));
  LoaderOptions o;
  o.batch_size = 0;
  EXPECT_THROW(Loader(m, test_transform(8, 8), o), Error);
  o = LoaderOptions();
  o.threads = 0;
  EXPECT_THROW(Loader(m, test_transform(8, 8), o), Error);
  o = LoaderOptions();
  o.drop_last = true;  // 3 samples, batches of 20
  EXPECT_THROW(Loader(m, test_transform(8, 8), o), Error);
  EXPECT_THROW(Loader(Manifest(), test_transform(8, 8)), Error);
  Loader idle(m, test_transform(8, 8));
  Batch b;
  EXPECT_FALSE(idle.next(b));  // no epoch started
}

}  // namespace
}  // namespace skinmtl
