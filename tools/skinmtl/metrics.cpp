// skinmtl metrics: evaluation metrics from CSV files of scores and labels.
//
//   skinmtl metrics multilabel --scores S.csv --labels L.csv [--json]
//       mAP-class (Liao & Luo eq. 9), mAP-image (eq. 10) and a per-class AP
//       table laid out like the paper's Table 1.
//   skinmtl metrics topk --scores S.csv --labels L.csv [--k 1,3] [--json]
//       top-k accuracy of single-label predictions (labels: one-hot rows).
//
// The metrics are nets/metrics.h; the file format and its checks are
// io/score_csv.h. Exit status: 0 on success, 2 on bad arguments, 1 on any
// other error (thrown as skinmtl::Error and reported by main).
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/score_csv.h"
#include "nets/metrics.h"
#include "tools/skinmtl/commands.h"

namespace skinmtl {
namespace {

const char* kHelp =
    "usage:\n"
    "  skinmtl metrics multilabel --scores S.csv --labels L.csv [--json]\n"
    "  skinmtl metrics topk       --scores S.csv --labels L.csv [--k 1,3] [--json]\n"
    "\n"
    "multilabel: mAP-class (Liao & Luo 2016, eq. 9: per class, the AP of its ranking\n"
    "  of the images, averaged over classes), mAP-image (eq. 10: per image, the AP\n"
    "  of its ranking of the classes, averaged over images), and a per-class table\n"
    "  (class, number of positive images, AP) laid out like the paper's Table 1.\n"
    "  AP is the non-interpolated sum of precision x recall step (eqs. 9-10).\n"
    "  Classes or images with no positive label have no AP: they are left out of\n"
    "  the mean and their number is reported.\n"
    "topk: top-k accuracy of single-label predictions (e.g. body location); every\n"
    "  row of the labels file must hold exactly one 1.\n"
    "\n"
    "files: both CSVs have the header 'image_id,<class1>,<class2>,...' and one row\n"
    "  per image; scores are numbers, labels 0 or 1. Rows are matched by image_id\n"
    "  and columns by class name, in any order.\n"
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
    "  --scores FILE  per-image class scores (required)\n"
    "  --labels FILE  per-image 0/1 labels with the same columns (required)\n"
    "  --k LIST       topk only: comma-separated k values, each >= 1 (default 1,3)\n"
    "  --json         print one JSON object instead of the table\n"
    "  --help         this text\n";

struct Args {
  std::string mode;  // "multilabel" or "topk"
  std::string scores, labels;
  std::vector<int64_t> ks{1, 3};
  bool json = false;
  bool help = false;
};

// A bad command line: the message is printed with a hint, and the exit status is 2.
struct UsageError {
  std::string message;
};

std::vector<int64_t> parse_k_list(const std::string& s) {
  std::vector<int64_t> ks;
  size_t start = 0;
  while (true) {
    const size_t comma = s.find(',', start);
    const std::string item = s.substr(start, comma - start);
    char* end = nullptr;
    const long long k = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || k < 1)
      throw UsageError{"--k: '" + item + "' is not a whole number >= 1 (in '" + s + "')"};
    ks.push_back(k);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return ks;
}

Args parse_args(int argc, char** argv) {
  Args a;
  bool k_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string opt = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw UsageError{opt + " needs a value"};
      return argv[++i];
    };
    if (opt == "--help" || opt == "-h") {
      a.help = true;
    } else if (opt == "--json") {
      a.json = true;
    } else if (opt == "--scores") {
      a.scores = value();
    } else if (opt == "--labels") {
      a.labels = value();
    } else if (opt == "--k") {
      a.ks = parse_k_list(value());
      k_given = true;
    } else if (opt[0] != '-' && a.mode.empty()) {
      a.mode = opt;  // the first word that is not an option: multilabel or topk
    } else {
      throw UsageError{"unknown argument '" + opt + "'"};
    }
  }
  if (a.help) return a;
  if (a.mode.empty()) throw UsageError{"which metrics? 'multilabel' or 'topk'"};
  if (a.mode != "multilabel" && a.mode != "topk")
    throw UsageError{"unknown metrics '" + a.mode + "': 'multilabel' or 'topk'"};
  if (k_given && a.mode != "topk") throw UsageError{"--k applies to 'metrics topk' only"};
  if (a.scores.empty()) throw UsageError{"--scores FILE is required"};
  if (a.labels.empty()) throw UsageError{"--labels FILE is required"};
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

int run_multilabel(const Args& a) {
  const ScoredLabels d = read_scores_and_labels(a.scores, a.labels);
  const MapResult by_class = map_class(d.scores, d.labels);
  const MapResult by_image = map_image(d.scores, d.labels);
  const size_t n = d.image_ids.size(), p = d.class_names.size();

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
  return 0;
}

int run_topk(const Args& a) {
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

}  // namespace

int cmd_metrics(int argc, char** argv) {
  Args a;
  try {
    a = parse_args(argc, argv);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "skinmtl metrics: %s\nrun 'skinmtl metrics --help' for the options\n",
                 e.message.c_str());
    return 2;
  }
  if (a.help) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  return a.mode == "multilabel" ? run_multilabel(a) : run_topk(a);
}

}  // namespace skinmtl
