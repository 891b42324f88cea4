#include "framework/tensor.h"

#include <cstdlib>

#include <atomic>
#include <sstream>
#include <type_traits>

#include "framework/allocator.h"
#include "framework/autograd.h"
#include "framework/dispatch.h"
#include "kernels/cast.h"
#include "kernels/elementwise.h"
#if SKINMTL_CUDA
#include "kernels/device.h"
#endif

namespace skinmtl {

const char* device_name(Device d) { return d == Device::CPU ? "CPU" : "CUDA"; }
const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "float32";
    case DType::F64: return "float64";
    case DType::BF16: return "bfloat16";
  }
  return "?";
}
size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F64: return 8;
    case DType::BF16: return 2;
  }
  return 0;
}

bool cuda_available() {
#if SKINMTL_CUDA
  static const bool ok = cuda::available();
  return ok;
#else
  return false;
#endif
}

std::string cuda_unavailable_reason() {
  if (cuda_available()) return "";
#if SKINMTL_CUDA
  const std::string problem = cuda::status();
  return problem.empty() ? "no GPU is visible" : "CUDA cannot start: " + problem;
#else
  return "this is a CPU-only build (CUDA=0 or no nvcc)";
#endif
}

std::string cuda_device_description() {
#if SKINMTL_CUDA
  SKINMTL_CHECK(cuda_available(), "no GPU to describe: " << cuda_unavailable_reason());
  return cuda::describe_device();
#else
  SKINMTL_FAIL("no GPU to describe: " << cuda_unavailable_reason());
#endif
}

void set_cuda_tf32(bool on) {
#if SKINMTL_CUDA
  cuda::set_tf32(on);
#else
  SKINMTL_CHECK(!on, "TF32 needs CUDA: " << cuda_unavailable_reason());
#endif
}

void set_cuda_conv_benchmark(bool on) {
#if SKINMTL_CUDA
  cuda::set_conv_benchmark(on);
#else
  SKINMTL_CHECK(!on, "the cuDNN benchmark mode needs CUDA: " << cuda_unavailable_reason());
#endif
}

bool cuda_required() {
  const char* v = std::getenv("SKINMTL_REQUIRE_CUDA");
  return v && *v && std::string(v) != "0";
}

void fail_no_cuda(const char* file, int line) {
  fail_at(file, line,
          "this build has no CUDA support (built with CUDA=0 or without nvcc); "
          "rebuild with nvcc on the PATH to run on the GPU");
}

void require_cuda_f32(const char* op, std::initializer_list<const Tensor*> tensors) {
  for (const Tensor* t : tensors)
    SKINMTL_CHECK(!t->defined() || t->dtype() == DType::F32,
                  op << ": this op's CUDA kernels are float32 only, got " << t->str());
}

void fail_no_bf16_kernel() {
  SKINMTL_FAIL("a bfloat16 tensor reached a float32/float64 kernel; an op that has no bfloat16 "
               "kernel must widen its inputs first (as_f32, framework/precision.h)");
}

void check_elementwise_loss(const char* op, const Tensor& x, const Tensor& targets,
                            const Tensor& weights) {
  SKINMTL_CHECK(x.defined() && targets.defined() && weights.defined(),
                op << ": the input, targets and weights must all be defined");
  check_same_shape(op, x, targets);
  check_same_shape(op, x, weights);
  // The loss is differentiated with respect to its first input only: refuse
  // targets or weights that ask for a gradient rather than hand them a
  // silently wrong (zero) one.
  SKINMTL_CHECK(!any_requires_grad({targets, weights}),
                op << ": targets and weights must not require a gradient (the loss is not "
                      "differentiated with respect to them; detach() them)");
  if (x.device() == Device::CUDA) require_cuda_f32(op, {&x, &targets, &weights});
}

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  if (s.size() == 1) os << ",";
  os << ")";
  return os.str();
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) {
    // A shape from a file (a crafted safetensors header, say) must not wrap
    // around into a small or negative element count.
    SKINMTL_CHECK(d >= 0, "shape " << shape_str(s) << " has a negative dimension");
    SKINMTL_CHECK(!__builtin_mul_overflow(n, d, &n),
                  "shape " << shape_str(s) << " has more elements than a 64-bit count holds");
  }
  return n;
}

