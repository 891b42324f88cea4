// io/resnet50_import.cpp: Keras / torchvision ResNet-50 weights into the
// project's checkpoint layout (names, layouts and metadata in
// io/resnet50_import.h).
#include "io/resnet50_import.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

namespace skinmtl {

namespace {

using json = nlohmann::json;

// A number as short as it can be while reading back the same double
// (nlohmann prints doubles that way): 0.001 -> "0.001", 123.68 -> "123.68".
std::string num_str(double v) { return json(v).dump(); }

std::string array_str(const double v[3]) { return json({v[0], v[1], v[2]}).dump(); }

const char* const kBnKeras[4] = {"gamma", "beta", "moving_mean", "moving_variance"};
const char* const kBnTorch[4] = {"weight", "bias", "running_mean", "running_var"};

// (R, S, C, K) -> (K, C, R, S): out[k][c][r][s] = in[r][s][c][k]. With
// reverse_c, out[k][c][r][s] = in[r][s][C-1-c][k] (the BGR -> RGB fold).
Tensor hwio_to_kcrs(const Tensor& in, bool reverse_c) {
  const int64_t R = in.size(0), S = in.size(1), C = in.size(2), K = in.size(3);
  Tensor out = Tensor::empty({K, C, R, S}, DType::F32);
  const float* src = in.data<float>();
  float* dst = out.data<float>();
  for (int64_t k = 0; k < K; ++k)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t r = 0; r < R; ++r)
        for (int64_t s = 0; s < S; ++s) {
          const int64_t cs = reverse_c ? C - 1 - c : c;
          dst[((k * C + c) * R + r) * S + s] = src[((r * S + s) * C + cs) * K + k];
        }
  return out;
}

// (in, out) -> (out, in).
Tensor transpose2d(const Tensor& in) {
  const int64_t I = in.size(0), O = in.size(1);
  Tensor out = Tensor::empty({O, I}, DType::F32);
  const float* src = in.data<float>();
  float* dst = out.data<float>();
  for (int64_t o = 0; o < O; ++o)
    for (int64_t i = 0; i < I; ++i) dst[o * I + i] = src[i * O + o];
  return out;
}

}  // namespace

// ---- the architecture ------------------------------------------------------------------------

std::vector<Resnet50Conv> resnet50_convs(const Resnet50Dims& dims) {
  SKINMTL_CHECK(dims.width > 0 && dims.num_classes >= 0 && dims.in_channels > 0,
                "resnet50: width and in_channels must be positive, num_classes >= 0");
  std::vector<Resnet50Conv> v;
  const int w0 = dims.width;
  v.push_back({"conv1", "bn1", "conv1", "bn_conv1", w0, dims.in_channels, 7, 2, 2, 3});
  const int blocks[4] = {3, 4, 6, 3};
  int in = w0;  // channels entering layer1 (after the max pool)
  for (int l = 1; l <= 4; ++l) {
    const int w = w0 << (l - 1), out = 4 * w;
    for (int i = 0; i < blocks[l - 1]; ++i) {
      const std::string tv = "layer" + std::to_string(l) + "." + std::to_string(i) + ".";
      // Keras: stage l + 1 (res2..res5), block 'a', 'b', ...
      const std::string kr = std::to_string(l + 1) + std::string(1, char('a' + i));
      // Only the first block of layer2..4 downsamples.
      const int s = (i == 0 && l > 1) ? 2 : 1;
      const int cin = i == 0 ? in : out;
      //        torchvision conv, bn; Keras conv, bn;  K, C, kernel, stride v1, v1.5, pad
      v.push_back({tv + "conv1", tv + "bn1", "res" + kr + "_branch2a", "bn" + kr + "_branch2a",
                   w, cin, 1, s, 1, 0});
      v.push_back({tv + "conv2", tv + "bn2", "res" + kr + "_branch2b", "bn" + kr + "_branch2b",
                   w, w, 3, 1, s, 1});
      v.push_back({tv + "conv3", tv + "bn3", "res" + kr + "_branch2c", "bn" + kr + "_branch2c",
                   out, w, 1, 1, 1, 0});
      if (i == 0)  // the projection shortcut: channels (and, in layer2..4, the size) change
        v.push_back({tv + "downsample.0", tv + "downsample.1", "res" + kr + "_branch1",
                     "bn" + kr + "_branch1", out, cin, 1, s, s, 0});
    }
    in = out;
  }
  return v;
}

