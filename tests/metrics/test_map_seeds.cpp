// metrics/metrics: compare_map_seeds, the comparison of two training recipes
// from K seeds of each (the seed-to-seed spread plus the images' bootstrap),
// and the Student t distribution it uses. Checked against closed forms and
// tables (t), against compare_map and hand-computed spreads (the parts), by
// its symmetries, and by simulation: when the two recipes are the same, a
// test that counts only the images' luck rejects far too often, and this one
// does not.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "base/check.h"
#include "metrics/metrics.h"

namespace skinmtl {
namespace {

TEST(StudentT, MatchesItsClosedFormsAndTables) {
  const double pi = std::acos(-1.0);
  for (double t : {-30.0, -2.5, -0.3, 0.0, 0.7, 1.96, 4.0, 50.0}) {
    // One degree of freedom: the Cauchy distribution; two: t / (2 sqrt(2 + t^2)) + 1/2.
    EXPECT_NEAR(student_t_cdf(t, 1), 0.5 + std::atan(t) / pi, 1e-13) << t;
    EXPECT_NEAR(student_t_cdf(t, 2), 0.5 + t / (2 * std::sqrt(2 + t * t)), 1e-13) << t;
    // Many degrees of freedom: the normal (1e6 still goes through the beta function).
    EXPECT_NEAR(student_t_cdf(t, 1e6), 0.5 * std::erfc(-t / std::sqrt(2.0)), 1e-6) << t;
    EXPECT_EQ(student_t_cdf(t, INFINITY), 0.5 * std::erfc(-t / std::sqrt(2.0))) << t;
  }
  // The 97.5% points every statistics table prints.
  const std::pair<double, double> table[] = {{1, 12.7062047362}, {2, 4.30265272975}, {4, 2.77644510520},
                                             {10, 2.22813885196}, {30, 2.04227245630}, {INFINITY, 1.95996398454}};
  for (const auto& [nu, t] : table) {
    EXPECT_NEAR(student_t_quantile(0.975, nu), t, 1e-9) << nu;
    EXPECT_NEAR(student_t_quantile(0.025, nu), -t, 1e-9) << nu;
  }
  // The quantile inverts the CDF, at fractional degrees of freedom too (Satterthwaite's are).
  for (double nu : {0.7, 1.5, 2.37, 8.9, 123.4})
    for (double p : {0.001, 0.2, 0.5, 0.9, 0.975, 0.9999})
      EXPECT_NEAR(student_t_cdf(student_t_quantile(p, nu), nu), p, 1e-11) << nu << " " << p;
  EXPECT_THROW(student_t_cdf(1, 0), Error);
  EXPECT_THROW(student_t_quantile(1, 3), Error);
  EXPECT_THROW(student_t_quantile(0.5, -1), Error);
}

// n images with one true class each out of p; the true class of image i is i mod p.
LabelMatrix one_label_each(int n, int p) {
  LabelMatrix y((size_t)n, std::vector<int>((size_t)p, 0));
  for (int i = 0; i < n; ++i) y[(size_t)i][(size_t)(i % p)] = 1;
  return y;
}

// A held-out set's own difficulty: N(0, 1) per image and class, the same
// for every model scored on it (an image that looks like another class
// misleads every run).
ScoreMatrix image_difficulty(const LabelMatrix& y, std::mt19937& rng) {
  std::normal_distribution<double> normal(0.0, 1.0);
  ScoreMatrix d(y.size(), std::vector<double>(y[0].size()));
  for (auto& row : d)
    for (double& v : row) v = normal(rng);
  return d;
}

// One training run of a recipe: each class c gets its own signal strength
// mean + spread x N(0, 1) (a seed learns some classes better than another
// does); scores = strength_c x label + sqrt(0.7) x the images' difficulty +
// sqrt(0.3) x N(0, 1) of this run's own.
ScoreMatrix trained_run(const LabelMatrix& y, const ScoreMatrix& difficulty, double mean, double spread,
                        std::mt19937& rng) {
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> strength(y[0].size());
  for (double& s : strength) s = mean + spread * normal(rng);
  ScoreMatrix s(y.size(), std::vector<double>(y[0].size()));
  for (size_t i = 0; i < y.size(); ++i)
    for (size_t c = 0; c < y[i].size(); ++c)
      s[i][c] = strength[c] * y[i][c] + std::sqrt(0.7) * difficulty[i][c] + std::sqrt(0.3) * normal(rng);
  return s;
}

std::vector<ScoreMatrix> runs(const LabelMatrix& y, const ScoreMatrix& difficulty, int k, double mean, double spread,
                              std::mt19937& rng) {
  std::vector<ScoreMatrix> r;
  for (int s = 0; s < k; ++s) r.push_back(trained_run(y, difficulty, mean, spread, rng));
  return r;
}

TEST(CompareMapSeeds, ItsPartsAreThePerSeedMapsTheirSpreadAndTheBootstrap) {
  std::mt19937 rng(11);
  const LabelMatrix y = one_label_each(80, 4);
  const ScoreMatrix hard = image_difficulty(y, rng);
  const std::vector<ScoreMatrix> a = runs(y, hard, 3, 1.5, 0.5, rng), b = runs(y, hard, 3, 1.0, 0.5, rng);
  const SeedMapComparison c = compare_map_seeds(a, b, y, 300, 5);
  ASSERT_TRUE(c.map_class && c.map_image);
  const SeedMapDifference& d = *c.map_class;
  ASSERT_EQ(d.a.size(), 3u);
  std::vector<double> diffs;
  for (size_t s = 0; s < 3; ++s) {
    EXPECT_EQ(d.a[s], *map_class(a[s], y).map);
    EXPECT_EQ(d.b[s], *map_class(b[s], y).map);
    EXPECT_EQ(c.map_image->a[s], *map_image(a[s], y).map);
    diffs.push_back(d.a[s] - d.b[s]);
  }
  const double mean = (diffs[0] + diffs[1] + diffs[2]) / 3;
  EXPECT_NEAR(d.diff, mean, 1e-12);
  EXPECT_NEAR(d.mean_a - d.mean_b, mean, 1e-12);
  double squares = 0;
  for (double v : diffs) squares += (v - mean) * (v - mean);
  EXPECT_NEAR(d.sd_training, std::sqrt(squares / 2), 1e-12);
  EXPECT_NEAR(d.se_training, d.sd_training / std::sqrt(3.0), 1e-12);
  EXPECT_GT(d.se_images, 0);
  EXPECT_NEAR(d.se * d.se, d.se_training * d.se_training + d.se_images * d.se_images, 1e-12);
  EXPECT_EQ(d.df, 2.0);  // K - 1
  const double t = student_t_quantile(0.975, 2);
  EXPECT_NEAR(d.low, d.diff - t * d.se, 1e-12);
  EXPECT_NEAR(d.high, d.diff + t * d.se, 1e-12);
  EXPECT_NEAR(d.p, 2 * (1 - student_t_cdf(std::fabs(d.diff) / d.se, d.df)), 1e-12);
  EXPECT_EQ(d.resamples, 300);

  // Swapping the recipes negates the difference and the interval; p stays.
  const SeedMapComparison r = compare_map_seeds(b, a, y, 300, 5);
  EXPECT_NEAR(r.map_class->diff, -d.diff, 1e-12);
  EXPECT_NEAR(r.map_class->low, -d.high, 1e-12);
  EXPECT_NEAR(r.map_class->high, -d.low, 1e-12);
  EXPECT_NEAR(r.map_class->p, d.p, 1e-12);
}

TEST(CompareMapSeeds, SeedsThatTrainedAlikeLeaveOnlyTheImagesLuck) {
  // Every seed of A is the same model, and of B: no training spread, and the
  // images' part is compare_map's bootstrap of the one pair. Three seeds that
  // agree still leave the spread itself unsure: t with 2 degrees of freedom.
  std::mt19937 rng(12);
  const LabelMatrix y = one_label_each(70, 5);
  const ScoreMatrix hard = image_difficulty(y, rng);
  const ScoreMatrix a = trained_run(y, hard, 1.4, 0.3, rng), b = trained_run(y, hard, 1.0, 0.3, rng);
  const SeedMapComparison c = compare_map_seeds({a, a, a}, {b, b, b}, y, 400, 9);
  const MapComparison one = compare_map(a, b, y, 400, 9);
  const std::pair<const SeedMapDifference*, const MapDifference*> pairs[] = {{&*c.map_class, &*one.map_class},
                                                                             {&*c.map_image, &*one.map_image}};
  for (const auto& [seeds, single] : pairs) {
    EXPECT_NEAR(seeds->diff, single->diff, 1e-12);
    EXPECT_NEAR(seeds->sd_training, 0.0, 1e-12);
    EXPECT_NEAR(seeds->se_images, single->se, 1e-12);
    EXPECT_NEAR(seeds->high - seeds->low, 2 * 4.30265273 * single->se, 1e-6);
  }
}

TEST(CompareMapSeeds, WhenTheRecipesAreTheSameItRejectsAtMostAsOftenAsItShould) {
  // 60 experiments, each on its own held-out images, each 3 seeds of two
  // recipes that train identically in distribution, with a seed-to-seed
  // spread larger than the images' luck (as the Liao runs showed). The seeds'
  // test must reject "equally good" in about 5% of them or fewer (it leans
  // conservative); a test of the images' luck alone (D +- 1.96 se_images) is
  // fooled by the seeds' spread.
  std::mt19937 rng(13);
  const LabelMatrix y = one_label_each(120, 4);
  const int experiments = 60;
  int rejected = 0, rejected_by_images_alone = 0;
  for (int e = 0; e < experiments; ++e) {
    const ScoreMatrix hard = image_difficulty(y, rng);
    const std::vector<ScoreMatrix> a = runs(y, hard, 3, 1.2, 0.6, rng), b = runs(y, hard, 3, 1.2, 0.6, rng);
    const SeedMapDifference d = *compare_map_seeds(a, b, y, 100, (uint64_t)e).map_class;
    rejected += d.p < 0.05;
    rejected_by_images_alone += std::fabs(d.diff) > 1.959964 * d.se_images;
  }
  // 5% is 3 of 60; this run: 0 (the images' luck alone: 34).
  EXPECT_LE(rejected, 6) << "of " << experiments;
  EXPECT_GE(rejected_by_images_alone, 15) << "of " << experiments;
}

TEST(CompareMapSeeds, ARecipeClearlyBetterOnEverySeedIsFound) {
  std::mt19937 rng(14);
  const LabelMatrix y = one_label_each(100, 4);
  const ScoreMatrix hard = image_difficulty(y, rng);
  const std::vector<ScoreMatrix> a = runs(y, hard, 4, 3.0, 0.2, rng), b = runs(y, hard, 4, 0.8, 0.2, rng);
  const SeedMapDifference d = *compare_map_seeds(a, b, y, 200, 3).map_class;
  EXPECT_GT(d.low, 0);
  EXPECT_LT(d.p, 0.01);
}

TEST(CompareMapSeeds, BadInput) {
  std::mt19937 rng(15);
  const LabelMatrix y = one_label_each(30, 3);
  const ScoreMatrix hard = image_difficulty(y, rng);
  const std::vector<ScoreMatrix> two = runs(y, hard, 2, 1, 0.3, rng), three = runs(y, hard, 3, 1, 0.3, rng);
  auto message = [&](const std::vector<ScoreMatrix>& a, const std::vector<ScoreMatrix>& b, int64_t r) {
    try {
      compare_map_seeds(a, b, y, r);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(two, three, 200).find("2 seeds of the first recipe but 3 of the second"), std::string::npos);
  EXPECT_NE(message({two[0]}, {two[1]}, 200).find("at least 2 seeds"), std::string::npos);
  EXPECT_NE(message(two, two, 50).find("at least 100 resamples"), std::string::npos);
  std::vector<ScoreMatrix> short_one = two;
  short_one[1].pop_back();
  EXPECT_NE(message(two, short_one, 200).find("second recipe, seed 2"), std::string::npos);
}

}  // namespace
}  // namespace skinmtl
