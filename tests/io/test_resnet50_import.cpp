// io/resnet50_import: the ResNet-50 parameter list, the Keras -> torchvision
// name mapping and layout transposes (on a narrow ResNet-50 of the very same
// structure whose every weight element encodes where it came from), the RGB
// fold, the topology checks of the TF.js path, loading torchvision-layout
// files, class-name files, and, when it has been fetched, the real converted
// checkpoint.
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "io/resnet50_import.h"
#include "nets/resnet50_weights.h"
#include "tests/temp_dir.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

using test::TempDir;
using test::write_file;

// A narrow ResNet-50: widths 2, 4, 8, 16 (bottleneck) and 8..64 (out), 5 classes.
Resnet50Dims tiny_dims() {
  Resnet50Dims d;
  d.width = 2;
  d.num_classes = 5;
  return d;
}

// ---- the architecture ------------------------------------------------------------------------

TEST(Resnet50Arch, ConvList) {
  const std::vector<Resnet50Conv> convs = resnet50_convs();
  ASSERT_EQ(convs.size(), 53u);
  int downsample = 0;
  for (const Resnet50Conv& c : convs) downsample += c.conv.find("downsample") != std::string::npos;
  EXPECT_EQ(downsample, 4);
  EXPECT_EQ(convs[0].conv, "conv1");
  EXPECT_EQ(convs[0].keras_bn, "bn_conv1");
  EXPECT_EQ(convs[0].stride_v1, 2);
  EXPECT_EQ(convs[0].padding, 3);
  EXPECT_EQ(convs.back().conv, "layer4.2.conv3");
  EXPECT_EQ(convs.back().keras_conv, "res5c_branch2c");
  // Strides: v1 on the first 1x1 of layer2..4's first block, v1.5 on its 3x3;
  // the projection strides in both; layer1 never downsamples.
  auto find = [&](const std::string& name) {
    for (const Resnet50Conv& c : convs)
      if (c.conv == name) return c;
    ADD_FAILURE() << "no conv " << name;
    return convs[0];
  };
  for (const char* l : {"layer2", "layer3", "layer4"}) {
    const std::string p = std::string(l) + ".0.";
    EXPECT_EQ(find(p + "conv1").stride_v1, 2) << p;
    EXPECT_EQ(find(p + "conv1").stride_v1_5, 1) << p;
    EXPECT_EQ(find(p + "conv2").stride_v1, 1) << p;
    EXPECT_EQ(find(p + "conv2").stride_v1_5, 2) << p;
    EXPECT_EQ(find(p + "downsample.0").stride_v1, 2) << p;
    EXPECT_EQ(find(p + "downsample.0").stride_v1_5, 2) << p;
    EXPECT_EQ(find(p + "conv2").padding, 1) << p;
  }
  EXPECT_EQ(find("layer1.0.downsample.0").stride_v1, 1);
  EXPECT_EQ(find("layer1.0.downsample.0").keras_conv, "res2a_branch1");
  EXPECT_EQ(find("layer3.5.conv2").keras_bn, "bn4f_branch2b");
  const Resnet50Conv l30 = find("layer3.0.conv1");
  EXPECT_EQ(l30.in_channels, 512);
  EXPECT_EQ(l30.out_channels, 256);
}

