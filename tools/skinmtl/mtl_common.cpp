#include "tools/skinmtl/mtl_common.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>

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
  json j;
  j["arch"] = "mtl_resnet50";
  j["tasks"] = mtl_tasks_name(s.config.tasks);
  j["lesion_classes"] = s.lesion_classes;
  j["location_classes"] = s.location_classes;
  j["stride_placement"] = resnet_stride_name(s.config.trunk.stride);
  j["bn_eps"] = s.config.trunk.bn_eps;
  j["conv_bias"] = s.config.trunk.conv_bias;
  j["head_weight_lr_mult"] = s.config.head_weight_lr_mult;
  j["head_bias_lr_mult"] = s.config.head_bias_lr_mult;
  j["input_channels"] = s.input_channels;
  j["input_mean"] = {s.normalize.mean[0], s.normalize.mean[1], s.normalize.mean[2]};
  j["input_std"] = {s.normalize.std[0], s.normalize.std[1], s.normalize.std[2]};
  j["input_scale"] = s.normalize.scale;
  return j.dump();
}

MtlModelSpec spec_from_json(const std::string& text, const std::string& what) {
  MtlModelSpec s;
  try {
    const json j = json::parse(text);
    SKINMTL_CHECK(j.value("arch", "") == "mtl_resnet50", "not a multi-task classifier (arch '"
                                                            << j.value("arch", "") << "')");
    s.config.tasks = parse_mtl_tasks(j.at("tasks").get<std::string>());
    s.lesion_classes = j.at("lesion_classes").get<std::vector<std::string>>();
    s.location_classes = j.at("location_classes").get<std::vector<std::string>>();
    const std::string stride = j.at("stride_placement").get<std::string>();
    SKINMTL_CHECK(stride == "v1" || stride == "v1.5", "stride_placement must be v1 or v1.5, got " << stride);
    s.config.trunk.stride = stride == "v1" ? ResNetStride::V1 : ResNetStride::V1_5;
    s.config.trunk.bn_eps = j.at("bn_eps").get<double>();
    s.config.trunk.conv_bias = j.at("conv_bias").get<bool>();
    s.config.head_weight_lr_mult = j.value("head_weight_lr_mult", 10.0f);
    s.config.head_bias_lr_mult = j.value("head_bias_lr_mult", 20.0f);
    s.input_channels = j.at("input_channels").get<std::string>();
    SKINMTL_CHECK(s.input_channels == "rgb", "only RGB input is supported, got " << s.input_channels);
    for (int c = 0; c < 3; ++c) {
      s.normalize.mean[c] = j.at("input_mean").at(c).get<float>();
      s.normalize.std[c] = j.at("input_std").at(c).get<float>();
    }
    s.normalize.scale = j.at("input_scale").get<float>();
    require_sane_normalize(s.normalize);
    require_in_range("bn_eps", s.config.trunk.bn_eps, 1e-12, 1);
    require_in_range("head_weight_lr_mult", s.config.head_weight_lr_mult, 0, 1e4);
    require_in_range("head_bias_lr_mult", s.config.head_bias_lr_mult, 0, 1e4);
    const bool lesion = s.config.tasks != MtlTasks::Location, location = s.config.tasks != MtlTasks::Lesion;
    require_class_names("lesion_classes", s.lesion_classes, lesion ? 1 : 0);
    require_class_names("location_classes", s.location_classes, location ? 1 : 0);
  } catch (const json::exception& e) {
    SKINMTL_FAIL(what << ": bad mtl_config metadata: " << e.what());
  } catch (const Error& e) {
    SKINMTL_FAIL(what << ": bad mtl_config metadata: " << e.what());
  }
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
  TensorFile f = load_safetensors(path);
  const std::string cfg = f.meta("mtl_config");
  SKINMTL_CHECK(!cfg.empty(), path << ": no mtl_config in its metadata: not a model written by `skinmtl train mtl`");
  MtlModel m;
  m.spec = spec_from_json(cfg, path);
  Rng rng(0);
  m.net = std::make_unique<MtlClassifier>(m.spec.config, rng);
  load_module_state(*m.net, f, path);
  return m;
}

// ---- prediction ------------------------------------------------------------------------------

MtlPredictions predict_mtl(MtlClassifier& net, const Manifest& data, const Transform& transform,
                           const Normalize& normalize, Device device, int batch, int threads,
                           bool want_features, bool show_progress) {
  NoGradGuard no_grad;
  const bool was_training = net.is_training();
  net.eval();
  LoaderOptions lo;
  lo.batch_size = batch;
  lo.threads = threads;
  lo.shuffle = false;
  lo.normalize = normalize;
  Loader loader(data, transform, lo);
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

MtlMetrics mtl_metrics(const MtlPredictions& p, const Manifest& data) {
  MtlMetrics m;
  if (!p.lesion.empty()) {
    m.has_lesion = true;
    LabelMatrix labels(data.size(), std::vector<int>(data.num_lesion_classes(), 0));
    for (size_t i = 0; i < data.size(); ++i)
      for (int k : data.samples[i].lesions) labels[i][k] = 1;
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
