// cuDNN path of kernels/conv2d.h through cuDNN 9's graph API (cudnn_graph.h).
//
// The graph API describes work as a graph of operations on tensors, built from
// "backend descriptors": opaque objects that are created, given attributes one
// at a time, and finalized (cuDNN checks them then). One pass of a convolution
// is the smallest graph there is, a single operation:
//
//   tensor descriptors      x, w, y: data type, sizes, strides, a unique id
//                           (the variant pack names buffers by it) and how
//                           the address is aligned
//   convolution descriptor  padding, stride, dilation, cross-correlation,
//                           float accumulation
//   operation               forward (x, w -> y), backward data (w, dy -> dx)
//                           or backward filter (x, dy -> dw), each computing
//                           out = alpha * result + beta * out
//   operation graph         the one operation, and the cuDNN handle
//   engine heuristics       cuDNN's ranked list of engine configurations that
//                           can run the graph (mode A, then the fallback list)
//   execution plan          one configuration made ready for the handle's
//                           GPU; it says how much workspace it needs
//   variant pack            per call: each tensor's device address (by unique
//                           id) and the workspace's
//   cudnnBackendExecute     queues the plan on the handle's stream
//
// Choosing an engine: the rules of the legacy path (conv2d_cudnn.cu), read
// from each engine's numerical notes instead of from an algorithm's name. An
// engine qualifies unless its notes say
//   - NONDETERMINISTIC (the same inputs must give the same bits),
//   - FFT or WINOGRAD (of any tile size): their rounding error grows with the
//     largest values of the layer rather than with each output's own sum
//     (the legacy path still accepts fused 3x3 Winograd; this one does not),
//   - DOWN_CONVERT_INPUTS or REDUCED_PRECISION_REDUCTION (float32 data rounded
//     to half precision, or sums kept in it),
//   - TENSOR_CORE, unless tensor-core math is allowed: TF32 after
//     cuda::set_tf32(true), and always for bfloat16 data;
// and its plan must build here and need at most 512 MiB of workspace.
//
// Ranked by heuristics or by measurement. By default the first qualifying
// engine of cuDNN's heuristic ranking is used: nothing runs, and the choice is
// the same in every run. With cuda::set_conv_benchmark(true) the first call
// of a shape builds plans for up to kMeasuredCandidates qualifying engines,
// runs each on trial buffers of the shape (a warm-up, then the median of three
// timed runs) and keeps the one with the least workspace within 3% of the
// fastest (kernels/conv2d_choice.h, as the legacy path). As in the legacy path, batch sizes share
// a measured ranking per power-of-two bucket (batch_bucket): a later N of the
// same bucket orders its own qualifying engines by the bucket's measured
// order, by engine index, without running them.
//
// Plans are cached per shape, pass, beta (0 for a dx or dw that holds nothing
// yet, 1 to add to it), data type, math setting, ranking mode and
// address alignment, for the life of the process, like the legacy plans.
//
// Handle: the operation graph and the execution plan are given the cuDNN
// handle (bound to cuda::stream()). cuDNN 9.19's header marks those two
// attributes deprecated in favour of device-property descriptors (cuDNN 9.8
// and up, for building plans on a machine without the GPU), which this
// project does not need; the handle attributes work in every cuDNN 9.
//
// Bias: the deterministic bias kernels of conv2d_im2col.cu, as in the legacy
// path.
//
// SKINMTL_CUDNN_LOG=1 prints each plan as it is made (to stderr): the pass,
// the shape, the engine, its numerical notes and its workspace.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/conv2d_choice.h"
#include "kernels/cuda/check.cuh"
#include "kernels/cuda/conv2d_cudnn_common.cuh"
#include "kernels/device.h"

namespace skinmtl {
namespace {

using namespace cudnn_conv;

constexpr int kMeasuredCandidates = 8;

// ---- descriptors -------------------------------------------------------------------

// A backend descriptor, destroyed by its owner. Move-only.
class Descriptor {
 public:
  Descriptor() = default;
  explicit Descriptor(cudnnBackendDescriptorType_t type) { CUDNN_CHECK(cudnnBackendCreateDescriptor(type, &d_)); }
  ~Descriptor() {
    if (d_) cudnnBackendDestroyDescriptor(d_);  // status ignored: a destructor must not throw
  }
  Descriptor(Descriptor&& o) noexcept : d_(o.d_) { o.d_ = nullptr; }
  Descriptor& operator=(Descriptor&& o) noexcept {
    std::swap(d_, o.d_);
    return *this;
  }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;

  cudnnBackendDescriptor_t get() const { return d_; }
  // cuDNN's verdict; the callers decide whether a refusal is an error.
  cudnnStatus_t try_finalize() { return cudnnBackendFinalize(d_); }

