// The application layer's model files and shared options, at library level
// (app/model_file.h, app/segcls_model.h, app/training_run.h): the trunk and
// input fields read back to what was written, a bad value is an error naming
// the file, the metadata key and the field, a saved model rebuilds the same
// network, and the shared training options are read and checked the same way
// for every trainer.
#include <gtest/gtest.h>

#include <vector>

#include "app/model_file.h"
#include "app/segcls_model.h"
#include "app/training_run.h"
#include "framework/autograd.h"
#include "framework/random.h"
#include "io/checkpoint.h"
#include "tests/temp_dir.h"

namespace skinmtl {
namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ModelFile, TrunkAndInputFieldsReadBackToWhatWasWritten) {
  ResNetConfig trunk;
  trunk.stride = ResNetStride::V1;
  trunk.bn_eps = 1e-3;
  trunk.conv_bias = true;
  trunk.classes = 1000;
  Normalize n;
  n.mean[0] = 123.5f, n.mean[1] = 116.25f, n.mean[2] = 103.0f;
  n.std[0] = 58.5f, n.std[1] = 57.0f, n.std[2] = 57.25f;
  n.scale = 1.0f;
  const nlohmann::json j = model_json("test_arch", trunk, n, "rgb");
  ResNetConfig t2;
  Normalize n2;
  std::string channels;
  trunk_from_json(nlohmann::json::parse(j.dump()), t2);
  input_from_json(nlohmann::json::parse(j.dump()), n2, channels);
  EXPECT_EQ(t2.stride, ResNetStride::V1);
  EXPECT_EQ(t2.bn_eps, 1e-3);
  EXPECT_TRUE(t2.conv_bias);
  EXPECT_EQ(t2.classes, 0);  // the models use the trunk without its ImageNet classifier
  EXPECT_EQ(channels, "rgb");
  for (int c = 0; c < 3; ++c) {
    EXPECT_EQ(n2.mean[c], n.mean[c]);
    EXPECT_EQ(n2.std[c], n.std[c]);
  }
  EXPECT_EQ(n2.scale, 1.0f);
}

TEST(ModelFile, BadMetadataNamesTheFileTheKeyAndTheField) {
  const nlohmann::json j = model_json("test_arch", ResNetConfig{}, Normalize{}, "rgb");
  auto read = [](const nlohmann::json& bad) {
    return error_of([&] {
      read_model_json(bad.dump(), "m.safetensors", "test_config", "test_arch", "a test model",
                      [](const nlohmann::json& x) {
        ResNetConfig t;
        Normalize n;
        std::string c;
        trunk_from_json(x, t);
        input_from_json(x, n, c);
      });
    });
  };
  nlohmann::json bad = j;
  bad["stride_placement"] = "v3";
  EXPECT_NE(read(bad).find("m.safetensors: bad test_config metadata: stride_placement must be v1 or v1.5"),
            std::string::npos)
      << read(bad);
  bad = j;
  bad["input_std"] = {1, 0, 1};  // a division by zero
  EXPECT_NE(read(bad).find("input_std"), std::string::npos) << read(bad);
  bad = j;
  bad.erase("bn_eps");
  EXPECT_NE(read(bad).find("m.safetensors: bad test_config metadata"), std::string::npos) << read(bad);
  EXPECT_NE(read(bad).find("bn_eps"), std::string::npos) << read(bad);
  EXPECT_EQ(read(j), "(no error)");
  bad = j;
  bad["arch"] = "mtl_resnet50";  // some other model's file
  EXPECT_NE(read(bad).find("not a test model (arch 'mtl_resnet50')"), std::string::npos) << read(bad);
  const std::string garbled = error_of([] {
    read_model_json("{\"arch\": ", "m.safetensors", "test_config", "test_arch", "a test model",
                    [](const nlohmann::json&) {});
  });
  EXPECT_NE(garbled.find("m.safetensors: bad test_config metadata"), std::string::npos) << garbled;
  EXPECT_EQ(garbled.find(".cpp:"), std::string::npos) << "a user's file, not our source, is named: " << garbled;
}

