// End to end through bin/skinmtl: `predict detseg` and `eval detseg` on a
// model that `train detseg` trains for three iterations (one per phase) on a
// tiny synthetic set (64 x 64, FPN width 16; random initialisation, so its
// answers are poor but its files are real), then `metrics seg` and `metrics
// binary` on the files eval wrote.
//
// The images evaluated are NOT square (48 x 64 and 64 x 44 crops of synthetic
// images, written by the test with ISIC-style mask names), so the way back
// from the letterbox is exercised in both directions. They are listed three
// ways: a generic CSV, a fake ISIC 2017 labels.csv (the only data beside which
// the paper's numbers are printed) and two folders (images, masks) with a
// labels CSV in ISIC 2017 Part 3's format; and once as a fake HAM10000 (no
// masks: the classification alone).
//
// The binary is built by `make test` before the tests run; tests run from the
// repository root.
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "io/csv.h"
#include "io/image.h"
#include "io/seg_data.h"
#include "io/synthetic.h"
#include "tests/io_test_util.h"
#include "tests/temp_dir.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

namespace fs = std::filesystem;

const char* kBin = test::skinmtl_bin();

// Runs a command line, returns its exit status; stdout goes to `log`, stderr
// too unless `stderr_to` names another file.
int sh(const std::string& cmd, const std::string& log, const std::string& stderr_to = "") {
  const std::string redirect = " > " + log + (stderr_to.empty() ? " 2>&1" : " 2> " + stderr_to);
  const int rc = std::system((cmd + redirect).c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// The crops the evaluated images are made of: (y, x, h, w) inside 64 x 64.
struct CropRect {
  int y, x, h, w;
};
const CropRect kCrops[] = {{8, 0, 48, 64}, {0, 10, 64, 44}, {16, 0, 48, 64}, {0, 4, 64, 44}};
const int kEvalImages = 4;

// Shared by every test: the synthetic set, the trained model and the
// non-square val set (evaluation CSV, its images and masks folders).
struct World {
  test::TempDir dir;
  std::string manifest, model, eval_csv, eval_images, eval_masks;
  std::string isic_dir;     // holds isic2017/labels.csv: the crops as ISIC 2017's val split
  std::string part3_csv;    // image_id,melanoma,seborrheic_keratosis of the crops (and one other image)
  std::vector<std::string> ids;
  bool ok = false;
  std::string error;
};
World* g_world = nullptr;

class CliDetSegEval : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(kBin)) return;
    g_world = new World;
    World& w = *g_world;
    SynthWriteOptions so;
    so.n = 10;  // 8 train, 1 val, 1 test
    so.synth.size = 64;
    so.contact_sheet = 0;
    so.progress = false;
    w.manifest = write_synth_dataset(w.dir.path("synth"), so).manifest;
    const std::string log = w.dir.path("train.txt");
    w.model = w.dir.path("run/model.safetensors");
    const int rc = sh(std::string(kBin) + " train detseg --data synthetic:" + w.manifest +
                          " --weights none --size 64 --channels 16 --rois 16 --batch 2 --lr 0.002"
                          " --phase1 1 --phase2 1 --phase3 1 --eval-every 0 --threads 2 --device cpu --out " +
                          w.dir.path("run"),
                      log);
    if (rc != 0 || !fs::exists(w.model)) {
      w.error = "train detseg failed:\n" + test::read_file(log);
      return;
    }
    // The evaluation set: crops of the first training images, masks named
    // <id>_segmentation.png in their own folder (as ISIC 2017's val/masks),
    // melanoma 1, 0, 1, 0 (arbitrary: the model is untrained; both classes
    // make AUC and AP defined).
    const SegData synth = read_seg_csv(w.manifest);
    w.eval_images = w.dir.path("eval/images");
    w.eval_masks = w.dir.path("eval/masks");
    fs::create_directories(w.eval_images);
    fs::create_directories(w.eval_masks);
    fs::create_directories(w.dir.path("eval/isic2017"));
    w.eval_csv = w.dir.path("eval/data.csv");
    w.isic_dir = w.dir.path("eval");
    w.part3_csv = w.dir.path("eval/part3.csv");
    std::ofstream csv(w.eval_csv), isic(w.dir.path("eval/isic2017/labels.csv")), part3(w.part3_csv);
    csv << "id,image,mask,melanoma,seborrheic_keratosis,split\n";
    isic << "image_id,split,melanoma,seborrheic_keratosis,anatom_site_general,image,mask\n";
    part3 << "image_id,melanoma,seborrheic_keratosis\nISIC_9999999,1,0\n";
    for (int i = 0; i < kEvalImages; ++i) {
      const SegSample& s = synth.train.at(i);
      const CropRect c = kCrops[i];
      const std::string id = "crop_" + std::to_string(i);
      save_png(w.eval_images + "/" + id + ".png", crop(load_image(s.image, 3), c.y, c.x, c.h, c.w));
      save_png(w.eval_masks + "/" + id + "_segmentation.png", crop(load_image(s.mask, 1), c.y, c.x, c.h, c.w));
      csv << id << ",images/" << id << ".png,masks/" << id << "_segmentation.png," << (i % 2 == 0) << ",0,val\n";
      isic << id << ",val," << (i % 2 == 0) << ",0,,../images/" << id << ".png,../masks/" << id
           << "_segmentation.png\n";
      part3 << id << "," << (i % 2 == 0) << ",0\n";
      w.ids.push_back(id);
    }
    csv.close();
    isic.close();
    part3.close();
    w.ok = true;
  }
  static void TearDownTestSuite() {
    delete g_world;
    g_world = nullptr;
  }
  void SetUp() override {
    if (!fs::exists(kBin)) GTEST_SKIP() << kBin << " is not built (make test builds it)";
    ASSERT_TRUE(g_world && g_world->ok) << (g_world ? g_world->error : "");
  }
  World& w() { return *g_world; }
};

