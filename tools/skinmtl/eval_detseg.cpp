// skinmtl eval detseg: the evaluation of Song et al. (2019) for a model of
// `skinmtl train detseg`: on the val split of a data set by default, or
// another split, every row, or two folders of images and masks
// (app/eval_data.h); beside the paper's numbers only on ISIC 2017's
// val split.
//
//   segmentation (ISIC 2017 Part 1; Song eq. 7): per image JA, DI, AC, SE, SP
//     of the predicted mask against the ORIGINAL ground-truth mask, at the
//     source image's resolution (the prediction is mapped back from the
//     letterbox, app/detseg_predict.h), then the means over images
//     (metrics/seg_metrics.h, with its conventions for empty masks); also the
//     thresholded Jaccard of ISIC 2018.
//   classification (ISIC 2017 Part 3, melanoma vs. the rest; Song's benign /
//     malignant): the malignant probability p_mal / (p_ben + p_mal) against
//     the melanoma flag: AC, SE, SP at 0.5, ROC AUC, AP (metrics/seg_metrics.h
//     binary_metrics), melanoma the positive class (ISIC's convention). Not
//     scored for folders without --labels.
//     Song et al. count BENIGN as positive (Sec. III-C), so their SE is our
//     SP and their SP our SE; the table shows their numbers swapped into our
//     convention and says so.
//   detection (no paper number: Song et al. do not score boxes, having no box
//     ground truth): the images with a detection and the mean IoU of the box
//     with the ground-truth mask's box.
//
// The paper's numbers are on the ISIC 2017 TEST split (600 images; Tables III,
// VIII, IX), with ResNet-101 for the classification tables (Table VIII's
// "Ours (ONLY ISIC2017)" row is the one trained on ISIC 2017 alone, as here).
// The test split is not among the data here; ISIC 2017's val split (150
// images, `--data isic2017`, the default split) is the nearest thing, and only
// then are the paper's numbers printed, with that caveat; only rough agreement
// can be expected.
//
// Files in --out, so that every number can be recomputed from files:
//   masks/, overlays/ (the first --overlays images), predictions.csv
//       as `skinmtl predict detseg` (app/detseg_predict.h);
//   scores.csv, labels.csv   image_id,melanoma: the malignant probability and
//       the 0/1 truth (labels.csv only when the data has labels): `skinmtl
//       metrics binary --scores --labels` gives the classification numbers;
//   truth/   copies of the ground-truth masks, named as the predictions, when
//       the data's own mask folder cannot serve `skinmtl metrics seg --truth`
//       directly (it holds other masks, or names them otherwise, as the
//       synthetic set does); ISIC 2017's val/masks/ serves as is;
//   metrics.json   everything printed.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "io/csv.h"
#include "io/csv_log.h"
#include "io/seg_data.h"
#include "app/args.h"
#include "tools/skinmtl/commands.h"
#include "app/detseg_predict.h"
#include "app/eval_data.h"
#include "app/model_file.h"

