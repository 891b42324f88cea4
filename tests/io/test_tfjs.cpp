// io/tfjs: a tiny TF.js layers model written by the test (model.json, two
// weight groups, three shards, a weight straddling two shards) read back, its
// layer settings, and the errors for broken models.
#include <filesystem>

#include "io/tfjs.h"
#include "tests/temp_dir.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

using test::TempDir;
using test::write_file;

std::string floats(int first, int count) {  // the float32 values first*0.5, ... as bytes
  std::string s;
  for (int i = first; i < first + count; ++i) {
    float v = 0.5f * (float)i - 3.0f;
    s.append(reinterpret_cast<const char*>(&v), 4);
  }
  return s;
}

// The model: a Conv2D "c" (kernel (1, 2, 2, 3), no bias), a BatchNormalization
// "bn" (gamma (3)), a Dense "d" (kernel (3, 2), bias (2)). Group 1 holds
// c/kernel, bn/gamma, d/kernel: 12 + 3 + 6 = 21 floats, split into shards of
// 10 floats (c/kernel straddles the boundary) and 11; group 2 holds d/bias.
const char* kModelJson = R"({
  "format": "layers-model",
  "generatedBy": "keras v2.2.4-tf",
  "convertedBy": "TensorFlow.js Converter v1.2.6",
  "modelTopology": {
    "keras_version": "2.2.4-tf",
    "model_config": {"class_name": "Model", "config": {"name": "tiny", "layers": [
      {"name": "input_1", "class_name": "InputLayer", "config": {"name": "input_1"}},
      {"name": "c", "class_name": "Conv2D", "config": {"name": "c", "filters": 3,
        "kernel_size": [1, 2], "strides": [2, 2], "padding": "same",
        "dilation_rate": [1, 1], "use_bias": false}},
      {"name": "bn", "class_name": "BatchNormalization", "config": {"name": "bn",
        "axis": [3], "epsilon": 0.001, "center": false, "scale": true}},
      {"name": "d", "class_name": "Dense", "config": {"name": "d", "units": 2,
        "activation": "softmax", "use_bias": true}}
    ]}}
  },
  "weightsManifest": [
    {"paths": ["group1-shard1of2.bin", "group1-shard2of2.bin"],
     "weights": [
       {"name": "c/kernel", "shape": [1, 2, 2, 3], "dtype": "float32"},
       {"name": "bn/gamma", "shape": [3], "dtype": "float32"},
       {"name": "d/kernel", "shape": [3, 2], "dtype": "float32"}]},
    {"paths": ["group2-shard1of1.bin"],
     "weights": [{"name": "d/bias", "shape": [2], "dtype": "float32"}]}
  ]
})";

// Writes the model into `dir`, model.json edited by `edits` (each replaces the
// first occurrence of its first text by its second).
using Edits = std::vector<std::pair<std::string, std::string>>;
std::string write_model(const TempDir& dir, const Edits& edits = {}) {
  std::string json = kModelJson;
  for (const auto& [old_text, new_text] : edits) {
    size_t at = json.find(old_text);
    SKINMTL_CHECK(at != std::string::npos, "test: '" << old_text << "' not in model.json");
    json.replace(at, old_text.size(), new_text);
  }
  write_file(dir.path("model.json"), json);
  write_file(dir.path("group1-shard1of2.bin"), floats(0, 10));
  write_file(dir.path("group1-shard2of2.bin"), floats(10, 11));
  write_file(dir.path("group2-shard1of1.bin"), floats(21, 2));
  return dir.path("model.json");
}

std::vector<double> expected_values(int first, int count) {
  std::vector<double> v;
  for (int i = first; i < first + count; ++i) v.push_back(0.5 * i - 3.0);
  return v;
}

