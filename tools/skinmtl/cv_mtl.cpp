// skinmtl cv mtl: k-fold cross-validation of the multi-task classifier, as
// Liao & Luo evaluate it (5 folds). For each fold k: `train mtl --fold k`
// into OUT/fold<k>, then `eval mtl` of that model on fold k into
// OUT/fold<k>/eval; finally the mean and standard deviation over the folds.
// Every option other than --out, --crops and --folds goes to `train mtl`
// unchanged; the data options, --crop, --threads and --device go to `eval mtl`
// as well, and --min-short becomes its --resize. A fold whose model already exists
// is not trained again, so an interrupted cross-validation continues where it
// stopped (an interrupted fold itself continues with its own --resume).
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <algorithm>
#include <fstream>

#include <nlohmann/json.hpp>

#include "tools/skinmtl/commands.h"
#include "app/mtl_model.h"

namespace skinmtl {


namespace {

int run(const std::vector<std::string>& words, int (*fn)(int, char**)) {
  std::vector<std::string> w = words;
  std::vector<char*> argv;
  for (std::string& s : w) argv.push_back(s.data());
  argv.push_back(nullptr);
  return fn((int)w.size(), argv.data());
}

}  // namespace

int cv_mtl(int argc, char** argv) {
  std::string out = "runs/cv", crops = "10";
  int folds = 5;
  std::vector<std::string> train_args = {"mtl"}, data_args;
  const std::vector<std::string> data_opts = kMtlDataOptions;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::puts("usage: skinmtl cv mtl [--folds K] [--out DIR] [--crops 1|10] [train mtl options]\n\n"
                "k-fold cross-validation: trains and evaluates one model per fold (train mtl\n"
                "--fold k, eval mtl on fold k), then reports mean and std of mAP-class,\n"
                "mAP-image and location top-1/top-3 over the folds (OUT/cv.json).");
      return 0;
    }
    const bool has_value = i + 1 < argc && a.rfind("--", 0) == 0 && a.find('=') == std::string::npos &&
                           a != "--resume";
    const std::string value = has_value ? argv[i + 1] : "";
    if (a == "--out") out = value;
    else if (a == "--crops") crops = value;
    else if (a == "--folds") folds = std::stoi(value);
    else if (a == "--fold") SKINMTL_FAIL("cv runs every fold; --fold is not an option here");
    else {
      train_args.push_back(a);
      if (has_value) train_args.push_back(value);
      if (a.size() > 2 && std::find(data_opts.begin(), data_opts.end(), a.substr(2)) != data_opts.end()) {
        data_args.push_back(a);
        if (has_value) data_args.push_back(value);
      }
      // The test transform follows the training one: resize to the smallest
      // training scale, the same crop (as the paper's 256 / 224).
      if (a == "--min-short") data_args.insert(data_args.end(), {"--resize", value});
      if (a == "--crop" || a == "--threads" || a == "--device") data_args.insert(data_args.end(), {a, value});
    }
    if (has_value) ++i;
  }
  SKINMTL_USAGE_CHECK(folds >= 2, "--folds must be at least 2");
  nlohmann::json summary;
  std::map<std::string, std::vector<double>> values;
  for (int k = 0; k < folds; ++k) {
    const std::string dir = out + "/fold" + std::to_string(k);
    const std::vector<std::string> fold_args = {"--folds", std::to_string(folds), "--fold", std::to_string(k)};
    std::printf("\n==== fold %d of %d ====\n", k, folds);
    if (!std::filesystem::exists(dir + "/model.safetensors")) {
      std::vector<std::string> t = train_args;
      t.insert(t.end(), fold_args.begin(), fold_args.end());
      t.insert(t.end(), {"--out", dir});
      if (std::filesystem::exists(dir + "/checkpoint.safetensors")) t.push_back("--resume");
      const int rc = run(t, train_mtl);
      if (rc != 0) return rc;
    }
    std::vector<std::string> e = {"mtl", "--model", dir + "/model.safetensors", "--crops", crops, "--out", dir + "/eval"};
    e.insert(e.end(), data_args.begin(), data_args.end());
    e.insert(e.end(), fold_args.begin(), fold_args.end());
    const int rc = run(e, eval_mtl);
    if (rc != 0) return rc;
    std::ifstream f(dir + "/eval/metrics.json");
    const nlohmann::json m = nlohmann::json::parse(f).at("model");
    summary["folds"].push_back(m);
    for (const char* key : {"map_class", "map_image", "location_top1", "location_top3"})
      if (m.contains(key) && m[key].is_number()) values[key].push_back(m[key].get<double>());
  }
  std::printf("\n==== %d-fold cross-validation ====\n", folds);
  for (auto& [key, v] : values) {
    double mean = 0, var = 0;
    for (double x : v) mean += x / v.size();
    for (double x : v) var += (x - mean) * (x - mean) / (v.size() > 1 ? v.size() - 1 : 1);
    summary["mean"][key] = mean;
    summary["std"][key] = std::sqrt(var);
    std::printf("  %-15s %.4f +- %.4f  (%zu folds)\n", key.c_str(), mean, std::sqrt(var), v.size());
  }
  std::ofstream(out + "/cv.json") << summary.dump(2) << "\n";
  std::printf("per-fold results: %s/fold*/eval/, summary: %s/cv.json\n", out.c_str(), out.c_str());
  return 0;
}

int cmd_cv(int argc, char** argv) {
  const bool help = argc >= 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h");
  if (argc < 2 || std::string(argv[1]) != "mtl") {
    // --help is an answer (stdout, 0); anything else is a usage error (stderr, 2).
    std::fputs("usage: skinmtl cv mtl [options] ('skinmtl cv mtl --help')\n", help ? stdout : stderr);
    return help ? 0 : 2;
  }
  return cv_mtl(argc - 1, argv + 1);
}

}  // namespace skinmtl
