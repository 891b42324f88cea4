// io/synthetic: the synthetic skin-lesion data set. Determinism (seed and
// thread count), label frequencies against the generator's tables, the
// diagnosis rules, masks and boxes, lesion-vs-skin contrast, the folder writer
// read back through io/manifest.h; and the two small helpers the writer added
// to io/image.h (save_jpeg).
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "figures/plot.h"
#include "io/csv.h"
#include "io/manifest.h"
#include "io/synthetic.h"
#include "tests/io_test_util.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

using test::TempDir;

bool same_pixels(const Image& a, const Image& b) {
  return a.height == b.height && a.width == b.width && a.channels == b.channels &&
         a.data == b.data;
}

// The expected frequency of lesion type k among all samples: p_kq renormalised
// by the redraw of empty sets, averaged over the sites.
double expected_type_frequency(int k, int q) {
  double none = 1;
  for (int j = 0; j < kSynthLesionTypes; ++j) none *= 1 - synth_lesion_probability(j, q);
  return synth_lesion_probability(k, q) / (1 - none);
}

TEST(Synthetic, SameSeedSameBytesDifferentSeedDifferentImage) {
  const SynthOptions o{64};
  const SynthSample a = synth_sample(7, 3, o), b = synth_sample(7, 3, o);
  EXPECT_TRUE(same_pixels(a.image, b.image));
  EXPECT_TRUE(same_pixels(a.mask, b.mask));
  EXPECT_EQ(a.lesions, b.lesions);
  EXPECT_EQ(a.location, b.location);
  EXPECT_FALSE(same_pixels(a.image, synth_sample(8, 3, o).image));  // another seed
  EXPECT_FALSE(same_pixels(a.image, synth_sample(7, 4, o).image));  // another index
  EXPECT_EQ(a.image.height, 64);
  EXPECT_EQ(a.image.width, 64);
  EXPECT_EQ(a.image.channels, 3);
  EXPECT_EQ(a.mask.channels, 1);
}

TEST(Synthetic, IndependentOfThreadsAndBatching) {
  const SynthOptions o{48};
  const std::vector<SynthSample> one = synth_samples(11, 0, 12, o, 1);
  const std::vector<SynthSample> three = synth_samples(11, 0, 12, o, 3);
  const std::vector<SynthSample> tail = synth_samples(11, 5, 7, o, 2);  // starting elsewhere
  ASSERT_EQ(one.size(), 12u);
  for (size_t i = 0; i < one.size(); ++i) {
    EXPECT_TRUE(same_pixels(one[i].image, three[i].image)) << "sample " << i;
    EXPECT_TRUE(same_pixels(one[i].mask, three[i].mask)) << "sample " << i;
    if (i >= 5) {
      EXPECT_TRUE(same_pixels(one[i].image, tail[i - 5].image)) << "sample " << i;
    }
  }
}

TEST(Synthetic, LabelsDoNotDependOnSizeAndMatchSynthLabels) {
  for (int64_t i = 0; i < 6; ++i) {
    const SynthSample l = synth_labels(5, i);
    EXPECT_TRUE(l.image.empty());
    for (int size : {32, 80}) {
      const SynthSample s = synth_sample(5, i, {size});
      EXPECT_EQ(s.lesions, l.lesions);
      EXPECT_EQ(s.location, l.location);
      EXPECT_EQ(s.diagnosis, l.diagnosis);
      EXPECT_EQ(s.border_irregularity, l.border_irregularity);
      EXPECT_EQ(s.colours, l.colours);
    }
  }
}

TEST(Synthetic, TablesAreProbabilities) {
  double sites = 0;
  for (int q = 0; q < kSynthSites; ++q) {
    sites += synth_site_probability(q);
    double d = 0;
    for (int k = 0; k < kSynthDiagnoses; ++k) d += synth_diagnosis_probability(k, q);
    EXPECT_NEAR(d, 1.0, 1e-12);
    for (int k = 0; k < kSynthLesionTypes; ++k) {
      // Correlated with the site, but never certain or impossible.
      EXPECT_GT(synth_lesion_probability(k, q), 0.05);
      EXPECT_LT(synth_lesion_probability(k, q), 0.8);
    }
  }
  EXPECT_NEAR(sites, 1.0, 1e-12);
  // Class names are sorted: the default order of io/manifest.h.
  for (int k = 1; k < kSynthLesionTypes; ++k)
    EXPECT_LT(std::string(kSynthLesionNames[k - 1]), kSynthLesionNames[k]);
  for (int q = 1; q < kSynthSites; ++q)
    EXPECT_LT(std::string(kSynthSiteNames[q - 1]), kSynthSiteNames[q]);
  EXPECT_THROW(synth_site_probability(kSynthSites), Error);
  EXPECT_THROW(synth_lesion_probability(-1, 0), Error);
}

