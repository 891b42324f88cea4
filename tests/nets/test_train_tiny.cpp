// The whole core together: the two-headed TinyMtlNet (conv, batch norm, ReLU,
// max and average pool, residual add, global average pool, linear, both
// losses) trained with SGD on generated data. The loss must fall on the CPU
// and on CUDA, and the same steps on the two devices must agree.
#include "framework/optimizer.h"
#include "io/toy_data.h"
#include "nets/tiny_net.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

struct TrainRun {
  std::vector<double> losses;
  std::vector<Tensor> params;  // final values, on the CPU
};

// `steps` SGD steps of batch 32 over a fixed generated set, on `device`.
TrainRun train_tiny(Device device, int steps) {
  Rng rng(1);
  TinyMtlNet net(kToyLesionTypes, kToySites, rng, 8);
  net.to(device);
  net.train();
  SGDOptions opt;
  opt.lr = 0.05;
  opt.momentum = 0.9;
  opt.weight_decay = 1e-4;
  SGD sgd(net.parameters(), opt);
  ToyDataSpec spec;
  spec.size = 16;
  const int batch = 32, nbatches = 4;
  std::vector<ToyBatch> data;
  for (int b = 0; b < nbatches; ++b) data.push_back(make_toy_batch(batch, 100 + b, spec));
  TrainRun run;
  for (int s = 0; s < steps; ++s) {
    const ToyBatch& b = data[s % nbatches];
    sgd.zero_grad();
    auto out = net.forward(b.images.to(device));
    auto l = net.loss(out, b.lesions.to(device), b.sites.to(device));
    l.total.backward();
    sgd.step();
    run.losses.push_back(l.total.to(Device::CPU).item());
  }
  for (Parameter* p : net.parameters()) run.params.push_back(p->value.to(Device::CPU));
  return run;
}

double mean_of(const std::vector<double>& v, size_t from, size_t to) {
  double s = 0;
  for (size_t i = from; i < to; ++i) s += v[i];
  return s / (double)(to - from);
}

TEST(TrainTiny, LossFallsOnCpu) {
  TrainRun r = train_tiny(Device::CPU, 48);
  for (double l : r.losses) ASSERT_TRUE(std::isfinite(l));
  const double first = mean_of(r.losses, 0, 4), last = mean_of(r.losses, 44, 48);
  // At the start: 3 sigmoid terms of log 2 plus log 4 for the site, ~3.47.
  EXPECT_NEAR(first, 3 * std::log(2.0) + std::log(4.0), 0.6);
  EXPECT_LT(last, 0.7 * first) << "first " << first << ", last " << last;
}

TEST(TrainTinyCuda, LossFallsAndMatchesCpu) {
  REQUIRE_CUDA();
  const int steps = 16;
  TrainRun c = train_tiny(Device::CPU, steps);
  TrainRun g = train_tiny(Device::CUDA, steps);
  ASSERT_EQ(c.losses.size(), g.losses.size());
  for (int s = 0; s < steps; ++s)
    EXPECT_NEAR(g.losses[s], c.losses[s], 2e-3 * std::fabs(c.losses[s]) + 1e-4) << "step " << s;
  EXPECT_LT(mean_of(g.losses, steps - 4, steps), mean_of(g.losses, 0, 4));
  for (size_t i = 0; i < c.params.size(); ++i)
    EXPECT_TENSORS_CLOSE(c.params[i], g.params[i], 1e-2, 2e-3) << "parameter " << i;
}

}  // namespace
}  // namespace skinmtl
