// framework/distributed.h: data-parallel training across processes.
//
// N processes ("ranks"), started together by a launcher (mpirun, or Slurm's
// srun), each hold a whole copy of the model and train on their own part of
// every batch:
//
//     global batch of B images  ->  rank r takes images r*B/N ... (r+1)*B/N - 1
//                                   (io/batch_pipeline.h, "Shards")
//     each rank:   forward + loss (a mean over its B/N images) + backward
//     all ranks:   gradients <- mean over ranks          (average_gradients)
//     each rank:   the same SGD step on the same numbers -> the same weights
//
// Why the mean over ranks is the whole batch's gradient: the loss of the
// global batch is the mean of the N per-rank means (equal parts), and the
// gradient of a mean is the mean of the gradients. So N ranks compute the
// step one process computes on all B images, up to the order of float
// additions. Batch norm with batch statistics is the exception: each rank
// only sees B/N images; batch_norm2d with a Communicator (framework/ops.h,
// "synchronised batch norm") takes the statistics over all B instead.
//
// The collectives, every rank calling them in the same order:
//   CPU tensors and host numbers: MPI (MPI_Allreduce, MPI_Bcast);
//   GPU tensors: NCCL on the project's stream (kernels/collective.h), one GPU
//   per rank (local rank mod the GPUs visible); staged through the host with
//   MPI when the build has no NCCL or a machine has fewer GPUs than ranks.
//
// A job of one process needs no launcher and no MPI: world() is then rank 0
// of 1 and every collective returns its input unchanged. A process is part of
// a larger job when its launcher says so in the environment
// (OMPI_COMM_WORLD_SIZE from Open MPI's mpirun, PMIX_RANK or PMI_SIZE from
// srun and other PMI launchers); then MPI is initialised on first use.
//
// Failures. A rank that throws calls abort_job() (bin/skinmtl's main does),
// which prints nothing itself and ends every rank through MPI_Abort, so no
// rank waits forever in a collective for one that has died. A rank killed by
// a signal is noticed by the launcher (mpirun ends the job and names the rank).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "framework/optimizer.h"
#include "framework/parameter.h"
#include "framework/tensor.h"

namespace skinmtl {

class Module;

// What this build offers for data-parallel training: "MPI (Open MPI v4.1.4),
// GPU all-reduce through NCCL" or "none: built without MPI (one process only)".
std::string data_parallel_support();

class Communicator {
 public:
  // The job this process belongs to (see above). The first call initialises MPI
  // under a launcher; bin/skinmtl's commands call it before any work.
  static Communicator& world();

  int rank() const { return rank_; }
  int size() const { return size_; }
  int local_rank() const { return local_rank_; }  // rank among the processes on this machine
  bool is_root() const { return rank_ == 0; }
  bool distributed() const { return size_ > 1; }
  // "rank 1 of 2 (Open MPI v4.1.4)" or "one process".
  std::string describe() const;

  // In place, on every rank: v[i] <- sum over ranks of v[i].
  void all_reduce_sum(double* v, size_t n);
  // A contiguous float32 or float64 tensor, on the CPU (MPI) or a GPU (NCCL).
  void all_reduce_sum(Tensor& t);
  // v (t) <- root's v (t), on every rank.
  void broadcast(double* v, size_t n, int root = 0);
  void broadcast(Tensor& t, int root = 0);
  // Ends the job: every rank exits with `code` (MPI_Abort). In a job of one
  // process, std::exit(code).
  [[noreturn]] void abort_job(int code);

  ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

 private:
  Communicator();
  void init_nccl();

  int rank_ = 0, size_ = 1, local_rank_ = 0;
  bool mpi_ = false;              // MPI was initialised by this class
  bool use_nccl_ = false;         // GPU tensors through NCCL (else staged through the host)
  void* nccl_ = nullptr;          // cuda::NcclComm*, made at the first GPU collective
};

// Rank 0's parameters and buffers (batch-norm running statistics) on every
// rank: the start of a data-parallel run, after initialisation or a resume.
void broadcast_module(Module& module, Communicator& comm);

// After backward(): every parameter's gradient <- its mean over the ranks. All
// gradients travel in one flat buffer, in one all-reduce (as llm.c does),
// reused from step to step. A parameter that received a gradient on some rank
// but not on this one (a head no sample of this rank reached) gets a zero
// gradient first, so that all ranks then update the same parameters, as one
// process would. Nothing happens in a job of one process.
//
// `packed`: the optimizer's flat gradient buffer when its parameters are
// packed (SGD::packed_gradients()). Where every rank's gradients are exactly
// the `packed.params` views there and the ranks agree on which parameters have one, that
// buffer itself is all-reduced and scaled: one collective and one scaling
// kernel, where the copy into flat_ and back costs two launches per
// parameter on a GPU.
class GradientAverager {
 public:
  GradientAverager(std::vector<Parameter*> params, Communicator& comm);
  void average(const PackedGradients& packed = {});
  // Steps averaged in the optimizer's own buffer so far (for the tests).
  int64_t packed_averages() const { return packed_averages_; }

 private:
  // Whether this rank's gradients are exactly the views of `packed`.
  bool gradients_are_packed(const PackedGradients& packed) const;

  std::vector<Parameter*> params_;
  Communicator& comm_;
  std::vector<double> has_grad_;  // per parameter: ranks that have a gradient; last: ranks packed
  Tensor flat_;                   // sum of the gradients' sizes, on their device
  int64_t packed_averages_ = 0;
};

}  // namespace skinmtl
