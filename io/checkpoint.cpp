#include "io/checkpoint.h"

#include <algorithm>
#include <cstring>
#include <set>

namespace skinmtl {

static bool starts_with_any(const std::string& s, const std::vector<std::string>& prefixes) {
  return std::any_of(prefixes.begin(), prefixes.end(),
                     [&](const std::string& p) { return s.compare(0, p.size(), p) == 0; });
}

TensorFile module_state(Module& module, const std::string& prefix) {
  TensorFile f;
  for (auto& [name, p] : module.named_parameters()) f.tensors[prefix + name] = p->value.to(Device::CPU);
  for (auto& [name, b] : module.named_buffers()) f.tensors[prefix + name] = b->to(Device::CPU);
  return f;
}

void load_module_state(Module& module, const TensorFile& file, const std::string& what,
                       const StateLoadOptions& options) {
  std::set<std::string> used;
  auto fill = [&](const std::string& name, Tensor& dst) {
    const std::string key = options.prefix + name;
    auto it = file.tensors.find(key);
    if (it == file.tensors.end()) {
      SKINMTL_CHECK(starts_with_any(name, options.allow_missing),
                    what << ": no tensor '" << key << "' (the model needs it, " << dst.str() << ")");
      return;
    }
    const Tensor& src = it->second;
    SKINMTL_CHECK(src.shape() == dst.shape(), what << ": tensor '" << key << "' is "
                                                   << shape_str(src.shape()) << ", the model needs "
                                                   << shape_str(dst.shape()));
    dst.copy_from(src.dtype() == dst.dtype() ? src : src.to(dst.dtype()));
    used.insert(key);
  };
  for (auto& [name, p] : module.named_parameters()) fill(name, p->value);
  for (auto& [name, b] : module.named_buffers()) fill(name, *b);
  for (auto& [key, t] : file.tensors) {
    if (used.count(key) || key.compare(0, strlen(kMomentumPrefix), kMomentumPrefix) == 0) continue;
    const std::string name = key.compare(0, options.prefix.size(), options.prefix) == 0
                                 ? key.substr(options.prefix.size())
                                 : key;
    SKINMTL_CHECK(starts_with_any(name, options.allow_unexpected),
                  what << ": tensor '" << key << "' " << shape_str(t.shape())
                       << " matches nothing in the model");
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
  save_safetensors(path, f);
}

std::map<std::string, std::string> load_checkpoint(const std::string& path, Module& module,
                                                   SGD* optimizer) {
  TensorFile f = load_safetensors(path);
  load_module_state(module, f, path);
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
  return f.metadata;
}

}  // namespace skinmtl
