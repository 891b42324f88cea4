// kernels/cuda/device.cu: the stream, the library handles and raw memory.
#include "kernels/cuda/check.cuh"
#include "kernels/device.h"

#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace skinmtl::cuda {

namespace {

struct Probe {
  bool ok = false;
  std::string problem;  // why CUDA could not start, "" for "no GPU here"
};

bool driver_library_installed() {
  void* h = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
  if (!h) return false;
  dlclose(h);
  return true;
}

const Probe& probe() {
  static const Probe p = [] {
    Probe r;
    int n = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    if (e == cudaSuccess) {
      r.ok = n > 0;
      return r;
    }
    cudaGetLastError();  // clear the sticky error
    const bool no_gpu = e == cudaErrorNoDevice || (e == cudaErrorInsufficientDriver && !driver_library_installed());
    if (!no_gpu) {
      r.problem = std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
      std::fprintf(stderr, "skinmtl: CUDA cannot start (%s); running without a GPU\n", r.problem.c_str());
    }
    return r;
  }();
  return p;
}

}  // namespace

bool available() { return probe().ok; }
const char* status() { return probe().problem.c_str(); }

void* malloc_raw(size_t bytes) {
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, bytes);
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    return nullptr;
  }
  CUDA_CHECK(e);
  return p;
}

void free_raw(void* ptr) { CUDA_CHECK(cudaFree(ptr)); }

cuda_stream_t stream() {
  static cudaStream_t s = [] {
    cudaStream_t t;
    CUDA_CHECK(cudaStreamCreateWithFlags(&t, cudaStreamNonBlocking));
    return t;
  }();
  return s;
}

void synchronize() { CUDA_CHECK(cudaStreamSynchronize(stream())); }

void capture_begin() { CUDA_CHECK(cudaStreamBeginCapture(stream(), cudaStreamCaptureModeRelaxed)); }

cuda_graph_exec_t capture_end() {
  cudaGraph_t graph = nullptr;
  CUDA_CHECK(cudaStreamEndCapture(stream(), &graph));
  cudaGraphExec_t exec = nullptr;
  const cudaError_t e = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);  // the executable graph is a copy
  CUDA_CHECK(e);
  return exec;
}

void capture_abort() noexcept {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  if (cudaStreamIsCapturing(stream(), &status) == cudaSuccess && status != cudaStreamCaptureStatusNone) {
    cudaGraph_t graph = nullptr;
    if (cudaStreamEndCapture(stream(), &graph) == cudaSuccess && graph) cudaGraphDestroy(graph);
  }
  cudaGetLastError();  // the interrupted capture's error is the exception's
}

void graph_launch(cuda_graph_exec_t graph) { CUDA_CHECK(cudaGraphLaunch(graph, stream())); }

void graph_destroy(cuda_graph_exec_t graph) {
  if (graph) CUDA_CHECK(cudaGraphExecDestroy(graph));
}

void set_cublas_workspace(void* workspace, size_t bytes) {
  CUBLAS_CHECK(cublasSetWorkspace(cublas_handle(), workspace, bytes));
}