// predictions.csv as id -> its numbers.
std::map<std::string, std::vector<double>> read_predictions(const std::string& path) {
  const CsvTable t = read_csv(path);
  EXPECT_EQ(t.header, (std::vector<std::string>{"image_id", "malignant", "benign", "detected", "score", "x1", "y1",
                                                "x2", "y2"}));
  std::map<std::string, std::vector<double>> rows;
  for (const auto& r : t.rows) {
    std::vector<double> v;
    for (size_t k = 1; k < r.size(); ++k) v.push_back(std::stod(r[k]));
    rows[r[0]] = v;
  }
  return rows;
}

// Checks one image's outputs: the mask is 0/255 at the source size (h x w),
// the overlay RGB at the source size (when `overlay`), and the CSV row is
// consistent: probabilities summing to 1, the box inside the image, and every
// mask pixel inside the box (the mask is pasted into the box in the letterbox
// and both are mapped back the same way; bilinear resampling may spread it by
// a pixel) or no mask pixel without a detection.
void check_image_outputs(const std::string& out, const std::string& id, int h, int w, bool overlay,
                         const std::vector<double>& row) {
  SCOPED_TRACE(id);
  const Image mask = load_image(out + "/masks/" + id + ".png", 0);
  EXPECT_EQ(mask.height, h);
  EXPECT_EQ(mask.width, w);
  EXPECT_EQ(mask.channels, 1);
  for (uint8_t v : mask.data) ASSERT_TRUE(v == 0 || v == 255) << (int)v;
  EXPECT_EQ(fs::exists(out + "/overlays/" + id + ".png"), overlay);
  if (overlay) {
    const Image o = load_image(out + "/overlays/" + id + ".png", 0);
    EXPECT_EQ(o.height, h);
    EXPECT_EQ(o.width, w);
    EXPECT_EQ(o.channels, 3);
  }
  ASSERT_EQ(row.size(), 8u);
  const double mal = row[0], ben = row[1], detected = row[2], score = row[3];
  EXPECT_GE(mal, 0.0);
  EXPECT_LE(mal, 1.0);
  EXPECT_NEAR(mal + ben, 1.0, 1e-12);
  EXPECT_TRUE(detected == 0 || detected == 1) << detected;
  EXPECT_GE(score, 0.0);
  EXPECT_LE(score, 1.0);
  const double x1 = row[4], y1 = row[5], x2 = row[6], y2 = row[7];
  EXPECT_LE(0, x1);
  EXPECT_LE(x1, x2);
  EXPECT_LE(x2, w);
  EXPECT_LE(0, y1);
  EXPECT_LE(y1, y2);
  EXPECT_LE(y2, h);
  int64_t lesion = 0;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      if (!mask.at(y, x, 0)) continue;
      ++lesion;
      EXPECT_TRUE(x >= std::floor(x1) - 1 && x < std::ceil(x2) + 1 && y >= std::floor(y1) - 1 &&
                  y < std::ceil(y2) + 1)
          << "mask pixel (" << y << ", " << x << ") outside the box " << x1 << " " << y1 << " " << x2 << " " << y2;
    }
  if (detected == 0) {
    EXPECT_EQ(lesion, 0);
  }
}