std::vector<std::pair<std::string, Shape>> resnet50_tensor_shapes(bool conv_bias,
                                                                  const Resnet50Dims& dims) {
  std::vector<std::pair<std::string, Shape>> v;
  for (const Resnet50Conv& c : resnet50_convs(dims)) {
    const int64_t K = c.out_channels;
    v.push_back({c.conv + ".weight", {K, c.in_channels, c.kernel, c.kernel}});
    if (conv_bias) v.push_back({c.conv + ".bias", {K}});
    for (const char* p : kBnTorch) v.push_back({c.bn + "." + p, {K}});
  }
  const int64_t features = 32 * (int64_t)dims.width;  // 4 * (width << 3) = 2048
  if (dims.num_classes > 0) {  // 0: a headless trunk, no classifier
    v.push_back({"fc.weight", {dims.num_classes, features}});
    v.push_back({"fc.bias", {dims.num_classes}});
  }
  return v;
}

// ---- Keras ---------------------------------------------------------------------------------------

TensorFile import_keras_resnet50(const std::map<std::string, Tensor>& keras,
                                 const KerasImportOptions& opt) {
  const Resnet50Dims& d = opt.dims;
  const std::vector<Resnet50Conv> convs = resnet50_convs(d);
  SKINMTL_CHECK(opt.classes.empty() || (int)opt.classes.size() == d.num_classes,
                "keras resnet50 import: " << opt.classes.size() << " class names for "
                                          << d.num_classes << " classes");

  // The Keras names and shapes expected, checked before anything is converted.
  std::map<std::string, Shape> expected;
  for (const Resnet50Conv& c : convs) {
    expected[c.keras_conv + "/kernel"] = {c.kernel, c.kernel, c.in_channels, c.out_channels};
    expected[c.keras_conv + "/bias"] = {c.out_channels};
    for (const char* p : kBnKeras) expected[c.keras_bn + "/" + p] = {c.out_channels};
  }
  expected["fc1000/kernel"] = {32 * (int64_t)d.width, d.num_classes};
  expected["fc1000/bias"] = {d.num_classes};
  for (const auto& [name, shape] : expected) {
    auto it = keras.find(name);
    SKINMTL_CHECK(it != keras.end(), "keras resnet50 import: missing weight '"
                                         << name << "' " << shape_str(shape) << " (have "
                                         << keras.size() << " of " << expected.size() << ")");
    SKINMTL_CHECK(it->second.defined() && it->second.shape() == shape,
                  "keras resnet50 import: weight '" << name << "' should be " << shape_str(shape)
                                                    << ", got " << it->second.str());
  }
  for (const auto& [name, t] : keras)
    SKINMTL_CHECK(expected.count(name),
                  "keras resnet50 import: unexpected weight '" << name << "' " << t.str()
                                                               << " (not part of a Keras ResNet50)");

  // Host float32 copies of the inputs.
  auto get = [&](const std::string& name) {
    return keras.at(name).to(Device::CPU).to(DType::F32);
  };

  TensorFile out;
  for (const Resnet50Conv& c : convs) {
    const bool fold = opt.fold_rgb && c.conv == "conv1";
    out.tensors[c.conv + ".weight"] = hwio_to_kcrs(get(c.keras_conv + "/kernel"), fold);
    out.tensors[c.conv + ".bias"] = get(c.keras_conv + "/bias").clone();
    for (int i = 0; i < 4; ++i)
      out.tensors[c.bn + "." + kBnTorch[i]] = get(c.keras_bn + "/" + kBnKeras[i]).clone();
  }
  out.tensors["fc.weight"] = transpose2d(get("fc1000/kernel"));
  out.tensors["fc.bias"] = get("fc1000/bias").clone();

  auto& m = out.metadata;
  m["arch"] = "resnet50";
  m["stride_placement"] = "v1";
  m["bn_eps"] = num_str(opt.bn_eps);
  m["conv_bias"] = "true";
  m["num_classes"] = std::to_string(d.num_classes);
  // Caffe's means, B, G, R; reversed along with conv1's channels when folded.
  const double bgr[3] = {103.939, 116.779, 123.68}, rgb[3] = {123.68, 116.779, 103.939};
  const double ones[3] = {1, 1, 1};
  m["input_channels"] = opt.fold_rgb ? "rgb" : "bgr";
  m["input_range"] = "0-255";
  m["input_mean"] = array_str(opt.fold_rgb ? rgb : bgr);
  m["input_std"] = array_str(ones);
  // Bytes that are not UTF-8 (a Latin-1 label file) become U+FFFD rather than
  // failing the whole import.
  if (!opt.classes.empty())
    m["classes"] = json(opt.classes).dump(-1, ' ', false, json::error_handler_t::replace);
  if (!opt.source.empty()) m["source"] = opt.source;
  return out;
}

