// End to end through bin/skinmtl: train segcls, resume, eval segcls, and
// `metrics binary` on the files eval writes, on a tiny synthetic set (24
// lesions of 64x64 written by io/synthetic.h, trained at 32x48 with a random
// trunk, so a step takes a fraction of a second).
//
// The binary is built by `make test` before the tests run; tests run from the
// repository root.
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "io/csv.h"
#include "io/csv_log.h"
#include "io/image.h"
#include "io/synthetic.h"
#include "tests/temp_dir.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

const char* kBin = "bin/skinmtl";

// Runs a command line, returns its exit status; output goes to `log`.
int sh(const std::string& cmd, const std::string& log) {
  const int rc = std::system((cmd + " > " + log + " 2>&1").c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// 24 synthetic lesions and a CSV (io/seg_data.h's generic format) whose val
// split holds the first nevus, melanoma and seborrheic keratosis and three
// more, so both binary tasks have a positive and a negative to rank; the
// other 18 train.
std::string write_tiny_set(const std::string& dir, std::vector<std::string>* val_ids) {
  SynthWriteOptions o;
  o.n = 24;
  o.synth.size = 64;
  o.threads = 1;
  o.contact_sheet = 0;
  o.progress = false;
  write_synth_dataset(dir, o);
  std::vector<bool> val(o.n, false);
  bool seen[kSynthDiagnoses] = {false, false, false};
  for (int64_t i = 0; i < o.n; ++i) {
    const int d = synth_labels(o.seed, i).diagnosis;
    if (!seen[d]) {
      seen[d] = true;
      val[i] = true;
    }
  }
  EXPECT_TRUE(seen[kSynthNevus] && seen[kSynthMelanoma] && seen[kSynthSeborrheicKeratosis])
      << "the tiny set lacks a diagnosis; use more samples";
  for (int64_t i = 0, extra = 0; i < o.n && extra < 3; ++i)
    if (!val[i]) {
      val[i] = true;
      ++extra;
    }
  std::ofstream f(dir + "/tiny.csv");
  f << "image,mask,melanoma,seborrheic_keratosis,id,split\n";
  for (int64_t i = 0; i < o.n; ++i) {
    const SynthSample s = synth_labels(o.seed, i);
    char stem[32];
    std::snprintf(stem, sizeof stem, "%06lld", (long long)i);
    f << "images/" << stem << ".jpg,masks/" << stem << ".png," << (int)s.melanoma() << ","
      << (int)s.seborrheic_keratosis() << ",tiny" << stem << "," << (val[i] ? "val" : "train") << "\n";
    if (val[i]) val_ids->push_back(std::string("tiny") + stem);
  }
  return dir + "/tiny.csv";
}

std::string train_cmd(const std::string& csv, const std::string& out, int iters, const std::string& tasks = "both") {
  return std::string(kBin) + " train segcls --data " + csv + " --tasks " + tasks +
         " --weights none --size 32x48 --batch 4 --lr 0.001 --eval-every 3 --ckpt-every 1000 --threads 2"
         " --device cpu --iters " + std::to_string(iters) + " --out " + out;
}

class CliSegCls : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kBin)) GTEST_SKIP() << kBin << " is not built (make test builds it)";
    csv_ = write_tiny_set(dir_.str(), &val_ids_);
  }
  test::TempDir dir_;
  std::string csv_;
  std::vector<std::string> val_ids_;
};

TEST_F(CliSegCls, ResumedRunEqualsUninterruptedRun) {
  const std::string a = dir_.path("a"), b = dir_.path("b"), log = dir_.path("log.txt");
  ASSERT_EQ(sh(train_cmd(csv_, a, 5), log), 0) << test::read_file(log);
  ASSERT_EQ(sh(train_cmd(csv_, b, 2), log), 0) << test::read_file(log);
  ASSERT_EQ(sh(train_cmd(csv_, b, 5) + " --resume", log), 0) << test::read_file(log);
  EXPECT_NE(test::read_file(log).find("resumed from"), std::string::npos);
  // Byte for byte: the same weights (and BN statistics), and the same log rows.
  EXPECT_EQ(test::read_file(a + "/model.safetensors"), test::read_file(b + "/model.safetensors"));
  const CsvColumns la = read_csv_columns(a + "/log.csv"), lb = read_csv_columns(b + "/log.csv");
  for (const char* col : {"iter", "epoch", "lr", "loss", "seg_loss", "melanoma_loss", "sk_loss"})
    EXPECT_EQ(la.column(col), lb.column(col)) << col;
  // Held-out numbers at the scheduled evaluation (iteration 3) and the last.
  const std::vector<double>& ja = la.column("heldout_jaccard");
  ASSERT_EQ(ja.size(), 5u);
  EXPECT_TRUE(std::isnan(ja[0]) && !std::isnan(ja[2]) && !std::isnan(ja[4]));
  EXPECT_GE(ja[4], 0.0);
  EXPECT_LE(ja[4], 1.0);
  EXPECT_FALSE(std::isnan(la.column("heldout_auc_mean")[4]));
  for (const char* png : {"/curves.png", "/metrics.png"}) EXPECT_TRUE(std::filesystem::exists(a + png)) << png;
  // A resume with other options is refused, naming what differs.
  EXPECT_NE(sh(train_cmd(csv_, b, 6) + " --resume --w-sk 2", log), 0);
  EXPECT_NE(test::read_file(log).find("other options"), std::string::npos) << test::read_file(log);
}