TEST(Resnet50Arch, TensorShapesAndParameterCounts) {
  const auto plain = resnet50_tensor_shapes(false), biased = resnet50_tensor_shapes(true);
  EXPECT_EQ(plain.size(), 267u);   // 53 convs + 53 * 4 BN tensors + fc weight and bias
  EXPECT_EQ(biased.size(), 320u);  // as many as the Keras model has
  auto count = [](const std::vector<std::pair<std::string, Shape>>& v) {
    int64_t n = 0;
    for (const auto& [name, shape] : v) n += shape_numel(shape);
    return n;
  };
  // torchvision's 25,557,032 parameters plus the BN running statistics
  // (2 * 26,560); with conv biases (26,560 more), Keras's 25,636,712.
  EXPECT_EQ(count(plain), 25'557'032 + 2 * 26'560);
  EXPECT_EQ(count(biased), 25'636'712);
  std::map<std::string, Shape> m(plain.begin(), plain.end());
  EXPECT_EQ(m.at("conv1.weight"), (Shape{64, 3, 7, 7}));
  EXPECT_EQ(m.at("layer1.0.downsample.0.weight"), (Shape{256, 64, 1, 1}));
  EXPECT_EQ(m.at("layer2.3.conv2.weight"), (Shape{128, 128, 3, 3}));
  EXPECT_EQ(m.at("layer4.0.downsample.1.running_var"), (Shape{2048}));
  EXPECT_EQ(m.at("layer4.2.conv3.weight"), (Shape{2048, 512, 1, 1}));
  EXPECT_EQ(m.at("fc.weight"), (Shape{1000, 2048}));
  EXPECT_EQ(plain.back().first, "fc.bias");
}

// ---- a synthetic Keras ResNet-50 --------------------------------------------------------------

// Every Keras tensor of a ResNet-50 of `dims`, each element holding
// base + its flat index, with a base distinct per tensor (bases[name]). All
// values stay below 2^24, so float32 holds them exactly.
std::map<std::string, Tensor> make_keras(const Resnet50Dims& dims,
                                         std::map<std::string, int>* bases = nullptr) {
  std::map<std::string, Tensor> w;
  int base = 0;
  auto add = [&](const std::string& name, const Shape& shape) {
    std::vector<double> v((size_t)shape_numel(shape));
    for (size_t i = 0; i < v.size(); ++i) v[i] = base + (double)i;
    w[name] = Tensor::from_vector(v, shape);
    if (bases) (*bases)[name] = base;
    base += 10000;
  };
  for (const Resnet50Conv& c : resnet50_convs(dims)) {
    add(c.keras_conv + "/kernel", {c.kernel, c.kernel, c.in_channels, c.out_channels});
    add(c.keras_conv + "/bias", {c.out_channels});
    for (const char* p : {"gamma", "beta", "moving_mean", "moving_variance"})
      add(c.keras_bn + "/" + p, {c.out_channels});
  }
  add("fc1000/kernel", {32 * (int64_t)dims.width, dims.num_classes});
  add("fc1000/bias", {dims.num_classes});
  return w;
}

// Checks every converted tensor against the Keras element it must come from.
void expect_mapped(const TensorFile& f, const Resnet50Dims& dims,
                   const std::map<std::string, int>& bases, bool fold_rgb) {
  EXPECT_EQ(f.tensors.size(), resnet50_tensor_shapes(true, dims).size());
  for (const Resnet50Conv& c : resnet50_convs(dims)) {
    SCOPED_TRACE(c.conv);
    const Tensor& w = f.at(c.conv + ".weight");
    const int64_t K = c.out_channels, C = c.in_channels, R = c.kernel, S = c.kernel;
    ASSERT_EQ(w.shape(), (Shape{K, C, R, S}));
    const float* p = w.data<float>();
    const int base = bases.at(c.keras_conv + "/kernel");
    const bool reversed = fold_rgb && c.conv == "conv1";
    int64_t bad = 0;
    for (int64_t k = 0; k < K; ++k)
      for (int64_t ch = 0; ch < C; ++ch)
        for (int64_t r = 0; r < R; ++r)
          for (int64_t s = 0; s < S; ++s) {
            const int64_t kc = reversed ? C - 1 - ch : ch;  // Keras's channel
            const double want = base + (double)(((r * S + s) * C + kc) * K + k);  // HWIO index
            bad += p[((k * C + ch) * R + r) * S + s] != want;
          }
    EXPECT_EQ(bad, 0) << "elements of " << c.conv << ".weight in the wrong place";
    EXPECT_EQ(f.at(c.conv + ".bias").to_vector()[0], bases.at(c.keras_conv + "/bias"));
    const char* tv[4] = {"weight", "bias", "running_mean", "running_var"};
    const char* ks[4] = {"gamma", "beta", "moving_mean", "moving_variance"};
    for (int i = 0; i < 4; ++i) {
      const std::vector<double> v = f.at(c.bn + "." + tv[i]).to_vector();
      ASSERT_EQ((int64_t)v.size(), K);
      const int b = bases.at(c.keras_bn + "/" + ks[i]);
      for (int64_t k = 0; k < K; ++k) EXPECT_EQ(v[k], b + k) << c.bn << "." << tv[i];
    }
  }
  const Tensor& fc = f.at("fc.weight");
  const int64_t O = dims.num_classes, I = 32 * (int64_t)dims.width;
  ASSERT_EQ(fc.shape(), (Shape{O, I}));
  const int b = bases.at("fc1000/kernel");
  const std::vector<double> v = fc.to_vector();
  for (int64_t o = 0; o < O; ++o)
    for (int64_t i = 0; i < I; ++i) ASSERT_EQ(v[o * I + i], b + (double)(i * O + o)) << o << "," << i;
  EXPECT_EQ(f.at("fc.bias").to_vector()[0], bases.at("fc1000/bias"));
}

TEST(KerasResnet50Import, MapsNamesAndTransposesEveryTensor) {
  const Resnet50Dims dims = tiny_dims();
  std::map<std::string, int> bases;
  const auto keras = make_keras(dims, &bases);
  KerasImportOptions opt;
  opt.dims = dims;
  opt.fold_rgb = false;
  TensorFile f = import_keras_resnet50(keras, opt);
  expect_mapped(f, dims, bases, /*fold_rgb=*/false);
  EXPECT_EQ(f.meta("input_channels"), "bgr");
  const Resnet50Info info = resnet50_info(f);
  EXPECT_EQ(info.input_mean[0], 103.939);  // B, G, R: Caffe's order
  EXPECT_EQ(info.input_mean[2], 123.68);
}

TEST(KerasResnet50Import, FoldsRgbIntoConv1) {
  const Resnet50Dims dims = tiny_dims();
  std::map<std::string, int> bases;
  const auto keras = make_keras(dims, &bases);
  KerasImportOptions opt;
  opt.dims = dims;  // fold_rgb is on by default
  TensorFile f = import_keras_resnet50(keras, opt);
  expect_mapped(f, dims, bases, /*fold_rgb=*/true);

  // What the fold means: conv1 (at one output position) computes the same on
  // an RGB image with the folded weights as Keras on the BGR image.
  Rng rng(5);
  Tensor img = test::uniform64({3, 7, 7}, rng, -100, 100);  // (c, r, s), RGB
  const std::vector<double> x = img.to_vector(), wk = keras.at("conv1/kernel").to_vector(),
                            wt = f.at("conv1.weight").to_vector();
  const int K = dims.width;
  for (int k = 0; k < K; ++k) {
    double keras_y = 0, ours_y = 0;
    for (int c = 0; c < 3; ++c)
      for (int r = 0; r < 7; ++r)
        for (int s = 0; s < 7; ++s) {
          const double rgb = x[(c * 7 + r) * 7 + s];
          // Keras sees channel 2 - c of its BGR input holding this RGB value.
          keras_y += wk[((r * 7 + s) * 3 + (2 - c)) * K + k] * rgb;
          ours_y += wt[((k * 3 + c) * 7 + r) * 7 + s] * rgb;
        }
    EXPECT_DOUBLE_EQ(ours_y, keras_y) << "output channel " << k;
  }
}

TEST(KerasResnet50Import, Metadata) {
  KerasImportOptions opt;
  opt.dims = tiny_dims();
  opt.classes = {"a", "b", "c", "d", "e \"quoted\""};
  opt.source = "unit test";
  TensorFile f = import_keras_resnet50(make_keras(opt.dims), opt);
  EXPECT_EQ(f.meta("arch"), "resnet50");
  EXPECT_EQ(f.meta("stride_placement"), "v1");
  EXPECT_EQ(f.meta("bn_eps"), "0.001");
  EXPECT_EQ(f.meta("conv_bias"), "true");
  EXPECT_EQ(f.meta("num_classes"), "5");
  EXPECT_EQ(f.meta("input_channels"), "rgb");
  EXPECT_EQ(f.meta("input_range"), "0-255");
  EXPECT_EQ(f.meta("input_mean"), "[123.68,116.779,103.939]");
  EXPECT_EQ(f.meta("source"), "unit test");
  const Resnet50Info info = resnet50_info(f);
  EXPECT_EQ(info.stride_placement, "v1");
  EXPECT_EQ(info.bn_eps, 0.001);
  EXPECT_TRUE(info.conv_bias);
  EXPECT_EQ(info.num_classes, 5);
  EXPECT_EQ(info.input_channels, "rgb");
  EXPECT_EQ(info.input_mean[0], 123.68);
  EXPECT_EQ(info.input_mean[1], 116.779);
  EXPECT_EQ(info.input_mean[2], 103.939);
  for (double s : info.input_std) EXPECT_EQ(s, 1.0);
  EXPECT_EQ(info.classes, opt.classes);

  opt.classes = {"too", "few"};
  EXPECT_ERROR_WITH(import_keras_resnet50(make_keras(opt.dims), opt), "2 class names for 5");

  f.metadata["stride_placement"] = "v2";
  EXPECT_ERROR_WITH(resnet50_info(f), "stride_placement must be v1 or v1.5");
  f.metadata["stride_placement"] = "v1";
  f.metadata["input_mean"] = "[1, 2]";
  EXPECT_ERROR_WITH(resnet50_info(f), "'input_mean' must be an array of 3 numbers");
  f.metadata.erase("bn_eps");
  EXPECT_ERROR_WITH(resnet50_info(f), "no 'bn_eps' key");
}

TEST(KerasResnet50Import, MissingMisshapenOrUnexpectedWeightsAreErrors) {
  KerasImportOptions opt;
  opt.dims = tiny_dims();
  auto keras = make_keras(opt.dims);
  keras.erase("res4c_branch2b/kernel");
  EXPECT_ERROR_WITH(import_keras_resnet50(keras, opt), "missing weight 'res4c_branch2b/kernel'");

  keras = make_keras(opt.dims);
  keras.erase("bn5a_branch1/moving_variance");
  EXPECT_ERROR_WITH(import_keras_resnet50(keras, opt),
                    "missing weight 'bn5a_branch1/moving_variance'");

  keras = make_keras(opt.dims);
  keras["res2a_branch2b/kernel"] = Tensor::zeros({3, 3, 2, 3});  // should be (3, 3, 2, 2)
  EXPECT_ERROR_WITH(import_keras_resnet50(keras, opt), "'res2a_branch2b/kernel' should be");

  keras = make_keras(opt.dims);
  keras["res6a_branch2a/kernel"] = Tensor::zeros({1});
  EXPECT_ERROR_WITH(import_keras_resnet50(keras, opt), "unexpected weight 'res6a_branch2a/kernel'");

  // A full-size model given to a tiny importer: every shape is wrong.
  opt.dims = Resnet50Dims{};
  EXPECT_ERROR_WITH(import_keras_resnet50(make_keras(tiny_dims()), opt), "should be");
}

// ---- the TF.js path's topology checks --------------------------------------------------------------

// A TfjsModel as load_tfjs_layers_model would return for a Keras ResNet-50.
TfjsModel make_tfjs(const Resnet50Dims& dims, double eps = 1e-3) {
  TfjsModel m;
  m.generated_by = "keras test";
  m.weights = make_keras(dims);
  for (const Resnet50Conv& c : resnet50_convs(dims)) {
    TfjsConv2D k;
    k.filters = c.out_channels;
    k.kernel_size[0] = k.kernel_size[1] = c.kernel;
    k.strides[0] = k.strides[1] = c.stride_v1;
    k.padding = c.kernel == 3 ? "same" : "valid";
    m.conv2d[c.keras_conv] = k;
    m.layers.emplace_back(c.keras_conv, "Conv2D");
    TfjsBatchNorm b;
    b.epsilon = eps;
    m.batch_norm[c.keras_bn] = b;
    m.layers.emplace_back(c.keras_bn, "BatchNormalization");
  }
  m.dense["fc1000"] = TfjsDense{dims.num_classes, true, "softmax"};
  m.layers.emplace_back("fc1000", "Dense");
  return m;
}

TEST(TfjsResnet50Import, ChecksTheTopologyAndTakesItsEpsilon) {
  KerasImportOptions opt;
  opt.dims = tiny_dims();
  TensorFile f = import_tfjs_resnet50(make_tfjs(opt.dims, 1e-5), opt);
  EXPECT_EQ(f.meta("bn_eps"), "1e-05");
  EXPECT_EQ(f.meta("source"), "Keras ResNet50 (keras test)");
  EXPECT_EQ(f.tensors.size(), 320u);

  // v1.5 strides are not what this importer converts.
  TfjsModel m = make_tfjs(opt.dims);
  m.conv2d["res3a_branch2a"].strides[0] = m.conv2d["res3a_branch2a"].strides[1] = 1;
  m.conv2d["res3a_branch2b"].strides[0] = m.conv2d["res3a_branch2b"].strides[1] = 2;
  EXPECT_ERROR_WITH(import_tfjs_resnet50(m, opt), "'res3a_branch2a' has strides (1, 1)", "v1");

  m = make_tfjs(opt.dims);
  m.conv2d["res4b_branch2c"].use_bias = false;
  EXPECT_ERROR_WITH(import_tfjs_resnet50(m, opt), "'res4b_branch2c' has no bias");

  m = make_tfjs(opt.dims);
  m.conv2d["res2b_branch2b"].padding = "valid";
  EXPECT_ERROR_WITH(import_tfjs_resnet50(m, opt), "'res2b_branch2b' has padding 'valid'");

  m = make_tfjs(opt.dims);
  m.conv2d.erase("res5c_branch2a");
  EXPECT_ERROR_WITH(import_tfjs_resnet50(m, opt), "no Conv2D layer 'res5c_branch2a'");

  m = make_tfjs(opt.dims);
  m.batch_norm["bn3b_branch2a"].epsilon = 1e-5;
  EXPECT_ERROR_WITH(import_tfjs_resnet50(m, opt), "BatchNorm epsilons differ");

  m = make_tfjs(opt.dims);
  m.dense.clear();
  EXPECT_ERROR_WITH(import_tfjs_resnet50(m, opt), "no Dense layer 'fc1000'");

  m = make_tfjs(opt.dims);
  m.weights.erase("fc1000/bias");
  EXPECT_ERROR_WITH(import_tfjs_resnet50(m, opt), "missing weight 'fc1000/bias'");

  m = TfjsModel{};
  EXPECT_ERROR_WITH(import_tfjs_resnet50(m, opt), "no layer configs");
}

// ---- torchvision-layout checkpoints ---------------------------------------------------------------

TEST(TorchvisionResnet50, LoadsAnImportedCheckpoint) {
  TempDir dir;
  const std::string path = dir.path("r50.safetensors");
  KerasImportOptions opt;
  opt.dims = tiny_dims();
  TensorFile f = import_keras_resnet50(make_keras(opt.dims), opt);
  save_safetensors(path, f);
  TensorFile g = load_torchvision_resnet50(path);
  ASSERT_EQ(g.tensors.size(), f.tensors.size());
  for (const auto& [name, t] : f.tensors) EXPECT_EQ(g.at(name).to_vector(), t.to_vector()) << name;
  const Resnet50Info info = resnet50_info(g);
  EXPECT_EQ(info.stride_placement, "v1");  // the file's own metadata wins
  EXPECT_EQ(info.bn_eps, 1e-3);
  EXPECT_TRUE(info.conv_bias);
  EXPECT_EQ(info.input_channels, "rgb");
  EXPECT_EQ(g.meta("format"), "skinmtl");
}

// The header of a safetensors file, rewritten by `edit`, the data kept; plus
// `extra` bytes appended to the data section.
void rewrite_header(const std::string& path,
                    const std::function<void(nlohmann::json&, uint64_t data_size)>& edit,
                    const std::string& extra = "") {
  const std::string bytes = test::read_file(path);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= (uint64_t)(uint8_t)bytes[i] << (8 * i);
  nlohmann::json h = nlohmann::json::parse(bytes.substr(8, n));
  const std::string data = bytes.substr(8 + n);
  edit(h, data.size());
  const std::string text = h.dump();
  std::string len(8, '\0');
  for (int i = 0; i < 8; ++i) len[i] = (char)((uint64_t)text.size() >> (8 * i));
  write_file(path, len + text + data + extra);
}

// What safetensors.torch.save_file(torchvision_resnet50.state_dict()) makes:
// no conv biases, BatchNorm counters as I64, metadata {"format": "pt"}.
TEST(TorchvisionResnet50, LoadsATorchvisionStyleFile) {
  TempDir dir;
  const std::string path = dir.path("tv.safetensors");
  const Resnet50Dims dims = tiny_dims();
  TensorFile f;
  Rng rng(3);
  for (const auto& [name, shape] : resnet50_tensor_shapes(false, dims))
    f.tensors[name] = test::uniform64(shape, rng).to(DType::F32);
  save_safetensors(path, f);
  int counters = 0;
  rewrite_header(
      path,
      [&](nlohmann::json& h, uint64_t end) {
        h["__metadata__"] = {{"format", "pt"}};
        for (const Resnet50Conv& c : resnet50_convs(dims)) {
          h[c.bn + ".num_batches_tracked"] = {
              {"dtype", "I64"}, {"shape", nlohmann::json::array()}, {"data_offsets", {end, end + 8}}};
          end += 8;
          ++counters;
        }
      },
      std::string(8 * 53, '\0'));
  ASSERT_EQ(counters, 53);

  TensorFile g = load_torchvision_resnet50(path);
  EXPECT_EQ(g.skipped.size(), 53u);
  EXPECT_EQ(g.tensors.size(), 267u);
  EXPECT_EQ(g.at("layer2.1.conv2.weight").to_vector(), f.at("layer2.1.conv2.weight").to_vector());
  const Resnet50Info info = resnet50_info(g);
  EXPECT_EQ(info.stride_placement, "v1.5");  // torchvision's conventions, filled in
  EXPECT_EQ(info.bn_eps, 1e-5);
  EXPECT_FALSE(info.conv_bias);
  EXPECT_EQ(info.num_classes, 5);
  EXPECT_EQ(info.input_channels, "rgb");
  EXPECT_EQ(info.input_mean[0], 123.675);
  EXPECT_EQ(info.input_std[2], 57.375);
  EXPECT_TRUE(info.classes.empty());

  // An integer tensor that is not a BatchNorm counter is refused.
  rewrite_header(
      path,
      [&](nlohmann::json& h, uint64_t end) {
        h["fc.mask"] = {{"dtype", "I32"}, {"shape", nlohmann::json::array({1})}, {"data_offsets", {end, end + 4}}};
      },
      std::string(4, '\0'));
  EXPECT_ERROR_WITH(load_torchvision_resnet50(path), path, "tensor 'fc.mask'");
}

// A headless trunk (convert_weights --bf16 --drop-prefix fc.: what
// tools/gpu/prepare.sh carries to a GPU machine): BF16 tensors and no fc
// layer. It loads as a pretrained trunk for a new model, with num_classes 0,
// and is refused as a classifier; an fc layer half there is still an error.
TEST(TorchvisionResnet50, HeadlessBf16TrunkStartsAModelButCannotClassify) {
  TempDir dir;
  const std::string path = dir.path("trunk.safetensors");
  KerasImportOptions opt;
  opt.dims = tiny_dims();
  TensorFile f = import_keras_resnet50(make_keras(opt.dims), opt);
  f.tensors.erase("fc.weight");
  f.tensors.erase("fc.bias");
  f.metadata.erase("classes");
  f.metadata["num_classes"] = "0";
  save_safetensors(path, f, SaveOptions{true});

  TensorFile g = load_torchvision_resnet50(path);
  ASSERT_EQ(g.tensors.size(), f.tensors.size());
  EXPECT_EQ(g.at("layer3.1.conv2.weight").dtype(), DType::F32);  // BF16 widened on load
  std::vector<double> want = f.at("layer3.1.conv2.weight").to_vector(), got = g.at("layer3.1.conv2.weight").to_vector();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], std::abs(want[i]) / 128 + 1e-30) << i;
  EXPECT_EQ(resnet50_info(g).num_classes, 0);
  const PretrainedTrunk t = load_pretrained_trunk(path);
  EXPECT_EQ(t.config.classes, 0);
  EXPECT_ERROR_WITH(load_resnet50(path), path, "headless trunk (no fc layer) cannot classify");

  // fc.bias without fc.weight is not a headless file but a broken one.
  TensorFile h = f;
  h.tensors["fc.bias"] = Tensor::zeros({5});
  EXPECT_ERROR_WITH(check_resnet50_tensors(h, "W"), "resnet50 weights 'W'", "no 2-d fc.weight");
}