TensorFile import_tfjs_resnet50(const TfjsModel& model, KerasImportOptions opt) {
  const std::string where = "TF.js resnet50 import: ";
  SKINMTL_CHECK(!model.layers.empty(), where << "the model has no layer configs (modelTopology)");
  double eps = -1;
  for (const Resnet50Conv& c : resnet50_convs(opt.dims)) {
    auto ci = model.conv2d.find(c.keras_conv);
    SKINMTL_CHECK(ci != model.conv2d.end(), where << "no Conv2D layer '" << c.keras_conv << "'");
    const TfjsConv2D& k = ci->second;
    SKINMTL_CHECK(k.filters == c.out_channels && k.kernel_size[0] == c.kernel &&
                      k.kernel_size[1] == c.kernel,
                  where << "layer '" << c.keras_conv << "' should have " << c.out_channels
                        << " filters of " << c.kernel << "x" << c.kernel << ", has " << k.filters
                        << " of " << k.kernel_size[0] << "x" << k.kernel_size[1]);
    SKINMTL_CHECK(k.strides[0] == c.stride_v1 && k.strides[1] == c.stride_v1,
                  where << "layer '" << c.keras_conv << "' has strides (" << k.strides[0] << ", "
                        << k.strides[1] << "), the v1 stride placement this importer assumes "
                        << "has " << c.stride_v1);
    SKINMTL_CHECK(k.dilation_rate[0] == 1 && k.dilation_rate[1] == 1,
                  where << "layer '" << c.keras_conv << "' is dilated");
    SKINMTL_CHECK(k.use_bias, where << "layer '" << c.keras_conv << "' has no bias");
    // conv1 is "valid" after an explicit 3-pixel ZeroPadding2D; a 3x3 at
    // stride 1 must be "same" (pad 1); for a 1x1 both mean no padding.
    const bool pad_ok = c.kernel == 1 ? true : c.kernel == 3 ? k.padding == "same"
                                                             : k.padding == "valid";
    SKINMTL_CHECK(pad_ok, where << "layer '" << c.keras_conv << "' has padding '" << k.padding
                                << "'");
    auto bi = model.batch_norm.find(c.keras_bn);
    SKINMTL_CHECK(bi != model.batch_norm.end(),
                  where << "no BatchNormalization layer '" << c.keras_bn << "'");
    SKINMTL_CHECK(bi->second.center && bi->second.scale,
                  where << "layer '" << c.keras_bn << "' lacks its beta or gamma");
    SKINMTL_CHECK(eps < 0 || bi->second.epsilon == eps,
                  where << "BatchNorm epsilons differ (" << eps << " and " << bi->second.epsilon
                        << " in '" << c.keras_bn << "'); one value per network is supported");
    eps = bi->second.epsilon;
  }
  auto fc = model.dense.find("fc1000");
  SKINMTL_CHECK(fc != model.dense.end(), where << "no Dense layer 'fc1000'");
  SKINMTL_CHECK(fc->second.units == opt.dims.num_classes && fc->second.use_bias,
                where << "fc1000 has " << fc->second.units << " units, expected "
                      << opt.dims.num_classes << " with a bias");
  opt.bn_eps = eps;
  if (opt.source.empty()) {
    opt.source = "Keras ResNet50";
    if (!model.generated_by.empty()) opt.source += " (" + model.generated_by + ")";
    if (!model.converted_by.empty()) opt.source += " via " + model.converted_by;
  }
  return import_keras_resnet50(model.weights, opt);
}

// ---- torchvision layout --------------------------------------------------------------------------

