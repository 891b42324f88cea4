// skinmtl metrics: evaluation metrics from CSV files of scores and labels.
//
//   skinmtl metrics multilabel --scores S.csv --labels L.csv [--compare S2.csv] [--json]
//       mAP-class (Liao & Luo eq. 9), mAP-image (eq. 10) and a per-class AP
//       table laid out like the paper's Table 1; with --compare, a second
//       model's and the paired difference (bootstrap interval and p).
//   skinmtl metrics topk --scores S.csv --labels L.csv [--k 1,3] [--json]
//       top-k accuracy of single-label predictions (labels: one-hot rows).
//   skinmtl metrics seg --pred DIR --truth DIR [--threshold 128] [--compare DIR2] [--json]
//       segmentation masks against ground-truth masks: the means over images
//       of JA, DI, AC, SE, SP (Song et al. 2019, eq. 7; ISIC 2017 Part 1) and
//       the thresholded Jaccard; with --compare, a second model's masks and
//       the paired difference (bootstrap interval and p).
//   skinmtl metrics binary --scores S.csv --labels L.csv [--column NAME]
//                          [--score-column NAME] [--label-column NAME]
//                          [--threshold 0.5] [--compare S2.csv] [--json]
//       AC, AUC, AP, SE, SP per column (ISIC 2017 Part 3: melanoma,
//       seborrheic_keratosis), or of one scores column against one labels
//       column of another name (`predict detseg`'s malignant against ISIC's
//       melanoma).
//
// The metrics are metrics/metrics.h and metrics/seg_metrics.h; the CSV format and
// its checks are io/score_csv.h. Exit status: 0 on success, 2 on bad arguments, 1 on any
// other error (thrown as skinmtl::Error and reported by main).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/image.h"
#include "io/score_csv.h"
#include "io/seg_folder.h"
#include "app/args.h"
#include "metrics/metrics.h"
#include "metrics/seg_metrics.h"
#include "tools/skinmtl/commands.h"
#include "tools/skinmtl/map_compare_json.h"