TEST(TorchvisionResnet50, NameAndShapeErrors) {
  const Resnet50Dims dims = tiny_dims();
  TensorFile f;
  for (const auto& [name, shape] : resnet50_tensor_shapes(false, dims))
    f.tensors[name] = Tensor::zeros(shape);
  check_resnet50_tensors(f, "ok");  // the complete set passes

  TensorFile g = f;
  g.tensors.erase("layer3.4.bn3.running_mean");
  EXPECT_ERROR_WITH(check_resnet50_tensors(g, "W"), "resnet50 weights 'W'",
                    "missing tensor 'layer3.4.bn3.running_mean'");
  g = f;
  g.tensors["layer1.0.conv1.bias"] = Tensor::zeros({2});  // a bias on one conv only
  EXPECT_ERROR_WITH(check_resnet50_tensors(g, "W"), "unexpected tensor 'layer1.0.conv1.bias'",
                    "all present or all absent");
  g = f;
  g.tensors["conv1.bias"] = Tensor::zeros({2});  // biases begun but not finished
  EXPECT_ERROR_WITH(check_resnet50_tensors(g, "W"), "missing tensor 'layer1.0.conv1.bias'");
  g = f;
  g.tensors["layer2.0.conv2.weight"] = Tensor::zeros({4, 4, 1, 3});
  EXPECT_ERROR_WITH(check_resnet50_tensors(g, "W"), "'layer2.0.conv2.weight' should be (4, 4, 3, 3)");
  g = f;
  g.tensors.erase("fc.weight");
  EXPECT_ERROR_WITH(check_resnet50_tensors(g, "W"), "no 2-d fc.weight");
  g = f;
  g.tensors["fc.bias"] = Tensor::zeros({5}, DType::F64);
  EXPECT_ERROR_WITH(check_resnet50_tensors(g, "W"), "'fc.bias'", "float32");
}

