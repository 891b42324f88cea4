// End to end through bin/skinmtl: `metrics seg` on hand-made mask folders
// (ISIC and PH2 file names, BMP masks, the matching rule, ignored files, every
// error) and `metrics binary` on hand-made CSVs (one column, or a scores column
// against a labels column of another name), with hand-computed values.
//
// The binary is built by `make test` before the tests run; tests run from the
// repository root.
#include <sys/wait.h>

#include <cmath>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "io/image.h"
#include "tests/io_test_util.h"
#include "tests/temp_dir.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

const char* kBin = test::skinmtl_bin();

using test::sh;

Image mask_of(const std::vector<std::string>& rows) {
  Image m((int)rows.size(), (int)rows[0].size(), 1);
  for (int y = 0; y < m.height; ++y)
    for (int x = 0; x < m.width; ++x) m.at(y, x, 0) = rows[y][x] == '#' ? 255 : 0;
  return m;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

class CliSegMetrics : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kBin)) GTEST_SKIP() << kBin << " is not built (make test builds it)";
    std::filesystem::create_directories(truth_);
    std::filesystem::create_directories(pred_);
    // Image 0: TP 3, FN 1, FP 2, TN 6 -> JA 0.5, DI 2/3, AC 0.75, SE 0.75, SP 0.75.
    save_png(truth_ + "/ISIC_0000000_segmentation.png", mask_of({"##..", "##..", "...."}));
    save_png(pred_ + "/ISIC_0000000.png", mask_of({"###.", "#...", "..#."}));
    // Image 1: no lesion in either -> JA = DI = AC = SP = 1, SE undefined.
    save_png(truth_ + "/ISIC_0000001_segmentation.png", mask_of({"..", ".."}));
    save_png(pred_ + "/ISIC_0000001_segmentation.png", mask_of({"..", ".."}));
    save_png(pred_ + "/ISIC_0000002.png", mask_of({"#"}));  // no truth: ignored
    test::write_file(truth_ + "/README.txt", "not a mask");  // not an image: ignored
  }
  std::string seg(const std::string& extra = "") const {
    return std::string(kBin) + " metrics seg --pred " + pred_ + " --truth " + truth_ + extra;
  }
  test::TempDir dir_;
  std::string truth_ = dir_.path("truth"), pred_ = dir_.path("pred"), log_ = dir_.path("log.txt");
};

TEST_F(CliSegMetrics, MeansOverMatchedMasks) {
  ASSERT_EQ(sh(seg(" --json"), log_), 0) << test::read_file(log_);
  const nlohmann::json j = nlohmann::json::parse(test::read_file(log_));
  EXPECT_EQ(j["images"], 2);
  EXPECT_EQ(j["predictions_ignored"], 1);
  EXPECT_EQ(j["threshold"], 128);
  EXPECT_DOUBLE_EQ(j["ja"].get<double>(), (0.5 + 1) / 2);
  EXPECT_DOUBLE_EQ(j["di"].get<double>(), (2.0 / 3 + 1) / 2);
  EXPECT_DOUBLE_EQ(j["ac"].get<double>(), (0.75 + 1) / 2);
  EXPECT_DOUBLE_EQ(j["se"].get<double>(), 0.75);  // image 1 has no lesion: excluded
  EXPECT_EQ(j["se_excluded"], 1);
  EXPECT_DOUBLE_EQ(j["sp"].get<double>(), (0.75 + 1) / 2);
  EXPECT_DOUBLE_EQ(j["thresholded_ja"].get<double>(), (0 + 1) / 2.0);  // 0.5 < 0.65 counts 0
  EXPECT_EQ(j["ja_below_cutoff"], 1);

  ASSERT_EQ(sh(seg(), log_), 0) << test::read_file(log_);
  const std::string text = test::read_file(log_);
  EXPECT_TRUE(contains(text, "JA  0.7500")) << text;
  EXPECT_TRUE(contains(text, "SE  0.7500")) << text;
  EXPECT_TRUE(contains(text, "1 without lesion pixels excluded")) << text;
  EXPECT_TRUE(contains(text, "1 predictions without a truth mask ignored")) << text;
  // Nothing written into the folders.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(pred_), {}), 3);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(truth_), {}), 3);

  // --threshold: a grey-100 prediction for image 1 is lesion at 100 (JA 0 on
  // its empty truth), while image 0's 255s still give 0.5.
  Image grey(2, 2, 1);
  for (uint8_t& v : grey.data) v = 100;
  save_png(pred_ + "/ISIC_0000001_segmentation.png", grey);
  ASSERT_EQ(sh(seg(" --json --threshold 100"), log_), 0) << test::read_file(log_);
  EXPECT_DOUBLE_EQ(nlohmann::json::parse(test::read_file(log_))["ja"].get<double>(), 0.25);  // (0.5 + 0) / 2
}

