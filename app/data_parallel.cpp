// The trainer's side of data-parallel training: see app/data_parallel.h.
#include "app/data_parallel.h"

#include <chrono>
#include <cstdio>

#include "framework/module.h"
#include "io/progress.h"

namespace skinmtl {

DataParallel::DataParallel(int global_batch) : comm_(Communicator::world()) {
  SKINMTL_USAGE_CHECK(global_batch % comm_.size() == 0,
                     "--batch " << global_batch << " is the batch over all " << comm_.size()
                             << " processes and must be a multiple of " << comm_.size());
  if (!is_root()) silence_progress_bars();  // rank 0's bars say it all (data checks, training)
}

void DataParallel::print_plan(int global_batch, const std::string& note) const {
  if (!is_root() || ranks() == 1) return;
  std::printf("  data-parallel: %d processes of %d images each%s; %s\n", ranks(), global_batch / ranks(),
              note.c_str(), comm_.describe().c_str());
}

std::unique_ptr<CsvLog> DataParallel::open_log(const std::string& path, const std::vector<std::string>& columns,
                                               bool resume, int64_t iteration) const {
  if (!is_root()) return nullptr;
  auto log = std::make_unique<CsvLog>(path, columns, resume ? CsvLog::Mode::Resume : CsvLog::Mode::Truncate,
                                      (double)iteration);
  if (log->dropped_rows() > 0)
    std::printf("  log.csv: %d rows past the checkpoint dropped (they are trained again)\n", log->dropped_rows());
  return log;
}

void DataParallel::shard(LoaderOptions& options) const {
  options.shard_index = comm_.rank();
  options.shard_count = comm_.size();
}

void DataParallel::start(Module& net, const std::vector<Parameter*>& params) {
  broadcast_module(net, comm_);
  grads_ = std::make_unique<GradientAverager>(params, comm_);
  if (is_root() && ranks() > 1) {
    double bytes = 0;
    for (const Parameter* p : params)
      if (p->value.requires_grad()) bytes += (double)p->value.nbytes();
    std::printf("  gradient all-reduce: %.1f MB per step (one buffer)\n", bytes / 1e6);
  }
}

void DataParallel::average_gradients(const PackedGradients& packed) {
  SKINMTL_CHECK(grads_, "DataParallel: start() before average_gradients()");
  if (ranks() == 1) return;
  const auto t0 = std::chrono::steady_clock::now();
  grads_->average(packed);
  allreduce_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

StepNumbers DataParallel::agree(std::vector<double> values, bool stop_requested) {
  values.push_back(stop_requested ? 1.0 : 0.0);
  comm_.all_reduce_sum(values.data(), values.size());
  StepNumbers s;
  s.stop = values.back() > 0;
  values.pop_back();
  for (double& v : values) v /= comm_.size();
  s.means = std::move(values);
  return s;
}

double DataParallel::from_root(double value) {
  comm_.broadcast(&value, 1, 0);
  return value;
}

}  // namespace skinmtl
