// Tensor basics: creation, shapes, dtype conversion, views, transfers.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <iterator>
#include <thread>

#if SKINMTL_CUDA
#include "kernels/device.h"
#endif
#include "tests/temp_dir.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

TEST(Tensor, CreationAndShape) {
  Tensor t = Tensor::zeros({2, 3, 4});
  EXPECT_EQ(t.ndim(), 3);
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.size(-1), 4);
  EXPECT_EQ(t.dtype(), DType::F32);
  EXPECT_EQ(t.device(), Device::CPU);
  for (double v : t.to_vector()) EXPECT_EQ(v, 0.0);
  Tensor f = Tensor::full({3}, 2.5, DType::F64);
  EXPECT_EQ(f.to_vector(), (std::vector<double>{2.5, 2.5, 2.5}));
  EXPECT_THROW(t.size(3), Error);
  EXPECT_THROW(Tensor::empty({2, -1}), Error);
}

// An element count that would overflow int64 (a crafted file's shape) or a
// negative dimension is an error, not a wrapped-around count.
TEST(Tensor, ShapeNumelRefusesOverflowAndNegativeSizes) {
  EXPECT_EQ(shape_numel({}), 1);
  EXPECT_EQ(shape_numel({3, 0, 5}), 0);
  EXPECT_EQ(shape_numel({int64_t(1) << 31, int64_t(1) << 31}), int64_t(1) << 62);
  EXPECT_ERROR_WITH(shape_numel({int64_t(1) << 32, int64_t(1) << 32}), "(4294967296, 4294967296)",
                    "more elements than a 64-bit count holds");
  EXPECT_ERROR_WITH(shape_numel({2, -3}), "negative dimension");
}

TEST(Tensor, PoisonedEmptyIsNaN) {
  ASSERT_TRUE(poison_new_tensors());  // tests/main.cpp turns it on
  Tensor t = Tensor::empty({5});
  for (double v : t.to_vector()) EXPECT_TRUE(std::isnan(v));
}

TEST(Tensor, DTypeConversionRoundTrip) {
  Tensor a = Tensor::from_vector(std::vector<double>{1.5, -2.25, 3.0}, {3}, DType::F64);
  Tensor b = a.to(DType::F32);
  EXPECT_EQ(b.dtype(), DType::F32);
  EXPECT_EQ(b.to(DType::F64).to_vector(), a.to_vector());
  EXPECT_THROW(a.data<float>(), Error);  // wrong element type is an error
}

TEST(Tensor, ReshapeSharesStorage) {
  Tensor a = Tensor::from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = a.reshape({3, -1});
  EXPECT_EQ(b.shape(), (Shape{3, 2}));
  b.data<float>()[0] = 42;
  EXPECT_EQ(a.to_vector()[0], 42.0);
  EXPECT_THROW(a.reshape({4, 2}), Error);
}

TEST(Tensor, CloneAndDetachAreIndependentOfTheTape) {
  Tensor a = Tensor::ones({2}).set_requires_grad();
  Tensor c = a.clone();
  EXPECT_FALSE(c.requires_grad());
  Tensor d = a.detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_EQ(d.raw_data(), a.raw_data());
  EXPECT_NE(c.raw_data(), a.raw_data());
}

TEST(TensorCuda, HostAccessOfADeviceTensorIsAnError) {
  REQUIRE_CUDA();
  Tensor g = Tensor::ones({3}).to(Device::CUDA);
  EXPECT_THROW(g.to_vector(), Error);
}

TEST(TensorCuda, TransferRoundTrip) {
  REQUIRE_CUDA();
  Rng rng(3);
  Tensor a = randn({7, 13}, rng);
  Tensor g = a.to(Device::CUDA);
  EXPECT_EQ(g.device(), Device::CUDA);
  Tensor z = Tensor::zeros({7, 13}, DType::F32, Device::CUDA);
  z.copy_from(g);
  EXPECT_EQ(z.to(Device::CPU).to_vector(), a.to_vector());
  EXPECT_THROW(Tensor::empty({2}, DType::F64, Device::CUDA), Error);
}

// Host-to-device copies go through 64 MiB page-locked buffers, a larger one
// in pieces: every byte arrives, in order, across the pieces' seams, and a
// second copy into the same place replaces the first.
TEST(TensorCuda, UploadsLargerThanOneStagingBufferArriveWhole) {
  REQUIRE_CUDA();
  const int64_t n = (int64_t(150) << 20) / 4 + 12345;  // 150 MB and a bit: three pieces, the last partial
  std::vector<float> v((size_t)n);
  for (int64_t i = 0; i < n; ++i) v[(size_t)i] = (float)(i % 16777213);
  Tensor g = Tensor::from_vector(v, {n}).to(Device::CUDA);
  auto arrived = [&] {
    const Tensor h = g.to(Device::CPU);
    return std::equal(v.begin(), v.end(), h.data<float>());
  };
  EXPECT_TRUE(arrived());
  for (float& x : v) x = -x;
  g.copy_from(Tensor::from_vector(v, {n}));
  EXPECT_TRUE(arrived());
}