TEST(ModelFile, ASavedSegClsModelRebuildsTheSameNetwork) {
  test::TempDir dir;
  SegClsModelSpec spec;
  spec.config.decoder_widths = {16, 8, 8, 4};
  spec.input_h = 64;
  spec.input_w = 96;
  SegClsModel a = new_segcls_model(spec, "none", 3);
  const std::string path = dir.path("model.safetensors");
  TensorFile f = module_state(*a.net);
  f.metadata = segcls_model_metadata(a.spec);
  save_safetensors(path, f);

  SegClsModel b = load_segcls_model(path);
  EXPECT_EQ(segcls_spec_to_json(b.spec), segcls_spec_to_json(a.spec));
  NoGradGuard no_grad;
  a.net->eval();
  b.net->eval();
  Rng rng(5);
  const Tensor x = randn({1, 3, 64, 96}, rng);
  const SegClsNet::Output ya = a.net->forward(x), yb = b.net->forward(x);
  EXPECT_EQ(ya.mask_logits.to_vector(), yb.mask_logits.to_vector());
  EXPECT_EQ(ya.melanoma_logit.to_vector(), yb.melanoma_logit.to_vector());
  EXPECT_EQ(ya.sk_logit.to_vector(), yb.sk_logit.to_vector());

  TensorFile other = module_state(*a.net);  // no segcls_config: some other model's file
  save_safetensors(dir.path("other.safetensors"), other);
  const std::string e = error_of([&] { load_segcls_model(dir.path("other.safetensors")); });
  EXPECT_NE(e.find("not a model written by `skinmtl train segcls`"), std::string::npos) << e;
}

// Args over a list of words (argv[0] is the command's name).
Args args_of(std::vector<std::string> words, const TrainingDefaults& d) {
  words.insert(words.begin(), "train");
  std::vector<char*> argv;
  for (std::string& w : words) argv.push_back(w.data());
  return Args((int)argv.size(), argv.data(), training_option_names(d), training_flag_names());
}

TEST(TrainingOptions, DefaultsAndChecksAreTheSameForEveryTrainer) {
  TrainingDefaults d;
  d.command = "train x";
  d.iters = 300;
  d.batch = 6;
  d.out = "runs/x";
  TrainingOptions o = read_training_options(args_of({"--device", "cpu"}, d), d);
  EXPECT_EQ(o.iters, 300);
  EXPECT_EQ(o.batch, 6);
  EXPECT_EQ(o.out, "runs/x");
  EXPECT_EQ(o.bn, "frozen");  // pretrained weights: their running statistics
  EXPECT_EQ(o.lr_schedule, "plateau");
  o = read_training_options(args_of({"--device", "cpu", "--weights", "none"}, d), d);
  EXPECT_EQ(o.bn, "batch");  // no statistics to freeze
  o = read_training_options(args_of({"--device", "cpu", "--lr-schedule", "cosine", "--warmup", "7"}, d), d);
  EXPECT_EQ(o.warmup, 7);

  const std::vector<std::vector<std::string>> mistakes = {
      {"--bn", "foo"},           {"--iters", "0"},         {"--batch", "-1"},
      {"--eval-every", "-2"},    {"--lr-schedule", "step"}, {"--lr-schedule", "cosine", "--warmup", "300"},
      {"--sync-bn", "maybe"},    {"--threads", "two"},     {"--precision", "tf32"}};
  for (std::vector<std::string> m : mistakes) {
    m.insert(m.end(), {"--device", "cpu"});
    EXPECT_THROW(read_training_options(args_of(m, d), d), UsageError) << m[0] << " " << m[1];
  }
  TrainingDefaults phases = d;  // a trainer whose model sets the lr (detseg)
  phases.lr_schedules = false;
  EXPECT_THROW(args_of({"--lr-schedule", "cosine"}, phases), UsageError);
  EXPECT_EQ(read_training_options(args_of({"--device", "cpu"}, phases), phases).lr_schedule, "model");
}

}  // namespace
}  // namespace skinmtl
