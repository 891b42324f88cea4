// skinmtl eval segcls: the ISIC 2017 evaluation of a model trained by `train
// segcls` (Yang et al. 2017) on the held-out (val) split.
//
//   Part 1, segmentation: each predicted probability map is resized from the
//     model's input size to the source image's size (bilinear), thresholded at
//     0.5, and compared with the true mask at that size; per image JA, DI, AC,
//     SE, SP (nets/seg_metrics.h), then the means over images. ISIC 2017 ranked
//     by the mean Jaccard index; the thresholded Jaccard (JA < 0.65 counts 0)
//     is ISIC 2018's and is printed beside it.
//   Part 3, classification: melanoma vs the rest and seborrheic keratosis vs
//     the rest: AUC (the ranking metric; their mean), AP, and AC, SE, SP with
//     a probability >= 0.5 taken as positive.
//
// Files in --out:
//   predictions.csv   image_id,melanoma,seborrheic_keratosis: the two
//                     probabilities, ISIC 2017 Part 3's submission format
//   labels.csv        the same columns with the true 0/1 flags, so that
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

#include "io/csv_log.h"
#include "io/image.h"
#include "io/overlay.h"
#include "nets/seg_metrics.h"
#include "tools/skinmtl/args.h"
#include "tools/skinmtl/commands.h"
#include "tools/skinmtl/segcls_common.h"

namespace skinmtl {

namespace {

const char* kHelp =
    "usage: skinmtl eval segcls --model FILE [options]\n"
    "\n"
    "Evaluates a model written by `skinmtl train segcls` on the held-out (val) split with\n"
    "the ISIC 2017 metrics: Part 1 (segmentation) Jaccard index averaged per image, Dice,\n"
    "pixel accuracy, sensitivity, specificity; Part 3 (melanoma and seborrheic keratosis,\n"
    "each vs the rest) AUC and their mean, AP, and AC/SE/SP at 0.5. Printed beside\n"
    "Yang et al.'s (2017) published numbers.\n"
    "\n"
    "  --model FILE        model.safetensors (or checkpoint.safetensors) of `train segcls`\n"
    "  --data SRC          synthetic | synthetic:FILE | isic2017[:labels.csv] | a CSV\n"
    "                      (as in training; default synthetic)\n"
    "  --data-dir DIR      where isic2017/ lives (default ../shared/data)\n"
    "  --out DIR           predictions.csv, labels.csv, masks/, overlays/, metrics.json\n"
    "                      (default runs/eval_segcls)\n"
    "  --overlays N        overlay pictures of the first N images (default 16; 0: none)\n"
    "  --batch N --threads N --device D\n"
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
  Args args(argc, argv, {"model", "data", "data-dir", "out", "overlays", "batch", "threads", "device"}, {"json"});
  if (args.help()) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  SKINMTL_CHECK(args.has("model"), "--model is required (see --help)");
  const int batch = (int)args.get_int("batch", 8);
  const int threads = (int)args.get_int("threads", 2);
  const int overlays = (int)args.get_int("overlays", 16);
  SKINMTL_CHECK(batch > 0 && threads > 0 && overlays >= 0, "batch and threads must be positive, overlays >= 0");
  const std::string out = args.get("out", "runs/eval_segcls");
  const bool as_json = args.flag("json");
  const Device device = parse_device(args.get("device", "auto"));

  const std::string model_path = args.get("model", "");
  SegClsModel model = load_segcls_model(model_path);
  SegClsNet& net = *model.net;
  net.to(device);
  const SegData data = load_seg_data(args.get("data", "synthetic"), args.get("data-dir", "../shared/data"));
  const std::vector<SegSample>& val = data.val;
  SKINMTL_CHECK(!val.empty(), "the data has no val rows to evaluate on (" << data.description << ")");
  std::filesystem::create_directories(out);
  if (!as_json)
    std::fprintf(stderr, "%s (%s, %dx%d): %zu held-out images\n", model_path.c_str(),
                 segcls_tasks_name(model.spec.config.tasks), model.spec.input_h, model.spec.input_w, val.size());