namespace {

// Pinned (page-locked) host buffers that host-to-device copies are staged
// through. The caller's source is pageable memory it may free or overwrite
// as soon as memcpy_h2d returns, so the bytes are first copied into a
// staging buffer; the DMA from there runs on stream() while the host goes on,
// and an event recorded after it tells when the buffer is free again. Without
// staging the copy would have to wait for everything queued before it (a
// whole training step) before returning.
//
// Buffers are kept for the whole process, up to kMaxPinnedBytes in all, each
// of up to kMaxStagedBytes (memcpy_h2d cuts a larger copy into pieces of that
// size). A copy takes, in this order:
//  1. the smallest idle buffer that holds it (small copies leave the large
//     buffers to large ones);
//  2. a new buffer, while the total stays within kMaxPinnedBytes: a step that
//     uploads several large pieces while the previous step's copies are still
//     queued gets a buffer for each, and never waits;
//  3. of the busy buffers that hold it, the one whose copy was queued first,
//     after waiting for that copy (the copies finish in the order queued, so
//     it is the shortest wait);
//  4. none holds it and there is no room for a new one: buffers freed,
//     smallest first (each after its copy), until a new one fits the budget
//     (freeing page-locked memory waits for the device, so this happens only
//     while a run's upload sizes still grow).
// Only 3 and 4 wait; with a budget several times a step's uploads (Liao &
// Luo's batch 256: 154 MB), a training loop never gets there. A failed
// cudaHostAlloc lowers the budget to what is held (step 2 stops trying); a
// piece that still finds no buffer takes the plain path (copy, then wait).
class StagingRing {
 public:
  static constexpr size_t kMaxStagedBytes = size_t(64) << 20;
  static constexpr size_t kMaxPinnedBytes = size_t(512) << 20;
  static_assert(kMaxStagedBytes <= kMaxPinnedBytes, "a piece must fit the budget");

  // Copies `bytes` from `src` to device `dst` on stream(); false when it
  // cannot stage them (the caller then copies and waits).
  bool copy(void* dst, const void* src, size_t bytes) {
    if (bytes > kMaxStagedBytes) return false;
    std::lock_guard<std::mutex> lock(mu_);
    Slot* slot = free_slot(bytes);
    if (!slot) return false;
    std::memcpy(slot->host, src, bytes);
    CUDA_CHECK(cudaMemcpyAsync(dst, slot->host, bytes, cudaMemcpyHostToDevice, stream()));
    CUDA_CHECK(cudaEventRecord(slot->done, stream()));
    slot->used = true;
    slot->queued = ++queued_;
    return true;
  }

  // Frees every buffer, after waiting for the device.
  void release() {
    std::lock_guard<std::mutex> lock(mu_);
    synchronize();
    while (!slots_.empty()) drop(slots_.begin());
    limit_ = kMaxPinnedBytes;
  }

 private:
  struct Slot {
    void* host = nullptr;
    size_t bytes = 0;
    cudaEvent_t done = nullptr;
    bool used = false;    // `done` was recorded (it may still be pending)
    uint64_t queued = 0;  // when its last copy was queued (a count of copies)
  };

  // What a buffer for `bytes` gets: whole MiB, 1 MiB at least.
  static size_t rounded(size_t bytes) {
    const size_t mib = size_t(1) << 20;
    return std::max(mib, (bytes + mib - 1) / mib * mib);
  }

  // A new slot with a page-locked buffer for `bytes`; nullptr when
  // cudaHostAlloc fails (the budget is then lowered to what is held).
  Slot* new_slot(size_t bytes) {
    Slot s;
    s.bytes = rounded(bytes);
    CUDA_CHECK(cudaEventCreateWithFlags(&s.done, cudaEventDisableTiming));
    if (cudaHostAlloc(&s.host, s.bytes, cudaHostAllocDefault) != cudaSuccess) {
      cudaGetLastError();
      cudaEventDestroy(s.done);
      limit_ = total_;
      return nullptr;
    }
    total_ += s.bytes;
    slots_.push_back(s);
    return &slots_.back();
  }

  // Frees a slot's buffer and event, after its copy (waits for the device).
  void drop(std::deque<Slot>::iterator it) {
    if (it->used) CUDA_CHECK(cudaEventSynchronize(it->done));
    CUDA_CHECK(cudaFreeHost(it->host));
    CUDA_CHECK(cudaEventDestroy(it->done));
    total_ -= it->bytes;
    slots_.erase(it);
  }

  bool idle(const Slot& s) const {
    if (!s.used) return true;
    const cudaError_t e = cudaEventQuery(s.done);
    if (e == cudaErrorNotReady) {
      cudaGetLastError();  // not an error: the copy is still queued
      return false;
    }
    CUDA_CHECK(e);
    return true;
  }

