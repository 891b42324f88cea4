// nets/resnet50, nets/state_dict and nets/resnet50_weights: the network's
// shapes, stride placements and parameter count; a module's tensors to and
// from a TensorFile; ResNet-50 checkpoints saved and loaded bit for bit, as a
// whole network or a trunk; every loading error; the input convention.
//
// A ResNet-50's random initialisation (25.6 million normal draws) takes about
// 2 s on this CPU, so the tests share two networks built once, and run their
// forward passes without the autograd tape at 64 x 64 (2 x 2 after the
// stride 32) except for the one check at 224.
#include <cmath>
#include <cstring>
#include <map>
#include <set>

#include "framework/autograd.h"
#include "io/resnet50_import.h"
#include "nets/resnet50.h"
#include "nets/resnet50_weights.h"
#include "io/checkpoint.h"
#include "tests/temp_dir.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

using test::TempDir;

// ---- helpers -------------------------------------------------------------------------------

// Same shape, dtype and bytes.
::testing::AssertionResult bitwise_equal(const Tensor& a, const Tensor& b) {
  const Tensor x = a.to(Device::CPU), y = b.to(Device::CPU);
  if (x.shape() != y.shape() || x.dtype() != y.dtype())
    return ::testing::AssertionFailure() << x.str() << " vs " << y.str();
  if (std::memcmp(x.raw_data(), y.raw_data(), x.nbytes()) != 0)
    return ::testing::AssertionFailure() << "values differ";
  return ::testing::AssertionSuccess();
}

// torchvision's resnet50(): v1.5 strides, no conv biases, BatchNorm epsilon
// 1e-5, 1000 classes, in eval mode. Built once; tests must not change it.
ResNet50& torchvision_net() {
  static ResNet50* net = [] {
    Rng rng(1);
    ResNetConfig c;
    c.stride = ResNetStride::V1_5;
    auto* n = new ResNet50(c, rng);
    n->eval();
    return n;
  }();
  return *net;
}

// Keras' layout, as our converted weights: v1 strides, conv biases, epsilon
// 1e-3; 10 classes. Every BatchNorm gets random statistics and affine values
// and every conv a random bias, so that each tensor changes the output and a
// round trip that lost one would show. Built once; tests must not change it.
ResNet50& keras_like_net() {
  static ResNet50* net = [] {
    Rng rng(2);
    auto* n = new ResNet50(keras_resnet50(10), rng);
    for (auto& [name, p] : n->named_parameters()) {
      const Shape& s = p->value.shape();
      if (name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0)
        p->value.copy_from(randn(s, rng, 0.05));
      else if (s.size() == 1)  // BatchNorm gamma
        p->value.copy_from(rand_uniform(s, rng, 0.5, 1.5));
    }
    for (auto& [name, b] : n->named_buffers())
      b->copy_from(name.find("running_var") != std::string::npos
                       ? rand_uniform(b->shape(), rng, 0.5, 2.0)
                       : randn(b->shape(), rng, 0.1));
    n->eval();
    return n;
  }();
  return *net;
}

// The input convention and class names save_resnet50 records for keras_like_net.
Resnet50Info keras_like_info() {
  Resnet50Info info;
  info.input_channels = "bgr";
  const double mean[3] = {103.939, 116.779, 123.68};
  for (int c = 0; c < 3; ++c) info.input_mean[c] = mean[c];
  info.input_std[1] = 2.5;
  for (int i = 0; i < 10; ++i) info.classes.push_back("class_" + std::to_string(i));
  return info;
}

Tensor small_input(int n = 2) {
  Rng rng(7);
  return randn({n, 3, 64, 64}, rng, 50.0);
}

int64_t count(const std::vector<Parameter*>& ps) {
  int64_t n = 0;
  for (const Parameter* p : ps) n += p->value.numel();
  return n;
}

// ---- the network ---------------------------------------------------------------------------