  const SegClsPredictions p =
      predict_segcls(net, val, model.spec, SegClsLossWeights{}, device, batch, threads, false, !as_json);

  nlohmann::json report;
  report["model"] = model_path;
  report["data"] = data.description;
  report["tasks"] = segcls_tasks_name(model.spec.config.tasks);
  report["images"] = val.size();

  // ---- Part 1: masks at the source size --------------------------------------------------------
  SegMetrics seg;
  if (net.has_seg()) {
    std::filesystem::create_directories(out + "/masks");
    if (overlays > 0) std::filesystem::create_directories(out + "/overlays");
    std::vector<SegCounts> counts(val.size());
    for (size_t i = 0; i < val.size(); ++i) {
      const Image truth = load_image(val[i].mask, 1);
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

  // ---- Part 3: the two binary tasks ------------------------------------------------------------
  BinaryMetrics mel, sk;
  std::optional<double> mean_auc;
  if (net.has_cls()) {
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
    write_part3_csv(out + "/predictions.csv", val, p.melanoma, p.sk);
    write_part3_csv(out + "/labels.csv", val, lm, ls);
    report["melanoma"] = binary_json(mel);
    report["seborrheic_keratosis"] = binary_json(sk);
    report["mean_auc"] = opt_json(mean_auc);
  }
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
  std::printf("\n%s\n%s (%s), %zu held-out images\n", data.description.c_str(), model_path.c_str(),
              segcls_tasks_name(model.spec.config.tasks), val.size());
  std::printf("(Yang et al. 2017 trained on ISIC 2017's 2000 training images and report these numbers\n"
              " on its 150 evaluation images: `--data isic2017` evaluates the same 150)\n\n");
  if (net.has_seg()) {
    std::printf("ISIC 2017 Part 1, segmentation (mean over images)   this model   Yang et al.\n");
    std::printf("  Jaccard index (JA)                                %9s    %9.3f\n", fmt(seg.ja).c_str(), kYangJaccard);
    std::printf("  thresholded JA (JA < 0.65 -> 0; %3lld images)       %9s    %9s\n", (long long)seg.ja_below_cutoff,
                fmt(seg.thresholded_ja).c_str(), "-");
    std::printf("  Dice (DI)                                         %9s    %9s\n", fmt(seg.di).c_str(), "-");
    std::printf("  pixel accuracy (AC)                               %9s    %9s\n", fmt(seg.ac).c_str(), "-");
    std::printf("  sensitivity (SE)                                  %9s    %9s\n", fmt(seg.se).c_str(), "-");
    std::printf("  specificity (SP)                                  %9s    %9s\n\n", fmt(seg.sp).c_str(), "-");
  }
  if (net.has_cls()) {
    std::printf("ISIC 2017 Part 3, classification (positive: p >= 0.5 for AC, SE, SP)\n");
    std::printf("  %-22s %5s  %7s  %7s  %7s  %7s  %7s   %s\n", "task", "pos", "AUC", "AP", "AC", "SE", "SP",
                "Yang AUC");
    auto row = [](const char* name, const BinaryMetrics& m, double yang) {
      std::printf("  %-22s %5lld  %7s  %7s  %7s  %7s  %7s   %8.3f\n", name, (long long)m.positives,
                  fmt(m.auc).c_str(), fmt(m.ap).c_str(), fmt(m.accuracy).c_str(), fmt(m.sensitivity).c_str(),
                  fmt(m.specificity).c_str(), yang);
    };
    row("melanoma", mel, kYangAucMelanoma);
    row("seborrheic keratosis", sk, kYangAucSk);
    std::printf("  %-22s %5s  %7s  %7s  %7s  %7s  %7s   %8.3f\n\n", "mean AUC", "", fmt(mean_auc).c_str(), "", "",
                "", "", (kYangAucMelanoma + kYangAucSk) / 2);
  }
  std::printf("files: %s/ (predictions.csv and labels.csv: recheck with `skinmtl metrics binary`;\n"
              "       masks/: `skinmtl metrics seg`)\n",
              out.c_str());
  return 0;
}

}  // namespace skinmtl
