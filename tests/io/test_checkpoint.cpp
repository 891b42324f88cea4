// Checkpoints: module state round trip, strict name/shape checks, and exact
// resume (train 6 steps == train 3, save, load into fresh objects, train 3).
#include <filesystem>
#include <memory>

#include "io/checkpoint.h"
#include "io/toy_data.h"
#include "nets/tiny_net.h"
#include "tests/temp_dir.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

void sgd_steps(TinyMtlNet& net, SGD& sgd, int from, int to) {
  ToyDataSpec spec;
  spec.size = 16;
  for (int s = from; s < to; ++s) {
    ToyBatch b = make_toy_batch(8, 500 + s, spec);
    sgd.zero_grad();
    auto out = net.forward(b.images);
    net.loss(out, b.lesions, b.sites).total.backward();
    sgd.step();
  }
}

SGDOptions opts(Packing packing = Packing::GpuOnly) {
  SGDOptions o;
  o.lr = 0.05;
  o.momentum = 0.9;
  o.weight_decay = 1e-3;
  o.packing = packing;
  return o;
}

// Trains 3 steps, checkpoints, loads into a fresh net (other initialisation)
// and optimizer, with or without the momentum, and trains 3 more.
std::unique_ptr<TinyMtlNet> interrupted_run(const std::string& path, bool restore_momentum,
                                            Packing packing = Packing::GpuOnly) {
  Rng r2(5);
  TinyMtlNet b(kToyLesionTypes, kToySites, r2, 4);
  SGD sb(b.parameters(), opts(packing));
  sgd_steps(b, sb, 0, 3);
  save_checkpoint(path, b, sb, {{"step", "3"}});
  Rng r3(77);
  auto c = std::make_unique<TinyMtlNet>(kToyLesionTypes, kToySites, r3, 4);
  SGD sc(c->parameters(), opts(packing));
  auto meta = load_checkpoint(path, *c, restore_momentum ? &sc : nullptr);
  EXPECT_EQ(meta.at("step"), "3");
  sgd_steps(*c, sc, 3, 6);
  return c;
}

std::unique_ptr<TinyMtlNet> uninterrupted_run(Packing packing = Packing::GpuOnly) {
  Rng r1(5);
  auto a = std::make_unique<TinyMtlNet>(kToyLesionTypes, kToySites, r1, 4);
  SGD sa(a->parameters(), opts(packing));
  sgd_steps(*a, sa, 0, 6);
  return a;
}

void expect_same_state(TinyMtlNet& a, TinyMtlNet& c) {
  auto pa = a.named_parameters(), pc = c.named_parameters();
  ASSERT_EQ(pa.size(), pc.size());
  for (size_t i = 0; i < pa.size(); ++i)
    EXPECT_EQ(pa[i].second->value.to_vector(), pc[i].second->value.to_vector()) << pa[i].first;
  auto ba = a.named_buffers(), bc = c.named_buffers();
  for (size_t i = 0; i < ba.size(); ++i)
    EXPECT_EQ(ba[i].second->to_vector(), bc[i].second->to_vector()) << ba[i].first;
}

// SGD's flat buffers (the GPU's default, forced here on the CPU): the
// network's ops read every parameter as a view inside them, the run is the
// unpacked run bit for bit, and a checkpoint of it resumes exactly.
TEST(Checkpoint, ExactResumeWithPackedParameters) {
  test::TempDir dir;
  auto unpacked = uninterrupted_run(Packing::Never);
  auto packed = uninterrupted_run(Packing::Always);
  expect_same_state(*unpacked, *packed);
  auto resumed = interrupted_run(dir.path("run.safetensors"), true, Packing::Always);
  expect_same_state(*packed, *resumed);
}

TEST(Checkpoint, ExactResume) {
  test::TempDir dir;
  auto a = uninterrupted_run();
  auto c = interrupted_run(dir.path("run.safetensors"), true);
  auto pa = a->named_parameters(), pc = c->named_parameters();
  ASSERT_EQ(pa.size(), pc.size());
  for (size_t i = 0; i < pa.size(); ++i)
    EXPECT_EQ(pa[i].second->value.to_vector(), pc[i].second->value.to_vector()) << pa[i].first;
  auto ba = a->named_buffers(), bc = c->named_buffers();
  for (size_t i = 0; i < ba.size(); ++i)
    EXPECT_EQ(ba[i].second->to_vector(), bc[i].second->to_vector()) << ba[i].first;
}

TEST(Checkpoint, LoadingRemovesTheLeftoverOfAKilledSave) {
  test::TempDir dir;
  const std::string path = dir.path("checkpoint.safetensors");
  Rng r(5);
  TinyMtlNet a(kToyLesionTypes, kToySites, r, 4);
  SGD sa(a.parameters(), opts());
  save_checkpoint(path, a, sa, {{"step", "0"}});
  test::write_file(path + ".tmp", "half a checkpoint");  // a save killed before its rename
  TinyMtlNet b(kToyLesionTypes, kToySites, r, 4);
  SGD sb(b.parameters(), opts());
  load_checkpoint(path, b, &sb);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  EXPECT_TRUE(std::filesystem::exists(path));
}

