#include "io/checkpoint.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

namespace skinmtl {

namespace {

// Every tensor of the module, parameters then buffers, by dotted name. A name
// used twice would make a checkpoint ambiguous, so it is an error.
std::map<std::string, Tensor*> module_tensors(Module& m) {
  std::map<std::string, Tensor*> out;
  for (auto& [name, p] : m.named_parameters())
    SKINMTL_CHECK(out.emplace(name, &p->value).second, "module has two tensors named '" << name << "'");
  for (auto& [name, b] : m.named_buffers())
    SKINMTL_CHECK(out.emplace(name, b).second, "module has two tensors named '" << name << "'");
  return out;
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

TensorFile module_state(Module& m) {
  TensorFile f;
  // A CPU tensor is cloned: to(Device::CPU) would return the very same tensor,
  // which the next optimizer step would change under the snapshot. A CUDA
  // tensor's to(Device::CPU) is a fresh copy already.
  for (auto& [name, t] : module_tensors(m))
    f.tensors[name] = t->device() == Device::CPU ? t->detach().clone() : t->to(Device::CPU);
  return f;
}

void load_module_state(Module& m, const TensorFile& file, const std::string& what,
                       const LoadStateOptions& opt) {
  const std::string where = "weights '" + what + "': ";
  const std::map<std::string, Tensor*> dst = module_tensors(m);

  // 1. Check everything before changing anything.
  for (const auto& [name, t] : dst) {
    auto it = file.tensors.find(name);
    SKINMTL_CHECK(it != file.tensors.end(),
                  where << "missing tensor '" << name << "' " << shape_str(t->shape())
                        << ": the network has it, the file does not");
    SKINMTL_CHECK(it->second.shape() == t->shape(), where << "tensor '" << name << "' should be "
                                                          << shape_str(t->shape()) << ", got "
                                                          << shape_str(it->second.shape()));
  }
  for (const auto& [name, t] : file.tensors) {
    if (dst.count(name)) continue;
    bool ignored = false;
    for (const std::string& p : opt.ignore_prefixes) ignored = ignored || starts_with(name, p);
    SKINMTL_CHECK(ignored, where << "unexpected tensor '" << name << "' " << t.str()
                                 << ": the network has no tensor of that name");
  }

  // 2. Copy. copy_from works across devices and outside the autograd tape, and
  // keeps the Parameter objects (and an optimizer's pointers to them) in place.
  for (const auto& [name, t] : dst) {
    Tensor src = file.tensors.at(name);
    if (src.dtype() != t->dtype()) src = src.to(Device::CPU).to(t->dtype());
    t->copy_from(src);
  }
}


void save_checkpoint(const std::string& path, Module& module, const SGD& optimizer,
                     const std::map<std::string, std::string>& metadata) {
  TensorFile f = module_state(module);
  const auto named = module.named_parameters();
  const auto& params = optimizer.params();
  const auto& momentum = optimizer.momentum_buffers();
  for (size_t i = 0; i < params.size(); ++i) {
    auto it = std::find_if(named.begin(), named.end(), [&](const auto& np) { return np.second == params[i]; });
    SKINMTL_CHECK(it != named.end(), "save_checkpoint: the optimizer holds a parameter the module "
                                     "does not own (" << params[i]->name << ")");
    if (i < momentum.size() && momentum[i].defined())
      f.tensors[kMomentumPrefix + it->first] = momentum[i].to(Device::CPU);
  }
  f.metadata = metadata;

  // A diverged model must never replace a good checkpoint: count the
  // non-finite values of every tensor first (module_state copied them to the
  // CPU) and refuse, naming the worst tensor.
  int64_t bad_total = 0, bad_worst = 0;
  std::string worst;
  for (const auto& [name, t] : f.tensors) {
    int64_t bad = 0;
    if (t.dtype() == DType::F32) {
      const float* p = t.data<float>();
      for (int64_t i = 0; i < t.numel(); ++i) bad += !std::isfinite(p[i]);
    } else {
      const double* p = t.data<double>();
      for (int64_t i = 0; i < t.numel(); ++i) bad += !std::isfinite(p[i]);
    }
    bad_total += bad;
    if (bad > bad_worst) {
      bad_worst = bad;
      worst = name;
    }
  }
  SKINMTL_CHECK(bad_total == 0, "the model diverged: " << bad_total << " weights or momentum values are NaN or "
                                                       << "infinite (" << bad_worst << " in " << worst << "); "
                                                       << path << " was not overwritten and still holds the last "
                                                       << "good state (continue from it with --resume, at a lower --lr)");

  // Keep the previous checkpoint beside the new one (checkpoint.prev.safetensors),
  // so a divergence that only shows later can still be rolled back.
  if (std::filesystem::exists(path)) {
    std::error_code ec;
    std::filesystem::rename(path, previous_checkpoint_path(path), ec);
    SKINMTL_CHECK(!ec, "cannot keep the previous checkpoint as " << previous_checkpoint_path(path) << ": "
                                                                 << ec.message());
  }
  save_safetensors(path, f);
}

std::string previous_checkpoint_path(const std::string& path) {
  const std::string ext = ".safetensors";
  if (path.size() > ext.size() && path.compare(path.size() - ext.size(), ext.size(), ext) == 0)
    return path.substr(0, path.size() - ext.size()) + ".prev" + ext;
  return path + ".prev";
}

std::map<std::string, std::string> load_checkpoint(const std::string& path, Module& module,
                                                   SGD* optimizer) {
  TensorFile f = load_safetensors(path);
  LoadStateOptions lo;
  lo.ignore_prefixes = {kMomentumPrefix};  // the optimizer's part, read below
  load_module_state(module, f, path, lo);
  if (optimizer) {
    const auto named = module.named_parameters();
    std::vector<Tensor> buffers;
    for (Parameter* p : optimizer->params()) {
      auto it = std::find_if(named.begin(), named.end(), [&](const auto& np) { return np.second == p; });
      SKINMTL_CHECK(it != named.end(), path << ": the optimizer holds a parameter the module does not own");
      auto m = f.tensors.find(kMomentumPrefix + it->first);
      buffers.push_back(m == f.tensors.end() ? Tensor() : m->second);
    }
    optimizer->set_momentum_buffers(buffers);
  }
  std::remove(safetensors_temp_path(path).c_str());  // a killed save's leftover (see the header)
  return f.metadata;
}

}  // namespace skinmtl
