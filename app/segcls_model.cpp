#include "app/segcls_model.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "app/model_file.h"
#include "app/model_limits.h"
#include "framework/autograd.h"
#include "io/checkpoint.h"
#include "io/progress.h"
#include "io/resnet50_import.h"
#include "io/safetensors.h"
#include "io/seg_loader.h"
#include "metrics/metrics.h"
#include "nets/resnet50_weights.h"

namespace skinmtl {

using json = nlohmann::json;

std::string segcls_spec_to_json(const SegClsModelSpec& s) {
  json j = model_json("segcls_resnet50", s.config.trunk, s.normalize, s.input_channels);
  j["tasks"] = segcls_tasks_name(s.config.tasks);
  j["decoder_widths"] = s.config.decoder_widths;
  j["new_weight_lr_mult"] = s.config.new_weight_lr_mult;
  j["new_bias_lr_mult"] = s.config.new_bias_lr_mult;
  j["head_weight_lr_mult"] = s.config.head_weight_lr_mult;
  j["head_bias_lr_mult"] = s.config.head_bias_lr_mult;
  j["input_height"] = s.input_h;
  j["input_width"] = s.input_w;
  return j.dump();
}

SegClsModelSpec segcls_spec_from_json(const std::string& text, const std::string& what) {
  SegClsModelSpec s;
  read_model_json(text, what, "segcls_config", "segcls_resnet50", "a segmentation + classification model",
                  [&](const json& j) {
    s.config.tasks = parse_segcls_tasks(j.at("tasks").get<std::string>());
    trunk_from_json(j, s.config.trunk);
    s.config.decoder_widths = j.at("decoder_widths").get<std::vector<int>>();
    s.config.new_weight_lr_mult = j.at("new_weight_lr_mult").get<float>();
    s.config.new_bias_lr_mult = j.at("new_bias_lr_mult").get<float>();
    // Files written before the heads had their own multipliers used the new layers'.
    s.config.head_weight_lr_mult = j.value("head_weight_lr_mult", s.config.new_weight_lr_mult);
    s.config.head_bias_lr_mult = j.value("head_bias_lr_mult", s.config.new_bias_lr_mult);
    s.input_h = j.at("input_height").get<int>();
    s.input_w = j.at("input_width").get<int>();
    require_in_range("input_height", s.input_h, 32, kMaxModelInputSide);
    require_in_range("input_width", s.input_w, 32, kMaxModelInputSide);
    const std::vector<int>& widths = s.config.decoder_widths;
    require_all_in_range("decoder_widths", std::vector<double>(widths.begin(), widths.end()), 1, 8192, 1, 8);
    require_in_range("new_weight_lr_mult", s.config.new_weight_lr_mult, 0, 1e4);
    require_in_range("new_bias_lr_mult", s.config.new_bias_lr_mult, 0, 1e4);
    require_in_range("head_weight_lr_mult", s.config.head_weight_lr_mult, 0, 1e4);
    require_in_range("head_bias_lr_mult", s.config.head_bias_lr_mult, 0, 1e4);
    input_from_json(j, s.normalize, s.input_channels);
  });
  return s;
}

std::map<std::string, std::string> segcls_model_metadata(const SegClsModelSpec& spec) {
  return {{"arch", "segcls_resnet50"}, {"segcls_config", segcls_spec_to_json(spec)}};
}

SegClsModel new_segcls_model(SegClsModelSpec spec, const std::string& weights, uint64_t seed) {
  SegClsModel m;
  PretrainedTrunk pretrained;
  if (weights != "none") {
    pretrained = load_pretrained_trunk(weights);
    spec.config.trunk = pretrained.config;
    pretrained.set_input(spec.normalize);
  }
  m.spec = spec;
  Rng rng(seed);
  m.net = std::make_unique<SegClsNet>(m.spec.config, rng);
  // A trunk (no fc): the file's ImageNet classifier is left unused.
  if (weights != "none") load_resnet50_weights(*m.net->trunk, pretrained.tensors, weights);
  return m;
}

SegClsModel load_segcls_model(const std::string& path) {
  return load_model<SegClsModel>(path, "segcls_config", "train segcls", segcls_spec_from_json);
}

// ---- prediction ------------------------------------------------------------------------------

namespace {

// The B maps of H x W values in [0, 1] held in `v` (row-major, map after map),
// as 1-channel images holding round(255 v).
std::vector<Image> to_grey_images(const std::vector<double>& v, int64_t B, int64_t H, int64_t W) {
  std::vector<Image> out;
  for (int64_t b = 0; b < B; ++b) {
    Image img((int)H, (int)W, 1);
    for (int64_t k = 0; k < H * W; ++k) {
      const double p = std::min(1.0, std::max(0.0, v[b * H * W + k]));
      img.data[k] = (uint8_t)std::lround(255.0 * p);
    }
    out.push_back(std::move(img));
  }
  return out;
}

// The same for the rows of a (B, 1, H, W) tensor.
std::vector<Image> to_grey_images(const Tensor& t) {
  return to_grey_images(t.to_vector(), t.size(0), t.size(2), t.size(3));
}

// Where element (y, x) of an H x W plane goes when the plane is mirrored
// left-right (flip_x) and/or upside down (flip_y). Its own inverse.
inline int64_t flipped_index(int64_t y, int64_t x, int64_t H, int64_t W, bool flip_x, bool flip_y) {
  return (flip_y ? H - 1 - y : y) * W + (flip_x ? W - 1 - x : x);
}

// A (B, C, H, W) float32 CPU tensor with every plane mirrored as flipped_index says.
Tensor flip_planes(const Tensor& t, bool flip_x, bool flip_y) {
  SKINMTL_CHECK(t.ndim() == 4 && t.dtype() == DType::F32 && t.device() == Device::CPU,
                "flip_planes: a (B, C, H, W) float32 CPU tensor, got " << t.str());
  const int64_t planes = t.size(0) * t.size(1), H = t.size(2), W = t.size(3);
  Tensor out = Tensor::empty(t.shape());
  const float* src = t.data<float>();
  float* dst = out.data<float>();
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x)
        dst[p * H * W + flipped_index(y, x, H, W, flip_x, flip_y)] = src[(p * H + y) * W + x];
  return out;
}

}  // namespace