namespace skinmtl {
namespace {

const char* kHelp =
    "usage:\n"
    "  skinmtl metrics multilabel --scores S.csv --labels L.csv [--compare S2.csv] [--json]\n"
    "  skinmtl metrics topk       --scores S.csv --labels L.csv [--k 1,3] [--json]\n"
    "  skinmtl metrics seg        --pred DIR --truth DIR [--threshold 128]\n"
    "                             [--compare DIR2] [--json]\n"
    "  skinmtl metrics binary     --scores S.csv --labels L.csv [--column NAME]\n"
    "                             [--score-column NAME] [--label-column NAME]\n"
    "                             [--threshold 0.5] [--compare S2.csv] [--json]\n"
    "\n"
    "multilabel: mAP-class (Liao & Luo 2016, eq. 9: per class, the AP of its ranking\n"
    "  of the images, averaged over classes), mAP-image (eq. 10: per image, the AP\n"
    "  of its ranking of the classes, averaged over images), and a per-class table\n"
    "  (class, number of positive images, AP) laid out like the paper's Table 1.\n"
    "  AP is the non-interpolated sum of precision x recall step (eqs. 9-10).\n"
    "  Classes or images with no positive label have no AP: they are left out of\n"
    "  the mean and their number is reported.\n"
    "  --compare S2.csv: the scores of a second model for the same images (same\n"
    "  columns): both mAPs, their difference with a 95% interval and the two-sided\n"
    "  p of 'equally good', by the bootstrap: 2000 draws of the images with\n"
    "  replacement, each image's two score rows kept together (the models are\n"
    "  scored on the same images); p < 0.05 where the interval leaves out 0, and\n"
    "  never below 2/2001.\n"
    "  --scores A1.csv,A2.csv,... --compare B1.csv,B2.csv,...: two training\n"
    "  recipes, one file per seed of each (the same number, comma-separated, seed\n"
    "  k of A paired with seed k of B): each seed's mAPs, the mean difference, and\n"
    "  its 95% interval and p from the seed-to-seed spread (Student's t, K - 1\n"
    "  degrees of freedom) added to the paired bootstrap of the images (as\n"
    "  `reproduce liao --seeds K` reports it).\n"
    "topk: top-k accuracy of single-label predictions (e.g. body location); every\n"
    "  row of the labels file must hold exactly one 1.\n"
    "seg: lesion masks against ground-truth masks (ISIC 2017 Part 1). Per image,\n"
    "  from pixel counts (lesion where the grey value >= --threshold):\n"
    "    JA = TP/(TP+FN+FP), DI = 2TP/(2TP+FN+FP), AC = (TP+TN)/all,\n"
    "    SE = TP/(TP+FN), SP = TN/(TN+FP)   (Song et al. 2019, eq. 7),\n"
    "  then the mean over images. No lesion in truth and prediction: JA = DI = 1.\n"
    "  SE (SP) is undefined for an image without lesion (background) pixels in the\n"
    "  truth: it is left out of that mean and the number is reported. Also the\n"
    "  thresholded Jaccard: each image's JA below 0.65 counts as 0 (ISIC 2018).\n"
    "  Matching: every image file in --truth (.png .jpg .jpeg .bmp .gif .tga;\n"
    "  other files are ignored) needs one in --pred with the same name once a\n"
    "  trailing '_segmentation' (ISIC) or '_lesion' (PH2) and the extension are\n"
    "  dropped: truth ISIC_0000000_segmentation.png matches ISIC_0000000.png or\n"
    "  ISIC_0000000_segmentation.png (any image extension). Two files of one\n"
    "  name in a folder, a missing prediction (all are listed) or masks of\n"
    "  different sizes are errors; predictions without a truth are ignored and\n"
    "  counted. Masks may be 8-bit grey, 1-bit or 24-bit colour (PNG, BMP, ...);\n"
    "  a colour pixel is lesion when any of R, G, B is >= --threshold.\n"
    "  --compare DIR2: a second model's masks of the same images (matched to the\n"
    "  truth as --pred's): per image metric defined on every image (JA,\n"
    "  thresholded JA, DI, AC), both means, their difference with a 95% interval\n"
    "  and the two-sided p, by the paired bootstrap of the images (as\n"
    "  multilabel's: 2000 draws, each image's two values kept together).\n"
    "binary: per label column, AC (at --threshold: positive when score >= it),\n"
    "  AUC (ROC, ties half), AP (as in multilabel), SE = TP/(TP+FN) and\n"
    "  SP = TN/(TN+FP), label 1 = positive (melanoma, seborrheic keratosis).\n"
    "  --column NAME takes that column only (the others may then differ);\n"
    "  --score-column S --label-column L compares column S of the scores with\n"
    "  column L of the labels (e.g. --score-column malignant --label-column\n"
    "  melanoma); either alone names the column of both files.\n"
    "  Each AUC comes with its 95% interval from DeLong et al. (1988)'s standard\n"
    "  error (normal, clipped to [0, 1]). --compare S2.csv: the scores of a second\n"
    "  model for the same images (same columns): per column, the two AUCs, their\n"
    "  difference with its 95% interval and the two-sided p of DeLong's test,\n"
    "  which accounts for the two being scored on the same images.\n"
    "\n"
    "files (multilabel, topk, binary): both CSVs have the header\n"
    "  'image_id,<class1>,<class2>,...' and one row per image (the ISIC 2017\n"
    "  Part 3 files, image_id,melanoma,seborrheic_keratosis, are such files);\n"
    "  scores are numbers, labels 0 or 1. Rows are matched by image_id and\n"
    "  columns by class name, in any order.\n"
    "\n"
    "ties (exactly equal scores), deterministic and independent of input order:\n"
    "  AP: items with equal scores are ranked together; every relevant item of a\n"
    "    tied block gets the precision at the END of the block (the precision of\n"
    "    all items scoring >= it). Pessimistic; same as scikit-learn's\n"
    "    average_precision_score. E.g. scores .9 .5 .5 .1, labels 0 1 0 1:\n"
    "    AP = (1/3 + 2/4) / 2 = 0.4167 whatever the order of the two .5 rows.\n"
    "  top-k: the true class's rank is the number of classes scoring >= it, so a\n"
    "    class tied across the k-th place counts as OUTSIDE the top k.\n"
    "\n"
    "options:\n"
    "  --scores FILE    per-image class scores (multilabel, topk, binary)\n"
    "  --labels FILE    per-image 0/1 labels with the same columns\n"
    "  --k LIST         topk only: comma-separated k values, each >= 1 (default 1,3)\n"
    "  --pred DIR       seg: the predicted masks\n"
    "  --truth DIR      seg: the ground-truth masks\n"
    "  --threshold T    seg: lesion where grey >= T, 1..255 (default 128);\n"
    "                   binary: positive where score >= T (default 0.5)\n"
    "  --column NAME    binary only: this column alone, in both files\n"
    "  --score-column NAME, --label-column NAME\n"
    "                   binary only: this column of the scores file against this\n"
    "                   column of the labels file\n"
    "  --compare FILE   binary, multilabel: a second model's scores file, compared\n"
    "                   with the first on the same images; seg: a second folder of\n"
    "                   predicted masks\n"
    "  --json           print one JSON object instead of the table\n"
    "  --help           this text\n";

// The command line, checked.
struct MetricsOptions {
  std::string mode;  // "multilabel", "topk", "seg" or "binary"
  std::string scores, labels;
  std::string pred, truth;   // seg
  std::string column;        // binary: --column (both files)
  std::string score_column, label_column;  // binary: --score-column, --label-column
  std::string compare;       // binary, multilabel: --compare (a second scores file); seg: a second --pred
  bool threshold_given = false;
  int seg_threshold = 128;      // seg: lesion where grey >= it
  double bin_threshold = 0.5;   // binary: positive where score >= it
  std::vector<int64_t> ks{1, 3};
  bool json = false;
  bool help = false;
};

// A bad command line throws skinmtl::UsageError (base/check.h): bin/skinmtl
// prints it with a hint and exits 2. The options are read by Args
// (app/args.h), as every command's are; the checks of which options
// go with which metrics are here.

std::vector<int64_t> parse_k_list(const std::string& s) {
  std::vector<int64_t> ks;
  size_t start = 0;
  while (true) {
    const size_t comma = s.find(',', start);
    const std::string item = s.substr(start, comma - start);
    char* end = nullptr;
    const long long k = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || k < 1)
      throw UsageError("--k: '" + item + "' is not a whole number >= 1 (in '" + s + "')");
    ks.push_back(k);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return ks;
}

MetricsOptions parse_args(int argc, char** argv) {
  // The first word that is not an option (anywhere) says which metrics.
  const Args args(argc, argv,
                  {"scores", "labels", "pred", "truth", "column", "score-column", "label-column",
                   "threshold", "k", "compare"},
                  {"json"}, 1);
  MetricsOptions a;
  a.help = args.help();
  if (a.help) return a;
  if (!args.positional().empty()) a.mode = args.positional()[0];
  a.json = args.flag("json");
  a.scores = args.get("scores", "");
  a.labels = args.get("labels", "");
  a.pred = args.get("pred", "");
  a.truth = args.get("truth", "");
  a.column = args.get("column", "");
  a.score_column = args.get("score-column", "");
  a.label_column = args.get("label-column", "");
  a.compare = args.get("compare", "");
  a.threshold_given = args.has("threshold");
  const std::string threshold = args.get("threshold", "");
  const bool k_given = args.has("k");
  if (k_given) a.ks = parse_k_list(args.get("k", ""));
  const char* modes = "'multilabel', 'topk', 'seg' or 'binary'";
  if (a.mode.empty()) throw UsageError(std::string("which metrics? ") + modes);
  if (a.mode != "multilabel" && a.mode != "topk" && a.mode != "seg" && a.mode != "binary")
    throw UsageError("unknown metrics '" + a.mode + "': " + modes);
  if (k_given && a.mode != "topk") throw UsageError("--k applies to 'metrics topk' only");
  const bool any_column = !a.column.empty() || !a.score_column.empty() || !a.label_column.empty();
  if (any_column && a.mode != "binary")
    throw UsageError("--column, --score-column and --label-column apply to 'metrics binary' only");
  if (args.has("compare") && a.mode == "topk")
    throw UsageError("--compare applies to 'metrics binary', 'metrics multilabel' and 'metrics seg' only");
  if (args.has("compare") && a.compare.empty())
    throw UsageError(a.mode == "seg" ? "--compare needs a folder of masks" : "--compare needs a scores file");
  if (!a.column.empty() && (!a.score_column.empty() || !a.label_column.empty()))
    throw UsageError("give --column NAME (the same column in both files) or --score-column and --label-column, "
                     "not both");
  // One name given: it names the column of both files.
  if (!a.column.empty()) a.score_column = a.label_column = a.column;
  if (a.score_column.empty()) a.score_column = a.label_column;
  if (a.label_column.empty()) a.label_column = a.score_column;
  if (a.threshold_given) {
    if (a.mode != "seg" && a.mode != "binary")
      throw UsageError("--threshold applies to 'metrics seg' and 'metrics binary' only");
    char* end = nullptr;
    if (a.mode == "seg") {
      const long t = std::strtol(threshold.c_str(), &end, 10);
      if (threshold.empty() || *end != '\0' || t < 1 || t > 255)
        throw UsageError("--threshold: '" + threshold + "' is not a whole number in 1..255");
      a.seg_threshold = (int)t;
    } else {
      const double t = std::strtod(threshold.c_str(), &end);
      if (threshold.empty() || *end != '\0' || !std::isfinite(t))
        throw UsageError("--threshold: '" + threshold + "' is not a number");
      a.bin_threshold = t;
    }
  }
  if (a.mode == "seg") {
    if (!a.scores.empty() || !a.labels.empty())
      throw UsageError("'metrics seg' reads masks: --pred DIR --truth DIR, not --scores/--labels");
    if (a.pred.empty()) throw UsageError("--pred DIR is required");
    if (a.truth.empty()) throw UsageError("--truth DIR is required");
    return a;
  }
  if (!a.pred.empty() || !a.truth.empty()) throw UsageError("--pred and --truth apply to 'metrics seg' only");
  if (a.scores.empty()) throw UsageError("--scores FILE is required");
  if (a.labels.empty()) throw UsageError("--labels FILE is required");
  return a;
}

nlohmann::json optional_json(const std::optional<double>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

std::string fixed4(const std::optional<double>& v) {
  if (!v) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", *v);
  return buf;
}

// "+0.0123".
std::string signed4(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%+.4f", v);
  return buf;
}
// p at the floor of its draws (no draw reached 0) is "<= " the floor.
std::string p_text(const MapDifference& d) {
  const double floor = 2.0 / (double)(1 + d.resamples - d.skipped);
  char buf[32];
  if (d.p <= floor) std::snprintf(buf, sizeof buf, "<= %.4f", std::ceil(floor * 1e4) / 1e4);
  else std::snprintf(buf, sizeof buf, "%.4f", d.p);
  return buf;
}

// Splits "a.csv,b.csv" at its commas.
std::vector<std::string> file_list(const std::string& text) {
  std::vector<std::string> files;
  std::string::size_type start = 0;
  while (true) {
    const std::string::size_type comma = text.find(',', start);
    files.push_back(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (files.back().empty()) throw UsageError("an empty file name in the list '" + text + "'");
    if (comma == std::string::npos) return files;
    start = comma + 1;
  }
}

// metrics multilabel with a list of score files per recipe: the comparison of
// two recipes over their seeds (metrics/metrics.h, compare_map_seeds).
int run_multilabel_seeds(const MetricsOptions& a) {
  const std::vector<std::string> files_a = file_list(a.scores), files_b = file_list(a.compare);
  if (files_a.size() != files_b.size())
    throw UsageError("--scores lists " + std::to_string(files_a.size()) + " files and --compare " +
                     std::to_string(files_b.size()) + ": one per seed of each recipe, the same number");
  const ScoreTable labels = read_label_csv(a.labels);
  std::vector<ScoredLabels> read_a, read_b;
  for (size_t k = 0; k < files_a.size(); ++k) {
    read_a.push_back(match_scores_labels(read_score_csv(files_a[k]), labels));
    read_b.push_back(match_scores_labels(read_score_csv(files_b[k]), labels));
  }
  // Every file in the first one's row and column order.
  const ScoredLabels& first = read_a[0];
  std::vector<ScoreMatrix> scores_a, scores_b;
  for (size_t k = 0; k < files_a.size(); ++k) {
    scores_a.push_back(scores_in_order_of(first, read_a[k]));
    scores_b.push_back(scores_in_order_of(first, read_b[k]));
  }
  const SeedMapComparison c = compare_map_seeds(scores_a, scores_b, first.labels);
  if (a.json) {
    nlohmann::json j;
    j["scores"] = files_a;
    j["compare"] = files_b;
    j["labels"] = a.labels;
    j["images"] = first.image_ids.size();
    j["classes"] = first.class_names.size();
    j["seeds"] = files_a.size();
    j["comparison_across_seeds"] = {{"map_class", seed_map_difference_json(c.map_class)},
                                    {"map_image", seed_map_difference_json(c.map_image)}};
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("%zu seeds of two recipes on the same %zu images, %zu classes (labels: %s)\n", files_a.size(),
              first.image_ids.size(), first.class_names.size(), a.labels.c_str());
  for (size_t k = 0; k < files_a.size(); ++k)
    std::printf("  seed %zu: %s  against  %s\n", k + 1, files_a[k].c_str(), files_b[k].c_str());
  const std::pair<const char*, const std::optional<SeedMapDifference>*> rows[] = {{"mAP-class", &c.map_class},
                                                                                  {"mAP-image", &c.map_image}};
  for (const auto& [name, x] : rows) {
    if (!*x) {
      std::printf("\n%s: undefined (no ranking with a positive)\n", name);
      continue;
    }
    const SeedMapDifference& d = **x;
    std::printf("\n%s    A       B       A - B\n", name);
    for (size_t k = 0; k < d.a.size(); ++k)
      std::printf("  seed %-3zu  %.4f  %.4f  %s\n", k + 1, d.a[k], d.b[k], signed4(d.a[k] - d.b[k]).c_str());
    std::printf("  mean      %.4f  %.4f  %s  95%% [%s, %s]  p %.4f  (%s)\n", d.mean_a, d.mean_b,
                signed4(d.diff).c_str(), signed4(d.low).c_str(), signed4(d.high).c_str(), d.p,
                interval_verdict(d.low, d.high));
    std::printf("  standard error %.4f: seeds' spread %.4f (sd %.4f over %zu seeds), images' bootstrap %.4f; "
                "t with %.0f degree%s of freedom\n",
                d.se, d.se_training, d.sd_training, d.a.size(), d.se_images, d.df, d.df == 1 ? "" : "s");
  }
  return 0;
}

int run_multilabel(const MetricsOptions& a) {
  if (a.scores.find(',') != std::string::npos || a.compare.find(',') != std::string::npos) {
    if (a.compare.empty())
      throw UsageError("--scores lists several files (one per seed): give the other recipe's seeds with --compare");
    return run_multilabel_seeds(a);
  }
  const ScoreTable labels = read_label_csv(a.labels);
  const ScoredLabels d = match_scores_labels(read_score_csv(a.scores), labels);
  const MapResult by_class = map_class(d.scores, d.labels);
  const MapResult by_image = map_image(d.scores, d.labels);
  const size_t n = d.image_ids.size(), p = d.class_names.size();
  std::optional<MapComparison> cmp;
  if (!a.compare.empty())
    cmp = compare_map(d.scores, scores_in_order_of(d, match_scores_labels(read_score_csv(a.compare), labels)), d.labels);

  if (a.json) {
    nlohmann::json j;
    j["scores"] = a.scores;
    j["labels"] = a.labels;
    j["images"] = n;
    j["classes"] = p;
    j["map_class"] = optional_json(by_class.map);
    j["map_image"] = optional_json(by_image.map);
    j["classes_used"] = by_class.used;
    j["classes_excluded"] = by_class.excluded;
    j["images_used"] = by_image.used;
    j["images_excluded"] = by_image.excluded;
    nlohmann::json per_class = nlohmann::json::array();
    for (size_t c = 0; c < p; ++c)
      per_class.push_back({{"class", d.class_names[c]},
                           {"positives", by_class.positives[c]},
                           {"ap", optional_json(by_class.ap[c])}});
    j["per_class"] = per_class;
    if (cmp) {
      j["compare"] = a.compare;
      j["comparison"] = {{"map_class", map_difference_json(cmp->map_class)},
                         {"map_image", map_difference_json(cmp->map_image)}};
    }
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }

  // The table of Table 1: class, positives, AP; then the two means.
  int width = static_cast<int>(std::strlen("mAP-class"));
  for (const std::string& name : d.class_names) width = std::max(width, static_cast<int>(name.size()));
  std::printf("scores: %s\nlabels: %s\n%zu images, %zu classes\n\n", a.scores.c_str(),
              a.labels.c_str(), n, p);
  std::printf("%-*s  %9s  %s\n", width, "class", "positives", "AP");
  for (size_t c = 0; c < p; ++c)
    std::printf("%-*s  %9lld  %s%s\n", width, d.class_names[c].c_str(),
                static_cast<long long>(by_class.positives[c]), fixed4(by_class.ap[c]).c_str(),
                by_class.ap[c] ? "" : "  (no positive: excluded)");
  std::printf("%s\n", std::string(static_cast<size_t>(width) + 19, '-').c_str());
  std::printf("%-*s  %9s  %s  (mean over %lld classes; %lld without a positive excluded)\n", width,
              "mAP-class", "", fixed4(by_class.map).c_str(), static_cast<long long>(by_class.used),
              static_cast<long long>(by_class.excluded));
  std::printf("%-*s  %9s  %s  (mean over %lld images; %lld without a positive excluded)\n", width,
              "mAP-image", "", fixed4(by_image.map).c_str(), static_cast<long long>(by_image.used),
              static_cast<long long>(by_image.excluded));
  if (cmp) {
    std::printf("\nagainst %s (the same images; 95%% interval and p: paired bootstrap of the images)\n",
                a.compare.c_str());
    std::printf("%-*s  %-6s  %-6s  %-10s  %-18s  %s\n", width, "", "mAP", "mAP 2", "difference", "95% interval",
                "p (two-sided)");
    const std::pair<const char*, const std::optional<MapDifference>*> rows[] = {{"mAP-class", &cmp->map_class},
                                                                                {"mAP-image", &cmp->map_image}};
    for (const auto& [name, x] : rows) {
      if (!*x) {
        std::printf("%-*s  -\n", width, name);
        continue;
      }
      const MapDifference& m = **x;
      std::printf("%-*s  %.4f  %.4f  %-10s  %-18s  %s\n", width, name, m.a, m.b, signed4(m.diff).c_str(),
                  ("[" + signed4(m.low) + ", " + signed4(m.high) + "]").c_str(), p_text(m).c_str());
    }
  }
  return 0;
}

int run_topk(const MetricsOptions& a) {
  const ScoreTable labels = read_label_csv(a.labels);
  check_one_hot(labels);
  const ScoredLabels d = match_scores_labels(read_score_csv(a.scores), labels);
  std::vector<int64_t> truth(d.labels.size());
  for (size_t i = 0; i < d.labels.size(); ++i)
    truth[i] = std::find(d.labels[i].begin(), d.labels[i].end(), 1) - d.labels[i].begin();
  const std::vector<TopKResult> results = topk_accuracy(d.scores, truth, a.ks);

  if (a.json) {
    nlohmann::json j;
    j["scores"] = a.scores;
    j["labels"] = a.labels;
    j["images"] = d.image_ids.size();
    j["classes"] = d.class_names.size();
    nlohmann::json topk = nlohmann::json::array();
    for (const TopKResult& r : results)
      topk.push_back({{"k", r.k}, {"accuracy", r.accuracy}, {"correct", r.correct}, {"total", r.total}});
    j["topk"] = topk;
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }

  std::printf("scores: %s\nlabels: %s\n%zu images, %zu classes\n\n", a.scores.c_str(),
              a.labels.c_str(), d.image_ids.size(), d.class_names.size());
  for (const TopKResult& r : results)
    std::printf("top-%-3lld accuracy  %.4f  (%lld of %lld)\n", static_cast<long long>(r.k),
                r.accuracy, static_cast<long long>(r.correct), static_cast<long long>(r.total));
  return 0;
}

// ---- seg -----------------------------------------------------------------------------------

// The pixel counts of the masks in `pred_dir` (given as `option`) against
// every truth mask, in the truth's name order; a missing prediction, a mask
// that cannot be read or one of another size is an error naming them.
// *ignored: the predictions without a truth mask.
std::vector<SegCounts> count_masks(const std::map<std::string, std::string>& truth, const std::string& pred_dir,
                                   const char* option, int threshold, int64_t* ignored) {
  const std::map<std::string, std::string> pred = list_image_files(pred_dir, option, true);
  std::vector<std::string> keys, missing;
  for (const auto& [key, path] : truth) {
    keys.push_back(key);
    if (!pred.count(key)) missing.push_back(key);
  }
  SKINMTL_USER_CHECK(missing.empty(), missing.size() << " of " << truth.size()
                                                     << " ground-truth masks have no prediction in " << pred_dir << ": "
                                                     << name_list(missing));
  *ignored = (int64_t)pred.size() - (int64_t)truth.size();

  // Decode and count in parallel; errors are kept per image and reported in name order.
  const int64_t n = (int64_t)keys.size();
  std::vector<SegCounts> counts((size_t)n);
  std::vector<std::string> errors((size_t)n);
#pragma omp parallel for schedule(dynamic, 4)
  for (int64_t i = 0; i < n; ++i) {
    const std::string& t_path = truth.at(keys[i]);
    const std::string& p_path = pred.at(keys[i]);
    try {
      const Image t = load_truth_mask(t_path), p = load_mask(p_path);
      if (t.height != p.height || t.width != p.width) {
        errors[i] = "the prediction " + p_path + " is " + std::to_string(p.height) + "x" + std::to_string(p.width) +
                    " but the truth " + t_path + " is " + std::to_string(t.height) + "x" + std::to_string(t.width);
        continue;
      }
      counts[i] = seg_counts(p, t, threshold);
    } catch (const std::exception& e) {
      errors[i] = e.what();
    }
  }
  std::vector<std::string> failed;
  for (int64_t i = 0; i < n; ++i)
    if (!errors[i].empty()) failed.push_back(keys[i] + ": " + errors[i]);
  if (!failed.empty()) {
    std::string msg = std::to_string(failed.size()) + " of " + std::to_string(n) + " masks could not be compared:";
    for (size_t i = 0; i < failed.size() && i < 20; ++i) msg += "\n  " + failed[i];
    if (failed.size() > 20) msg += "\n  ... and " + std::to_string(failed.size() - 20) + " more";
    throw Error(msg);
  }
  return counts;
}

// The per-image metrics `metrics seg --compare` sets side by side: those
// defined on every image (SE and SP are not).
struct PerImageSegMetric {
  const char* key;    // in the JSON
  const char* label;  // in the table
  double (*of)(const SegScores&);
};
const PerImageSegMetric kComparedSegMetrics[] = {
    {"ja", "JA", [](const SegScores& s) { return s.ja; }},
    {"thresholded_ja", "thresholded JA", [](const SegScores& s) { return thresholded_jaccard(s.ja); }},
    {"di", "DI", [](const SegScores& s) { return s.di; }},
    {"ac", "AC", [](const SegScores& s) { return s.ac; }},
};

int run_seg(const MetricsOptions& a) {
  const std::map<std::string, std::string> truth = list_image_files(a.truth, "--truth", true);
  SKINMTL_USER_CHECK(!truth.empty(), "--truth " << a.truth << ": no mask images (.png, .jpg, .bmp, ...) in it");
  int64_t ignored = 0, ignored_compare = 0;
  const std::vector<SegCounts> counts = count_masks(truth, a.pred, "--pred", a.seg_threshold, &ignored);
  // --compare: the second folder's counts, image for image.
  std::vector<MapDifference> cmp;
  if (!a.compare.empty()) {
    const std::vector<SegCounts> other = count_masks(truth, a.compare, "--compare", a.seg_threshold, &ignored_compare);
    std::vector<SegScores> sa, sb;
    for (size_t i = 0; i < counts.size(); ++i) {
      sa.push_back(seg_scores(counts[i]));
      sb.push_back(seg_scores(other[i]));
    }
    for (const PerImageSegMetric& metric : kComparedSegMetrics) {
      std::vector<double> va, vb;
      for (size_t i = 0; i < sa.size(); ++i) {
        va.push_back(metric.of(sa[i]));
        vb.push_back(metric.of(sb[i]));
      }
      cmp.push_back(compare_paired_means(va, vb));
    }
  }
  const SegMetrics m = seg_metrics(counts);

  if (a.json) {
    nlohmann::json j;
    j["pred"] = a.pred;
    j["truth"] = a.truth;
    j["threshold"] = a.seg_threshold;
    j["images"] = m.images;
    j["predictions_ignored"] = ignored;
    j["ja"] = optional_json(m.ja);
    j["di"] = optional_json(m.di);
    j["ac"] = optional_json(m.ac);
    j["se"] = optional_json(m.se);
    j["sp"] = optional_json(m.sp);
    j["se_excluded"] = m.se_excluded;
    j["sp_excluded"] = m.sp_excluded;
    j["thresholded_ja"] = optional_json(m.thresholded_ja);
    j["ja_below_cutoff"] = m.ja_below_cutoff;
    if (!a.compare.empty()) {
      j["compare"] = a.compare;
      j["compare_predictions_ignored"] = ignored_compare;
      for (size_t k = 0; k < cmp.size(); ++k) {
        const MapDifference& d = cmp[k];
        j["comparison"][kComparedSegMetrics[k].key] = {{"mean", d.a},  {"mean_compare", d.b}, {"difference", d.diff},
                                                        {"low", d.low}, {"high", d.high},      {"p", d.p},
                                                        {"resamples", d.resamples}};
      }
    }
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("pred:  %s\ntruth: %s\n%lld images (lesion where grey >= %d)", a.pred.c_str(), a.truth.c_str(),
              (long long)m.images, a.seg_threshold);
  if (ignored > 0) std::printf("; %lld predictions without a truth mask ignored", (long long)ignored);
  std::printf("\n\n");
  std::printf("JA  %s  Jaccard index     (mean over %lld images)\n", fixed4(m.ja).c_str(), (long long)m.images);
  std::printf("DI  %s  Dice coefficient\n", fixed4(m.di).c_str());
  std::printf("AC  %s  pixel accuracy\n", fixed4(m.ac).c_str());
  std::printf("SE  %s  sensitivity       (mean over %lld images; %lld without lesion pixels excluded)\n",
              fixed4(m.se).c_str(), (long long)(m.images - m.se_excluded), (long long)m.se_excluded);
  std::printf("SP  %s  specificity       (mean over %lld images; %lld without background pixels excluded)\n",
              fixed4(m.sp).c_str(), (long long)(m.images - m.sp_excluded), (long long)m.sp_excluded);
  std::printf("thresholded JA  %s  (each JA < 0.65 counted as 0: %lld images)\n", fixed4(m.thresholded_ja).c_str(),
              (long long)m.ja_below_cutoff);
  if (!a.compare.empty()) {
    std::printf("\nagainst %s (the same images; 95%% interval and p: paired bootstrap of the images)\n",
                a.compare.c_str());
    std::printf("%-14s  %-6s  %-6s  %-10s  %-18s  %s\n", "", "mean", "mean 2", "difference", "95% interval",
                "p (two-sided)");
    for (size_t k = 0; k < cmp.size(); ++k) {
      const MapDifference& d = cmp[k];
      std::printf("%-14s  %.4f  %.4f  %-10s  %-18s  %s\n", kComparedSegMetrics[k].label, d.a, d.b,
                  signed4(d.diff).c_str(), ("[" + signed4(d.low) + ", " + signed4(d.high) + "]").c_str(),
                  p_text(d).c_str());
    }
  }
  return 0;
}

// ---- binary --------------------------------------------------------------------------------

// "[0.6123, 0.7890]", or "-".
std::string interval(const std::optional<AucEstimate>& e) {
  return e ? "[" + fixed4(e->low) + ", " + fixed4(e->high) + "]" : "-";
}

int run_binary(const MetricsOptions& a) {
  // With a column named, only that column of each file is read (the others
  // may hold anything), and the scores' column is matched to the labels' under
  // the labels' name: "malignant" is compared as "melanoma".
  ScoreTable scores = read_score_csv(a.scores, a.score_column);
  const ScoreTable labels = read_label_csv(a.labels, a.label_column);
  auto match = [&](ScoreTable& t) {
    if (!a.score_column.empty()) t.class_names = labels.class_names;
    return match_scores_labels(t, labels);
  };
  const ScoredLabels d = match(scores);
  const size_t n = d.image_ids.size();
  // --compare: the second file's scores in the first's row and column order
  // (both are matched to the labels, so they hold the same images and columns).
  ScoreMatrix other;
  if (!a.compare.empty()) {
    ScoreTable second = read_score_csv(a.compare, a.score_column);
    other = scores_in_order_of(d, match(second));
  }
  std::vector<BinaryMetrics> results;
  std::vector<std::optional<AucEstimate>> intervals;
  std::vector<std::optional<AucDifference>> comparisons;
  for (size_t c = 0; c < d.class_names.size(); ++c) {
    std::vector<double> s(n), t(other.empty() ? 0 : n);
    std::vector<int> l(n);
    for (size_t i = 0; i < n; ++i) s[i] = d.scores[i][c], l[i] = d.labels[i][c];
    for (size_t i = 0; i < t.size(); ++i) t[i] = other[i][c];
    results.push_back(binary_metrics(s, l, a.bin_threshold));
    intervals.push_back(roc_auc_delong(s, l));
    if (!other.empty()) comparisons.push_back(compare_roc_auc(s, t, l));
  }

  if (a.json) {
    nlohmann::json j;
    j["scores"] = a.scores;
    j["labels"] = a.labels;
    j["images"] = n;
    j["threshold"] = a.bin_threshold;
    if (!a.score_column.empty()) {
      j["score_column"] = a.score_column;
      j["label_column"] = a.label_column;
    }
    nlohmann::json cols = nlohmann::json::array();
    for (size_t c = 0; c < results.size(); ++c) {
      const BinaryMetrics& m = results[c];
      const std::optional<AucEstimate>& e = intervals[c];
      cols.push_back({{"column", d.class_names[c]},
                      {"positives", m.positives},
                      {"accuracy", optional_json(m.accuracy)},
                      {"auc", optional_json(m.auc)},
                      {"auc_se", e ? nlohmann::json(e->se) : nlohmann::json(nullptr)},
                      {"auc_low", e ? nlohmann::json(e->low) : nlohmann::json(nullptr)},
                      {"auc_high", e ? nlohmann::json(e->high) : nlohmann::json(nullptr)},
                      {"ap", optional_json(m.ap)},
                      {"sensitivity", optional_json(m.sensitivity)},
                      {"specificity", optional_json(m.specificity)},
                      {"tp", m.at_threshold.tp},
                      {"fp", m.at_threshold.fp},
                      {"tn", m.at_threshold.tn},
                      {"fn", m.at_threshold.fn}});
    }
    j["columns"] = cols;
    if (!a.compare.empty()) {
      j["compare"] = a.compare;
      nlohmann::json cmp = nlohmann::json::array();
      for (size_t c = 0; c < comparisons.size(); ++c) {
        const std::optional<AucDifference>& x = comparisons[c];
        if (!x) {
          cmp.push_back({{"column", d.class_names[c]}, {"difference", nullptr}});
          continue;
        }
        cmp.push_back({{"column", d.class_names[c]},
                       {"auc", x->a.auc},
                       {"auc_compare", x->b.auc},
                       {"difference", x->diff},
                       {"se", x->se},
                       {"low", x->low},
                       {"high", x->high},
                       {"z", x->z},
                       {"p", x->p}});
      }
      j["comparison"] = cmp;
    }
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  int width = (int)std::strlen("column");
  for (const std::string& name : d.class_names) width = std::max(width, (int)name.size());
  if (a.score_column != a.label_column)
    std::printf("scores: %s, column %s\nlabels: %s, column %s\n", a.scores.c_str(), a.score_column.c_str(),
                a.labels.c_str(), a.label_column.c_str());
  else
    std::printf("scores: %s\nlabels: %s\n", a.scores.c_str(), a.labels.c_str());
  std::printf("%zu images; positive: label 1; predicted positive: score >= %g\n\n", n, a.bin_threshold);
  std::printf("%-*s  %9s  %-6s  %-6s  %-16s  %-6s  %-6s  %-6s  %s\n", width, "column", "positives", "AC", "AUC",
              "AUC 95% (DeLong)", "AP", "SE", "SP", "TP/FP/TN/FN");
  for (size_t c = 0; c < results.size(); ++c) {
    const BinaryMetrics& m = results[c];
    std::printf("%-*s  %9lld  %-6s  %-6s  %-16s  %-6s  %-6s  %-6s  %lld/%lld/%lld/%lld\n", width,
                d.class_names[c].c_str(), (long long)m.positives, fixed4(m.accuracy).c_str(),
                fixed4(m.auc).c_str(), interval(intervals[c]).c_str(),
                fixed4(m.ap).c_str(), fixed4(m.sensitivity).c_str(), fixed4(m.specificity).c_str(),
                (long long)m.at_threshold.tp, (long long)m.at_threshold.fp, (long long)m.at_threshold.tn,
                (long long)m.at_threshold.fn);
  }
  std::printf("('-': undefined: AUC needs a positive and a negative, AP and SE a positive, SP a negative;\n"
              " the interval needs two of each)\n");
  if (!a.compare.empty()) {
    std::printf("\nagainst %s (DeLong's test: the same images, so the two AUCs are correlated)\n",
                a.compare.c_str());
    std::printf("%-*s  %-6s  %-6s  %-10s  %-18s  %s\n", width, "column", "AUC", "AUC 2", "difference",
                "95% interval", "p (two-sided)");
    for (size_t c = 0; c < comparisons.size(); ++c) {
      const std::optional<AucDifference>& x = comparisons[c];
      if (!x) {
        std::printf("%-*s  -\n", width, d.class_names[c].c_str());
        continue;
      }
      char diff[32], ci[64], pv[32];
      std::snprintf(diff, sizeof diff, "%+.4f", x->diff);
      std::snprintf(ci, sizeof ci, "[%+.4f, %+.4f]", x->low, x->high);
      std::snprintf(pv, sizeof pv, x->p < 1e-4 ? "%.1e" : "%.4f", x->p);
      std::printf("%-*s  %.4f  %.4f  %-10s  %-18s  %s\n", width, d.class_names[c].c_str(), x->a.auc, x->b.auc, diff,
                  ci, pv);
    }
  }
  return 0;
}

}  // namespace

int cmd_metrics(int argc, char** argv) {
  const MetricsOptions a = parse_args(argc, argv);  // a UsageError: bin/skinmtl says it and exits 2
  if (a.help) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  if (a.mode == "seg") return run_seg(a);
  if (a.mode == "binary") return run_binary(a);
  return a.mode == "multilabel" ? run_multilabel(a) : run_topk(a);
}

}  // namespace skinmtl