TEST_F(CliDetSegEval, PredictWritesMaskOverlayAndRowPerImage) {
  const std::string out = w().dir.path("pred_data"), log = w().dir.path("pred.txt");
  // From the data set: its val split, with the ground truth on the overlays.
  ASSERT_EQ(sh(std::string(kBin) + " predict detseg --model " + w().model + " --data " + w().eval_csv +
                   " --device cpu --out " + out,
               log),
            0)
      << test::read_file(log);
  EXPECT_NE(test::read_file(log).find("against the 4 ground-truth masks"), std::string::npos) << test::read_file(log);
  auto rows = read_predictions(out + "/predictions.csv");
  ASSERT_EQ(rows.size(), (size_t)kEvalImages);
  for (int i = 0; i < kEvalImages; ++i)
    check_image_outputs(out, w().ids[i], kCrops[i].h, kCrops[i].w, true, rows.at(w().ids[i]));

  // The same images as files (two after one --image, one after another), no
  // truth: the same predictions, overlays without the black truth contour.
  // crop_0 and crop_1 form the first batch of 2 in both runs, so their
  // answers are identical; crop_2 is alone in its batch here (float rounding
  // may differ).
  const std::string out2 = w().dir.path("pred_files");
  const std::string img = w().eval_images + "/";
  ASSERT_EQ(sh(std::string(kBin) + " predict detseg --model " + w().model + " --image " + img + "crop_0.png " + img +
                   "crop_1.png --device cpu --image " + img + "crop_2.png --out " + out2,
               log),
            0)
      << test::read_file(log);
  auto rows2 = read_predictions(out2 + "/predictions.csv");
  ASSERT_EQ(rows2.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    const std::string& id = w().ids[i];
    check_image_outputs(out2, id, kCrops[i].h, kCrops[i].w, true, rows2.at(id));
    for (size_t k = 0; k < 8; ++k) EXPECT_NEAR(rows2.at(id)[k], rows.at(id)[k], 1e-4) << id << " " << k;
    if (i == 2) continue;
    EXPECT_EQ(rows2.at(id), rows.at(id)) << id;
    EXPECT_EQ(test::read_file(out2 + "/masks/" + id + ".png"), test::read_file(out + "/masks/" + id + ".png"));
    const Image with = load_image(out + "/overlays/" + id + ".png"), without = load_image(out2 + "/overlays/" + id + ".png");
    // The truth contour is black: the overlay with it has black pixels the
    // other lacks, and no other difference.
    int64_t black_added = 0, other = 0;
    for (int y = 0; y < with.height; ++y)
      for (int x = 0; x < with.width; ++x) {
        bool same = true, black = true;
        for (int c = 0; c < 3; ++c) {
          same = same && with.at(y, x, c) == without.at(y, x, c);
          black = black && with.at(y, x, c) == 0;
        }
        if (!same) (black ? black_added : other)++;
      }
    EXPECT_GT(black_added, 0) << id;
    EXPECT_EQ(other, 0) << id;
  }

  // A folder, with --truth (ISIC's _segmentation names) and --overlays 1.
  const std::string out3 = w().dir.path("pred_dir");
  ASSERT_EQ(sh(std::string(kBin) + " predict detseg --model " + w().model + " --images " + w().eval_images +
                   " --truth " + w().eval_masks + " --overlays 1 --batch 3 --device cpu --out " + out3,
               log),
            0)
      << test::read_file(log);
  EXPECT_NE(test::read_file(log).find("ground truth: 4 of 4 images matched a mask in " + w().eval_masks),
            std::string::npos) << test::read_file(log);
  auto rows3 = read_predictions(out3 + "/predictions.csv");
  ASSERT_EQ(rows3.size(), (size_t)kEvalImages);
  for (int i = 0; i < kEvalImages; ++i) {
    check_image_outputs(out3, w().ids[i], kCrops[i].h, kCrops[i].w, i == 0, rows3.at(w().ids[i]));
    // Batches of 3 give the same answers as batches of 2 (up to float rounding).
    for (size_t k = 0; k < 8; ++k) EXPECT_NEAR(rows3.at(w().ids[i])[k], rows.at(w().ids[i])[k], 1e-4) << k;
  }
}

// The number after `label` on the first line of `text` that starts with it
// (after spaces), e.g. "  JA      0.1449 ..." -> "0.1449".
std::string number_after(const std::string& text, const std::string& label) {
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t end = text.find('\n', pos);
    const std::string line = text.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    const size_t first = line.find_first_not_of(' ');
    if (first != std::string::npos && line.compare(first, label.size() + 1, label + " ") == 0) {
      const size_t v = line.find_first_not_of(' ', first + label.size());
      return line.substr(v, line.find(' ', v) - v);
    }
    if (end == std::string::npos) break;
    pos = end + 1;
  }
  return "(no line '" + label + "')";
}