void check_resnet50_tensors(const TensorFile& file, const std::string& what) {
  const std::string where = "resnet50 weights '" + what + "': ";
  SKINMTL_CHECK(file.has("conv1.weight") && file.at("conv1.weight").ndim() == 4,
                where << "no 4-d conv1.weight: not a torchvision-layout ResNet");
  // A file without fc.weight and fc.bias is a headless trunk (convert_weights
  // --drop-prefix fc.): it can start a new model, not classify ImageNet.
  const bool headless = !file.has("fc.weight") && !file.has("fc.bias");
  SKINMTL_CHECK(headless || (file.has("fc.weight") && file.at("fc.weight").ndim() == 2),
                where << "no 2-d fc.weight: not a torchvision-layout ResNet");
  Resnet50Dims dims;
  dims.width = (int)file.at("conv1.weight").size(0);
  dims.in_channels = (int)file.at("conv1.weight").size(1);
  dims.num_classes = headless ? 0 : (int)file.at("fc.weight").size(0);
  const bool conv_bias = file.has("conv1.bias");
  std::set<std::string> known;
  for (const auto& [name, shape] : resnet50_tensor_shapes(conv_bias, dims)) {
    known.insert(name);
    SKINMTL_CHECK(file.has(name), where << "missing tensor '" << name << "' " << shape_str(shape)
                                        << (conv_bias ? " (conv1.bias is present, so every conv "
                                                        "needs its bias)"
                                                      : ""));
    const Tensor& t = file.at(name);
    SKINMTL_CHECK(t.shape() == shape, where << "tensor '" << name << "' should be "
                                            << shape_str(shape) << ", got " << t.str());
    SKINMTL_CHECK(t.dtype() == DType::F32, where << "tensor '" << name << "' is " << t.str()
                                                 << "; ResNet-50 weights are float32");
  }
  for (const auto& [name, t] : file.tensors)
    SKINMTL_CHECK(known.count(name),
                  where << "unexpected tensor '" << name << "' " << t.str()
                        << (conv_bias ? "" : " (conv biases must be all present or all absent)")
                        << ": not part of a torchvision ResNet-50");
}

TensorFile load_torchvision_resnet50(const std::string& path) {
  SafetensorsLoadOptions lo;
  lo.skip_unsupported = true;
  TensorFile f = load_safetensors(path, lo);
  const std::string where = "resnet50 weights '" + path + "': ";
  const std::string nbt = "num_batches_tracked";
  for (const std::string& s : f.skipped)
    SKINMTL_CHECK(s.size() >= nbt.size() && s.compare(s.size() - nbt.size(), nbt.size(), nbt) == 0,
                  where << "tensor '" << s << "' has an integer or 8-bit dtype skinmtl cannot hold");
  for (auto& [name, t] : f.tensors)
    if (t.dtype() == DType::F64) t = t.to(DType::F32);
  check_resnet50_tensors(f, path);

  // What the tensors themselves say.
  const bool conv_bias = f.has("conv1.bias");
  const std::string classes = f.has("fc.weight") ? std::to_string(f.at("fc.weight").size(0)) : "0";
  auto& m = f.metadata;
  SKINMTL_CHECK(!m.count("conv_bias") || m["conv_bias"] == (conv_bias ? "true" : "false"),
                where << "metadata says conv_bias=" << m["conv_bias"] << " but conv1.bias is "
                      << (conv_bias ? "present" : "absent"));
  SKINMTL_CHECK(!m.count("num_classes") || m["num_classes"] == classes,
                where << "metadata says num_classes=" << m["num_classes"] << " but fc.weight is "
                      << (f.has("fc.weight") ? f.at("fc.weight").str() : std::string("absent")));
  m["conv_bias"] = conv_bias ? "true" : "false";
  m["num_classes"] = classes;
  // torchvision's conventions where the file does not say otherwise.
  const double tv_mean[3] = {123.675, 116.28, 103.53}, tv_std[3] = {58.395, 57.12, 57.375};
  m.emplace("arch", "resnet50");
  m.emplace("stride_placement", "v1.5");
  m.emplace("bn_eps", "1e-05");
  m.emplace("input_channels", "rgb");
  m.emplace("input_range", "0-255");
  m.emplace("input_mean", array_str(tv_mean));
  m.emplace("input_std", array_str(tv_std));
  resnet50_info(f);  // the metadata must parse
  return f;
}

