// End to end through bin/skinmtl: `train detseg` on a tiny synthetic data set
// (io/synthetic.h, 10 images at 64 x 64, written by the test), through all
// three phases; a run stopped and resumed equals one that never stopped, byte
// for byte; the model file carries the configuration that rebuilds it.
//
// The binary is built by `make test` before the tests run; tests run from the
// repository root.
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "app/detseg_model.h"
#include "io/csv_log.h"
#include "io/safetensors.h"
#include "io/synthetic.h"
#include "tests/io_test_util.h"
#include "tests/temp_dir.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

const char* kBin = test::skinmtl_bin();

using test::sh;

std::string train_cmd(const std::string& manifest, const std::string& out, int phase3) {
  return std::string(kBin) + " train detseg --data synthetic:" + manifest +
         " --weights none --size 64 --channels 16 --rois 16 --batch 2 --lr 0.002"
         " --phase1 1 --phase2 1 --eval-every 2 --ckpt-every 1 --threads 2 --device cpu --phase3 " +
         std::to_string(phase3) + " --out " + out;
}

class CliDetSeg : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kBin)) GTEST_SKIP() << kBin << " is not built (make test builds it)";
    SynthWriteOptions so;
    so.n = 10;  // 8 train, 1 val, 1 test
    so.synth.size = 64;
    so.contact_sheet = 0;
    so.progress = false;
    manifest_ = write_synth_dataset(dir_.path("synth"), so).manifest;
  }
  test::TempDir dir_;
  std::string manifest_;
};

TEST_F(CliDetSeg, ItersSharesTheBudgetAmongThePhases) {
  // --iters 4 with the paper's 1:2:1: phases 1, 2, 2, 3.
  const std::string out = dir_.path("iters"), log = dir_.path("iters.txt");
  ASSERT_EQ(sh(std::string(kBin) + " train detseg --data synthetic:" + manifest_ +
                   " --weights none --size 64 --channels 16 --rois 16 --batch 2 --eval-every 0 --ckpt-every 10"
                   " --threads 2 --device cpu --iters 4 --out " + out,
               log),
            0)
      << test::read_file(log);
  EXPECT_NE(test::read_file(log).find("1 + 2 + 1 iterations"), std::string::npos) << test::read_file(log);
  EXPECT_EQ(read_csv_columns(out + "/log.csv").column("phase"), (std::vector<double>{1, 2, 2, 3}));
}