// The images as ISIC 2017's val split (--data isic2017, the default split):
// the one run that prints the paper's numbers beside ours.
TEST_F(CliDetSegEval, EvalNumbersAreReproducedFromItsFiles) {
  const std::string out = w().dir.path("eval_out"), log = w().dir.path("eval.txt"), err = w().dir.path("eval_err.txt");
  const std::string eval = std::string(kBin) + " eval detseg --model " + w().model + " --data isic2017 --data-dir " +
                           w().isic_dir + " --overlays 2 --device cpu --out " + out;
  ASSERT_EQ(sh(eval, log, err), 0) << test::read_file(log) << test::read_file(err);
  const std::string text = test::read_file(log);  // the printed tables
  const nlohmann::json j = nlohmann::json::parse(test::read_file(out + "/metrics.json"));
  EXPECT_EQ(j.at("images").get<int>(), kEvalImages);
  EXPECT_EQ(j.at("split"), "val");
  EXPECT_TRUE(j.contains("paper"));
  // The masks are in the data's own folder, named as metrics seg matches them.
  EXPECT_TRUE(fs::equivalent(j.at("files").at("truth").get<std::string>(), w().eval_masks));
  EXPECT_FALSE(fs::exists(out + "/truth"));
  // Files: masks of all, overlays of the first 2, the CSVs.
  auto rows = read_predictions(out + "/predictions.csv");
  ASSERT_EQ(rows.size(), (size_t)kEvalImages);
  for (int i = 0; i < kEvalImages; ++i)
    check_image_outputs(out, w().ids[i], kCrops[i].h, kCrops[i].w, i < 2, rows.at(w().ids[i]));

  // Segmentation from files.
  const std::string seg_log = w().dir.path("seg.txt");
  ASSERT_EQ(sh(std::string(kBin) + " metrics seg --json --pred " + out + "/masks --truth " + w().eval_masks, seg_log), 0)
      << test::read_file(seg_log);
  const nlohmann::json s = nlohmann::json::parse(test::read_file(seg_log));
  const nlohmann::json& es = j.at("segmentation");
  EXPECT_EQ(s.at("images").get<int>(), kEvalImages);
  for (const char* k : {"ja", "di", "ac", "se", "sp", "thresholded_ja"}) {
    ASSERT_TRUE(es.at(k).is_number()) << k;
    EXPECT_DOUBLE_EQ(s.at(k).get<double>(), es.at(k).get<double>()) << k;
  }
  for (const char* k : {"se_excluded", "sp_excluded", "ja_below_cutoff"})
    EXPECT_EQ(s.at(k).get<int>(), es.at(k).get<int>()) << k;

  // Classification from files: the malignant probabilities of predictions.csv.
  const std::string bin_log = w().dir.path("bin.txt");
  ASSERT_EQ(sh(std::string(kBin) + " metrics binary --json --scores " + out + "/scores.csv --labels " + out +
                   "/labels.csv",
               bin_log),
            0)
      << test::read_file(bin_log);
  const nlohmann::json b = nlohmann::json::parse(test::read_file(bin_log)).at("columns").at(0);
  const nlohmann::json& ec = j.at("classification");
  EXPECT_EQ(b.at("column"), "melanoma");
  EXPECT_EQ(b.at("positives").get<int>(), 2);
  EXPECT_EQ(ec.at("positives").get<int>(), 2);
  for (const char* k : {"accuracy", "auc", "ap", "sensitivity", "specificity"}) {
    ASSERT_TRUE(ec.at(k).is_number()) << k;
    EXPECT_DOUBLE_EQ(b.at(k).get<double>(), ec.at(k).get<double>()) << k;
  }
  for (const char* k : {"tp", "fp", "tn", "fn"}) EXPECT_EQ(b.at(k).get<int>(), ec.at(k).get<int>()) << k;
  for (int i = 0; i < kEvalImages; ++i) {
    const CsvTable sc = read_csv(out + "/scores.csv");
    EXPECT_EQ(std::stod(sc.rows.at(i).at(1)), rows.at(sc.rows.at(i).at(0)).at(0));
  }

  // The printed tables show the same numbers (4 decimals), beside the paper's.
  const std::string seg_text_log = w().dir.path("seg_text.txt");
  ASSERT_EQ(sh(std::string(kBin) + " metrics seg --pred " + out + "/masks --truth " + w().eval_masks, seg_text_log), 0);
  const std::string seg_text = test::read_file(seg_text_log);
  for (const char* k : {"JA", "DI", "AC", "SE", "SP"}) EXPECT_EQ(number_after(text, k), number_after(seg_text, k)) << k;
  char auc[16];
  std::snprintf(auc, sizeof auc, "%.4f", b.at("auc").get<double>());
  EXPECT_EQ(number_after(text, "AUC"), auc);
  for (const char* want : {"0.816", "0.883", "0.950", "0.871", "0.982", "0.813", "0.794", "0.823", "0.731", "0.977",
                           "count benign as", "ISIC 2017 test split", "thresholded JA"})
    EXPECT_NE(text.find(want), std::string::npos) << want << "\n" << text;
}

// --image-score vote: recorded in metrics.json and said in the tables; the
// masks, boxes and detections are the default's, and predict writes the
// same scores as eval.
TEST_F(CliDetSegEval, ImageScoreVoteChangesOnlyTheMalignancy) {
  const std::string top = w().dir.path("score_top"), vote = w().dir.path("score_vote");
  const std::string pred = w().dir.path("score_pred");
  const std::string log = w().dir.path("score.txt");
  const std::string eval = std::string(kBin) + " eval detseg --model " + w().model + " --data " + w().eval_csv +
                           " --overlays 0 --device cpu --out ";
  ASSERT_EQ(sh(eval + top, log), 0) << test::read_file(log);
  EXPECT_NE(test::read_file(log).find("of the top detection"), std::string::npos) << test::read_file(log);
  ASSERT_EQ(sh(eval + vote + " --image-score vote", log), 0) << test::read_file(log);
  EXPECT_NE(test::read_file(log).find("--image-score vote"), std::string::npos) << test::read_file(log);
  EXPECT_EQ(nlohmann::json::parse(test::read_file(top + "/metrics.json")).at("image_score"), "top");
  EXPECT_EQ(nlohmann::json::parse(test::read_file(vote + "/metrics.json")).at("image_score"), "vote");
  ASSERT_EQ(sh(std::string(kBin) + " predict detseg --model " + w().model + " --data " + w().eval_csv +
                   " --image-score vote --overlays 0 --device cpu --out " + pred,
               log),
            0)
      << test::read_file(log);
  const CsvTable t = read_csv(top + "/predictions.csv"), v = read_csv(vote + "/predictions.csv"),
                 p = read_csv(pred + "/predictions.csv");
  ASSERT_EQ(t.rows.size(), (size_t)kEvalImages);
  ASSERT_EQ(v.rows.size(), t.rows.size());
  ASSERT_EQ(p.rows, v.rows);
  ASSERT_EQ(t.header, v.header);
  int differ = 0;
  for (size_t i = 0; i < t.rows.size(); ++i)
    for (size_t k = 0; k < t.header.size(); ++k) {
      const std::string& col = t.header[k];
      if (col == "malignant" || col == "benign") {
        const double x = std::stod(v.rows[i][k]);
        EXPECT_TRUE(x >= 0 && x <= 1) << col << " " << x;
        differ += col == "malignant" && v.rows[i][k] != t.rows[i][k];
      } else {
        EXPECT_EQ(v.rows[i][k], t.rows[i][k]) << col << " of row " << i;
      }
    }
  EXPECT_GT(differ, 0) << "the vote left every image's score as the top RoI's";
  for (const std::string& id : w().ids)
    EXPECT_EQ(test::read_file(vote + "/masks/" + id + ".png"), test::read_file(top + "/masks/" + id + ".png")) << id;
  // A name it does not know: exit 2 before any work, naming both choices.
  EXPECT_EQ(sh(eval + vote + " --image-score mean", log), 2);
  EXPECT_NE(test::read_file(log).find("'mean'"), std::string::npos) << test::read_file(log);
  EXPECT_NE(test::read_file(log).find("top"), std::string::npos) << test::read_file(log);
}

