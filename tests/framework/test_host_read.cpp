// framework/host_read.h: a read started now and collected later gives the
// values the tensor had when the read started, on either device, and a
// HostRead can be used again with a larger tensor.
#include <gtest/gtest.h>

#include "framework/host_read.h"
#include "framework/ops.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

TEST(HostRead, GivesTheValuesTheTensorHadWhenTheReadStarted) {
  Tensor t = Tensor::from_vector(std::vector<double>{1.5, -2, 3.25}, {3});
  HostRead read;
  EXPECT_FALSE(read.started());
  read.start(t);
  EXPECT_TRUE(read.started());
  t.fill_(9);  // after the start: not part of the read
  EXPECT_EQ(read.values(), (std::vector<double>{1.5, -2, 3.25}));
  EXPECT_FALSE(read.started());
}

TEST(HostRead, ValuesOncePerStartAndAnUndefinedTensorIsRefused) {
  HostRead read;
  EXPECT_THROW(read.values(), Error);
  read.start(Tensor::full({2, 2}, 0.5));
  EXPECT_EQ(read.values().size(), 4u);
  EXPECT_THROW(read.values(), Error);
  EXPECT_THROW(read.start(Tensor()), Error);
}

TEST(HostRead, ReadsBfloat16AndFloat64) {
  HostRead read;
  read.start(Tensor::from_vector(std::vector<double>{0.1, 1e-300}, {2}, DType::F64));
  EXPECT_EQ(read.values(), (std::vector<double>{0.1, 1e-300}));
  read.start(Tensor::from_vector(std::vector<double>{1.0, -0.375}, {2}).to(DType::BF16));
  EXPECT_EQ(read.values(), (std::vector<double>{1.0, -0.375}));
}

TEST(HostReadCuda, ReadsBehindTheQueuedWorkAndAheadOfTheNext) {
  REQUIRE_CUDA();
  std::vector<double> v(1000);
  for (size_t i = 0; i < v.size(); ++i) v[i] = 0.5 * (double)i - 7;
  const Tensor x = Tensor::from_vector(v, {10, 100}).to(Device::CUDA);
  HostRead read;
  // Queued before the read: its result is what the read sees.
  Tensor y = scale(x, 2);
  read.start(y);
  // Queued after it: a change the read must not see, and more work to keep
  // the GPU busy while the host waits for the read alone.
  y.fill_(-1);
  Tensor z = y;
  for (int k = 0; k < 50; ++k) z = add(z, x);
  const std::vector<double> got = read.values();
  ASSERT_EQ(got.size(), v.size());
  for (size_t i = 0; i < v.size(); ++i) ASSERT_EQ(got[i], 2 * (float)v[i]) << "element " << i;

  // The same HostRead again: a larger tensor (a new page-locked buffer), then
  // a smaller one (the buffer kept) and one of bfloat16.
  const Tensor big = Tensor::full({3000}, 0.25, DType::F32, Device::CUDA);
  read.start(big);
  EXPECT_EQ(read.values(), std::vector<double>(3000, 0.25));
  read.start(Tensor::full({2}, 3, DType::F32, Device::CUDA).to(DType::BF16));
  EXPECT_EQ(read.values(), std::vector<double>(2, 3.0));
  // Empty: nothing to copy.
  read.start(Tensor::empty({0}, DType::F32, Device::CUDA));
  EXPECT_TRUE(read.values().empty());
  // The values the later work produced, read the plain way.
  EXPECT_EQ(z.to(Device::CPU).to_vector()[3], -1 + 50 * (float)v[3]);
}

}  // namespace
}  // namespace skinmtl