TEST_F(CliDetSeg, ResumedRunEqualsUninterruptedRun) {
  const std::string a = dir_.path("a"), b = dir_.path("b"), log = dir_.path("log.txt");
  ASSERT_EQ(sh(train_cmd(manifest_, a, 2), log), 0) << test::read_file(log);
  ASSERT_EQ(sh(train_cmd(manifest_, b, 1), log), 0) << test::read_file(log);
  ASSERT_EQ(sh(train_cmd(manifest_, b, 2) + " --resume", log), 0) << test::read_file(log);
  EXPECT_NE(test::read_file(log).find("resumed from"), std::string::npos);
  EXPECT_EQ(test::read_file(a + "/model.safetensors"), test::read_file(b + "/model.safetensors"));
  const CsvColumns la = read_csv_columns(a + "/log.csv"), lb = read_csv_columns(b + "/log.csv");
  for (const char* col : {"iter", "phase", "lr", "loss", "rpn_cls", "rpn_reg", "cls", "reg", "mask"})
    EXPECT_EQ(la.column(col), lb.column(col)) << col;
  // Phases 1, 2, 3, 3 at lr, lr, lr / 10, lr / 10.
  EXPECT_EQ(la.column("phase"), (std::vector<double>{1, 2, 3, 3}));
  const std::vector<double> lr = la.column("lr"), want_lr = {0.002, 0.002, 0.0002, 0.0002};
  ASSERT_EQ(lr.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(lr[i], want_lr[i], 1e-15) << i;
  for (double v : la.column("loss")) EXPECT_TRUE(std::isfinite(v));
  const std::vector<double> jac = la.column("heldout_jaccard");
  EXPECT_TRUE(std::isfinite(jac[1]) && jac[1] >= 0 && jac[1] <= 1) << jac[1];
  EXPECT_TRUE(std::filesystem::exists(a + "/curves.png"));
  EXPECT_TRUE(std::filesystem::exists(a + "/loss_terms.png"));
  // The model file rebuilds itself: its configuration is in the metadata.
  const TensorFile f = load_safetensors(a + "/model.safetensors");
  EXPECT_EQ(f.meta("arch"), "detseg_resnet50_fpn");
  const nlohmann::json j = nlohmann::json::parse(f.meta("detseg_config"));
  EXPECT_EQ(j.at("channels").get<int>(), 16);
  EXPECT_EQ(j.at("size").get<int>(), 64);
  EXPECT_EQ(j.at("roi_sample").at("batch_size").get<int>(), 16);
  EXPECT_TRUE(f.has("roi_heads.mask_logits.weight"));
  EXPECT_TRUE(f.has("fpn.lateral.3.weight"));
  EXPECT_TRUE(f.has("backbone.layer4.2.conv3.weight"));
  // The Classify subnet's loss is the paper's focal loss unless told otherwise,
  // and the model file says which; a file written before the option read as
  // the cross-entropy it was trained with.
  EXPECT_EQ(j.at("cls_loss").get<std::string>(), "focal");
  nlohmann::json old_file = j;
  old_file.erase("cls_loss");
  EXPECT_EQ(detseg_spec_from_json(old_file.dump(), "a file without cls_loss").config.cls_loss,
            DetSegClsLoss::CrossEntropy);
  // A resume with other options is refused, naming what differs.
  EXPECT_NE(sh(train_cmd(manifest_, b, 3) + " --resume --seed 9", log), 0);
  EXPECT_NE(test::read_file(log).find("other options"), std::string::npos) << test::read_file(log);
  EXPECT_NE(sh(train_cmd(manifest_, b, 3) + " --resume --cls-loss ce", log), 0);
  EXPECT_NE(test::read_file(log).find("cls-loss"), std::string::npos) << test::read_file(log);
  // The RoI levels' canonical sizes: Lin et al.'s 224 unless told, also for a file without them;
  // a resume with another is refused by name; a bad one is a usage error.
  EXPECT_EQ(j.at("box_canonical").get<double>(), 224.0);
  EXPECT_EQ(j.at("mask_canonical").get<double>(), 224.0);
  old_file.erase("box_canonical");
  old_file.erase("mask_canonical");
  const DetSegConfig old_config = detseg_spec_from_json(old_file.dump(), "a file without them").config;
  EXPECT_EQ(old_config.heads.box_canonical, 224.0);
  EXPECT_EQ(old_config.heads.mask_canonical, 224.0);
  EXPECT_NE(sh(train_cmd(manifest_, b, 3) + " --resume --box-canonical 56", log), 0);
  EXPECT_NE(test::read_file(log).find("box-canonical: checkpoint (none), now 56"), std::string::npos)
      << test::read_file(log);
  EXPECT_EQ(sh(train_cmd(manifest_, dir_.path("bad"), 1) + " --mask-canonical 0.5", log), 2);
  EXPECT_NE(test::read_file(log).find("--mask-canonical must be in [1, 100000], got 0.5"), std::string::npos)
      << test::read_file(log);
}

// --cls-loss ce trains the Classify subnet with the softmax cross-entropy: on
// the same first batch its loss is above 4 times the focal one (alpha = 0.25,
// and (1 - p)^2 < 1). A bad name is a usage error before any work.
TEST_F(CliDetSeg, ClsLossChoosesTheClassifySubnetsLoss) {
  const std::string focal = dir_.path("focal"), ce = dir_.path("ce"), log = dir_.path("log.txt");
  ASSERT_EQ(sh(train_cmd(manifest_, focal, 0), log), 0) << test::read_file(log);
  ASSERT_EQ(sh(train_cmd(manifest_, ce, 0) + " --cls-loss ce", log), 0) << test::read_file(log);
  const double f = read_csv_columns(focal + "/log.csv").column("cls").at(0);
  const double c = read_csv_columns(ce + "/log.csv").column("cls").at(0);
  EXPECT_GT(f, 0.0);
  EXPECT_GT(c, 4 * f) << "focal " << f << ", cross-entropy " << c;
  EXPECT_EQ(nlohmann::json::parse(load_safetensors(ce + "/model.safetensors").meta("detseg_config"))
                .at("cls_loss")
                .get<std::string>(),
            "ce");
  EXPECT_EQ(sh(train_cmd(manifest_, dir_.path("bad"), 0) + " --cls-loss hinge", log), 2);
  EXPECT_NE(test::read_file(log).find("--cls-loss must be focal or ce, got 'hinge'"), std::string::npos)
      << test::read_file(log);
  EXPECT_FALSE(std::filesystem::exists(dir_.path("bad") + "/log.csv"));
}

// --cls-weight 4 weighs the Classify subnet's term 4 times in the loss: the
// first step logs the same unweighted `cls` as a weight-1 run and a loss 3 cls
// higher; the model file records the weight (files without it read as 1); a
// resume with another weight is refused by name, a bad weight before any work.
TEST_F(CliDetSeg, ClsWeightWeighsTheClassifyTerm) {
  const std::string one = dir_.path("one"), four = dir_.path("four"), log = dir_.path("log.txt");
  ASSERT_EQ(sh(train_cmd(manifest_, one, 0), log), 0) << test::read_file(log);
  ASSERT_EQ(sh(train_cmd(manifest_, four, 0) + " --cls-weight 4", log), 0) << test::read_file(log);
  const CsvColumns a = read_csv_columns(one + "/log.csv"), b = read_csv_columns(four + "/log.csv");
  const double cls = a.column("cls").at(0);
  ASSERT_GT(cls, 0.0);
  EXPECT_DOUBLE_EQ(b.column("cls").at(0), cls);
  EXPECT_NEAR(b.column("loss").at(0) - a.column("loss").at(0), 3 * cls, 1e-4 * b.column("loss").at(0));
  const nlohmann::json j = nlohmann::json::parse(load_safetensors(four + "/model.safetensors").meta("detseg_config"));
  EXPECT_EQ(j.at("cls_weight").get<double>(), 4.0);
  nlohmann::json old_file = j;
  old_file.erase("cls_weight");
  EXPECT_EQ(detseg_spec_from_json(old_file.dump(), "a file without cls_weight").config.cls_weight, 1.0);
  EXPECT_NE(sh(train_cmd(manifest_, four, 1) + " --resume", log), 0);
  EXPECT_NE(test::read_file(log).find("cls-weight"), std::string::npos) << test::read_file(log);
  EXPECT_EQ(sh(train_cmd(manifest_, dir_.path("bad"), 0) + " --cls-weight 0", log), 2);
  EXPECT_NE(test::read_file(log).find("--cls-weight must be in (0, 10000], got 0"), std::string::npos)
      << test::read_file(log);
  EXPECT_FALSE(std::filesystem::exists(dir_.path("bad") + "/log.csv"));
}

// --box-lr-mult 10: one step of phase 1 from the same initial values moves
// each of fc6, fc7, cls_score and bbox_pred 10 times as far as the paper's
// lr does (SGD's first step is lr x mult x (g + wd w), the clip applies to g
// before), and every other parameter exactly as far; the trunk, FPN and RPN
// stay at their initial values in phase 1. A resume with another multiplier
// is refused by name, a bad one before any work.
TEST_F(CliDetSeg, BoxLrMultLengthensTheBoxBranchsStepsAlone) {
  const std::string one = dir_.path("one"), ten = dir_.path("ten"), log = dir_.path("log.txt");
  const std::string cmd = std::string(kBin) + " train detseg --data synthetic:" + manifest_ +
                          " --weights none --size 64 --channels 16 --rois 16 --batch 2 --lr 0.002 --phase1 1"
                          " --phase2 0 --phase3 0 --eval-every 0 --ckpt-every 1 --threads 2 --device cpu";
  ASSERT_EQ(sh(cmd + " --out " + one, log), 0) << test::read_file(log);
  ASSERT_EQ(sh(cmd + " --box-lr-mult 10 --out " + ten, log), 0) << test::read_file(log);
  const DetSegModel a = load_detseg_model(one + "/model.safetensors"), b = load_detseg_model(ten + "/model.safetensors");
  const DetSegModel start = new_detseg_model(a.spec, "none", 1);  // the runs' initial values (seed 1)
  const auto pa = a.net->named_parameters(), pb = b.net->named_parameters(), p0 = start.net->named_parameters();
  ASSERT_EQ(pa.size(), p0.size());
  ASSERT_EQ(pb.size(), p0.size());
  int box = 0, moved_alike = 0;
  for (size_t i = 0; i < p0.size(); ++i) {
    const std::string& name = p0[i].first;
    ASSERT_EQ(pa[i].first, name);
    const std::vector<double> w0 = p0[i].second->value.to_vector(), w1 = pa[i].second->value.to_vector(),
                              w10 = pb[i].second->value.to_vector();
    double d1 = 0, d10 = 0, cross = 0, err = 0;
    for (size_t k = 0; k < w0.size(); ++k) {
      const double s1 = w1[k] - w0[k], s10 = w10[k] - w0[k];
      d1 += s1 * s1, d10 += s10 * s10, cross += s1 * s10;
    }
    const bool in_box = name.rfind("roi_heads.fc6.", 0) == 0 || name.rfind("roi_heads.fc7.", 0) == 0 ||
                        name.rfind("roi_heads.cls_score.", 0) == 0 || name.rfind("roi_heads.bbox_pred.", 0) == 0;
    if (name.rfind("roi_heads.", 0) != 0) {  // not trained in phase 1
      EXPECT_EQ(d1, 0.0) << name;
      EXPECT_EQ(d10, 0.0) << name;
      continue;
    }
    if (d1 == 0) continue;  // a parameter the first step's gradient did not reach
    if (in_box) {
      ++box;
      // the same direction, 10 times as long (float32 steps: relative 1e-3)
      EXPECT_NEAR(std::sqrt(d10 / d1), 10.0, 1e-2) << name;
      EXPECT_NEAR(cross / std::sqrt(d1 * d10), 1.0, 1e-4) << name;
    } else {
      ++moved_alike;
      for (size_t k = 0; k < w0.size(); ++k) err = std::max(err, std::fabs(w10[k] - w1[k]));
      EXPECT_EQ(err, 0.0) << name << ": outside the box branch, the step is the paper's";
    }
  }
  EXPECT_EQ(box, 8) << "the weights and biases of fc6, fc7, cls_score and bbox_pred";
  EXPECT_GT(moved_alike, 0) << "the mask head trains in phase 1 too";
  EXPECT_NE(sh(cmd + " --phase3 1 --resume --out " + ten, log), 0);
  EXPECT_NE(test::read_file(log).find("box-lr-mult"), std::string::npos) << test::read_file(log);
  EXPECT_EQ(sh(cmd + " --box-lr-mult 0 --out " + dir_.path("bad"), log), 2);
  EXPECT_NE(test::read_file(log).find("--box-lr-mult must be in (0, 1000], got 0"), std::string::npos)
      << test::read_file(log);
  EXPECT_FALSE(std::filesystem::exists(dir_.path("bad") + "/log.csv"));
}

// Hostile detector metadata: a letterbox of 100000 pixels, an IoU threshold
// above 1, no anchor sizes: refused by name before any work.
TEST_F(CliDetSeg, HostileModelMetadataIsRefusedByName) {
  const std::string a = dir_.path("a"), bad = dir_.path("bad.safetensors"), log = dir_.path("log.txt");
  ASSERT_EQ(sh(train_cmd(manifest_, a, 0), log), 0) << test::read_file(log);
  struct Case {
    const char* pointer;
    nlohmann::json value;
    const char* want;
  };
  for (const Case& c : {Case{"/size", 100000, "size must be in [64, 8192], got 100000"},
                        Case{"/roi_sample/fg_iou", 1.5, "roi_sample.fg_iou must be in [0, 1], got 1.5"},
                        Case{"/anchor_sizes", nlohmann::json::array(), "anchor_sizes must have 1 to 16 entries"},
                        Case{"/input_std/0", 0, "input_std[0] must be in (0, 1000]"},
                        Case{"/cls_loss", "hinge", "cls_loss must be focal or ce, got 'hinge'"}}) {
    test::write_model_with_edit(a + "/model.safetensors", bad, "detseg_config", c.pointer, c.value);
    EXPECT_NE(sh(std::string(kBin) + " eval detseg --model " + bad + " --data synthetic:" + manifest_ +
                     " --device cpu --out " + dir_.path("ev"),
                 log),
              0)
        << c.pointer;
    const std::string text = test::read_file(log);
    EXPECT_NE(text.find(c.want), std::string::npos) << text;
    EXPECT_NE(text.find(bad), std::string::npos) << "the error must name the file: " << text;
  }
}

TEST_F(CliDetSeg, HelpAndBadOptions) {
  const std::string log = dir_.path("log.txt");
  ASSERT_EQ(sh(std::string(kBin) + " train detseg --help", log), 0);
  EXPECT_NE(test::read_file(log).find("--phase1"), std::string::npos);
  EXPECT_NE(sh(train_cmd(manifest_, dir_.path("x"), 1) + " --bn sometimes", log), 0);
  EXPECT_NE(test::read_file(log).find("--bn"), std::string::npos) << test::read_file(log);
}

// --precision bf16 on the CPU (computed through float32, framework/precision.h):
// the same first batch gives a first loss within a few per cent of fp32's but
// not the same bits, the run says BF16, and its model evaluates in bf16 too.
// With the trunk's batch norms frozen: a randomly initialised ResNet-50 whose
// batch norms use batch statistics is chaotic (rounding only its input to
// bfloat16 moves its float32 feature map by 20%), so the comparison would
// measure that, not bfloat16. Frozen, it still amplifies rounding: where the
// bfloat16 roundings fall moves the first loss by several per cent. Measured
// here (fp32 138.96 in all three): bf16 142.72 (+2.7%) with every frozen batch
// norm folded (SKINMTL_FOLD_BN=all), 135.13 (-2.8%) with none (0), 129.45
// (-6.8%) with the default, which folds the units whose outputs outnumber
// their weights (framework/module.h). Hence 10%.
TEST_F(CliDetSeg, Bf16TrainsWithAFirstLossNearFp32AndEvaluates) {
  const std::string a = dir_.path("a"), b = dir_.path("b"), ev = dir_.path("ev"), log = dir_.path("log.txt");
  ASSERT_EQ(sh(train_cmd(manifest_, a, 1) + " --bn frozen", log), 0) << test::read_file(log);
  ASSERT_EQ(sh(train_cmd(manifest_, b, 1) + " --bn frozen --precision bf16", log), 0) << test::read_file(log);
  EXPECT_NE(test::read_file(log).find("(BF16)"), std::string::npos) << test::read_file(log);
  const double la = read_csv_columns(a + "/log.csv").column("loss").at(0);
  const double lb = read_csv_columns(b + "/log.csv").column("loss").at(0);
  EXPECT_NEAR(lb, la, 0.10 * std::fabs(la));
  EXPECT_NE(lb, la);
  ASSERT_EQ(sh(std::string(kBin) + " eval detseg --model " + b + "/model.safetensors --data synthetic:" + manifest_ +
                   " --overlays 1 --precision bf16 --device cpu --out " + ev,
               log),
            0)
      << test::read_file(log);
  EXPECT_TRUE(std::filesystem::exists(ev + "/metrics.json"));
}

}  // namespace
}  // namespace skinmtl