TEST_F(CliDetSegEval, EvalCopiesTruthWhenTheMaskFolderDoesNotMatch) {
  // The synthetic set's masks are named 000008.png for id synth_000008 and
  // share their folder with the training masks: eval copies the val masks.
  const std::string out = w().dir.path("eval_synth"), log = w().dir.path("eval_synth.txt");
  ASSERT_EQ(sh(std::string(kBin) + " eval detseg --json --model " + w().model + " --data synthetic:" + w().manifest +
                   " --device cpu --out " + out,
               log, w().dir.path("eval_synth_err.txt")),
            0)
      << test::read_file(log);
  const nlohmann::json j = nlohmann::json::parse(test::read_file(log));
  EXPECT_EQ(j, nlohmann::json::parse(test::read_file(out + "/metrics.json")));  // --json prints metrics.json
  EXPECT_EQ(j.at("files").at("truth").get<std::string>(), out + "/truth");
  const std::string seg_log = w().dir.path("seg_synth.txt");
  ASSERT_EQ(sh(std::string(kBin) + " metrics seg --json --pred " + out + "/masks --truth " + out + "/truth", seg_log), 0)
      << test::read_file(seg_log);
  const nlohmann::json s = nlohmann::json::parse(test::read_file(seg_log));
  EXPECT_EQ(s.at("images").get<int>(), 1);
  EXPECT_DOUBLE_EQ(s.at("ja").get<double>(), j.at("segmentation").at("ja").get<double>());
  EXPECT_DOUBLE_EQ(s.at("ac").get<double>(), j.at("segmentation").at("ac").get<double>());
}

// The paper's numbers stand beside ours only for ISIC 2017's val split: not
// for the same images listed by a generic CSV, nor for ISIC 2017 --split all.
TEST_F(CliDetSegEval, PaperNumbersOnlyForIsic2017Val) {
  const std::string out = w().dir.path("eval_nopaper"), log = w().dir.path("nopaper.txt");
  const std::string eval =
      std::string(kBin) + " eval detseg --model " + w().model + " --overlays 0 --device cpu --out " + out;
  const std::string isic_all = " --data isic2017 --split all --data-dir " + w().isic_dir;
  for (const std::string& data : {" --data " + w().eval_csv, isic_all}) {
    SCOPED_TRACE(data);
    ASSERT_EQ(sh(eval + data, log, w().dir.path("nopaper_err.txt")), 0) << test::read_file(log);
    const std::string text = test::read_file(log);
    for (const char* paper : {"0.816", "0.883", "0.794", "Table VIII", "count benign as"})
      EXPECT_EQ(text.find(paper), std::string::npos) << paper << "\n" << text;
    EXPECT_NE(text.find("evaluates its val split, the nearest data here; not for other data or splits"),
              std::string::npos) << text;
    const nlohmann::json j = nlohmann::json::parse(test::read_file(out + "/metrics.json"));
    EXPECT_FALSE(j.contains("paper"));
    EXPECT_EQ(j.at("images").get<int>(), kEvalImages);
    EXPECT_EQ(j.at("split"), data.find("all") != std::string::npos ? "all" : "val");
  }
}

