// The caching allocator: reuse in the steady state, size rounding, OOM retry.
#include <cstdlib>
#include <map>

#include "framework/allocator.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

struct CountingBackend {
  int allocs = 0, frees = 0;
  size_t limit = SIZE_MAX, live = 0;
  std::map<void*, size_t> sizes;
  CachingAllocator make() {
    return CachingAllocator(
        "test",
        [this](size_t n) -> void* {
          if (live + n > limit) return nullptr;
          live += n;
          allocs++;
          void* p = std::malloc(n);
          sizes[p] = n;
          return p;
        },
        [this](void* p) {
          frees++;
          live -= sizes[p];
          sizes.erase(p);
          std::free(p);
        });
  }
};

TEST(Allocator, RoundSize) {
  EXPECT_EQ(CachingAllocator::round_size(1), 512u);
  EXPECT_EQ(CachingAllocator::round_size(512), 512u);
  EXPECT_EQ(CachingAllocator::round_size(513), 640u);   // 512 + 512/4
  EXPECT_EQ(CachingAllocator::round_size(1024), 1024u);
  EXPECT_EQ(CachingAllocator::round_size(1025), 1280u);
  for (size_t n : {700u, 5000u, 123457u, 9999999u}) {
    size_t r = CachingAllocator::round_size(n);
    EXPECT_GE(r, n);
    EXPECT_LE(r, n + n / 4 + 1);
  }
}

TEST(Allocator, SteadyStateMakesNoRawAllocations) {
  CountingBackend be;
  CachingAllocator a = be.make();
  // One "training step": a fixed pattern of sizes, all released at the end.
  auto step = [&] {
    std::vector<void*> ps;
    for (size_t n : {100u, 4096u, 4096u, 70000u, 3u << 20}) ps.push_back(a.allocate(n));
    for (void* p : ps) a.release(p);
  };
  step();
  const int after_first = be.allocs;
  EXPECT_EQ(after_first, 5);
  for (int i = 0; i < 10; ++i) step();
  EXPECT_EQ(be.allocs, after_first) << "the steady state must be served from the cache";
  AllocatorStats s = a.stats();
  EXPECT_EQ(s.requests, 55);
  EXPECT_EQ(s.cache_hits, 50);
  EXPECT_EQ(s.bytes_in_use, 0u);
  a.empty_cache();
  EXPECT_EQ(be.frees, 5);
}

// Best fit: the smallest cached block that holds the request, up to 1.5 times
// its rounded size (twice from CachingAllocator::kLargeBlock up); a smaller
// request than that gets a fresh block.
TEST(Allocator, ReusesTheSmallestLargerBlockWithinTheLimit) {
  CountingBackend be;
  CachingAllocator a = be.make();
  void* big = a.allocate(8192);
  void* mid = a.allocate(5120);
  a.release(big);
  a.release(mid);
  EXPECT_EQ(be.allocs, 2);
  void* p = a.allocate(4096);  // 5120 fits within 1.5x; 8192 would not
  EXPECT_EQ(p, mid);
  EXPECT_EQ(a.stats().bytes_in_use, 5120u) << "in use counts the block, not the request";
  void* q = a.allocate(4096);  // only 8192 is left: more than 1.5x, so a new block
  EXPECT_NE(q, big);
  EXPECT_EQ(be.allocs, 3);
  void* r = a.allocate(6000);  // class 6144: 8192 is within 1.5x
  EXPECT_EQ(r, big);
  for (void* x : {p, q, r}) a.release(x);

  // Large blocks: up to twice.
  const size_t L = CachingAllocator::kLargeBlock;
  void* huge = a.allocate(L / 4 * 7);  // a size class of its own (1.75 L)
  a.release(huge);
  const int before = be.allocs;
  void* s = a.allocate(L);  // 1.75x, from kLargeBlock up: taken
  EXPECT_EQ(s, huge);
  a.release(s);
  void* t = a.allocate(L / 8 * 7);  // below kLargeBlock, and the block is 2x: a new block
  EXPECT_NE(t, huge);
  EXPECT_EQ(be.allocs, before + 1);
  a.release(t);
  EXPECT_EQ(a.stats().bytes_in_use, 0u);
}

TEST(Allocator, OutOfMemoryEmptiesTheCacheAndRetries) {
  CountingBackend be;
  be.limit = 4096;
  CachingAllocator a = be.make();
  void* p = a.allocate(2048);
  a.release(p);  // cached, still counted against the backend's limit
  void* q = a.allocate(3000);  // needs the cached block's memory back
  EXPECT_NE(q, nullptr);
  EXPECT_EQ(be.frees, 1);
  a.release(q);
  EXPECT_THROW(a.allocate(1 << 20), Error);
}