// Every site, type (per site: the R_ij structure), and diagnosis occurs with
// its intended frequency; labels only, so 20000 samples take milliseconds.
TEST(Synthetic, LabelFrequenciesFollowTheTables) {
  const int n = 20000;
  std::vector<int> site_count(kSynthSites, 0), diag_count(kSynthDiagnoses, 0);
  std::vector<std::vector<int>> type_at_site(kSynthLesionTypes, std::vector<int>(kSynthSites, 0));
  for (int i = 0; i < n; ++i) {
    const SynthSample s = synth_labels(3, i);
    ASSERT_FALSE(s.lesions.empty());
    ASSERT_TRUE(std::is_sorted(s.lesions.begin(), s.lesions.end()));
    site_count[s.location]++;
    diag_count[s.diagnosis]++;
    for (int k : s.lesions) type_at_site[k][s.location]++;
  }
  // Tolerance: 4.5 binomial standard deviations (a false alarm about once in 150000).
  auto tol = [](double p, double m) { return 4.5 * std::sqrt(p * (1 - p) / m) + 1e-9; };
  for (int q = 0; q < kSynthSites; ++q) {
    const double p = synth_site_probability(q);
    EXPECT_NEAR((double)site_count[q] / n, p, tol(p, n)) << kSynthSiteNames[q];
    for (int k = 0; k < kSynthLesionTypes; ++k) {
      const double pk = expected_type_frequency(k, q), m = site_count[q];
      EXPECT_NEAR(type_at_site[k][q] / m, pk, tol(pk, m))
          << kSynthLesionNames[k] << " at " << kSynthSiteNames[q];
    }
  }
  for (int d = 0; d < kSynthDiagnoses; ++d) {
    double p = 0;
    for (int q = 0; q < kSynthSites; ++q) p += synth_site_probability(q) * synth_diagnosis_probability(d, q);
    EXPECT_NEAR((double)diag_count[d] / n, p, tol(p, n)) << kSynthDiagnosisNames[d];
  }
  // The site preference is visible in the counts: scale is far more common on
  // the scalp than on the trunk, vascular on the face than on the foot.
  const auto freq = [&](int k, int q) { return (double)type_at_site[k][q] / site_count[q]; };
  EXPECT_GT(freq(6, 6), 2 * freq(6, 7));  // scale: scalp vs trunk
  EXPECT_GT(freq(7, 1), 3 * freq(7, 2));  // vascular: face vs foot
}

// The diagnosis follows from the features by the header's rules, with the
// margin around the border threshold; both melanoma features also occur alone.
TEST(Synthetic, DiagnosisFollowsTheRenderedFeatures) {
  int irregular_benign = 0, colourful_benign = 0;
  for (int i = 0; i < 4000; ++i) {
    const SynthSample s = synth_labels(9, i);
    const bool irregular = s.border_irregularity >= 0.5, colourful = s.colours >= 3;
    EXPECT_EQ(s.melanoma(), irregular && colourful) << "sample " << i;
    EXPECT_EQ(s.seborrheic_keratosis(), s.milia) << "sample " << i;
    EXPECT_EQ(s.malignant(), s.melanoma());
    EXPECT_FALSE(s.border_irregularity > 0.3 && s.border_irregularity < 0.6);
    EXPECT_TRUE(s.colours >= 1 && s.colours <= 4);
    irregular_benign += irregular && !s.melanoma();
    colourful_benign += colourful && !s.melanoma();
  }
  EXPECT_GT(irregular_benign, 200);
  EXPECT_GT(colourful_benign, 200);
}

