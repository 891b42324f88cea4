// kernels/collective.h: NCCL, the GPU side of data-parallel training, as plain
// C++ sees it (framework/distributed.h is the only caller).
//
// One communicator joins N processes, one GPU each. Its members agree on a
// 128-byte unique id that rank 0 makes and every other rank receives through
// MPI, then each calls nccl_init with its rank. The collectives run on the
// project's stream, cuda::stream(), so they are ordered after the kernels that
// produced their input and before those that read the result; they do not
// wait for the host.
//
//   all-reduce (sum): buf[i] <- sum over ranks of buf[i], on every rank
//   broadcast:        buf[i] <- root's buf[i], on every rank
//
// Built only when the CUDA build finds nccl.h (the Makefile sets SKINMTL_NCCL);
// nccl_available() says whether it was.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/common.h"

namespace skinmtl::cuda {

bool nccl_available();  // built with NCCL
constexpr size_t kNcclIdBytes = 128;  // NCCL_UNIQUE_ID_BYTES

struct NcclComm;  // opaque: a ncclComm_t

// Rank 0 calls this and sends the bytes to the others.
void nccl_unique_id(uint8_t id[kNcclIdBytes]);
// Collective: every rank of the job calls it, each with its own rank.
NcclComm* nccl_init(const uint8_t id[kNcclIdBytes], int nranks, int rank);
void nccl_destroy(NcclComm* comm);

// In place, on stream(); float32 or float64 device memory.
void nccl_all_reduce_sum_f32(NcclComm* comm, float* buf, size_t n);
void nccl_all_reduce_sum_f64(NcclComm* comm, double* buf, size_t n);
void nccl_broadcast_bytes(NcclComm* comm, void* buf, size_t bytes, int root);

// The number of visible GPUs, and the choice of one for this process (ranks
// on one machine take local_rank mod count). Both throw when CUDA cannot start.
int device_count();
void set_device(int device);

}  // namespace skinmtl::cuda