Resnet50Info resnet50_info(const TensorFile& file) {
  Resnet50Info info;
  auto get = [&](const char* key) {
    SKINMTL_CHECK(file.metadata.count(key), "resnet50 metadata: no '" << key << "' key");
    return file.metadata.at(key);
  };
  auto parse = [&](const char* key) {
    try {
      return json::parse(get(key));
    } catch (const json::exception&) {
      SKINMTL_FAIL("resnet50 metadata: '" << key << "' = '" << get(key) << "' is not valid JSON");
    }
  };
  auto triple = [&](const char* key, double out[3]) {
    json v = parse(key);
    SKINMTL_CHECK(v.is_array() && v.size() == 3 && v[0].is_number() && v[1].is_number() &&
                      v[2].is_number(),
                  "resnet50 metadata: '" << key << "' must be an array of 3 numbers, got "
                                         << v.dump());
    for (int i = 0; i < 3; ++i) out[i] = v[i].get<double>();
  };
  info.stride_placement = get("stride_placement");
  SKINMTL_CHECK(info.stride_placement == "v1" || info.stride_placement == "v1.5",
                "resnet50 metadata: stride_placement must be v1 or v1.5, got '"
                    << info.stride_placement << "'");
  json eps = parse("bn_eps");
  SKINMTL_CHECK(eps.is_number() && eps.get<double>() > 0,
                "resnet50 metadata: bn_eps must be a positive number, got " << eps.dump());
  info.bn_eps = eps.get<double>();
  const std::string cb = get("conv_bias");
  SKINMTL_CHECK(cb == "true" || cb == "false",
                "resnet50 metadata: conv_bias must be true or false, got '" << cb << "'");
  info.conv_bias = cb == "true";
  json nc = parse("num_classes");
  SKINMTL_CHECK(nc.is_number_integer() && nc.get<int>() >= 0,
                "resnet50 metadata: num_classes must be an integer >= 0 (0: no fc layer), got "
                    << nc.dump());
  info.num_classes = nc.get<int>();
  info.input_channels = get("input_channels");
  SKINMTL_CHECK(info.input_channels == "rgb" || info.input_channels == "bgr",
                "resnet50 metadata: input_channels must be rgb or bgr, got '"
                    << info.input_channels << "'");
  SKINMTL_CHECK(get("input_range") == "0-255",
                "resnet50 metadata: input_range '" << get("input_range")
                                                   << "' is not supported (only 0-255)");
  triple("input_mean", info.input_mean);
  triple("input_std", info.input_std);
  for (double s : info.input_std)
    SKINMTL_CHECK(s > 0, "resnet50 metadata: input_std values must be positive");
  if (file.metadata.count("classes")) {
    json c = parse("classes");
    SKINMTL_CHECK(c.is_array() && (int)c.size() == info.num_classes,
                  "resnet50 metadata: 'classes' must be an array of " << info.num_classes
                                                                       << " names");
    for (const json& s : c) {
      SKINMTL_CHECK(s.is_string(), "resnet50 metadata: class names must be strings");
      info.classes.push_back(s.get<std::string>());
    }
  }
  return info;
}

// ---- class names ---------------------------------------------------------------------------------

std::vector<std::string> load_class_names_json(const std::string& path) {
  const std::string where = "class names '" + path + "': ";
  std::ifstream in(path);
  SKINMTL_CHECK(in, where << "cannot open");
  json doc;
  try {
    doc = json::parse(in);
  } catch (const json::exception& e) {
    SKINMTL_FAIL(where << "not valid JSON: " << e.what());
  }
  // The name in one entry: a string, or Keras's [wordnet id, name].
  auto name_of = [&](const json& v, const std::string& key) {
    if (v.is_string()) return v.get<std::string>();
    SKINMTL_CHECK(v.is_array() && v.size() == 2 && v[1].is_string(),
                  where << "entry " << key << " is neither a name nor [id, name]: " << v.dump());
    return v[1].get<std::string>();
  };
  std::vector<std::string> names;
  if (doc.is_array()) {
    for (size_t i = 0; i < doc.size(); ++i) names.push_back(name_of(doc[i], std::to_string(i)));
  } else {
    SKINMTL_CHECK(doc.is_object(), where << "must be an array or an object");
    names.resize(doc.size());
    std::vector<bool> seen(doc.size(), false);
    for (const auto& [key, v] : doc.items()) {
      // The key must be a decimal index below the number of entries.
      size_t idx = 0;
      bool ok = !key.empty() && key.size() < 10;
      for (char ch : key) {
        ok = ok && ch >= '0' && ch <= '9';
        if (ok) idx = idx * 10 + (size_t)(ch - '0');
      }
      SKINMTL_CHECK(ok && idx < doc.size() && !seen[idx],
                    where << "key '" << key << "' is not one of 0.." << doc.size() - 1);
      seen[idx] = true;
      names[idx] = name_of(v, key);
    }
  }
  SKINMTL_CHECK(!names.empty(), where << "no class names");
  return names;
}

}  // namespace skinmtl