TEST(ResNet50, ShapesAt224And64) {
  ResNet50& net = torchvision_net();
  NoGradGuard no_grad;
  Rng rng(3);
  // At 224 x 224 (one image, the only full-size forward of these tests):
  // conv1 /2, max pool /2, layer2..4 /2 each: 224 / 32 = 7.
  const Tensor fm224 = net.feature_map(randn({1, 3, 224, 224}, rng));
  EXPECT_EQ(fm224.shape(), (Shape{1, 2048, 7, 7}));
  for (double v : fm224.to_vector()) ASSERT_TRUE(std::isfinite(v));

  const Tensor x = small_input();
  const Tensor fm = net.feature_map(x), f = net.features(x), logits = net.forward(x);
  EXPECT_EQ(fm.shape(), (Shape{2, 2048, 2, 2}));
  EXPECT_EQ(f.shape(), (Shape{2, 2048}));
  EXPECT_EQ(logits.shape(), (Shape{2, 1000}));
  // pool5 is the mean of the feature map over its 2 x 2 positions, and the
  // logits are fc(pool5).
  const std::vector<double> m = fm.to_vector(), fv = f.to_vector();
  for (int n = 0; n < 2; ++n)
    for (int c = 0; c < 2048; c += 97) {
      const double* p = &m[((size_t)n * 2048 + c) * 4];
      const double mean = (p[0] + p[1] + p[2] + p[3]) / 4;
      EXPECT_NEAR(fv[(size_t)n * 2048 + c], mean, 1e-6 * (1 + std::abs(mean)));
    }
  EXPECT_TRUE(bitwise_equal(logits, net.fc->forward(f)));
  EXPECT_THROW(net.forward(randn({1, 4, 64, 64}, rng)), Error);
}

TEST(ResNet50, StagesHaveThePyramidShapesAndEndInTheFeatureMap) {
  ResNet50& net = torchvision_net();
  NoGradGuard no_grad;
  Rng rng(4);
  // 70 x 50: every stride-2 step rounds up (conv 7x7/2 pad 3, pool 3x3/2 pad 1,
  // 1x1/2 or 3x3/2 pad 1), so odd sizes show where the sizes come from.
  const Tensor x = randn({1, 3, 70, 50}, rng);
  const ResNet50::Stages s = net.stages(x);
  EXPECT_EQ(s.c1.shape(), (Shape{1, 64, 35, 25}));
  EXPECT_EQ(s.c2.shape(), (Shape{1, 256, 18, 13}));
  EXPECT_EQ(s.c3.shape(), (Shape{1, 512, 9, 7}));
  EXPECT_EQ(s.c4.shape(), (Shape{1, 1024, 5, 4}));
  EXPECT_EQ(s.c5.shape(), (Shape{1, 2048, 3, 2}));
  EXPECT_TRUE(bitwise_equal(s.c5, net.feature_map(x)));
  double lo = 0;
  for (double v : s.c1.to_vector()) lo = std::min(lo, v);
  EXPECT_EQ(lo, 0.0);  // c1 is after the ReLU
}

TEST(ResNet50, ParameterCountAndNamesMatchTorchvision) {
  ResNet50& tv = torchvision_net();
  // torchvision.models.resnet50(): sum(p.numel() for p in m.parameters()).
  EXPECT_EQ(count(tv.parameters()), 25'557'032);
  // Every parameter and buffer has the name and shape of io/resnet50_import.h's
  // torchvision list (which the weight import is tested against), and no other.
  const TensorFile state = module_state(tv);
  const auto want = resnet50_tensor_shapes(false);
  ASSERT_EQ(state.tensors.size(), want.size());
  for (const auto& [name, shape] : want) {
    ASSERT_TRUE(state.has(name)) << name;
    EXPECT_EQ(state.at(name).shape(), shape) << name;
  }
  // The Keras layout: the same plus one bias per conv; 10 classes.
  Resnet50Dims dims;
  dims.num_classes = 10;
  const auto want_k = resnet50_tensor_shapes(true, dims);
  const TensorFile state_k = module_state(keras_like_net());
  ASSERT_EQ(state_k.tensors.size(), want_k.size());
  int64_t conv_bias = 0;
  for (const auto& [name, shape] : want_k) {
    ASSERT_TRUE(state_k.has(name)) << name;
    EXPECT_EQ(state_k.at(name).shape(), shape) << name;
  }
  for (const Resnet50Conv& c : resnet50_convs()) conv_bias += c.out_channels;
  EXPECT_EQ(count(keras_like_net().parameters()),
            25'557'032 + conv_bias - (2048 + 1) * (1000 - 10));
}

