// framework/tensor.h: the Tensor, its storage, its device and its dtype.
//
// A Tensor is a handle (a shared pointer) to a TensorImpl: copying a Tensor
// copies the handle, not the data. Every tensor is dense and contiguous in
// row-major order; image batches are NCHW. reshape() makes a new TensorImpl
// over the same Storage, so views share memory; everything else that changes
// layout (slice, concat) copies.
//
// dtype: float32 everywhere; float64 on the CPU as well, so gradient checks can
// run in double precision through the very same ops; bfloat16 (kernels/bf16.h)
// for the activations of --precision bf16 (framework/precision.h), on either
// device (the CPU computes it through float32, as a reference).
//
// Transfers are explicit: t.to(Device::CUDA) / t.to(Device::CPU). Reading
// values on the host (to_vector, item) requires a CPU tensor, so no hidden copy
// or synchronisation happens behind the reader's back.
//
// Autograd state lives on the TensorImpl: requires_grad (set on leaves by the
// user), grad (accumulated by backward()), grad_fn (the tape node that made it;
// see framework/autograd.h).
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "base/check.h"

namespace skinmtl {

enum class Device { CPU, CUDA };
enum class DType { F32, F64, BF16 };

const char* device_name(Device d);
const char* dtype_name(DType t);
size_t dtype_size(DType t);

// True when this build has CUDA and a GPU is visible. Never throws.
bool cuda_available();
// Why CUDA is not available, in words: "this is a CPU-only build", "no GPU
// is visible", or the CUDA error that stopped it (a driver too old, ...).
// "" when cuda_available().
std::string cuda_unavailable_reason();
// SKINMTL_REQUIRE_CUDA=1 in the environment: a machine that is meant to have
// a GPU. Every CUDA test then fails instead of skipping, and --device auto is
// an error instead of a silent fall-back to the CPU, when CUDA cannot start.
bool cuda_required();
// The GPU in words ("NVIDIA H200, compute capability 9.0, 140 GB"); needs
// cuda_available().
std::string cuda_device_description();
// TF32 tensor cores for the GPU's matrix products and convolutions (see
// kernels/device.h, set_tf32): about 3x faster, about 2^-11 relative error per
// product. Off by default. Needs CUDA (an error in a CPU-only build).
void set_cuda_tf32(bool on);
// Measured cuDNN algorithm choice (kernels/device.h, set_conv_benchmark):
// the first convolution of each shape times the candidates. Off unless set or
// SKINMTL_CUDNN_BENCHMARK=1; a CPU-only build refuses to turn it on.
void set_cuda_conv_benchmark(bool on);

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);
int64_t shape_numel(const Shape& s);

// A block of memory from the device's caching allocator, freed back to it when
// the last tensor using it goes away (RAII).
class Storage {
 public:
  Storage(size_t bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return ptr_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
  Device device_;
};

struct Node;
class Tensor;

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  size_t offset = 0;  // bytes from the storage's start to element 0 (a view inside a larger block)
  Shape shape;
  DType dtype = DType::F32;
  // Autograd (framework/autograd.h).
  bool requires_grad = false;             // set by the user on leaves
  std::shared_ptr<TensorImpl> grad;       // accumulated gradient of a leaf
  std::shared_ptr<Node> grad_fn;          // the op that produced this tensor
};

class Tensor {
 public:
  Tensor() = default;  // undefined: defined() is false
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- creation ------------------------------------------------------------
  // empty(): uninitialised memory (poisoned with NaN when set_poison_new_tensors
  // is on, which the tests use to catch kernels that skip an output element).
  static Tensor empty(const Shape& shape, DType dtype = DType::F32, Device device = Device::CPU);
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32, Device device = Device::CPU);
  static Tensor full(const Shape& shape, double value, DType dtype = DType::F32,
                     Device device = Device::CPU);
  static Tensor ones(const Shape& shape, DType dtype = DType::F32, Device device = Device::CPU) {
    return full(shape, 1.0, dtype, device);
  }
  // A CPU tensor holding `values` (converted to dtype).
  static Tensor from_vector(const std::vector<double>& values, const Shape& shape,
                            DType dtype = DType::F32);
  static Tensor from_vector(const std::vector<float>& values, const Shape& shape,
                            DType dtype = DType::F32);

  // ---- properties ----------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  int ndim() const { return (int)shape().size(); }
  int64_t size(int dim) const;  // negative dims count from the end
  int64_t numel() const { return shape_numel(shape()); }
  DType dtype() const;
  Device device() const;
  size_t nbytes() const { return (size_t)numel() * dtype_size(dtype()); }
  std::string str() const;  // "(2, 3, 4) float32 CPU"

  // Raw pointers. data<T>() checks that T matches the dtype.
  void* raw_data() const;
  template <typename T>
  T* data() const;

  // ---- copies and transfers --------------------------------------------------
  Tensor to(Device device) const;  // a copy on `device` (the same tensor if already there)
  Tensor to(DType dtype) const;    // a converted copy, outside the tape (float64 on the CPU only;
                                   // to bfloat16 rounds to nearest even)
  Tensor clone() const;            // a copy on the same device, outside the tape
  Tensor detach() const;           // shares storage, no grad_fn, requires_grad false
  void copy_from(const Tensor& src);  // same shape & dtype, any devices; outside the tape
  void fill_(double value);           // outside the tape
  void zero_();                       // outside the tape
  // Moves this tensor's data to `flat` (a contiguous buffer of its dtype and
  // device), elements [offset, offset + numel()): the values are copied there
  // and this tensor becomes a view of them. Every handle to this tensor sees
  // the move (they share one TensorImpl); its gradient, requires_grad and
  // grad_fn are untouched. How SGD packs parameters into one flat buffer.
  void move_into(const Tensor& flat, int64_t offset);
  // Whether this tensor is the view of `flat` at element `offset` that
  // move_into(flat, offset) made.
  bool is_view_of(const Tensor& flat, int64_t offset) const;
  // Whether every element of this tensor is one of `flat`'s (same storage).
  bool lies_in(const Tensor& flat) const;

  // Host access (CPU tensors only; move with to(Device::CPU) first).
  std::vector<double> to_vector() const;
  double item() const;  // a one-element tensor's value

  // ---- autograd ------------------------------------------------------------
  bool requires_grad() const;
  Tensor& set_requires_grad(bool on = true);  // leaves only
  Tensor grad() const;                        // undefined until a backward reached it
  void zero_grad();                           // zeroes the accumulated gradient, if any
  const std::shared_ptr<Node>& grad_fn() const;
  // Backpropagate from this tensor. With no argument the tensor must hold one
  // element and the seed gradient is 1.
  void backward() const;
  void backward(const Tensor& grad_output) const;

  // View with a new shape over the same storage (one dim may be -1). Recorded
  // on the tape (defined in framework/ops/shape_ops.cpp).
  Tensor reshape(const Shape& shape) const;

  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
  void require_defined(const char* what) const;
};

// Tests turn this on: every new tensor from empty() is filled with NaN.
void set_poison_new_tensors(bool on);
bool poison_new_tensors();

// Throws a clear error when `t` is not on `device` / not of `dtype`.
void check_same_device(const char* op, const Tensor& a, const Tensor& b);
void check_same_shape(const char* op, const Tensor& a, const Tensor& b);

}  // namespace skinmtl
