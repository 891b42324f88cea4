// io/checkpoint.h: a module's state and a training run's state, in one
// safetensors file (io/safetensors.h).
//
// Model state is every named parameter and buffer of a Module (framework/
// module.h) under its dotted name ("trunk.layer1.0.conv1.weight",
// "trunk.bn1.running_mean"), so any safetensors reader sees a plain
// name -> tensor map. A training checkpoint adds, under reserved prefixes:
//
//   "optim.momentum.<parameter name>"   SGD's momentum buffer of that parameter
//                                       (absent while it has none yet)
//
// and, in the metadata, whatever the training command needs to continue
// exactly where it stopped (iteration, epoch, learning rate, scheduler state,
// the configuration), as strings.
//
// Loading copies into the module's existing tensors, on whatever device they
// live, after checking every name and shape: a missing or unexpected tensor is
// an error naming the file and the tensor, unless the caller lists prefixes it
// allows to be absent or left over (e.g. "fc." when a trunk drops the ImageNet
// classifier).
//
// Saving goes through save_safetensors, which writes a temporary file and
// renames it: a run killed mid-save never leaves half a checkpoint.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "framework/module.h"
#include "framework/optimizer.h"
#include "io/safetensors.h"

namespace skinmtl {

inline constexpr const char* kMomentumPrefix = "optim.momentum.";

// The module's parameters and buffers, named, as CPU copies (prefix prepended).
TensorFile module_state(Module& module, const std::string& prefix = "");

struct StateLoadOptions {
  std::string prefix;                         // read "<prefix><name>" for each module tensor
  std::vector<std::string> allow_missing;     // module tensor names (prefixes) that may be absent
  std::vector<std::string> allow_unexpected;  // file tensor names (prefixes) that may go unused
};

// Copies the file's tensors into the module (see above). `what` names the
// source in error messages (usually the path).
void load_module_state(Module& module, const TensorFile& file, const std::string& what,
                       const StateLoadOptions& options = {});

// A training checkpoint: the module, the optimizer's momentum, the metadata.
// The optimizer must have been built over module.parameters().
void save_checkpoint(const std::string& path, Module& module, const SGD& optimizer,
                     const std::map<std::string, std::string>& metadata);

// Restores what save_checkpoint wrote into `module` and (when not null)
// `optimizer`, and returns the metadata.
std::map<std::string, std::string> load_checkpoint(const std::string& path, Module& module,
                                                   SGD* optimizer);

}  // namespace skinmtl