TEST(ResNet50, StridePlacementV1AndV15) {
  // Each downsampling block (layer2..4, block 0) strides once on its main path:
  // v1 on the first 1x1 (conv1), v1.5 on the 3x3 (conv2); the projection
  // shortcut (downsample.0) strides in both. Everything else has stride 1.
  for (ResNet50* net : {&keras_like_net(), &torchvision_net()}) {
    const bool v1 = net->config().stride == ResNetStride::V1;
    SCOPED_TRACE(v1 ? "v1" : "v1.5");
    EXPECT_EQ(net->conv1->params.stride_h, 2);
    EXPECT_EQ(net->conv1->params.pad_h, 3);
    int l = 1;
    for (BottleneckLayer* layer : {net->layer1.get(), net->layer2.get(), net->layer3.get(), net->layer4.get()}) {
      for (size_t i = 0; i < layer->blocks.size(); ++i) {
        const Bottleneck& b = *layer->blocks[i];
        SCOPED_TRACE("layer" + std::to_string(l) + "." + std::to_string(i));
        const int s = (l > 1 && i == 0) ? 2 : 1;  // this block's stride
        EXPECT_EQ(b.conv1->params.stride_h, v1 ? s : 1);
        EXPECT_EQ(b.conv1->params.stride_w, v1 ? s : 1);
        EXPECT_EQ(b.conv2->params.stride_h, v1 ? 1 : s);
        EXPECT_EQ(b.conv2->params.stride_w, v1 ? 1 : s);
        EXPECT_EQ(b.conv2->params.pad_h, 1);
        EXPECT_EQ(b.conv3->params.stride_h, 1);
        ASSERT_EQ(b.downsample != nullptr, i == 0);
        if (b.downsample) {
          EXPECT_EQ(b.downsample->conv->params.stride_h, s);
        }
      }
      ++l;
    }
  }
  // The same placements as the import's table of the 53 convolutions.
  std::map<std::string, int> v1, v15;
  for (const Resnet50Conv& c : resnet50_convs()) {
    v1[c.conv] = c.stride_v1;
    v15[c.conv] = c.stride_v1_5;
  }
  EXPECT_EQ(v1.at("layer2.0.conv1"), keras_like_net().layer2->blocks[0]->conv1->params.stride_h);
  EXPECT_EQ(v15.at("layer2.0.conv2"), torchvision_net().layer2->blocks[0]->conv2->params.stride_h);
  EXPECT_EQ(v1.at("layer4.0.downsample.0"),
            keras_like_net().layer4->blocks[0]->downsample->conv->params.stride_h);
}

// ---- any module's state --------------------------------------------------------------------

// conv (with bias) -> BatchNorm -> global pool -> fc: every kind of tensor a
// ResNet has, small.
class SmallNet : public Module {
 public:
  explicit SmallNet(uint64_t seed) {
    Rng rng(seed);
    conv = register_module("conv", std::make_shared<Conv2d>(2, 3, 3, Conv2dParams::make(1, 1), true, rng));
    bn = register_module("bn", std::make_shared<BatchNorm2d>(3));
    fc = register_module("fc", std::make_shared<Linear>(3, 2, true, rng));
    bn->running_mean->copy_from(randn({3}, rng));
    conv->bias->value.copy_from(randn({3}, rng));
  }
  std::shared_ptr<Conv2d> conv;
  std::shared_ptr<BatchNorm2d> bn;
  std::shared_ptr<Linear> fc;
};

TEST(StateDict, SnapshotNamesAndRoundTrip) {
  SmallNet a(1), b(2);
  TensorFile s = module_state(a);
  std::vector<std::string> names;
  for (const auto& [name, t] : s.tensors) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"bn.bias", "bn.running_mean", "bn.running_var",
                                             "bn.weight", "conv.bias", "conv.weight", "fc.bias",
                                             "fc.weight"}));
  EXPECT_EQ(s.at("conv.weight").shape(), (Shape{3, 2, 3, 3}));
  EXPECT_FALSE(s.at("conv.weight").requires_grad());
  // A snapshot: changing the module afterwards does not change it.
  const Tensor before = s.at("conv.weight").clone();
  a.conv->weight->value.fill_(0.0);
  EXPECT_TRUE(bitwise_equal(s.at("conv.weight"), before));

  EXPECT_FALSE(bitwise_equal(b.fc->weight->value, s.at("fc.weight")));
  Parameter* const fc_weight = b.fc->weight;
  load_module_state(b, s, "snapshot");
  for (const auto& [name, t] : module_state(b).tensors) EXPECT_TRUE(bitwise_equal(t, s.at(name))) << name;
  // The values moved into the existing Parameters (an optimizer's pointers stay valid),
  // which are still trainable leaves.
  EXPECT_EQ(b.fc->weight, fc_weight);
  EXPECT_TRUE(b.fc->weight->value.requires_grad());
}

