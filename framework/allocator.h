// framework/allocator.h: a caching allocator, one per device.
//
// A training loop asks for the same buffer sizes every step. Going to
// cudaMalloc/cudaFree (or to the kernel for fresh pages on the CPU) each time
// costs far more than the kernels themselves, and cudaFree synchronises the
// device. So freed blocks are kept in per-size free lists and handed out again;
// in the steady state no raw allocation happens at all (tests check this
// through stats()).
//
// Sizes are rounded up so that near-equal requests share blocks: to 512 bytes
// for small ones, and above that to a quarter of the enclosing power of two
// (at most 25% waste). A request is served only by a block of exactly its
// rounded size; blocks are never split or merged. That is simpler than
// PyTorch's allocator and enough for the fixed shapes of these models.
//
// When the raw allocation fails, the cache is emptied and the allocation tried
// once more before reporting out-of-memory.
//
// Stream safety: all CUDA work runs on one stream (kernels/device.h), so a
// block freed here and reused by the next op is ordered after its last use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace skinmtl {

struct AllocatorStats {
  int64_t raw_allocs = 0;      // calls to the backing allocator
  int64_t raw_frees = 0;       // blocks given back to the backing allocator
  int64_t requests = 0;        // allocate() calls
  int64_t cache_hits = 0;      // requests served from the free lists
  size_t bytes_in_use = 0;     // handed out and not yet released
  size_t bytes_cached = 0;     // sitting in the free lists
  size_t peak_bytes_in_use = 0;
};

class CachingAllocator {
 public:
  using RawAlloc = std::function<void*(size_t)>;  // nullptr on out-of-memory
  using RawFree = std::function<void(void*)>;

  CachingAllocator(std::string name, RawAlloc raw_alloc, RawFree raw_free);
  ~CachingAllocator();
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  void* allocate(size_t bytes);  // throws skinmtl::Error when out of memory
  void release(void* ptr);       // back to the free list of its size
  void empty_cache();            // give every cached block back
  AllocatorStats stats() const;
  void reset_peak();

  static size_t round_size(size_t bytes);

 private:
  std::string name_;
  RawAlloc raw_alloc_;
  RawFree raw_free_;
  mutable std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> free_lists_;  // rounded size -> blocks
  std::unordered_map<void*, size_t> live_;                      // block -> rounded size
  AllocatorStats stats_;

  void empty_cache_locked();
};

// The process-wide allocators. CPU memory is 64-byte aligned.
CachingAllocator& cpu_allocator();
CachingAllocator& cuda_allocator();  // throws in a CPU-only build

}  // namespace skinmtl
