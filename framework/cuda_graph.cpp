#include "framework/cuda_graph.h"

#include <exception>
#include <exception>

#include "base/check.h"
#include "framework/allocator.h"
#if SKINMTL_CUDA
#include "kernels/device.h"
#endif

namespace skinmtl {

namespace {

// The text of the exception being handled, whatever its type.
std::string current_exception_text() {
  try {
    throw;
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "an exception that is not a std::exception";
  }
}

}  // namespace

void prepare_cuda_graphs() {
#if SKINMTL_CUDA
  static void* workspace = nullptr;
  if (workspace) return;
  const size_t bytes = size_t(32) << 20;
  workspace = cuda::malloc_raw(bytes);
  SKINMTL_CHECK(workspace, "no GPU memory for cuBLAS's workspace (" << bytes << " bytes)");
  cuda::set_cublas_workspace(workspace, bytes);
#else
  SKINMTL_FAIL("this build has no CUDA support: CUDA graphs need it");
#endif
}

CudaGraph::~CudaGraph() {
  try {
    reset();
  } catch (...) {  // process teardown: the context may be gone
  }
}

std::string CudaGraph::capture(const std::function<void()>& work) {
  reset();
#if SKINMTL_CUDA
  std::string why;
  CachingAllocator& a = cuda_allocator();
  try {
    prepare_cuda_graphs();
    pool_ = a.begin_pool();
    cuda::capture_begin();
    try {
      work();
      exec_ = cuda::capture_end();
    } catch (...) {
      cuda::capture_abort();
      throw;
    }
  } catch (...) {
    why = current_exception_text();
  }
  if (a.recording_pool() == pool_) a.end_pool();
  if (!exec_ && pool_) {
    a.release_pool(pool_);
    pool_ = 0;
  }
  if (why.empty() && !exec_) why = "the capture made no graph";
  return why;
#else
  (void)work;
  return "this build has no CUDA support";
#endif
}

void CudaGraph::replay() {
  SKINMTL_CHECK(exec_, "CudaGraph::replay: nothing was captured");
#if SKINMTL_CUDA
  cuda::graph_launch(exec_);
#endif
  ++replays_;
}

void CudaGraph::reset() {
#if SKINMTL_CUDA
  if (exec_) {
    cuda_graph_exec_t e = exec_;
    exec_ = nullptr;
    cuda::graph_destroy(e);
  }
  if (pool_) {
    cuda_allocator().release_pool(pool_);
    pool_ = 0;
  }
#endif
  replays_ = 0;
}

}  // namespace skinmtl