// A private pool (CUDA graphs): what the captured work allocated or released
// stays out of the shared cache until the pool is released.
TEST(Allocator, APrivatePoolKeepsItsBlocksUntilReleased) {
  CountingBackend be;
  CachingAllocator a = be.make();
  void* before = a.allocate(4096);  // shared, made before the capture
  void* kept = a.allocate(8192);    // shared, still alive after it
  const int pool = a.begin_pool();
  EXPECT_GT(pool, 0);
  EXPECT_EQ(a.recording_pool(), pool);
  a.release(before);               // released during the capture: the pool adopts it
  void* scratch = a.allocate(4096);  // served from the pool's own free blocks
  EXPECT_EQ(scratch, before);
  void* out = a.allocate(1024);    // fresh, the pool's; stays alive (a graph's output)
  void* temp = a.allocate(65536);  // fresh, the pool's
  a.release(scratch);
  a.release(temp);
  a.end_pool();
  EXPECT_EQ(a.recording_pool(), 0);
  EXPECT_EQ(be.allocs, 4);

  // Between replays: no request gets the pool's blocks, and emptying the
  // cache frees none of them.
  void* x = a.allocate(4096);
  void* y = a.allocate(65536);
  EXPECT_NE(x, before);
  EXPECT_NE(y, temp);
  EXPECT_EQ(be.allocs, 6);
  a.release(x);
  a.release(y);
  a.empty_cache();
  EXPECT_EQ(be.frees, 2) << "only the shared blocks x and y";
  a.release(kept);  // made before the pool: shared
  a.release(out);   // the pool's: back to the pool
  a.empty_cache();
  EXPECT_EQ(be.frees, 3) << "kept, and nothing of the pool's";

  // The graph is gone: its blocks are shared again.
  a.release_pool(pool);
  const int allocs = be.allocs;
  void* z = a.allocate(65536);
  EXPECT_EQ(z, temp);
  EXPECT_EQ(be.allocs, allocs);
  a.release(z);
  a.empty_cache();
  EXPECT_EQ(be.frees, 6) << "before, out and temp";
  EXPECT_EQ(a.stats().bytes_in_use, 0u);
  EXPECT_EQ(a.stats().bytes_cached, 0u);
}

// A block of a pool still alive when the pool is released goes to the shared
// cache when it is released; a second pool cannot start while one records.
TEST(Allocator, APoolsLiveBlocksAreSharedAfterItIsReleased) {
  CountingBackend be;
  CachingAllocator a = be.make();
  const int pool = a.begin_pool();
  EXPECT_THROW(a.begin_pool(), Error);
  void* out = a.allocate(2048);
  a.end_pool();
  a.release_pool(pool);
  a.release(out);
  a.empty_cache();
  EXPECT_EQ(be.frees, 1);
  const int second = a.begin_pool();
  EXPECT_NE(second, pool);
  a.end_pool();
  a.release_pool(second);
}

TEST(Allocator, ReleaseOfAForeignPointerIsAnError) {
  CountingBackend be;
  CachingAllocator a = be.make();
  int x = 0;
  EXPECT_THROW(a.release(&x), Error);
}

TEST(Allocator, CpuTensorsReuseMemory) {
  // Warm up, then make and drop tensors of one shape: no new raw allocation.
  { Tensor t = Tensor::empty({64, 64}); }
  const int64_t before = cpu_allocator().stats().raw_allocs;
  for (int i = 0; i < 20; ++i) Tensor t = Tensor::empty({64, 64});
  EXPECT_EQ(cpu_allocator().stats().raw_allocs, before);
}

// Inside HugePagesGuard, a fresh CPU block of 2 MiB or more starts on a 2 MiB
// boundary (the huge-page advice itself is the kernel's business); the guard
// restores the previous setting when it ends, nested or not.
TEST(Allocator, HugePagesGuardAlignsFreshLargeCpuBlocks) {
  const size_t kHuge = size_t(2) << 20;
  cpu_allocator().empty_cache();  // so that the blocks below are fresh
  {
    HugePagesGuard huge_pages;
    {
      HugePagesGuard nested;
    }
    Tensor t = Tensor::empty({(int64_t)(5 * kHuge / 4) + 7});  // 5 MiB of floats and a bit
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw_data()) % kHuge, 0u);
    Tensor small = Tensor::empty({1000});  // below 2 MiB: an ordinary block
    EXPECT_EQ(reinterpret_cast<uintptr_t>(small.raw_data()) % 64, 0u);
  }
  cpu_allocator().empty_cache();
  // Outside the guard, fresh large blocks come from aligned_alloc(64): at
  // least one of a few is off a 2 MiB boundary.
  std::vector<Tensor> plain;
  bool any_unaligned = false;
  for (int i = 0; i < 4; ++i) {
    plain.push_back(Tensor::empty({(int64_t)(5 * kHuge / 4) + 7}));
    any_unaligned = any_unaligned || reinterpret_cast<uintptr_t>(plain.back().raw_data()) % kHuge != 0;
  }
  EXPECT_TRUE(any_unaligned);
}

TEST(AllocatorCuda, TrainingLikeLoopMakesNoCudaMallocInSteadyState) {
  REQUIRE_CUDA();
  Rng rng(1);
  Tensor w = randn({8, 32}, rng).to(Device::CUDA).set_requires_grad();
  auto step = [&] {
    Tensor x = randn({8, 32}, rng).to(Device::CUDA);
    Tensor y = scale(relu(add(x.reshape({8, 32}), w)), 0.5);
    y.backward(Tensor::ones(y.shape(), DType::F32, Device::CUDA));
  };
  step();
  step();
  const int64_t before = cuda_allocator().stats().raw_allocs;
  for (int i = 0; i < 10; ++i) step();
  EXPECT_EQ(cuda_allocator().stats().raw_allocs, before);
}

}  // namespace
}  // namespace skinmtl
