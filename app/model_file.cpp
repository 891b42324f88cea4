#include "app/model_file.h"

#include <filesystem>
#include <fstream>

#include "app/model_limits.h"
#include "io/checkpoint.h"

namespace skinmtl {

namespace {

void trunk_to_json(nlohmann::json& j, const ResNetConfig& trunk) {
  j["stride_placement"] = resnet_stride_name(trunk.stride);
  j["bn_eps"] = trunk.bn_eps;
  j["conv_bias"] = trunk.conv_bias;
}

void input_to_json(nlohmann::json& j, const Normalize& n, const std::string& channels) {
  j["input_channels"] = channels;
  j["input_mean"] = {n.mean[0], n.mean[1], n.mean[2]};
  j["input_std"] = {n.std[0], n.std[1], n.std[2]};
  j["input_scale"] = n.scale;
}

}  // namespace

nlohmann::json model_json(const std::string& arch, const ResNetConfig& trunk, const Normalize& normalize,
                          const std::string& channels) {
  nlohmann::json j;
  j["arch"] = arch;
  trunk_to_json(j, trunk);
  input_to_json(j, normalize, channels);
  return j;
}

void trunk_from_json(const nlohmann::json& j, ResNetConfig& trunk) {
  const std::string stride = j.at("stride_placement").get<std::string>();
  SKINMTL_USER_CHECK(stride == "v1" || stride == "v1.5", "stride_placement must be v1 or v1.5, got " << stride);
  trunk.stride = stride == "v1" ? ResNetStride::V1 : ResNetStride::V1_5;
  trunk.bn_eps = j.at("bn_eps").get<double>();
  trunk.conv_bias = j.at("conv_bias").get<bool>();
  trunk.classes = 0;
  require_in_range("bn_eps", trunk.bn_eps, 1e-12, 1);
}

void input_from_json(const nlohmann::json& j, Normalize& n, std::string& channels) {
  channels = j.at("input_channels").get<std::string>();
  SKINMTL_USER_CHECK(channels == "rgb", "only RGB input is supported, got " << channels);
  for (int c = 0; c < 3; ++c) {
    n.mean[c] = j.at("input_mean").at(c).get<float>();
    n.std[c] = j.at("input_std").at(c).get<float>();
  }
  n.scale = j.at("input_scale").get<float>();
  require_sane_normalize(n);
}

void require_model_file(const std::string& path) {
  std::error_code ec;
  const bool exists = std::filesystem::exists(path, ec);
  SKINMTL_USER_CHECK(exists, path << ": cannot open the model file: no such file");
  SKINMTL_USER_CHECK(std::filesystem::is_regular_file(path, ec), path << ": cannot open the model file: not a regular file");
  SKINMTL_USER_CHECK(std::ifstream(path, std::ios::binary).good(), path << ": cannot open the model file: not readable");
}

TensorFile read_model_file(const std::string& path, const std::string& key, const std::string& command,
                           std::string* json_text) {
  TensorFile f = load_safetensors(path);
  *json_text = f.meta(key);
  SKINMTL_USER_CHECK(!json_text->empty(),
                     path << ": no " << key << " in its metadata: not a model written by `skinmtl " << command << "`");
  return f;
}

void load_model_state(Module& net, const TensorFile& file, const std::string& path) {
  LoadStateOptions lo;
  lo.ignore_prefixes = {kMomentumPrefix};
  load_module_state(net, file, path, lo);
}

}  // namespace skinmtl