namespace skinmtl {

namespace {

namespace fs = std::filesystem;

const char* kHelp =
    "usage: skinmtl eval detseg --model FILE [--data SRC [--split NAME|all] |\n"
    "                           --images DIR --masks DIR [--labels CSV]] [options]\n"
    "\n"
    "Evaluates a model of `skinmtl train detseg` (Song et al. 2019): segmentation JA, DI,\n"
    "AC, SE, SP (eq. 7, means over images, at the images' own size) and the thresholded\n"
    "JA; melanoma classification AC, AUC, AP, SE, SP at 0.5. On ISIC 2017's val split\n"
    "(--data isic2017) beside the paper's numbers (Tables III, VIII, IX: its test split).\n"
    "\n"
    "  --model FILE        model.safetensors (or a checkpoint) of `skinmtl train detseg`\n"
    "  --data SRC          synthetic (default) | synthetic:FILE | isic2017[:labels.csv] | a CSV,\n"
    "                      as in `train detseg` | ham10000[:labels.csv]: an external test of\n"
    "                      the melanoma classification (4790 images, no masks: no\n"
    "                      segmentation scores)\n"
    "  --split NAME        with --data: val (default; test for ham10000), train, test, or\n"
    "                      all (every row; a CSV without a split column needs it)\n"
    "  --data-dir DIR      where isic2017/ and ham10000/ live (default ../shared/data)\n"
    "  --images DIR --masks DIR\n"
    "                      instead of --data: the images of DIR with their masks, paired\n"
    "                      by name: X.jpg with X_segmentation.png (ISIC), X_lesion.bmp\n"
    "                      (PH2) or X.png; masks 8-bit grey, 1-bit or 24-bit colour\n"
    "  --labels CSV        with --images: image_id,melanoma,seborrheic_keratosis (0/1, the\n"
    "                      ISIC 2017 Part 3 ground truth); without it only the segmentation\n"
    "                      is scored\n"
    "  --size N            letterbox side (default: the side the model was trained at)\n"
    "  --out DIR           (default runs/eval_detseg): masks/, overlays/, predictions.csv,\n"
    "                      scores.csv and labels.csv (for `skinmtl metrics binary`),\n"
    "                      truth/ when needed (for `skinmtl metrics seg`), metrics.json\n"
    "  --overlays N        overlay pictures of the first N images (default 16)\n"
    "  --batch N           images per network call (default 2)\n"
    "  --image-score S     how the malignancy is read from the RoIs: top (the top detection's\n"
    "                      p_mal / (p_ben + p_mal), the paper's; default) | vote (summed over\n"
    "                      the RoIs that overlap it by IoU >= 0.5: not the paper's)\n"
    "  --device D          auto | cpu | cuda (default auto)\n"
    "  --precision P       fp32 | tf32 | bf16 (default fp32; see train's --help)\n"
    "  --json              print metrics.json instead of the tables\n";

// Song et al.'s numbers. Segmentation: Table VIII, "Ours (ONLY ISIC2017)".
// Classification: Tables III and IX, FL+JL (= Cls+Dec+Seg), ImageNet
// initialisation, ResNet-101, batch 1 x 2; SE and SP as printed there, with
// benign as the positive class.
struct PaperSeg {
  double ja = 0.816, di = 0.883, ac = 0.950, se = 0.871, sp = 0.982;
};
struct PaperCls {
  double ac = 0.813, auc = 0.794, se_benign = 0.977, sp_benign = 0.731, ap = 0.823;
};

// The IoU of two boxes (0 when either is empty).
double box_iou(const Box& a, const Box& b) {
  const double iw = std::max(0.0, std::min(a.x2, b.x2) - std::max(a.x1, b.x1));
  const double ih = std::max(0.0, std::min(a.y2, b.y2) - std::max(a.y1, b.y1));
  const double inter = iw * ih;
  const double uni = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter;
  return uni > 0 ? inter / uni : 0.0;
}

// The folder to give `skinmtl metrics seg --truth`: the val masks' own folder
// when they all lie in one, are named as the predictions (mask_file_key =
// the prediction's file name) and it holds no other mask; else "" (copy them).
std::string own_truth_folder(const std::vector<SegSample>& val) {
  std::string dir;
  std::set<std::string> keys;
  for (const SegSample& s : val) {
    const std::string d = fs::path(s.mask).parent_path().string();
    if (!dir.empty() && d != dir) return "";
    dir = d;
    if (mask_file_key(s.mask) != detseg_file_name(s.id)) return "";
    keys.insert(mask_file_key(s.mask));
  }
  size_t masks = 0;
  for (const auto& e : fs::directory_iterator(dir.empty() ? "." : dir))
    if (e.is_regular_file() && is_image_file_name(e.path().string())) {
      if (!keys.count(mask_file_key(e.path().string()))) return "";
      ++masks;
    }
  return masks == val.size() ? (dir.empty() ? "." : dir) : "";
}

void write_binary_csv(const std::string& path, const std::vector<DetSegResult>& results,
                      const std::vector<double>& values) {
  std::ofstream f(path);
  SKINMTL_CHECK(f, "cannot write " << path);
  f << "image_id,melanoma\n";
  for (size_t i = 0; i < results.size(); ++i) f << csv_field(results[i].id) << "," << format_csv_number(values[i]) << "\n";
  f.flush();
  SKINMTL_CHECK(f.good(), "cannot write " << path);
}

nlohmann::json opt_json(const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); }

std::string fmt(const std::optional<double>& v) {
  if (!v) return "   -  ";
  char b[32];
  std::snprintf(b, sizeof b, "%.4f", *v);
  return b;
}

}  // namespace