  // A buffer of at least `bytes` whose last copy has finished (the order in
  // the class's comment); nullptr when page-locked memory cannot be had.
  Slot* free_slot(size_t bytes) {
    Slot* best = nullptr;
    for (Slot& s : slots_)
      if (s.bytes >= bytes && (!best || s.bytes < best->bytes) && idle(s)) best = &s;
    if (best) return best;
    if (total_ + rounded(bytes) <= limit_)
      if (Slot* s = new_slot(bytes)) return s;
    Slot* oldest = nullptr;
    for (Slot& s : slots_)
      if (s.bytes >= bytes && (!oldest || s.queued < oldest->queued)) oldest = &s;
    if (oldest) {
      CUDA_CHECK(cudaEventSynchronize(oldest->done));
      return oldest;
    }
    while (!slots_.empty() && total_ + rounded(bytes) > limit_)
      drop(std::min_element(slots_.begin(), slots_.end(),
                            [](const Slot& a, const Slot& b) { return a.bytes < b.bytes; }));
    return new_slot(bytes);
  }

  std::mutex mu_;
  std::deque<Slot> slots_;  // a deque: growing it moves no Slot
  size_t total_ = 0;        // page-locked bytes held by slots_
  size_t limit_ = kMaxPinnedBytes;  // lowered to total_ when cudaHostAlloc fails
  uint64_t queued_ = 0;     // copies queued so far
};

StagingRing& staging() {
  static auto* ring = new StagingRing();  // never destroyed (see plan_for in conv2d_cudnn.cu)
  return *ring;
}

}  // namespace

void memcpy_h2d(void* dst, const void* src, size_t bytes) {
  // In pieces of at most kMaxStagedBytes, each staged: a batch larger than one
  // slot (Liao & Luo's step at batch 256 uploads 154 MB of images) does not
  // wait for the queued step either.
  // A capture would record the DMA from a staging buffer that is reused
  // (or freed) right after, so replays would upload whatever lies there then.
  cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
  CUDA_CHECK(cudaStreamIsCapturing(stream(), &capturing));
  if (capturing != cudaStreamCaptureStatusNone)
    fail_at(__FILE__, __LINE__,
            "a host-to-device copy while a CUDA graph is captured: upload before capture_begin() "
            "and copy on the device inside the graph");
  const size_t most = StagingRing::kMaxStagedBytes;
  for (size_t done = 0; done < bytes; done += most) {
    const size_t n = std::min(most, bytes - done);
    void* to = static_cast<char*>(dst) + done;
    const void* from = static_cast<const char*>(src) + done;
    if (staging().copy(to, from, n)) continue;
    CUDA_CHECK(cudaMemcpyAsync(to, from, n, cudaMemcpyHostToDevice, stream()));
    // Not staged (no pinned memory to be had): the source is pageable host
    // memory the caller may free as soon as we return, so the copy must be
    // finished.
    synchronize();
  }
}

void release_staging() { staging().release(); }

namespace {
// The host function of queue_gate: holds the stream until the flag is set.
void CUDART_CB wait_for_gate(void* open) {
  const auto* flag = static_cast<const std::atomic<bool>*>(open);
  while (!flag->load(std::memory_order_acquire)) std::this_thread::sleep_for(std::chrono::microseconds(200));
}
}  // namespace

void queue_gate(const std::atomic<bool>* open) {
  CUDA_CHECK(cudaLaunchHostFunc(stream(), wait_for_gate, const_cast<std::atomic<bool>*>(open)));
}

void memcpy_d2h(void* dst, const void* src, size_t bytes) {
  CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream()));
  synchronize();
}

void* host_alloc_pinned(size_t bytes) {
  void* p = nullptr;
  if (cudaHostAlloc(&p, bytes, cudaHostAllocDefault) != cudaSuccess) {
    cudaGetLastError();
    return nullptr;
  }
  return p;
}