TEST(Tfjs, ReadsWeightsAcrossShardsAndGroups) {
  TempDir dir;
  TfjsModel m = load_tfjs_layers_model(write_model(dir));
  EXPECT_EQ(m.generated_by, "keras v2.2.4-tf");
  EXPECT_EQ(m.converted_by, "TensorFlow.js Converter v1.2.6");
  ASSERT_EQ(m.weights.size(), 4u);
  EXPECT_EQ(m.weight_order,
            (std::vector<std::string>{"c/kernel", "bn/gamma", "d/kernel", "d/bias"}));
  // Shapes as stored (HWIO, (in, out)), values sliced in manifest order.
  EXPECT_EQ(m.weights.at("c/kernel").shape(), (Shape{1, 2, 2, 3}));
  EXPECT_EQ(m.weights.at("c/kernel").to_vector(), expected_values(0, 12));
  EXPECT_EQ(m.weights.at("bn/gamma").to_vector(), expected_values(12, 3));
  EXPECT_EQ(m.weights.at("d/kernel").shape(), (Shape{3, 2}));
  EXPECT_EQ(m.weights.at("d/kernel").to_vector(), expected_values(15, 6));
  EXPECT_EQ(m.weights.at("d/bias").to_vector(), expected_values(21, 2));
  for (const auto& [name, t] : m.weights) {
    EXPECT_EQ(t.dtype(), DType::F32) << name;
    EXPECT_EQ(t.device(), Device::CPU) << name;
  }
}

TEST(Tfjs, ReadsLayerSettings) {
  TempDir dir;
  TfjsModel m = load_tfjs_layers_model(write_model(dir));
  ASSERT_EQ(m.layers.size(), 4u);
  EXPECT_EQ(m.layers[0], (std::pair<std::string, std::string>{"input_1", "InputLayer"}));
  EXPECT_EQ(m.layers[1], (std::pair<std::string, std::string>{"c", "Conv2D"}));
  ASSERT_TRUE(m.conv2d.count("c"));
  const TfjsConv2D& c = m.conv2d.at("c");
  EXPECT_EQ(c.filters, 3);
  EXPECT_EQ(c.kernel_size[0], 1);
  EXPECT_EQ(c.kernel_size[1], 2);
  EXPECT_EQ(c.strides[0], 2);
  EXPECT_EQ(c.strides[1], 2);
  EXPECT_EQ(c.padding, "same");
  EXPECT_FALSE(c.use_bias);
  ASSERT_TRUE(m.batch_norm.count("bn"));
  EXPECT_DOUBLE_EQ(m.batch_norm.at("bn").epsilon, 0.001);
  EXPECT_FALSE(m.batch_norm.at("bn").center);
  EXPECT_TRUE(m.batch_norm.at("bn").scale);
  ASSERT_TRUE(m.dense.count("d"));
  EXPECT_EQ(m.dense.at("d").units, 2);
  EXPECT_EQ(m.dense.at("d").activation, "softmax");
}

// A topology written by TF.js itself: no "model_config" level, an older
// Sequential whose config is the list of layers, a single-int stride.
TEST(Tfjs, ReadsASequentialTopology) {
  TempDir dir;
  const std::string path = write_model(
      dir, {{R"("model_config": {"class_name": "Model", "config": {"name": "tiny", "layers": [)",
             R"("class_name": "Sequential", "config": {"name": "tiny", "layers": [)"},
            {"]}}", "]}"}});
  TfjsModel m = load_tfjs_layers_model(path);
  EXPECT_EQ(m.conv2d.size(), 1u);

  TempDir dir2;
  std::string json = kModelJson;
  const std::string topo_start = R"("modelTopology": {)";
  const size_t a = json.find(topo_start), b = json.find(R"("weightsManifest")");
  json.replace(a, b - a,
               R"("modelTopology": {"class_name": "Sequential", "config": [
                   {"class_name": "Conv2D", "config": {"name": "c", "filters": 3,
                    "kernel_size": 1, "strides": 2, "padding": "valid"}}]},
                 )");
  write_model(dir2);
  write_file(dir2.path("model.json"), json);
  m = load_tfjs_layers_model(dir2.path("model.json"));
  ASSERT_TRUE(m.conv2d.count("c"));
  EXPECT_EQ(m.conv2d.at("c").strides[1], 2);
  EXPECT_EQ(m.conv2d.at("c").kernel_size[0], 1);
  EXPECT_TRUE(m.conv2d.at("c").use_bias);  // Keras's default
  EXPECT_EQ(m.weights.size(), 4u);
}

TEST(Tfjs, MissingShardIsAnError) {
  TempDir dir;
  const std::string path = write_model(dir);
  std::filesystem::remove(dir.path("group1-shard2of2.bin"));
  EXPECT_ERROR_WITH(load_tfjs_layers_model(path), path, "missing shard",
                    "group1-shard2of2.bin");
}

