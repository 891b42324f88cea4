// skinmtl eval mtl: the Liao & Luo evaluation of one or two trained models on
// the held-out fold (or, with --split, on the training folds or every image,
// e.g. of a data set the model never saw). Liao & Luo's numbers are on their
// DermQuest collection, which is not among the data here: none are printed.
//
//   10-crop testing (default; --crops 1 for the centre crop): the probabilities
//     of the ten crops are averaged per image.
//   lesion types: mAP-class (eq. 9), mAP-image (eq. 10) and the per-class AP
//     table laid out like the paper's Table 1;
//   body location: top-1 and top-3 accuracy over the images whose location is
//     known;
//   --model2: a second model, and the paper's ensemble of the two (per image,
//     per class, the max of their scores); and whether the differences of
//     their lesion mAPs are more than the images' luck: each pair (first -
//     second, ensemble - first, ensemble - second) with a 95% interval and
//     p (compare_map: the paired bootstrap of the images, 2000 draws).
//
// Files in --out: <name>_lesion_scores.csv / lesion_labels.csv and
// <name>_location_scores.csv / location_labels.csv, in the format of
// `skinmtl metrics multilabel|topk`, so every number printed here can be
// recomputed from files; metrics.json.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "figures/cam_overlay.h"
#include "figures/correlation_heatmap.h"
#include "figures/retrieval_sheet.h"
#include "framework/autograd.h"
#include "io/csv_log.h"
#include "metrics/correlation.h"
#include "nets/cam.h"
#include "nets/retrieval.h"
#include "tools/skinmtl/commands.h"
#include "tools/skinmtl/map_compare_json.h"
#include "app/model_file.h"
#include "app/mtl_model.h"
#include "app/segcls_model.h"

