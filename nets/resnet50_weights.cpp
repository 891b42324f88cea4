#include "nets/resnet50_weights.h"

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "io/checkpoint.h"

namespace skinmtl {

namespace {

using json = nlohmann::json;

// resnet50_info()'s messages say "resnet50 metadata: ..."; this adds which file.
Resnet50Info info_of(const TensorFile& file, const std::string& what) {
  try {
    return resnet50_info(file);
  } catch (const Error& e) {
    throw Error("weights '" + what + "': " + e.what());
  }
}

// The metadata keys save_resnet50 derives from the network and its info.
const char* const kReservedKeys[] = {"arch",           "stride_placement", "bn_eps",
                                     "conv_bias",      "num_classes",      "classes",
                                     "input_channels", "input_range",      "input_mean",
                                     "input_std"};

}  // namespace

ResNetConfig resnet_config(const Resnet50Info& info, bool trunk) {
  SKINMTL_CHECK(info.stride_placement == "v1" || info.stride_placement == "v1.5",
                "resnet_config: stride_placement must be v1 or v1.5, got '" << info.stride_placement
                                                                             << "'");
  ResNetConfig c;
  c.stride = info.stride_placement == "v1" ? ResNetStride::V1 : ResNetStride::V1_5;
  c.bn_eps = info.bn_eps;
  c.conv_bias = info.conv_bias;
  c.classes = trunk ? 0 : info.num_classes;
  return c;
}

LoadedResNet50 load_resnet50(const std::string& path, const LoadResNet50Options& opt) {
  SKINMTL_CHECK(std::filesystem::exists(path), "weights '" << path << "': no such file");
  // Reads the file, checks it is a complete torchvision-layout ResNet-50, drops
  // num_batches_tracked and fills in torchvision's conventions where the
  // metadata says nothing (io/resnet50_import.h).
  const TensorFile file = load_torchvision_resnet50(path);
  return load_resnet50(file, path, opt);
}

LoadedResNet50 load_resnet50(const TensorFile& file, const std::string& what,
                             const LoadResNet50Options& opt) {
  LoadedResNet50 out;
  out.info = info_of(file, what);
  SKINMTL_CHECK(opt.trunk || out.info.num_classes > 0,
                "weights '" << what << "': a headless trunk (no fc layer) cannot classify; it can "
                               "only start a new model (--weights of train)");
  out.metadata = file.metadata;
  Rng rng(opt.seed);
  {
    SkipRandomInitGuard no_init;  // the load below overwrites every tensor (or refuses)
    out.model = std::make_shared<ResNet50>(resnet_config(out.info, opt.trunk), rng);
  }
  load_resnet50_weights(*out.model, file, what);
  out.model->eval();
  return out;
}

void load_resnet50_weights(ResNet50& model, const TensorFile& file, const std::string& what) {
  const Resnet50Info info = info_of(file, what);
  const ResNetConfig& c = model.config();
  const std::string where = "weights '" + what + "': ";
  SKINMTL_CHECK(info.stride_placement == resnet_stride_name(c.stride),
                where << "the file's stride placement is " << info.stride_placement
                      << ", the network's " << resnet_stride_name(c.stride));
  SKINMTL_CHECK(info.conv_bias == c.conv_bias,
                where << "the file's convolutions " << (info.conv_bias ? "have" : "have no")
                      << " biases, the network's " << (c.conv_bias ? "do" : "do not"));
  // Both values come from the same decimal text, so they are normally equal;
  // the tolerance only forgives a last-bit difference of another parser.
  SKINMTL_CHECK(std::abs(info.bn_eps - c.bn_eps) <= 1e-9 * info.bn_eps,
                where << "the file's BatchNorm epsilon is " << info.bn_eps << ", the network's "
                      << c.bn_eps);
  LoadStateOptions lo;
  if (!model.fc) lo.ignore_prefixes = {"fc."};  // a trunk: the classifier is not needed
  load_module_state(model, file, what, lo);
}

void save_resnet50(const std::string& path, ResNet50& model, const Resnet50Info& info,
                   const std::map<std::string, std::string>& extra) {
  const ResNetConfig& c = model.config();
  const std::string where = "save_resnet50 '" + path + "': ";
  SKINMTL_CHECK(model.fc, where << "the network has no fc layer (classes = 0); save the model "
                                   "that owns this trunk instead (io/checkpoint.h)");
  SKINMTL_CHECK(info.input_channels == "rgb" || info.input_channels == "bgr",
                where << "info.input_channels must be rgb or bgr, got '" << info.input_channels
                      << "'");
  for (int i = 0; i < 3; ++i)
    SKINMTL_CHECK(info.input_std[i] > 0, where << "info.input_std must be positive");
  SKINMTL_CHECK(info.classes.empty() || (int)info.classes.size() == c.classes,
                where << info.classes.size() << " class names for " << c.classes << " classes");
  for (const char* key : kReservedKeys)
    SKINMTL_CHECK(!extra.count(key),
                  where << "extra metadata key '" << key << "' is written from the network itself");

  TensorFile f = module_state(model);
  f.metadata = extra;
  auto& m = f.metadata;
  m["arch"] = "resnet50";
  m["stride_placement"] = resnet_stride_name(c.stride);
  m["bn_eps"] = json(c.bn_eps).dump();  // the shortest text that reads back as the same double
  m["conv_bias"] = c.conv_bias ? "true" : "false";
  m["num_classes"] = std::to_string(c.classes);
  m["input_channels"] = info.input_channels;
  m["input_range"] = "0-255";
  m["input_mean"] = json(std::vector<double>(info.input_mean, info.input_mean + 3)).dump();
  m["input_std"] = json(std::vector<double>(info.input_std, info.input_std + 3)).dump();
  if (!info.classes.empty()) m["classes"] = json(info.classes).dump();
  save_safetensors(path, f);
}

Tensor resnet_input(const std::vector<Image>& images, const Resnet50Info& info) {
  SKINMTL_CHECK(info.input_channels == "rgb" || info.input_channels == "bgr",
                "resnet_input: input_channels must be rgb or bgr, got '" << info.input_channels
                                                                         << "'");
  // Raw RGB pixels 0..255 (grey replicated) in planar (N, 3, H, W).
  const float no_mean[3] = {0, 0, 0};
  const Tensor rgb = to_tensor(images, no_mean, 1.0f);
  const int64_t N = rgb.size(0), plane = rgb.size(2) * rgb.size(3);
  Tensor out = Tensor::empty(rgb.shape());
  const float* src = rgb.data<float>();
  float* dst = out.data<float>();
  const bool bgr = info.input_channels == "bgr";
  for (int64_t n = 0; n < N; ++n)
    for (int c = 0; c < 3; ++c) {
      const int from = bgr ? 2 - c : c;  // network channel c reads this RGB channel
      const float* s = src + (n * 3 + from) * plane;
      float* d = dst + (n * 3 + c) * plane;
      const double mean = info.input_mean[c], std = info.input_std[c];
      for (int64_t i = 0; i < plane; ++i) d[i] = (float)((s[i] - mean) / std);
    }
  return out;
}

PretrainedTrunk load_pretrained_trunk(const std::string& path) {
  SKINMTL_CHECK(std::filesystem::exists(path),
                "no pretrained weights at " << path << " (make weights fetches and converts them; "
                                                         "--weights none trains from scratch)");
  PretrainedTrunk t;
  t.tensors = load_torchvision_resnet50(path);
  const Resnet50Info info = resnet50_info(t.tensors);
  SKINMTL_CHECK(info.input_channels == "rgb",
                path << ": expects " << info.input_channels << " input; convert it with the RGB fold");
  t.config = resnet_config(info, /*trunk=*/true);
  for (int c = 0; c < 3; ++c) {
    t.mean[c] = (float)info.input_mean[c];
    t.std[c] = (float)info.input_std[c];
  }
  return t;
}

}  // namespace skinmtl
