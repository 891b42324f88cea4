#include "framework/allocator.h"

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

void* CachingAllocator::allocate(size_t bytes) {
  const size_t size = round_size(bytes);
  std::lock_guard<std::mutex> lock(mu_);
  stats_.requests++;
  void* ptr = nullptr;
  auto it = free_lists_.find(size);
  if (it != free_lists_.end() && !it->second.empty()) {
    ptr = it->second.back();
    it->second.pop_back();
    stats_.cache_hits++;
    stats_.bytes_cached -= size;
  } else {
    ptr = raw_alloc_(size);
    if (!ptr) {  // out of memory: give the cache back and try once more
      empty_cache_locked();
      ptr = raw_alloc_(size);
    }
    SKINMTL_CHECK(ptr, name_ << " allocator: out of memory allocating " << size << " bytes ("
                             << stats_.bytes_in_use << " bytes in use)");
    stats_.raw_allocs++;
  }
  live_[ptr] = size;
  stats_.bytes_in_use += size;
  if (stats_.bytes_in_use > stats_.peak_bytes_in_use) stats_.peak_bytes_in_use = stats_.bytes_in_use;
  return ptr;
}

void CachingAllocator::release(void* ptr) {
  if (!ptr) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = live_.find(ptr);
  SKINMTL_CHECK(it != live_.end(), name_ << " allocator: release of a pointer it did not allocate");
  const size_t size = it->second;
  live_.erase(it);
  stats_.bytes_in_use -= size;
  stats_.bytes_cached += size;
  free_lists_[size].push_back(ptr);
}

void CachingAllocator::empty_cache_locked() {
  for (auto& kv : free_lists_) {
    for (void* p : kv.second) {
      raw_free_(p);
      stats_.raw_frees++;
    }
  }
  free_lists_.clear();
  stats_.bytes_cached = 0;
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

CachingAllocator& cpu_allocator() {
  // Leaked on purpose: tensors in static storage may outlive a static allocator.
  static CachingAllocator* a = new CachingAllocator(
      "CPU", [](size_t n) { return std::aligned_alloc(64, n); },  // n is a multiple of 512
      [](void* p) { std::free(p); });
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