TEST_F(CliSegCls, EvalWritesIsicFilesAndItsAucsMatchTheMetricsCommand) {
  const std::string a = dir_.path("a"), ev = dir_.path("ev"), log = dir_.path("log.txt");
  ASSERT_EQ(sh(train_cmd(csv_, a, 2), log), 0) << test::read_file(log);
  ASSERT_EQ(sh(std::string(kBin) + " eval segcls --model " + a + "/model.safetensors --data " + csv_ +
                   " --overlays 2 --device cpu --out " + ev,
               log),
            0)
      << test::read_file(log);
  EXPECT_NE(test::read_file(log).find("Yang et al."), std::string::npos) << test::read_file(log);
  std::ifstream f(ev + "/metrics.json");
  const nlohmann::json m = nlohmann::json::parse(f);
  const double ja = m.at("segmentation").at("jaccard").get<double>();
  EXPECT_GE(ja, 0.0);
  EXPECT_LE(ja, 1.0);
  const double auc_mel = m.at("melanoma").at("auc").get<double>(), auc_sk = m.at("seborrheic_keratosis").at("auc").get<double>();
  EXPECT_NEAR(m.at("mean_auc").get<double>(), (auc_mel + auc_sk) / 2, 1e-12);

  // ISIC 2017 Part 3 format, one row per held-out image, in order.
  const CsvTable pred = read_csv(ev + "/predictions.csv"), labels = read_csv(ev + "/labels.csv");
  const std::vector<std::string> part3 = {"image_id", "melanoma", "seborrheic_keratosis"};
  EXPECT_EQ(pred.header, part3);
  EXPECT_EQ(labels.header, part3);
  ASSERT_EQ(pred.rows.size(), val_ids_.size());
  ASSERT_EQ(labels.rows.size(), val_ids_.size());
  for (size_t i = 0; i < val_ids_.size(); ++i) {
    EXPECT_EQ(pred.rows[i][0], val_ids_[i]);
    EXPECT_EQ(labels.rows[i][0], val_ids_[i]);
    for (int c = 1; c <= 2; ++c) {
      const double p = std::stod(pred.rows[i][c]);
      EXPECT_TRUE(p >= 0 && p <= 1) << pred.rows[i][c];
      EXPECT_TRUE(labels.rows[i][c] == "0" || labels.rows[i][c] == "1") << labels.rows[i][c];
    }
  }

  // A 0/255 mask per image at its source size, and the overlays asked for.
  for (const std::string& id : val_ids_) {
    const Image mask = load_image(ev + "/masks/" + id + ".png", 0);
    EXPECT_EQ(mask.height, 64);
    EXPECT_EQ(mask.width, 64);
    EXPECT_EQ(mask.channels, 1);
    for (uint8_t v : mask.data) ASSERT_TRUE(v == 0 || v == 255) << id;
  }
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(ev + "/overlays"), {}), 2);

  // The same AUCs from the two CSV files through `skinmtl metrics binary`.
  ASSERT_EQ(sh(std::string(kBin) + " metrics binary --json --scores " + ev + "/predictions.csv --labels " + ev +
                   "/labels.csv",
               log),
            0)
      << test::read_file(log);
  const nlohmann::json j = nlohmann::json::parse(test::read_file(log));
  std::map<std::string, double> auc;
  for (const auto& col : j.at("columns")) auc[col.at("column").get<std::string>()] = col.at("auc").get<double>();
  EXPECT_NEAR(auc.at("melanoma"), auc_mel, 1e-12);
  EXPECT_NEAR(auc.at("seborrheic_keratosis"), auc_sk, 1e-12);
}

TEST_F(CliSegCls, SegmentationOnlyVariantWritesMasksButNoClassScores) {
  const std::string a = dir_.path("a"), ev = dir_.path("ev"), log = dir_.path("log.txt");
  ASSERT_EQ(sh(train_cmd(csv_, a, 1, "seg"), log), 0) << test::read_file(log);
  ASSERT_EQ(sh(std::string(kBin) + " eval segcls --model " + a + "/model.safetensors --data " + csv_ +
                   " --overlays 0 --device cpu --out " + ev,
               log),
            0)
      << test::read_file(log);
  EXPECT_EQ((size_t)std::distance(std::filesystem::directory_iterator(ev + "/masks"), {}), val_ids_.size());
  EXPECT_FALSE(std::filesystem::exists(ev + "/predictions.csv"));
  EXPECT_FALSE(std::filesystem::exists(ev + "/overlays"));
  const nlohmann::json m = nlohmann::json::parse(test::read_file(ev + "/metrics.json"));
  EXPECT_TRUE(m.contains("segmentation"));
  EXPECT_FALSE(m.contains("melanoma"));
}

}  // namespace
}  // namespace skinmtl