 private:
  cudnnBackendDescriptor_t d_ = nullptr;
};

// Sets one attribute; a refusal names the attribute (SET passes its name).
void set_attribute(const Descriptor& d, cudnnBackendAttributeName_t name, const char* name_text,
                   cudnnBackendAttributeType_t type, int64_t count, const void* values) {
  const cudnnStatus_t s = cudnnBackendSetAttribute(d.get(), name, type, count, values);
  SKINMTL_CHECK(s == CUDNN_STATUS_SUCCESS,
                "cuDNN graph API: setting " << name_text << ": " << cudnnGetErrorString(s));
}
#define SET(desc, name, type, count, values) set_attribute(desc, name, #name, type, count, values)

// An attribute whose value is another (finalized) descriptor.
void set_descriptor(const Descriptor& d, cudnnBackendAttributeName_t name, const char* name_text,
                    const Descriptor& value) {
  cudnnBackendDescriptor_t v = value.get();
  set_attribute(d, name, name_text, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &v);
}
#define SET_DESC(desc, name, value) set_descriptor(desc, name, #name, value)

void finalize(Descriptor& d, const std::string& what) {
  const cudnnStatus_t s = d.try_finalize();
  SKINMTL_CHECK(s == CUDNN_STATUS_SUCCESS,
                "cuDNN graph API: finalizing " << what << ": " << cudnnGetErrorString(s));
}

// "(2, 64, 56, 56) * (64, 64, 3, 3), stride (1, 1), padding (1, 1), dilation (1, 1)"
std::string describe(const Conv2dShape& sh) {
  std::ostringstream s;
  s << "(" << sh.N << ", " << sh.C << ", " << sh.H << ", " << sh.W << ") * (" << sh.K << ", " << sh.C << ", "
    << sh.R << ", " << sh.S << "), stride (" << sh.stride_h << ", " << sh.stride_w << "), padding ("
    << sh.pad_h << ", " << sh.pad_w << "), dilation (" << sh.dilation_h << ", " << sh.dilation_w << ")";
  return s.str();
}

// The unique ids of a pass's three tensors: every pass names x (or dx), w (or
// dw) and y (or dy) the same way, so one variant-pack layout serves all three.
constexpr int64_t kX = 'x', kW = 'w', kY = 'y';

// A dense NCHW tensor (the last dimension moves fastest). A virtual one
// lives only inside a fused graph: cuDNN never writes it to memory.
Descriptor tensor(int64_t uid, cudnnDataType_t type, const std::array<int64_t, 4>& dims, int64_t alignment,
                  bool is_virtual = false) {
  const std::array<int64_t, 4> strides = {dims[1] * dims[2] * dims[3], dims[2] * dims[3], dims[3], 1};
  Descriptor t(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  SET(t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type);
  SET(t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims.data());
  SET(t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, strides.data());
  SET(t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid);
  SET(t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &alignment);
  if (is_virtual) SET(t, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &is_virtual);
  finalize(t, std::string("tensor '") + char(uid) + "'");
  return t;
}

// Cross-correlation (no kernel flip, like PyTorch) with float accumulation;
// the same padding before and after, as kernels/conv2d.h defines it.
Descriptor convolution(const Conv2dShape& sh) {
  const int64_t spatial = 2;
  const cudnnDataType_t accumulate = CUDNN_DATA_FLOAT;
  const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  const int64_t pad[2] = {sh.pad_h, sh.pad_w}, stride[2] = {sh.stride_h, sh.stride_w},
                dilation[2] = {sh.dilation_h, sh.dilation_w};
  Descriptor c(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR);
  SET(c, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &spatial);
  SET(c, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &accumulate);
  SET(c, CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode);
  SET(c, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, 2, pad);
  SET(c, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, 2, pad);
  SET(c, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, 2, stride);
  SET(c, CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, 2, dilation);
  finalize(c, "the convolution descriptor");
  return c;
}

enum class Pass { Forward, BackwardData, BackwardFilter };

const char* pass_name(Pass p) {
  return p == Pass::Forward ? "forward" : p == Pass::BackwardData ? "backward-data" : "backward-filter";
}

// One pass as an operation, with the descriptors it was built from (kept as
// long as the plan that runs it).
struct Operation {
  Descriptor x, w, y, conv, op;
};

Operation operation(Pass pass, const Conv2dShape& sh, CudnnData data, float beta, int64_t alignment) {
  Operation o;
  const cudnnDataType_t type = cudnn_type(data);
  o.x = tensor(kX, type, {sh.N, sh.C, sh.H, sh.W}, alignment);
  o.w = tensor(kW, type, {sh.K, sh.C, sh.R, sh.S}, alignment);
  o.y = tensor(kY, type, {sh.N, sh.K, sh.P, sh.Q}, alignment);
  o.conv = convolution(sh);
  const float alpha = 1.f;  // float for float32 and bfloat16 data alike
  switch (pass) {
    case Pass::Forward:  // y = conv(x, w) + beta y
      o.op = Descriptor(CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR);
      SET_DESC(o.op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, o.x);
      SET_DESC(o.op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, o.w);
      SET_DESC(o.op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, o.y);
      SET_DESC(o.op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, o.conv);
      SET(o.op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_FLOAT, 1, &alpha);
      SET(o.op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_TYPE_FLOAT, 1, &beta);
      break;
    case Pass::BackwardData:  // dx = conv^T(dy, w) + beta dx
      o.op = Descriptor(CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_DATA_DESCRIPTOR);
      SET_DESC(o.op, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DX, o.x);
      SET_DESC(o.op, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_W, o.w);
      SET_DESC(o.op, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DY, o.y);
      SET_DESC(o.op, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_CONV_DESC, o.conv);
      SET(o.op, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_ALPHA, CUDNN_TYPE_FLOAT, 1, &alpha);
      SET(o.op, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_BETA, CUDNN_TYPE_FLOAT, 1, &beta);
      break;
    case Pass::BackwardFilter:  // dw = sum over images of dy (x) x + beta dw
      o.op = Descriptor(CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_FILTER_DESCRIPTOR);
      SET_DESC(o.op, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_X, o.x);
      SET_DESC(o.op, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DW, o.w);
      SET_DESC(o.op, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DY, o.y);
      SET_DESC(o.op, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_CONV_DESC, o.conv);
      SET(o.op, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_ALPHA, CUDNN_TYPE_FLOAT, 1, &alpha);
      SET(o.op, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_BETA, CUDNN_TYPE_FLOAT, 1, &beta);
      break;
  }
  finalize(o.op, std::string("the ") + pass_name(pass) + " operation of " + describe(sh));
  return o;
}

// The graph of `ops`, not yet finalized (the caller decides whether a
// refusal is an error).
Descriptor unfinalized_graph(const std::vector<cudnnBackendDescriptor_t>& ops) {
  Descriptor g(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
  SET(g, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, (int64_t)ops.size(), ops.data());
  cudnnHandle_t handle = cuda::cudnn_handle();
  SET(g, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle);
  return g;
}

Descriptor operation_graph(const Operation& o, const std::string& what) {
  Descriptor g = unfinalized_graph({o.op.get()});
  finalize(g, "the operation graph of " + what);
  return g;
}

// ---- the fused inference graph: conv -> + bias (-> + residual) (-> ReLU) -----------------------
// conv2d_bn's GPU form (kernels/fold_batch_norm.h): the batch norm already
// folded into w and bias. The intermediate results are virtual tensors.

constexpr int64_t kB = 'b', kR = 'r', kConv = 'c', kBiased = 'd', kSummed = 'e';

Descriptor pointwise_mode(cudnnPointwiseMode_t mode) {
  const cudnnDataType_t precision = CUDNN_DATA_FLOAT;
  Descriptor d(CUDNN_BACKEND_POINTWISE_DESCRIPTOR);
  SET(d, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode);
  SET(d, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &precision);
  finalize(d, mode == CUDNN_POINTWISE_ADD ? "the add descriptor" : "the ReLU descriptor");
  return d;
}

// out = mode(in) or mode(in, second).
Descriptor pointwise(const Descriptor& mode, const Descriptor& in, const Descriptor* second, const Descriptor& out,
                     const char* what) {
  Descriptor op(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
  SET_DESC(op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, mode);
  SET_DESC(op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, in);
  if (second) SET_DESC(op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC, *second);
  SET_DESC(op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, out);
  finalize(op, what);
  return op;
}

struct FusedOperations {
  Descriptor x, w, b, r, y, conv_out, biased, summed;  // tensors (the last three virtual)
  Descriptor conv, add, relu;                          // descriptors the operations use
  std::vector<Descriptor> ops;                         // in graph order
};

FusedOperations fused_operations(const Conv2dShape& sh, bool residual, bool relu, int64_t alignment) {
  FusedOperations f;
  const cudnnDataType_t type = CUDNN_DATA_FLOAT;
  const std::array<int64_t, 4> y_dims = {sh.N, sh.K, sh.P, sh.Q};
  f.x = tensor(kX, type, {sh.N, sh.C, sh.H, sh.W}, alignment);
  f.w = tensor(kW, type, {sh.K, sh.C, sh.R, sh.S}, alignment);
  f.b = tensor(kB, type, {1, sh.K, 1, 1}, alignment);  // broadcast over n, p, q
  f.y = tensor(kY, type, y_dims, alignment);
  f.conv_out = tensor(kConv, type, y_dims, alignment, /*is_virtual=*/true);
  f.conv = convolution(sh);
  f.add = pointwise_mode(CUDNN_POINTWISE_ADD);
  // Each step writes the next virtual tensor, the last one y.
  const bool more_after_bias = residual || relu;
  if (more_after_bias) f.biased = tensor(kBiased, type, y_dims, alignment, true);
  if (residual && relu) f.summed = tensor(kSummed, type, y_dims, alignment, true);

  const float alpha = 1.f, beta = 0.f;
  Descriptor conv_op(CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR);
  SET_DESC(conv_op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, f.x);
  SET_DESC(conv_op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, f.w);
  SET_DESC(conv_op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, f.conv_out);
  SET_DESC(conv_op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, f.conv);
  SET(conv_op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_FLOAT, 1, &alpha);
  SET(conv_op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_TYPE_FLOAT, 1, &beta);
  finalize(conv_op, "the fused graph's convolution of " + describe(sh));
  f.ops.push_back(std::move(conv_op));
  const Descriptor& after_bias = more_after_bias ? f.biased : f.y;
  f.ops.push_back(pointwise(f.add, f.conv_out, &f.b, after_bias, "the fused graph's bias add"));
  if (residual) {
    f.r = tensor(kR, type, y_dims, alignment);
    const Descriptor& after_residual = relu ? f.summed : f.y;
    f.ops.push_back(pointwise(f.add, f.biased, &f.r, after_residual, "the fused graph's residual add"));
  }
  if (relu) {
    f.relu = pointwise_mode(CUDNN_POINTWISE_RELU_FWD);
    f.ops.push_back(pointwise(f.relu, residual ? f.summed : f.biased, nullptr, f.y, "the fused graph's ReLU"));
  }
  return f;
}

// ---- engines ----------------------------------------------------------------------------

// cuDNN's engine configurations for `graph` in one heuristic mode, best
// first; none when the mode has nothing for it.
std::vector<Descriptor> engine_configs(const Descriptor& graph, cudnnBackendHeurMode_t mode) {
  Descriptor heur(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
  SET_DESC(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, graph);
  SET(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode);
  if (heur.try_finalize() != CUDNN_STATUS_SUCCESS) return {};
  int64_t count = 0;
  CUDNN_CHECK(cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                       CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &count, nullptr));
  // cuDNN fills descriptors we create.
  std::vector<Descriptor> configs;
  std::vector<cudnnBackendDescriptor_t> raw;
  for (int64_t i = 0; i < count; ++i) {
    configs.emplace_back(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
    raw.push_back(configs.back().get());
  }
  int64_t got = 0;
  if (count > 0)
    CUDNN_CHECK(cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                         CUDNN_TYPE_BACKEND_DESCRIPTOR, count, &got, raw.data()));
  configs.resize((size_t)std::min(got, count));
  return configs;
}

// What an engine configuration's engine says about itself.
struct EngineFacts {
  int64_t index = -1;  // cuDNN's global engine index
  std::vector<cudnnBackendNumericalNote_t> notes;
};

EngineFacts engine_facts(const Descriptor& config) {
  Descriptor engine(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
  cudnnBackendDescriptor_t e = engine.get();
  int64_t n = 0;
  CUDNN_CHECK(cudnnBackendGetAttribute(config.get(), CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                       1, &n, &e));
  EngineFacts f;
  CUDNN_CHECK(cudnnBackendGetAttribute(e, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &n, &f.index));
  f.notes.resize(CUDNN_NUMERICAL_NOTE_TYPE_COUNT);
  CUDNN_CHECK(cudnnBackendGetAttribute(e, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE,
                                       CUDNN_NUMERICAL_NOTE_TYPE_COUNT, &n, f.notes.data()));
  f.notes.resize((size_t)std::max<int64_t>(0, std::min<int64_t>(n, CUDNN_NUMERICAL_NOTE_TYPE_COUNT)));
  return f;
}

// Whether the notes meet the rules at the top of this file.
bool qualifies(const std::vector<cudnnBackendNumericalNote_t>& notes, bool tensor_cores) {
  for (cudnnBackendNumericalNote_t n : notes) {
    switch (n) {
      case CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC:
      case CUDNN_NUMERICAL_NOTE_FFT:
      case CUDNN_NUMERICAL_NOTE_WINOGRAD:
      case CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_4x4:
      case CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_6x6:
      case CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_13x13:
      case CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS:
      case CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION:
        return false;
      case CUDNN_NUMERICAL_NOTE_TENSOR_CORE:
        if (!tensor_cores) return false;
        break;
      default:
        break;
    }
  }
  return true;
}

// A qualifying engine with its finalized execution plan.
struct Candidate {
  Descriptor config, plan;
  int64_t engine = -1, workspace_bytes = 0;
  std::vector<cudnnBackendNumericalNote_t> notes;
};

const char* note_name(cudnnBackendNumericalNote_t n) {
  switch (n) {
    case CUDNN_NUMERICAL_NOTE_TENSOR_CORE: return "tensor-core";
    case CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS: return "down-convert-inputs";
    case CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION: return "reduced-precision-reduction";
    case CUDNN_NUMERICAL_NOTE_FFT: return "fft";
    case CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC: return "nondeterministic";
    case CUDNN_NUMERICAL_NOTE_WINOGRAD: return "winograd";
    case CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_4x4: return "winograd-4x4";
    case CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_6x6: return "winograd-6x6";
    case CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_13x13: return "winograd-13x13";
    default: return nullptr;  // one this file does not name: shown by number
  }
}

// "engine E [notes]".
std::string engine_text(int64_t engine, const std::vector<cudnnBackendNumericalNote_t>& notes) {
  std::string t = "engine " + std::to_string(engine) + " [";
  for (size_t i = 0; i < notes.size(); ++i) {
    const char* name = note_name(notes[i]);
    t += std::string(i ? ", " : "") + (name ? name : "note " + std::to_string((int)notes[i]));
  }
  return t + "]";
}

// With SKINMTL_CUDNN_LOG=1: "cuDNN graph API: WHAT: engine E [notes], W workspace bytes".
void log_plan(const std::string& what, const Candidate& c) {
  static const bool on = [] {
    const char* v = std::getenv("SKINMTL_CUDNN_LOG");
    return v && std::string(v) == "1";
  }();
  if (!on) return;
  std::fprintf(stderr, "cuDNN graph API: %s: %s, %lld workspace bytes\n", what.c_str(),
               engine_text(c.engine, c.notes).c_str(), (long long)c.workspace_bytes);
}

// The plan of `config` for the handle's GPU; false when cuDNN cannot build it
// here (an engine the GPU or this shape does not support).
bool make_plan(const Descriptor& config, Candidate* c) {
  Descriptor plan(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
  cudnnHandle_t handle = cuda::cudnn_handle();
  SET(plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle);
  SET_DESC(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, config);
  if (plan.try_finalize() != CUDNN_STATUS_SUCCESS) return false;
  int64_t n = 0;
  CUDNN_CHECK(cudnnBackendGetAttribute(plan.get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1,
                                       &n, &c->workspace_bytes));
  c->plan = std::move(plan);
  return true;
}

// Up to `wanted` qualifying engines with their plans, in cuDNN's order: heuristic
// mode A's list, then the fallback list's engines not seen yet. `rejected`, when
// given, gets each engine that was turned down and why ("engine 3 [tensor-core]:
// its notes; ..."), for the message of a graph no engine qualifies for.
std::vector<Candidate> candidates(const Descriptor& graph, bool tensor_cores, int wanted,
                                  std::string* rejected = nullptr) {
  std::vector<Candidate> out;
  std::vector<int64_t> seen;
  auto reject = [&](const EngineFacts& f, const char* why) {
    if (rejected) *rejected += (rejected->empty() ? "" : "; ") + engine_text(f.index, f.notes) + ": " + why;
  };
  for (cudnnBackendHeurMode_t mode : {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK}) {
    for (Descriptor& config : engine_configs(graph, mode)) {
      if ((int)out.size() >= wanted) return out;
      const EngineFacts facts = engine_facts(config);
      if (std::find(seen.begin(), seen.end(), facts.index) != seen.end()) continue;
      seen.push_back(facts.index);
      if (!qualifies(facts.notes, tensor_cores)) {
        reject(facts, "its notes");
        continue;
      }
      Candidate c;
      if (!make_plan(config, &c)) {
        reject(facts, "no plan on this GPU");
        continue;
      }
      if (c.workspace_bytes < 0) {
        reject(facts, "a negative workspace size");
        continue;
      }
      if ((size_t)c.workspace_bytes > kMaxWorkspaceBytes) {
        reject(facts, "workspace over 512 MiB");
        continue;
      }
      c.engine = facts.index;
      c.notes = facts.notes;
      c.config = std::move(config);
      out.push_back(std::move(c));
    }
  }
  return out;
}

// Queues `plan` on the handle's stream with each tensor (by unique id) at its
// address: the variant pack.
void execute(const Descriptor& plan, const std::vector<std::pair<int64_t, const void*>>& tensors,
             void* workspace) {
  std::vector<int64_t> uids;
  std::vector<void*> pointers;
  for (const auto& [uid, p] : tensors) {
    uids.push_back(uid);
    pointers.push_back(const_cast<void*>(p));
  }
  Descriptor pack(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
  SET(pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, (int64_t)uids.size(), uids.data());
  SET(pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, (int64_t)pointers.size(),
      pointers.data());
  SET(pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &workspace);
  finalize(pack, "the variant pack");
  CUDNN_CHECK(cudnnBackendExecute(cuda::cudnn_handle(), plan.get(), pack.get()));
}

// One convolution pass: x, w, y (or dx, dw, dy) at these addresses.
void execute(const Descriptor& plan, const void* x, const void* w, const void* y, void* workspace) {
  execute(plan, {{kX, x}, {kW, w}, {kY, y}}, workspace);
}

// Milliseconds per run of `plan` on the trial buffers: the median of three
// timed runs after a warm-up run.
float time_plan(const Candidate& c, const TrialBuffers& t) {
  cudaStream_t s = cuda::stream();
  cudaEvent_t start, stop;
  CUDA_CHECK(cudaEventCreate(&start));
  CUDA_CHECK(cudaEventCreate(&stop));
  std::vector<float> ms;
  try {
    execute(c.plan, t.x, t.w, t.y, t.workspace);
    for (int rep = 0; rep < 3; ++rep) {
      CUDA_CHECK(cudaEventRecord(start, s));
      execute(c.plan, t.x, t.w, t.y, t.workspace);
      CUDA_CHECK(cudaEventRecord(stop, s));
      CUDA_CHECK(cudaEventSynchronize(stop));
      float m = 0;
      CUDA_CHECK(cudaEventElapsedTime(&m, start, stop));
      ms.push_back(m);
    }
  } catch (...) {
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    throw;
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::sort(ms.begin(), ms.end());
  return ms[1];
}

// ---- plans --------------------------------------------------------------------------------

struct GraphPlan {
  Operation operation;
  Descriptor graph;
  Candidate chosen;
};

using PlanKey = std::array<int, 21>;

PlanKey key_of(const Conv2dShape& sh, Pass pass, bool accumulate, CudnnData data, bool tf32, bool benchmark,
               int alignment) {
  return {sh.N,          sh.C,          sh.H,         sh.W,          sh.K,           sh.R,
          sh.S,          sh.P,          sh.Q,         sh.stride_h,   sh.stride_w,    sh.pad_h,
          sh.pad_w,      sh.dilation_h, sh.dilation_w, (int)pass,    accumulate ? 1 : 0, (int)data,
          tf32 ? 1 : 0,  benchmark ? 1 : 0, alignment};
}

// Orders `c` fastest first by `ranking` (engine indices, fastest first);
// engines the ranking does not know keep cuDNN's order after those it does.
void order_by(std::vector<Candidate>& c, const std::vector<int64_t>& ranking) {
  auto rank = [&](const Candidate& x) {
    const auto it = std::find(ranking.begin(), ranking.end(), x.engine);
    return it == ranking.end() ? ranking.size() : (size_t)(it - ranking.begin());
  };
  std::stable_sort(c.begin(), c.end(), [&](const Candidate& a, const Candidate& b) { return rank(a) < rank(b); });
}

// The measured ranking of `c` (engine indices) on trial buffers of `sh`:
// fastest first, except that the entry pick_measured takes (the least
// workspace within 3% of the fastest, kernels/conv2d_choice.h) comes first;
// empty when the buffers do not fit. Candidates needing more workspace than
// the trial buffer has are left out.
std::vector<int64_t> measure(const std::vector<Candidate>& c, const Conv2dShape& sh, CudnnData data) {
  TrialBuffers trial(sh, elem_bytes(data));
  if (!trial.ok()) return {};
  struct Timed {
    float ms;
    int64_t engine, workspace;
  };
  std::vector<Timed> timed;
  for (const Candidate& k : c)
    if ((size_t)k.workspace_bytes <= trial.workspace_bytes)
      timed.push_back({time_plan(k, trial), k.engine, k.workspace_bytes});
  std::stable_sort(timed.begin(), timed.end(), [](const Timed& a, const Timed& b) { return a.ms < b.ms; });
  if (timed.empty()) return {};
  std::vector<TimedAlgo> choice;
  for (const Timed& t : timed) choice.push_back({(double)t.ms, (size_t)t.workspace});
  const auto pick = timed.begin() + (std::ptrdiff_t)pick_measured(choice);
  std::rotate(timed.begin(), pick, pick + 1);  // the pick first, the others in their order
  std::vector<int64_t> ranking;
  for (const Timed& t : timed) ranking.push_back(t.engine);
  return ranking;
}

// The cached plan of one pass, built on first use. The maps are
// heap-allocated and never destroyed (no descriptor is freed during static
// destruction, after the CUDA runtime may be gone); a plan never moves once
// inserted, so the reference stays valid.
const GraphPlan& plan_for(Pass pass, const Conv2dShape& sh, bool accumulate, CudnnData data, int alignment) {
  static std::mutex mu;
  static auto* plans = new std::map<PlanKey, std::unique_ptr<GraphPlan>>();
  static auto* measured = new std::map<PlanKey, std::vector<int64_t>>();  // key with N -> its bucket
  std::lock_guard<std::mutex> lock(mu);
  const bool tf32 = cuda::tf32(), benchmark = cuda::conv_benchmark();
  const PlanKey key = key_of(sh, pass, accumulate, data, tf32, benchmark, alignment);
  const auto it = plans->find(key);
  if (it != plans->end()) return *it->second;

  const std::string what = std::string("the ") + pass_name(pass) + " pass of " + describe(sh) +
                           (data == CudnnData::BF16 ? " (bfloat16)" : tf32 ? " (TF32)" : " (FP32)");
  auto pl = std::make_unique<GraphPlan>();
  pl->operation = operation(pass, sh, data, accumulate ? 1.f : 0.f, alignment);
  pl->graph = operation_graph(pl->operation, what);
  std::string rejected;
  std::vector<Candidate> c =
      candidates(pl->graph, tensor_ops(tf32, data), benchmark ? kMeasuredCandidates : 1, &rejected);
  SKINMTL_CHECK(!c.empty(), "conv2d (cuDNN graph API): no engine qualifies for "
                                << what << ": each is non-deterministic, FFT or Winograd, rounds to half precision, "
                                   "uses tensor cores where they are not allowed, needs more than 512 MiB of "
                                   "workspace, or cannot run on this GPU ("
                                << (rejected.empty() ? "cuDNN offered none" : rejected)
                                << "). SKINMTL_CONV_BACKEND=cudnn runs cuDNN's legacy API instead.");
  if (benchmark && c.size() > 1) {
    Conv2dShape bucket = sh;
    bucket.N = batch_bucket(sh.N);
    const PlanKey bucket_key = key_of(bucket, pass, accumulate, data, tf32, true, alignment);
    auto m = measured->find(bucket_key);
    if (m != measured->end()) {
      order_by(c, m->second);
    } else {
      std::vector<int64_t> ranking = measure(c, sh, data);
      order_by(c, ranking);
      if (!ranking.empty()) measured->emplace(bucket_key, std::move(ranking));  // else: heuristic order this time
    }
  }
  pl->chosen = std::move(c.front());
  log_plan(what + (benchmark ? ", measured" : ""), pl->chosen);
  return *plans->emplace(key, std::move(pl)).first->second;
}

// The pointers must be aligned as the plan was told (the framework passes
// cudnn_alignment() of these same pointers).
void check_alignment(std::initializer_list<const void*> pointers, int alignment) {
  SKINMTL_CHECK(cudnn_alignment(pointers) >= alignment,
                "conv2d (cuDNN graph API): the buffers are aligned to "
                    << cudnn_alignment(pointers) << " bytes, but the plan was asked for " << alignment);
}

void check_workspace(const GraphPlan& pl, size_t workspace_bytes, Pass pass) {
  SKINMTL_CHECK(workspace_bytes >= (size_t)pl.chosen.workspace_bytes,
                "conv2d (cuDNN graph API): the " << pass_name(pass) << " pass needs " << pl.chosen.workspace_bytes
                                                 << " workspace bytes, got " << workspace_bytes);
}

// The fused graph's plan for one shape, or why there is none (cuDNN has no
// qualifying engine for it here: the caller then runs the convolution and a
// bias_act pass). Heuristic choice only, also under set_conv_benchmark.
struct FusedPlan {
  FusedOperations operations;
  Descriptor graph;
  Candidate chosen;
  bool supported = false;
  std::string why;
};

const FusedPlan& fused_plan_for(const Conv2dShape& sh, bool residual, bool relu, int alignment) {
  static std::mutex mu;
  static auto* plans = new std::map<PlanKey, std::unique_ptr<FusedPlan>>();
  std::lock_guard<std::mutex> lock(mu);
  const bool tf32 = cuda::tf32();
  // The pass slot of the key holds 3 + (residual, relu) bits: no clash with Pass.
  const PlanKey key = key_of(sh, (Pass)(3 + (residual ? 2 : 0) + (relu ? 1 : 0)), false, CudnnData::F32, tf32,
                             false, alignment);
  const auto it = plans->find(key);
  if (it != plans->end()) return *it->second;
  auto pl = std::make_unique<FusedPlan>();
  pl->operations = fused_operations(sh, residual, relu, alignment);
  std::vector<cudnnBackendDescriptor_t> ops;
  for (const Descriptor& op : pl->operations.ops) ops.push_back(op.get());
  pl->graph = unfinalized_graph(ops);
  const cudnnStatus_t s = pl->graph.try_finalize();
  if (s != CUDNN_STATUS_SUCCESS) {
    pl->why = std::string("cuDNN refused the graph: ") + cudnnGetErrorString(s);
  } else {
    std::string rejected;
    std::vector<Candidate> c = candidates(pl->graph, tensor_ops(tf32, CudnnData::F32), 1, &rejected);
    if (c.empty()) {
      pl->why = "no engine for it meets the rules (" + (rejected.empty() ? std::string("cuDNN offered none") : rejected) +
                ")";
    } else {
      pl->chosen = std::move(c.front());
      pl->supported = true;
      log_plan(std::string("fused conv+bias") + (residual ? "+residual" : "") + (relu ? "+ReLU" : "") + " of " +
                   describe(sh) + (tf32 ? " (TF32)" : " (FP32)"),
               pl->chosen);
    }
  }
  return *plans->emplace(key, std::move(pl)).first->second;
}

}  // namespace

bool conv2d_bias_act_cudnn_graph_supported(const Conv2dShape& sh, bool residual, bool relu, int alignment,
                                           size_t* workspace_bytes, std::string* why) {
  if (sh.N == 0) return false;
  const FusedPlan& pl = fused_plan_for(sh, residual, relu, alignment);
  if (why) *why = pl.why;
  if (pl.supported && workspace_bytes) *workspace_bytes = (size_t)pl.chosen.workspace_bytes;
  return pl.supported;
}

void conv2d_bias_act_cudnn_graph(float* y, const float* x, const float* w, const float* bias,
                                 const float* residual, bool relu, void* workspace, size_t workspace_bytes,
                                 int alignment, const Conv2dShape& sh, cuda_stream_t stream) {
  if (sh.N == 0) return;
  check_stream(stream, "cuDNN graph API");
  check_alignment({y, x, w, bias, residual}, alignment);
  const FusedPlan& pl = fused_plan_for(sh, residual != nullptr, relu, alignment);
  SKINMTL_CHECK(pl.supported, "conv2d (cuDNN graph API): the fused graph of " << describe(sh)
                                                                              << " has no plan: " << pl.why);
  SKINMTL_CHECK(workspace_bytes >= (size_t)pl.chosen.workspace_bytes,
                "conv2d (cuDNN graph API): the fused graph needs " << pl.chosen.workspace_bytes
                                                                   << " workspace bytes, got " << workspace_bytes);
  std::vector<std::pair<int64_t, const void*>> tensors = {{kX, x}, {kW, w}, {kB, bias}, {kY, y}};
  if (residual) tensors.push_back({kR, residual});
  execute(pl.chosen.plan, tensors, workspace);
}

int cudnn_alignment(std::initializer_list<const void*> pointers) {
  int a = 16;
  for (const void* p : pointers)
    if (p)
      while (a > 1 && reinterpret_cast<uintptr_t>(p) % (uintptr_t)a != 0) a /= 2;
  return a;
}

size_t conv2d_cudnn_graph_forward_workspace_bytes(const Conv2dShape& sh, CudnnData data, int alignment) {
  if (sh.N == 0) return 0;  // nothing to compute (cuDNN rejects empty tensors)
  return (size_t)plan_for(Pass::Forward, sh, false, data, alignment).chosen.workspace_bytes;
}

size_t conv2d_cudnn_graph_backward_workspace_bytes(const Conv2dShape& sh, bool need_dx, bool need_dw,
                                                   Conv2dAccumulate acc, CudnnData data, int alignment) {
  if (sh.N == 0) return 0;
  size_t bytes = 0;  // the two passes run one after the other and share the workspace
  if (need_dx)
    bytes = std::max(bytes, (size_t)plan_for(Pass::BackwardData, sh, acc.dx, data, alignment)
                                .chosen.workspace_bytes);
  if (need_dw)
    bytes = std::max(
        bytes, (size_t)plan_for(Pass::BackwardFilter, sh, acc.dw, data, alignment).chosen.workspace_bytes);
  return bytes;
}

template <typename T>
void conv2d_forward_cudnn_graph(T* y, const T* x, const T* w, const float* bias, void* workspace,
                                size_t workspace_bytes, int alignment, const Conv2dShape& sh,
                                cuda_stream_t stream) {
  if (sh.N == 0) return;
  check_stream(stream, "cuDNN graph API");
  check_alignment({y, x, w}, alignment);
  // beta = 0: y is overwritten, never read (it may hold garbage).
  const GraphPlan& pl = plan_for(Pass::Forward, sh, false, data_of<T>(), alignment);
  check_workspace(pl, workspace_bytes, Pass::Forward);
  execute(pl.chosen.plan, x, w, y, workspace);
  if (bias) conv2d_bias_forward_cuda(y, bias, sh, stream);
}

template <typename T>
void conv2d_backward_cudnn_graph(T* dx, T* dw, float* dbias, const T* dy, const T* x, const T* w,
                                 void* workspace, size_t workspace_bytes, int alignment,
                                 const Conv2dShape& sh, Conv2dAccumulate acc, cuda_stream_t stream) {
  if (sh.N == 0) return zero_empty_sums(dw, dbias, sh, acc, stream);
  check_stream(stream, "cuDNN graph API");
  check_alignment({dx, dw, dy, x, w}, alignment);
  // beta 1 adds into a gradient, beta 0 overwrites one that holds nothing yet.
  if (dx) {
    const GraphPlan& pl = plan_for(Pass::BackwardData, sh, acc.dx, data_of<T>(), alignment);
    check_workspace(pl, workspace_bytes, Pass::BackwardData);
    execute(pl.chosen.plan, dx, w, dy, workspace);
  }
  if (dw) {
    const GraphPlan& pl = plan_for(Pass::BackwardFilter, sh, acc.dw, data_of<T>(), alignment);
    check_workspace(pl, workspace_bytes, Pass::BackwardFilter);
    execute(pl.chosen.plan, x, dw, dy, workspace);
  }
  if (dbias) conv2d_bias_backward_cuda(dbias, dy, sh, acc.dbias, stream);
}

std::string conv2d_cudnn_graph_check_operations(const Conv2dShape& sh, CudnnData data) {
  try {
    operation(Pass::Forward, sh, data, 0.f, 16);
    for (Pass p : {Pass::BackwardData, Pass::BackwardFilter})
      for (float beta : {0.f, 1.f}) operation(p, sh, data, beta, 16);  // overwrite, accumulate
    if (data == CudnnData::F32)  // conv2d_bn's fused graph, float32 only
      for (bool residual : {false, true})
        for (bool relu : {false, true}) {
          const FusedOperations f = fused_operations(sh, residual, relu, 16);
          // The graph too (without a handle, which needs a GPU): cuDNN checks
          // there that the operations fit together.
          std::vector<cudnnBackendDescriptor_t> ops;
          for (const Descriptor& op : f.ops) ops.push_back(op.get());
          Descriptor g(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
          SET(g, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, (int64_t)ops.size(), ops.data());
          finalize(g, std::string("the fused graph (") + (residual ? "residual" : "no residual") +
                          (relu ? ", ReLU" : "") + ") of " + describe(sh));
        }
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

#define INSTANTIATE(T)                                                                                     \
  template void conv2d_forward_cudnn_graph<T>(T*, const T*, const T*, const float*, void*, size_t, int,   \
                                              const Conv2dShape&, cuda_stream_t);                         \
  template void conv2d_backward_cudnn_graph<T>(T*, T*, float*, const T*, const T*, const T*, void*, size_t, \
                                               int, const Conv2dShape&, Conv2dAccumulate, cuda_stream_t);
INSTANTIATE(float)
INSTANTIATE(bf16)
#undef INSTANTIATE

}  // namespace skinmtl
