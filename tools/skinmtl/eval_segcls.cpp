// skinmtl eval segcls: the ISIC 2017 evaluation of a model trained by `train
// segcls` (Yang et al. 2017): on the held-out (val) split of its data by
// default, or on another split, every row, or two folders of images and masks
// (app/eval_data.h, which also says when Yang et al.'s numbers are
// printed beside ours: ISIC 2017's val split only).
//
//   Part 1, segmentation: each predicted probability map is resized from the
//     model's input size to the source image's size (bilinear), thresholded at
//     0.5, and compared with the true mask at that size; per image JA, DI, AC,
//     SE, SP (metrics/seg_metrics.h), then the means over images. ISIC 2017 ranked
//     by the mean Jaccard index; the thresholded Jaccard (JA < 0.65 counts 0)
//     is ISIC 2018's and is printed beside it.
//   Part 3, classification: melanoma vs the rest and seborrheic keratosis vs
//     the rest: AUC (the ranking metric; their mean), AP, and AC, SE, SP with
//     a probability >= 0.5 taken as positive. Folders without --labels have
//     no flags: the probabilities are written, not scored.
//
// Files in --out:
//   predictions.csv   image_id,melanoma,seborrheic_keratosis: the two
//                     probabilities, ISIC 2017 Part 3's submission format
//   labels.csv        (when the data has labels) the same columns with the
//                     true 0/1 flags, so that
//                     `skinmtl metrics binary --scores predictions.csv --labels
//                     labels.csv` recomputes every classification number
//   masks/<id>.png    the predicted masks, 0/255, at the source image size
//                     (`skinmtl metrics seg --pred DIR/masks --truth T`, with T
//                     a folder of these images' true masks, recomputes the
//                     segmentation numbers)
//   overlays/<id>.png the first --overlays images with the predicted (red) and
//                     true (black) contours and both probabilities
//   metrics.json      every number printed
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "app/args.h"
#include "app/eval_data.h"
#include "app/model_file.h"
#include "app/segcls_model.h"
#include "figures/overlay.h"
#include "io/csv_log.h"
#include "io/image.h"
#include "metrics/seg_metrics.h"
#include "tools/skinmtl/commands.h"

