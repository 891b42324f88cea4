// skinmtl reproduce yang|song|liao: one command per paper. It trains the
// paper's model on the real data with a pinned, seeded recipe, evaluates it on
// the held-out split, and writes results.md and results.json: our numbers
// beside the paper's, the wall time of every step, the device, the exact
// commands it ran and every departure from the paper's own recipe.
//
// A recipe is a list of steps, each an ordinary `skinmtl train ...` or `skinmtl
// eval ...` command line (printed before it runs, so a reader can run any step
// by hand). Two budgets come from the same command:
//
//   cpu  what a 2-core CPU finishes in at most three hours: smaller inputs,
//        fewer iterations, a schedule chosen to converge in that budget. Each
//        choice is listed under "departures" with its reason.
//   gpu  the paper's own input size and schedule (--device cuda picks it).
//
// Seeds: --seeds K runs the whole recipe K times, with --seed 1..K (seed 1 in
// --out, seed s in OUT/seed-s, so a finished one-seed run grows into a
// K-seed one without retraining). The table gives the mean over the seeds,
// their spread and each seed's value; for Liao & Luo the paper's claim is
// tested across the seeds (metrics/metrics.h, compare_map_seeds), since a
// retraining can move a model's mAP more than the held-out images' luck does.
//
// Resuming: the state lives in --out. A step whose output file exists is
// done and skipped; a training step that left a checkpoint continues from it
// (`--resume`). So after Ctrl-C (the training commands save a checkpoint and
// stop) the same command line continues where it stopped. Wall times are the
// training commands' own cumulative `wall_s` (kept across resumes in their
// checkpoints) and, for the other steps, the time this command measured.
//
// Data: ../shared/data (or --data-dir). Training uses only the training
// split; Yang and Song evaluate on ISIC 2017's 150 val images, Liao on a
// held-out fold of HAM10000 grouped by lesion_id (the paper's DermQuest data
// is not public, so its numbers are a reference, not a target).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "app/iterations.h"
#include "figures/plot.h"
#include "io/csv.h"
#include "io/progress.h"
#include "io/safetensors.h"
#include "io/score_csv.h"
#include "metrics/metrics.h"
#include "app/args.h"
#include "tools/skinmtl/commands.h"
#include "tools/skinmtl/map_compare_json.h"

