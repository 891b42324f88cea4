#include "framework/host_read.h"

#include <cstring>

#include "framework/dispatch.h"
#if SKINMTL_CUDA
#include "kernels/device.h"
#endif

namespace skinmtl {

HostRead::~HostRead() {
#if SKINMTL_CUDA
  // A destructor must not throw; a failure to free here is not worth a crash.
  try {
    if (done_) cuda::event_destroy(done_);
    if (pinned_) cuda::host_free_pinned(pinned_);
  } catch (...) {
  }
#endif
}

void HostRead::start(const Tensor& t) {
  SKINMTL_CHECK(t.defined(), "HostRead::start: the tensor is undefined");
  host_ = Tensor::empty(t.shape(), t.dtype());
  const size_t bytes = t.nbytes();
  from_gpu_ = t.device() == Device::CUDA && bytes > 0;
  if (!from_gpu_) {  // a CPU tensor (or nothing to copy)
    host_.copy_from(t);
    started_ = true;
    return;
  }
  SKINMTL_CUDA_ONLY({
    if (bytes > pinned_bytes_) {
      cuda::host_free_pinned(pinned_);
      pinned_ = cuda::host_alloc_pinned(bytes);
      SKINMTL_CHECK(pinned_, "HostRead: cannot allocate " << bytes << " bytes of page-locked host memory");
      pinned_bytes_ = bytes;
    }
    if (!done_) done_ = cuda::event_create();
    cuda::memcpy_d2h_async(pinned_, t.raw_data(), bytes);
    cuda::event_record(done_);
  });
  started_ = true;
}

std::vector<double> HostRead::values() {
  SKINMTL_CHECK(started_, "HostRead::values: no read was started (or its values were already taken)");
  started_ = false;
  if (from_gpu_) {
    SKINMTL_CUDA_ONLY({
      cuda::event_wait(done_);
      std::memcpy(host_.raw_data(), pinned_, host_.nbytes());
    });
  }
  return host_.to_vector();
}

}  // namespace skinmtl