namespace skinmtl {

namespace {

const char* kHelp =
    "usage: skinmtl eval mtl --model FILE [--model2 FILE] [options]\n"
    "\n"
    "Evaluates trained multi-task (or single-task) classifiers on the held-out fold:\n"
    "mAP-class, mAP-image and per-class AP (Table 1 of Liao & Luo) for lesion types,\n"
    "top-1 / top-3 for body location, and with --model2 the ensemble (per-class max).\n"
    "Liao & Luo's own numbers are on DermQuest images, not among the data here, so none\n"
    "are printed beside ours.\n"
    "\n"
    "  --model FILE        model.safetensors written by `skinmtl train mtl`\n"
    "  --model2 FILE       a second model (e.g. the lesion-only one) for the ensemble\n"
    "  --data ... --folds K --fold k --split-seed N --data-dir DIR\n"
    "                      the same data options as training (the held-out fold is evaluated)\n"
    "  --split NAME        val (default: the held-out fold), train (the other folds), or all\n"
    "                      (every image of --data: a data set the model never saw, whole)\n"
    "  --crops N           10 (default: 10-crop testing) or 1 (centre crop)\n"
    "  --resize N --crop N shorter side and crop size (default 256, 224)\n"
    "  --out DIR           score files, metrics.json and pictures (default runs/eval)\n"
    "  --cam N             class activation maps (Zhou et al.) of both heads for the first N\n"
    "                      held-out images: DIR/cam/<id>.png (default 8; 0: none)\n"
    "  --retrieval N       image retrieval for the first N held-out images: the 5 training\n"
    "                      images nearest in pool5 features, DIR/retrieval.png (default 0:\n"
    "                      it needs the features of the whole training split)\n"
    "  (always) DIR/correlation.png: the lesion-by-location matrix R_ij (eq. 1) of the data\n"
    "  --batch N --threads N --device D\n"
    "  --precision P       fp32 | tf32 | bf16 (default fp32; see train's --help)\n"
    "  --json              print one JSON object instead of tables\n";

void write_scores(const std::string& path, const Manifest& data, const std::vector<std::string>& classes,
                  const std::vector<std::vector<double>>& scores, const std::vector<size_t>& rows) {
  std::vector<std::string> cols = {"image_id"};
  cols.insert(cols.end(), classes.begin(), classes.end());
  std::ofstream f(path);
  SKINMTL_CHECK(f, "cannot write " << path);
  for (size_t c = 0; c < cols.size(); ++c) f << (c ? "," : "") << cols[c];
  f << "\n";
  for (size_t i : rows) {
    f << data.samples[i].id;
    for (double v : scores[i]) f << "," << format_csv_number(v);
    f << "\n";
  }
  SKINMTL_CHECK(f.good(), "cannot write " << path);
}

std::string fmt(std::optional<double> v) {
  if (!v) return "   -  ";
  char b[16];
  std::snprintf(b, sizeof b, "%.4f", *v);
  return b;
}
std::string fmt(double v) { return std::isnan(v) ? std::string("   -  ") : fmt(std::optional<double>(v)); }

nlohmann::json metrics_json(const MtlMetrics& m, const std::vector<std::string>& lesion_classes) {
  nlohmann::json j;
  auto opt = [](std::optional<double> v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
  if (m.has_lesion) {
    j["map_class"] = opt(m.map_class.map);
    j["map_image"] = opt(m.map_image.map);
    for (size_t k = 0; k < lesion_classes.size(); ++k)
      j["per_class_ap"][lesion_classes[k]] = opt(m.map_class.ap[k]);
  }
  if (m.has_location) {
    j["location_top1"] = m.top1;
    j["location_top3"] = m.top3;
    j["located_images"] = m.located;
  }
  return j;
}

std::string join_labels(const std::vector<std::string>& names, const std::vector<int>& idx) {
  std::string s;
  for (int k : idx) s += (s.empty() ? "" : ", ") + names[k];
  return s;
}

// The analysis pictures of the paper for the first model: R_ij of the data,
// class activation maps of both heads (Figure 3, columns A-C) and image
// retrieval (Figure 3, columns D-H).
// `val`: the images evaluated (maps and retrieval queries are drawn from them).
void write_pictures(MtlModel& model, const MtlData& data, const Manifest& val, const Args& args,
                    const std::string& out, int resize, int crop, Device device, int threads, bool verbose) {
  save_correlation_heatmap(out + "/correlation.png", lesion_location_matrix(data.all), data.all.lesion_classes,
                           data.all.location_classes);
  MtlClassifier& net = *model.net;
  const int cams = (int)std::min<int64_t>(args.get_int("cam", 8), (int64_t)val.size());
  if (cams > 0) {
    std::filesystem::create_directories(out + "/cam");
    NoGradGuard no_grad;
    net.eval();
    for (int i = 0; i < cams; ++i) {
      const Sample& s = val.samples[i];
      const Image image = test_center_crop(load_image(s.image), resize, crop);
      auto o = net.forward(to_tensor({image}, model.spec.normalize).to(device));
      const Tensor fm = o.feature_map.to(Device::CPU);
      std::vector<CamPanel> panels;
      if (net.has_lesion_head()) {
        const std::vector<double> p = sigmoid(o.lesion_logits).to(Device::CPU).to_vector();
        const int k = (int)(std::max_element(p.begin(), p.end()) - p.begin());
        panels.push_back({class_activation_map(fm, net.lesion_head->weight->value, 0, k),
                          "lesion: " + val.lesion_classes[k], p[k]});
      }
      if (net.has_location_head()) {
        const std::vector<double> p = softmax(o.location_logits).to(Device::CPU).to_vector();
        const int q = (int)(std::max_element(p.begin(), p.end()) - p.begin());
        panels.push_back({class_activation_map(fm, net.location_head->weight->value, 0, q),
                          "site: " + val.location_classes[q], p[q]});
      }
      const std::string truth = join_labels(val.lesion_classes, s.lesions) + " @ " +
                                (s.location >= 0 ? val.location_classes[s.location] : std::string("unknown"));
      // The id names the file; an id that is a path (the default) by its stem.
      std::string name = s.id.find('/') == std::string::npos ? s.id : std::filesystem::path(s.id).stem().string();
      for (char& c : name)
        if (c == ' ') c = '_';
      save_cam_figure(out + "/cam/" + name + ".png", image, "truth: " + truth, panels);
    }
    if (verbose) std::fprintf(stderr, "class activation maps: %s/cam/ (%d images)\n", out.c_str(), cams);
  }
  const int queries = (int)std::min<int64_t>(args.get_int("retrieval", 0), (int64_t)val.size());
  if (queries > 0) {
    const Transform tf = test_transform(resize, crop);
    if (verbose) std::fprintf(stderr, "retrieval: pool5 features of the %zu training images\n", data.train.size());
    auto db = predict_mtl(net, data.train, tf, model.spec.normalize, device, 20, threads, true, verbose).features;
    std::vector<size_t> first(queries);
    for (int i = 0; i < queries; ++i) first[i] = i;
    auto q = predict_mtl(net, val.subset(first), tf, model.spec.normalize, device, 20, threads, true, false).features;
    auto to_matrix = [](const std::vector<std::vector<float>>& rows) {
      std::vector<double> flat;
      for (auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
      return Tensor::from_vector(flat, {(int64_t)rows.size(), (int64_t)rows[0].size()});
    };
    const auto nn = nearest_neighbours(to_matrix(db), to_matrix(q), 5);
    std::vector<RetrievalRow> rows;
    for (int i = 0; i < queries; ++i) {
      RetrievalRow row;
      row.query = {test_center_crop(load_image(val.samples[i].image), resize, crop), val.samples[i].lesions, 0};
      for (const Neighbour& n : nn[i]) {
        const Sample& t = data.train.samples[n.index];
        row.retrieved.push_back({test_center_crop(load_image(t.image), resize, crop), t.lesions, n.distance});
      }
      rows.push_back(std::move(row));
    }
    save_retrieval_sheet(out + "/retrieval.png", rows, val.lesion_classes);
    if (verbose) std::fprintf(stderr, "retrieval contact sheet: %s/retrieval.png\n", out.c_str());
  }
}

}  // namespace

int eval_mtl(int argc, char** argv) {
  std::vector<std::string> opts = kMtlDataOptions;
  for (const char* o : {"model", "model2", "split", "crops", "resize", "crop", "out", "batch", "threads", "device",
                        "precision", "cam", "retrieval"})
    opts.push_back(o);
  Args args(argc, argv, opts, {"json"});
  if (args.help()) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  SKINMTL_USAGE_CHECK(args.has("model"), "--model is required");
  const int crops = (int)args.get_int("crops", 10);
  SKINMTL_USER_CHECK(crops == 1 || crops == 10, "--crops must be 1 or 10, got " << crops);
  const int resize = (int)args.get_int("resize", 256), crop = (int)args.get_int("crop", 224);
  const int batch = (int)args.get_int("batch", crops == 10 ? 4 : 20);
  const int threads = (int)args.get_int("threads", 2);
  const std::string out = args.get("out", "runs/eval");
  const bool as_json = args.flag("json");
  const Device device = parse_device(args.get("device", "auto"));
  apply_precision(args, device, "fp32");
  for (const char* key : {"model", "model2"})  // before the data, which may take a while to read or generate
    if (args.has(key)) require_model_file(args.get(key, ""));
  std::filesystem::create_directories(out);

  const MtlData data = load_mtl_data(args);
  // What is evaluated: the held-out fold (val), the other folds (train) or
  // every image (all: a data set the model never saw, listed whole).
  const std::string split = args.get("split", "val");
  SKINMTL_USER_CHECK(split == "val" || split == "train" || split == "all",
                     "--split must be val (the held-out fold), train (the other folds) or all, got '" << split << "'");
  SKINMTL_USER_CHECK(split == "val" || args.get_int("retrieval", 0) == 0,
                     "--retrieval searches the training folds for held-out images: it needs --split val");
  const Manifest& evaluated = split == "val" ? data.val : split == "train" ? data.train : data.all;
  SKINMTL_USER_CHECK(!evaluated.samples.empty(), data.description << ": the " << split << " part is empty");
  const std::string what = split == "val" ? "the held-out fold" : split == "train" ? "the training folds"
                                                                                    : "every image";
  require_images(evaluated);
  const Transform tf = crops == 10 ? ten_crop_transform(resize, crop) : test_transform(resize, crop);

  struct Evaluated {
    std::string name;
    MtlModelSpec spec;
    MtlPredictions pred;
    MtlMetrics metrics;
  };
  std::vector<Evaluated> results;
  MtlModel first;  // kept for the pictures
  for (const char* key : {"model", "model2"}) {
    if (!args.has(key)) continue;
    const std::string path = args.get(key, "");
    MtlModel m = load_mtl_model(path);
    SKINMTL_USER_CHECK(m.spec.lesion_classes == data.all.lesion_classes &&
                           m.spec.location_classes == data.all.location_classes,
                       path << " was trained on other classes than " << data.description);
    m.net->to(device);
    if (!as_json)
      std::fprintf(stderr, "%s: %s testing on %s, %zu images\n", path.c_str(), crops == 10 ? "10-crop" : "centre-crop",
                   what.c_str(), evaluated.size());
    Evaluated e;
    e.name = std::string(key) == "model" ? std::string("model") : std::string("model2");
    e.spec = m.spec;
    e.pred = predict_mtl(*m.net, evaluated, tf, m.spec.normalize, device, batch, threads, false, !as_json);
    e.metrics = mtl_metrics(e.pred, evaluated);
    results.push_back(std::move(e));
    if (!first.net) first = std::move(m);
  }
  // The ensemble: per-class max of the two models' scores, for each head both have.
  if (results.size() == 2) {
    Evaluated e;
    e.name = "ensemble";
    const MtlPredictions &a = results[0].pred, &b = results[1].pred;
    if (!a.lesion.empty() && !b.lesion.empty()) e.pred.lesion = ensemble_max(a.lesion, b.lesion);
    if (!a.location.empty() && !b.location.empty()) e.pred.location = ensemble_max(a.location, b.location);
    e.metrics = mtl_metrics(e.pred, evaluated);
    results.push_back(std::move(e));
  }
  // The lesion mAPs compared pairwise on the same images: the two models, then
  // the ensemble against each.
  struct Comparison {
    std::string a, b;
    MapComparison maps;
  };
  std::vector<Comparison> comparisons;
  if (results.size() == 3 && !results[0].pred.lesion.empty() && !results[1].pred.lesion.empty()) {
    const LabelMatrix labels = lesion_label_matrix(evaluated);
    for (const auto& [i, j] : {std::pair<int, int>{0, 1}, {2, 0}, {2, 1}})
      comparisons.push_back(
          {results[i].name, results[j].name, compare_map(results[i].pred.lesion, results[j].pred.lesion, labels)});
  }

  // Files.
  std::vector<size_t> all_rows(evaluated.size()), located;
  for (size_t i = 0; i < evaluated.size(); ++i) {
    all_rows[i] = i;
    if (evaluated.samples[i].location >= 0) located.push_back(i);
  }
  {
    std::vector<std::vector<double>> les(evaluated.size(), std::vector<double>(evaluated.num_lesion_classes(), 0));
    std::vector<std::vector<double>> loc(evaluated.size(), std::vector<double>(evaluated.num_location_classes(), 0));
    for (size_t i = 0; i < evaluated.size(); ++i) {
      for (int k : evaluated.samples[i].lesions) les[i][k] = 1;
      if (evaluated.samples[i].location >= 0) loc[i][evaluated.samples[i].location] = 1;
    }
    write_scores(out + "/lesion_labels.csv", evaluated, evaluated.lesion_classes, les, all_rows);
    write_scores(out + "/location_labels.csv", evaluated, evaluated.location_classes, loc, located);
  }
  nlohmann::json report;
  report["data"] = data.description;
  report["split"] = split;
  report["images"] = evaluated.size();
  report["crops"] = crops;
  for (const Evaluated& e : results) {
    if (!e.pred.lesion.empty())
      write_scores(out + "/" + e.name + "_lesion_scores.csv", evaluated, evaluated.lesion_classes, e.pred.lesion,
                   all_rows);
    if (!e.pred.location.empty())
      write_scores(out + "/" + e.name + "_location_scores.csv", evaluated, evaluated.location_classes, e.pred.location,
                   located);
    report[e.name] = metrics_json(e.metrics, evaluated.lesion_classes);
  }
  for (const Comparison& c : comparisons)
    report["comparisons"].push_back({{"a", c.a},
                                     {"b", c.b},
                                     {"map_class", map_difference_json(c.maps.map_class)},
                                     {"map_image", map_difference_json(c.maps.map_image)}});
  {
    std::ofstream f(out + "/metrics.json");
    f << report.dump(2) << "\n";
  }
  write_pictures(first, data, evaluated, args, out, resize, crop, device, threads, !as_json);
  if (as_json) {
    std::printf("%s\n", report.dump(2).c_str());
    return 0;
  }

  // Tables.
  std::printf("\n%s; evaluated: %s (%zu images), %s testing\n\n", data.description.c_str(), what.c_str(),
              evaluated.size(), crops == 10 ? "10-crop" : "centre-crop");
  const bool any_lesion = std::any_of(results.begin(), results.end(), [](const Evaluated& e) { return e.metrics.has_lesion; });
  if (any_lesion) {
    std::printf("lesion types: average precision per class (Table 1 layout)\n");
    std::printf("  %-24s %6s", "class", "pos");
    for (const Evaluated& e : results)
      if (e.metrics.has_lesion) std::printf("  %9s", e.name.c_str());
    std::printf("\n");
    for (int k = 0; k < evaluated.num_lesion_classes(); ++k) {
      int64_t pos = 0;
      for (const Sample& s : evaluated.samples) pos += std::count(s.lesions.begin(), s.lesions.end(), k);
      std::printf("  %-24s %6lld", evaluated.lesion_classes[k].c_str(), (long long)pos);
      for (const Evaluated& e : results)
        if (e.metrics.has_lesion) std::printf("  %9s", fmt(e.metrics.map_class.ap[k]).c_str());
      std::printf("\n");
    }
    std::printf("  %-31s", "mAP-class (eq. 9)");
    for (const Evaluated& e : results)
      if (e.metrics.has_lesion) std::printf("  %9s", fmt(e.metrics.map_class.map).c_str());
    std::printf("\n  %-31s", "mAP-image (eq. 10)");
    for (const Evaluated& e : results)
      if (e.metrics.has_lesion) std::printf("  %9s", fmt(e.metrics.map_image.map).c_str());
    std::printf("\n\n");
  }
  if (!comparisons.empty()) {
    std::printf("lesion mAP differences on these images (95%% interval and p: paired bootstrap of the images)\n");
    for (const Comparison& c : comparisons) {
      const std::pair<const char*, const std::optional<MapDifference>*> rows[] = {{"mAP-class", &c.maps.map_class},
                                                                                  {"mAP-image", &c.maps.map_image}};
      for (const auto& [name, x] : rows) {
        if (!*x) continue;
        const MapDifference& d = **x;
        std::printf("  %-8s - %-8s %s  %+.4f  [%+.4f, %+.4f]  p %.4f\n", c.a.c_str(), c.b.c_str(), name, d.diff,
                    d.low, d.high, d.p);
      }
    }
    std::printf("\n");
  }
  for (const Evaluated& e : results)
    if (e.metrics.has_location)
      std::printf("body location (%s): top-1 %s  top-3 %s  (%lld images with a known location)\n", e.name.c_str(),
                  fmt(e.metrics.top1).c_str(), fmt(e.metrics.top3).c_str(), (long long)e.metrics.located);
  std::printf("\nscores and labels: %s/ (recheck with `skinmtl metrics multilabel|topk`)\n", out.c_str());
  std::printf("(Liao & Luo report on their own DermQuest collection, 21,657 images and 25 lesion types, which is\n"
              " not among the data here: no paper numbers are printed beside these)\n");
  return 0;
}

}  // namespace skinmtl