// The mask is 0/255, non-empty, clear of the image border; the box is exactly
// its bounding box; the lesion's pixels differ from the skin around it.
TEST(Synthetic, MaskBoxAndContrast) {
  const int size = 64;
  const std::vector<SynthSample> samples = synth_samples(21, 0, 60, {size});
  std::vector<double> mean_distance, deviation;
  for (size_t i = 0; i < samples.size(); ++i) {
    const SynthSample& s = samples[i];
    ASSERT_EQ(s.mask.height, size);
    ASSERT_EQ(s.mask.width, size);
    SynthBox bb{size, size, 0, 0};
    for (int y = 0; y < size; ++y)
      for (int x = 0; x < size; ++x) {
        const uint8_t m = s.mask.at(y, x, 0);
        ASSERT_TRUE(m == 0 || m == 255);
        if (m) {
          bb.x0 = std::min(bb.x0, x);
          bb.y0 = std::min(bb.y0, y);
          bb.x1 = std::max(bb.x1, x + 1);
          bb.y1 = std::max(bb.y1, y + 1);
        }
      }
    ASSERT_LT(bb.x0, bb.x1) << "empty mask, sample " << i;
    EXPECT_EQ(s.box.x0, bb.x0);
    EXPECT_EQ(s.box.y0, bb.y0);
    EXPECT_EQ(s.box.x1, bb.x1);
    EXPECT_EQ(s.box.y1, bb.y1);
    EXPECT_GE(bb.x0, 1);  // the lesion lies inside the image, clear of its edge
    EXPECT_GE(bb.y0, 1);
    EXPECT_LE(bb.x1, size - 1);
    EXPECT_LE(bb.y1, size - 1);
    // A sizeable lesion: at least 4 % of the image.
    int area = 0;
    for (uint8_t m : s.mask.data) area += m != 0;
    EXPECT_GE(area, size * size / 25) << "sample " << i;
    // Lesion vs the ring of skin around it (outside the mask, inside the box
    // grown by 6 px): the distance of their mean colours, and how much farther
    // the lesion's pixels lie from the skin's mean colour than the skin's own
    // pixels do (robust to lesions whose white scale and dark pigment average
    // out to a skin-like mean, and to hair in the ring).
    const int x0 = std::max(0, bb.x0 - 6), x1 = std::min(size, bb.x1 + 6);
    const int y0 = std::max(0, bb.y0 - 6), y1 = std::min(size, bb.y1 + 6);
    double in[3] = {}, out[3] = {};
    int n_in = 0, n_out = 0;
    for (int y = y0; y < y1; ++y)
      for (int x = x0; x < x1; ++x) {
        const bool inside = s.mask.at(y, x, 0) != 0;
        for (int c = 0; c < 3; ++c) (inside ? in : out)[c] += s.image.at(y, x, c);
        (inside ? n_in : n_out)++;
      }
    ASSERT_GT(n_out, 0);
    double d2 = 0, dev_in = 0, dev_out = 0;
    for (int c = 0; c < 3; ++c) d2 += std::pow(in[c] / n_in - out[c] / n_out, 2);
    for (int y = y0; y < y1; ++y)
      for (int x = x0; x < x1; ++x) {
        double e2 = 0;
        for (int c = 0; c < 3; ++c) e2 += std::pow(s.image.at(y, x, c) - out[c] / n_out, 2);
        (s.mask.at(y, x, 0) ? dev_in : dev_out) += std::sqrt(e2);
      }
    mean_distance.push_back(std::sqrt(d2));
    deviation.push_back(dev_in / n_in - dev_out / n_out);
  }
  // 0-255 RGB units. Every lesion stands out; nearly all by far.
  std::sort(mean_distance.begin(), mean_distance.end());
  std::sort(deviation.begin(), deviation.end());
  EXPECT_GT(deviation.front(), 5.0);
  EXPECT_GT(deviation[deviation.size() / 10], 30.0);  // the 10th percentile
  EXPECT_GT(mean_distance[mean_distance.size() / 2], 40.0);  // the median
}

TEST(Synthetic, BadOptions) {
  EXPECT_THROW(synth_sample(1, 0, {16}), Error);
  EXPECT_THROW(synth_sample(1, -1, {64}), Error);
  TempDir dir;
  SynthWriteOptions o;
  o.n = 0;
  o.progress = false;
  EXPECT_THROW(write_synth_dataset(dir.str(), o), Error);
  o.n = 2;
  o.jpeg_quality = 0;
  EXPECT_THROW(write_synth_dataset(dir.str(), o), Error);
}

TEST(Synthetic, SplitRule) {
  EXPECT_STREQ(synth_split(0), "train");
  EXPECT_STREQ(synth_split(7), "train");
  EXPECT_STREQ(synth_split(8), "val");
  EXPECT_STREQ(synth_split(19), "test");
}