// PH2 names its masks IMD002_lesion.bmp; a colour mask is lesion where any
// channel is >= 128 (here red on black, which luma would read as 76).
TEST_F(CliSegMetrics, Ph2NamesAndColourBmpMasks) {
  std::filesystem::remove(truth_ + "/ISIC_0000000_segmentation.png");
  std::filesystem::remove(truth_ + "/ISIC_0000001_segmentation.png");
  test::write_file(truth_ + "/IMD002_lesion.bmp", test::bmp_file(mask_of({"##..", "##..", "...."}), 24));  // red
  test::write_file(truth_ + "/IMD003_lesion.bmp", test::bmp_file(mask_of({"#.", ".#"}), 1));
  save_png(pred_ + "/IMD002.png", mask_of({"###.", "#...", "..#."}));  // image 0 above: JA 0.5
  save_png(pred_ + "/IMD003.png", mask_of({"#.", ".#"}));             // JA 1
  ASSERT_EQ(sh(seg(" --json"), log_), 0) << test::read_file(log_);
  const nlohmann::json j = nlohmann::json::parse(test::read_file(log_));
  EXPECT_EQ(j["images"], 2);
  EXPECT_DOUBLE_EQ(j["ja"].get<double>(), (0.5 + 1) / 2);
}

// --compare: a second folder of masks for the same images, image for image.
// Here it holds the truth of image 0 (JA 1) and the same empty mask for image
// 1 (JA 1): the first folder's JA is lower by (1 - 0.5) / 2 on the two images.
TEST_F(CliSegMetrics, CompareTwoFoldersOfMasksOnTheSameImages) {
  const std::string other = dir_.path("other");
  std::filesystem::create_directories(other);
  save_png(other + "/ISIC_0000000.png", mask_of({"##..", "##..", "...."}));
  save_png(other + "/ISIC_0000001.png", mask_of({"..", ".."}));
  ASSERT_EQ(sh(seg(" --json --compare " + other), log_), 0) << test::read_file(log_);
  const nlohmann::json j = nlohmann::json::parse(test::read_file(log_));
  EXPECT_EQ(j["compare"], other);
  EXPECT_EQ(j["compare_predictions_ignored"], 0);
  const nlohmann::json& ja = j["comparison"]["ja"];
  EXPECT_DOUBLE_EQ(ja["mean"].get<double>(), 0.75);
  EXPECT_DOUBLE_EQ(ja["mean_compare"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(ja["difference"].get<double>(), -0.25);
  // Two images: a draw holds image 0 twice (-0.5), once (-0.25) or not at all (0).
  EXPECT_DOUBLE_EQ(ja["low"].get<double>(), -0.5);
  EXPECT_DOUBLE_EQ(ja["high"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(j["comparison"]["thresholded_ja"]["difference"].get<double>(), -0.5);  // 0.5 counts 0
  EXPECT_DOUBLE_EQ(j["comparison"]["di"]["difference"].get<double>(), (2.0 / 3 - 1) / 2);
  EXPECT_DOUBLE_EQ(j["comparison"]["ac"]["difference"].get<double>(), (0.75 - 1) / 2);

  ASSERT_EQ(sh(seg(" --compare " + other), log_), 0) << test::read_file(log_);
  const std::string text = test::read_file(log_);
  EXPECT_TRUE(contains(text, "against " + other + " (the same images")) << text;
  EXPECT_TRUE(contains(text, "JA              0.7500  1.0000  -0.2500")) << text;

  // The second folder is checked as the first: a missing mask is named.
  std::filesystem::remove(other + "/ISIC_0000001.png");
  ASSERT_EQ(sh(seg(" --compare " + other), log_), 1);
  EXPECT_TRUE(contains(test::read_file(log_), "1 of 2 ground-truth masks have no prediction in " + other +
                                                  ": ISIC_0000001"))
      << test::read_file(log_);
  EXPECT_EQ(sh(seg(" --compare ''"), log_), 2);
  EXPECT_TRUE(contains(test::read_file(log_), "--compare needs a folder of masks")) << test::read_file(log_);
}

TEST_F(CliSegMetrics, Errors) {
  // A missing prediction: listed by name.
  std::filesystem::remove(pred_ + "/ISIC_0000001_segmentation.png");
  save_png(truth_ + "/ISIC_0000005_segmentation.png", mask_of({"#"}));
  ASSERT_EQ(sh(seg(), log_), 1);
  std::string log = test::read_file(log_);
  EXPECT_TRUE(contains(log, "2 of 3 ground-truth masks have no prediction")) << log;
  EXPECT_TRUE(contains(log, "ISIC_0000001, ISIC_0000005")) << log;
  std::filesystem::remove(truth_ + "/ISIC_0000005_segmentation.png");

  // Different sizes: both files named.
  save_png(pred_ + "/ISIC_0000001.png", mask_of({"...", "..."}));
  ASSERT_EQ(sh(seg(), log_), 1);
  log = test::read_file(log_);
  EXPECT_TRUE(contains(log, "the prediction " + pred_ + "/ISIC_0000001.png is 2x3 but the truth " + truth_ +
                                "/ISIC_0000001_segmentation.png is 2x2")) << log;

  // Two predictions of one name.
  save_png(pred_ + "/ISIC_0000001_segmentation.png", mask_of({"..", ".."}));
  ASSERT_EQ(sh(seg(), log_), 1);
  log = test::read_file(log_);
  EXPECT_TRUE(contains(log, "two masks for 'ISIC_0000001'")) << log;

  // Usage errors exit with 2.
  EXPECT_EQ(sh(seg(" --threshold 0"), log_), 2);
  EXPECT_EQ(sh(seg(" --threshold 0.5"), log_), 2);
  EXPECT_EQ(sh(std::string(kBin) + " metrics seg --truth " + truth_, log_), 2);
  EXPECT_EQ(sh(seg(" --column melanoma"), log_), 2);
  EXPECT_EQ(sh(std::string(kBin) + " metrics seg --pred " + dir_.path("nowhere") + " --truth " + truth_, log_), 1);
  EXPECT_TRUE(contains(test::read_file(log_), "not a folder"));
}

class CliBinaryMetrics : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kBin)) GTEST_SKIP() << kBin << " is not built (make test builds it)";
    // melanoma: the five-item example of test_seg_metrics (AC .4, AUC 4/6, AP .75,
    // SE .5, SP 1/3 at 0.5); seborrheic_keratosis: perfectly ranked, at 0.5
    // one positive (0.45) is missed: AC .8, AUC 1, AP 1, SE .5, SP 1.
    test::write_file(scores_, "image_id,melanoma,seborrheic_keratosis\n"
                              "a,0.9,0.1\nb,0.8,0.2\nc,0.4,0.3\nd,0.3,0.45\ne,0.6,0.7\n");
    test::write_file(labels_, "image_id,seborrheic_keratosis,melanoma\n"  // other orders
                              "e,1,0\nd,1,0\nc,0,1\nb,0,0\na,0,1\n");
  }
  std::string binary(const std::string& extra = "") const {
    return std::string(kBin) + " metrics binary --scores " + scores_ + " --labels " + labels_ + extra;
  }
  test::TempDir dir_;
  std::string scores_ = dir_.path("scores.csv"), labels_ = dir_.path("labels.csv"), log_ = dir_.path("log.txt");
};