namespace skinmtl {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

const char* kHelp =
    "usage: skinmtl reproduce yang|song|liao [options]\n"
    "\n"
    "Trains and evaluates one paper's model on the real data with a pinned, seeded recipe and\n"
    "writes OUT/results.md and OUT/results.json (our numbers beside the paper's, wall times,\n"
    "device, the commands run, every departure from the paper's recipe).\n"
    "\n"
    "  yang   Yang et al. 2017: U-Net segmentation + melanoma / seborrheic keratosis on a\n"
    "         shared ResNet-50; ISIC 2017 train -> val\n"
    "  song   Song et al. 2019: ResNet-50 + FPN + RPN + RoIAlign detect / classify / segment,\n"
    "         three phases; ISIC 2017 train -> val\n"
    "  liao   Liao & Luo 2016: lesion type + body location ResNet-50, the lesion-only model and\n"
    "         their ensemble; HAM10000 fold 0 of 5 grouped by lesion_id\n"
    "\n"
    "  --budget B     cpu (at most 3 hours on a 2-core CPU) | gpu (the paper's size and\n"
    "                 schedule). Default: gpu when --device resolves to CUDA, else cpu\n"
    "  --device D     auto | cpu | cuda (default auto)\n"
    "  --out DIR      (default runs/reproduce/<paper>)\n"
    "  --data-dir DIR where isic2017/ and ham10000/ live (default ../shared/data)\n"
    "  --iters N      train for N iterations instead of the budget's (song: N in all, split\n"
    "                 over the three phases in the budget's proportions); listed among the\n"
    "                 departures. For a GPU lent for minutes, not hours\n"
    "  --precision P  fp32 | tf32 | bf16 for the training steps (default tf32 on the GPU, fp32\n"
    "                 on the CPU; tf32 needs a GPU; see train's --help)\n"
    "  --seeds K      the whole recipe K times, with --seed 1..K (default 1): the table gives\n"
    "                 the mean, the seed-to-seed spread and each seed; liao tests the paper's\n"
    "                 claim across the seeds. Seed 1 stays in OUT, seed s goes to OUT/seed-s,\n"
    "                 so a finished run gains seeds without training seed 1 again\n"
    "  --smoke        a few iterations at a small size: checks the whole pipeline in\n"
    "                 minutes; its numbers mean nothing\n"
    "  --dry-run      print the steps and exit\n"
    "\n"
    "Run the same command again after an interruption: finished steps are skipped and a\n"
    "training step continues from its checkpoint.\n";

// One metric of a paper's table: where ours is in an eval step's
// metrics.json, the paper's value (NAN when the paper has none) and the
// target this project set itself for the CPU budget (NAN: none).
struct Metric {
  std::string name;
  std::vector<std::string> path;  // keys into metrics.json
  double paper = NAN;
  double target = NAN;
  std::string file = "";  // that metrics.json; "" for the recipe's (Recipe::metrics_file)
};

struct Step {
  std::string title;
  std::vector<std::string> argv;  // starting with "train" or "eval"
  std::string done_file;          // the step is done when this exists
  std::string checkpoint;         // training: resume from this when it exists
  std::string train_log;          // training: log.csv whose wall_s column is its wall time
};

struct Recipe {
  std::string paper;     // "yang"
  std::string citation;  // "Yang et al. 2017, ..."
  std::string budget;    // "cpu" | "gpu"
  std::vector<Step> steps;
  std::string metrics_file;  // the eval step's metrics.json
  // Rows of the results table: a label ("multi-task", "MTL") and its metrics.
  std::vector<std::pair<std::string, std::vector<Metric>>> rows;
  std::string paper_note;  // where the paper's numbers come from
  std::vector<std::string> departures;
};

std::string fmt(double v, int digits = 4) {
  if (std::isnan(v)) return "-";
  char b[32];
  std::snprintf(b, sizeof b, "%.*f", digits, v);
  return b;
}

// ---- the recipes -------------------------------------------------------------------------------

// The external test of the two ISIC 2017 recipes: their classifiers on
// HAM10000's 4790 images (393 melanomas, no masks; io/seg_data.h), data
// neither model saw, where an AUC is known to about +-0.03 (val: +-0.08).
const char* kHamRow = "external test: HAM10000 (4790 images, 393 melanomas)";

Step ham10000_step(const std::string& model, const std::string& out, const std::string& data_dir,
                   const std::string& device) {
  return Step{"external test: the classifiers on HAM10000 (4790 images, no masks)",
              {"eval", model, "--data", "ham10000", "--data-dir", data_dir, "--model", out + "/train/model.safetensors",
               "--overlays", "0", "--device", device, "--out", out + "/ham10000"},
              out + "/ham10000/metrics.json", "", ""};
}

Recipe yang_recipe(const std::string& budget, bool smoke, const std::string& out, const std::string& data_dir,
                   const std::string& device) {
  Recipe r;
  r.paper = "yang";
  r.citation = "Yang et al. 2017, A Novel Multi-task Deep Learning Model for Skin Lesion Segmentation and "
               "Classification (arXiv 1703.01025)";
  r.budget = budget;
  const bool gpu = budget == "gpu";
  const std::string size = smoke ? "64x96" : gpu ? "192x256" : "120x160";
  const std::string iters = smoke ? "6" : gpu ? "10000" : "2000";
  const std::string every = smoke ? "6" : gpu ? "500" : "250";
  Step train{"train the multi-task model",
             {"train", "segcls", "--data", "isic2017", "--data-dir", data_dir, "--size", size, "--iters", iters,
              "--batch", "8", "--lr", "0.005", "--new-lr-mult", "2", "--head-lr-mult", "0.2", "--lr-schedule",
              "cosine", "--warmup", smoke ? "2" : "100", "--final-lr-frac", "0.01", "--w-jaccard", "1",
              "--jaccard-smooth", "1", "--eval-every", every, "--ckpt-every", smoke ? "3" : "125", "--seed", "1",
              "--device", device, "--out", out + "/train"},
             out + "/train/model.safetensors", out + "/train/checkpoint.safetensors", out + "/train/log.csv"};
  Step eval{"evaluate on ISIC 2017 val (150 images, at each image's own size)",
            {"eval", "segcls", "--data", "isic2017", "--data-dir", data_dir, "--model", out + "/train/model.safetensors",
             "--device", device, "--out", out + "/eval"},
            out + "/eval/metrics.json", "", ""};
  r.steps = {train, eval};
  r.metrics_file = out + "/eval/metrics.json";
  r.rows = {{"multi-task (val)",
             {{"JA", {"segmentation", "jaccard"}, 0.724, 0.76},
              {"DI", {"segmentation", "dice"}},
              {"AC", {"segmentation", "accuracy"}},
              {"SE", {"segmentation", "sensitivity"}},
              {"SP", {"segmentation", "specificity"}},
              {"AUC melanoma", {"melanoma", "auc"}, 0.880},
              {"AUC seb. keratosis", {"seborrheic_keratosis", "auc"}, 0.972},
              {"mean AUC", {"mean_auc"}, 0.926, 0.90}}}};
  if (!smoke) {  // a smoke run would spend most of its time here
    r.steps.push_back(ham10000_step("segcls", out, data_dir, device));
    r.rows.push_back({kHamRow,
                      {{"AUC melanoma", {"melanoma", "auc"}, NAN, NAN, out + "/ham10000/metrics.json"},
                       {"AUC benign keratosis (bkl)", {"seborrheic_keratosis", "auc"}, NAN, NAN,
                        out + "/ham10000/metrics.json"}}});
    // Test-time flips: the same model and images, each the mean of its four flips. Not in
    // the paper's abstract; a row of its own so that the recipe's numbers stay the plain ones.
    const std::string tta = out + "/eval_tta/metrics.json";
    r.steps.push_back({"evaluate on ISIC 2017 val again, each image the mean of its four flips (--tta flips)",
                       {"eval", "segcls", "--data", "isic2017", "--data-dir", data_dir, "--model",
                        out + "/train/model.safetensors", "--tta", "flips", "--overlays", "0", "--device", device,
                        "--out", out + "/eval_tta"},
                       tta, "", ""});
    r.rows.push_back({"multi-task, test-time flips (val)",
                      {{"JA", {"segmentation", "jaccard"}, 0.724, NAN, tta},
                       {"DI", {"segmentation", "dice"}, NAN, NAN, tta},
                       {"AUC melanoma", {"melanoma", "auc"}, 0.880, NAN, tta},
                       {"AUC seb. keratosis", {"seborrheic_keratosis", "auc"}, 0.972, NAN, tta},
                       {"mean AUC", {"mean_auc"}, 0.926, NAN, tta}}});
  }
  r.paper_note = "Yang et al.'s numbers are their abstract's: trained on ISIC 2017's 2000 training images and "
                 "evaluated on its 150 evaluation (val) images, the 150 ours are scored on. Targets: this "
                 "project's CPU-budget goals (the ISIC 2017 winners reached JA 0.765, mean AUC 0.911, on the "
                 "600-image test split).";
  if (!smoke)
    r.paper_note += " The external test (no paper number): the same classifiers on HAM10000, other clinics' "
                    "images neither model saw; its seborrheic-keratosis column is HAM's broader benign-keratosis "
                    "class (bkl).";
  r.departures = {
      "The paper gives no optimiser settings in its abstract. SGD with momentum 0.9, weight decay 1e-4, "
      "base lr 0.005 (trunk), 0.01 for the new decoder (lr mult 2), 0.001 for the two classifiers (lr mult "
      "0.2: on pool5 features a larger step made them diverge), a 100-iteration linear warm-up and a cosine "
      "decay to 1% at the last iteration: a fixed budget needs a schedule that ends low without waiting for "
      "plateaus.",
      "Loss: per-pixel BCE + soft Jaccard distance (smooth 1, weight 1) + the two binary cross-entropies: "
      "the Jaccard term optimises the ranking metric directly and converges in fewer epochs than BCE alone.",
      "ResNet-50 encoder (ImageNet, MSRA Caffe weights) with frozen batch-norm statistics and a U-Net decoder; "
      "Yang et al. describe their own network, which this project does not copy layer for layer.",
  };
  if (!gpu)
    r.departures.push_back(
        "CPU budget: input 120x160 (the ISIC images here are 192x256; 0.39 of the pixels) and 2000 iterations of "
        "batch 8 (8 epochs): what fits 3 hours on 2 cores with margin. Masks are predicted at 120x160 and "
        "resized to 192x256 before scoring.");
  else
    r.departures.push_back("GPU budget: input 192x256 (the full size of the images here), 10000 iterations of "
                           "batch 8 (40 epochs).");
  r.departures.push_back("Augmentation: random horizontal and vertical flips only.");
  if (!smoke)
    r.departures.push_back("A second evaluation with test-time flips (each val image predicted as it is, mirrored "
                           "left-right, upside down and both; the mean of the four) in a row of its own; the "
                           "abstract does not say whether Yang et al. used any.");
  return r;
}

Recipe song_recipe(const std::string& budget, bool smoke, const std::string& out, const std::string& data_dir,
                   const std::string& device) {
  Recipe r;
  r.paper = "song";
  r.citation = "Song et al. 2019, An End-to-end Multi-task Deep Learning Framework for Skin Lesion Analysis "
               "(ResNet-50 + FPN + RPN + RoIAlign)";
  r.budget = budget;
  const bool gpu = budget == "gpu";
  const std::string size = smoke ? "128" : gpu ? "1024" : "256";
  const std::string p1 = smoke ? "2" : gpu ? "40000" : "300";
  const std::string p2 = smoke ? "2" : gpu ? "80000" : "1500";
  const std::string p3 = smoke ? "2" : gpu ? "40000" : "700";
  const std::string every = smoke ? "0" : gpu ? "5000" : "500";  // smoke: only the eval step predicts
  // The gradient's global norm is clipped. Eq. 5's Jaccard term (times delta
  // = 100) keeps the loss near 10-30 and the norm at 50-600 all through
  // training, so the clip binds at every step: at Matterport's norm 5 each
  // step is lr x 5 long whatever the gradient, and the classifier's share of
  // it is small. On the CPU budget norm 25 ended with val JA 0.726 and
  // melanoma AUC 0.661, norm 5 with 0.668 and 0.610 (README.md, "Reproducing
  // the papers", has both runs). The GPU budget keeps 5 until a run there
  // checks 25.
  const std::string clip = gpu ? "5" : "25";
  // FPN's level rule (Lin et al. eq. 1) is in pixels: below the paper's 1024
  // every lesion would pool its Classify and Detect features from lower, more
  // local levels than the paper's. The box branch's canonical size scales
  // with the input (224 x size / 1024: 56 at 256) and keeps the paper's
  // levels; the mask branch keeps 224. At 1024 nothing is passed: the default.
  const int box_canonical = 224 * std::stoi(size) / 1024;
  std::vector<std::string> train_args = {
      "train", "detseg", "--data", "isic2017", "--data-dir", data_dir, "--size", size, "--phase1", p1,
      "--phase2", p2, "--phase3", p3, "--batch", "2", "--lr", "0.001", "--clip-norm", clip, "--cls-loss",
      "focal"};
  if (box_canonical != 224) train_args.insert(train_args.end(), {"--box-canonical", std::to_string(box_canonical)});
  train_args.insert(train_args.end(), {"--eval-every", every, "--ckpt-every", smoke ? "3" : "100", "--seed", "1",
                                       "--device", device, "--out", out + "/train"});
  Step train{"train the three phases", train_args, out + "/train/model.safetensors",
             out + "/train/checkpoint.safetensors", out + "/train/log.csv"};
  Step eval{"evaluate on ISIC 2017 val (150 images, at each image's own size)",
            {"eval", "detseg", "--data", "isic2017", "--data-dir", data_dir, "--model", out + "/train/model.safetensors",
             "--device", device, "--out", out + "/eval"},
            out + "/eval/metrics.json", "", ""};
  r.steps = {train, eval};
  r.metrics_file = out + "/eval/metrics.json";
  r.rows = {{"detect + classify + segment (val)",
             {{"JA", {"segmentation", "ja"}, 0.816, 0.78},
              {"DI", {"segmentation", "di"}, 0.883},
              {"AC", {"segmentation", "ac"}, 0.950},
              {"SE", {"segmentation", "se"}, 0.871},
              {"SP", {"segmentation", "sp"}, 0.982},
              {"melanoma AUC", {"classification", "auc"}, 0.794, 0.80},
              {"melanoma AC", {"classification", "accuracy"}, 0.813}}}};
  if (!smoke) {  // a smoke run would spend most of its time here
    r.steps.push_back(ham10000_step("detseg", out, data_dir, device));
    r.rows.push_back({kHamRow,
                      {{"melanoma AUC", {"classification", "auc"}, NAN, NAN, out + "/ham10000/metrics.json"},
                       {"melanoma AP", {"classification", "ap"}, NAN, NAN, out + "/ham10000/metrics.json"}}});
  }
  r.paper_note = "Song et al.'s segmentation numbers: Table VIII (ISIC 2017 data only), test split; melanoma: "
                 "Tables III/IX (focal + Jaccard loss, ResNet-101). Ours: the 150-image val split.";
  if (!smoke)
    r.paper_note += " The external test (no paper number): the same classifier on HAM10000, other clinics' "
                    "images the model never saw.";
  r.departures = {
      "SGD lr 1e-3 (phase 3 at 1e-4), momentum 0.9, weight decay 1e-4, 2 images per batch, frozen trunk batch "
      "norm.",
  };
  if (!gpu)
    r.departures.push_back("Gradient clipped to global norm 25, not the norm 5 of Matterport's Mask R-CNN (which the "
                           "paper builds on): with eq. 5's Jaccard term the norm is 50-600 at every step, and at 5 "
                           "the classifier barely learned (on val: JA 0.668 and melanoma AUC 0.610 at norm 5, 0.726 "
                           "and 0.661 at norm 25).");
  else
    r.departures.push_back("Gradient clipped to global norm 5 (Matterport's Mask R-CNN setting, which the paper "
                           "builds on).");
  if (!gpu)
    r.departures.push_back("The Classify and Detect subnets pool each lesion from the FPN level it has at the "
                           "paper's 1024 (`--box-canonical " + std::to_string(box_canonical) +
                           "`: FPN's level rule is in pixels, and at " + size +
                           " it would take every lesion from P2/P3). On HAM10000 (the external test) this lifted "
                           "the melanoma AUC with both seeds tried: 0.575 against 0.537 for the same seed without it "
                           "(p 0.039, DeLong paired), and 0.602 with seed 1; val and the training images unchanged.");
  if (!gpu)
    r.departures.push_back("CPU budget: letterbox 256 (the ISIC images here are 256x192; the paper letterboxes "
                           "to 1024) and the three phases shortened to 300 + 1500 + 700 iterations of 2 images "
                           "(2.5 epochs; the paper: 40 + 80 + 40 epochs of 1000 steps).");
  else
    r.departures.push_back("GPU budget: letterbox 1024 and the paper's 40000 + 80000 + 40000 iterations (the "
                           "images here are 256x192, so 1024 up-samples them 4x).");
  return r;
}

Recipe liao_recipe(const std::string& budget, bool smoke, const std::string& out, const std::string& data_dir,
                   const std::string& device) {
  Recipe r;
  r.paper = "liao";
  r.citation = "Liao & Luo 2016, Deep Multi-task Learning for Joint Localization, Classification and Retrieval "
               "of Skin Lesions / body location (ResNet-50, two heads)";
  r.budget = budget;
  const bool gpu = budget == "gpu";
  // CPU: 2000 iterations of 20 per model (10.4 epochs of fold 0's 3832
  // training images), 1:27 for both models and the evaluation on the 2-core
  // machine (700 before the CPU step got faster: 3.7 epochs, both models far
  // from converged).
  const std::string iters = smoke ? "4" : gpu ? "20000" : "2000";
  const std::string min_short = smoke ? "36" : gpu ? "256" : "128";
  const std::string max_short = smoke ? "40" : gpu ? "480" : "176";
  const std::string crop = smoke ? "32" : gpu ? "224" : "128";
  const std::string resize = smoke ? "37" : gpu ? "256" : "146";
  const std::string every = smoke ? "4" : gpu ? "1000" : "350";
  // The held-out fold: 1 of 5 (958 images); the smoke run holds out 1 of 20
  // (about 240) to stay a minute long.
  const std::string folds = smoke ? "20" : "5";
  auto train = [&](const std::string& tasks, const std::string& dir, const std::string& title) {
    return Step{title,
                {"train", "mtl", "--data", "ham10000", "--data-dir", data_dir, "--folds", folds, "--fold", "0",
                 "--tasks", tasks, "--iters", iters, "--batch", "20", "--lr", "0.001", "--min-short", min_short,
                 "--max-short", max_short, "--crop", crop, "--eval-every", every, "--ckpt-every", smoke ? "2" : "50",
                 "--seed", "1", "--device", device, "--out", out + "/" + dir},
                out + "/" + dir + "/model.safetensors", out + "/" + dir + "/checkpoint.safetensors",
                out + "/" + dir + "/log.csv"};
  };
  Step eval{"evaluate both and their ensemble on the held-out fold (10-crop)",
            {"eval", "mtl", "--data", "ham10000", "--data-dir", data_dir, "--folds", folds, "--fold", "0", "--model",
             out + "/mtl/model.safetensors", "--model2", out + "/lesion/model.safetensors", "--resize", resize,
             "--crop", crop, "--crops", "10", "--device", device, "--out", out + "/eval"},
            out + "/eval/metrics.json", "", ""};
  r.steps = {train("both", "mtl", "train the multi-task model (lesion + body location)"),
             train("lesion", "lesion", "train the lesion-only model"), eval};
  r.metrics_file = out + "/eval/metrics.json";
  auto row = [](const std::string& key, double map_class, double map_image) {
    return std::vector<Metric>{{"mAP-class", {key, "map_class"}, map_class},
                               {"mAP-image", {key, "map_image"}, map_image},
                               {"location top-1", {key, "location_top1"}},
                               {"location top-3", {key, "location_top3"}}};
  };
  r.rows = {{"MTL", row("model", 0.757, 0.792)},
            {"lesion only", row("model2", 0.726, 0.778)},
            {"ensemble", row("ensemble", 0.761, 0.798)}};
  r.paper_note = "Liao & Luo's numbers (Table 1) are on 25 lesion types of their DermQuest collection, which is "
                 "not public; ours are on HAM10000's 7 diagnoses (one label per image) and 14 body sites, fold 0 "
                 "of 5 grouped by lesion_id. The comparison that carries over is the paper's claim: MTL >= "
                 "lesion-only, and the ensemble best.";
  r.departures = {
      "Data: HAM10000 (7 diagnoses, 14 body sites, 128 images without one; 4790 images of 224x224 here) "
      "instead of DermQuest (21657 images, 25 lesion types, 23 body locations).",
      "The paper's optimiser: SGD lr 1e-3, momentum 0.9, weight decay 1e-4, batch 20, new heads at lr x10 "
      "(biases x20), lr x0.1 when the held-out loss plateaus; frozen trunk batch norm.",
  };
  if (!gpu)
    r.departures.push_back("CPU budget: scale jitter 128-176 and random 128x128 crops (the paper: 256-480 and "
                           "224), 10-crop testing at 146/128 (the paper: 256/224), 2000 iterations of 20 per "
                           "model (10.4 epochs; the paper: up to 120k iterations).");
  else
    r.departures.push_back("GPU budget: the paper's scale jitter 256-480, 224 crops and 10-crop testing; "
                           "20000 iterations per model.");
  return r;
}

// --iters N: the recipe's training steps cut (or stretched) to N iterations,
// listed among the departures unless N is the budget's own count.
// A training step's iterations are the value of --iters, or for the detector
// of --phase1/2/3, which share N in the recipe's proportions (split_iterations).
void shorten(Recipe& r, int64_t n) {
  SKINMTL_USAGE_CHECK(n >= 1, "--iters must be at least 1, got " << n);
  const std::vector<std::string> keys = {"--iters", "--phase1", "--phase2", "--phase3"};
  int64_t was = 0;  // the recipe's count
  bool changed = false;
  for (Step& s : r.steps) {
    if (s.argv.at(0) != "train") continue;
    std::vector<size_t> at;  // positions of the values to change
    std::vector<int64_t> counts;
    int64_t total = 0;
    for (size_t i = 0; i + 1 < s.argv.size(); ++i)
      if (std::find(keys.begin(), keys.end(), s.argv[i]) != keys.end()) {
        at.push_back(i + 1);
        counts.push_back(std::stoll(s.argv[i + 1]));
        total += counts.back();
      }
    SKINMTL_CHECK(!at.empty() && total > 0, "reproduce: training step '" << s.title << "' has no iteration count");
    was = total;
    changed = changed || total != n;
    const std::vector<int64_t> shares = split_iterations(n, counts);  // app/iterations.h
    for (size_t k = 0; k < at.size(); ++k) s.argv[at[k]] = std::to_string(shares[k]);
  }
  if (!changed) return;  // --iters equal to the budget's own count: no departure
  const bool fewer = n < was;
  const bool models =
      std::count_if(r.steps.begin(), r.steps.end(), [](const Step& s) { return s.argv.at(0) == "train"; }) > 1;
  r.departures.push_back(std::string(fewer ? "Shortened" : "Lengthened") + " with --iters " + std::to_string(n) +
                         ": " + std::to_string(n) + " training iterations" + (models ? " per model" : "") +
                         " instead of this budget's " + std::to_string(was) +
                         (fewer ? " (a time limit)." : " (an experiment)."));
}

// Seed s of a recipe (its --out already the seed's own): every training step
// trains with --seed s, and every step's title names the seed (the titles key
// the wall times in state.json).
void reseed(Recipe& r, int seed) {
  for (Step& st : r.steps) {
    st.title += " (seed " + std::to_string(seed) + ")";
    if (st.argv.at(0) != "train") continue;
    const auto it = std::find(st.argv.begin(), st.argv.end(), "--seed");
    SKINMTL_CHECK(it != st.argv.end() && it + 1 != st.argv.end(),
                  "reproduce: training step '" << st.title << "' has no --seed");
    *(it + 1) = std::to_string(seed);
  }
}

// ---- running -----------------------------------------------------------------------------------

// The value at `path` in `j`, NAN when absent or not a number.
double lookup(const json& j, const std::vector<std::string>& path) {
  const json* p = &j;
  for (const std::string& k : path) {
    if (!p->is_object() || !p->contains(k)) return NAN;
    p = &p->at(k);
  }
  return p->is_number() ? p->get<double>() : NAN;
}

// The last wall_s of a training log (NAN when it has none).
double last_wall_s(const std::string& log_csv) {
  if (!fs::exists(log_csv)) return NAN;
  const CsvTable t = read_csv(log_csv);
  const auto it = std::find(t.header.begin(), t.header.end(), "wall_s");
  if (it == t.header.end() || t.rows.empty()) return NAN;
  const size_t c = (size_t)(it - t.header.begin());
  for (size_t i = t.rows.size(); i-- > 0;)
    if (c < t.rows[i].size() && !t.rows[i][c].empty()) return std::stod(t.rows[i][c]);
  return NAN;
}

std::string shell_line(const std::vector<std::string>& argv) {
  std::string s = "bin/skinmtl";
  for (const std::string& a : argv) s += " " + a;
  return s;
}

int run_step(const std::vector<std::string>& argv) {
  std::vector<std::string> owned = argv;
  std::vector<char*> ptrs;
  for (std::string& a : owned) ptrs.push_back(a.data());
  ptrs.push_back(nullptr);
  // argv: "train mtl ...": the model's command runs with argv[0] "mtl".
  using Command = int (*)(int, char**);
  const std::map<std::string, Command> commands = {
      {"train mtl", train_mtl},   {"train segcls", train_segcls}, {"train detseg", train_detseg},
      {"eval mtl", eval_mtl},     {"eval segcls", eval_segcls},   {"eval detseg", eval_detseg}};
  const std::string step = argv.at(0) + " " + argv.at(1);
  SKINMTL_CHECK(commands.count(step), "reproduce: unknown step command '" << step << "'");
  return commands.at(step)((int)owned.size() - 1, ptrs.data() + 1);
}

json read_json_file(const std::string& path) {
  std::ifstream f(path);
  SKINMTL_CHECK(f, "reproduce: cannot read " << path);
  json j;
  try {
    f >> j;
  } catch (const json::exception& e) {
    SKINMTL_FAIL(path << ": not valid JSON (" << e.what() << ")");
  }
  return j;
}

// The mean of values (NAN if any is NAN) and their sample standard deviation
// (NAN for fewer than two).
std::pair<double, double> mean_sd(const std::vector<double>& v) {
  double mean = 0;
  for (double x : v) mean += x;
  mean /= (double)v.size();
  if (v.size() < 2 || std::isnan(mean)) return {mean, NAN};
  double squares = 0;
  for (double x : v) squares += (x - mean) * (x - mean);
  return {mean, std::sqrt(squares / (double)(v.size() - 1))};
}

// The Liao & Luo claim tested across K >= 2 seeds: eval mtl's lesion score
// files of every seed (rows matched by image_id to seed 1's labels; a seed
// evaluated on other images is an error) compared as eval compares one seed's
// models: MTL - lesion-only, then the ensemble against each.
json liao_claim_across_seeds(const std::vector<Recipe>& rs) {
  const ScoreTable labels =
      read_label_csv((fs::path(rs[0].metrics_file).parent_path() / "lesion_labels.csv").string());
  const std::vector<std::string> models = {"model", "model2", "ensemble"};
  std::map<std::string, std::vector<ScoredLabels>> read;  // per model, one per seed
  for (const Recipe& r : rs) {
    const fs::path dir = fs::path(r.metrics_file).parent_path();
    for (const std::string& m : models)
      read[m].push_back(match_scores_labels(read_score_csv((dir / (m + "_lesion_scores.csv")).string()), labels));
  }
  // Every file in the row and column order of seed 1's multi-task scores.
  const ScoredLabels& first = read["model"][0];
  std::map<std::string, std::vector<ScoreMatrix>> scores;
  for (const std::string& m : models)
    for (const ScoredLabels& s : read[m]) scores[m].push_back(scores_in_order_of(first, s));
  json tested = json::array();
  for (const auto& [a, b] : {std::pair<std::string, std::string>{"model", "model2"}, {"ensemble", "model"},
                             {"ensemble", "model2"}}) {
    const SeedMapComparison c = compare_map_seeds(scores[a], scores[b], first.labels);
    json t = {{"a", a}, {"b", b}, {"seeds", rs.size()}};
    if (c.map_class) t["map_class"] = seed_map_difference_json(c.map_class);
    if (c.map_image) t["map_image"] = seed_map_difference_json(c.map_image);
    tested.push_back(t);
  }
  return tested;
}

// results.json and results.md from the recipe's seeds (rs[0] is seed 1; one
// entry for a one-seed run, whose files look as they always have).
void write_results(const std::vector<Recipe>& rs, const json& state, const std::string& out,
                   const std::string& device_text, bool smoke) {
  const Recipe& r = rs[0];
  const size_t seeds = rs.size();
  std::vector<json> metrics;  // each seed's eval metrics.json
  for (const Recipe& rk : rs) metrics.push_back(read_json_file(rk.metrics_file));
  // Our value of a metric for each seed, from its own metrics.json where it names one.
  std::map<std::string, json> other_files;
  auto value = [&](size_t seed, size_t row, size_t col) {
    const Metric& m = rs[seed].rows.at(row).second.at(col);
    if (m.file.empty()) return lookup(metrics[seed], m.path);
    if (!other_files.count(m.file)) other_files[m.file] = read_json_file(m.file);
    return lookup(other_files[m.file], m.path);
  };
  // ours[row][col]: the values of the seeds, their mean and spread.
  struct Ours {
    std::vector<double> seeds;
    double mean = NAN, sd = NAN;
  };
  std::vector<std::vector<Ours>> ours(r.rows.size());
  for (size_t i = 0; i < r.rows.size(); ++i)
    for (size_t j = 0; j < r.rows[i].second.size(); ++j) {
      Ours o;
      for (size_t k = 0; k < seeds; ++k) o.seeds.push_back(value(k, i, j));
      std::tie(o.mean, o.sd) = mean_sd(o.seeds);
      ours[i].push_back(o);
    }
  auto null_if_nan = [](double v) { return std::isnan(v) ? json(nullptr) : json(v); };

  json res;
  res["paper"] = r.paper;
  res["citation"] = r.citation;
  res["budget"] = r.budget;
  res["smoke"] = smoke;
  res["device"] = device_text;
  if (seeds > 1) res["seeds"] = seeds;
  double total = 0;
  json steps = json::array();
  for (const Recipe& rk : rs)
    for (const Step& s : rk.steps) {
      const double w = state["wall_s"].value(s.title, NAN);
      if (std::isfinite(w)) total += w;
      steps.push_back({{"title", s.title}, {"command", shell_line(s.argv)}, {"wall_s", w}});
    }
  res["steps"] = steps;
  res["wall_s"] = total;
  res["paper_note"] = r.paper_note;
  res["departures"] = r.departures;
  json rows = json::array();
  for (size_t i = 0; i < r.rows.size(); ++i) {
    const auto& [label, ms] = r.rows[i];
    json row;
    row["label"] = label;
    for (size_t j = 0; j < ms.size(); ++j) {
      const Metric& m = ms[j];
      const Ours& o = ours[i][j];
      json e = {{"ours", null_if_nan(o.mean)}, {"paper", null_if_nan(m.paper)}};
      if (seeds > 1) {
        e["seeds"] = json::array();
        for (double v : o.seeds) e["seeds"].push_back(null_if_nan(v));
        e["sd"] = null_if_nan(o.sd);
      }
      if (!std::isnan(m.target) && r.budget == "cpu") {
        e["target"] = m.target;
        e["target_met"] = !std::isnan(o.mean) && o.mean >= m.target;
      }
      row["metrics"][m.name] = e;
    }
    rows.push_back(row);
  }
  res["results"] = rows;
  if (r.paper == "liao") {
    // The paper's claim, tested on our numbers (the means over the seeds):
    // MTL >= lesion-only, the ensemble best (by each mAP).
    auto mean_of = [&](const std::string& key, const char* m) {
      std::vector<double> v;
      for (const json& mk : metrics) v.push_back(lookup(mk, {key, m}));
      return mean_sd(v).first;
    };
    json claim;
    for (const char* m : {"map_class", "map_image"}) {
      const double mtl = mean_of("model", m), les = mean_of("model2", m), ens = mean_of("ensemble", m);
      claim[std::string(m) + "_mtl_ge_lesion_only"] = mtl >= les;
      claim[std::string(m) + "_ensemble_best"] = ens >= mtl && ens >= les;
    }
    res["paper_claim"] = claim;
    // ... and whether each difference is more than luck: with one seed, the
    // held-out images' (eval's paired comparisons; an eval written before them
    // has none); with several, the seeds' spread as well.
    if (seeds > 1) {
      res["paper_claim_tested"] = liao_claim_across_seeds(rs);
    } else if (metrics[0].contains("comparisons")) {
      json tested = json::array();
      for (const json& c : metrics[0]["comparisons"]) {
        json t = {{"a", c.at("a")}, {"b", c.at("b")}};
        for (const char* m : {"map_class", "map_image"}) {
          const json& d = c.at(m);
          if (d.is_null()) continue;
          const double low = d.at("low").get<double>(), high = d.at("high").get<double>();
          t[m] = {{"difference", d.at("difference")}, {"low", low}, {"high", high}, {"p", d.at("p")},
                  {"verdict", interval_verdict(low, high)}};
        }
        tested.push_back(t);
      }
      res["paper_claim_tested"] = tested;
    }
  }
  {
    const std::string tmp = out + "/results.json.tmp";
    std::ofstream f(tmp);
    f << res.dump(2) << "\n";
    SKINMTL_CHECK(f.good(), "cannot write " << tmp);
    f.close();
    fs::rename(tmp, out + "/results.json");
  }

  // seeds.png: the first metric of each table row, seed by seed (how far a
  // retraining moves it), with markers at the values.
  if (seeds > 1) {
    std::vector<Series> lines;
    for (size_t i = 0; i < r.rows.size(); ++i) {
      const std::string& label = r.rows[i].first;
      Series line;
      line.name = label.substr(0, label.find(" (")) + ": " + r.rows[i].second.at(0).name;
      line.markers = true;
      for (size_t k = 0; k < seeds; ++k) {
        line.xs.push_back((double)(k + 1));
        line.ys.push_back(ours[i][0].seeds[k]);
      }
      lines.push_back(line);
    }
    plot_lines(out + "/seeds.png", "reproduce " + r.paper + ": each seed's value (" + std::to_string(seeds) + " seeds)",
               lines, "seed", "value");
  }

  std::ostringstream md;
  md << "# skinmtl reproduce " << r.paper << (smoke ? " (smoke run: the numbers mean nothing)" : "") << "\n\n"
     << r.citation << "\n\n"
     << "Budget: **" << r.budget << "**, device: " << device_text << ", wall time " << format_duration(total);
  if (seeds > 1)
    md << ", " << seeds << " seeds (--seed 1 to " << seeds
       << "; seed 1 in this folder, seed s in seed-s/; seeds.png draws each row's first metric seed by seed)";
  md << ".\n\n";
  for (size_t i = 0; i < r.rows.size(); ++i) {
    const auto& [label, ms] = r.rows[i];
    md << "| " << label << " |";
    for (const Metric& m : ms) md << " " << m.name << " |";
    md << "\n|---|";
    for (size_t j = 0; j < ms.size(); ++j) md << "---|";
    md << "\n| this project" << (seeds > 1 ? ", mean of " + std::to_string(seeds) + " seeds" : "") << " |";
    for (const Ours& o : ours[i]) md << " " << fmt(o.mean) << " |";
    if (seeds > 1) {
      md << "\n| seed-to-seed sd |";
      for (const Ours& o : ours[i]) md << " " << fmt(o.sd) << " |";
      md << "\n| each seed |";
      for (const Ours& o : ours[i]) {
        md << " ";
        for (size_t k = 0; k < seeds; ++k) md << (k ? " / " : "") << fmt(o.seeds[k], 3);
        md << " |";
      }
    }
    md << "\n| paper |";
    for (const Metric& m : ms) md << " " << fmt(m.paper, 3) << " |";
    const bool targets =
        std::any_of(ms.begin(), ms.end(), [](const Metric& m) { return !std::isnan(m.target); });
    if (r.budget == "cpu" && targets) {
      md << "\n| target (CPU budget) |";
      for (size_t j = 0; j < ms.size(); ++j) {
        const double target = ms[j].target, mean = ours[i][j].mean;
        md << " " << (std::isnan(target) ? "" : ">= " + fmt(target, 2) + (mean >= target ? " met" : " missed"))
           << " |";
      }
    }
    md << "\n\n";
  }
  if (res.contains("paper_claim")) {
    md << "The paper's claim on these numbers" << (seeds > 1 ? " (the means over the seeds)" : "") << ":";
    for (auto& [k, v] : res["paper_claim"].items()) md << " " << k << " " << (v.get<bool>() ? "yes" : "no") << ";";
    md << "\n\n";
  }
  if (res.contains("paper_claim_tested")) {
    // "model" is the multi-task model, "model2" the lesion-only one.
    auto name = [](const json& v) {
      const std::string k = v.get<std::string>();
      return k == "model" ? std::string("MTL") : k == "model2" ? std::string("lesion-only") : k;
    };
    if (seeds > 1)
      md << "Are the recipes' differences more than luck? The mean over " << seeds
         << " seeds of each seed's difference, its 95% interval and p from two parts: the seed-to-seed spread "
            "of the differences (Student's t, "
         << seeds - 1 << (seeds == 2 ? " degree" : " degrees")
         << " of freedom) and the paired bootstrap of the held-out images (2000 draws); "
            "metrics/metrics.h, compare_map_seeds.\n\n"
         << "| difference | mAP-class | mAP-image | each seed's mAP-class difference |\n|---|---|---|---|\n";
    else
      md << "Are the differences more than the held-out images' luck? 95% interval and p by the paired bootstrap "
            "of the held-out images (2000 draws; `skinmtl metrics multilabel --compare` recomputes them from eval's "
            "score files).\n\n"
         << "| difference | mAP-class | mAP-image |\n|---|---|---|\n";
    for (const json& t : res["paper_claim_tested"]) {
      md << "| " << name(t.at("a")) << " - " << name(t.at("b")) << " |";
      for (const char* m : {"map_class", "map_image"}) {
        if (!t.contains(m)) {
          md << " - |";
          continue;
        }
        const json& d = t.at(m);
        const double low = d.at("low").get<double>(), high = d.at("high").get<double>();
        const std::string verdict = low > 0    ? name(t.at("a")) + " better"
                                    : high < 0 ? name(t.at("b")) + " better"
                                               : "not told apart";
        char buf[96];
        std::snprintf(buf, sizeof buf, " %+.4f (%+.4f to %+.4f), p %.4f: ", d.at("difference").get<double>(), low,
                      high, d.at("p").get<double>());
        md << buf << verdict << " |";
      }
      if (seeds > 1) {
        md << " ";
        if (t.contains("map_class")) {
          const json& per_seed = t.at("map_class").at("per_seed_difference");
          for (size_t k = 0; k < per_seed.size(); ++k) {
            char buf[32];
            std::snprintf(buf, sizeof buf, "%s%+.3f", k ? " / " : "", per_seed[k].get<double>());
            md << buf;
          }
        }
        md << " |";
      }
      md << "\n";
    }
    md << "\n";
  }
  md << r.paper_note << "\n\n## Steps\n\n| step | wall time | command |\n|---|---|---|\n";
  for (const json& s : steps)
    md << "| " << s["title"].get<std::string>() << " | "
       << format_duration(s["wall_s"].is_number() ? s["wall_s"].get<double>() : NAN)
       << " | `" << s["command"].get<std::string>() << "` |\n";
  md << "\n## Departures from the paper's recipe\n\n";
  for (const std::string& d : r.departures) md << "- " << d << "\n";
  {
    const std::string tmp = out + "/results.md.tmp";
    std::ofstream f(tmp);
    f << md.str();
    SKINMTL_CHECK(f.good(), "cannot write " << tmp);
    f.close();
    fs::rename(tmp, out + "/results.md");
  }
  std::fputs(md.str().c_str(), stdout);
}

}  // namespace