// Many uploads of mixed sizes in a row, none waited for: the staging buffers
// are reused when idle, new ones taken within the budget, busy ones waited
// for beyond it (kernels/cuda/device.cu). Every upload must arrive as it was when copied,
// though its source is overwritten right after.
TEST(TensorCuda, ManyMixedUploadsInARowAllArrive) {
  REQUIRE_CUDA();
  std::vector<Tensor> on_gpu;
  std::vector<std::vector<float>> sent;
  std::vector<float> source;
  for (int k = 0; k < 40; ++k) {
    const int64_t n = k % 3 == 0 ? 1000 + k : k % 3 == 1 ? (int64_t(3) << 20) + k : (int64_t(9) << 20) + k;
    source.assign((size_t)n, 0.0f);
    for (int64_t i = 0; i < n; ++i) source[(size_t)i] = (float)(k * 7919 + i % 65521);
    on_gpu.push_back(Tensor::from_vector(source, {n}).to(Device::CUDA));
    sent.push_back(source);
    std::fill(source.begin(), source.end(), -1.0f);  // the caller reuses its memory at once
  }
  for (size_t k = 0; k < sent.size(); ++k) {
    const Tensor h = on_gpu[k].to(Device::CPU);
    EXPECT_TRUE(std::equal(sent[k].begin(), sent[k].end(), h.data<float>())) << "upload " << k;
  }
}

#if SKINMTL_CUDA
// Holds stream() shut (cuda::queue_gate) from construction until open() or
// destruction; a watchdog opens it after 30 s. open() says whether the
// watchdog had to. The destructor also waits for the stream, so the flag the
// gate's host function reads outlives it, whatever the test throws.
class StreamGate {
 public:
  StreamGate() : watchdog_([this] { watch(); }) {
    try {
      cuda::queue_gate(&open_);
    } catch (...) {
      open();
      throw;
    }
  }
  ~StreamGate() {
    open();
    try {
      cuda::synchronize();
    } catch (...) {
    }
  }
  bool open() {
    finished_ = true;
    if (watchdog_.joinable()) watchdog_.join();
    open_ = true;
    return forced_;
  }

 private:
  void watch() {
    for (int ms = 0; ms < 30000 && !finished_.load(); ++ms) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (!finished_.load()) {
      forced_ = true;
      open_ = true;
    }
  }
  std::atomic<bool> open_{false}, finished_{false}, forced_{false};
  std::thread watchdog_;  // last: started after the flags exist
};

// A training step uploads its batch while the previous step is still queued
// on the GPU: the upload must return without waiting for that work, however
// large (in pieces) and however many in a row. A gate holds the stream shut
// while two Liao & Luo batch-256 uploads (154 MB each, three pieces) and
// small ones in between are copied into tensors allocated before. An upload
// that waited for the queued work would wait for the gate, which a watchdog
// opens after 30 s, and says so. Twice: first with no staging buffers (each
// piece allocates one), then with the buffers the first round left (each
// piece reuses one).
TEST(TensorCuda, UploadsDoNotWaitForTheWorkQueuedBeforeThem) {
  REQUIRE_CUDA();
  cuda::release_staging();  // earlier tests' buffers would count towards the budget
  const int64_t batch = int64_t(256) * 3 * 224 * 224;  // 154 MB of float32
  const int64_t sizes[] = {batch, 256, 1000, batch, 256, 1000, int64_t(3) << 20};
  for (const char* round : {"allocating its staging buffers", "reusing the staging buffers"}) {
    std::vector<Tensor> on_gpu, sources;
    for (const int64_t n : sizes) {
      on_gpu.push_back(Tensor::zeros({n}, DType::F32, Device::CUDA));
      std::vector<float> v((size_t)n);
      for (size_t i = 0; i < v.size(); ++i) v[i] = (float)(on_gpu.size() * 104729 + i % 65521);
      sources.push_back(Tensor::from_vector(v, {n}));
    }
    std::vector<std::vector<double>> sent;
    for (const Tensor& t : sources) sent.push_back(t.to_vector());
    StreamGate gate;
    for (size_t k = 0; k < sources.size(); ++k) {
      on_gpu[k].copy_from(sources[k]);
      sources[k].fill_(-1.0);  // the caller reuses its memory at once
    }
    EXPECT_FALSE(gate.open()) << round << ": an upload waited for the work queued before it (the gate, opened by "
                              << "the watchdog after 30 s)";
    for (size_t k = 0; k < sent.size(); ++k) EXPECT_EQ(on_gpu[k].to(Device::CPU).to_vector(), sent[k]) << round << ", upload " << k;
  }
}

// A CUDA graph would record the copy from a staging buffer that is reused
// right after: an upload inside a capture is refused, by name.
TEST(TensorCuda, AnUploadInsideAGraphCaptureIsAnError) {
  REQUIRE_CUDA();
  const Tensor src = Tensor::ones({1000});
  Tensor dst = Tensor::zeros({1000}, DType::F32, Device::CUDA);
  {
    struct EndCapture {
      ~EndCapture() { cuda::capture_abort(); }  // whatever is thrown; a no-op when not capturing
    } end_capture;
    cuda::capture_begin();
    EXPECT_ERROR_WITH(dst.copy_from(src), "while a CUDA graph is captured");
  }
  dst.copy_from(src);
  EXPECT_EQ(dst.to(Device::CPU).to_vector(), src.to_vector());  // and uploads work after it
}
#endif

TEST(Tensor, CudaWithoutGpuIsAClearError) {
  if (cuda_available()) GTEST_SKIP() << "a GPU is present";
  try {
    Tensor::ones({2}).to(Device::CUDA);
    FAIL() << "moving to CUDA without a GPU must throw";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_TRUE(msg.find("CUDA") != std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace skinmtl

namespace skinmtl {
namespace {

TEST(TensorCuda, FillOnTheDevice) {
  REQUIRE_CUDA();
  Tensor t = Tensor::full({3, 1000003}, -2.5, DType::F32, Device::CUDA);
  for (double v : t.to(Device::CPU).to_vector()) ASSERT_EQ(v, -2.5);
  t.fill_(7.0);
  for (double v : t.to(Device::CPU).to_vector()) ASSERT_EQ(v, 7.0);
}

}  // namespace
}  // namespace skinmtl