// The folder: written twice with different thread counts (identical bytes),
// then read back through io/manifest.h, every file present and decodable, the
// labels, masks and boxes those of the in-memory samples.
TEST(Synthetic, WrittenFolderLoadsBackThroughTheManifest) {
  TempDir a, b;
  SynthWriteOptions o;
  o.n = 23;
  o.synth.size = 48;
  o.seed = 4;
  o.progress = false;
  o.contact_sheet = 5;
  o.threads = 1;
  const SynthWriteResult r = write_synth_dataset(a.str(), o);
  o.threads = 3;
  write_synth_dataset(b.str(), o);
  EXPECT_EQ(r.train + r.val + r.test, 23);
  EXPECT_EQ(r.val, 2);   // indices 8, 18
  EXPECT_EQ(r.test, 2);  // indices 9, 19

  // Same bytes, whatever the thread count.
  for (const auto& entry : std::filesystem::recursive_directory_iterator(a.str())) {
    if (!entry.is_regular_file()) continue;
    const std::string rel = std::filesystem::relative(entry.path(), a.str()).string();
    EXPECT_EQ(test::read_file(entry.path().string()), test::read_file(b.path(rel))) << rel;
  }

  ManifestOptions classes;
  classes.lesion_classes.assign(kSynthLesionNames, kSynthLesionNames + kSynthLesionTypes);
  classes.location_classes.assign(kSynthSiteNames, kSynthSiteNames + kSynthSites);
  const Manifest m = read_manifest(a.path("manifest.csv"), classes);
  ASSERT_EQ(m.size(), 23u);
  EXPECT_NO_THROW(require_images(m, /*decode=*/true));
  const CsvTable t = read_csv(a.path("manifest.csv"));
  const int c_box = t.require_column("box_x0"), c_mel = t.require_column("melanoma");
  const int c_sk = t.require_column("seborrheic_keratosis"), c_split = t.require_column("split");
  for (size_t i = 0; i < m.size(); ++i) {
    const SynthSample s = synth_sample(4, (int64_t)i, {48});
    const Sample& row = m.samples[i];
    EXPECT_EQ(row.lesions, s.lesions) << "row " << i;
    EXPECT_EQ(row.location, s.location) << "row " << i;
    ASSERT_FALSE(row.mask.empty());
    EXPECT_TRUE(same_pixels(load_image(row.mask, 1), s.mask)) << row.mask;  // PNG: exact
    const Image jpg = load_image(row.image, 3);
    ASSERT_EQ(jpg.data.size(), s.image.data.size());
    double err = 0;
    for (size_t j = 0; j < jpg.data.size(); ++j) err += std::abs(jpg.data[j] - s.image.data[j]);
    // (The renders' sensor noise is what JPEG loses most of.)
    EXPECT_LT(err / jpg.data.size(), 6.0) << row.image << ": JPEG quality 95 differs too much";
    EXPECT_EQ(t.rows[i][c_box], std::to_string(s.box.x0));
    EXPECT_EQ(t.rows[i][c_box + 1], std::to_string(s.box.y0));
    EXPECT_EQ(t.rows[i][c_box + 2], std::to_string(s.box.x1));
    EXPECT_EQ(t.rows[i][c_box + 3], std::to_string(s.box.y1));
    EXPECT_EQ(t.rows[i][c_mel], s.melanoma() ? "1" : "0");
    EXPECT_EQ(t.rows[i][c_sk], s.seborrheic_keratosis() ? "1" : "0");
    EXPECT_EQ(t.rows[i][c_split], synth_split((int64_t)i));
  }
  // The split files hold the same rows, one split each.
  size_t total = 0;
  for (const char* split : {"train", "val", "test"}) {
    const Manifest part = read_manifest(a.path(std::string(split) + ".csv"), classes);
    for (const Sample& s : part.samples) {
      const auto it = std::find_if(m.samples.begin(), m.samples.end(),
                                   [&](const Sample& x) { return x.image == s.image; });
      ASSERT_NE(it, m.samples.end());
      EXPECT_STREQ(synth_split(it - m.samples.begin()), split);
    }
    total += part.size();
  }
  EXPECT_EQ(total, m.size());
  const Image sheet = load_image(a.path("contact_sheet.png"), 3);
  EXPECT_GT(sheet.width, 5 * 48);
}

// ---- helpers added for the writer ------------------------------------------------------------------

TEST(Image, SaveJpegRoundTrip) {
  TempDir dir;
  Image img(20, 30, 3);
  for (int y = 0; y < 20; ++y)
    for (int x = 0; x < 30; ++x)
      for (int c = 0; c < 3; ++c) img.at(y, x, c) = (uint8_t)(40 + 5 * x + 3 * y + 20 * c);
  save_jpeg(dir.path("a.jpg"), img, 95);
  const Image back = load_image(dir.path("a.jpg"), 3);
  ASSERT_EQ(back.height, 20);
  ASSERT_EQ(back.width, 30);
  double err = 0;
  for (size_t i = 0; i < img.data.size(); ++i) err += std::abs(back.data[i] - img.data[i]);
  EXPECT_LT(err / img.data.size(), 3.0);
  save_jpeg(dir.path("b.jpg"), img, 95);
  EXPECT_EQ(test::read_file(dir.path("a.jpg")), test::read_file(dir.path("b.jpg")));
  EXPECT_THROW(save_jpeg(dir.path("c.jpg"), img, 0), Error);
  EXPECT_THROW(save_jpeg(dir.path("no/such/dir/c.jpg"), img, 90), Error);
}

}  // namespace
}  // namespace skinmtl