namespace skinmtl {

namespace {

const char* kHelp =
    "usage: skinmtl eval segcls --model FILE [--data SRC [--split NAME|all] |\n"
    "                           --images DIR --masks DIR [--labels CSV]] [options]\n"
    "\n"
    "Evaluates a model written by `skinmtl train segcls` with the ISIC 2017 metrics:\n"
    "Part 1 (segmentation) Jaccard index averaged per image, Dice, pixel accuracy,\n"
    "sensitivity, specificity; Part 3 (melanoma and seborrheic keratosis, each vs the\n"
    "rest) AUC and their mean, AP, and AC/SE/SP at 0.5. On ISIC 2017's val split\n"
    "(--data isic2017) Yang et al.'s (2017) published numbers are printed beside ours.\n"
    "\n"
    "  --model FILE        model.safetensors (or checkpoint.safetensors) of `train segcls`\n"
    "  --data SRC          synthetic | synthetic:FILE | isic2017[:labels.csv] | a CSV\n"
    "                      (as in training; default synthetic) | ham10000[:labels.csv]:\n"
    "                      an external test of the two classifiers (4790 images, no\n"
    "                      masks; melanoma = dx mel, seborrheic keratosis = dx bkl, HAM's\n"
    "                      benign keratosis-like lesions)\n"
    "  --split NAME        with --data: val (default; test for ham10000), train, test, or\n"
    "                      all (every row; a CSV without a split column needs it)\n"
    "  --data-dir DIR      where isic2017/ and ham10000/ live (default ../shared/data)\n"
    "  --images DIR --masks DIR\n"
    "                      instead of --data: the images of DIR with their masks, paired\n"
    "                      by name: X.jpg with X_segmentation.png (ISIC), X_lesion.bmp\n"
    "                      (PH2) or X.png; masks 8-bit grey, 1-bit or 24-bit colour\n"
    "  --labels CSV        with --images: image_id,melanoma,seborrheic_keratosis (0/1, the\n"
    "                      ISIC 2017 Part 3 ground truth); without it only Part 1 is scored\n"
    "  --out DIR           predictions.csv, labels.csv, masks/, overlays/, metrics.json\n"
    "                      (default runs/eval_segcls)\n"
    "  --overlays N        overlay pictures of the first N images (default 16; 0: none)\n"
    "  --tta KIND          none (default): each image once, as it is | flips: the mean\n"
    "                      probabilities of four passes, as is, mirrored left-right,\n"
    "                      upside down and both (each mask mirrored back first): the\n"
    "                      orientations training's flips show; four times the time\n"
    "  --batch N --threads N --device D\n"
    "  --precision P       fp32 | tf32 | bf16 (default fp32; see train's --help)\n"
    "  --json              print one JSON object instead of tables\n";

// Yang et al. (2017) on ISIC 2017's 150 evaluation images: the abstract's numbers.
constexpr double kYangJaccard = 0.724, kYangAucMelanoma = 0.880, kYangAucSk = 0.972;

// A file name from a sample id ('/' and spaces would make folders or awkward names).
std::string file_stem(const std::string& id) {
  std::string s = id;
  for (char& c : s)
    if (c == '/' || c == '\\' || c == ' ') c = '_';
  return s;
}

void write_part3_csv(const std::string& path, const std::vector<SegSample>& samples, const std::vector<double>& mel,
                     const std::vector<double>& sk) {
  std::ofstream f(path);
  SKINMTL_CHECK(f, "cannot write " << path);
  f << "image_id,melanoma,seborrheic_keratosis\n";
  for (size_t i = 0; i < samples.size(); ++i)
    f << samples[i].id << "," << format_csv_number(mel[i]) << "," << format_csv_number(sk[i]) << "\n";
  SKINMTL_CHECK(f.good(), "cannot write " << path);
}

nlohmann::json opt_json(std::optional<double> v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); }

std::string fmt(std::optional<double> v) {
  if (!v || std::isnan(*v)) return "  -   ";
  char b[16];
  std::snprintf(b, sizeof b, "%.4f", *v);
  return b;
}

nlohmann::json binary_json(const BinaryMetrics& m) {
  return {{"positives", m.positives},         {"auc", opt_json(m.auc)},
          {"ap", opt_json(m.ap)},             {"accuracy", opt_json(m.accuracy)},
          {"sensitivity", opt_json(m.sensitivity)}, {"specificity", opt_json(m.specificity)},
          {"threshold", m.threshold}};
}

}  // namespace