// The crops as a fake HAM10000 (dx mel for the melanomas, nv for the rest):
// no masks, so no segmentation or box scores and no truth/ folder, while the
// classification and the predictions are the CSV's, image for image.
TEST_F(CliDetSegEval, Ham10000ScoresTheClassificationOnly) {
  const std::string csv_out = w().dir.path("eval_ham_csv"), out = w().dir.path("eval_ham");
  const std::string log = w().dir.path("ham.txt"), err = w().dir.path("ham_err.txt");
  fs::create_directories(w().dir.path("hamroot/ham10000"));
  {
    std::ofstream f(w().dir.path("hamroot/ham10000/labels.csv"));
    f << "image_id,lesion_id,dx,localization,image\n";
    for (int i = 0; i < kEvalImages; ++i)
      f << w().ids[i] << ",L" << i << "," << (i % 2 == 0 ? "mel" : "nv") << ",back," << w().eval_images << "/"
        << w().ids[i] << ".png\n";
  }
  const std::string eval = std::string(kBin) + " eval detseg --json --model " + w().model +
                           " --overlays 0 --device cpu --out ";
  ASSERT_EQ(sh(eval + csv_out + " --data " + w().eval_csv, log, err), 0) << test::read_file(log);
  const nlohmann::json want = nlohmann::json::parse(test::read_file(log));
  ASSERT_EQ(sh(eval + out + " --data ham10000 --data-dir " + w().dir.path("hamroot"), log, err), 0)
      << test::read_file(log) << test::read_file(err);
  const nlohmann::json j = nlohmann::json::parse(test::read_file(log));
  EXPECT_EQ(j.at("split"), "test");
  EXPECT_EQ(j.at("images").get<int>(), kEvalImages);
  EXPECT_EQ(j.at("segmentation"), "not scored: the data has no masks");
  EXPECT_EQ(j.at("classification"), want.at("classification"));
  EXPECT_TRUE(j.at("detection").at("mean_box_iou").is_null());
  EXPECT_EQ(j.at("detection").at("detected"), want.at("detection").at("detected"));
  EXPECT_FALSE(j.at("files").contains("truth"));
  EXPECT_FALSE(fs::exists(out + "/truth"));
  EXPECT_EQ(read_predictions(out + "/predictions.csv"), read_predictions(csv_out + "/predictions.csv"));
  // The tables say what was not scored.
  ASSERT_EQ(sh(std::string(kBin) + " eval detseg --model " + w().model + " --overlays 0 --device cpu --out " + out +
                   " --data ham10000 --data-dir " + w().dir.path("hamroot"),
               log, err),
            0);
  const std::string text = test::read_file(log);
  for (const char* want_text : {"segmentation: not scored, the data has no masks", "(no masks, so no box to compare)",
                                "recheck: bin/skinmtl metrics binary"})
    EXPECT_NE(text.find(want_text), std::string::npos) << want_text << "\n" << text;
  EXPECT_EQ(text.find("metrics seg"), std::string::npos) << text;
  // predict takes the same data, its test rows by default, with the same answers.
  const std::string pred = w().dir.path("predict_ham");
  ASSERT_EQ(sh(std::string(kBin) + " predict detseg --model " + w().model + " --overlays 0 --device cpu --out " +
                   pred + " --data ham10000 --data-dir " + w().dir.path("hamroot"),
               log, err),
            0)
      << test::read_file(log) << test::read_file(err);
  EXPECT_EQ(read_predictions(pred + "/predictions.csv"), read_predictions(csv_out + "/predictions.csv"));
}

// --split picks the rows: the synthetic set's one test row; a CSV without a
// split column is evaluated whole with --split all, and by default says so.
TEST_F(CliDetSegEval, SplitChoosesTheRows) {
  const std::string out = w().dir.path("eval_split"), log = w().dir.path("split.txt");
  const std::string eval = std::string(kBin) + " eval detseg --json --model " + w().model +
                           " --overlays 0 --device cpu --out " + out;
  ASSERT_EQ(sh(eval + " --data synthetic:" + w().manifest + " --split test", log, w().dir.path("split_err.txt")), 0)
      << test::read_file(log);
  nlohmann::json j = nlohmann::json::parse(test::read_file(log));
  EXPECT_EQ(j.at("split"), "test");
  EXPECT_EQ(j.at("images").get<int>(), 1);
  EXPECT_EQ(read_predictions(out + "/predictions.csv").begin()->first, "synth_000009");  // 10 = 8 train, 1 val, 1 test

  const std::string nosplit = w().dir.path("eval/nosplit.csv");
  std::string rows = "id,image,mask,melanoma,seborrheic_keratosis\n";
  for (int i = 0; i < kEvalImages; ++i)
    rows += w().ids[i] + ",images/" + w().ids[i] + ".png,masks/" + w().ids[i] + "_segmentation.png,0,0\n";
  test::write_file(nosplit, rows);
  EXPECT_EQ(sh(eval + " --data " + nosplit, log), 1);
  const std::string text = test::read_file(log);
  EXPECT_NE(text.find("no val rows to evaluate (the data has 4 train); it has no split column: --split all "
                      "evaluates every row"),
            std::string::npos) << text;
  EXPECT_EQ(text.find(".cpp:"), std::string::npos) << text;
  ASSERT_EQ(sh(eval + " --data " + nosplit + " --split all", log, w().dir.path("split_err.txt")), 0)
      << test::read_file(log);
  j = nlohmann::json::parse(test::read_file(log));
  EXPECT_EQ(j.at("split"), "all");
  EXPECT_EQ(j.at("images").get<int>(), kEvalImages);
  EXPECT_EQ(sh(eval + " --data " + nosplit + " --split everything", log), 1);
  EXPECT_NE(test::read_file(log).find("train, val, test or all"), std::string::npos) << test::read_file(log);
}