TEST(Checkpoint, ADivergedModelNeverReplacesTheLastGoodCheckpoint) {
  test::TempDir dir;
  const std::string path = dir.path("checkpoint.safetensors");
  Rng rng(5);
  TinyMtlNet net(kToyLesionTypes, kToySites, rng, 4);
  SGD sgd(net.parameters(), opts());
  sgd_steps(net, sgd, 0, 2);
  save_checkpoint(path, net, sgd, {{"step", "2"}});
  const std::string good = test::read_file(path);
  // One weight becomes NaN, one momentum value infinite.
  auto params = net.named_parameters();
  Tensor w = params[0].second->value;
  std::vector<double> v = w.to_vector();
  v[1] = NAN;
  params[0].second->value.copy_from(Tensor::from_vector(v, w.shape()));
  try {
    save_checkpoint(path, net, sgd, {{"step", "3"}});
    FAIL() << "a NaN model was saved";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("the model diverged: 1 weights"), std::string::npos) << msg;
    EXPECT_NE(msg.find(params[0].first), std::string::npos) << msg;
    EXPECT_NE(msg.find("was not overwritten"), std::string::npos) << msg;
  }
  EXPECT_EQ(test::read_file(path), good);
  EXPECT_FALSE(std::filesystem::exists(previous_checkpoint_path(path))) << "nothing was rotated";
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(Checkpoint, ThePreviousCheckpointIsKeptBesideTheNewest) {
  test::TempDir dir;
  const std::string path = dir.path("checkpoint.safetensors");
  EXPECT_EQ(previous_checkpoint_path(path), dir.path("checkpoint.prev.safetensors"));
  EXPECT_EQ(previous_checkpoint_path("/x/ckpt.bin"), "/x/ckpt.bin.prev");
  Rng rng(5);
  TinyMtlNet net(kToyLesionTypes, kToySites, rng, 4);
  SGD sgd(net.parameters(), opts());
  save_checkpoint(path, net, sgd, {{"step", "0"}});
  EXPECT_FALSE(std::filesystem::exists(previous_checkpoint_path(path)));
  sgd_steps(net, sgd, 0, 1);
  save_checkpoint(path, net, sgd, {{"step", "1"}});
  sgd_steps(net, sgd, 1, 2);
  save_checkpoint(path, net, sgd, {{"step", "2"}});
  Rng r2(9);
  TinyMtlNet a(kToyLesionTypes, kToySites, r2, 4), b(kToyLesionTypes, kToySites, r2, 4);
  EXPECT_EQ(load_checkpoint(path, a, nullptr).at("step"), "2");
  EXPECT_EQ(load_checkpoint(previous_checkpoint_path(path), b, nullptr).at("step"), "1");
}

TEST(Checkpoint, WithoutMomentumTheResumeDiffers) {
  // Proves the test above can fail, and that the momentum buffers matter.
  test::TempDir dir;
  auto a = uninterrupted_run();
  auto c = interrupted_run(dir.path("run.safetensors"), false);
  EXPECT_NE(a->conv1->weight->value.to_vector(), c->conv1->weight->value.to_vector());
}

TEST(Checkpoint, StrictNamesAndShapes) {
  Rng rng(1);
  TinyMtlNet net(kToyLesionTypes, kToySites, rng, 4);
  TensorFile f = module_state(net);
  EXPECT_TRUE(f.has("conv1.weight"));
  EXPECT_TRUE(f.has("bn1.running_var"));
  {  // missing
    TensorFile g = f;
    g.tensors.erase("bn2.running_mean");
    EXPECT_ERROR_WITH(load_module_state(net, g, "g.safetensors"), "g.safetensors", "bn2.running_mean");
  }
  {  // unexpected
    TensorFile g = f;
    g.tensors["fc.weight"] = Tensor::zeros({2, 2});
    EXPECT_ERROR_WITH(load_module_state(net, g, "g.safetensors"), "g.safetensors", "fc.weight");
    LoadStateOptions o;
    o.ignore_prefixes = {"fc."};
    EXPECT_NO_THROW(load_module_state(net, g, "g.safetensors", o));
  }
  {  // wrong shape
    TensorFile g = f;
    g.tensors["site_head.bias"] = Tensor::zeros({kToySites + 1});
    EXPECT_THROW(load_module_state(net, g, "g.safetensors"), Error);
  }
}

TEST(CheckpointCuda, SavesFromTheGpuAndLoadsIntoTheCpu) {
  REQUIRE_CUDA();
  test::TempDir dir;
  const std::string path = dir.path("gpu.safetensors");
  Rng r1(3);
  TinyMtlNet g(kToyLesionTypes, kToySites, r1, 4);
  g.to(Device::CUDA);
  SGD sg(g.parameters(), opts());
  save_checkpoint(path, g, sg, {});
  Rng r2(9);
  TinyMtlNet c(kToyLesionTypes, kToySites, r2, 4);
  load_checkpoint(path, c, nullptr);
  EXPECT_EQ(c.conv2->weight->value.to_vector(), g.conv2->weight->value.to(Device::CPU).to_vector());
}

}  // namespace
}  // namespace skinmtl