// ---- class names ------------------------------------------------------------------------------------

TEST(ClassNames, ReadsTheThreeForms) {
  TempDir dir;
  const std::string p = dir.path("labels.json");
  write_file(p, R"(["tench", "goldfish"])");
  EXPECT_EQ(load_class_names_json(p), (std::vector<std::string>{"tench", "goldfish"}));
  write_file(p, R"({"1": "goldfish", "0": "tench", "2": "great_white_shark"})");
  EXPECT_EQ(load_class_names_json(p),
            (std::vector<std::string>{"tench", "goldfish", "great_white_shark"}));
  write_file(p, R"({"0": ["n01440764", "tench"], "1": ["n01443537", "goldfish"]})");
  EXPECT_EQ(load_class_names_json(p), (std::vector<std::string>{"tench", "goldfish"}));

  write_file(p, R"({"0": "tench", "2": "goldfish"})");
  EXPECT_ERROR_WITH(load_class_names_json(p), p, "key '2' is not one of 0..1");
  write_file(p, R"({"0": "tench", "x": "goldfish"})");
  EXPECT_ERROR_WITH(load_class_names_json(p), p, "key 'x'");
  write_file(p, R"({"0": 7})");
  EXPECT_ERROR_WITH(load_class_names_json(p), p, "entry 0 is neither a name nor [id, name]");
  write_file(p, "[]");
  EXPECT_ERROR_WITH(load_class_names_json(p), p, "no class names");
}