// A downloaded model must not make the loader read files outside its folder:
// an absolute shard path or one that climbs out with '..' is refused, even
// when the file exists and has the right size; a sub-folder is fine.
TEST(Tfjs, ShardPathsStayInTheModelsFolder) {
  TempDir dir;
  std::filesystem::create_directories(dir.path("model"));
  std::filesystem::create_directories(dir.path("model/sub"));
  write_file(dir.path("outside.bin"), floats(21, 2));  // what group 2 needs, but outside
  for (const std::string& bad : {std::string("../outside.bin"), dir.path("outside.bin"),
                                 std::string("sub/../../outside.bin")}) {
    const std::string path = write_model(dir, {{"\"group2-shard1of1.bin\"", "\"" + bad + "\""}});
    // write_model wrote into dir itself; move the model one folder down so '..' points at dir.
    std::filesystem::rename(path, dir.path("model/model.json"));
    for (const char* f : {"group1-shard1of2.bin", "group1-shard2of2.bin", "group2-shard1of1.bin"})
      std::filesystem::rename(dir.path(f), dir.path(std::string("model/") + f));
    EXPECT_ERROR_WITH(load_tfjs_layers_model(dir.path("model/model.json")), "weightsManifest[1]", bad,
                      "leaves the model's folder");
  }
  // A shard in a sub-folder of the model's folder loads.
  const std::string path = write_model(dir, {{"\"group2-shard1of1.bin\"", "\"sub/g2.bin\""}});
  std::filesystem::rename(dir.path("group2-shard1of1.bin"), dir.path("sub_g2.bin"));
  std::filesystem::create_directories(dir.path("sub"));
  std::filesystem::rename(dir.path("sub_g2.bin"), dir.path("sub/g2.bin"));
  EXPECT_EQ(load_tfjs_layers_model(path).weights.at("d/bias").numel(), 2);
}

TEST(Tfjs, ShardSizesMustMatchTheManifest) {
  TempDir dir;
  const std::string path = write_model(dir);
  write_file(dir.path("group1-shard2of2.bin"), floats(10, 10));  // one float short
  EXPECT_ERROR_WITH(load_tfjs_layers_model(path), path, "weightsManifest[0]",
                    "the shards hold 80 bytes but the manifest's 3 float32 weights need 84");
  write_file(dir.path("group1-shard2of2.bin"), floats(10, 11) + "x");  // one byte too many
  EXPECT_ERROR_WITH(load_tfjs_layers_model(path), path, "hold 85 bytes");
}

TEST(Tfjs, UnsupportedDtypesAndQuantizationAreErrors) {
  TempDir dir;
  std::string path = write_model(
      dir, {{R"("shape": [3], "dtype": "float32")", R"("shape": [3], "dtype": "int32")"}});
  EXPECT_ERROR_WITH(load_tfjs_layers_model(path), path, "weight 'bn/gamma'",
                    "unsupported dtype 'int32'");
  path = write_model(dir, {{R"("shape": [3], "dtype": "float32")",
                            R"("shape": [3], "dtype": "float32",
                               "quantization": {"dtype": "uint8", "scale": 0.1, "min": 0})"}});
  EXPECT_ERROR_WITH(load_tfjs_layers_model(path), path, "weight 'bn/gamma' is quantized");
}

TEST(Tfjs, MalformedModelsAreErrors) {
  TempDir dir;
  std::string path =
      write_model(dir, {{R"("format": "layers-model")", R"("format": "graph-model")"}});
  EXPECT_ERROR_WITH(load_tfjs_layers_model(path), path, "not 'layers-model'");
  path = write_model(dir, {{R"("weightsManifest": [)", R"("weightsManifest": {)"}});
  EXPECT_ERROR_WITH(load_tfjs_layers_model(path), path, "not valid JSON");
  path = write_model(dir, {{R"("name": "d/bias")", R"("name": "bn/gamma")"}});
  EXPECT_ERROR_WITH(load_tfjs_layers_model(path), path, "'bn/gamma' is listed twice");
  path = write_model(dir, {{R"("strides": [2, 2])", R"("strides": "two")"}});
  EXPECT_ERROR_WITH(load_tfjs_layers_model(path), path, "layer 'c'", "strides");
  const std::string missing = dir.path("nothing/model.json");
  EXPECT_ERROR_WITH(load_tfjs_layers_model(missing), missing, "cannot open");
}

}  // namespace
}  // namespace skinmtl