SegClsTta parse_segcls_tta(const std::string& name) {
  if (name == "none") return SegClsTta::kNone;
  SKINMTL_USAGE_CHECK(name == "flips", "--tta is none or flips, got '" << name << "'");
  return SegClsTta::kFlips;
}

const char* segcls_tta_name(SegClsTta tta) { return tta == SegClsTta::kFlips ? "flips" : "none"; }

int segcls_tta_passes(SegClsTta tta) { return tta == SegClsTta::kFlips ? 4 : 1; }

SegClsPredictions predict_segcls(SegClsNet& net, const std::vector<SegSample>& samples, const SegClsModelSpec& spec,
                                 const SegClsLossWeights& weights, Device device, int batch, int threads,
                                 bool keep_truth, bool show_progress, SegClsTta tta) {
  NoGradGuard no_grad;
  const bool was_training = net.is_training();
  net.eval();
  SegLoader loader(samples, yang_test_transform(spec.input_h, spec.input_w),
                   LoaderOptions::in_order(batch, threads, spec.normalize));
  loader.start_epoch(0);
  const size_t N = samples.size();
  SegClsPredictions out;
  if (net.has_cls()) {
    out.melanoma.assign(N, 0.0);
    out.sk.assign(N, 0.0);
  }
  if (net.has_seg()) out.masks.resize(N);
  if (keep_truth) out.truth.resize(N);
  double total = 0, seg = 0, jac = 0, mel = 0, sk = 0;
  std::unique_ptr<Progress> bar;
  if (show_progress) bar = std::make_unique<Progress>(loader.batches_per_epoch(), "predict");
  SegBatch b;
  int64_t done = 0;
  const int passes = segcls_tta_passes(tta);
  while (loader.next(b)) {
    const int B = b.size();
    const int64_t H = b.images.size(2), W = b.images.size(3);
    // Sums over the passes, in the images' own orientation.
    std::vector<double> sum_mel(B, 0.0), sum_sk(B, 0.0), sum_mask(net.has_seg() ? B * H * W : 0, 0.0);
    for (int pass = 0; pass < passes; ++pass) {
      const bool flip_x = pass & 1, flip_y = pass & 2;  // pass 0 is the image as it is
      const Tensor input = pass == 0 ? b.images : flip_planes(b.images, flip_x, flip_y);
      auto o = net.forward(input.to(device));
      if (pass == 0) {
        auto l = net.loss(o, b.masks.to(device), b.melanoma.to(device), b.seborrheic_keratosis.to(device), weights);
        auto value = [](const Tensor& t) { return t.to(Device::CPU).item(); };
        total += value(l.total) * B;
        if (l.seg.defined()) seg += value(l.seg) * B;
        if (l.jaccard.defined()) jac += value(l.jaccard) * B;
        if (net.has_cls()) {
          mel += value(l.melanoma) * B;
          sk += value(l.sk) * B;
        }
      }
      if (net.has_cls()) {
        const std::vector<double> pm = sigmoid(o.melanoma_logit).to(Device::CPU).to_vector();
        const std::vector<double> ps = sigmoid(o.sk_logit).to(Device::CPU).to_vector();
        for (int i = 0; i < B; ++i) {
          sum_mel[i] += pm[i];
          sum_sk[i] += ps[i];
        }
      }
      if (net.has_seg()) {
        SKINMTL_CHECK(o.mask_logits.size(2) == H && o.mask_logits.size(3) == W,
                      "predict_segcls: the mask " << o.mask_logits.str() << " is not at the input's size");
        const std::vector<double> pmask = sigmoid(o.mask_logits).to(Device::CPU).to_vector();
        for (int64_t i = 0; i < B; ++i)
          for (int64_t y = 0; y < H; ++y)
            for (int64_t x = 0; x < W; ++x)
              sum_mask[i * H * W + y * W + x] += pmask[i * H * W + flipped_index(y, x, H, W, flip_x, flip_y)];
      }
    }
    for (double& v : sum_mask) v /= passes;
    if (net.has_cls())
      for (int i = 0; i < B; ++i) {
        out.melanoma[b.indices[i]] = sum_mel[i] / passes;
        out.sk[b.indices[i]] = sum_sk[i] / passes;
      }
    if (net.has_seg()) {
      std::vector<Image> maps = to_grey_images(sum_mask, B, H, W);
      for (int i = 0; i < B; ++i) out.masks[b.indices[i]] = std::move(maps[i]);
    }
    if (keep_truth) {
      std::vector<Image> truth = to_grey_images(b.masks);  // 0/1 -> 0/255
      for (int i = 0; i < B; ++i) out.truth[b.indices[i]] = std::move(truth[i]);
    }
    if (bar) bar->update(++done);
  }
  if (bar) bar->finish();
  const double n = (double)std::max<size_t>(N, 1);
  out.total_loss = total / n;
  if (net.has_seg()) {
    out.seg_loss = seg / n;
    if (weights.jaccard != 0) out.jaccard_loss = jac / n;
  }
  if (net.has_cls()) {
    out.melanoma_loss = mel / n;
    out.sk_loss = sk / n;
    for (size_t i = 0; i < out.melanoma.size(); ++i) {
      require_finite_prediction(out.melanoma[i], samples[i].id);
      require_finite_prediction(out.sk[i], samples[i].id);
    }
  }
  net.train(was_training);
  return out;
}

void parse_size(const std::string& text, int* height, int* width) {
  const size_t x = text.find('x');
  int h = 0, w = 0;
  try {
    SKINMTL_CHECK(x != std::string::npos, "");
    size_t used = 0;
    h = std::stoi(text.substr(0, x), &used);
    SKINMTL_CHECK(used == x, "");
    w = std::stoi(text.substr(x + 1), &used);
    SKINMTL_CHECK(used == text.size() - x - 1, "");
  } catch (const std::exception&) {
    SKINMTL_FAIL("a size is HEIGHTxWIDTH, e.g. 192x256; got '" << text << "'");
  }
  SKINMTL_USAGE_CHECK(h >= 32 && w >= 32, "the input size must be at least 32x32 (ResNet-50 downsamples 32 times), got "
                                        << text);
  *height = h;
  *width = w;
}

}  // namespace skinmtl
