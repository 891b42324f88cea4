// app/model_file.h: what the three models' files share.
//
// A model file (model.safetensors, or a training checkpoint, which holds the
// optimizer's momentum too) is a safetensors file: the network's state and,
// in its metadata, one JSON object that rebuilds the network ("mtl_config",
// "segcls_config", "detseg_config"; app/mtl_model.h, app/segcls_model.h,
// app/detseg_model.h). Each of those objects carries the ResNet-50's variant
// and the input convention under the same names:
//
//   "stride_placement"  "v1" | "v1.5"     where the stride-2 convolution sits in
//   "bn_eps"            1e-5 | 1e-3 ...    a bottleneck, BatchNorm's epsilon and
//   "conv_bias"         true | false       whether convolutions have a bias: what
//                                          the converted ImageNet weights had
//   "input_channels"    "rgb"
//   "input_mean"        [3]               pixel * scale - mean, / std (io/image.h)
//   "input_std"         [3]
//   "input_scale"       number
//
// A model file is input like any other (a download, a truncated copy, a hand
// edit): every value read back is checked (app/model_limits.h), and any
// problem is an error that names the file and the metadata key.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "framework/module.h"
#include "framework/random.h"
#include "io/image.h"
#include "io/safetensors.h"
#include "nets/resnet50.h"

namespace skinmtl {

// A model's JSON begun: {"arch": arch} with the trunk and input fields; the
// model adds its own.
nlohmann::json model_json(const std::string& arch, const ResNetConfig& trunk, const Normalize& normalize,
                          const std::string& channels);
// Reads and checks the three trunk fields into `trunk` (classes set to 0:
// the models use the trunk without its ImageNet classifier).
void trunk_from_json(const nlohmann::json& j, ResNetConfig& trunk);
void input_from_json(const nlohmann::json& j, Normalize& normalize, std::string& channels);

// Parses the metadata JSON `text`, checks that its "arch" is `arch` ("not
// <kind> (arch '...')" otherwise), and hands it to `read` (a function of a
// const json&), turning any error of the parse or the checks into one that
// names `what` (the file) and `key`:
// "runs/x/model.safetensors: bad segcls_config metadata: ...".
template <class Read>
void read_model_json(const std::string& text, const std::string& what, const std::string& key,
                     const std::string& arch, const std::string& kind, Read read) {
  try {
    const nlohmann::json j = nlohmann::json::parse(text);
    const std::string got = j.value("arch", "");
    SKINMTL_USER_CHECK(got == arch, "not " << kind << " (arch '" << got << "')");
    read(j);
  } catch (const nlohmann::json::exception& e) {
    SKINMTL_USER_FAIL(what << ": bad " << key << " metadata: " << e.what());
  } catch (const Error& e) {
    SKINMTL_USER_FAIL(what << ": bad " << key << " metadata: " << e.what());
  }
}

// Before any long work (reading, checking or generating a data set): the
// model file at `path` is a regular file this process can open, or a user
// error naming it. The full read (read_model_file) checks the rest later.
void require_model_file(const std::string& path);

// The model file at `path` and its `key` JSON; an error when it has none
// ("... not a model written by `skinmtl <command>`").
TensorFile read_model_file(const std::string& path, const std::string& key, const std::string& command,
                           std::string* json_text);
// The network's state from a model file or a training checkpoint (whose
// optimizer momentum is not part of the model).
void load_model_state(Module& net, const TensorFile& file, const std::string& path);

// A trained model from its file: `Model` holds `spec` (with the network's
// `config`) and `net` (a unique_ptr); `spec_from_json(text, path)` reads the
// `key` JSON. The network is built from the spec, then every weight is read
// from the file (so the seed of its initialisation does not matter).
//   MtlModel m = load_model<MtlModel>(path, "mtl_config", "train mtl", spec_from_json);
template <class Model, class SpecFromJson>
Model load_model(const std::string& path, const std::string& key, const std::string& command,
                 SpecFromJson spec_from_json) {
  std::string text;
  const TensorFile f = read_model_file(path, key, command, &text);
  Model m;
  m.spec = spec_from_json(text, path);
  Rng rng(0);
  {
    SkipRandomInitGuard no_init;  // the load below overwrites every tensor (or refuses)
    m.net = std::make_unique<typename decltype(m.net)::element_type>(m.spec.config, rng);
  }
  load_model_state(*m.net, f, path);
  return m;
}

}  // namespace skinmtl