static std::atomic<bool> g_poison{false};
void set_poison_new_tensors(bool on) { g_poison = on; }
bool poison_new_tensors() { return g_poison; }

// ---- Storage -----------------------------------------------------------------

static CachingAllocator& allocator_for(Device d) {
  return d == Device::CPU ? cpu_allocator() : cuda_allocator();
}

Storage::Storage(size_t bytes, Device device) : bytes_(bytes), device_(device) {
  if (device == Device::CUDA) SKINMTL_CHECK(cuda_available(), "no CUDA device is available");
  ptr_ = allocator_for(device).allocate(bytes == 0 ? 1 : bytes);
}

Storage::~Storage() {
  try {
    allocator_for(device_).release(ptr_);
  } catch (...) {  // never throw from a destructor
  }
}

// ---- creation ------------------------------------------------------------------

static void memset_bytes(void* p, int byte, size_t n, Device d) {
  if (n == 0) return;
  if (d == Device::CPU) {
    std::memset(p, byte, n);
  } else {
    SKINMTL_CUDA_ONLY(cuda::memset_async(p, byte, n));
  }
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t d : shape) SKINMTL_CHECK(d >= 0, "negative dimension in shape " << shape_str(shape));
  SKINMTL_CHECK(!(device == Device::CUDA && dtype == DType::F64),
                "float64 tensors live on the CPU only (they exist for gradient checks)");
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = shape;
  impl->dtype = dtype;
  impl->storage = std::make_shared<Storage>((size_t)shape_numel(shape) * dtype_size(dtype), device);
  // All-ones bytes are a NaN in float32, float64 and bfloat16.
  if (g_poison) memset_bytes(impl->storage->data(), 0xFF, impl->storage->bytes(), device);
  return Tensor(impl);
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.zero_();
  return t;
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill_(value);
  return t;
}

Tensor Tensor::from_vector(const std::vector<double>& values, const Shape& shape, DType dtype) {
  SKINMTL_CHECK((int64_t)values.size() == shape_numel(shape),
                "from_vector: " << values.size() << " values for shape " << shape_str(shape));
  if (dtype == DType::BF16) return from_vector(values, shape, DType::F32).to(DType::BF16);
  Tensor t = empty(shape, dtype, Device::CPU);
  dispatch_cpu(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = t.data<T>();
    for (size_t i = 0; i < values.size(); ++i) p[i] = (T)values[i];
  });
  return t;
}

Tensor Tensor::from_vector(const std::vector<float>& values, const Shape& shape, DType dtype) {
  return from_vector(std::vector<double>(values.begin(), values.end()), shape, dtype);
}

// ---- properties ------------------------------------------------------------------

void Tensor::require_defined(const char* what) const {
  SKINMTL_CHECK(impl_, what << " on an undefined tensor");
}

const Shape& Tensor::shape() const {
  require_defined("shape()");
  return impl_->shape;
}

int64_t Tensor::size(int dim) const {
  int n = ndim();
  int d = dim < 0 ? dim + n : dim;
  SKINMTL_CHECK(d >= 0 && d < n, "size(" << dim << ") of a tensor of shape " << shape_str(shape()));
  return impl_->shape[d];
}

DType Tensor::dtype() const {
  require_defined("dtype()");
  return impl_->dtype;
}

Device Tensor::device() const {
  require_defined("device()");
  return impl_->storage->device();
}

std::string Tensor::str() const {
  if (!impl_) return "<undefined tensor>";
  std::ostringstream os;
  os << shape_str(shape()) << " " << dtype_name(dtype()) << " " << device_name(device());
  return os.str();
}

void* Tensor::raw_data() const {
  require_defined("data()");
  return static_cast<char*>(impl_->storage->data()) + impl_->offset;
}

