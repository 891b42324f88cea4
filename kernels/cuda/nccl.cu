// NCCL collectives: see kernels/collective.h.
#include "kernels/collective.h"
#include "kernels/cuda/check.cuh"
#include "kernels/device.h"

#include <cstring>

#if SKINMTL_NCCL
#include <nccl.h>

#define NCCL_CHECK(call)                                                                   \
  do {                                                                                     \
    ncclResult_t r_ = (call);                                                              \
    if (r_ != ncclSuccess)                                                                 \
      ::skinmtl::fail_at(__FILE__, __LINE__,                                               \
                         std::string("NCCL error: ") + ncclGetErrorString(r_) + " in " #call); \
  } while (0)

static_assert(skinmtl::cuda::kNcclIdBytes == NCCL_UNIQUE_ID_BYTES, "NCCL's unique id size changed");
#endif

namespace skinmtl::cuda {

int device_count() {
  int n = 0;
  CUDA_CHECK(cudaGetDeviceCount(&n));
  return n;
}

void set_device(int device) { CUDA_CHECK(cudaSetDevice(device)); }

#if SKINMTL_NCCL

struct NcclComm {
  ncclComm_t comm;
};

bool nccl_available() { return true; }

void nccl_unique_id(uint8_t id[kNcclIdBytes]) {
  ncclUniqueId u;
  NCCL_CHECK(ncclGetUniqueId(&u));
  std::memcpy(id, u.internal, kNcclIdBytes);
}

NcclComm* nccl_init(const uint8_t id[kNcclIdBytes], int nranks, int rank) {
  ncclUniqueId u;
  std::memcpy(u.internal, id, kNcclIdBytes);
  auto* c = new NcclComm;
  NCCL_CHECK(ncclCommInitRank(&c->comm, nranks, u, rank));
  return c;
}

void nccl_destroy(NcclComm* c) {
  if (!c) return;
  ncclCommDestroy(c->comm);
  delete c;
}

void nccl_all_reduce_sum_f32(NcclComm* c, float* buf, size_t n) {
  NCCL_CHECK(ncclAllReduce(buf, buf, n, ncclFloat32, ncclSum, c->comm, stream()));
}

void nccl_all_reduce_sum_f64(NcclComm* c, double* buf, size_t n) {
  NCCL_CHECK(ncclAllReduce(buf, buf, n, ncclFloat64, ncclSum, c->comm, stream()));
}

void nccl_broadcast_bytes(NcclComm* c, void* buf, size_t bytes, int root) {
  NCCL_CHECK(ncclBroadcast(buf, buf, bytes, ncclUint8, root, c->comm, stream()));
}

#else  // CUDA without NCCL: framework/distributed.cpp stages GPU tensors through the host

bool nccl_available() { return false; }
void nccl_unique_id(uint8_t*) { fail_at(__FILE__, __LINE__, "built without NCCL"); }
NcclComm* nccl_init(const uint8_t*, int, int) { fail_at(__FILE__, __LINE__, "built without NCCL"); }
void nccl_destroy(NcclComm*) {}
void nccl_all_reduce_sum_f32(NcclComm*, float*, size_t) { fail_at(__FILE__, __LINE__, "built without NCCL"); }
void nccl_all_reduce_sum_f64(NcclComm*, double*, size_t) { fail_at(__FILE__, __LINE__, "built without NCCL"); }
void nccl_broadcast_bytes(NcclComm*, void*, size_t, int) { fail_at(__FILE__, __LINE__, "built without NCCL"); }

#endif

}  // namespace skinmtl::cuda