TEST(StateDict, ConvertsDtype) {
  SmallNet a(1), b(2);
  TensorFile s = module_state(a);
  for (auto& [name, t] : s.tensors) t = t.to(DType::F64);
  load_module_state(b, s, "f64");
  EXPECT_EQ(b.conv->weight->value.dtype(), DType::F32);
  EXPECT_TRUE(bitwise_equal(b.conv->weight->value, a.conv->weight->value));
}

TEST(StateDict, ErrorsNameTheSourceAndTensorAndChangeNothing) {
  SmallNet a(1), b(2);
  const TensorFile good = module_state(a);
  const TensorFile b_before = module_state(b);
  auto unchanged = [&] {
    for (const auto& [name, t] : module_state(b).tensors)
      EXPECT_TRUE(bitwise_equal(t, b_before.at(name))) << name;
  };

  TensorFile f = good;
  f.tensors.erase("bn.running_var");
  EXPECT_ERROR_WITH(load_module_state(b, f, "ck.safetensors"), "weights 'ck.safetensors'",
                    "missing tensor 'bn.running_var' (3,)");
  unchanged();

  f = good;
  f.tensors["conv.weight"] = Tensor::zeros({3, 2, 1, 3});
  EXPECT_ERROR_WITH(load_module_state(b, f, "ck"), "tensor 'conv.weight' should be (3, 2, 3, 3), got (3, 2, 1, 3)");
  unchanged();

  f = good;
  f.tensors["head.weight"] = Tensor::zeros({4, 3});
  EXPECT_ERROR_WITH(load_module_state(b, f, "ck"), "unexpected tensor 'head.weight' (4, 3)");
  unchanged();
  // ... unless the caller allows it. A prefix is a prefix of the name: "head."
  // does not cover "heads.x".
  LoadStateOptions opt;
  opt.ignore_prefixes = {"head."};
  load_module_state(b, f, "ck", opt);
  EXPECT_TRUE(bitwise_equal(b.conv->weight->value, a.conv->weight->value));
  f.tensors["heads.x"] = Tensor::zeros({1});
  EXPECT_ERROR_WITH(load_module_state(b, f, "ck", opt), "unexpected tensor 'heads.x'");
}

// ---- ResNet-50 checkpoints -------------------------------------------------------------------

TEST(ResNet50Weights, SaveLoadRoundTripIsBitExact) {
  ResNet50& net = keras_like_net();
  TempDir dir;
  const std::string path = dir.path("r50.safetensors");
  save_resnet50(path, net, keras_like_info(), {{"source", "a test"}});

  const LoadedResNet50 got = load_resnet50(path);
  const ResNetConfig& c = got.model->config();
  EXPECT_EQ(c.stride, ResNetStride::V1);
  EXPECT_EQ(c.bn_eps, 1e-3);
  EXPECT_TRUE(c.conv_bias);
  EXPECT_EQ(c.classes, 10);
  EXPECT_FALSE(got.model->is_training());
  // The input convention and class names come back.
  EXPECT_EQ(got.info.input_channels, "bgr");
  EXPECT_EQ(got.info.input_mean[0], 103.939);
  EXPECT_EQ(got.info.input_mean[2], 123.68);
  EXPECT_EQ(got.info.input_std[1], 2.5);
  EXPECT_EQ(got.info.classes, keras_like_info().classes);
  EXPECT_EQ(got.metadata.at("source"), "a test");
  EXPECT_EQ(got.metadata.at("bn_eps"), "0.001");
  // Every tensor, and so the output, bit for bit.
  const TensorFile want = module_state(net), have = module_state(*got.model);
  ASSERT_EQ(want.tensors.size(), have.tensors.size());
  for (const auto& [name, t] : want.tensors) EXPECT_TRUE(bitwise_equal(t, have.at(name))) << name;
  NoGradGuard no_grad;
  const Tensor x = small_input();
  const Tensor y = net.forward(x);
  for (double v : y.to_vector()) ASSERT_TRUE(std::isfinite(v));
  EXPECT_TRUE(bitwise_equal(y, got.model->forward(x)));
}