template <typename T>
T* Tensor::data() const {
  constexpr DType want = std::is_same_v<T, bf16> ? DType::BF16 : sizeof(T) == 4 ? DType::F32 : DType::F64;
  SKINMTL_CHECK(dtype() == want, "data<" << dtype_name(want) << ">() on a " << str() << " tensor");
  return static_cast<T*>(raw_data());
}
template float* Tensor::data<float>() const;
template double* Tensor::data<double>() const;
template bf16* Tensor::data<bf16>() const;

// ---- copies ------------------------------------------------------------------------

void Tensor::copy_from(const Tensor& src) {
  SKINMTL_CHECK(src.shape() == shape() && src.dtype() == dtype(),
                "copy_from: source " << src.str() << " does not match destination " << str());
  const size_t n = nbytes();
  if (n == 0) return;
  Device dd = device(), sd = src.device();
  if (dd == Device::CPU && sd == Device::CPU) {
    std::memcpy(raw_data(), src.raw_data(), n);
  } else if (dd == Device::CUDA && sd == Device::CPU) {
    SKINMTL_CUDA_ONLY(cuda::memcpy_h2d(raw_data(), src.raw_data(), n));
  } else if (dd == Device::CPU && sd == Device::CUDA) {
    SKINMTL_CUDA_ONLY(cuda::memcpy_d2h(raw_data(), src.raw_data(), n));
  } else {
    SKINMTL_CUDA_ONLY(cuda::memcpy_d2d(raw_data(), src.raw_data(), n));
  }
}

Tensor Tensor::to(Device device) const {
  if (this->device() == device) return *this;
  Tensor out = empty(shape(), dtype(), device);
  out.copy_from(*this);
  return out;
}

Tensor Tensor::to(DType dt) const {
  if (dtype() == dt) return *this;
  const int64_t n = numel();
  if (dtype() == DType::BF16 || dt == DType::BF16) {
    // float32 <-> bfloat16 on either device (kernels/cast.h); float64 goes
    // through float32 (the CPU only).
    if (dtype() == DType::F64 || dt == DType::F64) return to(DType::F32).to(dt);
    Tensor out = empty(shape(), dt, device());
    if (device() == Device::CPU) {
      if (dt == DType::BF16) convert_cpu(out.data<bf16>(), data<float>(), n);
      else convert_cpu(out.data<float>(), data<bf16>(), n);
    } else if (dt == DType::BF16) {
      SKINMTL_CUDA_ONLY(convert_cuda(out.data<bf16>(), data<float>(), n, cuda::stream()));
    } else {
      SKINMTL_CUDA_ONLY(convert_cuda(out.data<float>(), data<bf16>(), n, cuda::stream()));
    }
    return out;
  }
  SKINMTL_CHECK(device() == Device::CPU, "float64 conversion is CPU only, got " << str());
  Tensor out = empty(shape(), dt, Device::CPU);
  dispatch_cpu(dtype(), [&](auto st) {
    using S = decltype(st);
    const S* s = data<S>();
    dispatch_cpu(dt, [&](auto dtag) {
      using D = decltype(dtag);
      D* d = out.data<D>();
      for (int64_t i = 0; i < n; ++i) d[i] = (D)s[i];
    });
  });
  return out;
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype(), device());
  out.copy_from(*this);
  return out;
}

Tensor Tensor::detach() const {
  require_defined("detach()");
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = impl_->storage;
  impl->offset = impl_->offset;
  impl->shape = impl_->shape;
  impl->dtype = impl_->dtype;
  return Tensor(impl);
}

void Tensor::zero_() { memset_bytes(raw_data(), 0, nbytes(), device()); }

void Tensor::move_into(const Tensor& flat, int64_t offset) {
  require_defined("move_into()");
  SKINMTL_CHECK(flat.defined() && flat.dtype() == dtype() && flat.device() == device() && offset >= 0 &&
                    offset + numel() <= flat.numel(),
                "move_into: " << str() << " does not fit in " << flat.str() << " at element " << offset);
  const size_t at = flat.impl_->offset + (size_t)offset * dtype_size(dtype());
  char* dst = static_cast<char*>(flat.impl_->storage->data()) + at;
  if (dst != raw_data()) {
    Tensor view = flat.detach();  // a handle on the same bytes, to copy into
    view.impl_->offset = at;
    view.impl_->shape = shape();
    view.copy_from(*this);
  }
  impl_->storage = flat.impl_->storage;
  impl_->offset = at;
}

