// framework/cuda_graph.h: a captured piece of GPU work replays on new inputs
// written in place, a capture that waits for the GPU fails without a trace,
// and tensors made between replays never share the graph's memory.
#include <gtest/gtest.h>

#include "framework/allocator.h"
#include "framework/autograd.h"
#include "framework/cuda_graph.h"
#include "framework/ops.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

Tensor ramp(int64_t n, double step, double offset) {
  std::vector<double> v((size_t)n);
  for (int64_t i = 0; i < n; ++i) v[(size_t)i] = offset + step * (double)(i % 97) - 0.3 * (double)(i % 13);
  return Tensor::from_vector(v, {n});
}

TEST(CudaGraph, WithoutAGpuCaptureSaysWhyAndThrowsNothing) {
  if (cuda_available()) GTEST_SKIP() << "a GPU is present: CudaGraphCuda.* test the capture";
  CudaGraph g;
  std::string why;
  EXPECT_NO_THROW(why = g.capture([] {}));
  EXPECT_FALSE(why.empty());
  EXPECT_FALSE(g.captured());
  EXPECT_THROW(g.replay(), Error);
}

// Forward and backward of a small expression, captured once; each replay
// reads the input written in place since and gives what the ops give.
TEST(CudaGraphCuda, ReplaysTheCapturedWorkOnNewInputs) {
  REQUIRE_CUDA();
  const int64_t n = 5003;
  Tensor x = ramp(n, 0.01, -0.2).to(Device::CUDA);
  Tensor w = ramp(n, -0.02, 0.4).to(Device::CUDA).set_requires_grad();
  auto work = [&] {
    Tensor y = mean(mul(relu(add(x, w)), x));
    w.zero_grad();
    y.backward();
    return y;
  };
  work();  // warm-up: the gradient buffer exists before the capture
  Tensor y_graph;
  CudaGraph g;
  const std::string why = g.capture([&] { y_graph = work(); });
  ASSERT_EQ(why, "");
  ASSERT_TRUE(g.captured());
  for (int round = 0; round < 3; ++round) {
    x.copy_from(ramp(n, 0.01 * (round + 2), 0.1 * round - 0.3));
    g.replay();
    const std::vector<double> got_y = y_graph.to(Device::CPU).to_vector();
    const std::vector<double> got_g = w.grad().to(Device::CPU).to_vector();
    const Tensor want_y = work();  // the same ops, run as usual
    EXPECT_EQ(got_y, want_y.to(Device::CPU).to_vector()) << "round " << round;
    EXPECT_EQ(got_g, w.grad().to(Device::CPU).to_vector()) << "round " << round;
  }
  EXPECT_EQ(g.replays(), 3);
}

// A read of a value to the host inside the capture cannot be recorded: the
// capture reports it, keeps nothing, and the GPU goes on as before.
TEST(CudaGraphCuda, ACaptureThatWaitsForTheGpuFailsAndLeavesNothing) {
  REQUIRE_CUDA();
  Tensor x = ramp(1000, 0.5, 1).to(Device::CUDA);
  CudaGraph g;
  std::string why;
  EXPECT_NO_THROW(why = g.capture([&] { (void)sum(x).to(Device::CPU).item(); }));
  EXPECT_NE(why, "");
  EXPECT_FALSE(g.captured());
  EXPECT_EQ(cuda_allocator().recording_pool(), 0);
  EXPECT_DOUBLE_EQ(sum(x).to(Device::CPU).item(), sum(ramp(1000, 0.5, 1)).item());
  EXPECT_NE(g.capture([&] { (void)x.to(Device::CPU); }), "");  // a copy to the host waits too
  EXPECT_EQ(g.capture([&] { (void)scale(x, 2); }), "");        // and the stream still captures
}

// The graph's temporaries live in its private pool: a tensor made between two
// replays, of the same sizes, is never written by the next replay.
TEST(CudaGraphCuda, TensorsMadeBetweenReplaysAreNotTheGraphsScratch) {
  REQUIRE_CUDA();
  const int64_t n = 1 << 16;
  Tensor x = ramp(n, 0.25, 3).to(Device::CUDA);
  Tensor out;
  CudaGraph g;
  ASSERT_EQ(g.capture([&] {
              Tensor t = x;
              for (int k = 0; k < 6; ++k) t = add(scale(t, 0.5), x);  // temporaries of n floats, freed
              out = t;
            }),
            "");
  g.replay();
  std::vector<Tensor> made;
  for (int k = 0; k < 8; ++k) made.push_back(Tensor::full({n}, 100.0 + k, DType::F32, Device::CUDA));
  g.replay();
  g.replay();
  for (int k = 0; k < 8; ++k) {
    const std::vector<double> v = made[k].to(Device::CPU).to_vector();
    EXPECT_EQ(v, std::vector<double>(v.size(), 100.0 + k)) << "tensor " << k << " was overwritten by a replay";
  }
  g.reset();
  EXPECT_FALSE(g.captured());
}

}  // namespace
}  // namespace skinmtl
