#include "app/mtl_model.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "app/model_file.h"
#include "app/model_limits.h"
#include "framework/autograd.h"
#include "io/checkpoint.h"
#include "io/loader.h"
#include "io/progress.h"
#include "io/resnet50_import.h"
#include "io/split.h"
#include "io/synthetic.h"
#include "nets/resnet50_weights.h"

namespace skinmtl {

using json = nlohmann::json;

const std::vector<std::string> kMtlDataOptions = {"data", "folds", "fold", "split-seed", "data-dir"};

// ---- data ------------------------------------------------------------------------------------

MtlData load_mtl_data(const Args& args) {
  const std::string data = args.get("data", "synthetic");
  const std::string data_dir = args.get("data-dir", "../shared/data");
  const int folds = (int)args.get_int("folds", 5);
  const int fold = (int)args.get_int("fold", 0);
  const uint64_t split_seed = (uint64_t)args.get_int("split-seed", 2017);
  auto after_colon = [&](const std::string& fallback) {
    const size_t c = data.find(':');
    return c == std::string::npos ? fallback : data.substr(c + 1);
  };
  MtlData d;
  std::string name;
  if (data == "synthetic" || data.rfind("synthetic:", 0) == 0) {
    const std::string manifest = after_colon("data/synthetic/manifest.csv");
    // The embedded default makes itself on a fresh machine (the same as
    // `skinmtl synth --out <folder>` with its defaults: 2000 images, 256 px, seed 1).
    ensure_synth_dataset(manifest);
    d.all = read_manifest(manifest);
    name = "synthetic";
  } else if (data == "ham10000" || data.rfind("ham10000:", 0) == 0) {
    d.all = load_ham10000(after_colon(data_dir + "/ham10000/labels.csv"));
    name = "ham10000";
  } else if (data == "isic2017" || data.rfind("isic2017:", 0) == 0) {
    d.all = load_isic2017(after_colon(data_dir + "/isic2017/labels.csv"), "");
    name = "isic2017";
  } else {
    d.all = read_manifest(data);
    name = data;
  }
  Split s = kfold_split(d.all, folds, fold, split_seed);
  d.train = std::move(s.train);
  d.val = std::move(s.val);
  d.description = name + " (" + std::to_string(d.all.size()) + " images, " +
                  std::to_string(d.all.num_lesion_classes()) + " lesion classes, " +
                  std::to_string(d.all.num_location_classes()) + " locations), fold " + std::to_string(fold) +
                  " of " + std::to_string(folds) + ": " + std::to_string(d.train.size()) + " train / " +
                  std::to_string(d.val.size()) + " held out";
  return d;
}

// ---- the model file --------------------------------------------------------------------------

std::string spec_to_json(const MtlModelSpec& s) {
  json j = model_json("mtl_resnet50", s.config.trunk, s.normalize, s.input_channels);
  j["tasks"] = mtl_tasks_name(s.config.tasks);
  j["lesion_classes"] = s.lesion_classes;
  j["location_classes"] = s.location_classes;
  j["head_weight_lr_mult"] = s.config.head_weight_lr_mult;
  j["head_bias_lr_mult"] = s.config.head_bias_lr_mult;
  return j.dump();
}

MtlModelSpec spec_from_json(const std::string& text, const std::string& what) {
  MtlModelSpec s;
  read_model_json(text, what, "mtl_config", "mtl_resnet50", "a multi-task classifier", [&](const json& j) {
    s.config.tasks = parse_mtl_tasks(j.at("tasks").get<std::string>());
    s.lesion_classes = j.at("lesion_classes").get<std::vector<std::string>>();
    s.location_classes = j.at("location_classes").get<std::vector<std::string>>();
    trunk_from_json(j, s.config.trunk);
    s.config.head_weight_lr_mult = j.value("head_weight_lr_mult", 10.0f);
    s.config.head_bias_lr_mult = j.value("head_bias_lr_mult", 20.0f);
    input_from_json(j, s.normalize, s.input_channels);
    require_in_range("head_weight_lr_mult", s.config.head_weight_lr_mult, 0, 1e4);
    require_in_range("head_bias_lr_mult", s.config.head_bias_lr_mult, 0, 1e4);
    const bool lesion = s.config.tasks != MtlTasks::Location, location = s.config.tasks != MtlTasks::Lesion;
    require_class_names("lesion_classes", s.lesion_classes, lesion ? 1 : 0);
    require_class_names("location_classes", s.location_classes, location ? 1 : 0);
  });
  s.config.lesion_classes = (int)s.lesion_classes.size();
  s.config.location_classes = (int)s.location_classes.size();
  return s;
}

std::map<std::string, std::string> mtl_model_metadata(const MtlModelSpec& spec) {
  return {{"arch", "mtl_resnet50"}, {"mtl_config", spec_to_json(spec)}};
}

MtlModel new_mtl_model(const MtlData& data, MtlTasks tasks, const std::string& weights, uint64_t seed) {
  MtlModel m;
  MtlModelSpec& s = m.spec;
  s.lesion_classes = data.all.lesion_classes;
  s.location_classes = data.all.location_classes;
  s.config.tasks = tasks;
  s.config.lesion_classes = (int)s.lesion_classes.size();
  s.config.location_classes = (int)s.location_classes.size();
  PretrainedTrunk pretrained;
  if (weights != "none") {
    pretrained = load_pretrained_trunk(weights);
    s.config.trunk = pretrained.config;
    pretrained.set_input(s.normalize);
  }
  Rng rng(seed);
  m.net = std::make_unique<MtlClassifier>(s.config, rng);
  // A trunk (no fc): the ImageNet classifier in the file is left unused; the
  // two heads replace it.
  if (weights != "none") load_resnet50_weights(*m.net->trunk, pretrained.tensors, weights);
  return m;
}

MtlModel load_mtl_model(const std::string& path) {
  return load_model<MtlModel>(path, "mtl_config", "train mtl", spec_from_json);
}

// ---- prediction ------------------------------------------------------------------------------

MtlPredictions predict_mtl(MtlClassifier& net, const Manifest& data, const Transform& transform,
                           const Normalize& normalize, Device device, int batch, int threads,
                           bool want_features, bool show_progress) {
  NoGradGuard no_grad;
  const bool was_training = net.is_training();
  net.eval();
  Loader loader(data, transform, LoaderOptions::in_order(batch, threads, normalize));
  loader.start_epoch(0);
  const int V = transform.views;
  const int P = net.has_lesion_head() ? net.config().lesion_classes : 0;
  const int Q = net.has_location_head() ? net.config().location_classes : 0;
  MtlPredictions out;
  out.lesion.assign(P ? data.size() : 0, std::vector<double>(P));
  out.location.assign(Q ? data.size() : 0, std::vector<double>(Q));
  if (want_features) out.features.assign(data.size(), std::vector<float>(2048, 0.0f));
  double lesion_sum = 0, location_sum = 0;
  int64_t lesion_n = 0, location_n = 0;
  std::unique_ptr<Progress> bar;
  if (show_progress) bar = std::make_unique<Progress>(loader.batches_per_epoch(), "predict");
  Batch b;
  int64_t done = 0;
  while (loader.next(b)) {
    const int B = b.size();
    auto o = net.forward(b.images.to(device));
    // Losses on the first view of each sample (the centre crop for 10-crop).
    std::vector<int64_t> first(B);
    for (int i = 0; i < B; ++i) first[i] = (int64_t)i * V;
    auto first_rows = [&](const Tensor& t) {
      if (V == 1) return t;
      std::vector<Tensor> rows;
      for (int i = 0; i < B; ++i) rows.push_back(slice(t, 0, first[i], first[i] + 1));
      return concat(rows, 0);
    };
    if (P) {
      Tensor probs = sigmoid(o.lesion_logits).to(Device::CPU);
      const std::vector<double> v = probs.to_vector();
      for (int i = 0; i < B; ++i)
        for (int k = 0; k < P; ++k) {
          double s = 0;
          for (int view = 0; view < V; ++view) s += v[((size_t)i * V + view) * P + k];
          out.lesion[b.indices[i]][k] = s / V;
        }
      lesion_sum += sigmoid_cross_entropy(first_rows(o.lesion_logits), b.lesions.to(device)).to(Device::CPU).item() * B;
      lesion_n += B;
    }
    if (Q) {
      const std::vector<double> v = softmax(o.location_logits).to(Device::CPU).to_vector();
      for (int i = 0; i < B; ++i)
        for (int q = 0; q < Q; ++q) {
          double s = 0;
          for (int view = 0; view < V; ++view) s += v[((size_t)i * V + view) * Q + q];
          out.location[b.indices[i]][q] = s / V;
        }
      int known = 0;
      const std::vector<double> loc = b.locations.to_vector();
      for (double l : loc) known += l >= 0;
      if (known > 0) {
        location_sum += softmax_cross_entropy(first_rows(o.location_logits), b.locations.to(device))
                            .to(Device::CPU).item() * known;
        location_n += known;
      }
    }
    if (want_features) {
      const std::vector<double> f = o.features.to(Device::CPU).to_vector();
      for (int i = 0; i < B; ++i) {
        std::vector<float>& dst = out.features[b.indices[i]];
        for (int view = 0; view < V; ++view)
          for (int d = 0; d < 2048; ++d) dst[d] += (float)(f[((size_t)i * V + view) * 2048 + d] / V);
      }
    }
    if (bar) bar->update(++done);
  }
  if (bar) bar->finish();
  out.lesion_loss = lesion_n ? lesion_sum / lesion_n : NAN;
  out.location_loss = location_n ? location_sum / location_n : NAN;
  net.train(was_training);
  // A NaN probability means the weights diverged (or overflowed on this input):
  // say so, instead of failing later inside a metric.
  for (const auto* head : {&out.lesion, &out.location})
    for (size_t i = 0; i < head->size(); ++i)
      for (double v : (*head)[i]) require_finite_prediction(v, data.samples[i].id);
  return out;
}

LabelMatrix lesion_label_matrix(const Manifest& data) {
  LabelMatrix labels(data.size(), std::vector<int>(data.num_lesion_classes(), 0));
  for (size_t i = 0; i < data.size(); ++i)
    for (int k : data.samples[i].lesions) labels[i][k] = 1;
  return labels;
}

MtlMetrics mtl_metrics(const MtlPredictions& p, const Manifest& data) {
  MtlMetrics m;
  if (!p.lesion.empty()) {
    m.has_lesion = true;
    const LabelMatrix labels = lesion_label_matrix(data);
    m.map_class = map_class(p.lesion, labels);
    m.map_image = map_image(p.lesion, labels);
  }
  if (!p.location.empty()) {
    m.has_location = true;
    ScoreMatrix scores;
    std::vector<int64_t> truth;
    for (size_t i = 0; i < data.size(); ++i)
      if (data.samples[i].location >= 0) {
        scores.push_back(p.location[i]);
        truth.push_back(data.samples[i].location);
      }
    m.located = (int64_t)truth.size();
    if (!truth.empty()) {
      auto r = topk_accuracy(scores, truth, {1, 3});
      m.top1 = r[0].accuracy;
      m.top3 = r[1].accuracy;
    }
  }
  return m;
}

}  // namespace skinmtl