int eval_detseg(int argc, char** argv) {
  std::vector<std::string> options = kEvalDataOptions;
  for (const char* o : {"model", "size", "out", "overlays", "batch", "image-score", "device", "precision"})
    options.push_back(o);
  Args args(argc, argv, options, {"json"});
  if (args.help()) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  SKINMTL_USAGE_CHECK(args.has("model"), "--model is required");
  const bool as_json = args.flag("json");
  const ImageScore image_score = image_score_from_name(args.get("image-score", "top"));  // before any work
  const std::string model_path = args.get("model", "");
  require_model_file(model_path);  // a missing file before the data, which may take a while
  // Then the data: a wrong folder or CSV is reported before the model is read.
  const EvalSet set = load_eval_set(args);
  const SegData& data = set.data;
  const std::vector<SegSample>& val = set.samples;
  DetSegModel model = load_detseg_model(model_path);
  model.spec.size = (int)args.get_int("size", model.spec.size);
  SKINMTL_USER_CHECK(model.spec.size >= 32, "--size must be at least 32, got " << model.spec.size);

  DetSegRunOptions opt;
  opt.out = args.get("out", "runs/eval_detseg");
  opt.overlays = args.get_int("overlays", 16);
  SKINMTL_USER_CHECK(opt.overlays >= 0, "--overlays must be >= 0, got " << opt.overlays);
  opt.batch = (int)args.get_int("batch", 2);
  opt.image_score = image_score;
  opt.device = parse_device(args.get("device", "auto"));
  apply_precision(args, opt.device, "fp32");
  opt.progress = !as_json;
  if (!as_json)
    std::fprintf(stderr, "skinmtl eval detseg: %s on %s, letterboxed to %dx%d, on %s\n", model_path.c_str(),
                 set.what().c_str(), model.spec.size, model.spec.size, device_name(opt.device));

  std::vector<DetSegInput> inputs;
  for (const SegSample& s : val) inputs.push_back({s.id, s.image, s.mask});
  const std::vector<DetSegResult> results = run_detseg(model, inputs, opt);

  // Segmentation, classification, detection. Data without masks (ham10000)
  // has no segmentation or box to score.
  const bool score_seg = data.has_masks;
  std::vector<SegCounts> counts;
  std::vector<double> scores, labels;
  std::vector<int> int_labels;
  int64_t detected = 0, boxed = 0;
  double iou_sum = 0;
  for (size_t i = 0; i < results.size(); ++i) {
    const DetSegResult& r = results[i];
    counts.push_back(r.counts);
    scores.push_back(r.malignant);
    labels.push_back(val[i].melanoma);
    int_labels.push_back(val[i].melanoma);
    detected += r.detected;
  }
  const SegMetrics seg = score_seg ? seg_metrics(counts) : SegMetrics{};
  const BinaryMetrics cls = binary_metrics(scores, int_labels, 0.5);
  // Box IoU against the truth mask's box, over the images with a lesion
  // (an undetected image counts with IoU 0).
  for (size_t i = 0; i < results.size(); ++i) {
    const std::optional<Box>& t = results[i].truth_box;
    if (!t) continue;
    ++boxed;
    if (results[i].detected) iou_sum += box_iou(results[i].box, *t);
  }

  // Files.
  write_binary_csv(opt.out + "/scores.csv", results, scores);
  const std::string labels_csv = opt.out + "/labels.csv";
  if (data.labelled) write_binary_csv(labels_csv, results, labels);
  else fs::remove(labels_csv);  // ours: an earlier run's would not belong to these scores
  std::string truth_dir = score_seg ? own_truth_folder(val) : "";
  if (score_seg && truth_dir.empty()) {
    truth_dir = opt.out + "/truth";
    fs::remove_all(truth_dir);  // ours: masks of an earlier run would lack a prediction now
    fs::create_directories(truth_dir);
    for (const SegSample& s : val)
      fs::copy_file(s.mask, truth_dir + "/" + detseg_file_name(s.id) + fs::path(s.mask).extension().string());
  }
  const PaperSeg ps;
  const PaperCls pc;
  const bool paper = set.paper_split;  // the paper's numbers beside ours (eval_data.h)
  nlohmann::json j;
  j["model"] = model_path;
  j["data"] = data.description;
  j["split"] = set.split;
  j["images"] = (int64_t)results.size();
  j["size"] = model.spec.size;
  j["image_score"] = image_score_name(opt.image_score);
  if (!score_seg) j["segmentation"] = "not scored: the data has no masks";
  else j["segmentation"] = {{"ja", opt_json(seg.ja)},
                       {"thresholded_ja", opt_json(seg.thresholded_ja)},
                       {"di", opt_json(seg.di)},
                       {"ac", opt_json(seg.ac)},
                       {"se", opt_json(seg.se)},
                       {"sp", opt_json(seg.sp)},
                       {"se_excluded", seg.se_excluded},
                       {"sp_excluded", seg.sp_excluded},
                       {"ja_below_cutoff", seg.ja_below_cutoff}};
  if (data.labelled)
    j["classification"] = {{"positive", "melanoma"},
                           {"threshold", cls.threshold},
                           {"positives", cls.positives},
                           {"accuracy", opt_json(cls.accuracy)},
                           {"auc", opt_json(cls.auc)},
                           {"ap", opt_json(cls.ap)},
                           {"sensitivity", opt_json(cls.sensitivity)},
                           {"specificity", opt_json(cls.specificity)},
                           {"tp", cls.at_threshold.tp},
                           {"fp", cls.at_threshold.fp},
                           {"tn", cls.at_threshold.tn},
                           {"fn", cls.at_threshold.fn}};
  j["detection"] = {{"detected", detected},
                    {"images_with_lesion", boxed},
                    {"mean_box_iou", boxed > 0 ? nlohmann::json(iou_sum / (double)boxed) : nlohmann::json(nullptr)}};
  if (paper)
    j["paper"] = {
        {"source", "Song et al. 2019, ISIC 2017 test split (600 images)"},
        {"segmentation_table_viii_only_isic2017",
         {{"ja", ps.ja}, {"di", ps.di}, {"ac", ps.ac}, {"se", ps.se}, {"sp", ps.sp}}},
        {"classification_tables_iii_ix_fl_jl_resnet101",
         {{"accuracy", pc.ac},
          {"auc", pc.auc},
          {"ap", pc.ap},
          {"se_benign_positive", pc.se_benign},
          {"sp_benign_positive", pc.sp_benign},
          {"sensitivity_melanoma_positive", pc.sp_benign},
          {"specificity_melanoma_positive", pc.se_benign}}}};
  j["files"] = {{"masks", opt.out + "/masks"}, {"scores", opt.out + "/scores.csv"}};
  if (score_seg) j["files"]["truth"] = truth_dir;
  if (data.labelled) j["files"]["labels"] = labels_csv;
  {
    const std::string path = opt.out + "/metrics.json";
    std::ofstream f(path);
    f << j.dump(2) << "\n";
    SKINMTL_CHECK(f.good(), "cannot write " << path);
  }
  if (as_json) {
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }

  // A number of the paper's as a column, or nothing.
  auto col = [&](double v) {
    char b[32];
    std::snprintf(b, sizeof b, "       %.3f", v);
    return paper ? std::string(b) : std::string();
  };
  const int64_t n = (int64_t)results.size();
  std::printf("\n%s on %s, letterboxed to %d\n\n", model_path.c_str(), set.what().c_str(), model.spec.size);
  if (!score_seg) {
    std::printf("segmentation: not scored, the data has no masks\n");
  } else {
    std::printf("segmentation (Song eq. 7: per image at the image's own size, then the mean over images)\n");
    std::printf("                  this model%s\n", paper ? "   Song et al. Table VIII (Ours, ONLY ISIC2017)" : "");
    std::printf("  JA              %s%s\n", fmt(seg.ja).c_str(), col(ps.ja).c_str());
    std::printf("  thresholded JA  %s%s      (ISIC 2018: JA < 0.65 counts 0; %lld images)\n",
                fmt(seg.thresholded_ja).c_str(), paper ? "         -" : "", (long long)seg.ja_below_cutoff);
    std::printf("  DI              %s%s\n", fmt(seg.di).c_str(), col(ps.di).c_str());
    std::printf("  AC              %s%s\n", fmt(seg.ac).c_str(), col(ps.ac).c_str());
    std::printf("  SE              %s%s     (over %lld images; %lld without lesion pixels)\n", fmt(seg.se).c_str(),
                col(ps.se).c_str(), (long long)(n - seg.se_excluded), (long long)seg.se_excluded);
    std::printf("  SP              %s%s     (over %lld images; %lld without background pixels)\n", fmt(seg.sp).c_str(),
                col(ps.sp).c_str(), (long long)(n - seg.sp_excluded), (long long)seg.sp_excluded);
  }
  if (data.labelled) {
    std::printf("\nclassification: melanoma (malignant) vs. benign, malignant probability p_mal / (p_ben + p_mal)\n"
                "%s; melanoma is the positive class (ISIC), predicted positive when >= 0.5\n",
                opt.image_score == ImageScore::Vote
                    ? "summed over the RoIs that overlap the top detection by IoU >= 0.5 (--image-score vote, "
                      "not\nthe paper's)"
                    : "of the top detection");
    std::printf("                  this model%s\n", paper ? "   Song et al. Tables III / IX (FL+JL, ResNet-101)" : "");
    std::printf("  AC              %s%s\n", fmt(cls.accuracy).c_str(), col(pc.ac).c_str());
    std::printf("  AUC             %s%s\n", fmt(cls.auc).c_str(), col(pc.auc).c_str());
    // The paper's AP, SE and SP, with what a reader must know about them.
    std::string ap = col(pc.ap), se = col(pc.sp_benign), sp = col(pc.se_benign);
    if (paper) {
      char their_se[96];
      std::snprintf(their_se, sizeof their_se, "      positive, so their SE and SP swap; their SE = %.3f)",
                    pc.se_benign);
      ap += "     (the paper does not say which class AP ranks)";
      se += "     (printed as their SP: Song et al. count benign as";
      sp += their_se;
    }
    std::printf("  AP              %s%s\n", fmt(cls.ap).c_str(), ap.c_str());
    std::printf("  SE              %s%s\n", fmt(cls.sensitivity).c_str(), se.c_str());
    std::printf("  SP              %s%s\n", fmt(cls.specificity).c_str(), sp.c_str());
    std::printf("  TP/FP/TN/FN     %lld/%lld/%lld/%lld   (%lld melanoma of %lld)\n", (long long)cls.at_threshold.tp,
                (long long)cls.at_threshold.fp, (long long)cls.at_threshold.tn, (long long)cls.at_threshold.fn,
                (long long)cls.positives, (long long)cls.n);
  } else {
    std::printf("\nclassification: not scored, the images have no labels (give --labels CSV); the malignant\n"
                "probabilities are in %s/scores.csv\n",
                opt.out.c_str());
  }
  std::printf("\ndetection (the paper scores no boxes): %lld of %lld images with a detection", (long long)detected,
              (long long)n);
  if (score_seg)
    std::printf("; mean box IoU with the\n  ground-truth mask's box %s (over %lld images with a lesion; no detection "
                "counts 0)\n",
                fmt(boxed > 0 ? std::optional<double>(iou_sum / (double)boxed) : std::nullopt).c_str(),
                (long long)boxed);
  else
    std::printf(" (no masks, so no box to compare)\n");
  if (paper)
    std::printf("\nSong et al.'s numbers are on the ISIC 2017 test split (600 images), which is not among the data\n"
                "here; their ISBI 2016 test numbers (Table V) differ. This run: ISIC 2017's val split.\n");
  else
    std::printf("\nSong et al.'s numbers (ISIC 2017's test split) are printed beside ours only when `--data\n"
                "isic2017` evaluates its val split, the nearest data here; not for other data or splits.\n");
  std::printf("\nfiles: %s/ (masks/, overlays/, predictions.csv, scores.csv%s, metrics.json)\n", opt.out.c_str(),
              data.labelled ? ", labels.csv" : "");
  if (score_seg)
    std::printf("recheck: bin/skinmtl metrics seg --pred %s/masks --truth %s\n", opt.out.c_str(), truth_dir.c_str());
  if (data.labelled)
    std::printf("%s bin/skinmtl metrics binary --scores %s/scores.csv --labels %s\n",
                score_seg ? "        " : "recheck:", opt.out.c_str(), labels_csv.c_str());
  return 0;
}

}  // namespace skinmtl
