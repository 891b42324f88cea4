// End to end through bin/skinmtl: `reproduce yang|song|liao`. The recipes
// themselves (sizes, schedules, both budgets) are checked through --dry-run;
// the whole pipeline (train, eval, results.md / results.json, skipping
// finished steps, resuming a training step from its checkpoint) through
// --smoke runs on the real data in ../shared/data, which take a few
// iterations at a tiny size. Tests that need the data or the ImageNet weights
// report themselves skipped, by name, when those are missing.
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tests/temp_dir.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

namespace fs = std::filesystem;
const char* kBin = test::skinmtl_bin();

// Runs a command line; returns its exit status and puts stdout + stderr in *out.
int sh(const std::string& cmd, std::string* out) {
  const std::string log = fs::temp_directory_path() / ("reproduce_test_" + std::to_string(::getpid()) + ".log");
  const int rc = std::system((cmd + " > " + log + " 2>&1").c_str());
  std::ifstream f(log);
  std::stringstream ss;
  ss << f.rdbuf();
  *out = ss.str();
  fs::remove(log);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

bool have(const std::string& path) { return fs::exists(path); }

#define REQUIRE_REAL_DATA(dir)                                                                     \
  do {                                                                                             \
    if (!have("../shared/data/" dir "/labels.csv")) GTEST_SKIP() << "no ../shared/data/" dir;      \
    if (!have("weights/resnet50_imagenet.safetensors")) GTEST_SKIP() << "no weights (make weights)"; \
  } while (0)

nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  EXPECT_TRUE(f) << "missing " << path;
  nlohmann::json j;
  if (f) f >> j;
  return j;
}

TEST(CliReproduce, HelpGoesToStdoutAndBadInputIsAClearError) {
  std::string out;
  EXPECT_EQ(sh(std::string(kBin) + " reproduce --help 2>/dev/null", &out), 0);
  EXPECT_NE(out.find("reproduce yang|song|liao"), std::string::npos) << out;
  EXPECT_NE(sh(std::string(kBin) + " reproduce hinton", &out), 0);
  EXPECT_NE(out.find("unknown paper 'hinton'"), std::string::npos) << out;
  EXPECT_NE(sh(std::string(kBin) + " reproduce yang --budget tpu --dry-run", &out), 0);
  EXPECT_NE(out.find("--budget must be cpu or gpu"), std::string::npos) << out;
  EXPECT_NE(sh(std::string(kBin) + " reproduce yang --epochs 3", &out), 0);
  EXPECT_NE(out.find("epochs"), std::string::npos) << out;
}

// The CPU recipe is the 3-hour one; --budget gpu gives the paper's sizes and schedules.
TEST(CliReproduce, DryRunShowsEachBudgetsRecipe) {
  struct Case {
    const char* paper;
    const char* budget;
    std::vector<std::string> want;
  };
  const std::vector<Case> cases = {
      {"yang", "cpu", {"train segcls", "--size 120x160", "--iters 2000", "--lr-schedule cosine", "eval segcls"}},
      {"yang", "gpu", {"--size 192x256", "--iters 10000"}},
      {"song", "cpu",
       {"train detseg", "--size 256", "--phase1 300", "--phase2 1500", "--phase3 700", "--clip-norm 25", "eval detseg"}},
      {"song", "gpu", {"--size 1024", "--phase1 40000", "--phase2 80000", "--phase3 40000", "--clip-norm 5"}},
      {"liao", "cpu", {"--tasks both", "--tasks lesion", "--iters 2000", "--crop 128", "--model2", "--crops 10", "--fold 0"}},
      {"liao", "gpu", {"--min-short 256", "--max-short 480", "--crop 224", "--resize 256"}},
  };
  for (const Case& c : cases) {
    std::string out;
    ASSERT_EQ(sh(std::string(kBin) + " reproduce " + c.paper + " --budget " + c.budget + " --dry-run --out /nonexistent",
                 &out),
              0)
        << out;
    for (const std::string& w : c.want)
      EXPECT_NE(out.find(w), std::string::npos) << c.paper << " " << c.budget << ": no '" << w << "' in\n" << out;
    EXPECT_FALSE(have("/nonexistent")) << "--dry-run must not write anything";
  }
}