// ---- the real checkpoint, when tools/fetch_weights.sh has made it -----------------------------------------

TEST(RealWeights, ImagenetResnet50Checkpoint) {
  const std::string path = "weights/resnet50_imagenet.safetensors";
  if (!std::filesystem::exists(path))
    GTEST_SKIP() << path << " not found (run `make weights` to fetch and convert it)";
  TensorFile f = load_torchvision_resnet50(path);
  EXPECT_EQ(f.tensors.size(), 320u);
  const Resnet50Info info = resnet50_info(f);
  EXPECT_EQ(info.stride_placement, "v1");
  EXPECT_EQ(info.bn_eps, 1e-3);
  EXPECT_TRUE(info.conv_bias);
  EXPECT_EQ(info.num_classes, 1000);
  ASSERT_EQ(info.classes.size(), 1000u);
  EXPECT_EQ(info.classes[0], "tench");
  EXPECT_EQ(info.classes[1], "goldfish");
  EXPECT_EQ(info.classes[999], "toilet_tissue");
  int64_t params = 0;
  for (const auto& [name, t] : f.tensors) {
    params += t.numel();
    for (double v : t.to_vector()) ASSERT_TRUE(std::isfinite(v)) << name;
    if (name.size() > 11 && name.compare(name.size() - 11, 11, "running_var") == 0) {
      for (double v : t.to_vector()) ASSERT_GT(v, 0.0) << name;
    }
  }
  EXPECT_EQ(params, 25'636'712);
  // conv1's filters are the well-known edge and colour detectors: small, zero-mean weights.
  const std::vector<double> w = f.at("conv1.weight").to_vector();
  double sum = 0, sq = 0;
  for (double v : w) {
    sum += v;
    sq += v * v;
  }
  const double mean = sum / w.size(), sd = std::sqrt(sq / w.size() - mean * mean);
  EXPECT_LT(std::abs(mean), 0.01);
  EXPECT_GT(sd, 0.05);
  EXPECT_LT(sd, 0.3);
}

}  // namespace
}  // namespace skinmtl
