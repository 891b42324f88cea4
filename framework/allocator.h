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
// (at most 25% waste). A request is served by the smallest cached block of at
// least its rounded size and at most twice it from kLargeBlock up, 1.5 times
// it below (best fit); blocks are never split or merged, which is simpler
// than PyTorch's allocator. Exact sizes only kept a block of every size a
// forward pass ever freed. Peak RSS (bench_cpu), exact -> best fit: ResNet-50
// forward batch 20 918 -> 784 MB, training step batch 20 2438 -> 2383 MB,
// Yang et al.'s step 1267 -> 1256 MB, Song et al.'s iteration 1296 -> 1285
// MB (trunk + FPN 929 -> 938). A factor 2 for every size made the training
// steps 2-3% larger (a step's small requests took the blocks its later large
// ones needed); 4 or no limit, worse still.
//
// When the raw allocation fails, the cache is emptied and the allocation tried
// once more before reporting out-of-memory (except while a private pool
// records, below).
//
// Stream safety: all CUDA work runs on one stream (kernels/device.h), so a
// block freed here and reused by the next op is ordered after its last use.
//
// Private pools, for CUDA graphs (framework/cuda_graph.h). A captured graph
// replays on the device addresses of its capture, so every block the captured
// work touched must stay out of other hands until the graph is destroyed: a
// tensor made between two replays in such a block would be overwritten by the
// next replay. A pool keeps them apart:
//
//   const int pool = a.begin_pool();  // from here, blocks handed out belong to the
//   ... capture ...                   //   pool, and so does every block released
//   a.end_pool();                     // its blocks stay out of the shared cache:
//   ... replays ...                   //   one released later goes back to the pool
//   a.release_pool(pool);             // the graph is gone: its blocks are shared again
//
// While a pool records, a request is served from the pool's free blocks first,
// then from the shared cache, then fresh. empty_cache() frees shared blocks
// only. One pool records at a time, and only the thread that captures should
// allocate from this allocator meanwhile (the GPU's allocator: the loader's
// threads allocate on the CPU's).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
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
  size_t bytes_cached = 0;     // sitting in the free lists (the private pools' too)
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
  void empty_cache();            // give every cached block back (except the private pools')
  AllocatorStats stats() const;
  void reset_peak();

  // Private pools (see the top of this file). Pool ids are positive.
  int begin_pool();
  void end_pool();
  void release_pool(int pool);
  int recording_pool() const;  // 0 when none records

  static size_t round_size(size_t bytes);
  static constexpr size_t kLargeBlock = size_t(16) << 20;  // best fit up to 2x from here, 1.5x below

 private:
  std::string name_;
  RawAlloc raw_alloc_;
  RawFree raw_free_;
  mutable std::mutex mu_;
  using FreeLists = std::map<size_t, std::vector<void*>>;  // block size -> cached blocks (none empty)
  struct Block {
    size_t size;
    int pool;  // 0: shared
  };
  FreeLists free_lists_;                       // the shared cache
  std::map<int, FreeLists> pools_;             // each private pool's free blocks
  std::unordered_map<void*, Block> live_;      // blocks handed out
  int recording_ = 0, next_pool_ = 1;
  AllocatorStats stats_;

  void empty_cache_locked();
  // Best fit in `lists` (see the header): a block, or nullptr; `size` becomes its size.
  static void* take(FreeLists& lists, size_t& size);
  // A pool's free blocks into the shared cache (lists is left empty); mu_ held.
  void move_to_shared(FreeLists& lists);
};

// In its scope (this thread), fresh CPU blocks of 2 MiB and more get
// transparent huge pages: 2 MiB aligned, madvise(MADV_HUGEPAGE). For memory
// that is written whole at once and kept, as a checkpoint's tensors and the
// parameters they are copied into: a fresh 100 MB then takes ~50 page faults
// instead of ~25,000, and on a virtual machine those faults were most of the
// time of loading ResNet-50 (0.7-0.95 s without, 0.2 s with). Not the
// default: a block written only in part (an activation buffer that a smaller
// tensor reuses) then grows by whole 2 MiB pages, and the kernel's
// khugepaged fills in the untouched rest of advised ranges; for every block
// it added 15-65 MB to the training steps' peak RSS.
class HugePagesGuard {
 public:
  HugePagesGuard();
  ~HugePagesGuard();
  HugePagesGuard(const HugePagesGuard&) = delete;
  HugePagesGuard& operator=(const HugePagesGuard&) = delete;

 private:
  bool prev_;
};

// The process-wide allocators. CPU memory is 64-byte aligned.
CachingAllocator& cpu_allocator();
CachingAllocator& cuda_allocator();  // throws in a CPU-only build

}  // namespace skinmtl