// --iters N: a GPU lent for minutes runs a shortened recipe; the detector's
// three phases share N in the recipe's proportions. --precision tf32 reaches
// the training steps only, and only on a GPU.
TEST(CliReproduce, ItersShortensTheRecipeAndPrecisionNeedsAGpu) {
  std::string out;
  ASSERT_EQ(sh(std::string(kBin) + " reproduce song --budget cpu --iters 1000 --dry-run --out /nonexistent", &out), 0)
      << out;
  // 300 : 1500 : 700 of 2500 -> 120 : 600 : 280 of 1000.
  EXPECT_NE(out.find("--phase1 120 --phase2 600 --phase3 280"), std::string::npos) << out;
  ASSERT_EQ(sh(std::string(kBin) + " reproduce liao --budget gpu --iters 7 --dry-run --out /nonexistent", &out), 0)
      << out;
  EXPECT_EQ(out.find("--iters 20000"), std::string::npos) << out;
  size_t n = 0;
  for (size_t at = out.find("--iters 7 "); at != std::string::npos; at = out.find("--iters 7 ", at + 1)) ++n;
  EXPECT_EQ(n, 2u) << "both training steps shortened:\n" << out;
  EXPECT_NE(sh(std::string(kBin) + " reproduce yang --iters 0 --dry-run", &out), 0);
  EXPECT_NE(out.find("--iters must be at least 1"), std::string::npos) << out;
  EXPECT_NE(sh(std::string(kBin) + " reproduce yang --precision tf32 --device cpu --dry-run", &out), 0);
  EXPECT_NE(out.find("--precision tf32 is a GPU mode"), std::string::npos) << out;
  EXPECT_NE(sh(std::string(kBin) + " reproduce yang --precision fp16 --dry-run", &out), 0);
  EXPECT_NE(out.find("--precision must be fp32, tf32 or bf16"), std::string::npos) << out;
  // bf16 reaches every training step and is listed among the departures.
  ASSERT_EQ(sh(std::string(kBin) + " reproduce liao --device cpu --precision bf16 --dry-run --out /nonexistent", &out),
            0)
      << out;
  size_t with = 0;
  for (size_t at = out.find("--precision bf16"); at != std::string::npos; at = out.find("--precision bf16", at + 1))
    ++with;
  EXPECT_EQ(with, 2u) << out;
}

TEST(CliReproduce, YangSmokeWritesResultsSkipsFinishedStepsAndResumes) {
  REQUIRE_REAL_DATA("isic2017");
  test::TempDir tmp;
  const std::string dir = tmp.path("yang");
  const std::string cmd = std::string(kBin) + " reproduce yang --smoke --device cpu --out " + dir;
  std::string out;
  ASSERT_EQ(sh(cmd, &out), 0) << out;
  nlohmann::json r = read_json(dir + "/results.json");
  EXPECT_EQ(r["paper"], "yang");
  EXPECT_EQ(r["budget"], "cpu");
  EXPECT_TRUE(r["smoke"].get<bool>());
  const nlohmann::json& m = r["results"][0]["metrics"];
  EXPECT_DOUBLE_EQ(m["JA"]["paper"].get<double>(), 0.724);
  EXPECT_DOUBLE_EQ(m["mean AUC"]["paper"].get<double>(), 0.926);
  EXPECT_DOUBLE_EQ(m["JA"]["target"].get<double>(), 0.76);
  const double ja = m["JA"]["ours"].get<double>();
  EXPECT_TRUE(ja >= 0 && ja <= 1) << ja;
  EXPECT_EQ(m["JA"]["target_met"].get<bool>(), ja >= 0.76);
  // The numbers are the eval step's own.
  const nlohmann::json ev = read_json(dir + "/eval/metrics.json");
  EXPECT_DOUBLE_EQ(ja, ev["segmentation"]["jaccard"].get<double>());
  EXPECT_DOUBLE_EQ(m["mean AUC"]["ours"].get<double>(), ev["mean_auc"].get<double>());
  ASSERT_EQ(r["steps"].size(), 2u);
  for (const auto& s : r["steps"]) EXPECT_GT(s["wall_s"].get<double>(), 0) << s.dump();
  EXPECT_NEAR(r["wall_s"].get<double>(),
              r["steps"][0]["wall_s"].get<double>() + r["steps"][1]["wall_s"].get<double>(), 1e-6);
  EXPECT_GE(r["departures"].size(), 3u);
  std::ifstream md(dir + "/results.md");
  std::stringstream ss;
  ss << md.rdbuf();
  EXPECT_NE(ss.str().find("| paper |"), std::string::npos) << ss.str();
  EXPECT_NE(ss.str().find("0.724"), std::string::npos) << ss.str();
  EXPECT_NE(ss.str().find("Departures"), std::string::npos) << ss.str();

  // The same command again: both steps are done, nothing is retrained.
  ASSERT_EQ(sh(cmd, &out), 0) << out;
  size_t done = 0;
  for (size_t p = out.find("done already"); p != std::string::npos; p = out.find("done already", p + 1)) ++done;
  EXPECT_EQ(done, 2u) << out;
  EXPECT_EQ(out.find("train segcls ["), std::string::npos) << out;

  // As after an interruption: the model and the evaluation gone, the
  // checkpoint left. The training step continues from the checkpoint.
  fs::remove(dir + "/train/model.safetensors");
  fs::remove_all(dir + "/eval");
  ASSERT_EQ(sh(cmd, &out), 0) << out;
  EXPECT_NE(out.find("--resume"), std::string::npos) << out;
  EXPECT_NE(out.find("resumed from"), std::string::npos) << out;
  EXPECT_TRUE(have(dir + "/eval/metrics.json"));
  EXPECT_TRUE(have(dir + "/results.md"));
}

