// Data-parallel collectives: see framework/distributed.h.
#include "framework/distributed.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "framework/autograd.h"
#include "framework/dispatch.h"
#include "framework/module.h"
#include "kernels/elementwise.h"

#if SKINMTL_MPI
#define OMPI_SKIP_MPICXX 1  // MPI's C API only: no C++ bindings
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif
#if SKINMTL_CUDA
#include "kernels/collective.h"
#include "kernels/device.h"
#endif

namespace skinmtl {

namespace {

// The launcher's word that this process is one of several.
bool launched_as_part_of_a_job() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK"})
    if (std::getenv(v)) return true;
  return false;
}

#if SKINMTL_MPI
#define MPI_CALL(call)                                                                      \
  do {                                                                                      \
    const int rc_ = (call);                                                                 \
    if (rc_ != MPI_SUCCESS) {                                                               \
      char msg_[MPI_MAX_ERROR_STRING];                                                      \
      int len_ = 0;                                                                         \
      MPI_Error_string(rc_, msg_, &len_);                                                   \
      ::skinmtl::fail_at(__FILE__, __LINE__, std::string("MPI error: ") + msg_ + " in " #call); \
    }                                                                                       \
  } while (0)

// "Open MPI v4.1.4": the first part of the library's own version string
// (allowed before MPI_Init).
std::string mpi_library() {
  char lib[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(lib, &len);
  const std::string l(lib, (size_t)len);
  return l.substr(0, l.find_first_of(",\n"));
}

// MPI counts are ints: longer buffers go in pieces of at most 2^30 elements.
template <typename F>
void in_chunks(size_t n, size_t elem_bytes, char* base, F f) {
  const size_t chunk = (size_t)1 << 30;
  for (size_t off = 0; off < n; off += chunk) f(base + off * elem_bytes, (int)std::min(chunk, n - off));
}
#endif

}  // namespace

std::string data_parallel_support() {
#if SKINMTL_MPI
  std::string s = "MPI (" + mpi_library() + ")";
#if SKINMTL_CUDA
  s += cuda::nccl_available() ? ", GPU all-reduce through NCCL" : ", GPU all-reduce through the host (no NCCL)";
#endif
  return s;
#else
  return "none: built without MPI (one process only)";
#endif
}

Communicator::Communicator() {
  if (!launched_as_part_of_a_job()) return;  // a job of one: nothing to initialise
#if SKINMTL_MPI
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (!initialised) {
    MPI_CALL(MPI_Init(nullptr, nullptr));
    mpi_ = true;
  }
  // Errors come back as return codes (MPI_CALL throws), not as MPI's own abort.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_CALL(MPI_Comm_rank(MPI_COMM_WORLD, &rank_));
  MPI_CALL(MPI_Comm_size(MPI_COMM_WORLD, &size_));
  MPI_Comm node;  // the ranks that share this machine
  MPI_CALL(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node));
  MPI_CALL(MPI_Comm_rank(node, &local_rank_));
  int local_size = 1;
  MPI_CALL(MPI_Comm_size(node, &local_size));
  MPI_Comm_free(&node);
#if SKINMTL_CUDA
  // One GPU per rank, chosen before anything creates a CUDA context. NCCL
  // refuses two ranks on one GPU; with fewer GPUs than ranks on a machine
  // (a test, or a laptop) the GPU all-reduce goes through the host instead.
  if (size_ > 1 && cuda::available()) {
    const int gpus = cuda::device_count();
    cuda::set_device(local_rank_ % gpus);
    // Every rank must make the same choice: take the smallest machine's.
    int enough = gpus >= local_size ? 1 : 0, all = 0;
    MPI_CALL(MPI_Allreduce(&enough, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD));
    use_nccl_ = all == 1 && cuda::nccl_available();
  }
#endif
#else
  const char* n = std::getenv("OMPI_COMM_WORLD_SIZE");
  if (!n) n = std::getenv("PMI_SIZE");
  SKINMTL_USER_CHECK(!n || std::atoi(n) <= 1, "this process is one of " << n << " started by a launcher (mpirun or srun), but this "
                              "skinmtl was built without MPI; install Open MPI (make deps) and rebuild");
#endif
}

Communicator::~Communicator() {
#if SKINMTL_CUDA
  if (nccl_) cuda::nccl_destroy(static_cast<cuda::NcclComm*>(nccl_));
#endif
#if SKINMTL_MPI
  int finalised = 0;
  MPI_Finalized(&finalised);
  if (mpi_ && !finalised) MPI_Finalize();
#endif
}

Communicator& Communicator::world() {
  static Communicator c;
  return c;
}

std::string Communicator::describe() const {
  if (size_ == 1) return "one process";
  std::string s = "rank " + std::to_string(rank_) + " of " + std::to_string(size_);
#if SKINMTL_MPI
  s += " (" + mpi_library() + ")";
#endif
  return s;
}

void Communicator::all_reduce_sum(double* v, size_t n) {
  if (size_ == 1 || n == 0) return;
#if SKINMTL_MPI
  in_chunks(n, sizeof(double), (char*)v, [](char* p, int k) {
    MPI_CALL(MPI_Allreduce(MPI_IN_PLACE, p, k, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD));
  });
#endif
}

void Communicator::broadcast(double* v, size_t n, int root) {
  if (size_ == 1 || n == 0) return;
#if SKINMTL_MPI
  in_chunks(n, sizeof(double), (char*)v, [root](char* p, int k) {
    MPI_CALL(MPI_Bcast(p, k, MPI_DOUBLE, root, MPI_COMM_WORLD));
  });
#endif
}

void Communicator::init_nccl() {
#if SKINMTL_CUDA
  if (nccl_ || !use_nccl_) return;
  uint8_t id[cuda::kNcclIdBytes] = {};
  if (rank_ == 0) cuda::nccl_unique_id(id);
#if SKINMTL_MPI
  MPI_CALL(MPI_Bcast(id, (int)sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD));
#endif
  nccl_ = cuda::nccl_init(id, size_, rank_);
#endif
}

void Communicator::all_reduce_sum(Tensor& t) {
  SKINMTL_CHECK(t.defined(), "all_reduce_sum: undefined tensor");
  if (size_ == 1 || t.numel() == 0) return;
  if (t.device() == Device::CUDA) {
#if SKINMTL_CUDA
    init_nccl();
    if (nccl_) {
      const size_t n = (size_t)t.numel();
      auto* c = static_cast<cuda::NcclComm*>(nccl_);
      if (t.dtype() == DType::F32) cuda::nccl_all_reduce_sum_f32(c, t.data<float>(), n);
      else cuda::nccl_all_reduce_sum_f64(c, t.data<double>(), n);
      return;
    }
    Tensor host = t.to(Device::CPU);  // no NCCL: through the host
    all_reduce_sum(host);
    t.copy_from(host);
    return;
#endif
  }
#if SKINMTL_MPI
  const bool f32 = t.dtype() == DType::F32;
  in_chunks((size_t)t.numel(), dtype_size(t.dtype()), (char*)t.raw_data(), [f32](char* p, int k) {
    MPI_CALL(MPI_Allreduce(MPI_IN_PLACE, p, k, f32 ? MPI_FLOAT : MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD));
  });
#endif
}

void Communicator::broadcast(Tensor& t, int root) {
  SKINMTL_CHECK(t.defined(), "broadcast: undefined tensor");
  if (size_ == 1 || t.numel() == 0) return;
  if (t.device() == Device::CUDA) {
#if SKINMTL_CUDA
    init_nccl();
    if (nccl_) {
      cuda::nccl_broadcast_bytes(static_cast<cuda::NcclComm*>(nccl_), t.raw_data(), t.nbytes(), root);
      return;
    }
    Tensor host = t.to(Device::CPU);
    broadcast(host, root);
    t.copy_from(host);
    return;
#endif
  }
#if SKINMTL_MPI
  in_chunks(t.nbytes(), 1, (char*)t.raw_data(), [root](char* p, int k) {
    MPI_CALL(MPI_Bcast(p, k, MPI_BYTE, root, MPI_COMM_WORLD));
  });
#endif
}

void Communicator::abort_job(int code) {
#if SKINMTL_MPI
  if (mpi_ && size_ > 1) {
    std::fflush(stdout);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code);
  }
#endif
  std::exit(code);
}

