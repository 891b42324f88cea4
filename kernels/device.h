// kernels/device.h: the CUDA runtime as plain C++ sees it.
//
// framework/ never includes a CUDA header; it calls these functions, which
// kernels/cuda/device.cu implements. In a CPU-only build (CUDA=0) they are not
// compiled at all and framework/ reports "built without CUDA" instead.
//
// skinmtl runs all its GPU work on one stream, stream(). Copies to the host
// wait for that stream (they must: the host is about to read the bytes),
// except memcpy_d2h_async, whose caller waits for an event later; nothing
// else synchronises behind the caller's back (copies to the device are staged
// through pinned buffers, so they need not wait).
#pragma once

#include <atomic>
#include <cstddef>
#include <string>

#include "kernels/common.h"

namespace skinmtl::cuda {

// True when a driver is loaded and at least one GPU is visible. Never throws.
// What counts as "no GPU" (a plain CPU machine, silently false):
//   - cudaGetDeviceCount says cudaErrorNoDevice, or
//   - it says cudaErrorInsufficientDriver and no driver library (libcuda.so.1)
//     is installed at all: the toolkit without a driver, as on CI.
// Any other failure (a driver too old for this CUDA, a broken install, a busy
// or faulted device) also returns false, but is a problem someone must see:
// status() then says why, and the first call prints it once to stderr.
bool available();
// "" when available() is true or there is simply no GPU; otherwise the
// reason CUDA could not start ("cudaErrorInsufficientDriver: CUDA driver
// version is insufficient for CUDA runtime version").
const char* status();

void* malloc_raw(size_t bytes);   // cudaMalloc; returns nullptr when out of memory
void free_raw(void* ptr);         // cudaFree

cuda_stream_t stream();           // the project's stream (created on first use)
void synchronize();               // wait for all work queued on stream()

// Host to device, queued on stream(). Returns once the source bytes are
// copied (the caller may then reuse them): through pinned staging buffers, in
// pieces of up to 64 MiB, whose DMA runs while the host goes on. A piece
// waits only when the buffers' budget (512 MiB of page-locked memory) is
// spent and none is free, and then for the oldest copy. An error inside a
// CUDA graph capture (a replay would read a reused staging buffer).
void memcpy_h2d(void* dst, const void* src, size_t bytes);
// Frees the staging buffers, after waiting for the device (they are kept for
// the process otherwise; memcpy_h2d allocates them again as needed).
void release_staging();
// Queues on stream() a wait until `*open` is true, on a CUDA thread: the work
// queued after it cannot start before. Tests use it to show that a call
// returns without waiting for the work queued before it.
void queue_gate(const std::atomic<bool>* open);
void memcpy_d2h(void* dst, const void* src, size_t bytes);  // waits for stream(), then copies
void memcpy_d2d(void* dst, const void* src, size_t bytes);  // queued on stream()
void memset_async(void* dst, int byte, size_t bytes);       // queued on stream()

// ---- Reading a small result without draining the queue ----
// memcpy_d2h waits for everything queued before it. A training step's losses
// need not be read that soon: queue their copy into page-locked memory, record
// an event behind it, queue the next step, and only then wait for the event.
// The GPU then never idles while the host prepares the next step
// (framework/host_read.h). The event's wait covers the copy and what was
// queued before it, nothing after.
void* host_alloc_pinned(size_t bytes);  // cudaHostAlloc; nullptr when it fails
void host_free_pinned(void* ptr);       // cudaFreeHost (which waits for the device)
void memcpy_d2h_async(void* dst_pinned, const void* src, size_t bytes);  // queued on stream()
cuda_event_t event_create();            // without timing
void event_destroy(cuda_event_t event);
void event_record(cuda_event_t event);  // on stream(), behind what is queued now
void event_wait(cuda_event_t event);    // the host waits for it

size_t device_free_bytes();       // cudaMemGetInfo's free figure

// TF32 tensor-core math for cuBLAS GEMMs and cuDNN convolutions (compute
// capability 8.0 and up): each FP32 operand is rounded to TF32 (10 mantissa
// bits, FP32's range) before the multiply; products are summed in FP32.
// About 3x the FP32 FMA throughput, at a relative error per product of about
// 2^-11 instead of 2^-24, so results no longer match the CPU reference to
// float tolerance. Off (plain FP32) unless switched on; a convolution's cuDNN
// plan is cached per setting. Cheap to call; set it before the work it governs.
void set_tf32(bool on);
bool tf32();
// Measured algorithm choice for cuDNN convolutions (what PyTorch calls
// cudnn.benchmark): the first call of each shape runs cuDNN's candidate
// algorithms on trial buffers of that shape (cudnnFind*AlgorithmEx) and
// keeps the fastest that meets the same rules as the heuristic choice
// (deterministic, no FFT or Winograd-nonfused, FMA or TF32 as set, at most
// the workspace cap; kernels/cuda/conv2d_cudnn.cu). Off by default: the
// heuristic choice runs nothing, needs no trial memory, and picks the same
// algorithm in every run. SKINMTL_CUDNN_BENCHMARK=1 in the environment turns
// it on from the start; plans are cached per setting.
void set_conv_benchmark(bool on);
bool conv_benchmark();
// ---- CUDA graphs: an experiment (bench_gpu's "+graph" configurations) ----
// Between capture_begin() and capture_end(), the work queued on stream() is
// recorded instead of run; graph_launch() then runs the recording again, on
// the same device addresses, for one launch's host cost. Relaxed capture: the
// allocator may still call cudaMalloc (not a stream operation). Anything that
// waits for the stream inside a capture (a copy to the host, synchronize())
// breaks it: the wait throws, or capture_end() does, naming CUDA's error.
// capture_abort() ends a capture that an exception interrupted (never throws).
// set_cublas_workspace gives cuBLAS a workspace of the caller's, so that it
// allocates none while a capture runs (the caller keeps it alive).
void capture_begin();
cuda_graph_exec_t capture_end();
void capture_abort() noexcept;
void graph_launch(cuda_graph_exec_t graph);  // queued on stream()
void graph_destroy(cuda_graph_exec_t graph);
void set_cublas_workspace(void* workspace, size_t bytes);

// cuDNN's version: the library loaded and the header built against,
// "9.19.0 (built against 9.19.0)". Needs no GPU.
std::string cudnn_version();
// The current device's compute capability as 10 * major + minor (90 on an H100).
int compute_capability();
// The current device in words: "NVIDIA H200, compute capability 9.0, 140 GB".
std::string describe_device();

}  // namespace skinmtl::cuda
