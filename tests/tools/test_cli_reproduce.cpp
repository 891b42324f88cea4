// End to end through bin/skinmtl: `reproduce yang|song|liao`. The recipes
// themselves (sizes, schedules, both budgets) are checked through --dry-run;
// the whole pipeline (train, eval, results.md / results.json, skipping
// finished steps, resuming a training step from its checkpoint) through
// --smoke runs on the real data in ../shared/data, which take a few
// iterations at a tiny size. Tests that need the data or the ImageNet weights
// report themselves skipped, by name, when those are missing.
#include <sys/wait.h>

#include <cmath>
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
  EXPECT_EQ(sh(std::string(kBin) + " reproduce liao --seeds 0 --dry-run", &out), 2);
  EXPECT_NE(out.find("--seeds must be 1 to 100, got 0"), std::string::npos) << out;
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
      {"yang", "cpu",
       {"train segcls", "--size 120x160", "--iters 2000", "--lr-schedule cosine", "eval segcls",
        "3. external test", "eval segcls --data ham10000", "4. evaluate on ISIC 2017 val again",
        "--tta flips --overlays 0 --device cpu --out /nonexistent/eval_tta"}},
      {"yang", "gpu", {"--size 192x256", "--iters 10000"}},
      {"song", "cpu",
       {"train detseg", "--size 256", "--phase1 300", "--phase2 1500", "--phase3 700", "--clip-norm 25",
        "--box-canonical 56", "eval detseg", "eval detseg --data ham10000"}},
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
    // The paper's 1024 keeps FPN's own canonical size: no option passed.
    if (std::string(c.paper) == "song" && std::string(c.budget) == "gpu") {
      EXPECT_EQ(out.find("--box-canonical"), std::string::npos) << out;
    }
  }
}