void host_free_pinned(void* ptr) {
  if (ptr) CUDA_CHECK(cudaFreeHost(ptr));
}

void memcpy_d2h_async(void* dst_pinned, const void* src, size_t bytes) {
  CUDA_CHECK(cudaMemcpyAsync(dst_pinned, src, bytes, cudaMemcpyDeviceToHost, stream()));
}

cuda_event_t event_create() {
  cudaEvent_t e = nullptr;
  CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  return e;
}

void event_destroy(cuda_event_t event) {
  if (event) CUDA_CHECK(cudaEventDestroy(event));
}

void event_record(cuda_event_t event) { CUDA_CHECK(cudaEventRecord(event, stream())); }

void event_wait(cuda_event_t event) { CUDA_CHECK(cudaEventSynchronize(event)); }

void memcpy_d2d(void* dst, const void* src, size_t bytes) {
  CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream()));
}

void memset_async(void* dst, int byte, size_t bytes) {
  CUDA_CHECK(cudaMemsetAsync(dst, byte, bytes, stream()));
}

size_t device_free_bytes() {
  size_t free_b = 0, total_b = 0;
  CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  return free_b;
}

namespace {
std::atomic<bool> g_tf32{false};
}  // namespace

void set_tf32(bool on) { g_tf32 = on; }
bool tf32() { return g_tf32; }

namespace {
std::atomic<int> g_conv_benchmark{-1};  // -1: not yet read from SKINMTL_CUDNN_BENCHMARK
}  // namespace

void set_conv_benchmark(bool on) { g_conv_benchmark = on ? 1 : 0; }
bool conv_benchmark() {
  if (g_conv_benchmark.load() < 0) {
    const char* v = std::getenv("SKINMTL_CUDNN_BENCHMARK");
    int expected = -1;  // a set_conv_benchmark() in between wins
    g_conv_benchmark.compare_exchange_strong(expected, v && *v && std::strcmp(v, "0") != 0 ? 1 : 0);
  }
  return g_conv_benchmark.load() == 1;
}

std::string cudnn_version() {
  // cuDNN 9 numbers its versions major * 10000 + minor * 100 + patch.
  auto text = [](size_t v) {
    return std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100);
  };
  return text(cudnnGetVersion()) + " (built against " + text(CUDNN_VERSION) + ")";
}

int compute_capability() {
  int dev = 0, major = 0, minor = 0;
  CUDA_CHECK(cudaGetDevice(&dev));
  CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
  CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev));
  return 10 * major + minor;
}

std::string describe_device() {
  int dev = 0;
  CUDA_CHECK(cudaGetDevice(&dev));
  cudaDeviceProp p;
  CUDA_CHECK(cudaGetDeviceProperties(&p, dev));
  char b[320];
  std::snprintf(b, sizeof b, "%s, compute capability %d.%d, %.0f GB", p.name, p.major, p.minor,
                (double)p.totalGlobalMem / 1e9);
  return b;
}

cublasHandle_t cublas_handle() {
  static cublasHandle_t h = [] {
    cublasHandle_t t;
    CUBLAS_CHECK(cublasCreate(&t));
    CUBLAS_CHECK(cublasSetStream(t, stream()));
    return t;
  }();
  // Plain FP32 math by default (results match the CPU reference to float
  // tolerance); TF32 tensor cores when set_tf32(true). Setting the mode is a
  // host-side flag on the handle, not a GPU call.
  CUBLAS_CHECK(cublasSetMathMode(h, tf32() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  return h;
}

cudnnHandle_t cudnn_handle() {
  static cudnnHandle_t h = [] {
    cudnnHandle_t t;
    CUDNN_CHECK(cudnnCreate(&t));
    CUDNN_CHECK(cudnnSetStream(t, stream()));
    return t;
  }();
  return h;
}

}  // namespace skinmtl::cuda
