// framework/cuda_graph.h: GPU work captured once as a CUDA graph and replayed.
//
// A training step on the GPU is a few hundred kernel launches, and at small
// batches the host takes longer to queue them than the GPU to run them (the
// "host share" in README.md's GPU tables). A CUDA graph records the launches
// once and queues all of them again with one call:
//
//   CudaGraph g;
//   std::string why = g.capture([&] { forward, loss, backward });  // recorded, not run
//   if (why.empty()) g.replay();   // runs it; again every step
//   else ... run the work as usual: `why` says what broke the capture
//
// What a replay does is exactly what the capture recorded: the same kernels
// with the same arguments on the same device addresses. So the captured work
// must
//  - read its inputs from tensors that stay where they are, refilled in place
//    between replays (TrainingModel::upload_batch);
//  - wait for nothing and copy nothing from the host: an upload or a read of a
//    value breaks the capture (capture() then returns why);
//  - take no decision on the host that could differ between steps (a count of
//    boxes, a random draw on the host, the learning rate as a kernel argument:
//    the training loop keeps SGD's update out of the graph for that reason).
// The memory the captured work touched stays its own while the graph lives:
// the GPU allocator's private pool (framework/allocator.h) keeps other tensors
// out of it. cuBLAS gets a fixed workspace (prepare_cuda_graphs), so that it
// allocates nothing while a capture runs.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "kernels/common.h"

namespace skinmtl {

// Gives cuBLAS a fixed workspace of 32 MiB for the rest of the process (once;
// capture() does it too). A run that will capture calls it before its first
// step, so that its ordinary steps and its replays choose their GEMMs with
// the same workspace. Throws without CUDA.
void prepare_cuda_graphs();

class CudaGraph {
 public:
  CudaGraph() = default;
  ~CudaGraph();
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;

  // Records the GPU work `work` queues (nothing runs). Returns "" when a graph
  // was made, or why not (the exception's text: a wait, an upload, an error of
  // CUDA's); then nothing is kept, no exception leaves, and the work's effects
  // on the device never happened, so the caller runs it as usual. Tensors that
  // `work` leaves alive keep their (pool's) memory: read them after replay().
  // A graph captured before is destroyed first.
  std::string capture(const std::function<void()>& work);
  bool captured() const { return exec_ != nullptr; }
  // Queues the recorded work once more on the GPU's stream.
  void replay();
  int64_t replays() const { return replays_; }
  // Destroys the graph and gives its memory back to the shared cache.
  void reset();

 private:
  cuda_graph_exec_t exec_ = nullptr;
  int pool_ = 0;
  int64_t replays_ = 0;
};

}  // namespace skinmtl