TEST(ResNet50Weights, LoadsATrunkWithoutTheClassifier) {
  ResNet50& net = keras_like_net();
  TempDir dir;
  const std::string path = dir.path("r50.safetensors");
  save_resnet50(path, net, keras_like_info());
  LoadResNet50Options opt;
  opt.trunk = true;
  const LoadedResNet50 trunk = load_resnet50(path, opt);
  EXPECT_EQ(trunk.model->fc, nullptr);
  EXPECT_EQ(trunk.model->config().classes, 0);
  EXPECT_EQ(trunk.info.num_classes, 10);  // what the file holds
  NoGradGuard no_grad;
  const Tensor x = small_input(1);
  EXPECT_TRUE(bitwise_equal(net.features(x), trunk.model->features(x)));
  // A trunk alone is not a checkpoint of this kind.
  EXPECT_ERROR_WITH(save_resnet50(dir.path("t.safetensors"), *trunk.model, keras_like_info()),
                    "no fc layer");
}

TEST(ResNet50Weights, LoadErrors) {
  ResNet50& net = keras_like_net();
  TempDir dir;
  const std::string path = dir.path("r50.safetensors");
  save_resnet50(path, net, keras_like_info());
  const TensorFile good = load_safetensors(path);

  // Into an existing network (no construction): each error names the source
  // and the tensor, and leaves the network as it was (the bad files below
  // also zero conv1.weight, which must not arrive).
  const Tensor conv1_before = net.conv1->weight->value.clone();
  auto bad = [&] {
    TensorFile f = good;
    f.tensors["conv1.weight"] = Tensor::zeros(f.at("conv1.weight").shape());
    return f;
  };
  TensorFile f = bad();
  f.tensors.erase("layer3.2.bn2.running_var");
  EXPECT_ERROR_WITH(load_resnet50_weights(net, f, "mem"), "weights 'mem'",
                    "missing tensor 'layer3.2.bn2.running_var' (256,)");
  f = bad();
  f.tensors["layer1.0.conv2.weight"] = Tensor::zeros({64, 64, 1, 3});
  EXPECT_ERROR_WITH(load_resnet50_weights(net, f, "mem"),
                    "tensor 'layer1.0.conv2.weight' should be (64, 64, 3, 3), got (64, 64, 1, 3)");
  f = bad();
  f.tensors["layer4.2.conv4.weight"] = Tensor::zeros({2048, 512, 1, 1});
  EXPECT_ERROR_WITH(load_resnet50_weights(net, f, "mem"), "unexpected tensor 'layer4.2.conv4.weight'");
  // The metadata must describe this network: the same tensors under another
  // stride placement or epsilon would compute something else.
  f = bad();
  f.metadata["stride_placement"] = "v1.5";
  EXPECT_ERROR_WITH(load_resnet50_weights(net, f, "mem"), "stride placement is v1.5, the network's v1");
  f = bad();
  f.metadata["bn_eps"] = "1e-05";
  EXPECT_ERROR_WITH(load_resnet50_weights(net, f, "mem"), "BatchNorm epsilon is 1e-05, the network's 0.001");
  f = bad();
  f.metadata.erase("input_mean");
  EXPECT_ERROR_WITH(load_resnet50_weights(net, f, "mem"), "weights 'mem'", "no 'input_mean' key");
  EXPECT_TRUE(bitwise_equal(net.conv1->weight->value, conv1_before));

  // From a file: the file's name and the tensor (these fail before a network is built).
  f = good;
  f.tensors.erase("layer2.3.conv3.bias");
  const std::string broken = dir.path("broken.safetensors");
  save_safetensors(broken, f);
  EXPECT_ERROR_WITH(load_resnet50(broken), broken, "missing tensor 'layer2.3.conv3.bias'");
  f = good;
  f.tensors["fc.weight"] = Tensor::zeros({10, 1024});
  save_safetensors(broken, f);
  EXPECT_ERROR_WITH(load_resnet50(broken), broken, "tensor 'fc.weight' should be (10, 2048)");
  EXPECT_ERROR_WITH(load_resnet50(dir.path("none.safetensors")), "none.safetensors", "no such file");

  // Saving refuses an incomplete description.
  Resnet50Info info = keras_like_info();
  info.input_channels = "";
  EXPECT_ERROR_WITH(save_resnet50(dir.path("x"), net, info), "input_channels must be rgb or bgr");
  info = keras_like_info();
  info.classes.pop_back();
  EXPECT_ERROR_WITH(save_resnet50(dir.path("x"), net, info), "9 class names for 10 classes");
  EXPECT_ERROR_WITH(save_resnet50(dir.path("x"), net, keras_like_info(), {{"bn_eps", "1"}}),
                    "extra metadata key 'bn_eps'");
}

