#include "framework/allocator.h"

#include <sys/mman.h>

#include <cstdlib>

#include "base/check.h"
#if SKINMTL_CUDA
#include "kernels/device.h"
#endif

namespace skinmtl {

CachingAllocator::CachingAllocator(std::string name, RawAlloc raw_alloc, RawFree raw_free)
    : name_(std::move(name)), raw_alloc_(std::move(raw_alloc)), raw_free_(std::move(raw_free)) {}

CachingAllocator::~CachingAllocator() {
  // Process teardown: the CUDA context may already be gone, so give back what
  // we can and ignore failures rather than throw from a destructor.
  try {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, lists] : pools_) move_to_shared(lists);
    pools_.clear();
    empty_cache_locked();
  } catch (...) {
  }
}

size_t CachingAllocator::round_size(size_t bytes) {
  if (bytes <= 512) return 512;
  size_t p = 1;
  while (p * 2 <= bytes) p *= 2;  // largest power of two <= bytes
  size_t step = p / 4;
  return (bytes + step - 1) / step * step;
}

void* CachingAllocator::take(FreeLists& lists, size_t& size) {
  // Best fit: the smallest cached block of at least `size` bytes, if it is not
  // too much larger (see the header).
  auto it = lists.lower_bound(size);
  const size_t most = size >= kLargeBlock ? 2 * size : size + size / 2;
  if (it == lists.end() || it->first > most) return nullptr;
  size = it->first;
  void* ptr = it->second.back();
  it->second.pop_back();
  if (it->second.empty()) lists.erase(it);
  return ptr;
}

void CachingAllocator::move_to_shared(FreeLists& lists) {
  for (auto& [size, blocks] : lists) {
    auto& shared = free_lists_[size];
    shared.insert(shared.end(), blocks.begin(), blocks.end());
  }
  lists.clear();
}

void* CachingAllocator::allocate(size_t bytes) {
  const size_t size = round_size(bytes);
  std::lock_guard<std::mutex> lock(mu_);
  stats_.requests++;
  size_t block = size;
  // A recording pool's own free blocks first, then the shared cache.
  void* ptr = recording_ ? take(pools_[recording_], block) : nullptr;
  if (!ptr) {
    block = size;
    ptr = take(free_lists_, block);
  }
  if (ptr) {
    stats_.cache_hits++;
    stats_.bytes_cached -= block;
  } else {
    block = size;
    ptr = raw_alloc_(size);
    if (!ptr && recording_ == 0) {  // out of memory: give the cache back and try once more
      // (not while a pool records: a CUDA graph capture, which cudaFree's
      // implicit synchronisation would break; the capture fails instead)
      empty_cache_locked();
      ptr = raw_alloc_(size);
    }
    SKINMTL_CHECK(ptr, name_ << " allocator: out of memory allocating " << size << " bytes ("
                             << stats_.bytes_in_use << " bytes in use)");
    stats_.raw_allocs++;
  }
  live_[ptr] = Block{block, recording_};
  stats_.bytes_in_use += block;
  if (stats_.bytes_in_use > stats_.peak_bytes_in_use) stats_.peak_bytes_in_use = stats_.bytes_in_use;
  return ptr;
}

void CachingAllocator::release(void* ptr) {
  if (!ptr) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = live_.find(ptr);
  SKINMTL_CHECK(it != live_.end(), name_ << " allocator: release of a pointer it did not allocate");
  const Block b = it->second;
  live_.erase(it);
  stats_.bytes_in_use -= b.size;
  stats_.bytes_cached += b.size;
  // A recording pool adopts the shared blocks released into it: the captured
  // work may have used them before it let them go.
  const int pool = b.pool == 0 ? recording_ : b.pool;
  (pool == 0 ? free_lists_ : pools_[pool])[b.size].push_back(ptr);
}

int CachingAllocator::begin_pool() {
  std::lock_guard<std::mutex> lock(mu_);
  SKINMTL_CHECK(recording_ == 0, name_ << " allocator: pool " << recording_ << " is still recording");
  recording_ = next_pool_++;
  pools_[recording_];
  return recording_;
}

void CachingAllocator::end_pool() {
  std::lock_guard<std::mutex> lock(mu_);
  recording_ = 0;
}

int CachingAllocator::recording_pool() const {
  std::lock_guard<std::mutex> lock(mu_);
  return recording_;
}

void CachingAllocator::release_pool(int pool) {
  std::lock_guard<std::mutex> lock(mu_);
  if (recording_ == pool) recording_ = 0;
  auto it = pools_.find(pool);
  if (it == pools_.end()) return;
  move_to_shared(it->second);
  pools_.erase(it);
  for (auto& [ptr, b] : live_)  // still in use: shared when released
    if (b.pool == pool) b.pool = 0;
}

void CachingAllocator::empty_cache_locked() {
  for (auto& kv : free_lists_) {
    for (void* p : kv.second) {
      raw_free_(p);
      stats_.raw_frees++;
      stats_.bytes_cached -= kv.first;
    }
  }
  free_lists_.clear();
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mu_);
  empty_cache_locked();
}

AllocatorStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void CachingAllocator::reset_peak() {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.peak_bytes_in_use = stats_.bytes_in_use;
}

namespace {

thread_local bool t_huge_pages = false;

// Fresh CPU memory: 64-byte aligned (a cache line, an AVX-512 register).
// Inside a HugePagesGuard, blocks of 2 MiB and more start on a 2 MiB boundary
// and ask the kernel for transparent huge pages over their whole 2 MiB pages
// (madvise; the kernel honours it where it is set to "madvise" or "always",
// elsewhere the advice does nothing).
void* cpu_raw_alloc(size_t n) {  // n is a multiple of 512 (round_size)
  constexpr size_t kHugePage = size_t(2) << 20;
  if (!t_huge_pages || n < kHugePage) return std::aligned_alloc(64, n);
  void* p = nullptr;
  if (posix_memalign(&p, kHugePage, n) != 0) return nullptr;
  madvise(p, n / kHugePage * kHugePage, MADV_HUGEPAGE);  // advice: its failure is harmless
  return p;
}

}  // namespace

HugePagesGuard::HugePagesGuard() : prev_(t_huge_pages) { t_huge_pages = true; }
HugePagesGuard::~HugePagesGuard() { t_huge_pages = prev_; }

CachingAllocator& cpu_allocator() {
  // Leaked on purpose: tensors in static storage may outlive a static allocator.
  static CachingAllocator* a =
      new CachingAllocator("CPU", cpu_raw_alloc, [](void* p) { std::free(p); });
  return *a;
}

CachingAllocator& cuda_allocator() {
#if SKINMTL_CUDA
  static CachingAllocator* a =
      new CachingAllocator("CUDA", cuda::malloc_raw, cuda::free_raw);
  return *a;
#else
  SKINMTL_FAIL("this build has no CUDA support (built with CUDA=0 or without nvcc)");
#endif
}

}  // namespace skinmtl