// ---- model-level helpers -------------------------------------------------------------

void broadcast_module(Module& module, Communicator& comm) {
  if (!comm.distributed()) return;
  NoGradGuard no_grad;
  for (auto& [name, p] : module.named_parameters()) comm.broadcast(p->value);
  for (auto& [name, b] : module.named_buffers()) comm.broadcast(*b);
}

namespace {

// to[0, n) = from[0, n) * factor, for `kind`'s device and dtype (float32 on a
// GPU, float32 or float64 on the CPU); in place when to == from.
void scale_elements(const Tensor& kind, void* to, const void* from, int64_t n, double factor) {
  if (kind.device() == Device::CUDA) {
    SKINMTL_CUDA_ONLY(scale_forward_cuda(static_cast<float*>(to), static_cast<const float*>(from), (float)factor, n,
                                         cuda::stream()));
  } else if (kind.dtype() == DType::F32) {
    scale_forward_cpu<float>(static_cast<float*>(to), static_cast<const float*>(from), (float)factor, n);
  } else {
    scale_forward_cpu<double>(static_cast<double*>(to), static_cast<const double*>(from), factor, n);
  }
}

}  // namespace

GradientAverager::GradientAverager(std::vector<Parameter*> params, Communicator& comm)
    : params_(std::move(params)), comm_(comm), has_grad_(params_.size() + 1) {}