TEST(ResNet50Weights, TorchvisionFileGetsTorchvisionConventions) {
  // A torchvision state_dict saved with safetensors carries none of our
  // metadata keys: torchvision's conventions are assumed.
  ResNet50& tv = torchvision_net();
  TempDir dir;
  const std::string path = dir.path("tv.safetensors");
  save_safetensors(path, module_state(tv));
  const TensorFile f = load_torchvision_resnet50(path);
  const Resnet50Info info = resnet50_info(f);
  const ResNetConfig c = resnet_config(info);
  EXPECT_EQ(c.stride, ResNetStride::V1_5);
  EXPECT_EQ(c.bn_eps, 1e-5);
  EXPECT_FALSE(c.conv_bias);
  EXPECT_EQ(c.classes, 1000);
  EXPECT_EQ(resnet_config(info, /*trunk=*/true).classes, 0);
  EXPECT_EQ(info.input_channels, "rgb");
  EXPECT_EQ(info.input_std[0], 58.395);
  load_resnet50_weights(tv, f, path);  // its own values: a successful no-op
  // Into the v1 network with conv biases it does not fit.
  EXPECT_ERROR_WITH(load_resnet50_weights(keras_like_net(), f, path), path,
                    "stride placement is v1.5, the network's v1");
}

// ---- the input convention ----------------------------------------------------------------------

TEST(ResNetInput, ChannelOrderMeanAndStd) {
  Image img(1, 2, 3);
  const uint8_t px[6] = {10, 20, 30, 40, 50, 60};  // (R, G, B) at x = 0, then x = 1
  std::memcpy(img.data.data(), px, 6);
  Resnet50Info info;
  info.input_channels = "rgb";
  const double mean[3] = {1, 2, 3}, sd[3] = {2, 4, 5};
  for (int c = 0; c < 3; ++c) info.input_mean[c] = mean[c], info.input_std[c] = sd[c];
  Tensor t = resnet_input({img}, info);
  EXPECT_EQ(t.shape(), (Shape{1, 3, 1, 2}));
  // Channel c: (pixel[c] - mean[c]) / std[c].
  EXPECT_TENSORS_CLOSE(Tensor::from_vector(std::vector<double>{4.5, 19.5, 4.5, 12, 5.4, 11.4}, {1, 3, 1, 2}),
                       t, 1e-6, 0);
  // BGR: network channel 0 reads blue, with mean[0] and std[0].
  info.input_channels = "bgr";
  t = resnet_input({img, img}, info);
  EXPECT_EQ(t.shape(), (Shape{2, 3, 1, 2}));
  const std::vector<double> bgr{14.5, 29.5, 4.5, 12, 1.4, 7.4};
  std::vector<double> two = bgr;
  two.insert(two.end(), bgr.begin(), bgr.end());
  EXPECT_TENSORS_CLOSE(Tensor::from_vector(two, {2, 3, 1, 2}), t, 1e-6, 0);
  // Grey: the one channel feeds all three.
  Image grey(1, 1, 1);
  grey.data[0] = 11;
  EXPECT_TENSORS_CLOSE(Tensor::from_vector(std::vector<double>{5, 2.25, 1.6}, {1, 3, 1, 1}),
                       resnet_input({grey}, info), 1e-6, 0);
  info.input_channels = "rgba";
  EXPECT_ERROR_WITH(resnet_input({img}, info), "input_channels must be rgb or bgr");
}

}  // namespace
}  // namespace skinmtl