// Two folders: the crops with their masks under three naming rules and in
// three formats (ISIC's _segmentation PNG, PH2's _lesion BMP in 24-bit red and
// in 1 bit, a plain-named PNG), labels in ISIC 2017 Part 3's format: the same
// numbers as the CSV listing the same images.
TEST_F(CliDetSegEval, FolderFormScoresLikeTheDataSet) {
  const std::string masks = w().dir.path("folder_masks");
  fs::create_directories(masks);
  for (int i = 0; i < kEvalImages; ++i) {
    const std::string id = w().ids[i];
    const Image m = load_image(w().eval_masks + "/" + id + "_segmentation.png", 1);
    if (i == 0) save_png(masks + "/" + id + "_segmentation.png", m);
    if (i == 1) test::write_file(masks + "/" + id + "_lesion.bmp", test::bmp_file(m, 24));
    if (i == 2) save_png(masks + "/" + id + ".png", m);
    if (i == 3) test::write_file(masks + "/" + id + "_lesion.bmp", test::bmp_file(m, 1));
  }
  const std::string log = w().dir.path("folder.txt"), err = w().dir.path("folder_err.txt");
  const std::string eval = std::string(kBin) + " eval detseg --model " + w().model + " --overlays 0 --device cpu";
  const std::string a = w().dir.path("folder_csv"), b = w().dir.path("folder_dirs"), c = w().dir.path("folder_nolab");
  ASSERT_EQ(sh(eval + " --json --data " + w().eval_csv + " --out " + a, log, err), 0) << test::read_file(log);
  const nlohmann::json ja = nlohmann::json::parse(test::read_file(log));
  ASSERT_EQ(sh(eval + " --json --images " + w().eval_images + " --masks " + masks + " --labels " + w().part3_csv +
                   " --out " + b,
               log, err),
            0)
      << test::read_file(log) << test::read_file(err);
  const nlohmann::json jb = nlohmann::json::parse(test::read_file(log));
  EXPECT_EQ(jb.at("split"), "folders");
  EXPECT_EQ(jb.at("images").get<int>(), kEvalImages);
  EXPECT_FALSE(jb.contains("paper"));
  EXPECT_NE(jb.at("data").get<std::string>().find("1 rows for other images ignored"), std::string::npos);
  for (const char* k : {"ja", "di", "ac", "se", "sp"})
    EXPECT_DOUBLE_EQ(jb.at("segmentation").at(k).get<double>(), ja.at("segmentation").at(k).get<double>()) << k;
  for (const char* k : {"positives", "accuracy", "auc", "ap", "sensitivity", "specificity"})
    EXPECT_EQ(jb.at("classification").at(k), ja.at("classification").at(k)) << k;
  EXPECT_TRUE(fs::exists(b + "/labels.csv"));

  // Without labels: the segmentation alone; the scores are written, not scored.
  ASSERT_EQ(sh(eval + " --images " + w().eval_images + " --masks " + masks + " --out " + c, log, err), 0)
      << test::read_file(log) << test::read_file(err);
  EXPECT_NE(test::read_file(log).find("classification: not scored, the images have no labels"), std::string::npos)
      << test::read_file(log);
  const nlohmann::json jc = nlohmann::json::parse(test::read_file(c + "/metrics.json"));
  EXPECT_FALSE(jc.contains("classification"));
  EXPECT_DOUBLE_EQ(jc.at("segmentation").at("ja").get<double>(), ja.at("segmentation").at("ja").get<double>());
  EXPECT_TRUE(fs::exists(c + "/scores.csv"));
  EXPECT_FALSE(fs::exists(c + "/labels.csv"));

  // An image without a mask, an image without a labels row, options that do not go together.
  const std::string images = w().dir.path("folder_images");
  fs::create_directories(images);
  fs::copy(w().eval_images + "/crop_0.png", images + "/crop_0.png");
  fs::copy(w().eval_images + "/crop_0.png", images + "/lonely.png");
  auto expect_error = [&](const std::string& args, const std::vector<std::string>& wants) {
    SCOPED_TRACE(args);
    EXPECT_EQ(sh(eval + args + " --out " + c, log), 1);
    const std::string text = test::read_file(log);
    for (const std::string& want : wants) EXPECT_NE(text.find(want), std::string::npos) << want << "\n" << text;
    EXPECT_EQ(text.find(".cpp:"), std::string::npos) << text;
  };
  expect_error(" --images " + images + " --masks " + masks,
               {"1 of 2 images in " + images + " have no mask", "lonely.png"});
  fs::remove(images + "/lonely.png");
  const std::string part3 = w().dir.path("part3_short.csv");
  test::write_file(part3, "image_id,melanoma,seborrheic_keratosis\ncrop_1,1,0\n");
  expect_error(" --images " + images + " --masks " + masks + " --labels " + part3,
               {part3, "no row for 1 of 1 images", "crop_0"});
  expect_error(" --images " + images, {"give --images DIR and --masks DIR together"});
  expect_error(" --images " + images + " --masks " + masks + " --data " + w().eval_csv, {"take the place of --data"});
}