TEST(CliReproduce, SongSmokeEndToEnd) {
  REQUIRE_REAL_DATA("isic2017");
  test::TempDir tmp;
  const std::string dir = tmp.path("song");
  std::string out;
  ASSERT_EQ(sh(std::string(kBin) + " reproduce song --smoke --device cpu --out " + dir, &out), 0) << out;
  const nlohmann::json r = read_json(dir + "/results.json");
  const nlohmann::json& m = r["results"][0]["metrics"];
  EXPECT_DOUBLE_EQ(m["JA"]["paper"].get<double>(), 0.816);
  EXPECT_DOUBLE_EQ(m["melanoma AUC"]["target"].get<double>(), 0.80);
  const nlohmann::json ev = read_json(dir + "/eval/metrics.json");
  EXPECT_DOUBLE_EQ(m["JA"]["ours"].get<double>(), ev["segmentation"]["ja"].get<double>());
}

TEST(CliReproduce, LiaoSmokeTestsThePapersClaimOnItsNumbers) {
  REQUIRE_REAL_DATA("ham10000");
  test::TempDir tmp;
  const std::string dir = tmp.path("liao");
  std::string out;
  ASSERT_EQ(sh(std::string(kBin) + " reproduce liao --smoke --device cpu --out " + dir, &out), 0) << out;
  const nlohmann::json r = read_json(dir + "/results.json");
  ASSERT_EQ(r["results"].size(), 3u);
  const nlohmann::json ev = read_json(dir + "/eval/metrics.json");
  const double mtl = ev["model"]["map_class"].get<double>(), les = ev["model2"]["map_class"].get<double>(),
               ens = ev["ensemble"]["map_class"].get<double>();
  EXPECT_DOUBLE_EQ(r["results"][0]["metrics"]["mAP-class"]["ours"].get<double>(), mtl);
  EXPECT_DOUBLE_EQ(r["results"][2]["metrics"]["mAP-class"]["ours"].get<double>(), ens);
  EXPECT_EQ(r["paper_claim"]["map_class_mtl_ge_lesion_only"].get<bool>(), mtl >= les);
  EXPECT_EQ(r["paper_claim"]["map_class_ensemble_best"].get<bool>(), ens >= mtl && ens >= les);
  // The lesion-only model has no location head: no location numbers in its row.
  EXPECT_TRUE(r["results"][1]["metrics"]["location top-1"]["ours"].is_null());
  EXPECT_TRUE(r["results"][0]["metrics"]["location top-1"]["ours"].is_number());
}

}  // namespace
}  // namespace skinmtl