TEST_F(CliBinaryMetrics, OneBlockPerColumn) {
  ASSERT_EQ(sh(binary(" --json"), log_), 0) << test::read_file(log_);
  const nlohmann::json j = nlohmann::json::parse(test::read_file(log_));
  EXPECT_EQ(j["images"], 5);
  ASSERT_EQ(j["columns"].size(), 2u);
  const nlohmann::json& mel = j["columns"][0];
  EXPECT_EQ(mel["column"], "melanoma");
  EXPECT_EQ(mel["positives"], 2);
  EXPECT_DOUBLE_EQ(mel["accuracy"].get<double>(), 0.4);
  EXPECT_DOUBLE_EQ(mel["auc"].get<double>(), 4.0 / 6);
  EXPECT_DOUBLE_EQ(mel["ap"].get<double>(), 0.75);
  EXPECT_DOUBLE_EQ(mel["sensitivity"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(mel["specificity"].get<double>(), 1.0 / 3);
  EXPECT_EQ(mel["fp"], 2);
  const nlohmann::json& sk = j["columns"][1];
  EXPECT_EQ(sk["column"], "seborrheic_keratosis");
  EXPECT_DOUBLE_EQ(sk["accuracy"].get<double>(), 0.8);
  EXPECT_DOUBLE_EQ(sk["auc"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(sk["ap"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(sk["sensitivity"].get<double>(), 0.5);

  // --column and --threshold.
  ASSERT_EQ(sh(binary(" --json --column seborrheic_keratosis --threshold 0.4"), log_), 0) << test::read_file(log_);
  const nlohmann::json k = nlohmann::json::parse(test::read_file(log_));
  ASSERT_EQ(k["columns"].size(), 1u);
  EXPECT_DOUBLE_EQ(k["columns"][0]["sensitivity"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(k["columns"][0]["accuracy"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(k["threshold"].get<double>(), 0.4);

  ASSERT_EQ(sh(binary(), log_), 0);
  const std::string text = test::read_file(log_);
  EXPECT_TRUE(contains(text, "melanoma")) << text;
  // The interval: positives .9 and .4, negatives .8, .3 and .6; placements
  // V10 = (1, 1/3), V01 = (1/2, 1, 1/2): SE^2 = (2/9) / 2 + (1/12) / 3 = 5/36,
  // so 2/3 +- 0.73, clipped to [0, 1].
  EXPECT_TRUE(contains(text, "0.4000  0.6667  [0.0000, 1.0000]  0.7500  0.5000  0.3333  1/2/1/1")) << text;
  EXPECT_NEAR(mel["auc_se"].get<double>(), std::sqrt(5.0 / 36), 1e-12);
  EXPECT_EQ(mel["auc_low"].get<double>(), 0.0);
  EXPECT_EQ(mel["auc_high"].get<double>(), 1.0);
}

// --compare: a second model's scores for the same images (rows in another
// order) against the first's, per column, with DeLong's test.
TEST_F(CliBinaryMetrics, CompareTwoModelsOnTheSameImages) {
  const std::string other = dir_.path("other.csv");
  // melanoma ranked perfectly (positives .9, .8 above .6, .3, .1): AUC 1, so
  // the difference is 2/3 - 1 and its variance that of the first alone (the
  // second's placements are constant): 5/36. seborrheic_keratosis as in scores_.
  test::write_file(other, "image_id,seborrheic_keratosis,melanoma\n"
                          "e,0.7,0.6\nd,0.45,0.3\nc,0.3,0.8\nb,0.2,0.1\na,0.1,0.9\n");
  ASSERT_EQ(sh(binary(" --json --compare " + other), log_), 0) << test::read_file(log_);
  const nlohmann::json j = nlohmann::json::parse(test::read_file(log_));
  EXPECT_EQ(j["compare"], other);
  ASSERT_EQ(j["comparison"].size(), 2u);
  const nlohmann::json& mel = j["comparison"][0];
  EXPECT_EQ(mel["column"], "melanoma");
  EXPECT_NEAR(mel["auc"].get<double>(), 2.0 / 3, 1e-12);
  EXPECT_NEAR(mel["auc_compare"].get<double>(), 1.0, 1e-12);
  EXPECT_NEAR(mel["difference"].get<double>(), -1.0 / 3, 1e-12);
  EXPECT_NEAR(mel["se"].get<double>(), std::sqrt(5.0 / 36), 1e-12);
  EXPECT_NEAR(mel["p"].get<double>(), 0.37109336952269767, 1e-12);  // Python: math.erfc(|z| / sqrt(2))
  const nlohmann::json& sk = j["comparison"][1];
  EXPECT_EQ(sk["difference"].get<double>(), 0.0);
  EXPECT_EQ(sk["p"].get<double>(), 1.0);
  ASSERT_EQ(sh(binary(" --compare " + other), log_), 0);
  const std::string text = test::read_file(log_);
  EXPECT_TRUE(contains(text, "against " + other + " (DeLong's test")) << text;
  EXPECT_TRUE(contains(text, "melanoma              0.6667  1.0000  -0.3333     [-1.0638, +0.3971]  0.3711")) << text;
  // The second file must hold the same images; --compare belongs to binary, multilabel and
  // seg (a folder of masks there: CliSegMetrics.CompareTwoFoldersOfMasksOnTheSameImages).
  test::write_file(other, "image_id,seborrheic_keratosis,melanoma\ne,0.7,0.6\nd,0.45,0.3\n");
  EXPECT_EQ(sh(binary(" --compare " + other), log_), 1);
  EXPECT_FALSE(contains(test::read_file(log_), ".cpp:")) << test::read_file(log_);
  EXPECT_EQ(sh(std::string(kBin) + " metrics topk --scores " + scores_ + " --labels " + labels_ + " --compare " + other,
               log_),
            2);
  EXPECT_TRUE(contains(test::read_file(log_),
                       "--compare applies to 'metrics binary', 'metrics multilabel' and 'metrics seg' only"))
      << test::read_file(log_);
}

// A scores column against a labels column of another name: predict detseg's
// "malignant" against ISIC's "melanoma", in files whose other columns are
// text (ISIC 2017's labels.csv has diagnosis and site columns).
TEST_F(CliBinaryMetrics, ScoreAndLabelColumnsOfDifferentNames) {
  test::write_file(scores_, "image_id,malignant,benign,note\n"
                            "a,0.9,0.1,x\nb,0.8,0.2,y\nc,0.4,0.6,\nd,0.3,0.7,z\ne,0.6,0.4,w\n");
  test::write_file(labels_, "image_id,split,melanoma,diagnosis3\n"
                            "e,val,0,nevus\nd,val,0,nevus\nc,val,1,melanoma\nb,val,0,nevus\na,val,1,melanoma\n");
  ASSERT_EQ(sh(binary(" --json --score-column malignant --label-column melanoma"), log_), 0) << test::read_file(log_);
  const nlohmann::json j = nlohmann::json::parse(test::read_file(log_));
  EXPECT_EQ(j["score_column"], "malignant");
  EXPECT_EQ(j["label_column"], "melanoma");
  ASSERT_EQ(j["columns"].size(), 1u);
  const nlohmann::json& mel = j["columns"][0];  // the five-item example: as --column melanoma gives it
  EXPECT_EQ(mel["column"], "melanoma");
  EXPECT_DOUBLE_EQ(mel["accuracy"].get<double>(), 0.4);
  EXPECT_DOUBLE_EQ(mel["auc"].get<double>(), 4.0 / 6);
  EXPECT_DOUBLE_EQ(mel["ap"].get<double>(), 0.75);
  ASSERT_EQ(sh(binary(" --score-column malignant --label-column melanoma"), log_), 0);
  EXPECT_TRUE(contains(test::read_file(log_), "scores: " + scores_ + ", column malignant\nlabels: " + labels_ +
                                                  ", column melanoma"))
      << test::read_file(log_);

  // A column that is not there: the file and its columns are named.
  EXPECT_EQ(sh(binary(" --score-column malign --label-column melanoma"), log_), 1);
  std::string log = test::read_file(log_);
  EXPECT_TRUE(contains(log, "scores file " + scores_ + " has no column 'malign' (columns: malignant, benign, note)"))
      << log;
  EXPECT_FALSE(contains(log, ".cpp:")) << log;
  // One name alone names the column of both files: the labels have no "malignant".
  EXPECT_EQ(sh(binary(" --score-column malignant"), log_), 1);
  EXPECT_TRUE(contains(test::read_file(log_), "labels file " + labels_ + " has no column 'malignant'"))
      << test::read_file(log_);
  // Without a column the text columns are an error, as before.
  EXPECT_EQ(sh(binary(), log_), 1);
  EXPECT_TRUE(contains(test::read_file(log_), "is not a number")) << test::read_file(log_);
  // Usage: --column with either, or any of them outside `metrics binary`.
  EXPECT_EQ(sh(binary(" --column melanoma --label-column melanoma"), log_), 2);
  EXPECT_EQ(sh(std::string(kBin) + " metrics seg --pred x --truth y --score-column a", log_), 2);
}

TEST_F(CliBinaryMetrics, Errors) {
  EXPECT_EQ(sh(binary(" --column nevus"), log_), 1);
  EXPECT_TRUE(contains(test::read_file(log_), "no column 'nevus' (columns: melanoma, seborrheic_keratosis)"))
      << test::read_file(log_);
  test::write_file(labels_, "image_id,melanoma,seborrheic_keratosis\na,1,0\nb,0,0\nc,1,0\nd,0,1\nf,0,1\n");
  EXPECT_EQ(sh(binary(), log_), 1);
  const std::string log = test::read_file(log_);
  EXPECT_TRUE(contains(log, "'e' (line 6)")) << log;  // in the scores only
  EXPECT_EQ(sh(binary(" --threshold x"), log_), 2);
  EXPECT_EQ(sh(binary(" --pred x"), log_), 2);
}

}  // namespace
}  // namespace skinmtl