// The two ISIC 2017 recipes end with the external test on HAM10000, whose
// numbers make a second table in results.md and results.json, read from that
// step's own metrics.json. A smoke run leaves the step out (4790 images).
// Here every step's output is faked, so that reproduce only writes the results.
TEST(CliReproduce, ExternalTestOnHam10000IsASecondTable) {
  test::TempDir dir;
  const std::string out = dir.path("yang");
  fs::create_directories(out + "/train");
  fs::create_directories(out + "/eval");
  fs::create_directories(out + "/ham10000");
  fs::create_directories(out + "/eval_tta");
  test::write_file(out + "/train/model.safetensors", "");  // "done": never read
  test::write_file(out + "/eval/metrics.json",
                   R"({"segmentation": {"jaccard": 0.77}, "melanoma": {"auc": 0.81},
                       "seborrheic_keratosis": {"auc": 0.9}, "mean_auc": 0.855})");
  test::write_file(out + "/ham10000/metrics.json",
                   R"J({"segmentation": "not scored: the data has no masks", "melanoma": {"auc": 0.7709},
                       "seborrheic_keratosis": {"auc": 0.6391, "label": "benign keratosis (bkl)"}})J");
  test::write_file(out + "/eval_tta/metrics.json",
                   R"({"segmentation": {"jaccard": 0.78, "dice": 0.86}, "melanoma": {"auc": 0.82},
                       "seborrheic_keratosis": {"auc": 0.9}, "mean_auc": 0.86})");
  std::string text;
  ASSERT_EQ(sh(std::string(kBin) + " reproduce yang --device cpu --out " + out, &text), 0) << text;
  EXPECT_NE(text.find("step 3/4: external test: the classifiers on HAM10000"), std::string::npos) << text;
  const std::string md = test::read_file(out + "/results.md");
  EXPECT_NE(md.find("| external test: HAM10000 (4790 images, 393 melanomas) | AUC melanoma | AUC benign keratosis "
                    "(bkl) |\n|---|---|---|\n| this project | 0.7709 | 0.6391 |\n| paper | - | - |\n\n"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| this project | 0.7700 |"), std::string::npos) << md;  // the val table, from eval/
  const nlohmann::json r = read_json(out + "/results.json");
  ASSERT_EQ(r["results"].size(), 3u);
  // The test-time flips' row, from eval_tta/.
  EXPECT_DOUBLE_EQ(r["results"][2]["metrics"]["JA"]["ours"].get<double>(), 0.78);
  EXPECT_DOUBLE_EQ(r["results"][2]["metrics"]["JA"]["paper"].get<double>(), 0.724);
  EXPECT_DOUBLE_EQ(r["results"][1]["metrics"]["AUC melanoma"]["ours"].get<double>(), 0.7709);
  EXPECT_FALSE(r["results"][1]["metrics"]["AUC melanoma"].contains("target"));
  EXPECT_DOUBLE_EQ(r["results"][0]["metrics"]["JA"]["ours"].get<double>(), 0.77);

  ASSERT_EQ(sh(std::string(kBin) + " reproduce song --smoke --dry-run --out /nonexistent", &text), 0) << text;
  EXPECT_EQ(text.find("ham10000"), std::string::npos) << text;
  EXPECT_NE(text.find("2 steps"), std::string::npos) << text;
  EXPECT_NE(text.find("--size 128"), std::string::npos) << text;
  EXPECT_NE(text.find("--box-canonical 28"), std::string::npos) << "224 x 128 / 1024\n" << text;
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
  // Each difference with its interval, from eval's comparisons, and a verdict
  // that follows the interval; results.md says it in words.
  ASSERT_EQ(r["paper_claim_tested"].size(), 3u);
  const nlohmann::json& t = r["paper_claim_tested"][0];
  EXPECT_EQ(t["a"], "model");
  EXPECT_EQ(t["b"], "model2");
  const nlohmann::json& d = t["map_class"];
  EXPECT_DOUBLE_EQ(d["difference"].get<double>(), ev["comparisons"][0]["map_class"]["difference"].get<double>());
  const double low = d["low"].get<double>(), high = d["high"].get<double>();
  EXPECT_EQ(d["verdict"], low > 0 ? "a better" : high < 0 ? "b better" : "not told apart");
  const std::string md = test::read_file(dir + "/results.md");
  EXPECT_NE(md.find("| MTL - lesion-only |"), std::string::npos) << md;
  EXPECT_NE(md.find("| ensemble - MTL |"), std::string::npos) << md;
  // The lesion-only model has no location head: no location numbers in its row.
  EXPECT_TRUE(r["results"][1]["metrics"]["location top-1"]["ours"].is_null());
  EXPECT_TRUE(r["results"][0]["metrics"]["location top-1"]["ours"].is_number());

  // --seeds 2 on the same folder: seed 1 is done and not trained again; seed 2
  // trains with --seed 2 into seed-2/; the table gives the mean and each
  // seed, and the claim is tested across the seeds, from the two evals' score
  // files.
  ASSERT_EQ(sh(std::string(kBin) + " reproduce liao --smoke --seeds 2 --device cpu --out " + dir, &out), 0) << out;
  EXPECT_NE(out.find("done already (" + dir + "/mtl/model.safetensors)"), std::string::npos) << out;
  EXPECT_NE(out.find("done already (" + dir + "/eval/metrics.json)"), std::string::npos) << out;
  const nlohmann::json s = read_json(dir + "/results.json");
  EXPECT_EQ(s["seeds"], 2);
  ASSERT_EQ(s["steps"].size(), 6u);
  EXPECT_NE(s["steps"][3]["command"].get<std::string>().find("--seed 2 "), std::string::npos) << s["steps"][3];
  EXPECT_NE(s["steps"][3]["command"].get<std::string>().find(dir + "/seed-2/mtl"), std::string::npos);
  const nlohmann::json ev2 = read_json(dir + "/seed-2/eval/metrics.json");
  const nlohmann::json& cell = s["results"][0]["metrics"]["mAP-class"];
  const double mtl2 = ev2["model"]["map_class"].get<double>();
  EXPECT_DOUBLE_EQ(cell["seeds"][0].get<double>(), mtl);
  EXPECT_DOUBLE_EQ(cell["seeds"][1].get<double>(), mtl2);
  EXPECT_DOUBLE_EQ(cell["ours"].get<double>(), (mtl + mtl2) / 2);
  EXPECT_NEAR(cell["sd"].get<double>(), std::fabs(mtl - mtl2) / std::sqrt(2.0), 1e-12);
  ASSERT_EQ(s["paper_claim_tested"].size(), 3u);
  const nlohmann::json& across = s["paper_claim_tested"][0]["map_class"];
  EXPECT_EQ(across["df"], 1.0);
  for (int k = 0; k < 2; ++k)  // the score files hold what eval compared
    EXPECT_NEAR(across["per_seed_difference"][k].get<double>(),
                (k ? ev2 : ev)["comparisons"][0]["map_class"]["difference"].get<double>(), 1e-6);
  const double mean_difference = across["difference"].get<double>();
  EXPECT_NEAR(mean_difference,
              (across["per_seed_difference"][0].get<double>() + across["per_seed_difference"][1].get<double>()) / 2,
              1e-12);
  EXPECT_LT(across["low"].get<double>(), mean_difference);
  EXPECT_EQ(across["verdict"], across["low"].get<double>() > 0    ? "a better"
                               : across["high"].get<double>() < 0 ? "b better"
                                                                  : "not told apart");
  const std::string md2 = test::read_file(dir + "/results.md");
  EXPECT_NE(md2.find("| this project, mean of 2 seeds |"), std::string::npos) << md2;
  EXPECT_NE(md2.find("(Student's t, 1 degree of freedom)"), std::string::npos) << md2;
  EXPECT_GT(fs::file_size(dir + "/seeds.png"), 1000u);

  // The metrics command, from the two evals' score files (one per seed of each
  // model): the same numbers.
  const std::string mtl_files = dir + "/eval/model_lesion_scores.csv," + dir + "/seed-2/eval/model_lesion_scores.csv";
  const std::string metrics = std::string(kBin) + " metrics multilabel --labels " + dir + "/eval/lesion_labels.csv";
  ASSERT_EQ(sh(metrics + " --json --scores " + mtl_files + " --compare " + dir + "/eval/model2_lesion_scores.csv," +
                   dir + "/seed-2/eval/model2_lesion_scores.csv",
               &out),
            0)
      << out;
  const nlohmann::json m = nlohmann::json::parse(out);
  EXPECT_EQ(m["seeds"], 2);
  for (const char* key : {"difference", "low", "high", "p", "sd_training", "se_images"})
    EXPECT_NEAR(m["comparison_across_seeds"]["map_class"][key].get<double>(), across[key].get<double>(), 1e-12)
        << key;
  // One list per recipe, of the same length.
  EXPECT_EQ(sh(metrics + " --scores " + mtl_files + " --compare " + dir + "/eval/model2_lesion_scores.csv", &out), 2);
  EXPECT_NE(out.find("--scores lists 2 files and --compare 1"), std::string::npos) << out;
  EXPECT_EQ(sh(metrics + " --scores " + mtl_files, &out), 2);
  EXPECT_NE(out.find("give the other recipe's seeds with --compare"), std::string::npos) << out;
}

}  // namespace
}  // namespace skinmtl