bool Tensor::is_view_of(const Tensor& flat, int64_t offset) const {
  return defined() && flat.defined() && impl_->storage == flat.impl_->storage &&
         impl_->offset == flat.impl_->offset + (size_t)offset * dtype_size(dtype());
}

bool Tensor::lies_in(const Tensor& flat) const {
  return defined() && flat.defined() && impl_->storage == flat.impl_->storage &&
         impl_->offset >= flat.impl_->offset && impl_->offset + nbytes() <= flat.impl_->offset + flat.nbytes();
}

void Tensor::fill_(double value) {
  if (value == 0.0) return zero_();
  if (dtype() == DType::BF16) {  // one float32 value, rounded once, then copied
    const bf16 b = bf16_from_float((float)value);
    if (device() == Device::CPU) {
      bf16* p = data<bf16>();
      for (int64_t i = 0, n = numel(); i < n; ++i) p[i] = b;
    } else {
      copy_from(full(shape(), value, DType::BF16, Device::CPU));
    }
    return;
  }
  if (device() == Device::CPU) {
    dispatch_cpu(dtype(), [&](auto tag) {
      using T = decltype(tag);
      T* p = data<T>();
      for (int64_t i = 0, n = numel(); i < n; ++i) p[i] = (T)value;
    });
  } else {  // float32: CUDA tensors are never float64
    SKINMTL_CUDA_ONLY(fill_cuda(data<float>(), (float)value, numel(), cuda::stream()));
  }
}

std::vector<double> Tensor::to_vector() const {
  SKINMTL_CHECK(device() == Device::CPU,
                "to_vector() reads host memory; move the tensor with to(Device::CPU) first ("
                    << str() << ")");
  if (dtype() == DType::BF16) return to(DType::F32).to_vector();
  std::vector<double> v((size_t)numel());
  dispatch_cpu(dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* p = data<T>();
    for (size_t i = 0; i < v.size(); ++i) v[i] = (double)p[i];
  });
  return v;
}

double Tensor::item() const {
  SKINMTL_CHECK(numel() == 1, "item() needs a one-element tensor, got " << str());
  return to_vector()[0];
}

// ---- autograd --------------------------------------------------------------------

bool Tensor::requires_grad() const {
  return impl_ && (impl_->requires_grad || impl_->grad_fn != nullptr);
}

Tensor& Tensor::set_requires_grad(bool on) {
  require_defined("set_requires_grad()");
  SKINMTL_CHECK(!impl_->grad_fn, "set_requires_grad() is for leaves; this tensor was made by "
                                     << "an op on the tape");
  impl_->requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const {
  require_defined("grad()");
  return impl_->grad ? Tensor(impl_->grad) : Tensor();
}

void Tensor::zero_grad() {
  if (impl_ && impl_->grad) Tensor(impl_->grad).zero_();
}

const std::shared_ptr<Node>& Tensor::grad_fn() const {
  require_defined("grad_fn()");
  return impl_->grad_fn;
}

void Tensor::backward() const {
  SKINMTL_CHECK(numel() == 1, "backward() without a gradient needs a one-element tensor "
                              "(a loss); got " << str());
  run_backward(*this, full(shape(), 1.0, dtype(), device()));
}

void Tensor::backward(const Tensor& grad_output) const { run_backward(*this, grad_output); }

void check_same_device(const char* op, const Tensor& a, const Tensor& b) {
  SKINMTL_CHECK(a.device() == b.device() && a.dtype() == b.dtype(),
                op << ": tensors on different devices or of different dtypes: " << a.str()
                   << " and " << b.str());
}

void check_same_shape(const char* op, const Tensor& a, const Tensor& b) {
  check_same_device(op, a, b);
  SKINMTL_CHECK(a.shape() == b.shape(),
                op << ": shapes differ: " << shape_str(a.shape()) << " and " << shape_str(b.shape()));
}

}  // namespace skinmtl