int cmd_reproduce(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::fputs(kHelp, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string paper = argv[1];
  Args args(argc - 1, argv + 1, {"budget", "device", "out", "data-dir", "iters", "precision", "seeds"},
            {"smoke", "dry-run"});
  if (args.help()) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  SKINMTL_CHECK(paper == "yang" || paper == "song" || paper == "liao",
                "reproduce: unknown paper '" << paper << "' (yang, song or liao)");
  const std::string device_name_arg = args.get("device", "auto");
  const Device device = parse_device(device_name_arg);
  const std::string device_arg = device == Device::CUDA ? "cuda" : "cpu";
  const std::string budget = args.get("budget", device == Device::CUDA ? "gpu" : "cpu");
  SKINMTL_USAGE_CHECK(budget == "cpu" || budget == "gpu", "--budget must be cpu or gpu, got '" << budget << "'");
  const bool smoke = args.flag("smoke");
  const std::string out = args.get("out", "runs/reproduce/" + paper + (smoke ? "_smoke" : ""));
  const std::string data_dir = args.get("data-dir", "../shared/data");
  const long long seeds = args.get_int("seeds", 1);
  SKINMTL_USAGE_CHECK(seeds >= 1 && seeds <= 100, "--seeds must be 1 to 100, got " << seeds);
  const std::string precision = precision_choice(args, device, "tf32");

  // One recipe per seed: seed 1 in OUT, seed s in OUT/seed-s.
  std::vector<Recipe> recipes;
  for (int seed = 1; seed <= (int)seeds; ++seed) {
    const std::string out_seed = seed == 1 ? out : out + "/seed-" + std::to_string(seed);
    Recipe r = paper == "yang"   ? yang_recipe(budget, smoke, out_seed, data_dir, device_arg)
               : paper == "song" ? song_recipe(budget, smoke, out_seed, data_dir, device_arg)
                                 : liao_recipe(budget, smoke, out_seed, data_dir, device_arg);
    if (args.has("iters")) shorten(r, args.get_int("iters", 0));
    // The training steps' precision, written into each of them.
    if (precision != "fp32") {
      for (Step& s : r.steps)
        if (s.argv.at(0) == "train") s.argv.insert(s.argv.end(), {"--precision", precision});
      r.departures.push_back(
          precision == "tf32"
              ? "--precision tf32: the GPU's convolutions and matrix products round their inputs to TF32 (10 "
                "mantissa bits) and sum in FP32, as PyTorch does by default for convolutions."
              : "--precision bf16: activations and convolutions in bfloat16 (8 significant bits) with float32 "
                "weights, gradients and losses, as PyTorch's autocast does.");
    }
    if (seed > 1) reseed(r, seed);
    recipes.push_back(std::move(r));
  }
  std::vector<const Step*> steps;  // every seed's steps, seed 1 first
  for (const Recipe& r : recipes)
    for (const Step& s : r.steps) steps.push_back(&s);
  std::printf("skinmtl reproduce %s: %s budget on %s, %zu steps%s, into %s\n", paper.c_str(), budget.c_str(),
              device_arg.c_str(), steps.size(),
              seeds > 1 ? (" (" + std::to_string(seeds) + " seeds)").c_str() : "", out.c_str());
  if (args.flag("dry-run")) {
    for (size_t i = 0; i < steps.size(); ++i)
      std::printf("  %zu. %s\n     %s\n", i + 1, steps[i]->title.c_str(), shell_line(steps[i]->argv).c_str());
    return 0;
  }
  fs::create_directories(out);

  // state.json: the wall time of each step, kept across interruptions.
  const std::string state_path = out + "/state.json";
  json state = {{"wall_s", json::object()}};
  if (fs::exists(state_path)) {
    std::ifstream f(state_path);
    try {
      f >> state;
    } catch (const json::exception& e) {
      SKINMTL_FAIL(state_path << ": not valid JSON (" << e.what() << "); delete it to start the timing afresh");
    }
  }
  auto save_state = [&] {
    const std::string tmp = state_path + ".tmp";
    std::ofstream f(tmp);
    f << state.dump(2) << "\n";
    f.close();
    fs::rename(tmp, state_path);
  };

  const auto run_start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < steps.size(); ++i) {
    const Step& s = *steps[i];
    const double elapsed_total = [&] {
      double t = 0;
      for (auto& [k, v] : state["wall_s"].items())
        if (v.is_number()) t += v.get<double>();
      return t;
    }();
    std::printf("\n== reproduce %s: step %zu/%zu: %s  (run so far %s)\n", paper.c_str(), i + 1, steps.size(),
                s.title.c_str(), format_duration(elapsed_total).c_str());
    if (fs::exists(s.done_file)) {
      std::printf("   done already (%s)\n", s.done_file.c_str());
    } else {
      std::vector<std::string> argv_step = s.argv;
      if (!s.checkpoint.empty() && fs::exists(s.checkpoint)) argv_step.push_back("--resume");
      std::printf("   %s\n", shell_line(argv_step).c_str());
      std::fflush(stdout);
      const auto t0 = std::chrono::steady_clock::now();
      const int rc = run_step(argv_step);
      const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      state["wall_s"][s.title] = state["wall_s"].value(s.title, 0.0) + dt;
      save_state();
      if (rc != 0) {
        std::fprintf(stderr, "reproduce %s: step %zu (%s) stopped with status %d; run the same command again to "
                     "continue\n", paper.c_str(), i + 1, s.title.c_str(), rc);
        return rc;
      }
    }
    // A training command keeps its own cumulative wall time across resumes
    // (including runs started by hand with the same command line).
    if (!s.train_log.empty()) {
      const double w = last_wall_s(s.train_log);
      if (std::isfinite(w)) {
        state["wall_s"][s.title] = w;
        save_state();
      }
    }
  }
  const double this_call = std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count();
  std::printf("\n== reproduce %s: all steps done (this call %s)\n\n", paper.c_str(), format_duration(this_call).c_str());
  std::string device_text = device == Device::CUDA ? cuda_device_description() : device_arg;
  if (device == Device::CPU) {
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line, model;
    int cores = 0;
    while (std::getline(cpuinfo, line)) {
      if (line.rfind("model name", 0) == 0 && model.empty()) model = line.substr(line.find(':') + 2);
      if (line.rfind("processor", 0) == 0) ++cores;
    }
    device_text = "CPU, " + std::to_string(cores) + " cores" + (model.empty() ? "" : " (" + model + ")");
  }
  write_results(recipes, state, out, device_text, smoke);
  std::printf("\nresults: %s/results.md, %s/results.json\n", out.c_str(), out.c_str());
  return 0;
}

}  // namespace skinmtl