int eval_segcls(int argc, char** argv) {
  std::vector<std::string> options = kEvalDataOptions;
  for (const char* o : {"model", "out", "overlays", "tta", "batch", "threads", "device", "precision"})
    options.push_back(o);
  Args args(argc, argv, options, {"json"});
  if (args.help()) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  SKINMTL_USAGE_CHECK(args.has("model"), "--model is required");
  const int batch = (int)args.get_int("batch", 8);
  const int threads = (int)args.get_int("threads", 2);
  const int overlays = (int)args.get_int("overlays", 16);
  SKINMTL_USER_CHECK(batch > 0 && threads > 0 && overlays >= 0, "batch and threads must be positive, overlays >= 0");
  const SegClsTta tta = parse_segcls_tta(args.get("tta", "none"));
  const std::string out = args.get("out", "runs/eval_segcls");
  const bool as_json = args.flag("json");
  const Device device = parse_device(args.get("device", "auto"));
  apply_precision(args, device, "fp32");

  const std::string model_path = args.get("model", "");
  require_model_file(model_path);  // a missing file before the data, which may take a while
  // Then the data: a wrong folder or CSV is reported before the model is read.
  const EvalSet set = load_eval_set(args);
  const SegData& data = set.data;
  const std::vector<SegSample>& val = set.samples;
  SegClsModel model = load_segcls_model(model_path);
  SegClsNet& net = *model.net;
  net.to(device);
  // Without labels there is nothing to score the two probabilities against.
  const bool score_cls = net.has_cls() && data.labelled;
  std::filesystem::create_directories(out);
  if (!as_json)
    std::fprintf(stderr, "%s (%s, %dx%d) on %s\n", model_path.c_str(), segcls_tasks_name(model.spec.config.tasks),
                 model.spec.input_h, model.spec.input_w, set.what().c_str());

  const SegClsPredictions p =
      predict_segcls(net, val, model.spec, SegClsLossWeights{}, device, batch, threads, false, !as_json, tta);

  nlohmann::json report;
  report["model"] = model_path;
  report["data"] = data.description;
  report["split"] = set.split;
  report["tasks"] = segcls_tasks_name(model.spec.config.tasks);
  report["images"] = val.size();
  report["tta"] = segcls_tta_name(tta);

  // ---- Part 1: masks at the source size --------------------------------------------------------
  SegMetrics seg;
  // Without masks (ham10000) there is no Part 1 to score; the classifiers still run.
  const bool score_seg = net.has_seg() && data.has_masks;
  if (score_seg) {
    std::filesystem::create_directories(out + "/masks");
    if (overlays > 0) std::filesystem::create_directories(out + "/overlays");
    std::vector<SegCounts> counts(val.size());
    for (size_t i = 0; i < val.size(); ++i) {
      const Image truth = load_truth_mask(val[i].mask);
      // Bilinear resize of the probability map, then the 0.5 threshold (128 of 255).
      Image pred = resize(p.masks[i], truth.height, truth.width);
      for (uint8_t& v : pred.data) v = v >= 128 ? 255 : 0;
      counts[i] = seg_counts(pred, truth);
      const std::string stem = file_stem(val[i].id);
      save_png(out + "/masks/" + stem + ".png", pred);
      if ((int)i < overlays) {
        std::string label;
        if (net.has_cls())
          label = detseg_label("mel", p.melanoma[i]) + "  " + detseg_label("sk", p.sk[i]);
        const Image image = load_image(val[i].image);
        save_png(out + "/overlays/" + stem + ".png", draw_detseg_overlay(image, &pred, &truth, nullptr, label));
      }
    }
    seg = seg_metrics(counts);
    report["segmentation"] = {{"jaccard", opt_json(seg.ja)},
                              {"thresholded_jaccard", opt_json(seg.thresholded_ja)},
                              {"jaccard_below_0.65", seg.ja_below_cutoff},
                              {"dice", opt_json(seg.di)},
                              {"accuracy", opt_json(seg.ac)},
                              {"sensitivity", opt_json(seg.se)},
                              {"specificity", opt_json(seg.sp)},
                              {"sensitivity_excluded", seg.se_excluded},
                              {"specificity_excluded", seg.sp_excluded}};
  }

  if (net.has_seg() && !score_seg) report["segmentation"] = "not scored: the data has no masks";

  // ---- Part 3: the two binary tasks ------------------------------------------------------------
  BinaryMetrics mel, sk;
  std::optional<double> mean_auc;
  if (net.has_cls()) write_part3_csv(out + "/predictions.csv", val, p.melanoma, p.sk);
  if (!score_cls) std::filesystem::remove(out + "/labels.csv");  // ours: an earlier run's belongs to other scores
  if (score_cls) {
    std::vector<int> ym, ys;
    std::vector<double> lm, ls;
    for (const SegSample& s : val) {
      ym.push_back(s.melanoma);
      ys.push_back(s.seborrheic_keratosis);
      lm.push_back(s.melanoma);
      ls.push_back(s.seborrheic_keratosis);
    }
    mel = binary_metrics(p.melanoma, ym, 0.5);
    sk = binary_metrics(p.sk, ys, 0.5);
    if (mel.auc && sk.auc) mean_auc = (*mel.auc + *sk.auc) / 2;
    write_part3_csv(out + "/labels.csv", val, lm, ls);
    report["melanoma"] = binary_json(mel);
    report["seborrheic_keratosis"] = binary_json(sk);
    report["seborrheic_keratosis"]["label"] = data.sk_name;
    report["mean_auc"] = opt_json(mean_auc);
  }
  if (set.paper_split)
    report["paper"] = {{"source", "Yang et al. 2017, ISIC 2017's 150 validation images"},
                       {"jaccard", kYangJaccard},
                       {"auc_melanoma", kYangAucMelanoma},
                       {"auc_seborrheic_keratosis", kYangAucSk}};
  {
    std::ofstream f(out + "/metrics.json");
    f << report.dump(2) << "\n";
    SKINMTL_CHECK(f.good(), "cannot write " << out << "/metrics.json");
  }
  if (as_json) {
    std::printf("%s\n", report.dump(2).c_str());
    return 0;
  }

  // ---- tables ----------------------------------------------------------------------------------
  // Yang et al.'s column only where their numbers were measured (eval_data.h).
  const bool paper = set.paper_split;
  std::printf("\n%s\n%s (%s), %zu images%s\n", set.what().c_str(), model_path.c_str(),
              segcls_tasks_name(model.spec.config.tasks), val.size(),
              tta == SegClsTta::kFlips ? ", each the mean of its four flips (--tta flips)" : "");
  if (paper)
    std::printf("(Yang et al. 2017 trained on ISIC 2017's 2000 training images and report these numbers\n"
                " on its 150 validation images, the split evaluated here)\n\n");
  else
    std::printf("(Yang et al.'s numbers are for ISIC 2017's 150 validation images: they are printed beside\n"
                " ours only when `--data isic2017` evaluates its val split, which is those images)\n\n");
  // A number of Yang et al.'s as a column, or nothing.
  auto paper_column = [&](const char* format, double v) {
    char b[64];
    std::snprintf(b, sizeof b, format, v);
    return paper ? std::string(b) : std::string();
  };
  if (score_seg) {
    std::printf("ISIC 2017 Part 1, segmentation (mean over images)   this model%s\n", paper ? "   Yang et al." : "");
    std::printf("  Jaccard index (JA)                                %9s%s\n", fmt(seg.ja).c_str(),
                paper_column("    %9.3f", kYangJaccard).c_str());
    std::printf("  thresholded JA (JA < 0.65 -> 0; %3lld images)       %9s\n", (long long)seg.ja_below_cutoff,
                fmt(seg.thresholded_ja).c_str());
    std::printf("  Dice (DI)                                         %9s\n", fmt(seg.di).c_str());
    std::printf("  pixel accuracy (AC)                               %9s\n", fmt(seg.ac).c_str());
    std::printf("  sensitivity (SE)                                  %9s\n", fmt(seg.se).c_str());
    std::printf("  specificity (SP)                                  %9s\n\n", fmt(seg.sp).c_str());
  } else if (net.has_seg()) {
    std::printf("Part 1, segmentation: not scored, the data has no masks\n\n");
  }
  if (score_cls) {
    std::printf("%s, classification (positive: p >= 0.5 for AC, SE, SP)\n",
                data.kind == "ham10000" ? "ISIC 2017 Part 3's two tasks on HAM10000" : "ISIC 2017 Part 3");
    std::printf("  %-22s %5s  %7s  %7s  %7s  %7s  %7s%s\n", "task", "pos", "AUC", "AP", "AC", "SE", "SP",
                paper ? "   Yang AUC" : "");
    auto row = [&](const char* name, const BinaryMetrics& m, double yang) {
      std::printf("  %-22s %5lld  %7s  %7s  %7s  %7s  %7s%s\n", name, (long long)m.positives, fmt(m.auc).c_str(),
                  fmt(m.ap).c_str(), fmt(m.accuracy).c_str(), fmt(m.sensitivity).c_str(),
                  fmt(m.specificity).c_str(), paper_column("   %8.3f", yang).c_str());
    };
    row("melanoma", mel, kYangAucMelanoma);
    row(data.sk_name.c_str(), sk, kYangAucSk);
    std::printf("  %-22s %5s  %7s%s\n\n", "mean AUC", "", fmt(mean_auc).c_str(),
                paper_column("                                       %8.3f",
                             (kYangAucMelanoma + kYangAucSk) / 2).c_str());
  } else if (net.has_cls()) {
    std::printf("ISIC 2017 Part 3: not scored, the images have no labels (give --labels CSV); the\n"
                "probabilities are in %s/predictions.csv\n\n",
                out.c_str());
  }
  std::printf("files: %s/ (predictions.csv and labels.csv: recheck with `skinmtl metrics binary`%s)\n",
              out.c_str(), score_seg ? ";\n       masks/: `skinmtl metrics seg`" : "");
  return 0;
}

}  // namespace skinmtl