bool GradientAverager::gradients_are_packed(const PackedGradients& packed) const {
  if (!packed.flat.defined() || (packed.flat.device() == Device::CUDA && packed.flat.dtype() != DType::F32))
    return false;
  int64_t with_grad = 0;
  for (const Parameter* p : params_) {
    const Tensor g = p->value.grad();
    if (!g.defined()) continue;
    if (!g.lies_in(packed.flat)) return false;
    ++with_grad;
  }
  return with_grad == packed.params;  // the buffer holds these gradients and no others
}

void GradientAverager::average(const PackedGradients& packed) {
  if (!comm_.distributed()) return;
  NoGradGuard no_grad;
  // 1. Which parameters have a gradient on any rank, and on how many ranks
  //    the gradients are the optimizer's packed buffer (one small all-reduce).
  const size_t P = params_.size();
  for (size_t i = 0; i < P; ++i) has_grad_[i] = params_[i]->value.grad().defined() ? 1 : 0;
  has_grad_[P] = gradients_are_packed(packed) ? 1 : 0;
  comm_.all_reduce_sum(has_grad_.data(), has_grad_.size());
  // 2a. Every rank packed, and the same parameters have gradients on every
  //    rank: the ranks' buffers have one layout (the same parameters packed
  //    the same way), so the buffer itself is all-reduced, gaps (zeros) and
  //    all, and scaled to the mean in place.
  bool same_everywhere = has_grad_[P] == comm_.size();
  for (size_t i = 0; i < P && same_everywhere; ++i)
    same_everywhere = has_grad_[i] == 0 || has_grad_[i] == comm_.size();
  if (same_everywhere) {
    Tensor flat = packed.flat;
    comm_.all_reduce_sum(flat);
    scale_elements(flat, flat.raw_data(), flat.raw_data(), flat.numel(), 1.0 / comm_.size());
    ++packed_averages_;
    return;
  }
  // 2b. Otherwise through a buffer of our own.
  int64_t total = 0;
  DType dtype = DType::F32;
  Device device = Device::CPU;
  bool first = true;
  for (size_t i = 0; i < params_.size(); ++i) {
    if (has_grad_[i] == 0) continue;
    Tensor& w = params_[i]->value;
    if (!w.grad().defined()) w.impl()->grad = Tensor::zeros(w.shape(), w.dtype(), w.device()).impl_ptr();
    if (first) dtype = w.dtype(), device = w.device(), first = false;
    SKINMTL_CHECK(w.dtype() == dtype && w.device() == device,
                  "average_gradients: parameter '" << params_[i]->name << "' is " << w.str()
                                                   << ", but the others are " << dtype_name(dtype) << " on "
                                                   << device_name(device) << "; one flat buffer needs one kind");
    total += w.numel();
  }
  if (total == 0) return;
  SKINMTL_CHECK(device == Device::CPU || dtype == DType::F32, "average_gradients: GPU gradients must be float32");
  // 2. Pack every gradient into one flat buffer, all-reduce it once.
  if (!flat_.defined() || flat_.numel() != total || flat_.dtype() != dtype || flat_.device() != device)
    flat_ = Tensor::empty({total}, dtype, device);
  const size_t esize = dtype_size(dtype);
  auto copy = [&](void* dst, const void* src, size_t bytes) {
#if SKINMTL_CUDA
    if (device == Device::CUDA) return cuda::memcpy_d2d(dst, src, bytes);
#endif
    std::memcpy(dst, src, bytes);
  };
  int64_t off = 0;
  for (size_t i = 0; i < params_.size(); ++i) {
    if (has_grad_[i] == 0) continue;
    const Tensor g = params_[i]->value.grad();
    copy((char*)flat_.raw_data() + off * esize, g.raw_data(), g.nbytes());
    off += g.numel();
  }
  comm_.all_reduce_sum(flat_);
  // 3. Unpack as the mean: g = flat / N.
  const double inv = 1.0 / comm_.size();
  off = 0;
  for (size_t i = 0; i < params_.size(); ++i) {
    if (has_grad_[i] == 0) continue;
    const Tensor g = params_[i]->value.grad();
    scale_elements(flat_, g.raw_data(), (const char*)flat_.raw_data() + off * esize, g.numel(), inv);
    off += g.numel();
  }
}

}  // namespace skinmtl
