// app/data_parallel.h: what a trainer does to run as one rank of a
// data-parallel job (framework/distributed.h explains the scheme).
//
// The same training command runs in one process or under a launcher:
//
//     bin/skinmtl train mtl --batch 20 ...                    one process
//     mpirun -np 2 bin/skinmtl train mtl --batch 20 ...        two, 10 images each
//
// --batch is always the global batch, so a recipe means the same thing
// whatever the number of processes, and a checkpoint resumes with any number
// that divides the batch. Every rank runs the whole loop; only rank 0 talks:
// it prints, draws the progress bar, evaluates on the held-out images, and
// writes log.csv, the figures and the checkpoints.
//
//   DataParallel dp(batch);
//   dp.shard(loader_options);                  // this rank's part of each batch
//   ... build the model, load a checkpoint ...
//   dp.start(net, sgd.params());               // rank 0's weights everywhere
//   loop:
//     forward, loss, backward
//     dp.average_gradients(sgd.packed_gradients());  // before sgd.step()
//     StepNumbers s = dp.agree({loss, ...}, stop.received() != 0);
//     if (dp.is_root()) { evaluate; log; checkpoint; }
//     lr = dp.from_root(lr);                   // rank 0's plateau decision
//     if (s.stop) { rank 0 saves; dp.barrier(); return 130; }  // all together
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "framework/distributed.h"
#include "io/batch_pipeline.h"
#include "io/csv_log.h"

namespace skinmtl {

class Module;

struct StepNumbers {
  std::vector<double> means;  // the values given to agree(), averaged over ranks
  bool stop = false;          // true when any rank was asked to stop
};

class DataParallel {
 public:
  // Checks that `global_batch` images split evenly over the ranks (a
  // UsageError otherwise).
  explicit DataParallel(int global_batch);

  Communicator& comm() const { return comm_; }
  bool is_root() const { return comm_.is_root(); }
  int ranks() const { return comm_.size(); }
  // Where rank 0 prints and the others print nothing (nullptr: a silent
  // Progress bar).
  std::FILE* console() const { return is_root() ? stderr : nullptr; }

  // Rank 0, in a job of several: "  data-parallel: 2 processes of 10 images
  // each<note>" (the launcher and the MPI library too).
  void print_plan(int global_batch, const std::string& note) const;
  // Rank 0's log.csv at `path`; nullptr on the other ranks. A new run starts
  // it afresh; a run resumed at `iteration` keeps the rows up to that
  // checkpoint (CsvLog::Mode::Resume: the later ones are trained and logged
  // again) and says how many it dropped.
  std::unique_ptr<CsvLog> open_log(const std::string& path, const std::vector<std::string>& columns, bool resume,
                                   int64_t iteration) const;
  // This rank's part of every batch.
  void shard(LoaderOptions& options) const;
  // Rank 0's parameters and buffers on every rank; the gradient averager over
  // `params` (the optimizer's).
  void start(Module& net, const std::vector<Parameter*>& params);
  // After backward(), before the optimizer step. `packed`: the optimizer's
  // flat gradient buffer (SGD::packed_gradients()), all-reduced in place when
  // every rank's gradients are packed there (GradientAverager::average).
  void average_gradients(const PackedGradients& packed = {});
  // Seconds the last average_gradients() took on the host: on the CPU the
  // all-reduce itself plus any wait for a slower rank; on a GPU the time to
  // queue it (NCCL runs on the stream, no host wait is added to measure it).
  // 0 in a job of one. log.csv's allreduce_s.
  double allreduce_seconds() const { return allreduce_seconds_; }
  // The step's numbers (this rank's losses) averaged over ranks, and whether
  // any rank was asked to stop: one small all-reduce.
  StepNumbers agree(std::vector<double> values, bool stop_requested);
  // Rank 0's value on every rank (the learning rate after a plateau decision).
  double from_root(double value);
  // Returns when every rank has called it: the others wait for rank 0 to
  // finish writing before they exit (an exit code other than 0 makes mpirun
  // end the job, rank 0 included).
  void barrier() { from_root(0); }

 private:
  Communicator& comm_;
  std::unique_ptr<GradientAverager> grads_;
  double allreduce_seconds_ = 0;
};

}  // namespace skinmtl
