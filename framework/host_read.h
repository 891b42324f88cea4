// framework/host_read.h: a tensor's values read on the host without draining
// the GPU's queue.
//
// t.to(Device::CPU) waits for everything queued before it: the host sits idle
// until the GPU has run every kernel, and the GPU then sits idle until the
// host has queued new work. A training loop that reads each step's losses
// that way stops the GPU at every step boundary, while the host takes the
// next batch and queues the first kernels of the next step.
//
// HostRead splits the read in two:
//
//   read.start(losses);                  // queues the copy behind the step, returns
//   ... queue the next step ...
//   std::vector<double> v = read.values();  // waits for that copy, while the next step runs
//
// On the GPU the copy goes to page-locked memory with an event behind it, and
// values() waits for that event alone. On the CPU start() copies at once.
// A HostRead keeps its page-locked buffer and event for the next start():
// allocating and freeing page-locked memory synchronises the device, so a
// loop keeps one HostRead per read in flight (the training loop keeps two).
#pragma once

#include <vector>

#include "framework/tensor.h"
#include "kernels/common.h"

namespace skinmtl {

class HostRead {
 public:
  HostRead() = default;
  ~HostRead();
  HostRead(const HostRead&) = delete;
  HostRead& operator=(const HostRead&) = delete;

  // Starts reading t (any device and dtype). A read started before and not
  // yet collected is dropped.
  void start(const Tensor& t);
  bool started() const { return started_; }
  // t's values in order, as t.to(Device::CPU).to_vector() gives them; waits
  // for the copy if it is still running. Once per start().
  std::vector<double> values();

 private:
  Tensor host_;                // the values on the host: t's shape and dtype
  void* pinned_ = nullptr;     // page-locked staging for a GPU tensor
  size_t pinned_bytes_ = 0;
  cuda_event_t done_ = nullptr;  // recorded behind the copy
  bool started_ = false, from_gpu_ = false;
};

}  // namespace skinmtl