// predict detseg --truth says how many images found their mask; none is an error.
TEST_F(CliDetSegEval, PredictTruthSaysHowManyMatched) {
  const std::string truth = w().dir.path("truth_half"), log = w().dir.path("truth.txt");
  fs::create_directories(truth);
  for (int i = 0; i < 2; ++i)
    fs::copy(w().eval_masks + "/" + w().ids[i] + "_segmentation.png", truth + "/" + w().ids[i] + "_segmentation.png");
  const std::string predict = std::string(kBin) + " predict detseg --model " + w().model + " --images " +
                              w().eval_images + " --overlays 0 --device cpu --out " + w().dir.path("truth_out");
  ASSERT_EQ(sh(predict + " --truth " + truth, log), 0) << test::read_file(log);
  std::string text = test::read_file(log);
  EXPECT_NE(text.find("ground truth: 2 of 4 images matched a mask in " + truth + " (none for crop_2, crop_3)"),
            std::string::npos) << text;
  EXPECT_NE(text.find("against the 2 ground-truth masks"), std::string::npos) << text;

  const std::string other = w().dir.path("truth_other");
  fs::create_directories(other);
  fs::copy(w().eval_masks + "/crop_0_segmentation.png", other + "/mask_of_crop_0.png");
  EXPECT_EQ(sh(predict + " --truth " + other, log), 1);
  text = test::read_file(log);
  EXPECT_NE(text.find("--truth " + other + ": none of the 4 images has a mask there"), std::string::npos) << text;
  EXPECT_NE(text.find("the folder holds mask_of_crop_0.png"), std::string::npos) << text;
  EXPECT_EQ(text.find(".cpp:"), std::string::npos) << text;
}

TEST_F(CliDetSegEval, ErrorsAreClearAndExitNonZero) {
  const std::string log = w().dir.path("err.txt"), out = w().dir.path("err_out");
  auto expect_failure = [&](const std::string& cmd, const std::vector<std::string>& wants) {
    SCOPED_TRACE(cmd);
    const int rc = sh(cmd, log);
    EXPECT_NE(rc, 0);
    const std::string text = test::read_file(log);
    for (const std::string& want : wants) EXPECT_NE(text.find(want), std::string::npos) << want << "\n" << text;
  };
  const std::string missing = w().dir.path("no_such_model.safetensors");
  const std::string good_image = w().eval_images + "/crop_0.png";
  expect_failure(std::string(kBin) + " predict detseg --model " + missing + " --image " + good_image + " --out " + out,
                 {"no_such_model.safetensors", "cannot open"});
  expect_failure(std::string(kBin) + " eval detseg --model " + missing + " --data " + w().eval_csv + " --out " + out,
                 {"no_such_model.safetensors", "cannot open"});
  // A file that is not an image.
  const std::string bad = w().dir.path("not_an_image.png");
  test::write_file(bad, "this is not a PNG file");
  expect_failure(std::string(kBin) + " predict detseg --model " + w().model + " --image " + bad + " --out " + out,
                 {"not_an_image.png", "cannot decode"});
  // ... inside an evaluation set.
  const std::string bad_csv = w().dir.path("bad_data.csv");
  test::write_file(bad_csv, "id,image,mask,melanoma,seborrheic_keratosis,split\n"
                            "broken," + bad + "," + w().eval_masks + "/crop_0_segmentation.png,0,0,val\n");
  // (the file check before any work finds it, with the CSV line)
  expect_failure(std::string(kBin) + " eval detseg --model " + w().model + " --data " + bad_csv + " --out " + out,
                 {"bad_data.csv:2: ", "not_an_image.png: unreadable header"});
  // A missing image file, a mask of another size, no input, two inputs.
  expect_failure(std::string(kBin) + " predict detseg --model " + w().model + " --image " + w().dir.path("none.png") +
                     " --out " + out,
                 {"none.png"});
  const std::string mismatch_csv = w().dir.path("mismatch.csv");
  test::write_file(mismatch_csv, "id,image,mask,melanoma,seborrheic_keratosis,split\n"
                                 "m," + good_image + "," + w().eval_masks + "/crop_1_segmentation.png,0,0,val\n");
  expect_failure(std::string(kBin) + " eval detseg --model " + w().model + " --data " + mismatch_csv + " --out " + out,
                 {"crop_1_segmentation.png", "48x64"});
  expect_failure(std::string(kBin) + " predict detseg --model " + w().model + " --out " + out, {"exactly one of"});
  expect_failure(std::string(kBin) + " predict detseg --model " + w().model + " --image " + good_image + " --data " +
                     w().eval_csv + " --out " + out,
                 {"exactly one of"});
  expect_failure(std::string(kBin) + " predict nonsense", {"unknown model 'nonsense'"});
  EXPECT_EQ(sh(std::string(kBin) + " predict detseg --help", log), 0);
  EXPECT_NE(test::read_file(log).find("--images DIR"), std::string::npos);
  EXPECT_EQ(sh(std::string(kBin) + " eval detseg --help", log), 0);
  EXPECT_NE(test::read_file(log).find("--overlays N"), std::string::npos);
}

}  // namespace
}  // namespace skinmtl
